"""Logs and CloudWatch EMF metrics from the Lambda handlers, as they appear on stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from handler.aws.lambda_context import LocalLambdaContext
from tests.support import EVENTS, REPO, encode_image, load_event, photo

DESIGN_METRICS = {
    "InferenceMs",
    "TotalMs",
    "PeakMemoryMB",
    "InputMegapixels",
    "CacheMisses",
}


@pytest.fixture
def log_to_captured_stdout(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], None]]:
    """Point the Powertools log handler at the test's captured stdout; call it in the test body
    (pytest swaps sys.stdout between set-up and call). The handler's stream is restored after."""
    from handler.aws.observability import logger

    handler = logger.registered_handler
    original = handler.stream  # type: ignore[attr-defined]

    def start() -> None:
        handler.stream = sys.stdout  # type: ignore[attr-defined]
        capsys.readouterr()

    yield start
    handler.stream = original  # type: ignore[attr-defined]


def stdout_json(text: str) -> list[dict[str, Any]]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def emf_metrics(lines: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Metric name -> the EMF blobs that carry it."""
    found: dict[str, list[dict[str, Any]]] = {}
    for blob in lines:
        for directive in blob.get("_aws", {}).get("CloudWatchMetrics", []):
            for metric in directive["Metrics"]:
                found.setdefault(metric["Name"], []).append(blob)
    return found


@pytest.mark.slow
def test_invoke_repeat_3_shows_the_cold_start_once(tmp_path: Path) -> None:
    env = {**os.environ, "CUTOUT_CACHE_DIR": ""}
    done = subprocess.run(
        [sys.executable, "-m", "handler.cli", "invoke", str(EVENTS / "api-v1.json"),
         "--repeat", "3", "--out", str(tmp_path / "out.jsonl")],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    metrics = emf_metrics(stdout_json(done.stdout))
    assert len(metrics["ColdStart"]) == 1
    assert (
        len(metrics["InitDurationMs"]) == 1
        and metrics["InitDurationMs"][0]["InitDurationMs"][0] > 0
    )
    assert len(metrics["InferenceMs"]) == 3
    assert set(metrics) >= DESIGN_METRICS
    billed = metrics["BilledMegapixels"]
    assert len(billed) == 3 and all("tenant" in blob for blob in billed)
    assert all(blob["model"] == "u2netp" for blob in billed)  # priced per model
    (directive,) = billed[0]["_aws"]["CloudWatchMetrics"]
    assert {"tenant", "model"} <= set(directive["Dimensions"][0])


def test_one_structured_log_line_per_request_with_the_request_id(
    capsys: pytest.CaptureFixture[str],
    lambda_context: LocalLambdaContext,
    log_to_captured_stdout: Callable[[], None],
) -> None:
    from handler.app import lambda_handler

    log_to_captured_stdout()
    event = load_event("api-v1", body=encode_image(photo(64, 64, seed=3), "JPEG"))
    lambda_handler(event, lambda_context)
    lines = stdout_json(capsys.readouterr().out)
    logs = [line for line in lines if line.get("message") == "request served"]
    assert len(logs) == 1
    log = logs[0]
    assert log["correlation_id"] == event["requestContext"]["requestId"]
    assert log["function_request_id"] == lambda_context.aws_request_id
    assert log["width"] == 64 and log["cache"] in ("hit", "miss") and log["tenant"]
    assert log["model"] == "u2netp"
    assert set(log["timings_ms"]) <= {"decode", "inference", "compose", "encode", "cache"}
    assert len(json.dumps(log)) < 2000  # sizes and timings, never image bytes
    assert event["body"][:40] not in json.dumps(lines)


def test_refusals_are_logged_and_counted(
    capsys: pytest.CaptureFixture[str],
    lambda_context: LocalLambdaContext,
    log_to_captured_stdout: Callable[[], None],
) -> None:
    from handler.app import lambda_handler

    log_to_captured_stdout()
    lambda_handler(load_event("api-v2", body=b"GIF89a broken"), lambda_context)
    lines = stdout_json(capsys.readouterr().out)
    refused = [line for line in lines if line.get("message") == "request refused"]
    assert refused and refused[0]["status"] in (415, 422)
    assert "ClientErrors" in emf_metrics(lines)


def test_s3_trigger_reports_the_same_metrics(
    capsys: pytest.CaptureFixture[str],
    lambda_context: LocalLambdaContext,
    log_to_captured_stdout: Callable[[], None],
    s3_endpoint: str,
) -> None:
    from handler.app import s3_handler
    from handler.aws.s3_client import s3_client
    from tests.integration.s3_helpers import s3_event_for

    client = s3_client()
    client.create_bucket(Bucket="media")
    client.put_object(Bucket="media", Key="uploads/m.png", Body=encode_image(photo(30, 30)))
    log_to_captured_stdout()
    s3_handler(s3_event_for("media", "uploads/m.png"), lambda_context)
    metrics = emf_metrics(stdout_json(capsys.readouterr().out))
    assert {"InferenceMs", "TotalMs", "PeakMemoryMB", "InputMegapixels", "BilledMegapixels"} <= set(
        metrics
    )


def test_tracing_is_off_outside_lambda() -> None:
    from handler.aws.observability import traced, tracer

    assert tracer is None
    with traced("decode"):
        pass
    # Nor is the X-Ray SDK loaded: its imports cost ~0.2 s of every local cold start.
    assert "aws_xray_sdk.core" not in sys.modules
