"""Parity with rembg 2.0.86's u2netp pipeline, on rembg's own fixtures and golden results."""

from __future__ import annotations

import imagehash
import numpy as np
import pytest
from PIL import Image

from handler.core.admit import admit
from handler.core.options import Edges, RemoveOptions
from handler.core.pipeline import render, uses_draft
from handler.core.predict import U2NetModel
from handler.core.tiers import MemoryTier
from tests.support import (
    FIXTURE_NAMES,
    FIXTURES,
    decode_image,
    encode_image,
    fixture_bytes,
    save_failure,
)

BIG = MemoryTier(memory_mb=10240, max_pixels=200_000_000, max_input_bytes=1 << 30)
MIN_IOU = 0.99
MAX_MEAN_ABS_DIFF = 2.0  # in 8-bit levels, i.e. 2/255


def mask_agreement(ours: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """IoU of (alpha > 127) and the mean absolute difference in 8-bit levels."""
    a, b = ours > 127, ref > 127
    union = int((a | b).sum())
    iou = 1.0 if union == 0 else int((a & b).sum()) / union
    return iou, float(np.abs(ours.astype(np.int16) - ref.astype(np.int16)).mean())


def assert_masks_agree(ours: Image.Image, ref: Image.Image, label: str) -> None:
    """Within the parity bounds; otherwise both images are saved and the test fails."""
    iou, mad = mask_agreement(np.asarray(ours), np.asarray(ref.convert("L")))
    if iou < MIN_IOU or mad > MAX_MEAN_ABS_DIFF:
        folder = save_failure(label, actual=ours, expected=ref)
        pytest.fail(f"{label}: IoU {iou:.4f}, mean abs diff {mad:.3f}; images in {folder}")


def assert_golden_hash(model: U2NetModel, model_name: str) -> None:
    """rembg's own test: the phash of our anime-girl-1 cutout equals its golden result's."""
    data = fixture_bytes("anime-girl-1")
    actual = decode_image(render(data, admit(data, BIG), RemoveOptions(), model=model).data)
    expected = Image.open(FIXTURES / f"anime-girl-1.{model_name}.png")
    assert actual.mode == "RGBA" and actual.size == expected.size
    if imagehash.phash(actual) != imagehash.phash(expected):
        folder = save_failure(f"golden-{model_name}-anime-girl-1", actual=actual, expected=expected)
        pytest.fail(f"perceptual hashes differ; images in {folder}")


def our_mask(model: U2NetModel, data: bytes, edges: Edges = Edges.SOFT) -> Image.Image:
    header = admit(data, BIG)
    options = RemoveOptions(mask=True, edges=edges)
    return decode_image(render(data, header, options, model=model).data)


def check_mask(model: U2NetModel, name: str, model_name: str) -> None:
    """The soft mask against rembg's remove(..., only_mask=True) with the same model."""
    ours = our_mask(model, fixture_bytes(name))
    ref = Image.open(FIXTURES / f"{name}.{model_name}.mask.png")
    assert ours.size == ref.size and ours.mode == "L"
    assert_masks_agree(ours, ref, f"parity-{model_name}-{name}")


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_mask_matches_rembg(model: U2NetModel, name: str) -> None:
    check_mask(model, name, "u2netp")


def check_sharp_mask(model: U2NetModel, name: str, model_name: str) -> None:
    """edges=sharp against rembg's remove(..., post_process_mask=True, only_mask=True)."""
    ours = our_mask(model, fixture_bytes(name), Edges.SHARP)
    ref = Image.open(FIXTURES / f"{name}.{model_name}.sharp.mask.png").convert("L")
    assert ours.size == ref.size and set(np.unique(np.asarray(ours)).tolist()) <= {0, 255}
    assert_masks_agree(ours, ref, f"parity-sharp-{model_name}-{name}")


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_sharp_mask_matches_rembgs_post_processed_mask(model: U2NetModel, name: str) -> None:
    check_sharp_mask(model, name, "u2netp")


def test_golden_cutout_has_rembgs_perceptual_hash(model: U2NetModel) -> None:
    """rembg's own test: the phash of our anime-girl-1 cutout equals that of its golden result."""
    assert_golden_hash(model, "u2netp")


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_cutout_pixels_match_rembgs_golden_cutouts(model: U2NetModel, name: str) -> None:
    data = fixture_bytes(name)
    actual = np.asarray(
        decode_image(render(data, admit(data, BIG), RemoveOptions(), model=model).data)
    )
    expected = np.asarray(Image.open(FIXTURES / f"{name}.u2netp.png").convert("RGBA"))
    diff = np.abs(actual.astype(np.int16) - expected.astype(np.int16))
    assert diff[..., 3].mean() <= MAX_MEAN_ABS_DIFF
    assert diff[..., :3].mean() <= MAX_MEAN_ABS_DIFF


def test_dark_photo_is_normalised_by_its_own_maximum(model: U2NetModel) -> None:
    """rembg divides by the image's maximum, not 255: a uniformly darkened photo gives the same
    model input, hence the same mask (up to JPEG-free rounding)."""
    source = Image.open(FIXTURES / "car-1.jpg").convert("RGB")
    bright = np.asarray(source).astype(np.float32)
    scale = 255.0 / bright.max()
    dark = Image.fromarray((bright * 0.5).astype(np.uint8))
    mask_dark = np.asarray(our_mask(model, encode_image(dark)))
    rebright = Image.fromarray(np.clip(np.asarray(dark) * 2.0 * scale, 0, 255).astype(np.uint8))
    mask_rebright = np.asarray(our_mask(model, encode_image(rebright)))
    iou, mad = mask_agreement(mask_dark, mask_rebright)
    assert iou >= 0.98 and mad <= 3.0


@pytest.mark.slow
@pytest.mark.parametrize("name,size", [("cloth-1", (4000, 6000)), ("car-1", (4032, 3024))])
def test_reduced_jpeg_decode_stays_within_parity_bounds(
    model: U2NetModel, name: str, size: tuple[int, int]
) -> None:
    """Large JPEGs feed the model from a DCT-reduced decode; compare with the full-decode path
    (which is rembg's exactly) on 12 and 24 MP photos made from the fixtures."""
    rng = np.random.default_rng(7)
    big = Image.open(FIXTURES / f"{name}.jpg").convert("RGB").resize(size, Image.Resampling.BICUBIC)
    noisy = np.asarray(big).astype(np.int16) + rng.integers(-6, 7, (size[1], size[0], 3))
    data = encode_image(
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)), "JPEG", quality=90
    )
    header = admit(data, BIG)
    assert uses_draft(header)
    drafted = np.asarray(our_mask(model, data))
    full = np.asarray(our_mask(model, encode_image(decode_image(data))))  # PNG: no draft path
    iou, mad = mask_agreement(drafted, full)
    assert iou >= MIN_IOU and mad <= MAX_MEAN_ABS_DIFF
