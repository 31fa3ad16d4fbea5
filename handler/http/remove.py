"""POST /v1/remove without a web framework: what the route does, from the request's headers,
query and body to the reply's status, headers and bytes.

The FastAPI app (handler/http/api.py) and the Lambda API handler's fast path
(handler/http/fast_path.py) both call `remove_reply` and `error_reply`, so the route behaves
the same under uvicorn and in Lambda, where importing FastAPI and building its app would cost
more than a third of a cold start. Nothing here imports FastAPI, Starlette or pydantic, except
Starlette's form parser for a multipart body, imported when one arrives.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

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
)
from handler.serving.budget import Holding
from handler.serving.deadline import run_within, time_budget_s
from handler.serving.service import CutoutService, Outcome
from handler.settings import Settings

# A child of the Powertools "cutout" logger: same JSON format, no Powertools import here.
logger = logging.getLogger(f"cutout.{__name__}")
# python-multipart logs each parse failure itself, as a bare line through Python's last-resort
# handler; the request's own log line (malformed_body) already says it.
logging.getLogger("python_multipart").setLevel(logging.ERROR)

# The route's query options, in the order the API describes them. The FastAPI route declares
# the same names (tests/functional/test_lambda_fast_path.py checks), and anything else is a typo.
REMOVE_OPTIONS = ("model", "format", "mask", "bg_color", "crop", "crop_margin", "edges")
# On every response, errors included: browsers must not sniff an error body into HTML.
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff"}

# A body that stops arriving for this long, or takes longer than this in all, is cut off (408):
# a client dribbling bytes must not hold a connection and its memory reservation indefinitely.
BODY_IDLE_TIMEOUT_S = 10.0
BODY_TIMEOUT_S = 60.0
# The body is held twice at one moment (its pieces, then joined): reserve both.
BODY_COPIES = 2


@dataclass(frozen=True)
class Reply:
    """A response before any framework renders it: `headers` as the route sets them."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    media_type: str | None = None


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def json_bytes(content: Any) -> bytes:
    """JSON as the API writes it (Starlette's JSONResponse: compact, UTF-8)."""
    return json.dumps(
        content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


def error_reply(exc: CutoutError) -> Reply:
    """The JSON reply for a refused or failed request (its status and code are the error's)."""
    headers = {}
    if isinstance(exc, OverloadedError):
        headers["Retry-After"] = str(exc.retry_after_s)
    if isinstance(exc, RequestTimeoutError):
        headers["Connection"] = "close"  # the rest of its body is not worth waiting for
    if exc.status >= 500:
        logger.error("request failed: %s: %s", exc.code, exc.message)
    return Reply(
        exc.status, headers, json_bytes(error_body(exc.code, exc.message)), "application/json"
    )


def unexpected_reply() -> Reply:
    """A bug: 500 with no detail (the log has the trace)."""
    body = json_bytes(error_body("internal_error", "an internal error occurred"))
    return Reply(500, dict(SECURITY_HEADERS), body, "application/json")


def server_timing(timings_ms: dict[str, float]) -> str:
    return ", ".join(f"{stage};dur={ms:.1f}" for stage, ms in timings_ms.items())


def declared_length(headers: Mapping[str, str]) -> int | None:
    """Content-Length as a number, None when absent; 400 when it is not a whole number."""
    raw = headers.get("content-length")
    if raw is None:
        return None
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit()):
        raise MalformedBodyError("Content-Length is not a whole number of bytes")
    digits = raw.lstrip("0")
    if len(digits) > 18:  # no int() of thousands of digits (Python refuses past 4,300)
        raise PayloadTooLargeError("the declared upload is far over the byte cap")
    return int(digits or "0")


async def read_capped_body(
    headers: Mapping[str, str], chunks: AsyncIterator[bytes], cap: int, holding: Holding
) -> bytes:
    """The raw body, refused from Content-Length (or while streaming) once it passes the cap.

    What it holds is reserved in the memory budget before it is read (from Content-Length, or
    piece by piece for a chunked body), so bodies in flight cannot add up past the tier: over
    the budget the answer is 503 with Retry-After. A client that stops sending gets 408; one
    that goes away (`chunks` raises ClientGoneError) is logged at info level, not as our fault.
    """
    declared = declared_length(headers)
    reserved = 0  # body bytes the holding covers
    if declared is not None:
        if declared > cap:
            raise PayloadTooLargeError(f"the upload is {declared} bytes; the cap is {cap} bytes")
        holding.grow(BODY_COPIES * declared)
        reserved = declared
    pieces: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(BODY_TIMEOUT_S):
            while True:
                try:
                    chunk = await asyncio.wait_for(anext(chunks), BODY_IDLE_TIMEOUT_S)
                except StopAsyncIteration:
                    break
                size += len(chunk)
                if size > cap:
                    raise PayloadTooLargeError(f"the upload is over the cap of {cap} bytes")
                if size > reserved:  # chunked, or more than Content-Length said (in Lambda)
                    holding.grow(BODY_COPIES * (size - reserved))
                    reserved = size
                pieces.append(chunk)
    except TimeoutError:
        raise RequestTimeoutError(
            f"the body did not arrive in time (at most {BODY_IDLE_TIMEOUT_S:.0f} s between "
            f"pieces, {BODY_TIMEOUT_S:.0f} s in all)"
        ) from None
    except ClientGoneError:
        logger.info("the client went away during the upload (%d bytes read)", size)
        raise
    return b"".join(pieces)


