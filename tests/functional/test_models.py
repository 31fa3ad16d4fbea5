"""Two models in one process: chosen per request (API, CLI) and per deployment (trigger), and
carried by cache keys, ETags, /healthz, `cutout limits` and the configuration's errors.

Routing is tested with a second model that shares u2netp's session under the name u2net (a
different model id): what is checked is which model a request reaches, not its weights (the
u2net parity tests load the real one).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from handler.core.predict import U2NetModel
from handler.core.tiers import MemoryTier
from handler.errors import ModelNotLoadedError
from handler.http.api import create_app
from handler.serving.cache import LocalDiskCache
from handler.serving.service import CutoutService
from handler.settings import MODELS_ENV, TRIGGER_MODEL_ENV, Settings
from tests.support import REPO, encode_image, photo


@dataclass
class CountingSession:
    """The real session, counting its runs."""

    inner: Any
    runs: int = 0

    def run(self, outputs: Any, feeds: dict[str, np.ndarray]) -> Any:
        self.runs += 1
        return self.inner.run(outputs, feeds)

    def get_inputs(self) -> Any:
        return self.inner.get_inputs()


@pytest.fixture
def two_models(model: U2NetModel) -> dict[str, U2NetModel]:
    small = replace(model, session=CountingSession(model.session))
    big = replace(
        model, session=CountingSession(model.session), name="u2net", model_id="u2net-test"
    )
    return {"u2netp": small, "u2net": big}


@pytest.fixture
def service(two_models: dict[str, U2NetModel], tmp_path: Path) -> CutoutService:
    tier = MemoryTier.for_memory(4096, models=("u2netp", "u2net"))
    return CutoutService(models=two_models, tier=tier, cache=LocalDiskCache(tmp_path / "cache"))


@pytest.fixture
def client(service: CutoutService) -> Iterator[TestClient]:
    with TestClient(create_app(service), raise_server_exceptions=False) as c:
        yield c


def runs(models: dict[str, U2NetModel]) -> dict[str, int]:
    return {name: m.session.runs for name, m in models.items()}


def test_the_query_chooses_the_model_and_the_default_is_the_first(
    client: TestClient, two_models: dict[str, U2NetModel]
) -> None:
    body = encode_image(photo(64, 48), "JPEG")
    assert client.post("/v1/remove", content=body).status_code == 200
    assert runs(two_models) == {"u2netp": 1, "u2net": 0}
    chosen = client.post("/v1/remove?model=U2Net", content=body)  # names in any case
    assert chosen.status_code == 200 and chosen.headers["x-cache"] == "MISS"
    assert runs(two_models) == {"u2netp": 1, "u2net": 1}
    explicit_default = client.post("/v1/remove?model=u2netp", content=body)
    assert explicit_default.headers["x-cache"] == "HIT"


def test_cache_keys_and_etags_carry_the_model(client: TestClient) -> None:
    body = encode_image(photo(64, 48, seed=2), "JPEG")
    small = client.post("/v1/remove", content=body)
    big = client.post("/v1/remove?model=u2net", content=body)
    assert small.headers["etag"] != big.headers["etag"]
    again = client.post(
        "/v1/remove?model=u2net", content=body, headers={"if-none-match": big.headers["etag"]}
    )
    assert again.status_code == 304
    other = client.post("/v1/remove", content=body, headers={"if-none-match": big.headers["etag"]})
    assert other.status_code == 200  # u2netp's result is not u2net's


def test_a_model_not_loaded_is_422_naming_the_loaded_ones(
    model: U2NetModel, tmp_path: Path
) -> None:
    service = CutoutService(model=model, tier=MemoryTier.for_memory(2048))
    with TestClient(create_app(service), raise_server_exceptions=False) as client:
        for name in ("u2net", "isnet-general-use", "x" * 500):
            response = client.post(f"/v1/remove?model={name}", content=b"not even an image")
            assert response.status_code == 422, response.text
            error = response.json()["error"]
            assert error["code"] == "model_unavailable"
            assert "u2netp" in error["message"] and len(error["message"]) < 200


def test_healthz_lists_the_loaded_models_and_the_default(client: TestClient) -> None:
    health = client.get("/healthz").json()
    assert health["default_model"] == "u2netp"
    assert list(health["models"]) == ["u2netp", "u2net"]
    assert health["models"]["u2net"] == "u2net-test"
    assert health["limits"]["models"] == ["u2netp", "u2net"]


def test_service_outcomes_name_their_model(service: CutoutService) -> None:
    from handler.core.options import RemoveOptions

    data = encode_image(photo(40, 30), "PNG")
    assert service.remove(data, RemoveOptions()).model == "u2netp"
    assert service.remove(data, RemoveOptions(), model="u2net").model == "u2net"
    with pytest.raises(ModelNotLoadedError):
        service.remove(data, RemoveOptions(), model="u2netq")


def test_models_setting_first_is_default_and_unknown_names_are_one_line() -> None:
    assert Settings.from_env({}).models == ("u2netp",)
    settings = Settings.from_env({MODELS_ENV: " u2net , u2netp,u2net "})
    assert settings.models == ("u2net", "u2netp") and settings.trigger_model == "u2net"
    assert settings.model_files()["u2net"] == settings.model_path
    override = Settings.from_env({MODELS_ENV: "u2net,u2netp", "CUTOUT_MODEL_PATH": "/m/x.onnx"})
    assert override.model_files() == {
        "u2net": Path("/m/x.onnx"),
        "u2netp": override.model_files()["u2netp"],
    }
    for bad in ("u2netp,isnet", ",", "U2NET;u2netp"):
        with pytest.raises(ValueError, match=MODELS_ENV) as caught:
            Settings.from_env({MODELS_ENV: bad})
        assert "\n" not in str(caught.value)
    with pytest.raises(ValueError, match=TRIGGER_MODEL_ENV):
        Settings.from_env({TRIGGER_MODEL_ENV: "u2net"})  # not loaded
    both = {MODELS_ENV: "u2netp,u2net", TRIGGER_MODEL_ENV: "U2NET"}
    assert Settings.from_env(both).trigger_model == "u2net"


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "handler.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "CUTOUT_CACHE_DIR": "", **env},
        timeout=180,
    )


def test_limits_show_caps_per_model() -> None:
    limits = json.loads(run_cli("limits", AWS_LAMBDA_FUNCTION_MEMORY_SIZE="2048").stdout)
    assert limits["models"] == ["u2netp"] and limits["default_model"] == "u2netp"
    per_model = limits["per_model"]
    assert set(per_model) == {"u2netp", "u2net"}
    assert per_model["u2netp"]["max_pixels"] == limits["max_pixels"]
    assert 0 < per_model["u2net"]["max_pixels"] < per_model["u2netp"]["max_pixels"]
    small = json.loads(run_cli("limits", AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512").stdout)
    assert small["per_model"]["u2net"]["holds"] is False
    assert small["per_model"]["u2net"]["smallest_tier_mb"] > 512


def test_a_tier_too_small_for_the_model_is_refused_at_start_up_in_one_line(
    tmp_path: Path,
) -> None:
    from handler.core.tiers import smallest_tier_holding

    (tmp_path / "a.jpg").write_bytes(encode_image(photo(32, 24), "JPEG"))
    done = run_cli(
        "remove", str(tmp_path / "a.jpg"), "--model", "u2net", AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512"
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cutout: 512 MB cannot hold u2net"), lines
    assert f"{smallest_tier_holding(('u2net',))} MB" in lines[0]
    assert not (tmp_path / "a.cutout.png").exists()


def test_cli_model_option_rejects_unknown_names(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(encode_image(photo(32, 24), "JPEG"))
    done = run_cli("remove", str(tmp_path / "a.jpg"), "--model", "isnet")
    assert done.returncode == 2
    assert done.stderr.strip() == "cutout: --model must be one of u2netp, u2net; got 'isnet'"


@pytest.mark.slow
def test_cli_model_u2net_draws_rembgs_u2net_mask(tmp_path: Path) -> None:
    """End to end: `--model u2net` loads the real u2net (CUTOUT_MODELS unset) and its mask is
    rembg's u2net mask, not the u2netp one."""
    import numpy as np
    from PIL import Image

    from tests.support import FIXTURES, decode_image
    from tests.test_parity import mask_agreement

    out = tmp_path / "car.png"
    env = {k: v for k, v in os.environ.items() if k != MODELS_ENV}
    done = subprocess.run(
        [sys.executable, "-m", "handler.cli", "remove", str(FIXTURES / "car-1.jpg"),
         "--model", "u2net", "--mask", "-o", str(out)],
        capture_output=True, text=True, cwd=REPO, env={**env, "CUTOUT_CACHE_DIR": ""},
        timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    ours = np.asarray(decode_image(out.read_bytes()))
    ref = np.asarray(Image.open(FIXTURES / "car-1.u2net.mask.png").convert("L"))
    iou, mad = mask_agreement(ours, ref)
    assert iou >= 0.99 and mad <= 2.0, (iou, mad)
