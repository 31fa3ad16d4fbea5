"""The Lambda API handler's ASGI app: POST /v1/remove without FastAPI, the rest through it.

Importing FastAPI and building its app (pydantic models for the OpenAPI description, routes,
dependencies) took ~390 ms of a 1.7 s Lambda-style cold start (docs/bench/cold-start.md), more
than any other part of the init phase. The route every image takes needs none of it: this app
answers POST /v1/remove with handler/http/remove.py, the same code the FastAPI route calls, and
hands every other request (health, uploads, results, docs, unknown paths) to the FastAPI app,
built on the first such request. Mangum turns the API Gateway event into the ASGI scope for both,
so they read requests and write responses the same way
(tests/functional/test_lambda_fast_path.py compares them event by event).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from mangum import Mangum
from mangum.protocols.http import HTTPCycle

from handler.errors import CutoutError, MalformedBodyError
from handler.http.auth import ApiKeys
from handler.http.remove import (
    SECURITY_HEADERS,
    RemoveRequest,
    Reply,
    body_chunks,
    error_reply,
    remove_reply,
    unexpected_reply,
)
from handler.serving.service import CutoutService
from handler.settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REMOVE_PATH = "/v1/remove"

logger = logging.getLogger(f"cutout.{__name__}")


def request_headers(scope: Scope) -> dict[str, str]:
    """Header names in lower case; of a repeated header, the first value (as Starlette reads)."""
    return {
        name.decode("latin-1").lower(): value.decode("latin-1")
        for name, value in reversed(scope.get("headers") or [])
    }


def query_pairs(scope: Scope) -> list[tuple[str, str]]:
    """The query string's (name, value) pairs, parsed as Starlette parses them."""
    return parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)


def raw_headers(reply: Reply) -> list[tuple[bytes, bytes]]:
    """The reply's headers as Starlette's Response writes them, with the security headers the
    FastAPI app's middleware adds: content-length (except for 1xx, 204 and 304) and
    content-type where the reply has a body type."""
    headers = {name.lower(): value for name, value in reply.headers.items()}
    if not (reply.status < 200 or reply.status in (204, 304)):
        headers.setdefault("content-length", str(len(reply.body)))
    if reply.media_type is not None:
        headers.setdefault("content-type", reply.media_type)
    for name, value in SECURITY_HEADERS.items():
        headers[name.lower()] = value
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


class FastPath:
    """POST /v1/remove here; everything else to `full_app()` (the FastAPI app)."""

    def __init__(
        self, service: CutoutService, settings: Settings, full_app: Callable[[], ASGIApp]
    ) -> None:
        self.service = service
        self.settings = settings
        self.keys = ApiKeys.of(settings.api_keys)
        self.full_app = full_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == REMOVE_PATH and scope["method"] == "POST":
            reply = await self.remove(scope, receive)
            await send(
                {
                    "type": "http.response.start",
                    "status": reply.status,
                    "headers": raw_headers(reply),
                }
            )
            await send({"type": "http.response.body", "body": reply.body})
            return
        await self.full_app()(scope, receive, send)

    async def remove(self, scope: Scope, receive: Receive) -> Reply:
        headers = request_headers(scope)
        try:
            request = RemoveRequest(
                headers=headers,
                query=query_pairs(scope),
                scope=scope,
                chunks=body_chunks(receive),
                tenant=self.keys.tenant_for(scope, headers),
            )
            return await remove_reply(self.service, self.settings, request)
        except CutoutError as exc:
            return error_reply(exc)
        except Exception:
            logger.exception("unexpected error")
            return unexpected_reply()


class LambdaAdapter(Mangum):
    """Mangum, except that an event it cannot turn into a request is a 400, not a crash.

    Mangum raises while reading such an event (a body flagged base64 that is not, a Host port
    that is not a number, a header that is not text), before any app runs; the invocation
    would fail and API Gateway answer 502. Only the reading is guarded: the app's own faults
    are its 500s, as before. The rest is Mangum's __call__ without lifespan (cutout runs none).
    """

    def __call__(self, event: Any, context: Any) -> dict[str, Any]:
        handler = self.infer(event, context)
        try:
            scope, body = handler.scope, handler.body
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            logger.warning("unreadable API Gateway event: %s", type(exc).__name__)
            return unreadable_event_answer(event)
        answer: dict[str, Any] = handler(HTTPCycle(scope, body)(self.app))
        return answer


def unreadable_event_answer(event: Any) -> dict[str, Any]:
    """400 malformed_body in the proxy response shape of the event's payload version."""
    error = MalformedBodyError("the request could not be read: its body or headers are malformed")
    reply = error_reply(error)
    answer: dict[str, Any] = {
        "statusCode": reply.status,
        "headers": {name.decode(): value.decode() for name, value in raw_headers(reply)},
        "body": reply.body.decode(),
        "isBase64Encoded": False,
    }
    if not (isinstance(event, dict) and event.get("version") == "2.0"):
        answer["multiValueHeaders"] = {}
    return answer
