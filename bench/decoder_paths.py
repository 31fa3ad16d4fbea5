"""Valid images for every decoder path cutout admits, in the variants that change the decoder's
working set: what bench/memory_model.py measures and tests/memory/test_decoder_paths.py fuzzes.

A decoder path is what handler/core/structure.py reports for a file (`decoder_path`): the format
and the variant its decoder takes (progressive, CMYK, YCCK, 4:4:4, 16-bit, interlaced, a TIFF
compression, ...). Every maker takes an RGB picture and returns the encoded file. Where a format
carries an orientation, the file says 6 (shown rotated, which costs a transpose copy): the
measured cost is the path's worst. Pillow cannot write some variants; those are crafted here
(YCCK JPEG: Adobe transform 2 in a CMYK JPEG; 16-bit RGB and Adam7-interlaced PNG: written
chunk by chunk), so nothing outside the Python environment is needed.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

ORIENTATION = 6  # rotate 90 degrees clockwise to display
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2))
_ADAM7 += ((0, 1, 1, 2),)


@dataclass(frozen=True)
class DecoderPath:
    """One way into the decoder: the name admit reports and how to write such a file."""

    name: str
    make: Callable[[Image.Image], bytes]
    suffix: str


def _exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = ORIENTATION
    return exif


def _save(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def jpeg(
    *, progressive: bool = False, subsampling: int = 2, cmyk: bool = False, ycck: bool = False
) -> Callable[[Image.Image], bytes]:
    def make(image: Image.Image) -> bytes:
        sampling = subsampling
        if cmyk or ycck:  # four full-size components, as Photoshop writes them (Pillow would
            image = image.convert("CMYK")  # subsample three of them by default)
            sampling = 0
        data = _save(
            image,
            "JPEG",
            quality=90,
            progressive=progressive,
            subsampling=sampling,
            exif=_exif(),
        )
        return with_adobe_transform(data, 2) if ycck else data

    return make


def with_adobe_transform(data: bytes, transform: int) -> bytes:
    """The JPEG with its Adobe APP14 segment's colour transform set (2: YCCK), which makes
    libjpeg take its YCCK path for the four components Pillow wrote."""
    at = data.index(b"\xff\xee") + 4
    if data[at : at + 5] != b"Adobe":
        raise ValueError("no Adobe segment first: not a CMYK JPEG from Pillow")
    out = bytearray(data)
    out[at + 11] = transform  # "Adobe", version, flags0, flags1, then the transform
    return bytes(out)


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = struct.pack(">I", zlib.crc32(kind + payload))
    return struct.pack(">I", len(payload)) + kind + payload + crc


def png_from_array(
    pixels: np.ndarray, colour_type: int, *, interlaced: bool = False, exif: bytes = b""
) -> bytes:
    """A PNG written chunk by chunk (filter 0), for what Pillow cannot write: 16-bit RGB and
    Adam7 interlacing. `pixels` is uint8 or uint16, height x width (x channels); `exif` goes
    into an eXIf chunk before the pixel data."""
    height, width = pixels.shape[:2]
    depth = 16 if pixels.dtype.itemsize == 2 else 8
    raw = np.ascontiguousarray(pixels.astype(">u2") if depth == 16 else pixels)
    squeeze = zlib.compressobj(1)
    body = []
    passes = _ADAM7 if interlaced else ((0, 0, 1, 1),)
    for x0, y0, dx, dy in passes:
        sub = raw[y0::dy, x0::dx]
        if sub.size == 0:
            continue
        rows = sub.reshape(sub.shape[0], -1).view(np.uint8)
        filtered = np.zeros((rows.shape[0], rows.shape[1] + 1), dtype=np.uint8)
        filtered[:, 1:] = rows
        for top in range(0, filtered.shape[0], 512):
            body.append(squeeze.compress(filtered[top : top + 512].tobytes()))
    body.append(squeeze.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, int(interlaced))
    idat = b"".join(body)
    chunks = [_chunk(b"IHDR", ihdr)] + ([_chunk(b"eXIf", exif)] if exif else [])
    chunks += [_chunk(b"IDAT", idat[at : at + (1 << 20)]) for at in range(0, len(idat), 1 << 20)]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks) + _chunk(b"IEND", b"")


def png(*, wide: bool = False, interlaced: bool = False) -> Callable[[Image.Image], bytes]:
    def make(image: Image.Image) -> bytes:
        pixels = np.asarray(image.convert("RGB"))
        if wide:
            pixels = pixels.astype(np.uint16) * 257
        return png_from_array(pixels, 2, interlaced=interlaced, exif=_exif().tobytes())

    return make


def png_grey16(image: Image.Image) -> bytes:
    grey = np.asarray(image.convert("L")).astype(np.uint16) * 257
    return png_from_array(grey, 0, exif=_exif().tobytes())


def png_palette(image: Image.Image) -> bytes:
    return _save(image.convert("P"), "PNG", compress_level=1, exif=_exif())


def png_alpha(image: Image.Image) -> bytes:
    rgba = image.convert("RGBA")
    alpha = np.asarray(image.convert("L"))
    rgba.putalpha(Image.fromarray(alpha))
    return _save(rgba, "PNG", compress_level=1, exif=_exif())


def webp(*, lossless: bool = False, animated: bool = False) -> Callable[[Image.Image], bytes]:
    def make(image: Image.Image) -> bytes:
        params: dict[str, object] = {"exif": _exif()}
        params.update({"lossless": True, "quality": 0, "method": 0} if lossless else {})
        params.update({"quality": 80, "method": 0} if not lossless else {})
        if animated:
            negative = image.point(lambda value: 255 - value)  # never equal: two frames stay
            params.update(save_all=True, append_images=[negative], duration=100)
        return _save(image, "WEBP", **params)

    return make


def tiff(compression: str) -> Callable[[Image.Image], bytes]:
    def make(image: Image.Image) -> bytes:
        params: dict[str, object] = {"compression": compression, "exif": _exif()}
        if compression == "raw":
            params["compression"] = None
        return _save(image, "TIFF", **params)

    return make


def gif(image: Image.Image) -> bytes:
    return _save(image.convert("P"), "GIF")


def bmp(image: Image.Image) -> bytes:
    return _save(image, "BMP")


PATHS = (
    DecoderPath("jpeg", jpeg(), ".jpg"),
    DecoderPath("jpeg-444", jpeg(subsampling=0), ".jpg"),
    DecoderPath("jpeg-progressive", jpeg(progressive=True), ".jpg"),
    DecoderPath("jpeg-progressive-444", jpeg(progressive=True, subsampling=0), ".jpg"),
    DecoderPath("jpeg-cmyk", jpeg(cmyk=True), ".jpg"),
    DecoderPath("jpeg-progressive-cmyk", jpeg(progressive=True, cmyk=True), ".jpg"),
    DecoderPath("jpeg-ycck", jpeg(ycck=True), ".jpg"),
    DecoderPath("jpeg-progressive-ycck", jpeg(progressive=True, ycck=True), ".jpg"),
    DecoderPath("png", png(), ".png"),
    DecoderPath("png-palette", png_palette, ".png"),
    DecoderPath("png-alpha", png_alpha, ".png"),
    DecoderPath("png-16bit", png(wide=True), ".png"),
    DecoderPath("png-grey16", png_grey16, ".png"),
    DecoderPath("png-interlaced", png(interlaced=True), ".png"),
    DecoderPath("png-16bit-interlaced", png(wide=True, interlaced=True), ".png"),
    DecoderPath("webp-lossy", webp(), ".webp"),
    DecoderPath("webp-lossless", webp(lossless=True), ".webp"),
    DecoderPath("webp-animated", webp(animated=True), ".webp"),
    DecoderPath("tiff-raw", tiff("raw"), ".tif"),
    DecoderPath("tiff-lzw", tiff("tiff_lzw"), ".tif"),
    DecoderPath("tiff-deflate", tiff("tiff_adobe_deflate"), ".tif"),
    DecoderPath("tiff-packbits", tiff("packbits"), ".tif"),
    DecoderPath("tiff-jpeg", tiff("jpeg"), ".tif"),
    DecoderPath("gif", gif, ".gif"),
    DecoderPath("bmp", bmp, ".bmp"),
)
BY_NAME = {path.name: path for path in PATHS}
