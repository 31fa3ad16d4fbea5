"""Test-wide set-up: an isolated environment before any handler module is imported."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Set before handler.runtime is first imported: no writes to the user's cache, no real AWS.
_SCRATCH = Path(tempfile.mkdtemp(prefix="cutout-tests-"))
os.environ["CUTOUT_CACHE_DIR"] = str(_SCRATCH / "cache")
os.environ["XDG_CACHE_HOME"] = str(_SCRATCH / "xdg")  # subprocesses' defaults land here too
os.environ["CUTOUT_OPTIMIZED_MODEL_DIR"] = str(_SCRATCH / "models")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "cutout-tests")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
for _name in ("CUTOUT_CACHE_BUCKET", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "CUTOUT_API_KEYS"):
    os.environ.pop(_name, None)

from handler.aws.lambda_context import LocalLambdaContext  # noqa: E402
from handler.core.predict import U2NetModel  # noqa: E402
from handler.core.tiers import MemoryTier  # noqa: E402
from handler.serving.cache import LocalDiskCache  # noqa: E402
from handler.serving.service import CutoutService  # noqa: E402
from tests.support import free_port  # noqa: E402


@pytest.fixture(scope="session")
def model() -> U2NetModel:
    """The process's real u2netp model (loaded once, as in Lambda's init phase)."""
    from handler import runtime

    return runtime.model


@pytest.fixture
def tier() -> MemoryTier:
    return MemoryTier.for_memory(2048)


@pytest.fixture
def service(model: U2NetModel, tier: MemoryTier, tmp_path: Path) -> CutoutService:
    """A service with its own empty local cache."""
    return CutoutService(model=model, tier=tier, cache=LocalDiskCache(tmp_path / "cache"))


@pytest.fixture
def lambda_context() -> Iterator[LocalLambdaContext]:
    yield LocalLambdaContext(memory_limit_in_mb=2048)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A real S3 API over HTTP on loopback: moto's server mode in its own process."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def s3_endpoint(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's S3 with empty state, and AWS_ENDPOINT_URL pointing boto3 at it for this test."""
    request = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=5).close()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    from handler.aws.s3_client import s3_client

    s3_client.cache_clear()
    yield moto_server
    s3_client.cache_clear()


@pytest.fixture
def s3(s3_endpoint: str, request: pytest.FixtureRequest) -> Any:
    """A client of moto's S3 with the test module's BUCKET made (a module may override this)."""
    from handler.aws.s3_client import s3_client

    client = s3_client()
    client.create_bucket(Bucket=request.module.BUCKET)
    return client


@pytest.fixture(scope="module")
def s3_handler() -> Any:
    """The S3 trigger's Lambda entry point, as the templates' alias names it."""
    from handler.app import s3_handler

    return s3_handler
