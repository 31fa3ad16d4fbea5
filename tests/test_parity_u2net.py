"""Parity with rembg 2.0.86's u2net pipeline, on rembg's fixtures and its golden anime-girl-1.

The same checks as tests/test_parity.py makes for u2netp: rembg uses one session class (the same
preprocessing) for both models, so only the weights differ. u2net runs ~0.3 s an image here.
"""

from __future__ import annotations

from collections.abc import Iterator

import imagehash
import numpy as np
import pytest
from PIL import Image

from handler.core.admit import admit
from handler.core.options import RemoveOptions
from handler.core.pipeline import render
from handler.core.predict import U2NetModel, load_model
from handler.settings import default_model_file
from tests.support import FIXTURE_NAMES, FIXTURES, decode_image, fixture_bytes, save_failure
from tests.test_parity import BIG, MAX_MEAN_ABS_DIFF, MIN_IOU, mask_agreement, our_mask

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def u2net() -> Iterator[U2NetModel]:
    """u2net with the process's session profile; module scope: its ~700 MB go with the module."""
    from handler import runtime

    if "u2net" in runtime.models:
        yield runtime.models["u2net"]
        return
    path = default_model_file("u2net")
    if not path.is_file():
        pytest.fail(f"{path} is missing: run 'make setup' (it fetches both models)")
    yield load_model(path, runtime.session_tuning(runtime.settings), "u2net")


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_u2net_mask_matches_rembg(u2net: U2NetModel, name: str) -> None:
    ours = our_mask(u2net, fixture_bytes(name))
    ref = Image.open(FIXTURES / f"{name}.u2net.mask.png")
    assert ours.size == ref.size and ours.mode == "L"
    iou, mad = mask_agreement(np.asarray(ours), np.asarray(ref.convert("L")))
    if iou < MIN_IOU or mad > MAX_MEAN_ABS_DIFF:
        folder = save_failure(f"parity-u2net-{name}", actual=ours, expected=ref)
        pytest.fail(f"{name}: IoU {iou:.4f}, mean abs diff {mad:.3f}; images in {folder}")


def test_u2net_golden_cutout_has_rembgs_perceptual_hash(u2net: U2NetModel) -> None:
    """rembg's own test for u2net: the phash of our anime-girl-1 cutout equals its golden one."""
    data = fixture_bytes("anime-girl-1")
    actual = decode_image(render(data, admit(data, BIG), RemoveOptions(), model=u2net).data)
    expected = Image.open(FIXTURES / "anime-girl-1.u2net.png")
    assert actual.mode == "RGBA" and actual.size == expected.size
    if imagehash.phash(actual) != imagehash.phash(expected):
        folder = save_failure("golden-u2net-anime-girl-1", actual=actual, expected=expected)
        pytest.fail(f"perceptual hashes differ; images in {folder}")


def test_the_mask_is_u2nets_not_u2netps(u2net: U2NetModel) -> None:
    """A guard on the test itself: our mask is far closer to rembg's u2net mask than to its
    u2netp one (the weights loaded are u2net's)."""
    ours = np.asarray(our_mask(u2net, fixture_bytes("plants-1")))  # where the two differ most
    refs = {
        model: np.asarray(Image.open(FIXTURES / f"plants-1.{model}.mask.png").convert("L"))
        for model in ("u2net", "u2netp")
    }
    _, to_u2net = mask_agreement(ours, refs["u2net"])
    _, to_u2netp = mask_agreement(ours, refs["u2netp"])
    assert to_u2net * 4 < to_u2netp, (to_u2net, to_u2netp)
