"""The hostile and awkward upload corpus, generated in the test run (no binary blobs in git).

Every case says what each entry point must answer: a 200 with an image of a given size, or a
4xx with a specific error code. The caps are those of CORPUS_TIER, the smallest real tier, so a
body over the byte cap stays a few MB.
"""

from __future__ import annotations

import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image

from handler.core.tiers import MemoryTier
from tests.memory.bombs import jpeg_scan_bomb, png_chunk_bomb
from tests.support import encode_image, photo

# Small caps (1.3 MP, 4 MiB) keep the over-cap body small; every hostile case is over any
# tier's caps or broken in itself. Explicit, not a tier from the model: 256 MB holds no image.
CORPUS_TIER = MemoryTier(
    memory_mb=256, max_pixels=1_300_000, max_input_bytes=4 * 1024 * 1024, max_webp_pixels=1_300_000
)
BOMB_SIDE = 30_000
HUGE_SIDE = 65_000
_ORIENTATION_TAG = 0x0112


@dataclass(frozen=True)
class Case:
    """One upload and the answer it must get: `size` for a 200, else `status` and `code`."""

    name: str
    make: Callable[[], bytes]
    status: int = 200
    code: str | None = None
    size: tuple[int, int] | None = None
    query: str = ""

    @property
    def valid(self) -> bool:
        return self.status == 200

    @property
    def body(self) -> bytes:
        return _body(self.make)


@cache
def _body(make: Callable[[], bytes]) -> bytes:
    return make()


def png_chunk(kind: bytes, payload: bytes, *, crc: int | None = None) -> bytes:
    checksum = zlib.crc32(kind + payload) if crc is None else crc
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", checksum)


def raw_png(
    width: int, height: int, *, bit_depth: int, colour_type: int, idat: bytes, ihdr_crc: int | None
) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr, crc=ihdr_crc)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def png_bomb(side: int = BOMB_SIDE) -> bytes:
    """A complete, valid 1-bit PNG of side x side zeros (~110 KB; 900 MB once decoded).

    Streamed through zlib a block of rows at a time: the raw image is never in memory.
    """
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed bits
    rows_per_block = 100
    block = row * rows_per_block
    compressor = zlib.compressobj(9)
    parts = []
    for start in range(0, side, rows_per_block):
        count = min(rows_per_block, side - start)
        parts.append(compressor.compress(block if count == rows_per_block else row * count))
    parts.append(compressor.flush())
    return raw_png(side, side, bit_depth=1, colour_type=0, idat=b"".join(parts), ihdr_crc=None)


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small real JPEG whose SOF header is patched to declare another size."""
    data = bytearray(encode_image(photo(16, 16), "JPEG"))
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def gif_declaring(width: int, height: int) -> bytes:
    """A small real GIF whose screen and first image descriptor declare another size."""
    data = bytearray(encode_image(photo(16, 16).convert("P"), "GIF"))
    struct.pack_into("<HH", data, 6, width, height)
    descriptor = data.index(b"\x2c\x00\x00\x00\x00")
    struct.pack_into("<HH", data, descriptor + 5, width, height)
    return bytes(data)


def gif_image_descriptor(data: bytes) -> int:
    """Offset of the first image descriptor (0x2C) of a GIF, skipping extension blocks."""
    flags = data[10]
    offset = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    while data[offset] == 0x21:  # extension: label, then sub-blocks until a zero length
        offset += 2
        while data[offset]:
            offset += data[offset] + 1
        offset += 1
    assert data[offset] == 0x2C
    return offset


def gif_frame_bomb(side: int = 45_000) -> bytes:
    """A 16x16 GIF whose first frame claims side x side with disposal 'restore to background':
    Pillow fills a side x side disposal image while opening it (found by atheris)."""
    data = bytearray(encode_image(photo(16, 16).convert("P"), "GIF"))
    descriptor = gif_image_descriptor(bytes(data))
    struct.pack_into("<HH", data, descriptor + 5, side, side)
    control = b"\x21\xf9\x04\x08\x00\x00\x00\x00"  # graphic control: disposal method 2
    return bytes(data[:descriptor]) + control + bytes(data[descriptor:])


def tiff_rational_strip_offsets() -> bytes:
    """A TIFF whose StripOffsets tag is a RATIONAL: Pillow's loader raised TypeError seeking to
    it, which escaped as a 500 (found by atheris)."""
    data = bytearray(encode_image(photo(16, 16), "TIFF"))
    (ifd,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, ifd)
    for entry in range(ifd + 2, ifd + 2 + 12 * count, 12):
        if struct.unpack_from("<H", data, entry)[0] == 273:  # StripOffsets
            struct.pack_into("<HHII", data, entry, 273, 5, 1, len(data))  # RATIONAL, 1 value
    return bytes(data) + struct.pack("<II", 3, 2)


def truncated_jpeg() -> bytes:
    data = encode_image(photo(96, 64), "JPEG")
    return data[: len(data) * 3 // 5]


def png_bad_header_crc() -> bytes:
    return raw_png(
        8, 8, bit_depth=8, colour_type=0, idat=zlib.compress(b"\x00" * 9 * 8), ihdr_crc=0xDEADBEEF
    )


def png_bad_idat() -> bytes:
    """Correct chunk CRCs around an IDAT that is not a zlib stream."""
    return raw_png(8, 8, bit_depth=8, colour_type=0, idat=b"not zlib at all" * 4, ihdr_crc=None)


def png_short_idat() -> bytes:
    """A valid zlib stream holding fewer rows than the header declares."""
    return raw_png(
        64, 64, bit_depth=8, colour_type=0, idat=zlib.compress(b"\x00" * 65 * 8), ihdr_crc=None
    )


def png_rgb48() -> bytes:
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one, so it is built here)."""
    width, height = 24, 16
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 65535, size=(height, width, 3), dtype=np.uint16).astype(">u2")
    raw = b"".join(b"\x00" + pixels[y].tobytes() for y in range(height))
    return raw_png(
        width, height, bit_depth=16, colour_type=2, idat=zlib.compress(raw), ihdr_crc=None
    )


