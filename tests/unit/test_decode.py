from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from handler.core.admit import admit
from handler.core.decode import decode
from handler.core.tiers import MemoryTier
from handler.errors import CorruptImageError
from tests.support import encode_image, photo

TIER = MemoryTier(memory_mb=2048, max_pixels=50_000_000, max_input_bytes=50_000_000)


def roundtrip(image: Image.Image, fmt: str = "PNG", **params: object) -> Image.Image:
    data = encode_image(image, fmt, **params)
    return decode(data, admit(data, TIER))


@pytest.mark.parametrize(
    "mode,expected",
    [("L", "RGB"), ("LA", "RGBA"), ("RGB", "RGB"), ("RGBA", "RGBA"), ("1", "RGB"), ("P", "RGB")],
)
def test_modes_normalise_to_rgb_or_rgba(mode: str, expected: str) -> None:
    assert roundtrip(photo(20, 10).convert(mode)).mode == expected


def test_palette_with_transparency_keeps_it() -> None:
    image = photo(20, 10).convert("P")
    image.info["transparency"] = 0
    decoded = roundtrip(image)
    assert decoded.mode == "RGBA"


def test_cmyk_jpeg() -> None:
    decoded = roundtrip(photo(20, 10).convert("CMYK"), "JPEG")
    assert decoded.mode == "RGB" and decoded.size == (20, 10)


def test_sixteen_bit_grey_is_scaled_not_clipped() -> None:
    ramp = (np.arange(64 * 8, dtype=np.uint16).reshape(8, 64) * 128).astype("<u2")
    image = Image.frombytes("I;16", (64, 8), ramp.tobytes())
    decoded = np.asarray(roundtrip(image, "TIFF"))
    assert decoded.shape == (8, 64, 3)
    assert 0 < decoded[..., 0].mean() < 200  # Pillow's own conversion would saturate to 255


def test_exif_orientation_is_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    decoded = roundtrip(photo(40, 30), "JPEG", exif=exif)
    assert decoded.size == (30, 40)


def test_first_frame_of_an_animated_gif() -> None:
    frames = [photo(16, 16, seed=i).convert("P") for i in range(3)]
    data = encode_image(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert decode(data, admit(data, TIER)).size == (16, 16)


def test_truncated_jpeg_is_corrupt() -> None:
    data = encode_image(photo(200, 200), "JPEG")
    cut = data[: len(data) // 2]
    with pytest.raises(CorruptImageError) as info:
        decode(cut, admit(cut, TIER))
    assert "truncated" in info.value.message


def test_draft_reduces_large_jpegs_only() -> None:
    data = encode_image(photo(2400, 2200), "JPEG")
    header = admit(data, TIER)
    assert decode(data, header, draft_side=1024).size == (1200, 1100)
    png = encode_image(photo(2400, 2200))
    assert decode(png, admit(png, TIER), draft_side=1024).size == (2400, 2200)
