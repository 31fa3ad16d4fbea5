"""Test-wide set-up: an isolated environment before any handler module is imported."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Set before handler.runtime is first imported: no writes to the user's cache, no real AWS.
_SCRATCH = Path(tempfile.mkdtemp(prefix="cutout-tests-"))
os.environ["CUTOUT_CACHE_DIR"] = str(_SCRATCH / "cache")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "cutout-tests")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
for _name in ("CUTOUT_CACHE_BUCKET", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "CUTOUT_API_KEYS"):
    os.environ.pop(_name, None)

from handler.cache import LocalDiskCache  # noqa: E402
from handler.lambda_context import LocalLambdaContext  # noqa: E402
from handler.predict import U2NetModel  # noqa: E402
from handler.service import CutoutService  # noqa: E402
from handler.tiers import MemoryTier  # noqa: E402


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