def grey16_png() -> bytes:
    ramp = (np.arange(40 * 30, dtype=np.uint32).reshape(30, 40) * 50).astype("<u2")
    return encode_image(Image.frombytes("I;16", (40, 30), ramp.tobytes()), "PNG")


def palette_with_transparency() -> bytes:
    image = photo(48, 32).convert("P")
    return encode_image(image, "PNG", transparency=0)


def exif_rotated_jpeg() -> bytes:
    exif = Image.Exif()
    exif[_ORIENTATION_TAG] = 6  # stored 60x40, shown 40x60
    return encode_image(photo(60, 40), "JPEG", exif=exif)


def orientation_6_tiff() -> bytes:
    """Stored 60x40 with its Orientation tag 6: shown 40x60 (Pillow turns it while loading)."""
    exif = Image.Exif()
    exif[_ORIENTATION_TAG] = 6
    return encode_image(photo(60, 40), "TIFF", exif=exif)


def animated_gif() -> bytes:
    frames = [photo(40, 24, seed=i).convert("P") for i in range(3)]
    return encode_image(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)


def multipage_tiff() -> bytes:
    pages = [photo(44, 28), photo(20, 20, seed=3)]
    return encode_image(pages[0], "TIFF", save_all=True, append_images=pages[1:])


def random_bytes() -> bytes:
    return random.Random(6).randbytes(4096)


def over_byte_cap() -> bytes:
    """A PNG signature followed by filler: one byte over the corpus tier's byte cap."""
    signature = b"\x89PNG\r\n\x1a\n"
    return signature + b"\x00" * (CORPUS_TIER.max_input_bytes + 1 - len(signature))


def _image(image_fn: Callable[[], Image.Image], fmt: str, **params: object) -> Callable[[], bytes]:
    def make() -> bytes:
        return encode_image(image_fn(), fmt, **params)

    make.__name__ = f"{fmt.lower()}_image"
    return make


def _const(data: bytes) -> Callable[[], bytes]:
    def make() -> bytes:
        return data

    return make


def good_photo() -> bytes:
    return encode_image(photo(64, 48), "JPEG")


