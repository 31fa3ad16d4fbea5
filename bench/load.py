"""Bounded load test of the local server: N requests from C concurrent clients, then stop.

Starts `cutout serve` on 127.0.0.1 (a free port, result cache off so every request does the
work), sends a fixed number of requests from concurrent clients with a hard time limit, samples
the server's memory from /proc, and checks the load-shedding contract:

- every answer is a 200 image, or a 429/503 shed with Retry-After;
- no other 5xx and no connection errors;
- the server's peak RSS (VmHWM) stays within the memory tier.

Usage:
    .venv/bin/python bench/load.py [--requests 48] [--clients 8] [--megapixels 2]
        [--memory-mb 2048] [--time-limit 300] [--json results.json]

It only ever talks to the server it started, on loopback, and it exits non-zero when the
contract is broken.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

HOST = "127.0.0.1"
SHED_STATUSES = (429, 503)
STARTUP_LIMIT_S = 60.0


@dataclass(frozen=True)
class Answer:
    """One request's fate: an HTTP status (0 for a connection error) and its latency."""

    status: int
    seconds: float
    retry_after: str | None = None
    error_code: str | None = None
    connection_error: str | None = None


@dataclass
class LoadReport:
    """What a run measured, and whether it kept the contract."""

    requests: int
    clients: int
    megapixels: float
    memory_mb: int
    wall_seconds: float
    statuses: dict[str, int]
    error_codes: dict[str, int]
    shed_without_retry_after: int
    server_errors: int
    connection_errors: int
    unsent: int
    latency_p50_s: float
    latency_p95_s: float
    latency_max_s: float
    peak_rss_mb: float
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def synthetic_photo(megapixels: float, seed: int) -> bytes:
    """A JPEG of about this many megapixels: a bright disc on a gradient (varies by seed)."""
    width = max(16, int(math.sqrt(megapixels * 1e6 * 4 / 3)))
    height = max(16, int(width * 3 / 4))
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    radius = min(width, height) // 3
    cx, cy = width // 2 + seed % 7, height // 2
    ImageDraw.Draw(image).ellipse(
        (cx - radius, cy - radius, cx + radius, cy + radius), fill=(220, 40 + seed % 100, 60)
    )
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


