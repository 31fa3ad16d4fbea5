"""The core chain for one admitted image: decode, predict, compose, encode."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from PIL import Image

from handler.admit import ImageHeader
from handler.compose import compose, subject_box, upscale_mask
from handler.decode import MODEL_DRAFT_SIDE, decode, model_view
from handler.encode import encode
from handler.options import RemoveOptions
from handler.predict import U2NetModel, predict_mask


@dataclass(frozen=True)
class Rendered:
    """An encoded result and how long each stage took."""

    data: bytes
    media_type: str
    width: int
    height: int
    timings_ms: dict[str, float] = field(default_factory=dict)


class _Stopwatch:
    """Accumulates wall time per stage name."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = self.timings.get(stage, 0.0) + (now - self._last) * 1000.0
        self._last = now


def uses_draft(header: ImageHeader) -> bool:
    """Whether a reduced-size JPEG decode for the model input saves work (DCT scale >= 2)."""
    return header.is_jpeg and min(header.width, header.height) >= 2 * MODEL_DRAFT_SIDE


def crop_mask(mask: Image.Image, options: RemoveOptions) -> Image.Image:
    """The mask alone, cropped to the subject when asked."""
    box = subject_box(mask, options.crop_margin) if options.crop else None
    return mask if box is None else mask.crop(box)


def render(
    data: bytes, header: ImageHeader, options: RemoveOptions, *, model: U2NetModel
) -> Rendered:
    """Produce the requested output for admitted image bytes.

    Large JPEGs are decoded twice: once at a reduced DCT scale for the model, and at full size
    only after inference (and not at all for a mask), so the two peaks never overlap.
    """
    watch = _Stopwatch()
    full = None if uses_draft(header) else decode(data, header)
    preview = full if full is not None else decode(data, header, draft_side=MODEL_DRAFT_SIDE)
    watch.lap("decode")
    small_mask = predict_mask(model, model_view(preview))
    del preview
    watch.lap("inference")
    if options.mask:
        result = crop_mask(upscale_mask(small_mask, header.oriented_size), options)
    else:
        if full is None:
            full = decode(data, header)
            watch.lap("decode")
        result = compose(full, upscale_mask(small_mask, full.size), options)
        del full
    watch.lap("compose")
    encoded = encode(result, options.format)
    width, height = result.size
    del result
    watch.lap("encode")
    return Rendered(
        data=encoded,
        media_type=options.format.media_type,
        width=width,
        height=height,
        timings_ms=watch.timings,
    )
