"""Decompression bombs made in the test: real files, a few MB, that declare huge images."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

ZERO_BLOCK = 1 << 22


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = struct.pack(">I", zlib.crc32(kind + payload))
    return struct.pack(">I", len(payload)) + kind + payload + crc


def png_bomb(width: int, height: int) -> bytes:
    """A valid RGB PNG of zeros that decodes to width x height pixels.

    The deflate stream repeats one compressed block of zeros (valid because every block only
    refers back into zeros), so making a 900 MP bomb takes milliseconds, not a 2.7 GB zlib run.
    """
    total = (width * 3 + 1) * height
    squeeze = zlib.compressobj(9)
    first = squeeze.compress(b"\x00" * ZERO_BLOCK) + squeeze.flush(zlib.Z_SYNC_FLUSH)
    steady = squeeze.compress(b"\x00" * ZERO_BLOCK) + squeeze.flush(zlib.Z_SYNC_FLUSH)
    blocks, rest = divmod(total, ZERO_BLOCK)
    last = squeeze.compress(b"\x00" * rest) + squeeze.flush()
    adler = struct.pack(">I", ((total % 65521) << 16) | 1)  # adler32 of `total` zero bytes
    body = first + steady * (blocks - 1) + last[:-4] + adler
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")
    )


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header claims width x height."""
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (90, 120, 200)).save(out, "JPEG")
    data = bytearray(out.getvalue())
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def jpeg_scan_bomb(side: int = 8000, scans: int = 5000) -> bytes:
    """A valid progressive JPEG whose last scan (an AC refinement of a flat grey picture: a few
    bytes of end-of-band runs) is repeated `scans` times: each repeat is a pass over every
    block of the image, so decoding costs milliseconds a scan at 64 MP."""
    out = io.BytesIO()
    Image.new("L", (side, side), 128).save(out, "JPEG", progressive=True, quality=90)
    data = out.getvalue()
    end = data.rindex(b"\xff\xd9")
    scan = data[data.rindex(b"\xff\xda") : end]
    return data[:end] + scan * scans + data[end:]


def png_chunk_bomb(chunks: int = 800_000, *, after_pixels: bool = False) -> bytes:
    """A valid 64x48 PNG with `chunks` empty private chunks before (or after) its pixel data."""
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 90, 40)).save(out, "PNG")
    data = out.getvalue()
    at = data.index(b"IEND") - 4 if after_pixels else data.index(b"IDAT") - 4
    return data[:at] + _chunk(b"jUNk", b"") * chunks + data[at:]