HOSTILE: tuple[Case, ...] = (
    Case("png-bomb-30000x30000", png_bomb, 413, "image_too_large"),
    Case(
        "jpeg-declares-65000x65000",
        lambda: jpeg_declaring(HUGE_SIDE, HUGE_SIDE),
        413,
        "image_too_large",
    ),
    Case(
        "gif-declares-65000x65000",
        lambda: gif_declaring(HUGE_SIDE, HUGE_SIDE),
        413,
        "image_too_large",
    ),
    Case("gif-frame-bomb-45000x45000", gif_frame_bomb, 413, "image_too_large"),
    Case(
        "jpeg-scan-bomb",
        lambda: jpeg_scan_bomb(side=64, scans=200),
        422,
        "image_too_complex",
    ),
    Case("png-chunk-bomb", lambda: png_chunk_bomb(20_000), 422, "image_too_complex"),
    Case("truncated-jpeg", truncated_jpeg, 422, "corrupt_image"),
    Case("tiff-rational-strip-offsets", tiff_rational_strip_offsets, 422, "corrupt_image"),
    Case("png-bad-header-crc", png_bad_header_crc, 422, "corrupt_image"),
    Case("png-bad-idat", png_bad_idat, 422, "corrupt_image"),
    Case("empty-body", _const(b""), 400, "empty_body"),
    Case("plain-text", _const(b"hello, this is not an image\n" * 4), 415, "unsupported_format"),
    Case(
        "svg",
        _const(
            b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
            b'<rect width="10" height="10"/></svg>'
        ),
        415,
        "unsupported_format",
    ),
    Case(
        "pdf",
        _const(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n"),
        415,
        "unsupported_format",
    ),
    Case(
        "html",
        _const(b"<!DOCTYPE html><html><body><img src=x></body></html>"),
        415,
        "unsupported_format",
    ),
    Case(
        "url-text", _const(b"http://169.254.169.254/latest/meta-data/"), 415, "unsupported_format"
    ),
    Case("random-bytes", random_bytes, 415, "unsupported_format"),
    Case("over-byte-cap", over_byte_cap, 413, "payload_too_large"),
)

VALID: tuple[Case, ...] = (
    Case("cmyk-jpeg", _image(lambda: photo(50, 30).convert("CMYK"), "JPEG"), size=(50, 30)),
    Case(
        "progressive-jpeg", _image(lambda: photo(70, 42), "JPEG", progressive=True), size=(70, 42)
    ),
    Case("grey16-png", grey16_png, size=(40, 30)),
    Case("rgb48-png", png_rgb48, size=(24, 16)),
    Case("greyscale-jpeg", _image(lambda: photo(36, 52).convert("L"), "JPEG"), size=(36, 52)),
    Case("palette-transparency-png", palette_with_transparency, size=(48, 32)),
    Case("rgba-png", _image(lambda: photo(30, 30).convert("RGBA"), "PNG"), size=(30, 30)),
    Case("exif-rotated-jpeg", exif_rotated_jpeg, size=(40, 60)),
    Case("orientation-6-tiff", orientation_6_tiff, size=(40, 60)),
    Case("animated-gif", animated_gif, size=(40, 24)),
    Case("multipage-tiff", multipage_tiff, size=(44, 28)),
    Case("webp-lossy", _image(lambda: photo(58, 38), "WEBP", quality=80), size=(58, 38)),
    Case(
        "webp-lossless-alpha",
        _image(lambda: photo(26, 18).convert("RGBA"), "WEBP", lossless=True),
        size=(26, 18),
    ),
    Case("bmp", _image(lambda: photo(33, 21), "BMP"), size=(33, 21)),
    Case("1x1", _image(lambda: Image.new("RGB", (1, 1), (200, 10, 10)), "PNG"), size=(1, 1)),
    Case("2x400", _image(lambda: photo(2, 400), "PNG"), size=(2, 400)),
    Case("400x2", _image(lambda: photo(400, 2), "PNG"), size=(400, 2)),
    # A complete zlib stream with fewer rows than declared: Pillow (like browsers) fills the
    # missing rows, so this is an image, not an error.
    Case("png-short-idat", png_short_idat, size=(64, 64)),
)

BAD_QUERIES: tuple[Case, ...] = tuple(
    Case(f"query-{query}", good_photo, 422, "invalid_option", query=query)
    for query in (
        "format=gif",
        "format=",
        "format=png%00",
        "mask=maybe",
        "crop=2",
        "bg_color=red",
        "bg_color=%2312345",
        "bg_color=ff00ff00ff",
        "crop=true&crop_margin=-1",
        "crop=true&crop_margin=1e3",
        "crop=true&crop_margin=10001",
        "crop=true&crop_margin=99999999999999999999999999",
    )
)

# Valid images and valid options that cannot go together: the encoder's size limits.
FORMAT_LIMITS: tuple[Case, ...] = (
    Case(
        "webp-wider-than-16383",
        _image(lambda: Image.new("RGB", (16400, 8), (200, 30, 30)), "PNG"),
        422,
        "too_large_for_format",
        query="format=webp",
    ),
    Case(
        "jpeg-wider-than-65500",
        _image(lambda: Image.new("RGB", (70000, 2), (200, 30, 30)), "PNG"),
        422,
        "too_large_for_format",
        query="format=jpeg",
    ),
    Case(
        "jpeg-mask-wider-than-65500",
        _image(lambda: Image.new("RGB", (70000, 2), (200, 30, 30)), "PNG"),
        422,
        "too_large_for_format",
        query="mask=true&format=jpeg",
    ),
)

CORPUS: tuple[Case, ...] = HOSTILE + VALID + BAD_QUERIES + FORMAT_LIMITS


def case_ids(cases: tuple[Case, ...]) -> list[str]:
    return [case.name for case in cases]
