"""The Lambda API handler's fast path (handler/http/fast_path.py) answers POST /v1/remove exactly
as the FastAPI app does, event for event, and hands every other request to that app."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from mangum import Mangum

from handler.aws.lambda_context import LocalLambdaContext
from handler.core.tiers import MemoryTier
from handler.http.api import create_app
from handler.http.fast_path import FastPath
from handler.http.remove import REMOVE_OPTIONS
from handler.serving.cache import NoCache
from handler.serving.service import CutoutService
from handler.settings import Settings
from tests.hardening.contract import lambda_api
from tests.support import encode_image, load_event, photo

KEY = "parity-key-0123456789"


def answers(service: CutoutService, settings: Settings) -> tuple[Mangum, Mangum]:
    """The same service behind the fast path (as in Lambda) and behind the FastAPI app alone."""
    return lambda_api(service, settings), Mangum(create_app(service, settings), lifespan="off")


def comparable(response: dict[str, Any]) -> dict[str, Any]:
    """The response with Server-Timing's durations (which differ run to run) blanked."""
    headers = dict(response.get("headers") or {})
    if "server-timing" in headers:
        headers["server-timing"] = re.sub(r"dur=[0-9.]+", "dur=*", headers["server-timing"])
    return response | {"headers": headers}


def with_query(event: dict[str, Any], pairs: list[tuple[str, str]]) -> dict[str, Any]:
    if event.get("version") == "2.0":
        event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in pairs)
        event["queryStringParameters"] = dict(pairs) or None
    else:
        multi: dict[str, list[str]] = {}
        for name, value in pairs:
            multi.setdefault(name, []).append(value)
        event["multiValueQueryStringParameters"] = multi or None
        event["queryStringParameters"] = dict(pairs) or None
    return event


def with_header(event: dict[str, Any], name: str, value: str | None) -> dict[str, Any]:
    """Set (or with None, drop) a header in both of a v1 event's header maps."""
    for key in ("headers", "multiValueHeaders"):
        headers = event.get(key)
        if not headers:
            continue
        for existing in [k for k in headers if k.lower() == name.lower()]:
            del headers[existing]
        if value is not None:
            headers[name] = [value] if key == "multiValueHeaders" else value
    return event


def multipart(field: str, data: bytes) -> tuple[bytes, str]:
    boundary = "cutoutparity"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="a.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


PNG = encode_image(photo(40, 30), "PNG")


def multipart_event(name: str, field: str) -> dict[str, Any]:
    body, content_type = multipart(field, PNG)
    return with_header(load_event(name, body=body), "Content-Type", content_type)


