"""The structure of an encoded image, read from its bytes before any decoder runs: which decoder
path it takes (what its decode costs per pixel) and how much work its structure asks for.

Pixels are not the only cost. A 1.3 MB progressive JPEG can hold thousands of scans, each a pass
over every block of the image; a 10 MB PNG can hold 800,000 empty chunks, each a trip through
Pillow's Python chunk loop; GIF, WebP and TIFF files can declare thousands of frames or pages, or
a TIFF millions of strips. These are counted here, with byte-level walks that stop at the limit,
and refused with a 422 naming what was over it.
"""

from __future__ import annotations

import re
import struct

from PIL import Image

from handler.errors import ImageTooComplexError

# Real progressive JPEGs have about 10 scans (libjpeg's default script; optimised ones a few
# more). Each scan is a pass over the whole image even when it holds a few bytes (a repeated
# AC refinement scan costs 60-240 ms at 64 MP here, docs/hardening.md "CPU bombs"), so the
# limit falls with the image's size: MAX_JPEG_SCANS up to 16 MP, then a budget of scan-pixels,
# never below MIN_JPEG_SCANS.
MAX_JPEG_SCANS = 64
MIN_JPEG_SCANS = 20
JPEG_SCAN_PIXELS = MAX_JPEG_SCANS * 16_000_000
# Segments (markers with a length: APPn, DQT, DHT, SOS, ...), each a trip through Pillow's
# Python marker loop. An ICC profile split into APP2 segments needs a few dozen.
MAX_JPEG_SEGMENTS = 10_000
# PNG chunks: one per 4 KiB of file on average, beyond a first allowance. Writers use 8-64 KiB
# IDAT chunks; 800,000 empty chunks in 10 MB cost Pillow 5 s.
PNG_CHUNK_ALLOWANCE = 10_000
PNG_BYTES_PER_CHUNK = 4096
# Frames (GIF, WebP) and pages (TIFF): cutout decodes the first, but each is still a block to
# walk, and a file with more than this is not a photo.
MAX_FRAMES = 10_000
# Strips or tiles of the first TIFF page: Pillow makes one decoder per strip in Python.
MAX_TIFF_STRIPS = 65_536

# A marker inside a JPEG's entropy-coded data: 0xFF followed by neither a stuffed 0x00, a
# restart marker (0xD0-0xD7) nor fill (0xFF).
_JPEG_MARKER_IN_SCAN = re.compile(rb"\xff[\x01-\xcf\xd8-\xfe]")
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # SOFn, not DHT, JPG, DAC
_TIFF_STRIP_TAGS = frozenset({273, 324})  # StripOffsets, TileOffsets
_TIFF_COMPRESSIONS = {
    "raw": "raw",
    "tiff_lzw": "lzw",
    "tiff_adobe_deflate": "deflate",
    "tiff_deflate": "deflate",
    "packbits": "packbits",
    "jpeg": "jpeg",
    "tiff_jpeg": "jpeg",
}


def check_structure(data: bytes, fmt: str) -> None:
    """Refuse (ImageTooComplexError) a file whose structure asks for more work than any image
    needs; `fmt` is the format its signature names. Malformed structure is left to the decoder,
    which reports it as corrupt."""
    if fmt == "JPEG":
        scans, segments, pixels = count_jpeg(data)
        scan_limit = jpeg_scan_limit(pixels)
        _limit("JPEG", "scans", scans, scan_limit, MAX_JPEG_SCANS + 1, f" at {pixels / 1e6:.1f} MP")
        _limit("JPEG", "marker segments", segments, MAX_JPEG_SEGMENTS, MAX_JPEG_SEGMENTS + 1)
    elif fmt == "PNG":
        allowed = PNG_CHUNK_ALLOWANCE + len(data) // PNG_BYTES_PER_CHUNK
        _limit("PNG", "chunks", count_png_chunks(data, allowed + 1), allowed, allowed + 1)
    elif fmt == "GIF":
        frames = count_gif_frames(data, MAX_FRAMES + 1)
        _limit("GIF", "frames", frames, MAX_FRAMES, MAX_FRAMES + 1)
    elif fmt == "WEBP":
        frames = count_webp_frames(data, MAX_FRAMES + 1)
        _limit("WebP", "frames", frames, MAX_FRAMES, MAX_FRAMES + 1)
    elif fmt == "TIFF":
        pages, strips = count_tiff(data, MAX_FRAMES + 1)
        _limit("TIFF", "pages", pages, MAX_FRAMES, MAX_FRAMES + 1)
        _limit("TIFF", "strips or tiles in its first page", strips, MAX_TIFF_STRIPS, 1 << 32)


def _limit(fmt: str, what: str, count: int, allowed: int, stop: int, where: str = "") -> None:
    """Refuse `count` over `allowed`; a walk that reached `stop` stopped counting there."""
    if count > allowed:
        shown = f"more than {stop - 1:,}" if count >= stop else f"{count:,}"
        raise ImageTooComplexError(
            f"the {fmt} image has {shown} {what}; at most {allowed:,} are decoded{where}"
        )


