"""handler.app.lambda_handler (Mangum) fed API Gateway v1 and v2 events from events/."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from PIL import Image

from handler.aws.lambda_context import LocalLambdaContext
from tests.support import encode_image, load_event, photo


@pytest.fixture(scope="module")
def lambda_handler() -> Any:
    from handler.app import lambda_handler

    return lambda_handler


def body_of(response: dict[str, Any]) -> bytes:
    assert response["isBase64Encoded"] is True
    return base64.b64decode(response["body"])


@pytest.mark.parametrize("event_name", ["api-v1", "api-v2"])
def test_sample_event_round_trips_to_a_png_of_the_input_size(
    lambda_handler: Any, lambda_context: LocalLambdaContext, event_name: str
) -> None:
    event = load_event(event_name)
    source = Image.open(io.BytesIO(base64.b64decode(event["body"])))
    response = lambda_handler(event, lambda_context)
    assert response["statusCode"] == 200
    headers = {k.lower(): v for k, v in response.get("headers", {}).items()}
    assert headers["content-type"] == "image/png"
    result = Image.open(io.BytesIO(body_of(response)))
    assert result.format == "PNG" and result.mode == "RGBA" and result.size == source.size


@pytest.mark.parametrize("event_name", ["api-v1", "api-v2"])
def test_bad_upload_is_a_json_4xx_not_a_500(
    lambda_handler: Any, lambda_context: LocalLambdaContext, event_name: str
) -> None:
    response = lambda_handler(load_event(event_name, body=b"<html>nope</html>"), lambda_context)
    assert response["statusCode"] == 415
    assert b'"unsupported_format"' in (
        base64.b64decode(response["body"])
        if response["isBase64Encoded"]
        else response["body"].encode()
    )


def test_v2_event_with_a_different_image(
    lambda_handler: Any, lambda_context: LocalLambdaContext
) -> None:
    event = load_event("api-v2", body=encode_image(photo(123, 77), "WEBP"))
    response = lambda_handler(event, lambda_context)
    assert response["statusCode"] == 200
    assert Image.open(io.BytesIO(body_of(response))).size == (123, 77)


@pytest.mark.parametrize("event_name", ["api-v1", "api-v2"])
@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda e: e.update(body="not base64!!"), id="body flagged base64 is not"),
        pytest.param(lambda e: e["headers"].update(host="example.com:abc"), id="host port"),
        pytest.param(lambda e: e["headers"].update({"content-type": 5}), id="header not text"),
    ],
)
def test_an_event_mangum_cannot_read_is_a_json_400_not_a_failed_invocation(
    lambda_handler: Any, lambda_context: LocalLambdaContext, event_name: str, spoil: Any
) -> None:
    event = load_event(event_name)
    event.pop("multiValueHeaders", None)
    spoil(event)
    response = lambda_handler(event, lambda_context)
    assert response["statusCode"] == 400
    assert response["headers"]["content-type"] == "application/json"
    assert response["headers"]["x-content-type-options"] == "nosniff"
    assert '"code":"malformed_body"' in response["body"] and response["isBase64Encoded"] is False
    assert ("multiValueHeaders" in response) == (event_name == "api-v1")
