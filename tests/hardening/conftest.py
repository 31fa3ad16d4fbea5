"""Fixtures for the hardening tests: the process's own handlers running at the corpus tier."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from handler.serving.budget import MemoryBudget
from handler.serving.service import CutoutService
from tests.hardening.corpus import CORPUS_TIER


@pytest.fixture(scope="module")
def runtime_at_corpus_tier() -> Iterator[CutoutService]:
    """handler.runtime's service (behind lambda_handler and s3_handler) with the corpus caps."""
    from handler import runtime

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runtime.service, "tier", CORPUS_TIER)
        patch.setattr(runtime.service, "budget", MemoryBudget(CORPUS_TIER.image_budget_bytes()))
        yield runtime.service