# Each case: an event for POST /v1/remove, made from events/api-v1.json or api-v2.json.
CASES: dict[str, Callable[[str], dict[str, Any]]] = {
    "sample photo": load_event,
    "mask, webp": lambda n: with_query(load_event(n), [("mask", "true"), ("format", "webp")]),
    "background colour, crop": lambda n: with_query(
        load_event(n), [("bg_color", "ffffff"), ("crop", "true"), ("crop_margin", "4")]
    ),
    "sharp edges, jpeg": lambda n: with_query(
        load_event(n), [("edges", "sharp"), ("format", "jpeg")]
    ),
    "repeated option, the last wins": lambda n: with_query(
        load_event(n), [("format", "jpeg"), ("format", "webp")]
    ),
    "empty option value": lambda n: with_query(load_event(n), [("format", "")]),
    "unknown option": lambda n: with_query(load_event(n), [("fromat", "png")]),
    "bad option value": lambda n: with_query(load_event(n), [("format", "gif")]),
    "unknown model": lambda n: with_query(load_event(n), [("model", "u3net")]),
    "not an image": lambda n: load_event(n, body=b"<html>nope</html>"),
    "empty body": lambda n: load_event(n, body=b""),
    "truncated image": lambda n: load_event(n, body=PNG[: len(PNG) // 2]),
    "Content-Length not a number": lambda n: with_header(load_event(n), "Content-Length", "1e3"),
    "Content-Length over the cap": lambda n: with_header(
        load_event(n), "Content-Length", str(10**12)
    ),
    "multipart": lambda n: multipart_event(n, "file"),
    "multipart without a file field": lambda n: multipart_event(n, "image"),
    "malformed multipart": lambda n: with_header(
        load_event(n, body=b"--x\r\nnot a part"), "Content-Type", "multipart/form-data; boundary=x"
    ),
}


@pytest.fixture(scope="module")
def plain(model: Any) -> CutoutService:
    """No cache: both paths do the whole work, so their answers can be compared byte for byte."""
    return CutoutService(model=model, tier=MemoryTier.for_memory(2048), cache=NoCache())


@pytest.mark.parametrize("event_name", ["api-v1", "api-v2"])
@pytest.mark.parametrize("case", list(CASES))
def test_the_fast_path_answers_as_the_fastapi_app(
    plain: CutoutService, event_name: str, case: str
) -> None:
    fast, full = answers(plain, Settings(in_lambda=True))
    make = CASES[case]
    fast_answer = fast(make(event_name), LocalLambdaContext())  # type: ignore[arg-type]
    full_answer = full(make(event_name), LocalLambdaContext())  # type: ignore[arg-type]
    assert comparable(fast_answer) == comparable(full_answer)
    assert fast_answer["headers"]["x-content-type-options"] == "nosniff"


def test_cases_reach_successes_and_each_kind_of_refusal(plain: CutoutService) -> None:
    """The corpus above is not all one answer: it covers 200 and the route's refusals."""
    fast, _ = answers(plain, Settings(in_lambda=True))
    statuses = {
        fast(make("api-v1"), LocalLambdaContext())["statusCode"]  # type: ignore[arg-type]
        for make in CASES.values()
    }
    assert statuses == {200, 400, 413, 415, 422}


def test_conditional_request_and_keys_answer_alike(plain: CutoutService) -> None:
    fast, full = answers(plain, Settings(in_lambda=True, api_keys=frozenset({KEY})))
    context: Any = LocalLambdaContext()
    for event in (
        with_header(load_event("api-v1"), "x-api-key", None),  # 401: a key is required
        with_header(load_event("api-v1"), "x-api-key", "wrong"),  # 401: not ours
    ):
        first, second = fast(event, context), full(event, context)
        assert first["statusCode"] == 401 and comparable(first) == comparable(second)
    keyed = with_header(load_event("api-v2"), "x-api-key", KEY)
    etag = fast(keyed, context)["headers"]["etag"]
    conditional = with_header(keyed, "If-None-Match", f'W/{etag}, "other"')
    first, second = fast(conditional, context), full(conditional, context)
    assert first["statusCode"] == 304 and comparable(first) == comparable(second)


def test_an_unexpected_fault_is_the_same_bare_500(
    plain: CutoutService, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("/secret/path/in/a/trace")

    monkeypatch.setattr(plain, "remove", broken)
    fast, full = answers(plain, Settings(in_lambda=True))
    first = fast(load_event("api-v1"), LocalLambdaContext())  # type: ignore[arg-type]
    second = full(load_event("api-v1"), LocalLambdaContext())  # type: ignore[arg-type]
    assert first["statusCode"] == 500 and comparable(first) == comparable(second)
    assert "secret" not in first["body"]


def test_other_routes_go_to_the_fastapi_app_built_on_first_use(plain: CutoutService) -> None:
    settings = Settings(in_lambda=True)
    built: list[Any] = []

    def full_app() -> Any:
        if not built:
            built.append(create_app(plain, settings))
        return built[0]

    fast = Mangum(FastPath(plain, settings, full_app), lifespan="off")
    context: Any = LocalLambdaContext()
    assert fast(load_event("api-v1"), context)["statusCode"] == 200
    assert not built  # the image route never built the app
    health = load_event("api-v2", body=b"")
    health["rawPath"] = health["requestContext"]["http"]["path"] = "/healthz"
    health["requestContext"]["http"]["method"] = "GET"
    answer = fast(health, context)
    assert answer["statusCode"] == 200 and built
    assert '"status":"ok"' in answer["body"]
    get_remove = load_event("api-v1")
    get_remove["httpMethod"] = "GET"  # the path, another method: the app's 405
    assert fast(get_remove, context)["statusCode"] == 405
    slash = load_event("api-v1")
    slash["path"] = "/v1/remove/"
    assert fast(slash, context)["statusCode"] == 404


def test_the_fastapi_route_declares_the_options_the_fast_path_accepts(
    plain: CutoutService,
) -> None:
    paths = create_app(plain, Settings()).openapi()["paths"]
    declared = [p["name"] for p in paths["/v1/remove"]["post"]["parameters"] if p["in"] == "query"]
    assert tuple(declared) == REMOVE_OPTIONS
