"""The smaller faults of issue 11, each fixed and pinned: conditional requests after admission,
absurd Content-Lengths, clients that leave, HEAD /healthz, trailing slashes, an API-key list
naming no key, and the cache's tenant scope."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from handler.aws.lambda_context import LocalLambdaContext
from handler.http.api import create_app
from handler.serving.service import CutoutService
from handler.settings import Settings
from tests.hardening.contract import lambda_answer
from tests.hardening.corpus import good_photo
from tests.support import load_event, run_in_own_loop

KEY = "the-only-key-0123456789"


@pytest.fixture
def client(service: CutoutService) -> Iterator[TestClient]:
    with TestClient(create_app(service), raise_server_exceptions=False) as c:
        yield c


# --- If-None-Match ------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"this is not an image", b""], ids=["text", "empty"])
def test_if_none_match_star_never_answers_304_for_what_admission_refuses(
    client: TestClient, body: bytes
) -> None:
    answer = client.post("/v1/remove", content=body, headers={"If-None-Match": "*"})
    assert answer.status_code in (400, 415), answer.text
    assert answer.json()["error"]["code"] in ("empty_body", "unsupported_format")


def test_if_none_match_star_answers_304_for_an_admissible_image(client: TestClient) -> None:
    answer = client.post("/v1/remove", content=good_photo(), headers={"If-None-Match": "*"})
    assert answer.status_code == 304 and answer.headers["etag"]


@pytest.mark.parametrize("field", ["W/*", '"other", *', "**"])
def test_a_star_that_is_not_the_whole_field_matches_nothing(client: TestClient, field: str) -> None:
    """RFC 9110: `*` stands alone; `W/*` or `*` inside a list is not an entity tag."""
    answer = client.post("/v1/remove", content=good_photo(), headers={"If-None-Match": field})
    assert answer.status_code == 200


# --- Content-Length -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "declared,status,code",
    [
        ("9" * 5000, 413, "payload_too_large"),  # int() of it raises past 4,300 digits
        ("0" * 4990 + "1234", 400, None),  # small once the zeros go: then the body decides
        ("12abc", 400, "malformed_body"),
        ("²", 400, "malformed_body"),  # a Unicode digit: isdigit() says yes, int() says no
        ("-5", 400, "malformed_body"),
    ],
)
def test_absurd_content_length_in_a_lambda_event_is_a_4xx(
    runtime_at_corpus_tier: CutoutService, declared: str, status: int, code: str | None
) -> None:
    from handler.app import lambda_handler

    event = load_event("api-v1", body=b"not an image, 29 bytes long.")
    event["headers"]["Content-Length"] = declared
    event["multiValueHeaders"]["Content-Length"] = [declared]
    got_status, headers, body = lambda_answer(lambda_handler(event, LocalLambdaContext()))
    assert headers["content-type"] == "application/json"
    if code is None:  # the declared length is honest enough: the bytes are then judged
        assert got_status == 415
        return
    assert (got_status, code) == (status, json.loads(body)["error"]["code"])


# --- a client that leaves -----------------------------------------------------------------------


def test_a_client_leaving_mid_upload_is_an_info_line_not_a_500(
    service: CutoutService, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(service)
    sent: list[dict[str, Any]] = []
    incoming = [
        {"type": "http.request", "body": b"\xff\xd8\xff" + b"x" * 1000, "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/remove",
        "raw_path": b"/v1/remove",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"content-length", b"50000")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8080),
    }
    with caplog.at_level(logging.INFO):
        run_in_own_loop(app(scope, receive, send))
    statuses = [m["status"] for m in sent if m["type"] == "http.response.start"]
    assert statuses and all(s < 500 for s in statuses)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("went away" in r.getMessage() for r in caplog.records)
    assert service.budget.in_use == 0  # its body reservation was given back


# --- routes ---------------------------------------------------------------------------------------


def test_head_healthz_is_200(client: TestClient) -> None:
    answer = client.head("/healthz")
    assert answer.status_code == 200 and answer.content == b""


def test_trailing_slash_is_a_json_404_with_no_redirect(service: CutoutService) -> None:
    with TestClient(
        create_app(service, Settings(api_keys=frozenset({KEY}))), raise_server_exceptions=False
    ) as locked:
        answer = locked.post(
            "/v1/remove/",
            content=good_photo(),
            headers={"Host": "evil.example"},
            follow_redirects=False,
        )
    assert answer.status_code == 404 and "location" not in answer.headers
    assert answer.json()["error"]["code"] == "not_found"


# --- configuration --------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [",", " , ,", ",,,"])
def test_api_keys_naming_no_key_is_a_configuration_error(raw: str) -> None:
    with pytest.raises(ValueError, match="CUTOUT_API_KEYS"):
        Settings.from_env({"CUTOUT_API_KEYS": raw})


def test_api_keys_unset_or_blank_means_no_check() -> None:
    assert Settings.from_env({}).api_keys == frozenset()
    assert Settings.from_env({"CUTOUT_API_KEYS": "  "}).api_keys == frozenset()
    assert Settings.from_env({"CUTOUT_API_KEYS": "a, b,"}).api_keys == {"a", "b"}


def test_cache_scope_setting() -> None:
    assert Settings.from_env({}).cache_scope == "global"
    assert Settings.from_env({"CUTOUT_CACHE_SCOPE": "Tenant"}).cache_scope == "tenant"
    with pytest.raises(ValueError, match="CUTOUT_CACHE_SCOPE"):
        Settings.from_env({"CUTOUT_CACHE_SCOPE": "per-user"})


@pytest.mark.parametrize("scope,second", [("global", "HIT"), ("tenant", "MISS")])
def test_tenant_scope_keeps_one_tenants_results_from_another(
    service: CutoutService, scope: str, second: str
) -> None:
    keys = frozenset({"tenant-one-key-000000", "tenant-two-key-000000"})
    app = create_app(service, Settings(api_keys=keys, cache_scope=scope))
    body = good_photo()
    with TestClient(app) as client:
        one = client.post(
            "/v1/remove", content=body, headers={"x-api-key": "tenant-one-key-000000"}
        )
        two = client.post(
            "/v1/remove", content=body, headers={"x-api-key": "tenant-two-key-000000"}
        )
        again = client.post(
            "/v1/remove", content=body, headers={"x-api-key": "tenant-two-key-000000"}
        )
    assert (one.headers["x-cache"], two.headers["x-cache"], again.headers["x-cache"]) == (
        "MISS",
        second,
        "HIT",
    )
    assert (one.headers["etag"] == two.headers["etag"]) is (scope == "global")
    assert one.content == two.content
