"""Parity with rembg 2.0.86's u2net pipeline, on rembg's fixtures and its golden anime-girl-1.

The same checks as tests/test_parity.py makes for u2netp: rembg uses one session class (the same
preprocessing) for both models, so only the weights differ. u2net runs ~0.3 s an image here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from handler.core.predict import U2NetModel, load_model
from handler.settings import default_model_file
from tests.support import FIXTURE_NAMES
from tests.test_parity import assert_golden_hash, check_mask, check_sharp_mask

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
    check_mask(u2net, name, "u2net")


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_u2net_sharp_mask_matches_rembgs_post_processed_mask(u2net: U2NetModel, name: str) -> None:
    check_sharp_mask(u2net, name, "u2net")


def test_u2net_golden_cutout_has_rembgs_perceptual_hash(u2net: U2NetModel) -> None:
    """rembg's own test for u2net: the phash of our anime-girl-1 cutout equals its golden one."""
    assert_golden_hash(u2net, "u2net")
