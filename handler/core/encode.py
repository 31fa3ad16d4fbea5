"""Encoding: PNG, WebP or JPEG bytes, with no metadata carried over from the input."""

from __future__ import annotations

import io
import zlib

from PIL import Image

from handler.core.options import OutputFormat
from handler.core.png import encode_png, writes

# PNG: the Up filter and zlib level 4 on every core (handler/core/png.py), chosen in
# docs/bench/png-levels.md: 1.7x faster than Pillow's level 4 on one core, 2.9x on two, for
# 6% more bytes.
PNG_COMPRESS_LEVEL = 4
PNG_STRATEGY = zlib.Z_DEFAULT_STRATEGY
WEBP_QUALITY = 90
WEBP_METHOD = 4
JPEG_QUALITY = 90
# The WebP format holds at most this many pixels a side (admission refuses bigger early).
WEBP_MAX_SIDE = 16383
# Pillow copies ICC, EXIF and XMP from `image.info` unless told otherwise: say "none" explicitly.
_NO_METADATA = {"icc_profile": None, "exif": b"", "xmp": b""}


def encode(image: Image.Image, fmt: OutputFormat, *, threads: int = 1) -> bytes:
    """Encode an L, RGB or RGBA image; EXIF, ICC and XMP are never written.

    `threads` is how many cores the PNG writer may use.
    """
    if fmt is OutputFormat.PNG and writes(image.mode):
        return encode_png(image, level=PNG_COMPRESS_LEVEL, strategy=PNG_STRATEGY, threads=threads)
    out = io.BytesIO()
    if fmt is OutputFormat.PNG:
        image.save(out, "PNG", compress_level=PNG_COMPRESS_LEVEL, **_NO_METADATA)
    elif fmt is OutputFormat.WEBP:
        image.save(out, "WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD, **_NO_METADATA)
    else:
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(out, "JPEG", quality=JPEG_QUALITY, **_NO_METADATA)
    return out.getvalue()
