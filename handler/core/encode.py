"""Encoding: PNG, WebP or JPEG bytes, with no metadata carried over from the input."""

from __future__ import annotations

import io
import zlib

from PIL import Image
from zlib_ng import zlib_ng

from handler.core.options import OutputFormat
from handler.core.png import encode_png, writes

# PNG: the Up filter and zlib-ng's level 3 on every core (handler/core/png.py), chosen in
# docs/bench/png-levels.md (the fastest on one core within 10 % of the bytes rembg writes):
# 8 % more bytes than Pillow's level 6, in 0.16x its time on one core; as many bytes as zlib's
# level 4 (the writer's deflate before zlib-ng), in 0.4x its time.
PNG_COMPRESS_LEVEL = 3
PNG_STRATEGY = zlib.Z_DEFAULT_STRATEGY
PNG_DEFLATE = zlib_ng
# Pillow's own encoder, for a mode the writer above does not take.
PILLOW_PNG_LEVEL = 4
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
        return encode_png(
            image,
            level=PNG_COMPRESS_LEVEL,
            strategy=PNG_STRATEGY,
            threads=threads,
            deflate=PNG_DEFLATE,
        )
    out = io.BytesIO()
    if fmt is OutputFormat.PNG:
        image.save(out, "PNG", compress_level=PILLOW_PNG_LEVEL, **_NO_METADATA)
    elif fmt is OutputFormat.WEBP:
        image.save(out, "WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD, **_NO_METADATA)
    else:
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(out, "JPEG", quality=JPEG_QUALITY, **_NO_METADATA)
    return out.getvalue()
