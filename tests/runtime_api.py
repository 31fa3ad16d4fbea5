"""A test double of Lambda's Runtime API on loopback, as moto is for S3: what a Lambda runtime
interface client (awslambdaric) talks to in a real execution environment.

The documented endpoints (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html):
GET  /2018-06-01/runtime/invocation/next           the next event, with the Lambda-Runtime-* headers
POST /2018-06-01/runtime/invocation/{id}/response  the handler's answer
POST /2018-06-01/runtime/invocation/{id}/error     the handler raised
POST /2018-06-01/runtime/init/error                 the init phase failed
and SnapStart's GET /2018-06-01/runtime/restore/next (answered when the snapshot is "restored").

Events are queued by the test. Once every one is answered, `invocation/next` waits, as Lambda's
does while no event comes, and the test ends the process with SIGTERM (as Lambda ends an idle
environment). (An error status there would not do: awslambdaric 4's C client crashes on it.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PREFIX = "/2018-06-01/runtime"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:cutout-ric"
TRACE_ID = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client ended with SIGTERM drops its connections: nothing to report."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass
class Invocation:
    """One queued event and what the client reported for it."""

    event: Any
    time_limit_ms: int = 30_000  # the deadline is this long after the event is handed out
    deadline_ms: int = 0  # epoch ms, set when handed out
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    response: Any = None
    error: dict[str, Any] | None = None
    error_type: str | None = None


@dataclass
class Calls:
    """Everything the client asked or reported, in order."""

    log: list[str] = field(default_factory=list)
    init_error: dict[str, Any] | None = None
    init_error_type: str | None = None


class FakeRuntimeApi:
    """The Runtime API for one runtime process: a queue of invocations served in order."""

    def __init__(self, invocations: list[Invocation]) -> None:
        self.invocations = invocations
        self.calls = Calls()
        self._next = 0
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def by_id(self, request_id: str) -> Invocation:
        return next(i for i in self.invocations if i.request_id == request_id)

    def __enter__(self) -> FakeRuntimeApi:
        self._thread.start()
        return self

    def all_answered(self) -> bool:
        return all(i.response is not None or i.error is not None for i in self.invocations)

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()

    def _take_next(self) -> Invocation | None:
        with self._lock:
            if self._next >= len(self.invocations):
                return None
            invocation = self.invocations[self._next]
            self._next += 1
            return invocation

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _answer(
                self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                api.calls.log.append(f"GET {self.path}")
                if self.path == f"{PREFIX}/invocation/next":
                    invocation = api._take_next()
                    if invocation is None:  # no more events: wait until the test ends
                        api._closing.wait()
                        self.close_connection = True
                        return
                    invocation.deadline_ms = int(time.time() * 1000) + invocation.time_limit_ms
                    body = json.dumps(invocation.event).encode()
                    self._answer(
                        200,
                        body,
                        {
                            "Content-Type": "application/json",
                            "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                            "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                            "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
                            "Lambda-Runtime-Trace-Id": TRACE_ID,
                        },
                    )
                elif self.path == f"{PREFIX}/restore/next":
                    self._answer(200)
                else:
                    self._answer(404)

            def do_POST(self) -> None:
                api.calls.log.append(f"POST {self.path}")
                body = self._body()
                error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
                parts = self.path.removeprefix(PREFIX).strip("/").split("/")
                if parts == ["init", "error"]:
                    api.calls.init_error = json.loads(body)
                    api.calls.init_error_type = error_type
                    self._answer(202, b'{"status": "OK"}')
                elif len(parts) == 3 and parts[0] == "invocation":
                    invocation = api.by_id(parts[1])
                    if parts[2] == "response":
                        invocation.response = json.loads(body)
                    else:
                        invocation.error = json.loads(body)
                        invocation.error_type = error_type
                    self._answer(202, b'{"status": "OK"}')
                else:
                    self._answer(404)

        return Handler


@dataclass
class RuntimeRun:
    """A finished runtime process: the Runtime API's record of it and what it printed."""

    api: FakeRuntimeApi
    returncode: int
    stdout: str
    stderr: str

    def log_lines(self) -> list[dict[str, Any]]:
        """The process's JSON log lines (Powertools' logger and EMF)."""
        lines = []
        for line in self.stdout.splitlines():
            line = line.strip().replace("\r", "\n")
            if line.startswith("{"):
                try:
                    lines.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return lines


def run_runtime(
    handler: str,
    invocations: list[Invocation],
    env: dict[str, str],
    *,
    command: list[str] | None = None,
    cwd: Path | None = None,
    timeout_s: float = 240.0,
) -> RuntimeRun:
    """`python -m awslambdaric HANDLER` (the image's entry point) against a fake Runtime API
    serving invocations, until it has answered them all (then SIGTERM) or exits by itself."""
    argv = [*(command or [sys.executable, "-m", "awslambdaric"]), handler]
    with (
        FakeRuntimeApi(invocations) as api,
        tempfile.TemporaryFile("w+") as stdout,
        tempfile.TemporaryFile("w+") as stderr,
    ):
        env = {**env, "AWS_LAMBDA_RUNTIME_API": api.address}
        with _process(argv, env, cwd, stdout, stderr) as process:
            deadline = time.monotonic() + timeout_s
            while process.poll() is None:
                if api.all_answered():
                    process.send_signal(signal.SIGTERM)
                    process.wait(timeout=60)
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(f"the runtime did not finish in {timeout_s} s")
                time.sleep(0.05)
        stdout.seek(0)
        stderr.seek(0)
        return RuntimeRun(api, process.returncode, stdout.read(), stderr.read())


@contextmanager
def _process(
    argv: list[str], env: dict[str, str], cwd: Path | None, stdout: Any, stderr: Any
) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=stdout, stderr=stderr, text=True, start_new_session=True
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