class Server:
    """`cutout serve` in a subprocess, with its memory read from /proc."""

    def __init__(
        self,
        memory_mb: int,
        extra_env: dict[str, str] | None = None,
        *,
        checkout: Path | None = None,
    ) -> None:
        """`checkout`: run another checkout's code with its own .venv (a before/after run)."""
        self.port = free_port()
        env = dict(os.environ)
        env.update(
            {
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
                "CUTOUT_CACHE_DIR": "",  # cache off: every request runs the pipeline
                "POWERTOOLS_METRICS_NAMESPACE": "cutout-load",
            }
        )
        env.pop("CUTOUT_API_KEYS", None)
        env.update(extra_env or {})
        python = str(checkout / ".venv" / "bin" / "python") if checkout else sys.executable
        command = [python, "-m", "handler.cli", "serve", "--host", HOST]
        self.process = subprocess.Popen(
            [*command, "--port", str(self.port)],
            cwd=checkout,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_LIMIT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.stderr_tail()}")
            try:
                connection = http.client.HTTPConnection(HOST, self.port, timeout=2)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("server did not become ready")

    def rss_mb(self, field_name: str) -> float:
        """VmRSS (now) or VmHWM (peak since start) of the server process, in MB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024.0
        return 0.0

    def alive(self) -> bool:
        return self.process.poll() is None

    def stderr_tail(self) -> str:
        if self.process.stderr is None or self.alive():
            return ""
        return self.process.stderr.read().decode(errors="replace")[-2000:]

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stderr is not None:
            self.process.stderr.close()


def post_image(port: int, body: bytes, timeout_s: float) -> Answer:
    """One POST /v1/remove on a fresh connection (as independent clients would)."""
    started = time.perf_counter()
    try:
        connection = http.client.HTTPConnection(HOST, port, timeout=timeout_s)
        connection.request("POST", "/v1/remove", body=body, headers={"Content-Type": "image/jpeg"})
        response = connection.getresponse()
        payload = response.read()
        connection.close()
    except OSError as exc:  # refused, reset, timed out: all count as connection errors
        return Answer(0, time.perf_counter() - started, connection_error=type(exc).__name__)
    code = None
    if response.getheader("content-type", "").startswith("application/json"):
        code = str(json.loads(payload).get("error", {}).get("code"))
    return Answer(
        response.status,
        time.perf_counter() - started,
        retry_after=response.getheader("retry-after"),
        error_code=code,
    )


def retry_delay_s(header: str) -> float:
    """Retry-After in delta-seconds (the only form cutout sends); 1 s if unreadable."""
    try:
        return max(0.0, float(header))
    except ValueError:
        return 1.0


def run_load(
    *,
    requests: int = 48,
    clients: int = 8,
    megapixels: float = 2.0,
    memory_mb: int = 2048,
    time_limit_s: float = 300.0,
    honour_retry_after: bool = True,
    checkout: Path | None = None,
) -> LoadReport:
    """Start a server, send `requests` requests from `clients` threads, stop; never longer than
    the time limit (requests not sent by then are counted as unsent)."""
    bodies = [synthetic_photo(megapixels, seed) for seed in range(4)]
    server = Server(memory_mb, checkout=checkout)
    answers: list[Answer] = []
    lock = threading.Lock()
    issued = 0
    try:
        server.wait_ready()
        deadline = time.monotonic() + time_limit_s

        def client() -> None:
            nonlocal issued
            while True:
                with lock:
                    if issued >= requests or time.monotonic() >= deadline:
                        return
                    number = issued
                    issued += 1
                remaining = max(1.0, deadline - time.monotonic())
                answer = post_image(server.port, bodies[number % len(bodies)], remaining)
                with lock:
                    answers.append(answer)
                if honour_retry_after and answer.retry_after:
                    # A well-behaved client waits as told before its next request.
                    time.sleep(min(retry_delay_s(answer.retry_after), remaining))

        started = time.perf_counter()
        threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()) + 5)
        wall = time.perf_counter() - started
        peak = server.rss_mb("VmHWM") if server.alive() else float("nan")
        alive = server.alive()
    finally:
        server.stop()
    with lock:
        done = list(answers)
    return summarise(done, requests, clients, megapixels, memory_mb, wall, peak, alive)


def summarise(
    answers: list[Answer],
    requests: int,
    clients: int,
    megapixels: float,
    memory_mb: int,
    wall: float,
    peak_rss_mb: float,
    server_alive: bool,
) -> LoadReport:
    statuses = Counter(str(a.status) for a in answers if a.status)
    codes = Counter(a.error_code for a in answers if a.error_code)
    shed = [a for a in answers if a.status in SHED_STATUSES]
    latencies = sorted(a.seconds for a in answers if a.status == 200) or [float("nan")]
    report = LoadReport(
        requests=requests,
        clients=clients,
        megapixels=megapixels,
        memory_mb=memory_mb,
        wall_seconds=round(wall, 2),
        statuses=dict(sorted(statuses.items())),
        error_codes=dict(sorted(codes.items())),
        shed_without_retry_after=sum(1 for a in shed if not a.retry_after),
        server_errors=sum(1 for a in answers if a.status >= 500 and a.status != 503),
        connection_errors=sum(1 for a in answers if a.connection_error),
        unsent=requests - len(answers),
        latency_p50_s=round(statistics.median(latencies), 2),
        latency_p95_s=round(latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))], 2),
        latency_max_s=round(latencies[-1], 2),
        peak_rss_mb=round(peak_rss_mb, 1),
    )
    unexpected = sum(n for s, n in statuses.items() if s != "200" and int(s) not in SHED_STATUSES)
    checks = [
        (server_alive, "the server died"),
        (report.server_errors == 0, f"{report.server_errors} 5xx other than 503"),
        (report.connection_errors == 0, f"{report.connection_errors} connection errors"),
        (report.shed_without_retry_after == 0, "a shed answer without Retry-After"),
        (unexpected == 0, f"{unexpected} answers neither 200 nor shed"),
        (report.peak_rss_mb <= memory_mb, f"peak RSS {report.peak_rss_mb} MB > {memory_mb} MB"),
        (report.unsent == 0, f"{report.unsent} requests not sent within the time limit"),
    ]
    report.violations = [message for passed, message in checks if not passed]
    return report


def markdown_row(report: LoadReport) -> str:
    statuses = ", ".join(f"{n}x {s}" for s, n in report.statuses.items())
    return (
        f"| {report.memory_mb} | {report.megapixels:g} | {report.clients} | {report.requests} "
        f"| {statuses} | {report.server_errors} | {report.connection_errors} "
        f"| {report.latency_p50_s} / {report.latency_p95_s} | {report.peak_rss_mb:.0f} "
        f"| {report.wall_seconds:.0f} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=48)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--megapixels", type=float, default=2.0)
    parser.add_argument("--memory-mb", type=int, default=2048)
    parser.add_argument("--time-limit", type=float, default=300.0, metavar="SECONDS")
    parser.add_argument(
        "--no-backoff",
        action="store_true",
        help="clients send their next request at once instead of waiting for Retry-After",
    )
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument("--checkout", type=Path, help="serve this checkout's code (before/after)")
    args = parser.parse_args(argv)
    report = run_load(
        requests=args.requests,
        clients=args.clients,
        megapixels=args.megapixels,
        memory_mb=args.memory_mb,
        time_limit_s=args.time_limit,
        honour_retry_after=not args.no_backoff,
        checkout=args.checkout,
    )
    document: dict[str, Any] = {**asdict(report), "ok": report.ok}
    print(json.dumps(document, indent=2))
    print(markdown_row(report))
    if args.json:
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
