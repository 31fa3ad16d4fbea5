"""How close a predicted mask is to a human-measured alpha matte: IoU, MAE and edge MAE.

All three take uint8 arrays of the same shape (0 = background, 255 = subject):
- IoU at 0.5: intersection over union of (value / 255 > 0.5), 1.0 when both are empty;
- MAE: mean absolute difference, in 0..1;
- edge MAE: the MAE within a band around the true edge, the boundary of (matte / 255 > 0.5),
  `EDGE_BAND` of the image diagonal wide on each side. Hair, fur and soft outlines live there;
  a whole-image MAE mostly measures the large flat areas every model gets right.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

EDGE_BAND = 0.01  # of the image diagonal, on each side of the true edge

Mask = NDArray[np.uint8]
Flags = NDArray[np.bool_]


@dataclass(frozen=True)
class Scores:
    """One mask against its matte."""

    iou: float
    mae: float
    edge_mae: float

    def as_dict(self) -> dict[str, float]:
        return {"iou": self.iou, "mae": self.mae, "edge_mae": self.edge_mae}


def iou(pred: Mask, truth: Mask) -> float:
    """Intersection over union of the two masks thresholded at 0.5."""
    a, b = pred > 127, truth > 127
    union = int(np.count_nonzero(a | b))
    return 1.0 if union == 0 else int(np.count_nonzero(a & b)) / union


def mae(pred: Mask, truth: Mask, where: Flags | None = None) -> float:
    """Mean absolute difference in 0..1 (over `where` only, when given; 0.0 if it is empty)."""
    diff = np.abs(pred.astype(np.int16) - truth.astype(np.int16))
    if where is not None:
        diff = diff[where]
    return float(diff.mean()) / 255.0 if diff.size else 0.0


def boundary(inside: Flags) -> Flags:
    """Pixels of a binary mask with a 4-neighbour on the other side (both sides marked)."""
    edge = np.zeros_like(inside)
    across_rows = inside[1:] != inside[:-1]
    across_columns = inside[:, 1:] != inside[:, :-1]
    edge[1:] |= across_rows
    edge[:-1] |= across_rows
    edge[:, 1:] |= across_columns
    edge[:, :-1] |= across_columns
    return edge


def band(edge: Flags, radius: float) -> Flags:
    """Pixels within Euclidean `radius` of a marked pixel: one row offset at a time, each row's
    reach found from a running count of marked pixels."""
    height, width = edge.shape
    reach = math.floor(radius)
    counts = np.zeros((height, width + 1), dtype=np.int32)
    np.cumsum(edge, axis=1, out=counts[:, 1:])
    columns = np.arange(width)
    near = np.zeros_like(edge)
    for dy in range(-reach, reach + 1):
        half = math.floor(math.sqrt(radius * radius - dy * dy))
        low = np.clip(columns - half, 0, width)
        high = np.clip(columns + half + 1, 0, width)
        row_has = (counts[:, high] - counts[:, low]) > 0  # a mark within `half` in that row
        if dy >= 0:
            near[: height - dy] |= row_has[dy:]
        else:
            near[-dy:] |= row_has[: height + dy]
    return near


def edge_band(truth: Mask, share: float = EDGE_BAND) -> Flags:
    """The band around the true edge: `share` of the diagonal on each side."""
    height, width = truth.shape
    return band(boundary(truth > 127), share * math.hypot(width, height))


def score(pred: Mask, truth: Mask) -> Scores:
    """All three metrics of one mask against its matte."""
    if pred.shape != truth.shape:
        raise ValueError(f"mask {pred.shape} and matte {truth.shape} differ in size")
    return Scores(iou(pred, truth), mae(pred, truth), mae(pred, truth, edge_band(truth)))


def mean_scores(scores: list[Scores]) -> Scores:
    """The mean of each metric over images (each image counts once, whatever its size)."""
    return Scores(
        float(np.mean([s.iou for s in scores])),
        float(np.mean([s.mae for s in scores])),
        float(np.mean([s.edge_mae for s in scores])),
    )
