"""Admission charges each input its decoder path's cost: a path that decodes dearer than the
common figure gets its own pixel cap, and the 413 names the path and its cap."""

from __future__ import annotations

import pytest
from PIL import Image

from bench.decoder_paths import BY_NAME
from handler.core import tiers
from handler.core.admit import admit
from handler.core.options import OutputFormat
from handler.core.tiers import BYTES_PER_PIXEL, DECODE_BYTES_PER_PIXEL, MemoryTier
from handler.errors import ImageTooLargeError
from tests.support import photo

TIER = MemoryTier.for_memory(1024)
SMALL = MemoryTier(memory_mb=1024, max_pixels=100_000, max_input_bytes=10_000_000)


@pytest.fixture(autouse=True)
def _restore_pillow_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """admit sets Pillow's process-wide bomb guard from SMALL's cap: put it back after."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)


def test_dearer_paths_have_lower_caps() -> None:
    for path, per_pixel in DECODE_BYTES_PER_PIXEL.items():
        assert per_pixel > BYTES_PER_PIXEL
        cap = TIER.pixel_cap(OutputFormat.PNG, path)
        assert cap == int(TIER.max_pixels * BYTES_PER_PIXEL / per_pixel) < TIER.max_pixels
        # at its cap, the path's peak fits the same room as the common cap's
        assert TIER.estimated_peak_mb(cap, 0, OutputFormat.PNG, path) <= (
            TIER.estimated_peak_mb(TIER.max_pixels) + 0.01
        )
    assert TIER.pixel_cap(OutputFormat.PNG, "jpeg") == TIER.max_pixels
    assert TIER.pixel_cap(OutputFormat.WEBP, "jpeg") == TIER.pixel_cap(OutputFormat.WEBP)


def test_an_unmeasured_path_is_charged_the_worst_of_its_format() -> None:
    webp = max(v for k, v in DECODE_BYTES_PER_PIXEL.items() if k.startswith("webp"))
    assert tiers.decode_bytes_per_pixel("webp-something-new") == webp
    assert tiers.decode_bytes_per_pixel("avif") == max(DECODE_BYTES_PER_PIXEL.values())
    assert tiers.decode_bytes_per_pixel("png") == BYTES_PER_PIXEL


@pytest.mark.parametrize("name", sorted(DECODE_BYTES_PER_PIXEL))
def test_the_413_names_the_path_and_its_cap(name: str) -> None:
    if name not in BY_NAME:
        pytest.skip(f"no maker for {name}")
    cap = SMALL.pixel_cap(OutputFormat.PNG, name)
    side = int(cap**0.5) + 8  # over the path's cap, under the common one
    assert side * side < SMALL.max_pixels
    data = BY_NAME[name].make(photo(side, side))
    with pytest.raises(ImageTooLargeError) as info:
        admit(data, SMALL)
    assert f"for {name} input at 1024 MB is {cap / 1e6:.1f} MP" in info.value.message
    assert info.value.status == 413


def test_the_common_path_is_admitted_at_the_same_size() -> None:
    side = int(SMALL.pixel_cap(OutputFormat.PNG, "webp-lossy") ** 0.5) + 8
    data = BY_NAME["jpeg"].make(Image.new("RGB", (side, side), (9, 99, 199)))
    assert admit(data, SMALL).path == "jpeg"


def test_the_reservation_follows_the_path() -> None:
    pixels = 10_000_000
    assert TIER.estimated_bytes(pixels, 0, OutputFormat.PNG, "webp-lossy") > (
        TIER.estimated_bytes(pixels, 0, OutputFormat.PNG, "jpeg")
    )
