"""The API's description: typed query options, error and response schemas, and /docs offline.

The routes in handler/http/api.py declare their query options as plain strings (the parsing and
its error messages live in handler/core/options.py); this module gives each option its real
type, values, default and range in the OpenAPI document, lists every error a route answers with
its codes, and serves Swagger UI and ReDoc from the `fastapi-offline` package's files when it
is installed (the `serve` extra), so /docs works without internet.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from handler.core.options import MAX_CROP_MARGIN

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
DOCS_ASSETS = "/docs/assets"
DOCS_PACKAGE = "fastapi_offline"
COLOR_PATTERN = "^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{8})$"
EDGES = ("soft", "sharp")

# Every error code a client can see, by status, with when it happens (README: The HTTP API).
ERROR_CODES: dict[int, dict[str, str]] = {
    400: {
        "empty_body": "the request has no body",
        "malformed_body": "the multipart body could not be parsed",
        "missing_file": "the multipart body has no field named `file`",
        "malformed_request": "`cutout serve`: HTTP framing that cannot be parsed",
    },
    401: {
        "unauthorized": "CUTOUT_API_KEYS is set and x-api-key is missing or not accepted",
    },
    404: {
        "not_found": "no such route or result",
        "uploads_disabled": "uploads and results need CUTOUT_MEDIA_BUCKET",
        "result_not_ready": "the S3 trigger has not written the result yet (Retry-After)",
    },
    408: {
        "request_timeout": "`cutout serve`: the header or the body arrived too slowly",
    },
    413: {
        "payload_too_large": "the body is over the tier's byte cap",
        "image_too_large": "the image is over the tier's pixel cap, or more than the time "
        "budget can finish in that format",
        "result_too_large": "the result is over the inline limit and there is no cache bucket",
    },
    415: {
        "unsupported_format": "not JPEG, PNG, WebP, GIF (first frame), BMP or TIFF (first page)",
    },
    422: {
        "invalid_option": "a query option (or upload field) is unknown or has a bad value",
        "invalid_request": "the JSON body does not match the schema",
        "corrupt_image": "the image is truncated or cannot be decoded",
        "too_large_for_format": "wider than WebP's 16383 px or JPEG's 65500 px",
        "image_too_complex": "more scans, chunks, frames, pages or strips than any image needs",
        "model_unavailable": "`model` names a model this deployment has not loaded",
    },
    500: {"internal_error": "a fault of ours (logged)"},
    503: {
        "overloaded": "the memory budget is full (Retry-After)",
        "processing_timeout": "the time budget ran out (Retry-After)",
        "storage_unavailable": "S3 failed for a step the answer depends on",
    },
}


class ErrorDetail(BaseModel):
    code: str = Field(description="a stable, machine-readable code")
    message: str = Field(description="one line for a person; safe to show")


class ErrorResponse(BaseModel):
    """Every error cutout answers: a 4xx for what the client sent, a 5xx for our own faults."""

    error: ErrorDetail


class Limits(BaseModel):
    memory_mb: int
    session_profile: str = Field(description="lean or fast (README: Memory tiers)")
    max_pixels: int
    max_megapixels: float
    max_input_bytes: int
    max_webp_pixels: int
    max_webp_megapixels: float
    models: list[str] = Field(description="the models this process holds (caps account for all)")


class Health(BaseModel):
    # Extra keys are passed through, not dropped: a field added to /healthz shows up even before
    # it is described here (the test in tests/functional/test_api_contract.py asks for both).
    model_config = ConfigDict(extra="allow")

    status: str = Field(description="`ok`")
    version: str
    model: str = Field(description="the default model's id (in cache keys and ETags)")
    default_model: str = Field(description="the default model's name")
    models: dict[str, str] = Field(description="every loaded model: name to id")
    cache: str = Field(description="off, local or s3")
    uploads: bool = Field(description="whether /v1/uploads and /v1/results are on")
    limits: Limits


class PresignedUpload(BaseModel):
    method: str = Field(description="`PUT`")
    url: str
    headers: dict[str, str] = Field(description="send exactly these (they are signed)")
    expires_in: int = Field(description="seconds the URL stays valid")


class UploadResult(BaseModel):
    key: str = Field(description="where the S3 trigger writes the cutout")
    href: str = Field(description="GET this for the result: /v1/results/{id}")


class UploadCreated(BaseModel):
    id: str
    key: str = Field(description="the S3 key of the upload")
    upload: PresignedUpload
    result: UploadResult


def error_responses(
    *statuses: int, only: Iterable[str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses for these error statuses: the error schema, and each code as an example.

    `only` limits the codes to those a route can really answer.
    """
    wanted = None if only is None else set(only)
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        codes = {
            code: when
            for code, when in ERROR_CODES[status].items()
            if wanted is None or code in wanted
        }
        responses[status] = {
            "model": ErrorResponse,
            "description": "; ".join(f"`{code}`: {when}" for code, when in codes.items()),
            "content": {
                "application/json": {
                    "examples": {
                        code: {"summary": when, "value": {"error": {"code": code, "message": when}}}
                        for code, when in codes.items()
                    }
                }
            },
        }
    return responses


def query_schemas(model_names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The real type, values, default and range of each /v1/remove query option."""
    boolean = {"type": "boolean", "default": False}
    return {
        "model": {"type": "string", "enum": list(model_names), "default": model_names[0]},
        "edges": {"type": "string", "enum": list(EDGES), "default": EDGES[0]},
        "format": {"type": "string", "enum": ["png", "webp", "jpeg", "jpg"], "default": "png"},
        "mask": boolean,
        "bg_color": {"type": "string", "pattern": COLOR_PATTERN},
        "crop": boolean,
        "crop_margin": {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_CROP_MARGIN,
            "default": 0,
        },
    }


def typed_openapi(app: FastAPI, model_names: Sequence[str]) -> Callable[[], dict[str, Any]]:
    """app.openapi, with each query option's schema replaced by its real one."""
    schemas = query_schemas(model_names)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            for operations in document.get("paths", {}).values():
                for operation in operations.values():
                    for parameter in operation.get("parameters", []):
                        if parameter.get("in") == "query" and parameter["name"] in schemas:
                            parameter["schema"] = schemas[parameter["name"]]
            app.openapi_schema = document
        return app.openapi_schema

    return openapi


def offline_docs_available() -> bool:
    """Whether the fastapi-offline package (the `serve` extra) is installed."""
    return importlib.util.find_spec(DOCS_PACKAGE) is not None


def mount_offline_docs(app: FastAPI) -> None:
    """Swagger UI at /docs and ReDoc at /redoc, their files served by the app itself from
    fastapi-offline's copy (Swagger UI 5, which reads OpenAPI 3.1).

    Make the app with docs_url=None and redoc_url=None first; without the package, FastAPI's
    own pages (which load their files from a CDN) are the fallback.
    """
    from starlette.staticfiles import StaticFiles

    static = importlib.resources.files(DOCS_PACKAGE) / "static"
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(static)), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(DOCS_URL, include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
        )

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,
        )
