"""Hard edges: the strip-wise numpy filter equals a direct whole-image reference computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from handler.core import edges
from handler.core.edges import HALO, RADIUS, gaussian_kernel, reflect_index, sharpen

SIZES = [(1, 1), (1, 37), (37, 1), (5, 7), (61, 47), (128, 33), (40, 2 * HALO + 3)]
ROWS = [1, 3, 7, None]


def reference(mask: np.ndarray) -> np.ndarray:
    """rembg's post_process written out directly: a whole-image opening with a 3x3 cross,
    a 17x17 gaussian (sigma 2) with half-sample symmetric borders, threshold at 127."""
    values = mask.astype(np.int64)

    def cross(a: np.ndarray, pick: str) -> np.ndarray:
        padded = np.pad(a, 1, mode="symmetric")
        h, w = a.shape
        shifts = [padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy, dx in
                  ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))]  # fmt: skip
        return np.min(shifts, axis=0) if pick == "min" else np.max(shifts, axis=0)

    opened = cross(cross(values, "min"), "max").astype(np.float64)
    x = np.arange(-8, 9)
    weights = np.exp(-(x**2) / 8.0)
    weights /= weights.sum()
    padded = np.pad(opened, 8, mode="symmetric")
    h, w = mask.shape
    blurred = np.zeros((h, w))
    for dy in range(17):
        for dx in range(17):
            blurred += weights[dy] * weights[dx] * padded[dy : dy + h, dx : dx + w]
    return np.where(blurred < 127, 0, 255).astype(np.uint8)


def soft_mask(size: tuple[int, int], seed: int) -> Image.Image:
    """A model-like mask: a blurred blob with a thin stroke and speckles, plus noise."""
    width, height = size
    image = Image.new("L", size, 0)
    draw = ImageDraw.Draw(image)
    draw.ellipse((width * 0.2, height * 0.1, width * 0.8, height * 0.9), fill=255)
    draw.line((0, 0, width, height), fill=200, width=1)
    image = image.filter(ImageFilter.GaussianBlur(max(1.0, min(size) / 12)))
    rng = np.random.default_rng(seed)
    values = np.asarray(image).astype(np.int16) + rng.integers(-40, 41, (height, width))
    speckles = rng.random((height, width)) < 0.01
    values[speckles] = 255 - values[speckles]
    return Image.fromarray(np.clip(values, 0, 255).astype(np.uint8))


def test_kernel_is_scipys_truncated_gaussian() -> None:
    weights = gaussian_kernel()
    assert RADIUS == 8 and weights.shape == (17,)
    assert math.isclose(weights.sum(), 1.0, rel_tol=1e-15)
    assert np.array_equal(weights, weights[::-1])
    assert weights[8] / weights[7] == pytest.approx(math.exp(1 / 8))


def test_reflect_index_is_half_sample_symmetric() -> None:
    positions = np.arange(-5, 9)
    assert reflect_index(positions, 4).tolist() == [3, 3, 2, 1, 0, 0, 1, 2, 3, 3, 2, 1, 0, 0]
    assert reflect_index(np.arange(-3, 4), 1).tolist() == [0] * 7


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("rows", ROWS)
def test_sharpen_equals_the_reference(size: tuple[int, int], rows: int | None) -> None:
    mask = soft_mask(size, seed=size[0] * 1000 + size[1])
    ours = sharpen(mask, rows=rows)
    assert ours.mode == "L" and ours.size == size
    np.testing.assert_array_equal(np.asarray(ours), reference(np.asarray(mask)))


def test_long_column_runs_are_cut_into_pieces_with_the_same_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mask = soft_mask((150, 20), seed=3)
    monkeypatch.setattr(edges, "MAX_RUN", 7)
    monkeypatch.setattr(edges, "MERGE_GAP", 1)
    np.testing.assert_array_equal(np.asarray(sharpen(mask)), reference(np.asarray(mask)))


def test_result_is_binary_and_removes_thin_strokes_and_speckles() -> None:
    mask = Image.new("L", (64, 64), 0)
    draw = ImageDraw.Draw(mask)
    draw.rectangle((16, 16, 47, 47), fill=255)
    draw.line((0, 5, 63, 5), fill=255, width=1)  # a 1-px stroke: the opening removes it
    mask.putpixel((5, 40), 255)  # a lone speckle, likewise
    out = np.asarray(sharpen(mask))
    assert set(np.unique(out).tolist()) == {0, 255}
    assert out[5].max() == 0 and out[40, 5] == 0
    assert out[32, 32] == 255 and out[16, 32] == 255  # the square's middle and its edge stay
    assert out[13, 32] == 0  # and it does not grow


def test_threshold_is_at_127() -> None:
    """A flat mask stays itself through the opening and the normalised gaussian."""
    for level, expected in ((126, 0), (128, 255), (0, 0), (255, 255)):
        out = np.asarray(sharpen(Image.new("L", (20, 30), level)))
        assert (out == expected).all(), level


def test_a_passed_deadline_stops_it() -> None:
    import time

    from handler.errors import ProcessingTimeoutError

    with pytest.raises(ProcessingTimeoutError):
        sharpen(Image.new("L", (8, 8)), deadline=time.monotonic() - 1)
    assert sharpen(Image.new("L", (8, 8)), deadline=time.monotonic() + 60).size == (8, 8)


def test_empty_image() -> None:
    assert sharpen(Image.new("L", (0, 5))).size == (0, 5)


def test_working_memory_stays_a_strip_not_the_image() -> None:
    """numpy's allocations (tracemalloc sees them) stay far below one float64 copy of the mask,
    even where every column must be computed."""
    import tracemalloc

    width, height = 8000, 600
    rng = np.random.default_rng(5)
    mask = Image.fromarray(rng.integers(100, 156, (height, width), dtype=np.uint8))
    tracemalloc.start()
    try:
        sharpen(mask)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    whole_image_float64 = 8 * width * height
    assert peak < whole_image_float64 / 4, peak
