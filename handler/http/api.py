"""The HTTP API (FastAPI): the same app runs locally under uvicorn and in Lambda under Mangum."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from handler import __version__
from handler.aws.observability import in_current_trace
from handler.errors import (
    CutoutError,
    StorageUnavailableError,
    UploadsDisabledError,
)
from handler.http.auth import ApiKeys
from handler.http.openapi import (
    DOCS_URL,
    REDOC_URL,
    Health,
    UploadCreated,
    error_responses,
    mount_offline_docs,
    offline_docs_available,
    typed_openapi,
)
from handler.http.remove import (
    SECURITY_HEADERS,
    RemoveRequest,
    Reply,
    body_chunks,
    error_body,
    error_reply,
    remove_reply,
    unexpected_reply,
)
from handler.serving.service import CutoutService
from handler.settings import Settings

if TYPE_CHECKING:
    from handler.aws.s3_media import MediaBucket

# A child of the Powertools "cutout" logger: same JSON format, no Powertools import here.
logger = logging.getLogger(f"cutout.{__name__}")

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}
_IMAGE_BODY = {
    "required": True,
    "content": {
        "image/*": {"schema": {"type": "string", "format": "binary"}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        },
    },
}
_IMAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The cutout (PNG by default), with X-Cache, ETag and Server-Timing.",
        "content": {"image/png": {}, "image/webp": {}, "image/jpeg": {}},
    },
    303: {
        "description": "In Lambda, a result over the inline limit (4 MB) with CUTOUT_CACHE_BUCKET "
        "set: Location is a short-lived presigned URL of the result."
    },
    304: {"description": "If-None-Match named the result's ETag: nothing is sent."},
    **error_responses(400, 401, 413, 415, 422, 500, 503),
}
_UPLOAD_RESPONSES = error_responses(
    401,
    404,
    413,
    422,
    500,
    503,
    only={
        "unauthorized",
        "uploads_disabled",
        "payload_too_large",
        "invalid_option",
        "invalid_request",
        "internal_error",
        "storage_unavailable",
    },
)
_RESULT_RESPONSES: dict[int | str, dict[str, Any]] = {
    303: {"description": "The cutout is ready: Location is a short-lived presigned URL."},
    **error_responses(
        401,
        404,
        500,
        503,
        only={
            "unauthorized",
            "not_found",
            "uploads_disabled",
            "result_not_ready",
            "internal_error",
            "storage_unavailable",
        },
    ),
    422: {
        **error_responses(422)[422],
        "description": "The S3 trigger refused the upload: the code is the trigger's own "
        "(e.g. `unsupported_format`, `image_too_large`, `corrupt_image`).",
    },
}


class UploadRequest(BaseModel):
    """What a client declares before uploading straight to S3."""

    content_type: str = Field(description="image/jpeg, image/png, image/webp, image/gif, ...")
    content_length: int = Field(description="exact size in bytes of the file to upload")


def tenant_of(request: Request) -> str:
    """The tenant the auth layer put on the request, else anonymous."""
    return str(getattr(request.state, "tenant", "anonymous"))


def response_of(reply: Reply) -> Response:
    return Response(
        content=reply.body,
        status_code=reply.status,
        headers=reply.headers,
        media_type=reply.media_type,
    )


def media_bucket(settings: Settings) -> MediaBucket | None:
    """The media bucket for presigned uploads and results, when one is configured."""
    if not settings.media_bucket:
        return None
    from handler.aws.s3_client import s3_client
    from handler.aws.s3_media import MediaBucket

    return MediaBucket(
        bucket=settings.media_bucket,
        client_factory=s3_client,
        input_prefix=settings.input_prefix,
        output_prefix=settings.output_prefix,
        ttl_seconds=settings.presign_ttl_seconds,
    )


def create_app(service: CutoutService, settings: Settings | None = None) -> FastAPI:
    """The FastAPI app around one service (one model, tier, cache and budget)."""
    settings = settings or Settings()
    media = media_bucket(settings)
    keys = ApiKeys.of(settings.api_keys)

    async def identify(request: Request) -> None:
        """Every route: the caller's tenant on request.state, or 401 when a key is required."""
        request.state.tenant = keys.tenant_for(request.scope, request.headers)

    offline_docs = offline_docs_available()
    app = FastAPI(
        title="cutout",
        version=__version__,
        summary="Background removal with U2-Net on ONNX Runtime.",
        dependencies=[Depends(identify)],
        docs_url=None if offline_docs else DOCS_URL,
        redoc_url=None if offline_docs else REDOC_URL,
        # No redirect to the slash-less path: its Location would come from the Host header, and
        # it would answer before the API-key check. /v1/remove/ is a 404 like any unknown path.
        redirect_slashes=False,
    )
    app.openapi = typed_openapi(app, list(service.models))  # type: ignore[method-assign]
    if offline_docs:
        mount_offline_docs(app)

    @app.exception_handler(CutoutError)
    async def on_cutout_error(request: Request, exc: CutoutError) -> Response:
        return response_of(error_reply(exc))

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = f"{where}: {first.get('msg', 'invalid request')}" if where else "invalid request"
        return JSONResponse(error_body("invalid_request", message), 422)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("unexpected error")
        # Starlette answers this one outside the middleware stack: its headers are in the reply.
        return response_of(unexpected_reply())

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.head("/healthz", include_in_schema=False)
    async def healthz_head() -> Response:
        """Liveness for probes that only look at the status (HEAD)."""
        return Response(status_code=200, media_type="application/json")

    @app.get("/healthz", response_model=Health, responses=error_responses(500))
    async def healthz() -> dict[str, Any]:
        """Liveness, the models loaded (the default first) and this tier's limits."""
        return {
            "status": "ok",
            "version": __version__,
            "model": service.model.model_id,
            "default_model": service.model.name,
            "models": {name: loaded.model_id for name, loaded in service.models.items()},
            "cache": service.cache.name,
            "uploads": media is not None,
            "limits": service.tier.as_dict(),
        }

    @app.post(
        "/v1/remove",
        openapi_extra={"requestBody": _IMAGE_BODY},
        responses=_IMAGE_RESPONSES,
        response_class=Response,
    )
    async def remove(
        request: Request,
        model: str | None = Query(None, description="a loaded model (GET /healthz lists them)"),
        format: str | None = Query(None, description="png (default), webp or jpeg"),
        mask: str | None = Query(None, description="true: answer the mask alone"),
        bg_color: str | None = Query(None, description="RRGGBB or RRGGBBAA background"),
        crop: str | None = Query(None, description="true: crop to the subject"),
        crop_margin: str | None = Query(None, description="pixels kept around the subject"),
        edges: str | None = Query(
            None, description="soft (default): the model's mask; sharp: rembg's hard edges"
        ),
    ) -> Response:
        """Remove the background of the image in the body (raw bytes or multipart `file`)."""
        del model, format, mask, bg_color, crop, crop_margin, edges  # read from the query below
        request_of = RemoveRequest(
            headers=request.headers,
            query=request.query_params.multi_items(),
            scope=request.scope,
            chunks=body_chunks(request.receive),
            tenant=tenant_of(request),
        )
        return response_of(await remove_reply(service, settings, request_of))

    @app.post(
        "/v1/uploads",
        status_code=201,
        response_model=UploadCreated,
        responses=_UPLOAD_RESPONSES,
    )
    async def create_upload(upload: UploadRequest) -> dict[str, Any]:
        """A presigned S3 PUT for images over the request size limit; the S3 trigger then
        writes the result, which GET /v1/results/{id} redirects to."""
        if media is None:
            raise UploadsDisabledError("uploads need CUTOUT_MEDIA_BUCKET to be configured")
        try:
            return await run_in_threadpool(
                in_current_trace(media.presign_upload),
                upload.content_type,
                upload.content_length,
                service.tier.max_input_bytes,
            )
        except CutoutError:
            raise
        except Exception as exc:
            raise StorageUnavailableError(
                f"could not presign the upload ({type(exc).__name__})"
            ) from None

    @app.get(
        "/v1/results/{result_id:path}",
        status_code=303,
        response_class=Response,
        responses=_RESULT_RESPONSES,
    )
    async def get_result(result_id: str) -> Response:
        """303 to the finished cutout of an upload; 404 result_not_ready while it is pending."""
        if media is None:
            raise UploadsDisabledError("results need CUTOUT_MEDIA_BUCKET to be configured")
        try:
            url = await run_in_threadpool(in_current_trace(media.result_url), result_id)
        except CutoutError as exc:
            if exc.code == "result_not_ready":
                return JSONResponse(
                    error_body(exc.code, exc.message), exc.status, headers={"Retry-After": "2"}
                )
            raise
        except Exception as exc:
            raise StorageUnavailableError(
                f"could not look up the result ({type(exc).__name__})"
            ) from None
        return Response(status_code=303, headers={"Location": url})

    return app
