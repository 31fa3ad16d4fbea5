"""The local server (`cutout serve`): uvicorn's h11 protocol with read deadlines, and the app
behind a limit on requests in flight, so that every refusal is cutout's JSON.

uvicorn has no timeout for receiving a request: its keep-alive timer is reset by every byte, so
a client that dribbles its header or body holds the connection for ever, and uvicorn's own
`limit_concurrency` answers a plain-text 503 once 64 such clients are connected. Here:

- a request's header must be complete within HEADER_TIMEOUT_S of the connection opening (or of
  the previous response): else 408 JSON and the connection is closed;
- its body must be complete within RECEIPT_TIMEOUT_S of the header (a backstop: the API's own
  body reader answers 408 before that, handler/http/api.py);
- at most MAX_IN_FLIGHT requests are inside the app at once; past that, 503 JSON with
  Retry-After (the memory budget sheds image work well before it);
- a malformed request (a bad Content-Length, say) is answered 400 in JSON, not plain text.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from handler.http.remove import BODY_TIMEOUT_S, SECURITY_HEADERS, error_body

HEADER_TIMEOUT_S = 10.0
RECEIPT_TIMEOUT_S = BODY_TIMEOUT_S + 5.0
MAX_IN_FLIGHT = 64
IN_FLIGHT_RETRY_AFTER_S = 1
# Connections waiting to be accepted, and how long an idle keep-alive connection stays open.
BACKLOG = 128
KEEP_ALIVE_S = 5


def raw_json_response(status: int, reason: str, code: str, message: str) -> bytes:
    """A whole HTTP/1.1 response that closes the connection, for answers outside any request."""
    body = json.dumps(error_body(code, message)).encode()
    head = [
        f"HTTP/1.1 {status} {reason}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        "connection: close",
        *(f"{name}: {value}" for name, value in SECURITY_HEADERS.items()),
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header deadline, a body backstop and JSON 400s."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_for: object = None  # h11.IDLE or h11.SEND_BODY while a deadline runs

    def _track(self) -> None:
        """Arm the deadline for what the client owes now: a header (IDLE) or a body."""
        state = self.conn.their_state
        if state is self._waiting_for:
            return
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._waiting_for = state if state in (h11.IDLE, h11.SEND_BODY) else None
        if self._waiting_for is not None:
            seconds = HEADER_TIMEOUT_S if state is h11.IDLE else RECEIPT_TIMEOUT_S
            self._deadline = self.loop.call_later(seconds, self._on_deadline)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._track()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        self._track()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._track()  # the next request's header, on a kept-alive connection

    def _on_deadline(self) -> None:
        self._deadline = None
        self._waiting_for = None
        if self.transport.is_closing():
            return
        if self.conn.their_state is h11.IDLE:  # the header never completed
            self.logger.info("closing a connection whose request header did not arrive in time")
            message = f"the request header did not arrive within {HEADER_TIMEOUT_S:.0f} s"
            response = raw_json_response(408, "Request Timeout", "request_timeout", message)
            if self.cycle is None or self.cycle.response_complete:
                self.transport.write(response)
            self.transport.close()
        elif self.conn.their_state is h11.SEND_BODY:  # the app gets http.disconnect
            self.logger.info("closing a connection whose body did not arrive in time")
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        """A request h11 cannot parse: 400 in cutout's JSON, then close."""
        self.transport.write(
            raw_json_response(400, "Bad Request", "malformed_request", f"{msg} (HTTP framing)")
        )
        self.transport.close()


class InFlightLimit:
    """ASGI middleware: at most `limit` HTTP requests inside the app; past it, 503 JSON."""

    def __init__(self, app: Any, limit: int = MAX_IN_FLIGHT) -> None:
        self.app = app
        self.limit = limit
        self.in_flight = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            await self._refuse(send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _refuse(self, send: Any) -> None:
        body = json.dumps(
            error_body("overloaded", "the server has too many requests in flight; retry shortly")
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(IN_FLIGHT_RETRY_AFTER_S).encode()),
            *((name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def serve(app: Any, listener: socket.socket) -> None:
    """Run the app under uvicorn on an already bound socket, with the guards above, until
    interrupted."""
    import uvicorn

    host, port = listener.getsockname()[:2]
    config = uvicorn.Config(
        InFlightLimit(app),
        host=host,
        port=port,
        http=GuardedH11Protocol,
        log_level="warning",
        backlog=BACKLOG,
        timeout_keep_alive=KEEP_ALIVE_S,
    )
    uvicorn.Server(config).run(sockets=[listener])
