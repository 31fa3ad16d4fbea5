"""Decoding: EXIF orientation, one mode normalisation, reduced-size JPEG decode for the model."""

from __future__ import annotations

import io
import struct
import time
import warnings
from collections.abc import Callable

import numpy as np
from PIL import Image

from handler.core.admit import ALLOWED_FORMATS, ImageHeader
from handler.core.strips import strips
from handler.errors import CorruptImageError, CutoutError, ProcessingTimeoutError

# The model input is 320x320; decode large JPEGs at a DCT scale that keeps >= 1024 px per side,
# which stays within the parity bounds against rembg's full-size LANCZOS (see tests/test_parity.py).
MODEL_DRAFT_SIDE = 1024

# What decoding keeps of a file's metadata while it needs it: palette transparency, only up to
# a size no real image comes near (orientation comes from admit's header read).
_TRANSPARENCY = frozenset({"transparency"})
_KEPT_BYTES = 1 << 20
# With a deadline, Pillow feeds the decoder this many bytes at a time (its default is 64 KiB):
# 64 KiB of a scan bomb is hundreds of whole-image passes, 512 bytes a few (a repeated scan is
# ~140 bytes at 64 MP). No cost measured on a 12 MP JPEG's decode, baseline or progressive.
DEADLINE_READ_BYTES = 512
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, struct.error)
# Pillow's plugins raise other types too on hostile bytes (atheris found a TypeError from a TIFF
# whose strip offsets are rationals); while decoding, any of them is the file's fault.
_WIDE_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})
# What ImageOps.exif_transpose does for each EXIF orientation.
_TRANSPOSE_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class DeadlineReader(io.BytesIO):
    """The encoded image as Pillow reads it: once `deadline` (a `clock` reading) has passed,
    the next read raises ProcessingTimeoutError.

    Pillow feeds its decoders in chunks read from the file object (DEADLINE_READ_BYTES, and
    PNG chunk by chunk), so a decode that overruns stops between two chunks and frees its
    buffers, instead of running on after the request was answered. Formats decoded in one
    call (WebP, compressed TIFF) are bounded by their pixel caps instead.
    """

    def __init__(
        self, data: bytes, deadline: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(data)
        self.deadline = deadline
        self.clock = clock

    def read(self, size: int | None = -1, /) -> bytes:
        check_deadline(self.deadline, self.clock)
        return super().read(size)


def check_deadline(deadline: float | None, clock: Callable[[], float] = time.monotonic) -> None:
    """Raise ProcessingTimeoutError once `deadline` (a `clock` reading) has passed."""
    if deadline is not None and clock() > deadline:
        raise ProcessingTimeoutError(
            "the image was not finished within its time budget; the work was stopped",
        )


def decode(
    data: bytes,
    header: ImageHeader,
    *,
    draft_side: int | None = None,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Image.Image:
    """Decode the first frame, apply EXIF orientation and normalise to RGB or RGBA.

    With `draft_side`, a JPEG is decoded at the smallest DCT scale (1/2, 1/4, 1/8) that keeps
    both sides at least that long; other formats ignore it. Transparency survives as RGBA;
    every other mode (L, P, CMYK, 16-bit, ...) becomes RGB. Wide samples (16-bit, 32-bit,
    float) are brought to 8 bits strip by strip before the RGB conversion, so no full-size
    float array is made and the wide decode is freed first. With `deadline` (a `clock`
    reading), a decode still running past it stops with ProcessingTimeoutError.
    """
    source = io.BytesIO(data) if deadline is None else DeadlineReader(data, deadline, clock)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opened = Image.open(source, formats=ALLOWED_FORMATS)
            if deadline is not None:
                opened.decodermaxblock = DEADLINE_READ_BYTES
            if header.is_jpeg:
                # Pillow copied every APP segment while opening; the decoder reads none of them,
                # and a padded file's (up to the byte cap) would sit beside the coefficients.
                drop_metadata(opened)
                if draft_side is not None:
                    opened.draft("RGB", (draft_side, draft_side))
            opened.load()
            # One name for the decoded image from here on, so each step below frees the last.
            image: Image.Image = opened
            del opened
            if image.format == "WEBP":
                # The file object keeps libwebp's two frame canvases (8 bytes a pixel) for as
                # long as it lives: keep the pixels only.
                image = image.copy()
            drop_metadata(image, keep=_TRANSPARENCY)
            image = orient(image, header.orientation)  # rebinding frees the unrotated copy
            if image.mode in _WIDE_MODES:
                image = to_eight_bit(image)
            return drop_metadata(normalise_mode(image))
    except (MemoryError, CutoutError):
        raise
    except Exception as exc:
        reason = _reason(exc) if isinstance(exc, _DECODE_ERRORS) else "the file is malformed"
        raise CorruptImageError(
            f"the {header.format} image could not be decoded ({reason})"
        ) from None


def orient(image: Image.Image, orientation: int) -> Image.Image:
    """Apply the orientation admit read from the header (one source of truth: re-reading EXIF
    after the decode could find a tag admit never saw, and disagree with the admitted size)."""
    method = _TRANSPOSE_FOR_ORIENTATION.get(orientation)
    return image if method is None else image.transpose(method)


def normalise_mode(image: Image.Image) -> Image.Image:
    """One conversion to RGB, or to RGBA when the image carries transparency."""
    mode = image.mode
    if mode in ("RGB", "RGBA"):
        return image
    if mode in _WIDE_MODES:
        return to_eight_bit(image).convert("RGB")
    if mode in ("LA", "PA", "RGBa", "La"):
        return image.convert("RGBA")
    if mode == "P":
        return image.convert("RGBA" if "transparency" in image.info else "RGB")
    return image.convert("RGB")


def drop_metadata(image: Image.Image, *, keep: frozenset[str] = frozenset()) -> Image.Image:
    """Keep the pixels only: forget EXIF, ICC, text, JPEG APP segments and private PNG chunks.

    cutout never writes them (see encode), and a hostile file can make them as large as the
    file itself: a copy that would otherwise live as long as the decoded image. `keep` names
    `info` entries to keep when they are small (what orientation and transparency need).
    """
    kept = {
        name: value
        for name, value in image.info.items()
        if name in keep and len(value if isinstance(value, bytes | str) else b"") <= _KEPT_BYTES
    }
    image.info.clear()
    image.info.update(kept)
    for name in ("applist", "private_chunks"):
        segments = getattr(image, name, None)
        if isinstance(segments, list):
            segments.clear()
    app = getattr(image, "app", None)
    if isinstance(app, dict):
        app.clear()
    return image


def model_view(image: Image.Image) -> Image.Image:
    """The RGB picture the model sees (alpha dropped, as rembg's `convert("RGB")` does).

    For RGBA this is a full-size copy: converting strip by strip would only give the same
    pixels if Pillow's resize always ran its horizontal pass first, and it does not.
    """
    return image if image.mode == "RGB" else image.convert("RGB")


def to_eight_bit(image: Image.Image) -> Image.Image:
    """Grey 16-bit, 32-bit or float to 8-bit "L", scaled rather than clipped.

    Pillow's own conversion clips at 255. 16-bit data is scaled from 65535; "I" and "F" carry
    no declared range, so 8-bit data stays and anything wider is scaled from 65535. Works in
    strips (float32, as a whole-image version would) so no full-size float array exists.
    """
    if image.mode.startswith("I;16"):
        top = 65535.0
    else:
        peak = max(
            (float(np.nan_to_num(_strip_values(image, box)).max(initial=0.0)))
            for box in strips(image.size, bytes_per_pixel=4)
        )
        top = 65535.0 if peak > 255.0 else 255.0
    out = Image.new("L", image.size)
    for box in strips(image.size, bytes_per_pixel=4):
        values = np.nan_to_num(_strip_values(image, box))
        scaled = np.clip(values * (255.0 / top), 0.0, 255.0)
        out.paste(Image.fromarray(scaled.astype(np.uint8)), box[:2])
    return out


def _strip_values(image: Image.Image, box: tuple[int, int, int, int]) -> np.ndarray:
    return np.asarray(image.crop(box), dtype=np.float32)


def _reason(exc: BaseException) -> str:
    text = str(exc).split("\n", 1)[0][:120]
    if "truncated" in text or isinstance(exc, EOFError):
        return "the file is truncated"
    return text or type(exc).__name__
