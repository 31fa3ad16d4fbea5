"""Horizontal strips: how work that goes strip by strip walks an image."""

from __future__ import annotations

from collections.abc import Iterator

# Strip work touches about this many bytes of image at a time: big enough that the per-strip
# Python overhead is noise, small enough to be noise next to a full-size image.
STRIP_BYTES = 1 << 21

Box = tuple[int, int, int, int]


def strips(
    size: tuple[int, int],
    *,
    bytes_per_pixel: int = 4,
    rows: int | None = None,
    target: int = STRIP_BYTES,
) -> Iterator[Box]:
    """Boxes of whole rows covering an image: `rows` high, or about `target` bytes each."""
    width, height = size
    step = rows or max(1, target // max(1, bytes_per_pixel * width))
    for top in range(0, height, step):
        yield (0, top, width, min(height, top + step))
