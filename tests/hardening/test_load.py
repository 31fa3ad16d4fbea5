"""Load shedding: the local server under 8 concurrent clients, and the 503s it sheds with."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bench.load import run_load
from handler import cli
from handler.http.api import create_app
from handler.serving.service import CutoutService
from tests.hardening.corpus import good_photo


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_eight_clients_are_all_served_within_the_tier() -> None:
    """`cutout serve` in a subprocess on loopback; bench/load.py's bounded run."""
    report = run_load(requests=16, clients=8, megapixels=1.0, memory_mb=2048, time_limit_s=240)
    assert report.violations == [], report
    assert sum(report.statuses.values()) == 16


@pytest.fixture
def client(service: CutoutService) -> Iterator[TestClient]:
    with TestClient(create_app(service), raise_server_exceptions=False) as c:
        yield c


def test_a_spent_memory_budget_sheds_with_503_and_retry_after(
    client: TestClient, service: CutoutService
) -> None:
    with service.budget.reserve(service.budget.capacity_bytes):  # images already in flight
        shed = client.post("/v1/remove", content=good_photo())
    assert shed.status_code == 503
    assert shed.json()["error"]["code"] == "overloaded"
    assert int(shed.headers["retry-after"]) > 0
    assert client.post("/v1/remove", content=good_photo()).status_code == 200  # and recovers


def test_serve_runs_the_guarded_protocol_without_uvicorns_plain_503(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import uvicorn

    from handler.http import server
    from tests.support import free_port

    seen: dict[str, Any] = {}

    def run(self: uvicorn.Server, sockets: Any = None) -> None:
        seen.update(config=self.config, sockets=sockets)

    monkeypatch.setattr(uvicorn.Server, "run", run)
    cli.run_serve(argparse.Namespace(host="127.0.0.1", port=free_port(), log_format="json"))
    config = seen["config"]
    assert config.http is server.GuardedH11Protocol
    assert isinstance(config.app, server.InFlightLimit)
    assert config.limit_concurrency is None  # its 503 is plain text: the app limits instead
    assert config.backlog == server.BACKLOG
    assert config.host == "127.0.0.1"
    [listener] = seen["sockets"]  # bound before the ready line, handed to uvicorn
    listener.close()
