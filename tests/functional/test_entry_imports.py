"""What each Lambda entry module loads, in a fresh interpreter: the trigger no HTTP stack, the
API neither FastAPI nor pydantic (its fast path answers images; the app is built on first use of
another route), and no boto3 unless S3 is configured."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.support import REPO

WATCHED = (
    "fastapi",
    "mangum",
    "starlette",
    "pydantic",
    "boto3",
    "botocore.client",
    "aws_xray_sdk",
    "aws_lambda_powertools.utilities.batch",
)


def loaded_after_import(module: str, **env: str) -> set[str]:
    script = (
        f"import sys, json, {module}; "
        f"print(json.dumps([m for m in {list(WATCHED)!r} if m in sys.modules]))"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CUTOUT_", "AWS_LAMBDA"))}
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=clean | {"CUTOUT_CACHE_DIR": "", **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_the_trigger_imports_neither_fastapi_nor_mangum() -> None:
    loaded = loaded_after_import("handler.trigger")
    assert not loaded & {"fastapi", "mangum", "starlette", "pydantic"}, loaded
    assert "aws_lambda_powertools.utilities.batch" not in loaded  # its own partial-batch loop
    assert "boto3" in loaded  # what it does use


def test_the_api_imports_boto3_only_when_s3_is_configured() -> None:
    assert not loaded_after_import("handler.app") & {"boto3", "botocore.client", "aws_xray_sdk"}
    assert "boto3" in loaded_after_import("handler.app", CUTOUT_CACHE_BUCKET="some-bucket")


def test_the_api_handler_builds_no_fastapi_app_at_init() -> None:
    loaded = loaded_after_import("handler.app")
    assert not loaded & {"fastapi", "pydantic", "starlette"}, loaded
    assert "mangum" in loaded
    # Where init is free (SnapStart, provisioned concurrency), the whole app is built before.
    assert "fastapi" in loaded_after_import("handler.app", CUTOUT_WARM_UP="true")
