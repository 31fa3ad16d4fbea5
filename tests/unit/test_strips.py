"""Strip-wise work equals the simple whole-image versions, bit for bit, on awkward sizes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from handler.core.compose import (
    CROP_THRESHOLD,
    compose,
    effective_mask,
    on_background,
    subject_box,
)
from handler.core.decode import to_eight_bit
from handler.core.options import RemoveOptions
from handler.core.strips import strips

SIZES = [(1, 1), (1, 37), (37, 1), (5, 7), (61, 47), (128, 33)]
ROWS = [1, 3, 7, None]
OPTIONS = {
    "cutout": RemoveOptions(),
    "opaque": RemoveOptions.parse(bg_color="20a040"),
    "translucent": RemoveOptions.parse(bg_color="2040a080"),
    "jpeg": RemoveOptions.parse(format="jpeg"),
    "crop": RemoveOptions.parse(crop="1", crop_margin="2"),
    "crop-opaque": RemoveOptions.parse(crop="1", bg_color="ffffff"),
}


def noise(size: tuple[int, int], mode: str, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    width, height = size
    bands = len(mode)
    values = rng.integers(0, 256, size=(height, width, bands), dtype=np.uint8)
    return Image.fromarray(values[..., 0] if bands == 1 else values, mode)


def blob_mask(size: tuple[int, int], seed: int) -> Image.Image:
    """Noise with a zero border, so crops have something to find (and to miss)."""
    mask = noise(size, "L", seed)
    width, height = size
    frame = Image.new("L", size, 0)
    frame.paste(
        mask.crop((width // 4, height // 4, width - width // 5, height - height // 6)),
        (width // 4, height // 4),
    )
    return frame


def naive_cutout(image: Image.Image, mask: Image.Image) -> Image.Image:
    """rembg's naive_cutout, whole: RGBA with the mask as alpha and colour blended towards
    transparent black (an RGBA input's own alpha is multiplied by the mask)."""
    return Image.composite(image, Image.new("RGBA", image.size, 0), mask)


def whole_subject_box(mask: Image.Image, margin: int) -> tuple[int, int, int, int] | None:
    box = mask.point(lambda v: 255 if v > CROP_THRESHOLD else 0).getbbox()
    if box is None:
        return None
    width, height = mask.size
    left, top, right, bottom = box
    return (
        max(0, left - margin),
        max(0, top - margin),
        min(width, right + margin),
        min(height, bottom + margin),
    )


def simple_compose(image: Image.Image, mask: Image.Image, options: RemoveOptions) -> Image.Image:
    """The whole-image version: what compose() must equal."""
    effective = effective_mask(mask, image)
    if options.crop:
        box = whole_subject_box(effective, options.crop_margin)
        if box is not None:
            image, mask, effective = image.crop(box), mask.crop(box), effective.crop(box)
    if options.bg_color is not None:
        return on_background(image, effective, options.bg_color)
    return naive_cutout(image, mask)


def assert_same(actual: Image.Image, expected: Image.Image) -> None:
    assert actual.mode == expected.mode and actual.size == expected.size
    assert actual.tobytes() == expected.tobytes()


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("rows", ROWS)
@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
@pytest.mark.parametrize("name", sorted(OPTIONS))
@pytest.mark.parametrize("threads", [1, 2])
def test_compose_in_strips_equals_the_whole_image_version(
    size: tuple[int, int], rows: int | None, mode: str, name: str, threads: int
) -> None:
    image, mask = noise(size, mode, seed=1), blob_mask(size, seed=2)
    expected = simple_compose(image.copy(), mask, OPTIONS[name])
    assert_same(compose(image, mask, OPTIONS[name], rows=rows, threads=threads), expected)


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_a_cutout_on_several_cores_equals_rembgs_on_a_photo_sized_image(mode: str) -> None:
    """Many strips, shared by three threads, each pasted in place: still naive_cutout's bits."""
    size = (1500, 1100)
    image, mask = noise(size, mode, seed=8), noise(size, "L", seed=9)
    expected = naive_cutout(image.copy(), mask)
    assert_same(compose(image, mask, RemoveOptions(), threads=3), expected)


def test_compose_works_in_place_on_rgb() -> None:
    image, mask = noise((40, 30), "RGB", seed=3), blob_mask((40, 30), seed=4)
    assert compose(image, mask, RemoveOptions()) is image
    assert image.mode == "RGBA"


def test_cutout_of_a_translucent_input_applies_its_alpha_once_as_rembg() -> None:
    """rembg's naive_cutout on RGBA (200, 100, 50, 128) with mask 200: (157, 78, 39, 100)."""
    image = Image.new("RGBA", (3, 2), (200, 100, 50, 128))
    out = compose(image, Image.new("L", (3, 2), 200), RemoveOptions())
    assert out.getpixel((1, 1)) == (157, 78, 39, 100)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("rows", ROWS)
def test_subject_box_in_strips(size: tuple[int, int], rows: int | None) -> None:
    mask = blob_mask(size, seed=5)
    assert subject_box(mask, 3, rows=rows) == whole_subject_box(mask, 3)
    assert subject_box(Image.new("L", size, 0), 3, rows=rows) is None


def whole_eight_bit(image: Image.Image) -> Image.Image:
    """The whole-image float32 version to_eight_bit must equal."""
    values = np.nan_to_num(np.asarray(image, dtype=np.float32))
    if image.mode.startswith("I;16"):
        top = 65535.0
    else:
        top = 65535.0 if float(values.max(initial=0.0)) > 255.0 else 255.0
    return Image.fromarray(np.clip(values * (255.0 / top), 0.0, 255.0).astype(np.uint8))


@pytest.mark.parametrize("size", [(1, 1), (3, 700), (700, 3), (513, 1031)])
@pytest.mark.parametrize("kind", ["I;16", "I-wide", "I-narrow", "F"])
def test_eight_bit_in_strips_equals_the_whole_image_version(
    size: tuple[int, int], kind: str
) -> None:
    rng = np.random.default_rng(7)
    width, height = size
    if kind == "I;16":
        image = Image.frombytes(
            "I;16", size, rng.integers(0, 65536, (height, width), dtype="<u2").tobytes()
        )
    elif kind == "F":
        image = Image.fromarray(rng.normal(300.0, 200.0, (height, width)).astype(np.float32))
    else:
        top = 70000 if kind == "I-wide" else 256
        image = Image.fromarray(rng.integers(0, top, (height, width), dtype=np.int32))
    assert_same(to_eight_bit(image), whole_eight_bit(image))


def test_strips_cover_every_row_once() -> None:
    boxes = list(strips((10, 23), rows=5))
    assert boxes[0] == (0, 0, 10, 5) and boxes[-1] == (0, 20, 10, 23)
    assert sum(b[3] - b[1] for b in boxes) == 23
    assert list(strips((4, 0))) == []