def jpeg_scan_limit(pixels: int) -> int:
    """How many scans a JPEG of this many pixels may have."""
    return max(MIN_JPEG_SCANS, min(MAX_JPEG_SCANS, JPEG_SCAN_PIXELS // max(pixels, 1)))


def count_jpeg(data: bytes) -> tuple[int, int, int]:
    """(scans, segments, pixels its frame header declares) of the first image in a JPEG, up to
    its EOI: an MPO's second image, or anything after the end, is not decoded."""
    scans = segments = pixels = 0
    at = 2
    size = len(data)
    while at + 1 < size and scans <= MAX_JPEG_SCANS and segments <= MAX_JPEG_SEGMENTS:
        if data[at] != 0xFF:
            break  # not a marker: malformed, the decoder will say so
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte before a marker
            at += 1
            continue
        if marker == 0xD9:  # EOI
            break
        if marker in _JPEG_STANDALONE or marker == 0xD8:
            at += 2
            continue
        if at + 4 > size:
            break
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        segments += 1
        if marker in _JPEG_FRAMES and not pixels and at + 9 <= size:
            height, width = struct.unpack_from(">HH", data, at + 5)
            pixels = height * width
        at += 2 + length
        if marker == 0xDA:  # SOS: its entropy-coded data runs to the next real marker
            scans += 1
            found = _JPEG_MARKER_IN_SCAN.search(data, at)
            if found is None:
                break
            at = found.start()
    return scans, segments, pixels


def count_png_chunks(data: bytes, stop: int) -> int:
    """Chunks up to IEND (or the end of the data), counting at most `stop`."""
    count = 0
    at = 8
    size = len(data)
    while at + 8 <= size and count < stop:
        length = int.from_bytes(data[at : at + 4], "big")
        count += 1
        if data[at + 4 : at + 8] == b"IEND":
            break
        at += 12 + length
    return count


def count_gif_frames(data: bytes, stop: int) -> int:
    """Image descriptors, walking the blocks (and their sub-blocks), counting at most `stop`."""
    if len(data) < 13:
        return 0
    flags = data[10]
    at = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    frames = 0
    size = len(data)
    while at < size and frames < stop:
        kind = data[at]
        if kind == 0x3B:  # trailer
            break
        if kind == 0x21:  # extension: label, then sub-blocks
            at = _skip_sub_blocks(data, at + 2)
        elif kind == 0x2C:  # image descriptor, local colour table, LZW code size, sub-blocks
            frames += 1
            if at + 10 > size:
                break
            local = data[at + 9]
            at += 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0)
            at = _skip_sub_blocks(data, at + 1)
        else:
            break
    return frames


def _skip_sub_blocks(data: bytes, at: int) -> int:
    size = len(data)
    while at < size:
        length = data[at]
        at += 1 + length
        if length == 0:
            break
    return at


def count_webp_frames(data: bytes, stop: int) -> int:
    """ANMF chunks of an animated WebP (1 for a still image), counting at most `stop`."""
    frames = 0
    at = 12
    size = min(len(data), 8 + int.from_bytes(data[4:8], "little"))
    still = True
    while at + 8 <= size and frames < stop:
        kind = data[at : at + 4]
        length = int.from_bytes(data[at + 4 : at + 8], "little")
        if kind == b"ANMF":
            frames += 1
            still = False
        at += 8 + length + (length & 1)
    return max(frames, 1) if still else frames


def count_tiff(data: bytes, stop: int) -> tuple[int, int]:
    """(pages, strips or tiles of the first page), following the IFD chain (loops end it)."""
    if len(data) < 16:
        return 0, 0
    order = "<" if data[:2] == b"II" else ">"
    big = data[2:4] in (b"+\x00", b"\x00+")
    count_fmt, entry_size, offset_fmt = ("Q", 20, "Q") if big else ("H", 12, "I")
    head = 8 if big else 4
    try:
        (offset,) = struct.unpack_from(order + offset_fmt, data, head)
        pages = strips = 0
        seen: set[int] = set()
        while offset and offset not in seen and pages < stop:
            seen.add(offset)
            (entries,) = struct.unpack_from(order + count_fmt, data, offset)
            first = offset + struct.calcsize(count_fmt)
            if pages == 0:
                for index in range(min(entries, 4096)):
                    entry = first + index * entry_size
                    tag, _type = struct.unpack_from(order + "HH", data, entry)
                    if tag in _TIFF_STRIP_TAGS:
                        (values,) = struct.unpack_from(order + offset_fmt, data, entry + 4)
                        strips = max(strips, values)
            pages += 1
            (offset,) = struct.unpack_from(order + offset_fmt, data, first + entries * entry_size)
    except struct.error:  # cut short: count what was there, the decoder reports the rest
        pass
    return pages, strips


def decoder_path(image: Image.Image, data: bytes) -> str:
    """The decoder path an opened image takes: its format and the variant that changes what
    decoding it costs (handler/core/tiers.py keeps a cost for each)."""
    fmt = str(image.format)
    if fmt in ("JPEG", "MPO"):
        name = "jpeg-progressive" if image.info.get("progressive") else "jpeg"
        if image.mode == "CMYK":
            return name + ("-ycck" if image.info.get("adobe_transform") == 2 else "-cmyk")
        layers = getattr(image, "layer", [])
        if len(layers) > 1 and len({(h, v) for _, h, v, _ in layers}) == 1:
            return name + "-444"
        return name
    if fmt == "PNG":
        name = "png-16bit" if len(data) > 24 and data[24] == 16 else "png"
        return name + ("-interlaced" if image.info.get("interlace") else "")
    if fmt == "WEBP":
        if getattr(image, "n_frames", 1) > 1:
            return "webp-animated"
        return "webp-lossless" if b"VP8L" in data[12:64] else "webp-lossy"
    if fmt == "TIFF":
        compression = str(image.info.get("compression", ""))
        return "tiff-" + _TIFF_COMPRESSIONS.get(compression, "other")
    if fmt == "BMP":
        return "bmp-rle" if image.info.get("compression") in (1, 2) else "bmp"
    return fmt.lower()
