"""Large and slow clients against the local server, bounded in count and time.

Two scenarios, each against a `cutout serve` it starts on 127.0.0.1 (bench/load.py's Server):

- `bodies`: C clients upload N MiB each at once (bytes that are no image, so the answer is
  decided by the body handling, not by decoding). Reports every status and error code, and the
  server's resident memory before (VmRSS after one 1 MP image, so the model's working set is
  there as in a server that has been serving) and at its peak (VmHWM).
- `dribble`: D connections each send part of a request header, then one more byte every second;
  meanwhile a well-behaved client asks GET /healthz every 0.5 s. Reports what the well-behaved
  client got and when the server closed the dribblers.

`--checkout DIR` runs another checkout's server (its own .venv), for before/after figures.

Usage:
    .venv/bin/python -m bench.slow_clients bodies [--clients 8] [--mib 90] [--memory-mb 1024]
    .venv/bin/python -m bench.slow_clients dribble [--connections 100] [--seconds 30]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.load import HOST, Server, synthetic_photo


def upload(port: int, body: bytes, timeout_s: float) -> tuple[int, str]:
    """One POST /v1/remove; (status, error code), or (0, exception name) when the connection
    failed before an answer."""
    try:
        connection = http.client.HTTPConnection(HOST, port, timeout=timeout_s)
        connection.request("POST", "/v1/remove", body=body)
        response = connection.getresponse()
        payload = response.read()
        connection.close()
    except OSError as exc:
        return 0, type(exc).__name__
    code = ""
    if response.getheader("content-type", "").startswith("application/json"):
        code = str(json.loads(payload).get("error", {}).get("code"))
    else:
        code = "plain:" + payload[:40].decode(errors="replace")
    return response.status, code


def run_bodies(server: Server, clients: int, mib: int, timeout_s: float) -> dict[str, Any]:
    body = os.urandom(mib * 1024 * 1024)
    warm = upload(server.port, synthetic_photo(1.0, 0), timeout_s)  # the model's arena, as served
    before = server.rss_mb("VmRSS")
    results: list[tuple[int, str]] = []
    lock = threading.Lock()

    def client() -> None:
        answer = upload(server.port, body, timeout_s)
        with lock:
            results.append(answer)

    started = time.perf_counter()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout_s + 5)
    return {
        "clients": clients,
        "mib": mib,
        "warm_up": warm[0],
        "answers": dict(Counter(f"{status} {code}" for status, code in results)),
        "rss_before_mb": round(before, 1),
        "peak_rss_mb": round(server.rss_mb("VmHWM"), 1),
        "wall_s": round(time.perf_counter() - started, 1),
    }


def healthz(port: int) -> tuple[int, float, str]:
    started = time.perf_counter()
    try:
        connection = http.client.HTTPConnection(HOST, port, timeout=5)
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        payload = response.read()
        connection.close()
    except OSError as exc:
        return 0, time.perf_counter() - started, type(exc).__name__
    kind = response.getheader("content-type", "")
    return response.status, time.perf_counter() - started, f"{kind} {payload[:30]!r}"


def run_dribble(server: Server, connections: int, seconds: float) -> dict[str, Any]:
    sockets = []
    for _ in range(connections):
        try:
            sock = socket.create_connection((HOST, server.port), timeout=2)
            sock.sendall(b"POST /v1/remove HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            sock.setblocking(False)
            sockets.append(sock)
        except OSError:
            break
    closed_at: dict[int, float] = {}
    probes: list[tuple[float, int, float, str]] = []
    started = time.monotonic()
    next_byte = started + 1.0
    while time.monotonic() - started < seconds:
        now = time.monotonic()
        status, latency, detail = healthz(server.port)
        probes.append((round(now - started, 1), status, round(latency, 3), detail))
        if now >= next_byte:
            next_byte += 1.0
            for number, sock in enumerate(sockets):
                if number in closed_at:
                    continue
                try:
                    data = sock.recv(4096)
                    if not data or data.startswith(b"HTTP/"):
                        closed_at[number] = now - started
                        continue
                except BlockingIOError:
                    pass
                except OSError:
                    closed_at[number] = now - started
                    continue
                try:
                    sock.send(b"a")
                except OSError:
                    closed_at[number] = now - started
        time.sleep(0.5)
    for sock in sockets:
        sock.close()
    served = [p for p in probes if p[1] == 200]
    return {
        "dribblers": len(sockets),
        "seconds": seconds,
        "probes": len(probes),
        "probes_200": len(served),
        "probe_answers": dict(Counter(f"{p[1]} {p[3][:40]}" for p in probes)),
        "probe_latency_max_s": max((p[2] for p in served), default=None),
        "dribblers_closed": len(closed_at),
        "closed_after_s_max": round(max(closed_at.values()), 1) if closed_at else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("scenario", choices=["bodies", "dribble"])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--mib", type=int, default=90)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--memory-mb", type=int, default=1024)
    parser.add_argument("--timeout", type=float, default=120.0, help="per upload, in seconds")
    parser.add_argument("--checkout", type=Path, help="serve this checkout's code instead")
    args = parser.parse_args(argv)
    if args.clients > 64 or args.connections > 500 or args.seconds > 300:
        parser.error("bounded: at most 64 clients, 500 connections, 300 seconds")
    server = Server(args.memory_mb, checkout=args.checkout)
    try:
        server.wait_ready()
        if args.scenario == "bodies":
            report = run_bodies(server, args.clients, args.mib, args.timeout)
        else:
            report = run_dribble(server, args.connections, args.seconds)
        report["server_alive"] = server.alive()
    finally:
        server.stop()
    report.update(
        scenario=args.scenario,
        memory_mb=args.memory_mb,
        checkout=str(args.checkout or "."),
        load_average=os.getloadavg()[0],
    )
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
