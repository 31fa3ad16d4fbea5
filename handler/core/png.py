"""PNG writing, strip by strip and on several cores: the Up filter, then deflate per strip.

Pillow's PNG encoder tries every filter on every row and deflates on one core: at level 4,
60-90 ms for a cutout of a 1.5-2 MP photo, as much as everything else around inference
together. Here each strip of rows is filtered with PNG's Up filter (one numpy subtraction) and
deflated on its own (the GIL is released while it deflates), ending on a byte boundary (a sync
flush), so the pieces join into one valid zlib stream whose checksum is combined from the
strips' own. The deflate is zlib-ng's (the `zlib-ng` package, a drop-in for the zlib module):
the same format, about twice as fast as zlib at the same level, and no larger
(docs/bench/png-levels.md).
"""

from __future__ import annotations

import io
import struct
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType

import numpy as np
from PIL import Image
from zlib_ng import zlib_ng

from handler.core.strips import Box, strips

SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG colour types for the modes cutout writes (8 bits a sample).
COLOR_TYPES = {"L": 0, "RGB": 2, "LA": 4, "RGBA": 6}
UP_FILTER = 2
# Bytes of raw image per deflated piece: several pieces for a photo so the cores share the work.
PIECE_BYTES = 1 << 20
# zlib's stream header for a 32 KiB window (0x78) at the default compression class, and the
# empty final block that closes a deflate stream made of sync-flushed pieces.
_ZLIB_HEADER = b"\x78\x9c"
_FINAL_BLOCK = b"\x03\x00"
_ADLER_BASE = 65521


def writes(mode: str) -> bool:
    """Whether this writer handles images of this mode."""
    return mode in COLOR_TYPES


def encode_png(
    image: Image.Image,
    *,
    level: int,
    strategy: int,
    threads: int = 1,
    deflate: ModuleType = zlib_ng,
) -> bytes:
    """PNG bytes for an L, LA, RGB or RGBA image; no metadata chunks are written.

    `deflate` is the zlib-compatible module that compresses (the benchmark compares zlib's).
    """
    if not writes(image.mode):
        raise ValueError(f"no PNG colour type for mode {image.mode}")
    width, height = image.size
    header = struct.pack(">IIBBBBB", width, height, 8, COLOR_TYPES[image.mode], 0, 0, 0)
    boxes = list(strips(image.size, bytes_per_pixel=len(image.getbands()), target=PIECE_BYTES))

    def piece(box: Box) -> tuple[bytes, int, int]:
        return _deflate_piece(_up_filtered(image, box), level, strategy, deflate)

    out = io.BytesIO()
    out.write(SIGNATURE)
    _write_chunk(out, b"IHDR", header)
    _write_chunk(out, b"IDAT", _ZLIB_HEADER)
    checksum = 1
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(boxes)))) as pool:
        # In order, each piece written and dropped as it comes: the whole output exists once.
        for data, adler, length in pool.map(piece, boxes):
            _write_chunk(out, b"IDAT", data)
            checksum = adler32_combine(checksum, adler, length)
            del data
    _write_chunk(out, b"IDAT", _FINAL_BLOCK + struct.pack(">I", checksum))
    _write_chunk(out, b"IEND", b"")
    return out.getvalue()  # BytesIO hands over its buffer without a copy


def _up_filtered(image: Image.Image, box: Box) -> np.ndarray:
    """The rows in box as PNG scanlines: a filter-type byte, then each byte minus the one above.

    The row above the strip is read too, so strips filter exactly as one whole image would.
    The first row of the image has nothing above it, which the Up filter treats as zeros.
    """
    left, top, right, bottom = box
    above = 1 if top > 0 else 0
    rows = np.asarray(image.crop((left, top - above, right, bottom)))
    rows = rows.reshape(rows.shape[0], -1)
    out = np.empty((bottom - top, rows.shape[1] + 1), dtype=np.uint8)
    out[:, 0] = UP_FILTER
    if above:
        np.subtract(rows[1:], rows[:-1], out=out[:, 1:])
    else:
        out[0, 1:] = rows[0]
        np.subtract(rows[1:], rows[:-1], out=out[1:, 1:])
    return out


def _deflate_piece(
    scanlines: np.ndarray, level: int, strategy: int, deflate: ModuleType
) -> tuple[bytes, int, int]:
    """Raw deflate of one piece, ending on a byte boundary, with its adler32 and length."""
    compressor = deflate.compressobj(level, deflate.DEFLATED, -deflate.MAX_WBITS, 9, strategy)
    data = scanlines.data
    body = compressor.compress(data) + compressor.flush(deflate.Z_SYNC_FLUSH)
    return body, deflate.adler32(data), scanlines.nbytes


def adler32_combine(first: int, second: int, second_length: int) -> int:
    """The adler32 of two buffers joined, from theirs (zlib's adler32_combine)."""
    remainder = second_length % _ADLER_BASE
    low = ((first & 0xFFFF) + (second & 0xFFFF) + _ADLER_BASE - 1) % _ADLER_BASE
    high = (
        remainder * (first & 0xFFFF) + (first >> 16) + (second >> 16) + _ADLER_BASE - remainder
    ) % _ADLER_BASE
    return low | (high << 16)


def _write_chunk(out: io.BytesIO, kind: bytes, data: bytes) -> None:
    out.write(struct.pack(">I", len(data)))
    out.write(kind)
    out.write(data)
    out.write(struct.pack(">I", zlib_ng.crc32(data, zlib_ng.crc32(kind))))
