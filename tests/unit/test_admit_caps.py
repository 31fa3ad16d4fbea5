"""Admission by tier and output format, and EXIF orientation that never decodes pixels."""

from __future__ import annotations

import struct
import zlib

import pytest
from PIL import Image

from handler.core.admit import admit
from handler.core.options import OutputFormat, RemoveOptions
from handler.core.pipeline import render
from handler.core.predict import U2NetModel
from handler.core.tiers import MemoryTier
from handler.errors import ImageTooLargeError
from tests.support import decode_image, encode_image, photo

TIER = MemoryTier(
    memory_mb=1024, max_pixels=4_000_000, max_input_bytes=2_000_000, max_webp_pixels=1_000_000
)


def chunk(kind: bytes, payload: bytes) -> bytes:
    crc = struct.pack(">I", zlib.crc32(kind + payload))
    return struct.pack(">I", len(payload)) + kind + payload + crc


def header_only_png(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + idat + chunk(b"IEND", b"")


def png_with_late_exif(image: Image.Image, orientation: int) -> bytes:
    """A PNG whose eXIf chunk comes after the pixel data (allowed by the PNG spec)."""
    data = encode_image(image)
    exif = Image.Exif()
    exif[0x0112] = orientation
    payload = exif.tobytes()
    payload = payload[6:] if payload.startswith(b"Exif\x00\x00") else payload
    end = data.rindex(b"IEND") - 4
    return data[:end] + chunk(b"eXIf", payload) + data[end:]


def test_webp_output_has_its_own_cap() -> None:
    data = header_only_png(2000, 1000)
    assert admit(data, TIER).pixels == 2_000_000
    with pytest.raises(ImageTooLargeError) as info:
        admit(data, TIER, output=OutputFormat.WEBP)
    assert "for WEBP output at 1024 MB is 1.0 MP" in info.value.message


def test_webp_side_limit_is_refused_before_decoding() -> None:
    """WebP holds 16383 px a side: refused from the header (422 too_large_for_format)."""
    from handler.errors import CutoutError
    from handler.serving.service import refuse_unfinishable

    header = admit(header_only_png(16384, 10), TIER, output=OutputFormat.WEBP)
    with pytest.raises(CutoutError) as info:
        refuse_unfinishable(header, RemoveOptions(format=OutputFormat.WEBP), None)
    assert info.value.code == "too_large_for_format" and "16383" in info.value.message


def test_a_late_png_exif_is_ignored_consistently(model: U2NetModel) -> None:
    """An eXIf chunk after the pixel data is not read at admission (finding it would mean
    decoding the pixels), and decode follows admit's orientation, so every path agrees."""
    data = png_with_late_exif(photo(40, 30), orientation=6)
    header = admit(data, TIER)
    assert header.orientation == 1
    for options in (RemoveOptions(mask=True), RemoveOptions()):
        result = decode_image(render(data, header, options, model=model).data)
        assert result.size == (40, 30)
