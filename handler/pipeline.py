"""The core chain for one admitted image: decode, predict, compose, encode."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from PIL import Image

from handler.admit import ImageHeader
from handler.compose import compose, crop_box, subject_box, upscale_mask
from handler.decode import MODEL_DRAFT_SIDE, decode, model_view
from handler.encode import encode
from handler.options import RemoveOptions
from handler.predict import U2NetModel, model_input, saliency_to_mask
from handler.tiers import DECODED_BYTES_PER_PIXEL, HELD_DECODE_MB, MIB


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


def holds_decode(header: ImageHeader) -> bool:
    """Whether the full decode stays alive while the model runs (small images only)."""
    return header.pixels * DECODED_BYTES_PER_PIXEL <= HELD_DECODE_MB * MIB


def crop_mask(mask: Image.Image, options: RemoveOptions) -> Image.Image:
    """The mask alone, cropped to the subject when asked."""
    box = subject_box(mask, options.crop_margin) if options.crop else None
    return mask if box is None else mask.crop(box)


def render(
    data: bytes, header: ImageHeader, options: RemoveOptions, *, model: U2NetModel
) -> Rendered:
    """Produce the requested output for admitted image bytes.

    Memory comes first (the model in handler/tiers.py): the model's working set and a large
    image are never alive together. The model input comes from a reduced-size JPEG decode
    where possible, else from the full decode, which is kept through inference only when it
    is small and otherwise decoded again afterwards. The cutout is then made in place in the
    full decode, which is freed, with the mask, before its result is encoded.
    """
    watch = _Stopwatch()
    full = None if uses_draft(header) else decode(data, header)
    preview = full if full is not None else decode(data, header, draft_side=MODEL_DRAFT_SIDE)
    size = header.oriented_size if full is None else full.size
    batch = model_input(model_view(preview))
    del preview
    if options.mask or not holds_decode(header):
        full = None
    watch.lap("decode")
    small_mask = saliency_to_mask(model.run(batch))
    del batch
    watch.lap("inference")
    if options.mask:
        result = crop_mask(upscale_mask(small_mask, size), options)
    else:
        if full is None:
            full = decode(data, header)
            watch.lap("decode")
        mask = upscale_mask(small_mask, full.size)
        box = crop_box(full, mask, options)
        if box is not None:  # crop here, so each uncropped original is freed as it goes
            mask = mask.crop(box)
            full = full.crop(box)
        result = compose(full, mask, replace(options, crop=False))
        del mask
        full = None
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
