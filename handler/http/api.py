"""The HTTP API (FastAPI): the same app runs locally under uvicorn and in Lambda under Mangum."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import Message

from handler import __version__
from handler.aws.observability import (
    RequestRecord,
    flush_local_metrics,
    in_current_trace,
    record_failure,
    record_outcome,
)
from handler.core.options import RemoveOptions
from handler.errors import (
    ClientGoneError,
    CutoutError,
    InvalidOptionError,
    MalformedBodyError,
    MissingFileError,
    OverloadedError,
    PayloadTooLargeError,
    RequestTimeoutError,
    ResultTooLargeError,
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
from handler.serving.budget import Holding
from handler.serving.deadline import run_within, time_budget_s
from handler.serving.service import CutoutService, Outcome
from handler.settings import Settings

if TYPE_CHECKING:
    from handler.aws.s3_media import MediaBucket

# A child of the Powertools "cutout" logger: same JSON format, no Powertools import here.
logger = logging.getLogger(f"cutout.{__name__}")
# python-multipart logs each parse failure itself, as a bare line through Python's last-resort
# handler; the request's own log line (malformed_body) already says it.
logging.getLogger("python_multipart").setLevel(logging.ERROR)

# On every response, errors included: browsers must not sniff an error body into HTML.
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff"}

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


def query_names(dependant: Any) -> set[str]:
    """The query parameters a route (and its dependencies) declares."""
    if dependant is None:
        return set()
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= query_names(sub)
    return names


def refuse_unknown_options(request: Request) -> None:
    """A query option the route does not declare is a typo, never silently ignored."""
    known = sorted(query_names(getattr(request.scope.get("route"), "dependant", None)))
    unknown = [name for name in request.query_params if name not in known]
    if unknown:
        names = ", ".join(repr(name[:40]) for name in unknown[:5])
        raise InvalidOptionError(
            f"unknown query option {names}; the options are {', '.join(known)}"
        )


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def server_timing(timings_ms: dict[str, float]) -> str:
    return ", ".join(f"{stage};dur={ms:.1f}" for stage, ms in timings_ms.items())


# A body that stops arriving for this long, or takes longer than this in all, is cut off (408):
# a client dribbling bytes must not hold a connection and its memory reservation indefinitely.
BODY_IDLE_TIMEOUT_S = 10.0
BODY_TIMEOUT_S = 60.0
# The body is held twice at one moment (its pieces, then joined): reserve both.
BODY_COPIES = 2


def declared_length(request: Request) -> int | None:
    """Content-Length as a number, None when absent; 400 when it is not a whole number."""
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit()):
        raise MalformedBodyError("Content-Length is not a whole number of bytes")
    digits = raw.lstrip("0")
    if len(digits) > 18:  # no int() of thousands of digits (Python refuses past 4,300)
        raise PayloadTooLargeError("the declared upload is far over the byte cap")
    return int(digits or "0")


async def read_capped_body(request: Request, cap: int, holding: Holding) -> bytes:
    """The raw body, refused from Content-Length (or while streaming) once it passes the cap.

    What it holds is reserved in the memory budget before it is read (from Content-Length, or
    piece by piece for a chunked body), so bodies in flight cannot add up past the tier: over
    the budget the answer is 503 with Retry-After. A client that stops sending gets 408; one
    that goes away is logged at info level, not as our fault.
    """
    declared = declared_length(request)
    if declared is not None:
        if declared > cap:
            raise PayloadTooLargeError(f"the upload is {declared} bytes; the cap is {cap} bytes")
        holding.grow(BODY_COPIES * declared)
    pieces: list[bytes] = []
    size = 0
    stream = request.stream()
    try:
        async with asyncio.timeout(BODY_TIMEOUT_S):
            while True:
                try:
                    chunk = await asyncio.wait_for(anext(stream), BODY_IDLE_TIMEOUT_S)
                except StopAsyncIteration:
                    break
                size += len(chunk)
                if size > cap:
                    raise PayloadTooLargeError(f"the upload is over the cap of {cap} bytes")
                if declared is None:
                    holding.grow(BODY_COPIES * len(chunk))
                pieces.append(chunk)
    except TimeoutError:
        raise RequestTimeoutError(
            f"the body did not arrive in time (at most {BODY_IDLE_TIMEOUT_S:.0f} s between "
            f"pieces, {BODY_TIMEOUT_S:.0f} s in all)"
        ) from None
    except ClientDisconnect:
        logger.info("the client went away during the upload (%d bytes read)", size)
        raise ClientGoneError("the client disconnected during the upload") from None
    return b"".join(pieces)


async def image_from_request(request: Request, cap: int, holding: Holding) -> bytes:
    """The image bytes: the whole body, or the multipart field `file`."""
    body = await read_capped_body(request, cap, holding)
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        return body

    async def replay() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=16)
    except Exception:  # python-multipart raises several types for a malformed body
        raise MalformedBodyError("the multipart body could not be parsed") from None
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise MissingFileError("multipart body has no file field named 'file'")
    data = await upload.read()
    await form.close()
    return data


class UploadRequest(BaseModel):
    """What a client declares before uploading straight to S3."""

    content_type: str = Field(description="image/jpeg, image/png, image/webp, image/gif, ...")
    content_length: int = Field(description="exact size in bytes of the file to upload")


def etag_matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 If-None-Match: '*' or a list of (possibly weak) entity tags."""
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


