"""The API with S3: the result cache, 304/303/413, presigned uploads and results."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from handler.aws.lambda_context import LocalLambdaContext
from handler.aws.s3_cache import S3Cache
from handler.aws.s3_client import s3_client
from handler.http.api import create_app
from handler.serving.service import CutoutService
from handler.settings import Settings
from tests.integration.s3_helpers import counting, s3_event_for
from tests.support import decode_image, encode_image, free_port, load_event, photo

pytestmark = pytest.mark.integration


@pytest.fixture
def s3(s3_endpoint: str) -> Any:
    client = s3_client()
    client.create_bucket(Bucket="cache")
    client.create_bucket(Bucket="media")
    return client


@pytest.fixture
def s3_service(service: CutoutService, s3: Any) -> CutoutService:
    service.cache = S3Cache("cache", s3)
    return service


def response_headers(response: dict[str, Any]) -> dict[str, str]:
    """Headers of a Lambda proxy response, lower-cased, single- or multi-value."""
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    for key, values in (response.get("multiValueHeaders") or {}).items():
        headers.setdefault(key.lower(), values[-1])
    return headers


def client_for(service: CutoutService, **settings: Any) -> TestClient:
    return TestClient(create_app(service, Settings(**settings)), raise_server_exceptions=False)


def test_miss_then_hit_through_the_lambda_handler_skips_inference(
    s3: Any, lambda_context: LocalLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    from handler import app, runtime

    model, session = counting(runtime.service.model)
    monkeypatch.setattr(runtime.service, "model", model)
    monkeypatch.setattr(runtime.service, "cache", S3Cache("cache", s3))
    event = load_event("api-v1", body=encode_image(photo(70, 50), "JPEG"))
    first = app.lambda_handler(event, lambda_context)
    second = app.lambda_handler(event, LocalLambdaContext())
    assert (first["statusCode"], second["statusCode"]) == (200, 200)
    assert response_headers(first)["x-cache"] == "MISS"
    assert response_headers(second)["x-cache"] == "HIT"
    assert base64.b64decode(first["body"]) == base64.b64decode(second["body"])
    assert session.calls == 1
    stored = s3.list_objects_v2(Bucket="cache")["Contents"]
    head = s3.head_object(Bucket="cache", Key=stored[0]["Key"])
    assert head["ContentType"] == "image/png"
    assert {"model", "source-sha256", "width", "height"} <= set(head["Metadata"])


def test_if_none_match_answers_304(s3_service: CutoutService) -> None:
    body = encode_image(photo(40, 40))
    with client_for(s3_service) as client:
        etag = client.post("/v1/remove", content=body).headers["etag"]
        again = client.post("/v1/remove", content=body, headers={"If-None-Match": etag})
        other = client.post("/v1/remove?mask=true", content=body, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag and again.content == b""
    assert other.status_code == 200


def test_large_result_is_a_303_to_a_presigned_url(s3_service: CutoutService) -> None:
    body = encode_image(photo(200, 150), "JPEG")
    with client_for(s3_service, inline_limit_bytes=1000) as client:
        response = client.post("/v1/remove", content=body, follow_redirects=False)
    assert response.status_code == 303
    fetched = httpx.get(response.headers["location"])
    assert fetched.status_code == 200
    assert decode_image(fetched.content).size == (200, 150)


def test_large_result_without_a_bucket_is_413(service: CutoutService) -> None:
    with client_for(service, inline_limit_bytes=1000) as client:
        response = client.post("/v1/remove", content=encode_image(photo(200, 150), "JPEG"))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "result_too_large"


def test_s3_down_during_a_request_still_serves_it(
    service: CutoutService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    s3_client.cache_clear()
    service.cache = S3Cache("cache", s3_client())
    with client_for(service) as client:
        response = client.post("/v1/remove", content=encode_image(photo(30, 20)))
    s3_client.cache_clear()
    assert response.status_code == 200 and response.headers["x-cache"] == "MISS"
    assert decode_image(response.content).size == (30, 20)


@pytest.fixture
def media_client(s3_service: CutoutService) -> Iterator[TestClient]:
    with client_for(s3_service, media_bucket="media") as client:
        yield client


def test_presigned_upload_then_trigger_then_result(
    media_client: TestClient, s3: Any, lambda_context: LocalLambdaContext
) -> None:
    from handler.app import s3_handler

    data = encode_image(photo(120, 80), "JPEG")
    answer = media_client.post(
        "/v1/uploads", json={"content_type": "image/jpeg", "content_length": len(data)}
    )
    assert answer.status_code == 201, answer.text
    plan = answer.json()
    assert plan["key"].startswith("uploads/") and plan["upload"]["method"] == "PUT"
    pending = media_client.get(plan["result"]["href"], follow_redirects=False)
    assert pending.status_code == 404 and pending.json()["error"]["code"] == "result_not_ready"
    assert pending.headers["retry-after"]
    put = httpx.put(plan["upload"]["url"], content=data, headers=plan["upload"]["headers"])
    assert put.status_code == 200
    s3_handler(s3_event_for("media", plan["key"], len(data)), lambda_context)
    done = media_client.get(plan["result"]["href"], follow_redirects=False)
    assert done.status_code == 303
    assert decode_image(httpx.get(done.headers["location"]).content).size == (120, 80)


def test_failed_upload_result_carries_the_reason(
    media_client: TestClient, s3: Any, lambda_context: LocalLambdaContext
) -> None:
    from handler.app import s3_handler

    s3.put_object(Bucket="media", Key="uploads/doc.jpg", Body=b"%PDF-1.7 not an image")
    s3_handler(s3_event_for("media", "uploads/doc.jpg"), lambda_context)
    response = media_client.get("/v1/results/doc.jpg")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unsupported_format"


@pytest.mark.parametrize(
    "declared,status,code",
    [
        ({"content_type": "application/pdf", "content_length": 10}, 422, "invalid_option"),
        ({"content_type": "image/png", "content_length": 10**12}, 413, "payload_too_large"),
        ({"content_type": "image/png"}, 422, "invalid_request"),
    ],
)
def test_upload_requests_are_validated(
    media_client: TestClient, declared: dict[str, Any], status: int, code: str
) -> None:
    response = media_client.post("/v1/uploads", json=declared)
    assert response.status_code == status and response.json()["error"]["code"] == code


def test_uploads_need_a_media_bucket(service: CutoutService) -> None:
    with client_for(service) as client:
        response = client.post(
            "/v1/uploads", json={"content_type": "image/png", "content_length": 5}
        )
    assert response.status_code == 404 and response.json()["error"]["code"] == "uploads_disabled"


def test_result_ids_cannot_climb_out(media_client: TestClient) -> None:
    response = media_client.get("/v1/results/../../etc/passwd")
    assert response.status_code == 404
