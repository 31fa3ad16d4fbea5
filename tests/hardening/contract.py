"""The answer contract every entry point must keep for a corpus case, and its helpers."""

from __future__ import annotations

import base64
import io
import json
import sys
from pathlib import Path
from typing import Any

import PIL
from mangum import Mangum
from PIL import Image

from handler.http.api import create_app
from handler.http.fast_path import FastPath
from handler.serving.service import CutoutService
from handler.settings import Settings
from tests.hardening.corpus import Case
from tests.support import REPO


def decoded_size(data: bytes) -> tuple[int, int]:
    """Width and height of an encoded result."""
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def leaks_internals(message: str) -> list[str]:
    """Parts of an error message that would tell a client about our machine or code."""
    markers = {
        "repository path": str(REPO),
        "python prefix": sys.prefix,
        "Pillow path": str(Path(PIL.__file__).parent),
        "traceback": "Traceback (most recent call last)",
        "stack frame": 'File "',
    }
    return [name for name, marker in markers.items() if marker in message]


def check_answer(case: Case, status: int, headers: dict[str, str], body: bytes) -> None:
    """The contract for one corpus case, whatever the entry point (headers lower-cased)."""
    assert status < 500, (status, body[:300])
    assert headers.get("x-content-type-options") == "nosniff"
    if case.valid:
        assert status == 200, (status, body[:300])
        assert headers["content-type"] == "image/png"
        assert decoded_size(body) == case.size
        return
    assert (status, headers["content-type"]) == (case.status, "application/json"), body[:300]
    error = json.loads(body)["error"]
    assert error["code"] == case.code, error
    assert error["message"] and not leaks_internals(error["message"]), error


def lambda_api(service: CutoutService, settings: Settings | None = None) -> Mangum:
    """The API as handler.app runs it in Lambda: Mangum over the fast path, the FastAPI app
    behind it for the other routes."""
    settings = settings or Settings()
    full = create_app(service, settings)
    return Mangum(FastPath(service, settings, lambda: full), lifespan="off")


def lambda_answer(response: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """Status, lower-cased headers and body bytes of an API Gateway proxy response."""
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    for key, values in (response.get("multiValueHeaders") or {}).items():
        headers.setdefault(key.lower(), values[-1])
    raw = response.get("body") or ""
    body = base64.b64decode(raw) if response.get("isBase64Encoded") else raw.encode()
    return int(response["statusCode"]), headers, body
