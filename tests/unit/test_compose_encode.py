from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from handler.core.compose import compose, subject_box, upscale_mask
from handler.core.encode import encode
from handler.core.options import OutputFormat, RemoveOptions
from tests.support import decode_image

SIZE = (60, 40)


def square_mask() -> Image.Image:
    """A mask with a fully opaque 20x10 subject at (20, 15)."""
    mask = Image.new("L", SIZE, 0)
    mask.paste(255, (20, 15, 40, 25))
    return mask


def red_photo() -> Image.Image:
    return Image.new("RGB", SIZE, (200, 10, 10))


def test_cutout_has_the_mask_as_alpha_and_black_transparent_pixels() -> None:
    out = np.asarray(compose(red_photo(), square_mask(), RemoveOptions()))
    assert out.shape == (40, 60, 4)
    assert tuple(out[20, 30]) == (200, 10, 10, 255)
    assert tuple(out[0, 0]) == (0, 0, 0, 0)


def test_background_colour_opaque_gives_rgb() -> None:
    out = compose(red_photo(), square_mask(), RemoveOptions.parse(bg_color="00ff00"))
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == (0, 255, 0) and out.getpixel((30, 20)) == (200, 10, 10)


def test_translucent_background_colour_gives_rgba() -> None:
    out = compose(red_photo(), square_mask(), RemoveOptions.parse(bg_color="0000ff80"))
    assert out.mode == "RGBA" and out.getpixel((0, 0)) == (0, 0, 255, 128)


def test_crop_with_margin_is_clamped() -> None:
    out = compose(red_photo(), square_mask(), RemoveOptions.parse(crop="1", crop_margin="5"))
    assert out.size == (30, 20)
    wide = compose(red_photo(), square_mask(), RemoveOptions.parse(crop="1", crop_margin="500"))
    assert wide.size == SIZE


def test_crop_without_a_subject_keeps_the_whole_image() -> None:
    empty = Image.new("L", SIZE, 0)
    assert subject_box(empty, 4) is None
    assert compose(red_photo(), empty, RemoveOptions.parse(crop="1")).size == SIZE


def test_input_transparency_is_kept() -> None:
    photo = red_photo().convert("RGBA")
    photo.putalpha(Image.new("L", SIZE, 0))
    out = compose(photo, square_mask(), RemoveOptions())
    assert out.getpixel((30, 20))[3] == 0


def test_upscale_mask_size() -> None:
    assert upscale_mask(Image.new("L", (320, 320), 9), (1000, 7)).size == (1000, 7)


@pytest.mark.parametrize(
    "fmt,mode",
    [(OutputFormat.PNG, "RGBA"), (OutputFormat.WEBP, "RGBA"), (OutputFormat.JPEG, "RGB")],
)
def test_encode_formats(fmt: OutputFormat, mode: str) -> None:
    cutout = compose(red_photo(), square_mask(), RemoveOptions())
    decoded = decode_image(encode(cutout, fmt))
    assert decoded.format == fmt.name and decoded.mode == mode and decoded.size == SIZE


def test_encode_writes_no_metadata() -> None:
    image = red_photo()
    image.info["icc_profile"] = b"fake-icc"
    image.info["exif"] = b"Exif\x00\x00fake"
    image.info["xmp"] = b"<x:xmpmeta/>"
    for fmt in OutputFormat:
        decoded = decode_image(encode(image, fmt))
        assert not {"icc_profile", "exif", "xmp"} & set(decoded.info)
