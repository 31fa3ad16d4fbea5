"""Seed images in every allowed format and the mutations the fuzzers apply to them.

Shared by the Hypothesis property test (tests/hardening/test_fuzz_decode.py) and the atheris
harness (tests/hardening/fuzz_atheris.py), so both explore the same neighbourhood of real files.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

from PIL import Image, ImageFile

from handler.core.admit import admit
from handler.core.decode import decode
from handler.core.tiers import MemoryTier
from handler.errors import CutoutError
from tests.hardening.corpus import (
    animated_gif,
    exif_rotated_jpeg,
    grey16_png,
    multipage_tiff,
    palette_with_transparency,
    png_rgb48,
)
from tests.support import encode_image, photo

# Small caps keep every example cheap: a mutated header can declare at most ~1 MP.
FUZZ_TIER = MemoryTier(memory_mb=256, max_pixels=1_000_000, max_input_bytes=1 << 20)
# Values that sit on the edges of the integer fields headers are made of.
INTERESTING = (0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF)
_SIZE_WIDTHS = {1: "B", 2: "H", 4: "I"}


@cache
def seeds() -> tuple[bytes, ...]:
    """Small real files covering each allowed format and the plugins' main code paths."""
    base = photo(24, 16)
    exif = Image.Exif()
    exif[0x0112] = 8
    makers: list[Callable[[], bytes]] = [
        lambda: encode_image(base, "JPEG"),
        lambda: encode_image(base, "JPEG", progressive=True, quality=60),
        lambda: encode_image(base.convert("CMYK"), "JPEG"),
        lambda: encode_image(base.convert("L"), "JPEG", exif=exif),
        exif_rotated_jpeg,
        lambda: encode_image(base, "PNG"),
        lambda: encode_image(base.convert("RGBA"), "PNG", optimize=True),
        lambda: encode_image(base, "PNG", interlace=1),
        lambda: encode_image(base.convert("1"), "PNG"),
        lambda: encode_image(base.convert("LA"), "PNG"),
        palette_with_transparency,
        grey16_png,
        png_rgb48,
        lambda: encode_image(base.convert("P"), "GIF", transparency=3),
        animated_gif,
        lambda: encode_image(base, "WEBP", quality=50),
        lambda: encode_image(base.convert("RGBA"), "WEBP", lossless=True, exif=exif.tobytes()),
        lambda: encode_image(base, "BMP"),
        lambda: encode_image(base.convert("P"), "BMP"),
        lambda: encode_image(base.convert("RGBA"), "BMP"),
        lambda: encode_image(base, "TIFF"),
        lambda: encode_image(base, "TIFF", compression="tiff_deflate"),
        lambda: encode_image(base, "TIFF", compression="tiff_lzw"),
        lambda: encode_image(base, "TIFF", compression="packbits"),
        lambda: encode_image(base.convert("CMYK"), "TIFF"),
        lambda: encode_image(base, "TIFF", compression="jpeg"),
        multipage_tiff,
    ]
    return tuple(make() for make in makers)


# --- mutations: each takes the bytes and some parameters, and returns new bytes -----------------


def flip_bit(data: bytes, position: int, bit: int) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    out[position % len(out)] ^= 1 << (bit % 8)
    return bytes(out)


def overwrite(data: bytes, position: int, payload: bytes) -> bytes:
    if not data:
        return payload
    start = position % len(data)
    return data[:start] + payload + data[start + len(payload) :]


def put_integer(data: bytes, position: int, value: int, width: int, big_endian: bool) -> bytes:
    """An edge value written over a header-sized integer field."""
    fmt = (">" if big_endian else "<") + _SIZE_WIDTHS[width]
    return overwrite(data, position, struct.pack(fmt, value & ((1 << (8 * width)) - 1)))


def truncate(data: bytes, position: int) -> bytes:
    return data[: position % (len(data) + 1)]


def insert(data: bytes, position: int, payload: bytes) -> bytes:
    start = position % (len(data) + 1)
    return data[:start] + payload + data[start:]


def delete(data: bytes, position: int, length: int) -> bytes:
    if not data:
        return data
    start = position % len(data)
    return data[:start] + data[start + length :]


def duplicate(data: bytes, position: int, length: int, times: int) -> bytes:
    if not data:
        return data
    start = position % len(data)
    piece = data[start : start + length]
    return data[:start] + piece * times + data[start:]


