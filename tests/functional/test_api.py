"""The FastAPI app through TestClient: routes, options, headers and the error contract."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient

from handler.http.api import create_app
from handler.serving.service import CutoutService
from tests.support import decode_image, encode_image, fixture_bytes, photo


@pytest.fixture
def client(service: CutoutService) -> Iterator[TestClient]:
    with TestClient(create_app(service), raise_server_exceptions=False) as c:
        yield c


def assert_error(response, status: int, code: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"]


def test_raw_body_gives_a_png_cutout_with_headers(client: TestClient) -> None:
    response = client.post("/v1/remove", content=fixture_bytes("car-1"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-cache"] == "MISS"
    assert response.headers["etag"].startswith('"')
    assert response.headers["x-content-type-options"] == "nosniff"
    timing = response.headers["server-timing"]
    assert "decode;dur=" in timing and "inference;dur=" in timing and "encode;dur=" in timing
    image = decode_image(response.content)
    assert image.mode == "RGBA" and image.size == (480, 360)


def test_multipart_field_file(client: TestClient) -> None:
    response = client.post(
        "/v1/remove?format=webp", files={"file": ("car.jpg", fixture_bytes("car-1"), "image/jpeg")}
    )
    assert response.status_code == 200 and response.headers["content-type"] == "image/webp"
    assert decode_image(response.content).size == (480, 360)


def test_second_identical_request_is_a_cache_hit(client: TestClient) -> None:
    body = encode_image(photo(64, 48), "JPEG")
    first = client.post("/v1/remove", content=body)
    second = client.post("/v1/remove?format=png&mask=false", content=body)
    assert second.headers["x-cache"] == "HIT"
    assert second.content == first.content and second.headers["etag"] == first.headers["etag"]


@pytest.mark.parametrize(
    "query,mode,size",
    [
        ("mask=true", "L", (96, 64)),
        ("format=jpeg", "RGB", (96, 64)),
        ("bg_color=ff00ff", "RGB", (96, 64)),
        ("bg_color=ff00ff80", "RGBA", (96, 64)),
    ],
)
def test_options(client: TestClient, query: str, mode: str, size: tuple[int, int]) -> None:
    response = client.post(f"/v1/remove?{query}", content=encode_image(photo(96, 64)))
    assert response.status_code == 200, response.text
    image = decode_image(response.content)
    assert image.mode == mode and image.size == size


def test_sharp_edges_give_a_binary_alpha_and_their_own_cache_entry(client: TestClient) -> None:
    body = fixture_bytes("car-1")
    soft = client.post("/v1/remove", content=body)
    sharp = client.post("/v1/remove?edges=sharp", content=body)
    assert sharp.status_code == 200 and sharp.headers["x-cache"] == "MISS"
    assert sharp.headers["etag"] != soft.headers["etag"]
    soft_alpha = np.asarray(decode_image(soft.content).getchannel("A"))
    sharp_alpha = np.asarray(decode_image(sharp.content).getchannel("A"))
    assert len(np.unique(soft_alpha)) > 2
    assert set(np.unique(sharp_alpha).tolist()) == {0, 255}
    again = client.post("/v1/remove?edges=SHARP", content=body)
    assert again.headers["x-cache"] == "HIT" and again.content == sharp.content
    assert client.post("/v1/remove?edges=soft", content=body).headers["x-cache"] == "HIT"


def test_crop_shrinks_to_the_subject(client: TestClient) -> None:
    full = decode_image(client.post("/v1/remove", content=fixture_bytes("car-1")).content)
    cropped = decode_image(
        client.post("/v1/remove?crop=true&crop_margin=4", content=fixture_bytes("car-1")).content
    )
    assert cropped.width <= full.width and cropped.height < full.height


@pytest.mark.parametrize(
    "query",
    ["format=tiff", "mask=perhaps", "bg_color=zzzzzz", "crop=yes&crop_margin=-3", "edges=hard"],
)
def test_bad_query_values_are_422(client: TestClient, query: str) -> None:
    assert_error(client.post(f"/v1/remove?{query}", content=b"x"), 422, "invalid_option")


@pytest.mark.parametrize(
    "body,status,code",
    [
        (b"", 400, "empty_body"),
        (b"just some text", 415, "unsupported_format"),
        (b"%PDF-1.4 ...", 415, "unsupported_format"),
    ],
)
def test_bad_bodies_are_4xx(client: TestClient, body: bytes, status: int, code: str) -> None:
    assert_error(client.post("/v1/remove", content=body), status, code)


def test_truncated_image_is_422(client: TestClient) -> None:
    data = encode_image(photo(300, 200), "JPEG")
    assert_error(client.post("/v1/remove", content=data[: len(data) // 3]), 422, "corrupt_image")


def test_multipart_without_file_field(client: TestClient) -> None:
    response = client.post("/v1/remove", files={"image": ("a.jpg", b"123", "image/jpeg")})
    assert_error(response, 400, "missing_file")


def test_declared_length_over_the_cap_is_refused_before_reading(
    client: TestClient, service: CutoutService
) -> None:
    cap = service.tier.max_input_bytes
    response = client.post(
        "/v1/remove", content=b"\0" * 16, headers={"content-length": str(cap + 1)}
    )
    assert_error(response, 413, "payload_too_large")


def test_unknown_route_and_method_are_json(client: TestClient) -> None:
    assert_error(client.get("/nope"), 404, "not_found")
    assert_error(client.get("/v1/remove"), 405, "method_not_allowed")


def test_healthz_reports_model_and_limits(client: TestClient, service: CutoutService) -> None:
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["model"].startswith("u2netp-")
    assert body["limits"]["max_pixels"] == service.tier.max_pixels
    assert body["limits"]["memory_mb"] == 2048


def test_openapi_docs(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/remove"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in body and "image/*" in body