def tenant_of(request: Request) -> str:
    """The tenant the auth layer put on the request, else anonymous."""
    return str(getattr(request.state, "tenant", "anonymous"))


def image_response(outcome: Outcome) -> Response:
    headers = {
        "ETag": outcome.etag,
        "X-Cache": "HIT" if outcome.cache_hit else "MISS",
        "Server-Timing": server_timing(outcome.timings_ms),
        "Cache-Control": "private, max-age=86400",
    }
    return Response(content=outcome.data, media_type=outcome.media_type, headers=headers)


def oversized_response(service: CutoutService, outcome: Outcome, settings: Settings) -> Response:
    """A result over the inline limit: 303 to a presigned URL, or 413 when there is no bucket."""
    url = None
    if not outcome.cache_error:
        try:
            url = service.cache.result_url(outcome.key, settings.presign_ttl_seconds)
        except Exception as exc:  # presigning is local signing; treat any failure as no URL
            logger.warning("presigning failed: %s", type(exc).__name__)
    if url is None:
        raise ResultTooLargeError(
            f"the result is {len(outcome.data)} bytes, over the inline limit of "
            f"{settings.inline_limit_bytes} bytes; configure CUTOUT_CACHE_BUCKET for large "
            "results, or ask for format=webp or a smaller image"
        )
    headers = {
        "Location": url,
        "ETag": outcome.etag,
        "X-Cache": "HIT" if outcome.cache_hit else "MISS",
    }
    return Response(status_code=303, headers=headers)


def media_bucket(settings: Settings) -> MediaBucket | None:
    """The media bucket for presigned uploads and results, when one is configured."""
    if not settings.media_bucket:
        return None
    from handler.aws.s3_client import s3_client
    from handler.aws.s3_media import MediaBucket

    return MediaBucket(
        bucket=settings.media_bucket,
        client=s3_client(),
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
    async def on_cutout_error(request: Request, exc: CutoutError) -> JSONResponse:
        headers = {}
        if isinstance(exc, OverloadedError):
            headers["Retry-After"] = str(exc.retry_after_s)
        if isinstance(exc, RequestTimeoutError):
            headers["Connection"] = "close"  # the rest of its body is not worth waiting for
        if exc.status >= 500:
            logger.error("request failed: %s: %s", exc.code, exc.message)
        return JSONResponse(error_body(exc.code, exc.message), exc.status, headers=headers)

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
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error")
        # Starlette answers this one outside the middleware stack: add the headers here.
        return JSONResponse(
            error_body("internal_error", "an internal error occurred"),
            500,
            headers=SECURITY_HEADERS,
        )

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
        record = RequestRecord(entry="api", tenant=tenant_of(request))
        holding = Holding(service.budget)
        try:
            refuse_unknown_options(request)
            options = RemoveOptions.parse(
                format=format,
                mask=mask,
                bg_color=bg_color,
                crop=crop,
                crop_margin=crop_margin,
                edges=edges,
            )
            chosen = service.model_for(model).name
            record.model = chosen
            data = await image_from_request(request, service.tier.max_input_bytes, holding)
            record.input_bytes = len(data)
            scope = tenant_of(request) if settings.cache_scope == "tenant" else ""
            etag = service.key_for(data, options, chosen, scope).etag
            if etag_matches(request.headers.get("if-none-match", ""), etag):
                await run_in_threadpool(service.admit, data, options)  # no 304 for garbage
                return Response(status_code=304, headers={"ETag": etag})
            holding.release()  # from here the service's own reservation counts the body
            budget = time_budget_s(settings.time_budget_seconds, request.scope)
            remove = in_current_trace(service.remove)
            outcome = await run_within(
                budget,
                remove,
                data,
                options,
                model=chosen,
                time_budget_s=budget,
                cache_scope=scope,
            )
            record_outcome(record, outcome)
            if settings.inline_limit_bytes and len(outcome.data) > settings.inline_limit_bytes:
                return oversized_response(service, outcome, settings)
            return image_response(outcome)
        except CutoutError as exc:
            record_failure(record, exc)
            raise
        finally:
            holding.release()
            if "aws.event" not in request.scope:  # in Lambda, the handler's decorator flushes
                flush_local_metrics()

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
