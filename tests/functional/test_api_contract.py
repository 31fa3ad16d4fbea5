"""What the API promises and what it does agree: typos are refused, OpenAPI is the real
contract, /docs works offline, and a wrong key is told apart from a missing one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from handler.http.api import create_app
from handler.http.openapi import ERROR_CODES
from handler.serving.service import CutoutService
from handler.settings import Settings
from tests.support import encode_image, photo


@pytest.fixture
def client(service: CutoutService) -> Iterator[TestClient]:
    with TestClient(create_app(service), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def spec(model: Any) -> dict[str, Any]:
    from handler.core.tiers import MemoryTier

    service = CutoutService(model=model, tier=MemoryTier.for_memory(2048))
    with TestClient(create_app(service)) as c:
        document: dict[str, Any] = c.get("/openapi.json").json()
    return document


def error_of(response: Any, status: int) -> dict[str, str]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, str] = body["error"]
    return error


@pytest.mark.parametrize("query", ["fromat=webp", "format=webp&colour=fff", "Format=png"])
def test_an_unknown_query_option_is_a_422_naming_it(client: TestClient, query: str) -> None:
    body = encode_image(photo(20, 20))
    error = error_of(client.post(f"/v1/remove?{query}", content=body), 422)
    assert error["code"] == "invalid_option"
    typo = [part.split("=")[0] for part in query.split("&") if part.split("=")[0] != "format"]
    assert f"unknown query option '{typo[0]}'" in error["message"]
    assert "format" in error["message"]  # and says which options there are


def test_crop_margin_without_crop_is_a_422(client: TestClient) -> None:
    body = encode_image(photo(20, 20))
    error = error_of(client.post("/v1/remove?crop_margin=16", content=body), 422)
    assert error["code"] == "invalid_option" and "crop=true" in error["message"]
    assert client.post("/v1/remove?crop=true&crop_margin=16", content=body).status_code == 200


def test_a_wrong_key_is_told_apart_from_a_missing_one(service: CutoutService) -> None:
    app = create_app(service, Settings(api_keys=frozenset({"right-key-0123456789"})))
    with TestClient(app, raise_server_exceptions=False) as locked:
        wrong = error_of(locked.post("/v1/remove", headers={"x-api-key": "nope"}), 401)
        missing = error_of(locked.post("/v1/remove"), 401)
        assets = locked.get("/docs/assets/swagger-ui-bundle.js")
    assert wrong["message"] == "the API key in the x-api-key header was not accepted"
    assert "send it in the x-api-key header" in missing["message"]
    assert assets.status_code == 200  # Swagger UI's own files need no key, as /docs


def test_docs_work_offline(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower() and "/docs/assets/swagger-ui-bundle.js" in page.text
    script = client.get("/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.content) > 100_000
    assert client.get("/docs/assets/swagger-ui.css").status_code == 200
    redoc = client.get("/redoc")
    assert redoc.status_code == 200 and "cdn" not in redoc.text.lower()
    assert client.get("/docs/assets/redoc.standalone.js").status_code == 200


def test_query_options_are_typed(spec: dict[str, Any]) -> None:
    params = {p["name"]: p["schema"] for p in spec["paths"]["/v1/remove"]["post"]["parameters"]}
    assert params["format"]["enum"] == ["png", "webp", "jpeg", "jpg"]
    assert params["format"]["default"] == "png"
    assert params["mask"] == {"type": "boolean", "default": False}
    assert params["crop"] == {"type": "boolean", "default": False}
    assert params["crop_margin"] == {
        "type": "integer",
        "minimum": 0,
        "maximum": 10000,
        "default": 0,
    }
    assert params["bg_color"]["pattern"].startswith("^#?")


def responses(spec: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    found: dict[str, Any] = spec["paths"][path][method]["responses"]
    return found


def test_remove_lists_every_status_it_answers(spec: dict[str, Any]) -> None:
    listed = responses(spec, "/v1/remove", "post")
    assert {"200", "303", "304", "400", "401", "413", "415", "422", "503"} <= set(listed)
    for status in ("400", "401", "413", "415", "422", "503"):
        schema = listed[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorResponse"}
        examples = listed[status]["content"]["application/json"]["examples"]
        assert set(examples) == set(ERROR_CODES[int(status)])
    codes_422 = set(listed["422"]["content"]["application/json"]["examples"])
    assert {"invalid_option", "corrupt_image", "too_large_for_format"} <= codes_422


def test_uploads_and_results_document_our_errors_not_fastapis(spec: dict[str, Any]) -> None:
    uploads = responses(spec, "/v1/uploads", "post")
    results = responses(spec, "/v1/results/{result_id}", "get")
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for listed in (uploads, results):
        for status, response in listed.items():
            if status.startswith(("4", "5")):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, status
    assert "uploads_disabled" in uploads["404"]["content"]["application/json"]["examples"]
    not_found = results["404"]["content"]["application/json"]["examples"]
    assert {"uploads_disabled", "result_not_ready"} <= set(not_found)
    assert uploads["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/UploadCreated"
    }
    assert "303" in results


def test_healthz_has_a_response_model(spec: dict[str, Any], client: TestClient) -> None:
    schema = responses(spec, "/healthz", "get")["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/Health"}
    health = spec["components"]["schemas"]["Health"]
    body = client.get("/healthz").json()
    assert set(body) == set(health["properties"])
    assert set(body["limits"]) == set(spec["components"]["schemas"]["Limits"]["properties"])


def test_a_malformed_multipart_body_leaks_no_bare_line(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """python-multipart's own warning would reach the terminal as a bare, non-JSON line."""
    body = b"--xyz\r\ngarbage\r\n\r\n--xyz--\r\n"
    headers = {"content-type": "multipart/form-data; boundary=xyz"}
    error = error_of(client.post("/v1/remove", content=body, headers=headers), 400)
    assert error["code"] == "malformed_body"
    assert not [r for r in caplog.records if r.name.startswith("python_multipart")]
