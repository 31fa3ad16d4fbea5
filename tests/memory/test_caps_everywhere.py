"""The tier's caps hold on every entry point: CLI, HTTP and the Lambda API handler.

The CLI and Lambda paths run in a subprocess with AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512, so the
caps come from the environment exactly as in Lambda; the HTTP path uses a service built with a
small tier. The image over the cap is a real decompression bomb: decoding it would need GBs.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from handler.core.options import OutputFormat
from handler.core.predict import U2NetModel
from handler.core.tiers import MemoryTier
from handler.http.api import create_app
from handler.serving.service import CutoutService
from tests.memory.bombs import png_bomb
from tests.support import REPO, encode_image, load_event, photo

SMALL_MB = 512
SMALL = MemoryTier.for_memory(SMALL_MB)


def over_the_cap(tier: MemoryTier) -> bytes:
    """A real PNG bomb a row taller than the tier's pixel cap allows."""
    width = 8000
    return png_bomb(width, tier.max_pixels // width + 1)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(SMALL_MB), "CUTOUT_CACHE_DIR": ""}
    return subprocess.run(
        [sys.executable, "-m", "handler.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=180,
    )


def cap_text(tier: MemoryTier) -> str:
    return f"the cap at {tier.memory_mb} MB is {tier.max_pixels / 1e6:.1f} MP"


def test_limits_report_the_tier_from_the_environment() -> None:
    limits = json.loads(run_cli("limits").stdout)
    assert limits["memory_mb"] == SMALL_MB and limits["memory_source"] != "default"
    assert limits["max_pixels"] == SMALL.max_pixels
    assert limits["max_input_bytes"] == SMALL.max_input_bytes
    assert limits["max_webp_pixels"] == SMALL.pixel_cap(OutputFormat.WEBP)


def test_cli_refuses_over_the_cap_in_one_line_and_fails(tmp_path: Path) -> None:
    (tmp_path / "bomb.png").write_bytes(over_the_cap(SMALL))
    (tmp_path / "fine.jpg").write_bytes(encode_image(photo(64, 48), "JPEG"))
    done = run_cli(
        "remove",
        str(tmp_path / "bomb.png"),
        str(tmp_path / "fine.jpg"),
        "-o",
        str(tmp_path / "out"),
    )
    assert done.returncode != 0
    failures = [line for line in done.stderr.splitlines() if "cutout: " in line]
    assert len(failures) == 1, done.stderr
    assert "bomb.png" in failures[0] and "[image_too_large]" in failures[0]
    assert cap_text(SMALL) in failures[0]
    assert (tmp_path / "out" / "fine.png").is_file()


def test_lambda_api_handler_refuses_over_the_cap(tmp_path: Path) -> None:
    event = load_event("api-v1", body=over_the_cap(SMALL))
    (tmp_path / "event.json").write_text(json.dumps(event))
    out = tmp_path / "responses.jsonl"
    done = run_cli("invoke", str(tmp_path / "event.json"), "--out", str(out))
    assert done.returncode == 0, done.stderr
    response: dict[str, Any] = json.loads(out.read_text().splitlines()[0])
    assert response["statusCode"] == 413
    raw = response["body"]
    body = json.loads(base64.b64decode(raw) if response.get("isBase64Encoded") else raw)
    assert body["error"]["code"] == "image_too_large"
    assert cap_text(SMALL) in body["error"]["message"]


@pytest.fixture
def small_client(model: U2NetModel) -> Iterator[TestClient]:
    tier = MemoryTier(
        memory_mb=256, max_pixels=40_000, max_input_bytes=200_000, max_webp_pixels=10_000
    )
    service = CutoutService(model=model, tier=tier)
    with TestClient(create_app(service), raise_server_exceptions=False) as client:
        yield client


def test_http_refuses_pixels_bytes_and_webp_over_their_caps(small_client: TestClient) -> None:
    assert small_client.get("/healthz").json()["limits"]["max_pixels"] == 40_000
    fine = encode_image(photo(200, 150), "JPEG")  # 30 000 pixels
    assert small_client.post("/v1/remove", content=fine).status_code == 200

    too_many = small_client.post("/v1/remove", content=png_bomb(400, 101))
    assert too_many.status_code == 413
    error = too_many.json()["error"]
    assert error["code"] == "image_too_large"
    assert "the cap at 256 MB is 0.0 MP" in error["message"]

    webp = small_client.post("/v1/remove?format=webp", content=fine)
    assert webp.status_code == 413 and "WEBP output" in webp.json()["error"]["message"]

    declared = small_client.post(
        "/v1/remove", content=b"\0" * 16, headers={"content-length": "200001"}
    )
    assert declared.status_code == 413
    assert declared.json()["error"]["code"] == "payload_too_large"


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_u2nets_largest_admitted_image_peaks_within_90_percent_of_its_tier(
    tmp_path: Path,
) -> None:
    """u2net alone at 1,024 MB, the smallest tier that holds it (lean profile): the worst path
    of the tier check (a PNG at the pixel cap, padded to the byte cap, to JPEG) in a fresh
    process with the tier from the environment, as bench/memory_model.py tiers runs it."""
    from bench.memory_model import SCENARIOS, make_image, run_child

    memory_mb = 1024
    tier = MemoryTier.for_memory(memory_mb, models=("u2net",))
    assert tier.holds_models and tier.profile == "lean"
    scenario = next(s for s in SCENARIOS if s.name == "padded-png>jpeg")
    path = tmp_path / "largest.png"
    size = make_image(scenario, tier.max_pixels, path, pad_to=tier.max_input_bytes - 64)
    assert size <= tier.max_input_bytes
    env = {"CUTOUT_MODELS": "u2net", "CUTOUT_SESSION_PROFILE": ""}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        result = run_child(path, scenario, memory_mb)
    assert result["status"] == "ok", result
    assert result["pixels"] > tier.max_pixels * 0.99
    assert result["peak_mb"] <= 0.9 * memory_mb, result
