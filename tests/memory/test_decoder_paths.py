"""Property: every decoder path keeps the memory promise. A valid image of any format and
variant (bench/decoder_paths.py), of any size up to the tier's cap for its path and output, is
processed in a fresh process at a small tier with a peak RSS of at most 90 % of the tier, or
refused with a 4xx before it is decoded.

A new decoder path (a format, or a variant with another working set) is a new entry in
bench/decoder_paths.py: admit must name it, and this test then runs it at its cap. `make test`
runs the issue's two failures at their caps plus one derandomized example; `make fuzz` runs
CUTOUT_FUZZ_PATH_EXAMPLES fresh ones.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from bench.decoder_paths import BY_NAME, PATHS
from bench.memory_model import Scenario, dimensions, photo_content, run_child
from handler.core.admit import admit
from handler.core.options import OutputFormat
from handler.core.tiers import MemoryTier

pytestmark = pytest.mark.slow

# The smallest tier that holds the model (the lean profile) with room for an image.
TIER_MB = 400
TIER = MemoryTier.for_memory(TIER_MB)
GOAL = 0.9
# Refusals that happen in admit, before any decoding.
REFUSED_BEFORE_DECODE = frozenset(
    {"image_too_large", "payload_too_large", "image_too_complex", "too_large_for_format"}
)
OUTPUTS = ("png", "jpeg", "webp", "mask")

_EXAMPLES = int(os.environ.get("CUTOUT_FUZZ_PATH_EXAMPLES", "0") or 0)
PROFILE = settings(
    derandomize=not _EXAMPLES,
    database=None,
    deadline=None,
    max_examples=_EXAMPLES or 1,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module", autouse=True)
def _pillow_guard_off() -> Iterator[None]:
    """Other tests leave Pillow's process-wide bomb guard at their small tier's cap; the images
    here are made in this process at up to this tier's cap (admit sets the guard again)."""
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    yield
    Image.MAX_IMAGE_PIXELS = saved


def cap_for(name: str, output: str) -> int:
    """The tier's pixel cap for this decoder path and output."""
    tiny = BY_NAME[name].make(photo_content(64, 48))
    fmt = OutputFormat.PNG if output == "mask" else OutputFormat(output)
    return TIER.pixel_cap(fmt, admit(tiny, TIER).path)


@pytest.mark.timeout(600 + 240 * (_EXAMPLES or 3))  # each example is a fresh process
@PROFILE
@given(
    name=st.sampled_from([path.name for path in PATHS]),
    output=st.sampled_from(OUTPUTS),
    share=st.floats(min_value=0.3, max_value=1.0),
)
@example(name="webp-lossy", output="png", share=1.0)
@example(name="jpeg-progressive-cmyk", output="png", share=1.0)
def test_every_decoder_path_stays_within_the_tier(name: str, output: str, share: float) -> None:
    pixels = int(cap_for(name, output) * share)
    Image.MAX_IMAGE_PIXELS = None  # admit in cap_for set it to the tier's cap: make the image
    width, height = dimensions(pixels)
    with tempfile.TemporaryDirectory(prefix="cutout-paths-") as workdir:
        image = Path(workdir) / f"input{BY_NAME[name].suffix}"
        image.write_bytes(BY_NAME[name].make(photo_content(width, height, seed=pixels)))
        result = run_child(image, Scenario(name, "photo", "PNG", output), TIER_MB)
    described = f"{name} {width}x{height} -> {output} at {TIER_MB} MB: {result}"
    assert result["status"] == "ok" or result["status"] in REFUSED_BEFORE_DECODE, described
    assert result["peak_mb"] <= GOAL * TIER_MB, described
