"""Orientation is applied exactly once, for every format that carries it and all eight values.

Each file stores the picture turned the way orientation N describes, so that applying N once
shows it upright: never applying it, or applying it twice (Pillow already transposes a TIFF by
its tag while loading), gives a different picture or size.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bench.decoder_paths import png_from_array
from handler.core.admit import admit
from handler.core.decode import decode
from handler.core.tiers import MemoryTier
from tests.support import encode_image

TIER = MemoryTier(memory_mb=2048, max_pixels=50_000_000, max_input_bytes=50_000_000)
# What showing orientation N does to the stored picture, and its inverse (how to store it).
SHOW = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
STORE = {**SHOW, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


def upright() -> Image.Image:
    """64x32, four flat quadrants of different colours: every turn and flip tells apart."""
    pixels = np.zeros((32, 64, 3), dtype=np.uint8)
    pixels[:16, :32] = (230, 30, 30)
    pixels[:16, 32:] = (30, 200, 30)
    pixels[16:, :32] = (30, 30, 230)
    pixels[16:, 32:] = (240, 240, 240)
    return Image.fromarray(pixels)


def exif(orientation: int) -> Image.Exif:
    tags = Image.Exif()
    tags[0x0112] = orientation
    return tags


def stored(orientation: int) -> Image.Image:
    method = STORE.get(orientation)
    return upright() if method is None else upright().transpose(method)


def encoded(fmt: str, orientation: int) -> bytes:
    image = stored(orientation)
    if fmt == "PNG":  # an eXIf chunk before the pixel data, as Pillow writes it
        return encode_image(image, "PNG", exif=exif(orientation))
    if fmt == "JPEG":
        return encode_image(image, "JPEG", quality=95, exif=exif(orientation))
    if fmt == "WEBP":
        return encode_image(image, "WEBP", lossless=True, exif=exif(orientation))
    return encode_image(image, "TIFF", exif=exif(orientation))


def test_the_stored_pictures_differ_for_every_orientation() -> None:
    """The check can fail: each stored picture, shown as is, is not the upright one."""
    for orientation in range(2, 9):
        image = stored(orientation)
        assert image.size != upright().size or not np.array_equal(
            np.asarray(image), np.asarray(upright())
        )
        assert np.array_equal(np.asarray(image.transpose(SHOW[orientation])), np.asarray(upright()))


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_orientation_is_applied_once(fmt: str, orientation: int) -> None:
    data = encoded(fmt, orientation)
    header = admit(data, TIER)
    decoded = decode(data, header)
    assert decoded.size == upright().size == header.oriented_size
    difference = np.abs(
        np.asarray(decoded.convert("RGB"), dtype=np.int16) - np.asarray(upright(), dtype=np.int16)
    )
    assert difference.mean() < 6, f"{fmt} orientation {orientation}: not upright"


def test_tiff_orientation_6_comes_out_upright() -> None:
    """The issue's case: stored 90x60 with orientation 6 is shown 60x90."""
    data = encode_image(Image.new("RGB", (90, 60), (10, 20, 30)), "TIFF", exif=exif(6))
    assert decode(data, admit(data, TIER)).size == (60, 90)


@pytest.mark.parametrize("orientation", [3, 6])
def test_sixteen_bit_png_with_exif_is_oriented(orientation: int) -> None:
    """A PNG Pillow cannot write (16-bit RGB, eXIf before IDAT) takes the same path."""
    pixels = np.asarray(stored(orientation)).astype(np.uint16) * 257
    data = png_from_array(pixels, 2, exif=exif(orientation).tobytes())
    decoded = decode(data, admit(data, TIER))
    assert decoded.size == upright().size
    assert np.array_equal(np.asarray(decoded), np.asarray(upright()))
