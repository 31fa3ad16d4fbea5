"""Work bounded by structure: scans, segments, chunks, frames, pages and strips are counted from
the bytes before any decoder runs, and a file over a limit is refused with a 422 that says why."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from handler.core import structure
from handler.core.admit import admit
from handler.core.tiers import MemoryTier
from handler.errors import ImageTooComplexError
from tests.memory.bombs import jpeg_scan_bomb, png_chunk_bomb
from tests.support import encode_image, photo

TIER = MemoryTier(memory_mb=2048, max_pixels=50_000_000, max_input_bytes=50_000_000)


def refusal(data: bytes) -> ImageTooComplexError:
    with pytest.raises(ImageTooComplexError) as info:
        admit(data, TIER)
    assert info.value.status == 422 and info.value.code == "image_too_complex"
    return info.value


def test_real_jpegs_are_counted() -> None:
    baseline = encode_image(photo(64, 48), "JPEG")
    progressive = encode_image(photo(64, 48), "JPEG", progressive=True)
    assert structure.count_jpeg(baseline)[0] == 1
    assert 2 < structure.count_jpeg(progressive)[0] <= 12
    admit(progressive, TIER)


def test_a_scan_bomb_is_refused_before_decoding() -> None:
    bomb = jpeg_scan_bomb(side=64, scans=structure.MAX_JPEG_SCANS)
    error = refusal(bomb)
    assert "scans" in error.message and str(structure.MAX_JPEG_SCANS) in error.message
    # one scan fewer than the limit is a valid, admitted image (6 scans are its own)
    admit(jpeg_scan_bomb(side=64, scans=structure.MAX_JPEG_SCANS - 7), TIER)


def test_fewer_scans_are_allowed_in_larger_images() -> None:
    """Each scan is a pass over the whole image: the limit falls with the size, not below
    what real progressive JPEGs use."""
    assert structure.jpeg_scan_limit(64 * 48) == structure.MAX_JPEG_SCANS
    assert structure.jpeg_scan_limit(32_000_000) == structure.MAX_JPEG_SCANS // 2
    assert structure.jpeg_scan_limit(10**9) == structure.MIN_JPEG_SCANS
    limit = structure.jpeg_scan_limit(36_000_000)
    bomb = jpeg_scan_bomb(side=6000, scans=limit - 5)  # 6 scans of its own
    scans, _, pixels = structure.count_jpeg(bomb)
    assert (scans, pixels) == (limit + 1, 36_000_000)
    assert f"at most {limit} " in refusal(bomb).message


def test_markers_inside_app_segments_or_after_the_image_are_not_counted() -> None:
    """Scan markers hidden in metadata, or in an image after the first (MPO), are not scans."""
    data = encode_image(photo(64, 48), "JPEG")
    payload = b"\xff\xda\x00\x08" * 2000
    fake = data[:2] + b"\xff\xe5" + (len(payload) + 2).to_bytes(2, "big") + payload + data[2:]
    assert structure.count_jpeg(fake)[:2] == (1, structure.count_jpeg(data)[1] + 1)
    assert structure.count_jpeg(data + jpeg_scan_bomb(side=16, scans=500))[0] == 1


def test_too_many_segments_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(structure, "MAX_JPEG_SEGMENTS", 40)
    data = encode_image(photo(64, 48), "JPEG")
    padding = b"\xff\xfe\x00\x02" * 40  # 40 empty comments
    assert "marker segments" in refusal(data[:2] + padding + data[2:]).message


@pytest.mark.parametrize("after_pixels", [False, True])
def test_a_png_chunk_bomb_is_refused(after_pixels: bool) -> None:
    chunks = structure.PNG_CHUNK_ALLOWANCE + 100
    error = refusal(png_chunk_bomb(chunks, after_pixels=after_pixels))
    assert "chunks" in error.message


def test_png_chunks_are_allowed_by_size() -> None:
    """A big PNG may have many IDAT chunks: the allowance grows with the file."""
    data = png_chunk_bomb(structure.PNG_CHUNK_ALLOWANCE // 2)
    assert structure.count_png_chunks(data, 10**9) == structure.PNG_CHUNK_ALLOWANCE // 2 + 3
    admit(data, TIER)


def frames(count: int, fmt: str) -> bytes:
    images = [photo(16, 12, seed=i).convert("RGB") for i in range(count)]
    out = io.BytesIO()
    images[0].save(out, fmt, save_all=True, append_images=images[1:], duration=50)
    return out.getvalue()


@pytest.mark.parametrize("fmt,name", [("GIF", "frames"), ("WEBP", "frames"), ("TIFF", "pages")])
def test_frames_and_pages_are_counted(fmt: str, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    data = frames(5, fmt)
    admit(data, TIER)
    monkeypatch.setattr(structure, "MAX_FRAMES", 4)
    assert name in refusal(data).message


def test_gif_frames_are_counted_past_extensions() -> None:
    assert structure.count_gif_frames(frames(7, "GIF"), 100) == 7
    assert structure.count_webp_frames(frames(7, "WEBP"), 100) == 7
    assert structure.count_webp_frames(encode_image(photo(16, 12), "WEBP"), 100) == 1
    assert structure.count_tiff(frames(7, "TIFF"), 100)[0] == 7


def test_tiff_strips_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encode_image(photo(64, 48), "TIFF", tiffinfo={278: 1})  # one row a strip
    assert structure.count_tiff(data, 10)[1] == 48
    monkeypatch.setattr(structure, "MAX_TIFF_STRIPS", 40)
    assert "strips" in refusal(data).message


def test_a_tiff_whose_pages_loop_is_counted_once() -> None:
    data = bytearray(encode_image(photo(16, 12), "TIFF"))
    first = int.from_bytes(data[4:8], "little")
    entries = int.from_bytes(data[first : first + 2], "little")
    next_at = first + 2 + entries * 12
    data[next_at : next_at + 4] = first.to_bytes(4, "little")  # the next page is this one
    assert structure.count_tiff(bytes(data), 100)[0] == 1


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "TIFF"])
def test_counts_on_cut_files_never_raise(fmt: str) -> None:
    """Structure walks see hostile bytes first: anything malformed is left to the decoder."""
    data = encode_image(Image.new("RGB", (32, 24), (1, 2, 3)), fmt)
    for end in range(0, len(data), 7):
        structure.check_structure(data[:end], fmt)