async def file_field(scope: Mapping[str, Any], body: bytes) -> bytes:
    """The multipart field `file` of a read body (Starlette's parser, python-multipart)."""
    from starlette.requests import Request

    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(dict(scope), replay).form(max_files=1, max_fields=16)
    except Exception:  # python-multipart raises several types for a malformed body
        raise MalformedBodyError("the multipart body could not be parsed") from None
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise MissingFileError("multipart body has no file field named 'file'")
    data = await upload.read()
    await form.close()
    return data


async def body_chunks(
    receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
) -> AsyncIterator[bytes]:
    """The request body's pieces as the server hands them over."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGoneError("the client disconnected during the upload")
        if message["type"] != "http.request":
            continue
        if body := message.get("body", b""):
            yield body
        if not message.get("more_body", False):
            return


def etag_matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 If-None-Match: '*' (the whole field) or a list of (possibly weak) entity tags.

    `W/*` is no entity tag: it matches nothing, as any other malformed one.
    """
    if if_none_match.strip() == "*":
        return True
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in candidates


def refuse_unknown_options(query: Sequence[tuple[str, str]]) -> None:
    """A query option the route does not declare is a typo, never silently ignored."""
    unknown = [name for name, _ in query if name not in REMOVE_OPTIONS]
    if unknown:
        names = ", ".join(repr(name[:40]) for name in unknown[:5])
        known = ", ".join(sorted(REMOVE_OPTIONS))
        raise InvalidOptionError(f"unknown query option {names}; the options are {known}")


def image_reply(outcome: Outcome) -> Reply:
    headers = {
        "ETag": outcome.etag,
        "X-Cache": "HIT" if outcome.cache_hit else "MISS",
        "Server-Timing": server_timing(outcome.timings_ms),
        "Cache-Control": "private, max-age=86400",
    }
    return Reply(200, headers, outcome.data, outcome.media_type)


def oversized_reply(service: CutoutService, outcome: Outcome, settings: Settings) -> Reply:
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
    return Reply(303, headers)


@dataclass(frozen=True)
class RemoveRequest:
    """What the route reads of a request, whichever server carries it.

    `headers` are lower-case names; `query` is every (name, value) pair in order (a repeated
    option takes its last value); `scope` is the ASGI scope (Mangum puts the Lambda event and
    context in it); `chunks` yields the body.
    """

    headers: Mapping[str, str]
    query: Sequence[tuple[str, str]]
    scope: Mapping[str, Any]
    chunks: AsyncIterator[bytes]
    tenant: str


async def remove_reply(service: CutoutService, settings: Settings, request: RemoveRequest) -> Reply:
    """POST /v1/remove: the cutout of the image in the body (raw bytes or multipart `file`).

    Refusals raise CutoutError (the caller renders `error_reply`); each is recorded in the
    request's log line and metrics before it leaves.
    """
    record = RequestRecord(entry="api", tenant=request.tenant)
    holding = Holding(service.budget)
    try:
        refuse_unknown_options(request.query)
        given = dict(request.query)
        options = RemoveOptions.parse(
            format=given.get("format"),
            mask=given.get("mask"),
            bg_color=given.get("bg_color"),
            crop=given.get("crop"),
            crop_margin=given.get("crop_margin"),
            edges=given.get("edges"),
        )
        chosen = service.model_for(given.get("model")).name
        record.model = chosen
        cap = service.tier.max_input_bytes
        data = await read_capped_body(request.headers, request.chunks, cap, holding)
        content_type = request.headers.get("content-type", "").lower()
        if content_type.startswith("multipart/form-data"):
            data = await file_field(request.scope, data)
        record.input_bytes = len(data)
        scope = request.tenant if settings.cache_scope == "tenant" else ""
        etag = service.key_for(data, options, chosen, scope).etag
        if etag_matches(request.headers.get("if-none-match", ""), etag):
            await asyncio.to_thread(service.admit, data, options)  # no 304 for garbage
            return Reply(304, {"ETag": etag})
        holding.release()  # from here the service's own reservation counts the body
        budget = time_budget_s(settings.time_budget_seconds, request.scope)
        outcome = await run_within(
            budget,
            in_current_trace(service.remove),
            data,
            options,
            model=chosen,
            time_budget_s=budget,
            cache_scope=scope,
        )
        record_outcome(record, outcome)
        if settings.inline_limit_bytes and len(outcome.data) > settings.inline_limit_bytes:
            return oversized_reply(service, outcome, settings)
        return image_reply(outcome)
    except CutoutError as exc:
        record_failure(record, exc)
        raise
    finally:
        holding.release()
        if "aws.event" not in request.scope:  # in Lambda, the handler's decorator flushes
            flush_local_metrics()
