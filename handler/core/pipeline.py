"""The core chain for one admitted image: decode, predict, compose, encode."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field, replace

from PIL import Image

from handler.core.admit import ImageHeader
from handler.core.compose import compose, crop_box, subject_box, upscale_mask
from handler.core.decode import MODEL_DRAFT_SIDE, check_deadline, decode, model_view
from handler.core.edges import sharpen
from handler.core.encode import encode
from handler.core.options import Edges, RemoveOptions
from handler.core.predict import U2NetModel, model_input, saliency_to_mask
from handler.core.tiers import DECODED_BYTES_PER_PIXEL, HELD_DECODE_MB, MIB

# Part of every cache key: bump it whenever the bytes render() gives for the same input and
# options change (decode, resampling, mask scaling, compose, encoders), so results made by the
# old code are never served again. tests/unit/test_pipeline_version.py ties it to golden bytes.
PIPELINE_VERSION = "2"


@dataclass(frozen=True)
class Rendered:
    """An encoded result and how long each stage took."""

    data: bytes
    media_type: str
    width: int
    height: int
    timings_ms: dict[str, float] = field(default_factory=dict)


# Wraps each stage (a trace span, say): called with the stage's name, entered around its work.
StageHook = Callable[[str], AbstractContextManager[object]]


def untraced(stage: str) -> AbstractContextManager[object]:
    """The default stage hook: nothing around the stage."""
    return nullcontext()


class _Stages:
    """Wall time per stage name, each stage run inside the caller's hook."""

    def __init__(self, hook: StageHook, deadline: float | None = None) -> None:
        self.timings: dict[str, float] = {}
        self._hook = hook
        self._deadline = deadline

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        check_deadline(self._deadline)  # past its time, no stage starts
        started = time.perf_counter()
        try:
            with self._hook(stage):
                yield
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000.0
            self.timings[stage] = self.timings.get(stage, 0.0) + elapsed_ms


def uses_draft(header: ImageHeader) -> bool:
    """Whether a reduced-size JPEG decode for the model input saves work (DCT scale >= 2)."""
    return header.is_jpeg and min(header.width, header.height) >= 2 * MODEL_DRAFT_SIDE


def holds_decode(header: ImageHeader) -> bool:
    """Whether the full decode stays alive while the model runs (small images only)."""
    return header.pixels * DECODED_BYTES_PER_PIXEL <= HELD_DECODE_MB * MIB


def full_size_mask(
    small_mask: Image.Image,
    size: tuple[int, int],
    edges: Edges,
    deadline: float | None = None,
) -> Image.Image:
    """The mask at the image's size with the edges asked for (rembg's post-processing for sharp)."""
    mask = upscale_mask(small_mask, size)
    return mask if edges is Edges.SOFT else sharpen(mask, deadline=deadline)


def crop_mask(mask: Image.Image, options: RemoveOptions) -> Image.Image:
    """The mask alone, cropped to the subject when asked."""
    box = subject_box(mask, options.crop_margin) if options.crop else None
    return mask if box is None else mask.crop(box)


def _decode_beside_mask(
    data: bytes,
    header: ImageHeader,
    small_mask: Image.Image,
    size: tuple[int, int],
    edges: Edges,
    deadline: float | None,
    threads: int,
) -> tuple[Image.Image, Image.Image | None]:
    """The full decode and, on a second core, the mask at `size`: the two are independent,
    each runs on one core, and compose needs both (so the peak is the same). With one core,
    the decode alone (the mask is made by compose)."""
    if threads <= 1:
        return decode(data, header, deadline=deadline), None
    with ThreadPoolExecutor(max_workers=1) as pool:
        mask = pool.submit(full_size_mask, small_mask, size, edges, deadline)
        full = decode(data, header, deadline=deadline)
        return full, mask.result()


def render(
    data: bytes,
    header: ImageHeader,
    options: RemoveOptions,
    *,
    model: U2NetModel,
    stage_hook: StageHook = untraced,
    threads: int = 1,
    deadline: float | None = None,
) -> Rendered:
    """Produce the requested output for admitted image bytes.

    Memory comes first (the model in handler/core/tiers.py): the model's working set and a large
    image are never alive together (for a large image, the fast profile's arena is released
    after inference). The model input comes from a reduced-size JPEG decode
    where possible, else from the full decode, which is kept through inference only when it
    is small and otherwise decoded again afterwards (with the mask's upscale beside it, on
    another core, both timed as "decode"). The cutout is then made in place in the
    full decode, which is freed, with the mask, before its result is encoded. Each stage
    (decode, inference, compose, encode) is timed and run inside `stage_hook`; `threads` is
    how many cores the cutout's strips and the encoder may use. Past `deadline`
    (time.monotonic()), no stage starts and a decode stops between two chunks of its input,
    with ProcessingTimeoutError.
    """
    stage = _Stages(stage_hook, deadline)
    with stage("decode"):
        full = None if uses_draft(header) else decode(data, header, deadline=deadline)
        preview = full
        if preview is None:
            preview = decode(data, header, draft_side=MODEL_DRAFT_SIDE, deadline=deadline)
        size = header.oriented_size if full is None else full.size
        batch = model_input(model_view(preview))
        del preview
        held = holds_decode(header)
        if options.mask or not held:
            full = None
    with stage("inference"):
        # An image too large to hold through inference does not meet the model's working set
        # afterwards either: the arena is given back before the image is decoded again.
        small_mask = saliency_to_mask(model.run(batch, release_arena=not held))
        del batch
    if options.mask:
        with stage("compose"):
            result = crop_mask(full_size_mask(small_mask, size, options.edges, deadline), options)
    else:
        mask = None
        if full is None:
            with stage("decode"):
                full, mask = _decode_beside_mask(
                    data, header, small_mask, size, options.edges, deadline, threads
                )
        with stage("compose"):
            if mask is None or mask.size != full.size:
                mask = full_size_mask(small_mask, full.size, options.edges, deadline)
            box = crop_box(full, mask, options)
            if box is not None:  # crop here, so each uncropped original is freed as it goes
                mask = mask.crop(box)
                full = full.crop(box)
            result = compose(full, mask, replace(options, crop=False), threads=threads)
            del mask
            full = None
    with stage("encode"):
        encoded = encode(result, options.format, threads=threads)
        width, height = result.size
        del result
    return Rendered(
        data=encoded,
        media_type=options.format.media_type,
        width=width,
        height=height,
        timings_ms=stage.timings,
    )
