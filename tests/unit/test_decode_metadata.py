"""Decoding keeps pixels, not metadata a hostile file can make as large as itself."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from handler.core.admit import admit
from handler.core.decode import decode
from handler.core.tiers import MemoryTier
from handler.errors import CorruptImageError
from tests.support import encode_image, photo

TIER = MemoryTier(memory_mb=2048, max_pixels=50_000_000, max_input_bytes=50_000_000)
MIB = 1 << 20


def chunk(kind: bytes, payload: bytes) -> bytes:
    crc = struct.pack(">I", zlib.crc32(kind + payload))
    return struct.pack(">I", len(payload)) + kind + payload + crc


def before_iend(png: bytes, *chunks: bytes) -> bytes:
    end = png.rindex(b"IEND") - 4
    return png[:end] + b"".join(chunks) + png[end:]


def test_private_png_chunks_are_not_kept_with_the_pixels() -> None:
    data = before_iend(encode_image(photo(40, 30)), chunk(b"paDd", b"\x01" * 2 * MIB))
    image = decode(data, admit(data, TIER))
    assert image.size == (40, 30) and not getattr(image, "private_chunks", [])
    assert image.info == {}


def test_jpeg_app_segments_are_not_kept_but_orientation_is_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    jpeg = encode_image(photo(40, 30), "JPEG", exif=exif)
    segment = b"\xff\xef" + struct.pack(">H", 65535) + b"\x02" * 65533
    data = jpeg[:2] + segment * 16 + jpeg[2:]
    image = decode(data, admit(data, TIER))
    assert image.size == (30, 40)  # rotated by its EXIF orientation
    assert not getattr(image, "applist", []) and image.info == {}


def test_palette_transparency_survives_until_the_rgba_conversion() -> None:
    image = photo(20, 10).convert("P")
    image.info["transparency"] = 0
    data = encode_image(image)
    assert decode(data, admit(data, TIER)).mode == "RGBA"


def test_png_text_that_would_inflate_past_a_few_mb_is_refused() -> None:
    text = zlib.compress(b"x" * (MIB - 64), 9)  # each chunk inflates to just under 1 MiB
    png = encode_image(photo(8, 8))
    head = png.index(b"IDAT") - 4
    bomb = png[:head] + chunk(b"zTXt", b"k\x00\x00" + text) * 8 + png[head:]
    with pytest.raises(CorruptImageError):
        admit(bomb, TIER)
    text_info = PngInfo()
    text_info.add_text("Comment", "an ordinary comment " * 500, zip=True)
    out = io.BytesIO()
    photo(8, 8).save(out, "PNG", pnginfo=text_info)  # ordinary text is fine
    assert admit(out.getvalue(), TIER).pixels == 64
