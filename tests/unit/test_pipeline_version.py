"""PIPELINE_VERSION is tied to the bytes the pipeline gives: change them without bumping it and
this fails, so a cache never serves results made by older code as if they were current."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from handler.core import pipeline
from handler.core.admit import admit
from handler.core.options import RemoveOptions
from handler.core.pipeline import PIPELINE_VERSION, render
from handler.core.predict import U2NetModel
from handler.core.tiers import MemoryTier
from handler.serving.cache import CacheKey
from tests.support import encode_image, photo

# sha256[:16] of render()'s bytes per case, for each pipeline version. When a change alters
# output bytes on purpose: bump PIPELINE_VERSION and add its digests (printed by the failure).
GOLDEN: dict[str, dict[str, str]] = {
    "1": {
        "jpeg-to-jpeg-white": "f2a326b43a97fa1e",
        "jpeg-to-png": "c04464647d59a663",
        "jpeg-to-webp": "089ac0a16a012a2f",
        "png-crop": "29de1d1a7719117d",
        "png-mask": "e52d3fe7f9c2ccb2",
        "png-to-png": "6795833d7e36865a",
    },
    # The PNG writer's deflate became zlib-ng's, at level 3 (handler/core/encode.py).
    "2": {
        "jpeg-to-jpeg-white": "f2a326b43a97fa1e",
        "jpeg-to-png": "1d50eb3b08de5ee5",
        "jpeg-to-webp": "089ac0a16a012a2f",
        "png-crop": "91ff15f27ad1ecfd",
        "png-mask": "83c190ef94ecb610",
        "png-to-png": "4492273e4865935e",
    },
}
CASES = {
    "jpeg-to-png": ("JPEG", {}),
    "png-to-png": ("PNG", {}),
    "jpeg-to-webp": ("JPEG", {"format": "webp"}),
    "jpeg-to-jpeg-white": ("JPEG", {"format": "jpeg", "bg_color": "ffffff"}),
    "png-mask": ("PNG", {"mask": "true"}),
    "png-crop": ("PNG", {"crop": "true", "crop_margin": "4"}),
}


class FixedSaliency:
    """Stands in for the ONNX session: the batch's first channel inside a fixed box as the
    saliency map, so the digests follow our own code (and Pillow's), not ONNX Runtime's
    floating point, and cropping has a subject to crop to."""

    def run(
        self, names: Any, feeds: dict[str, np.ndarray], run_options: Any = None
    ) -> list[np.ndarray]:
        (batch,) = feeds.values()
        window = np.zeros((1, 1, 320, 320), dtype=np.float32)
        window[..., 80:240, 100:220] = 1.0
        return [(batch[:, :1] - batch.min() + 1.0) * window]


def digests(model: U2NetModel, threads: int = 1) -> dict[str, str]:
    fixed = replace(model, session=FixedSaliency())
    tier = MemoryTier.for_memory(2048)
    found = {}
    for name, (fmt, raw) in CASES.items():
        data = encode_image(photo(96, 64, seed=3), fmt)
        options = RemoveOptions.parse(**raw)
        header = admit(data, tier, output=options.format)
        rendered = render(data, header, options, model=fixed, threads=threads)
        found[name] = hashlib.sha256(rendered.data).hexdigest()[:16]
    return found


def test_output_bytes_match_the_pipeline_version(model: U2NetModel) -> None:
    found = digests(model)
    assert found == GOLDEN.get(PIPELINE_VERSION), (
        f"render() output changed under PIPELINE_VERSION {PIPELINE_VERSION!r}: bump it in "
        f"handler/core/pipeline.py and record these digests in GOLDEN: {found}"
    )


@pytest.mark.parametrize("threads", [1, 2])
def test_every_path_through_render_gives_the_same_bytes(
    model: U2NetModel, threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held through inference or decoded again after it (then beside the mask's upscale, on a
    second core), on one core or two: the same bytes as the golden ones."""
    assert digests(model, threads) == GOLDEN[PIPELINE_VERSION]
    monkeypatch.setattr(pipeline, "HELD_DECODE_MB", 0)  # no image is small enough to hold
    assert not pipeline.holds_decode(
        admit(encode_image(photo(96, 64)), MemoryTier.for_memory(2048))
    )
    assert digests(model, threads) == GOLDEN[PIPELINE_VERSION]


def test_the_version_and_the_scope_are_part_of_the_key() -> None:
    key = CacheKey.for_request(b"image", "u2netp-0123", RemoveOptions.parse())
    assert key.pipeline == PIPELINE_VERSION
    assert replace(key, pipeline=key.pipeline + "-next").digest != key.digest
    tenant = CacheKey.for_request(b"image", "u2netp-0123", RemoveOptions.parse(), scope="key-a")
    assert tenant.digest != key.digest and tenant.etag != key.etag
    other = CacheKey.for_request(b"image", "u2netp-0123", RemoveOptions.parse(), scope="key-b")
    assert other.digest != tenant.digest
