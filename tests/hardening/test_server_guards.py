"""`cutout serve`'s guards (handler/http/server.py) with real sockets on loopback: slow headers and
slow bodies are cut off, many of them lock nobody out, malformed framing and overload answer in
cutout's JSON, and bodies are reserved in the memory budget before they are buffered. Counts and
waits are bounded; the deadlines are shortened for the test."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from handler.http import remove, server
from handler.http.api import create_app
from handler.serving.service import CutoutService
from tests.hardening.corpus import good_photo
from tests.support import free_port, run_in_own_loop

SOCKET_WAIT_S = 10.0  # the most any socket read here waits


@pytest.fixture
def served(service: CutoutService, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """The app under the guarded uvicorn, in a thread, with short deadlines; yields the port."""
    monkeypatch.setattr(server, "HEADER_TIMEOUT_S", 1.0)
    monkeypatch.setattr(server, "RECEIPT_TIMEOUT_S", 3.0)
    monkeypatch.setattr(remove, "BODY_IDLE_TIMEOUT_S", 0.5)
    port = free_port()
    config = uvicorn.Config(
        server.InFlightLimit(create_app(service)),
        host="127.0.0.1",
        port=port,
        http=server.GuardedH11Protocol,
        log_level="warning",
        lifespan="off",
    )
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    yield port
    instance.should_exit = True
    thread.join(10)


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=SOCKET_WAIT_S)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection (bounded by the socket timeout)."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def read_response(sock: socket.socket) -> bytes:
    """One response with a Content-Length, on a connection that stays open."""
    raw = b""
    while b"\r\n\r\n" not in raw:
        raw += sock.recv(65536) or b"\r\n\r\n"
    head, _, body = raw.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def status_and_json(raw: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, json.loads(body)


def request(port: int, raw: bytes) -> bytes:
    with connect(port) as sock:
        sock.sendall(raw)  # no half-close: asyncio closes the transport on EOF
        return read_all(sock)


def test_a_header_that_never_completes_is_cut_off_with_a_json_408(served: int) -> None:
    with connect(served) as sock:
        sock.sendall(b"POST /v1/remove HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a")
        status, headers, body = status_and_json(read_all(sock))
    assert status == 408 and body["error"]["code"] == "request_timeout"
    assert headers["content-type"] == "application/json"


def test_a_body_that_stops_arriving_is_a_json_408(served: int) -> None:
    with connect(served) as sock:
        sock.sendall(
            b"POST /v1/remove HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5000\r\n\r\n"
            + b"\xff\xd8\xff" * 10
        )
        status, _, body = status_and_json(read_all(sock))
    assert status == 408 and body["error"]["code"] == "request_timeout"


def test_a_hundred_dribbling_clients_lock_nobody_out(served: int) -> None:
    """More than uvicorn's old limit of 64: a well-behaved client is still served meanwhile,
    and the dribblers are all disconnected by the header deadline."""
    dribblers = []
    try:
        for _ in range(100):
            sock = connect(served)
            dribblers.append(sock)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
        healthy = request(served, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert healthy.startswith(b"HTTP/1.1 200 ")
        for sock in dribblers:
            assert read_all(sock).startswith(b"HTTP/1.1 408 ")
    finally:
        for sock in dribblers:
            sock.close()


@pytest.mark.parametrize("length", [b"12abc", b"-1", b"1, 2"])
def test_malformed_framing_is_a_json_400(served: int, length: bytes) -> None:
    raw = b"POST /v1/remove HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n"
    status, headers, body = status_and_json(request(served, raw))
    assert status == 400 and body["error"]["code"] == "malformed_request"
    assert headers["x-content-type-options"] == "nosniff"


def test_a_finished_request_on_a_kept_alive_connection_is_not_cut(served: int) -> None:
    """The header deadline runs for each request's header, not for the connection's life."""
    with connect(served) as sock:
        for _ in range(4):  # 4 x 0.3 s: the connection outlives the 1 s header deadline
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(sock).startswith(b"HTTP/1.1 200 ")
            time.sleep(0.3)


# --- the limit on requests in flight (ASGI, no sockets) ------------------------------------------


def test_requests_past_the_in_flight_limit_get_a_json_503_with_retry_after() -> None:
    release = asyncio.Event()

    async def slow_app(scope: Any, receive: Any, send: Any) -> None:
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    limited = server.InFlightLimit(slow_app, limit=1)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def scenario() -> None:
        first = asyncio.create_task(limited({"type": "http"}, receive, send))
        await asyncio.sleep(0)
        await limited({"type": "http"}, receive, send)  # refused at once
        release.set()
        await first

    run_in_own_loop(scenario())
    start = sent[0]
    headers = dict(start["headers"])
    assert start["status"] == 503 and int(headers[b"retry-after"]) > 0
    assert json.loads(sent[1]["body"])["error"]["code"] == "overloaded"
    assert sent[2]["status"] == 200 and limited.in_flight == 0


# --- bodies reserved in the memory budget --------------------------------------------------------


@pytest.fixture
def client(service: CutoutService) -> Iterator[TestClient]:
    with TestClient(create_app(service), raise_server_exceptions=False) as c:
        yield c


def test_a_declared_body_over_the_budget_is_refused_before_it_is_read(
    client: TestClient, service: CutoutService
) -> None:
    body = b"\x00" * 100_000
    taken = service.budget.capacity_bytes - len(body)  # others' images and bodies in flight
    service.budget.take(taken)
    try:
        answer = client.post("/v1/remove", content=body)
    finally:
        service.budget.give_back(taken)
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "overloaded"
    assert int(answer.headers["retry-after"]) > 0
    assert service.budget.in_use == 0
    assert client.post("/v1/remove", content=good_photo()).status_code == 200


def test_a_chunked_body_is_counted_as_it_arrives(
    client: TestClient, service: CutoutService
) -> None:
    sent: list[int] = []

    def pieces() -> Iterator[bytes]:
        for _ in range(50):
            sent.append(1)
            yield b"\x00" * 100_000

    taken = service.budget.capacity_bytes - 1_000_000
    service.budget.take(taken)
    try:
        answer = client.post("/v1/remove", content=pieces())  # no Content-Length: chunked
    finally:
        service.budget.give_back(taken)
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "overloaded"
    assert service.budget.in_use == 0


def test_a_body_longer_than_its_content_length_is_counted_whole(service: CutoutService) -> None:
    """In Lambda the body arrives whole, whatever Content-Length says: a header that understates
    it must not let the body past the memory budget."""
    from handler.aws.lambda_context import LocalLambdaContext
    from tests.hardening.contract import lambda_answer, lambda_api
    from tests.support import load_event

    body = b"\x00" * 1_000_000
    event = load_event("api-v1", body=body)
    event["headers"]["Content-Length"] = event["multiValueHeaders"]["Content-Length"][0] = "10"
    taken = service.budget.capacity_bytes - 100_000  # room for the declared 10 bytes, not 1 MB
    service.budget.take(taken)
    try:
        status, _, answer = lambda_answer(lambda_api(service)(event, LocalLambdaContext()))
    finally:
        service.budget.give_back(taken)
    assert status == 503 and b'"overloaded"' in answer
    assert service.budget.in_use == 0
