from __future__ import annotations

import struct
import zlib

import pytest
from PIL import Image

from handler.core.admit import admit
from handler.core.tiers import MemoryTier
from handler.errors import (
    CorruptImageError,
    EmptyBodyError,
    ImageTooLargeError,
    PayloadTooLargeError,
    UnsupportedFormatError,
)
from tests.support import encode_image, photo

TIER = MemoryTier(memory_mb=1024, max_pixels=1_000_000, max_input_bytes=2_000_000)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def png_header_only(width: int, height: int) -> bytes:
    """A PNG declaring a size, with one tiny IDAT: a bomb's header without its body."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"])
def test_allowed_formats_are_admitted_from_the_header(fmt: str) -> None:
    header = admit(encode_image(photo(40, 30), fmt), TIER)
    assert (header.width, header.height) == (40, 30)


def test_over_the_pixel_cap_is_refused_without_decoding() -> None:
    with pytest.raises(ImageTooLargeError) as info:
        admit(png_header_only(30000, 30000), TIER)
    assert "1024 MB" in info.value.message and "1.0 MP" in info.value.message


def test_byte_cap() -> None:
    with pytest.raises(PayloadTooLargeError):
        admit(b"\xff" * (TIER.max_input_bytes + 1), TIER)


def test_empty() -> None:
    with pytest.raises(EmptyBodyError):
        admit(b"", TIER)


@pytest.mark.parametrize(
    "body,hint",
    [
        (b"%PDF-1.7\n1 0 obj", "PDF"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
        (b"<!DOCTYPE html><html></html>", "HTML"),
        (b"hello, world", "not an image"),
    ],
)
def test_non_images_are_unsupported(body: bytes, hint: str) -> None:
    with pytest.raises(UnsupportedFormatError) as info:
        admit(body, TIER)
    assert hint in info.value.message


def test_other_pillow_formats_are_not_allowed() -> None:
    with pytest.raises(UnsupportedFormatError):
        admit(encode_image(photo(8, 8), "PPM"), TIER)


def test_orientation_swaps_the_reported_size() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    header = admit(encode_image(photo(40, 30), "JPEG", exif=exif), TIER)
    assert header.orientation == 6 and header.oriented_size == (30, 40)


def test_garbage_after_a_valid_signature_is_corrupt_or_unsupported() -> None:
    with pytest.raises((CorruptImageError, UnsupportedFormatError)):
        admit(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, TIER)
