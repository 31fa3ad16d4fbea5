"""The graph ONNX Runtime optimises for this CPU, kept between processes where a folder outlives
them (handler/core/predict.py: optimized_session), and the setting that places it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from handler.core.predict import (
    PROFILES,
    load_model,
    model_input,
    optimized_file,
)
from handler.settings import Settings
from tests.support import decode_image, fixture_bytes

FAST = PROFILES["fast"]


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    """A copy of u2netp.onnx of the test's own (its mtime is the test's to change)."""
    source = Settings().model_files()["u2netp"]
    copy = tmp_path / "u2netp.onnx"
    shutil.copyfile(source, copy)
    return copy


def saliency(path: Path, folder: Path | None) -> tuple[np.ndarray, str]:
    model = load_model(path, FAST, optimized_dir=folder)
    batch = model_input(decode_image(fixture_bytes("anime-girl-1")).convert("RGB"))
    return model.run(batch), model.model_id


def test_the_optimised_graph_is_kept_reused_and_draws_the_same_map(
    model_file: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "optimised"
    shipped, shipped_id = saliency(model_file, None)
    first, first_id = saliency(model_file, folder)
    kept = optimized_file(model_file, FAST, folder)
    assert [p.name for p in folder.iterdir()] == [kept.name]
    written = kept.stat().st_mtime_ns
    again, again_id = saliency(model_file, folder)
    assert kept.stat().st_mtime_ns == written  # read, not made again
    assert np.array_equal(first, shipped) and np.array_equal(again, shipped)
    assert shipped_id == first_id == again_id  # the id is the shipped file's digest


def test_a_changed_model_file_gets_a_new_graph_and_the_old_one_goes(
    model_file: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "optimised"
    saliency(model_file, folder)
    old = optimized_file(model_file, FAST, folder)
    stat = model_file.stat()
    os.utime(model_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    saliency(model_file, folder)
    new = optimized_file(model_file, FAST, folder)
    assert new != old and [p.name for p in folder.iterdir()] == [new.name]


def test_each_profile_keeps_its_own_graph(model_file: Path, tmp_path: Path) -> None:
    """A process of each profile on one machine (the CLI at two tiers, say) do not make each
    other's graph again and again."""
    folder = tmp_path / "optimised"
    load_model(model_file, FAST, optimized_dir=folder)
    load_model(model_file, PROFILES["lean"], optimized_dir=folder)
    fast, lean = (
        optimized_file(model_file, FAST, folder),
        optimized_file(model_file, PROFILES["lean"], folder),
    )
    assert fast != lean and sorted(p.name for p in folder.iterdir()) == sorted(
        [fast.name, lean.name]
    )


def test_a_broken_kept_graph_is_made_again(model_file: Path, tmp_path: Path) -> None:
    folder = tmp_path / "optimised"
    shipped, _ = saliency(model_file, None)
    folder.mkdir()
    kept = optimized_file(model_file, FAST, folder)
    kept.write_bytes(b"not an onnx graph")
    drawn, _ = saliency(model_file, folder)
    assert np.array_equal(drawn, shipped)
    assert kept.stat().st_size > 1_000_000


def test_a_folder_that_cannot_be_written_means_the_model_as_shipped(
    model_file: Path, tmp_path: Path
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("in the way of the folder")
    shipped, _ = saliency(model_file, None)
    drawn, _ = saliency(model_file, blocked / "optimised")
    assert np.array_equal(drawn, shipped)
    assert not list(tmp_path.glob("**/*.part"))


def test_the_folder_is_kept_locally_and_not_in_lambda(tmp_path: Path) -> None:
    local = Settings.from_env({"XDG_CACHE_HOME": str(tmp_path)})
    assert local.optimized_model_dir == tmp_path / "cutout" / "models"
    lambda_env = {"AWS_LAMBDA_FUNCTION_NAME": "cutout", "XDG_CACHE_HOME": str(tmp_path)}
    assert Settings.from_env(lambda_env).optimized_model_dir is None
    chosen = {"CUTOUT_OPTIMIZED_MODEL_DIR": str(tmp_path / "g")}
    assert Settings.from_env(chosen).optimized_model_dir == tmp_path / "g"
    assert Settings.from_env({"CUTOUT_OPTIMIZED_MODEL_DIR": ""}).optimized_model_dir is None
