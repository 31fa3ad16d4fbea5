"""API keys (handler/http/auth.py): CUTOUT_API_KEYS locally, API Gateway key ids in Lambda, and the
tenant that reaches the BilledMegapixels metric."""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from mangum import Mangum

from handler.aws.lambda_context import LocalLambdaContext
from handler.http.api import create_app
from handler.http.auth import ANONYMOUS, ApiKeys, gateway_key_id, local_tenant
from handler.serving.service import CutoutService
from handler.settings import Settings
from tests.hardening.contract import lambda_answer, lambda_api
from tests.hardening.corpus import good_photo
from tests.support import load_event

KEYS = frozenset({"first-key-0123456789", "second-key-abcdefghij"})
EVENT_KEY = "EXAMPLEKEYabcdefghijklmnopqrstuvwxyz0123"  # x-api-key in events/api-v1.json
EVENT_KEY_ID = "k1a2b3c4d5"  # its requestContext.identity.apiKeyId


def billed_tenants(captured: str) -> list[str]:
    """Tenants of the BilledMegapixels EMF blobs printed while serving."""
    tenants = []
    for line in captured.splitlines():
        if '"BilledMegapixels"' in line and line.startswith("{"):
            tenants.append(json.loads(line)["tenant"])
    return tenants


@pytest.fixture
def locked(service: CutoutService) -> Iterator[TestClient]:
    """The local server with CUTOUT_API_KEYS set."""
    with TestClient(
        create_app(service, Settings(api_keys=KEYS)), raise_server_exceptions=False
    ) as c:
        yield c


# --- the key check -----------------------------------------------------------------------------


def test_only_exact_keys_are_accepted() -> None:
    keys = ApiKeys.of(KEYS)
    assert keys.required and keys.accepts("first-key-0123456789")
    for wrong in (None, "", "first-key", "first-key-0123456789 ", "FIRST-KEY-0123456789"):
        assert not keys.accepts(wrong)
    assert not ApiKeys.of([]).required and not ApiKeys.of([]).accepts("anything")


def test_every_known_key_is_compared_whichever_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    """No early exit: the work done does not depend on which key matched, or whether any did."""
    calls: list[int] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append(1)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    keys = ApiKeys.of(["a-key", "b-key", "c-key"])
    for presented in ("a-key", "c-key", "nope"):
        calls.clear()
        keys.accepts(presented)
        assert len(calls) == 3


def test_local_tenant_is_stable_and_does_not_reveal_the_key() -> None:
    tenant = local_tenant("first-key-0123456789")
    assert tenant == local_tenant("first-key-0123456789") != local_tenant("second-key-abcdefghij")
    assert tenant.startswith("key-") and len(tenant) == 16 and "first" not in tenant


def test_gateway_key_id_comes_from_the_rest_event_only() -> None:
    assert gateway_key_id({"aws.event": load_event("api-v1")}) == EVENT_KEY_ID
    assert gateway_key_id({"aws.event": load_event("api-v2")}) is None  # HTTP APIs have no keys
    assert gateway_key_id({}) is None
    assert gateway_key_id({"aws.event": {"requestContext": {"identity": None}}}) is None


# --- the local server --------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "wrong"}, {"x-api-key": ""}])
def test_missing_or_wrong_key_is_a_401_before_the_body_is_read(
    locked: TestClient,
    service: CutoutService,
    monkeypatch: pytest.MonkeyPatch,
    headers: dict[str, str],
) -> None:
    def must_not_run(*args: Any) -> Any:
        raise AssertionError("the image was processed without a valid key")

    monkeypatch.setattr(service, "remove", must_not_run)
    response = locked.post("/v1/remove", content=good_photo(), headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "first-key" not in response.text


def test_a_valid_key_is_served_and_billed_to_its_tenant(
    locked: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in sorted(KEYS):
        response = locked.post("/v1/remove", content=good_photo(), headers={"X-API-Key": key})
        assert response.status_code == 200
    assert billed_tenants(capsys.readouterr().out) == [local_tenant(k) for k in sorted(KEYS)]


@pytest.mark.parametrize("path", ["/healthz", "/docs", "/openapi.json"])
def test_health_and_docs_stay_open(locked: TestClient, path: str) -> None:
    assert locked.get(path).status_code == 200


def test_uploads_need_a_key_too(locked: TestClient) -> None:
    response = locked.post("/v1/uploads", json={"content_type": "image/png", "content_length": 9})
    assert response.status_code == 401


def test_without_keys_everyone_is_anonymous_and_unverified_keys_name_no_tenant(
    service: CutoutService, capsys: pytest.CaptureFixture[str]
) -> None:
    with TestClient(create_app(service, Settings())) as open_client:
        plain = open_client.post("/v1/remove", content=good_photo())
        keyed = open_client.post("/v1/remove", content=good_photo(), headers={"x-api-key": "me"})
    assert plain.status_code == keyed.status_code == 200
    assert billed_tenants(capsys.readouterr().out) == [ANONYMOUS, ANONYMOUS]


# --- in Lambda ---------------------------------------------------------------------------------


def lambda_app(service: CutoutService, keys: frozenset[str]) -> Mangum:
    settings = Settings(in_lambda=True, api_keys=keys)
    return lambda_api(service, settings)


def test_lambda_tenant_is_the_api_gateway_key_id(
    service: CutoutService, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = lambda_app(service, frozenset())
    v1 = handler(load_event("api-v1"), LocalLambdaContext())  # type: ignore[arg-type]
    v2 = handler(load_event("api-v2"), LocalLambdaContext())  # type: ignore[arg-type]
    assert lambda_answer(v1)[0] == lambda_answer(v2)[0] == 200
    assert billed_tenants(capsys.readouterr().out) == [EVENT_KEY_ID, ANONYMOUS]


def test_lambda_checks_keys_only_when_cutout_api_keys_is_set(service: CutoutService) -> None:
    event = load_event("api-v1")
    matching = lambda_app(service, frozenset({EVENT_KEY}))(event, LocalLambdaContext())  # type: ignore[arg-type]
    other = lambda_app(service, KEYS)(load_event("api-v1"), LocalLambdaContext())  # type: ignore[arg-type]
    assert lambda_answer(matching)[0] == 200
    status, _, body = lambda_answer(other)
    assert status == 401 and json.loads(body)["error"]["code"] == "unauthorized"


def test_the_deployed_handler_is_open_without_cutout_api_keys(
    lambda_context: LocalLambdaContext,
) -> None:
    """handler.app.lambda_handler under the test environment (no CUTOUT_API_KEYS)."""
    from handler.app import lambda_handler

    event = load_event("api-v1")
    del event["headers"]["x-api-key"]
    del event["multiValueHeaders"]["x-api-key"]
    assert lambda_answer(lambda_handler(event, lambda_context))[0] == 200
