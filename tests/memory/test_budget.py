"""Concurrent requests in one process are admitted against the memory budget, not piled up."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from handler.core import pipeline
from handler.core.options import OutputFormat, RemoveOptions
from handler.core.predict import U2NetModel
from handler.core.tiers import MemoryTier
from handler.http.api import create_app
from handler.serving.budget import MemoryBudget
from handler.serving.service import CutoutService
from tests.support import encode_image, photo

TIER = MemoryTier.for_memory(2048)


class GatedModel:
    """The real model, but each inference waits for the test to open the gate."""

    def __init__(self, model: U2NetModel) -> None:
        self.model = model
        self.model_id = model.model_id
        self.name = model.name
        self.gate = threading.Event()
        self.waiting = threading.Semaphore(0)

    def run(self, batch: np.ndarray, *, release_arena: bool = False) -> np.ndarray:
        self.waiting.release()
        assert self.gate.wait(timeout=60)
        return self.model.run(batch, release_arena=release_arena)


def test_the_estimate_comes_from_the_memory_model() -> None:
    small, large = TIER.estimated_bytes(10**6, 10**5), TIER.estimated_bytes(50 * 10**6, 10**7)
    assert 0 < small < large
    assert TIER.estimated_bytes(50 * 10**6, 0, OutputFormat.WEBP) > large
    assert TIER.estimated_bytes(TIER.max_pixels, TIER.max_input_bytes) <= (
        TIER.image_budget_bytes()
    )


def test_the_estimate_is_reserved_before_decoding(
    model: U2NetModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = CutoutService(model=model, tier=TIER)
    seen: list[int] = []
    real_decode = pipeline.decode

    def watching_decode(*args: Any, **kwargs: Any) -> Any:
        seen.append(service.budget.in_use)
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(pipeline, "decode", watching_decode)
    data = encode_image(photo(120, 90), "PNG")
    service.remove(data, RemoveOptions())
    expected = TIER.estimated_bytes(120 * 90, len(data))
    assert seen and all(in_use == expected for in_use in seen)
    assert service.budget.in_use == 0


def test_concurrent_requests_get_200_or_503_with_retry_after(model: U2NetModel) -> None:
    gated = GatedModel(model)
    data = [encode_image(photo(160, 120, seed=i), "JPEG") for i in range(6)]
    one = TIER.estimated_bytes(160 * 120, max(len(d) for d in data))
    budget = MemoryBudget(capacity_bytes=2 * one + one // 2)  # room for two images at once
    service = CutoutService(model=gated, tier=TIER, budget=budget)  # type: ignore[arg-type]
    with (
        TestClient(create_app(service), raise_server_exceptions=False) as client,
        ThreadPoolExecutor(max_workers=6) as pool,
    ):
        admitted = [pool.submit(client.post, "/v1/remove", content=d) for d in data[:2]]
        for _ in admitted:  # both are inside inference, holding their reservations
            assert gated.waiting.acquire(timeout=60)
        refused = [pool.submit(client.post, "/v1/remove", content=d) for d in data[2:]]
        refused_responses = [f.result(timeout=60) for f in refused]
        gated.gate.set()
        admitted_responses = [f.result(timeout=120) for f in admitted]
    assert [r.status_code for r in admitted_responses] == [200, 200]
    for response in refused_responses:
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "overloaded"
        assert int(response.headers["retry-after"]) >= 1
    assert budget.in_use == 0
    again = CutoutService(model=model, tier=TIER, budget=budget).remove(data[3], RemoveOptions())
    assert again.data  # the budget is free again once the requests finished
