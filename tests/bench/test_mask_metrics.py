"""The quality table's metrics on made arrays, against direct computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.mask_metrics import Scores, band, boundary, edge_band, iou, mae, mean_scores, score


def square(size: int = 40, lo: int = 10, hi: int = 30, value: int = 255) -> np.ndarray:
    mask = np.zeros((size, size), dtype=np.uint8)
    mask[lo:hi, lo:hi] = value
    return mask


def test_iou_thresholds_at_one_half() -> None:
    truth = square()
    assert iou(truth, truth) == 1.0
    assert iou(square(value=127), truth) == 0.0  # 127/255 < 0.5
    assert iou(square(value=128), truth) == 1.0
    shifted = np.roll(truth, 10, axis=1)  # half of the square overlaps
    assert iou(shifted, truth) == pytest.approx(200 / 600)
    empty = np.zeros((5, 5), dtype=np.uint8)
    assert iou(empty, empty) == 1.0


def test_mae_in_zero_to_one_over_everything_or_a_region() -> None:
    truth = square()
    pred = truth.copy()
    pred[0, 0] = 255
    assert mae(truth, truth) == 0.0
    assert mae(pred, truth) == pytest.approx(1 / 1600)
    where = np.zeros_like(truth, dtype=bool)
    where[0, :4] = True
    assert mae(pred, truth, where) == pytest.approx(0.25)
    assert mae(pred, truth, np.zeros_like(where)) == 0.0


def test_boundary_marks_both_sides_of_the_edge() -> None:
    inside = square() > 127
    edge = boundary(inside)
    assert edge[10, 20] and edge[9, 20] and edge[20, 10] and edge[20, 9]
    assert not edge[20, 20] and not edge[0, 0] and not edge[12, 20]
    assert not boundary(np.ones((6, 6), dtype=bool)).any()


@pytest.mark.parametrize("radius", [0.0, 1.0, 2.5, 9.43])
def test_band_is_every_pixel_within_the_radius(radius: float) -> None:
    rng = np.random.default_rng(int(radius * 10))
    marks = rng.random((37, 53)) < 0.01
    marks[0, 0] = marks[36, 52] = True  # reach past the borders too
    ys, xs = np.nonzero(marks)
    yy, xx = np.mgrid[0:37, 0:53]
    distance = np.full((37, 53), np.inf)
    for y, x in zip(ys, xs, strict=True):
        distance = np.minimum(distance, np.hypot(yy - y, xx - x))
    np.testing.assert_array_equal(band(marks, radius), distance <= radius)


def test_edge_band_is_one_percent_of_the_diagonal_each_side() -> None:
    truth = np.zeros((300, 400), dtype=np.uint8)
    truth[:, 200:] = 255  # a vertical edge between columns 199 and 200
    near = edge_band(truth)
    reach = math.floor(0.01 * 500)  # the diagonal is 500
    row = near[150]
    assert row[199 - reach] and row[200 + reach]
    assert not row[199 - reach - 1] and not row[200 + reach + 1]


def test_score_and_mean() -> None:
    truth = square()
    pred = np.roll(truth, 2, axis=0)
    s = score(pred, truth)
    assert s.iou == pytest.approx(360 / 440)
    assert s.mae == pytest.approx(80 / 1600)
    assert s.edge_mae > s.mae  # every wrong pixel lies near the edge
    with pytest.raises(ValueError):
        score(pred[:-1], truth)
    assert mean_scores([Scores(1.0, 0.0, 0.2), Scores(0.5, 0.1, 0.4)]) == Scores(
        0.75, 0.05, pytest.approx(0.3)
    )