def splice(data: bytes, other: bytes, cut: int, other_cut: int) -> bytes:
    """The head of one file on the tail of another."""
    return data[: cut % (len(data) + 1)] + other[other_cut % (len(other) + 1) :]


def mutate_png_chunk(data: bytes, index: int, position: int, payload: bytes) -> bytes:
    """Overwrite part of one PNG chunk and recompute its CRC, so the damage reaches the
    decoder instead of stopping at the checksum."""
    chunks = list(png_chunks(data))
    if not chunks:
        return data
    start, kind, body = chunks[index % len(chunks)]
    new_body = overwrite(body, position, payload) if body else payload
    rebuilt = (
        struct.pack(">I", len(new_body))
        + kind
        + new_body
        + struct.pack(">I", zlib.crc32(kind + new_body))
    )
    end = start + 12 + len(body)
    return data[:start] + rebuilt + data[end:]


def png_chunks(data: bytes) -> list[tuple[int, bytes, bytes]]:
    """(offset, type, payload) of each well-formed chunk of a PNG, in order."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return []
    found = []
    offset = 8
    while offset + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, offset)
        if offset + 12 + length > len(data):
            break
        found.append(
            (offset, data[offset + 4 : offset + 8], data[offset + 8 : offset + 8 + length])
        )
        offset += 12 + length
    return found


@dataclass(frozen=True)
class Verdict:
    """What admit + decode made of some bytes: a decoded size, or the code of our error."""

    size: tuple[int, int] | None = None
    code: str | None = None


class PixelsDecodedError(AssertionError):
    """admit decoded pixel data: a decompression bomb would go off before the caps apply."""


@contextmanager
def no_pixel_decoding(max_pixels: int) -> Iterator[None]:
    """Inside the block, refuse any pixel decode (ImageFile.load, asking Pillow for a decoder)
    and any image buffer over max_pixels (Pillow's plugins may allocate small ones while
    opening, e.g. a GIF frame's disposal image); fail at the end if either was tried, even
    when the code under test swallowed the refusal."""
    tried: list[str] = []

    def refuse(what: str) -> Any:
        tried.append(what)
        raise PixelsDecodedError(f"admit called {what}")

    core = Image.core
    real = (ImageFile.ImageFile.load, Image._getdecoder, core.fill, core.new)

    def capped(name: str, allocate: Callable[..., Any]) -> Callable[..., Any]:
        def allocation(mode: str, size: tuple[int, int], *args: Any) -> Any:
            if size[0] * size[1] > max_pixels:
                refuse(f"core.{name}({mode}, {size[0]}x{size[1]})")
            return allocate(mode, size, *args)

        return allocation

    ImageFile.ImageFile.load = lambda *a, **k: refuse("ImageFile.load")  # type: ignore[method-assign]
    Image._getdecoder = lambda *a, **k: refuse("a decoder")
    core.fill = capped("fill", real[2])
    core.new = capped("new", real[3])
    try:
        yield
    finally:
        ImageFile.ImageFile.load, Image._getdecoder, core.fill, core.new = real  # type: ignore[method-assign]
        if tried:  # replaces whatever the block raised: this is the failure that matters
            raise PixelsDecodedError(f"admit tried pixel work: {', '.join(tried)}")


def admit_and_decode(data: bytes, tier: MemoryTier = FUZZ_TIER) -> Verdict:
    """The property both fuzzers check: admit reads headers only, then a decoded image within
    the caps, or a CutoutError with a 4xx status. Anything else escapes or fails an assertion."""
    try:
        with no_pixel_decoding(tier.max_pixels):
            header = admit(data, tier)
    except CutoutError as exc:
        return _refused(exc)
    try:
        image = decode(data, header)
    except CutoutError as exc:
        return _refused(exc)
    assert header.pixels <= tier.max_pixels
    assert image.mode in ("RGB", "RGBA"), image.mode
    width, height = image.size
    assert width * height <= tier.max_pixels, image.size
    assert image.size == header.oriented_size, (image.size, header)
    return Verdict(size=image.size)


def _refused(exc: CutoutError) -> Verdict:
    assert exc.status < 500, f"{exc.code} ({exc.status}) for a client's bytes: {exc.message}"
    return Verdict(code=exc.code)
