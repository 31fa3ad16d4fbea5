"""cutout's PNG writer: lossless, valid to the last checksum, the same bytes on any core count."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from handler.core import png
from handler.core.encode import encode
from handler.core.options import OutputFormat
from tests.support import photo

BANDS = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}


def chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk, each CRC checked."""
    assert data.startswith(png.SIGNATURE)
    found = []
    offset = len(png.SIGNATURE)
    while offset < len(data):
        (length,) = struct.unpack_from(">I", data, offset)
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack_from(">I", data, offset + 8 + length)
        assert crc == zlib.crc32(kind + body), kind
        found.append((kind, body))
        offset += 12 + length
    assert offset == len(data)
    return found


def noise(mode: str, width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    shape = (height, width) if mode == "L" else (height, width, BANDS[mode])
    return Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode)


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
@pytest.mark.parametrize("size", [(1, 1), (1, 700), (700, 1), (37, 23), (601, 850)])
@pytest.mark.parametrize("threads", [1, 2])
def test_every_pixel_comes_back(mode: str, size: tuple[int, int], threads: int) -> None:
    image = noise(mode, *size)
    out = png.encode_png(image, level=4, strategy=zlib.Z_DEFAULT_STRATEGY, threads=threads)
    back = decoded(out)
    assert back.mode == mode and back.size == size
    assert np.array_equal(np.asarray(back), np.asarray(image))


def test_many_strips_make_one_valid_zlib_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(png, "PIECE_BYTES", 1000)  # ~90 pieces for this image
    image = photo(300, 290).convert("RGBA")
    out = png.encode_png(image, level=4, strategy=zlib.Z_DEFAULT_STRATEGY, threads=2)
    found = chunks(out)
    assert [kind for kind, _ in found if kind != b"IDAT"] == [b"IHDR", b"IEND"]
    assert sum(kind == b"IDAT" for kind, _ in found) > 80
    # zlib.decompress checks the stream's adler32, which the writer combined from the strips'.
    raw = zlib.decompress(b"".join(body for kind, body in found if kind == b"IDAT"))
    scanlines = np.frombuffer(raw, dtype=np.uint8).reshape(290, 300 * 4 + 1)
    assert set(scanlines[:, 0]) == {png.UP_FILTER}
    assert np.array_equal(np.asarray(decoded(out)), np.asarray(image))


def test_the_bytes_do_not_depend_on_the_number_of_cores() -> None:
    image = photo(900, 700).convert("RGBA")
    one = png.encode_png(image, level=4, strategy=zlib.Z_DEFAULT_STRATEGY, threads=1)
    two = png.encode_png(image, level=4, strategy=zlib.Z_DEFAULT_STRATEGY, threads=2)
    assert one == two


def test_header_and_no_metadata_chunks() -> None:
    image = photo(64, 48).convert("RGBA")
    image.info["exif"] = b"Exif\x00\x00secret"
    out = encode(image, OutputFormat.PNG, threads=2)
    found = chunks(out)
    assert {kind for kind, _ in found} == {b"IHDR", b"IDAT", b"IEND"}
    assert struct.unpack(">IIBBBBB", found[0][1]) == (64, 48, 8, 6, 0, 0, 0)


def test_other_modes_are_left_to_pillow() -> None:
    image = Image.new("P", (5, 5), 3)
    assert not png.writes("P")
    with pytest.raises(ValueError, match="mode P"):
        png.encode_png(image, level=4, strategy=zlib.Z_DEFAULT_STRATEGY)
    assert decoded(encode(image, OutputFormat.PNG)).size == (5, 5)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.binary(max_size=300))
def test_adler32_combine_matches_zlib(first: bytes, second: bytes) -> None:
    combined = png.adler32_combine(zlib.adler32(first), zlib.adler32(second), len(second))
    assert combined == zlib.adler32(first + second)


def test_adler32_combine_over_long_runs() -> None:
    first, second = b"\xff" * 70_000, b"\xfe" * 200_003  # past the modulus many times
    combined = png.adler32_combine(zlib.adler32(first), zlib.adler32(second), len(second))
    assert combined == zlib.adler32(first + second)
