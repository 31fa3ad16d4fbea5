"""The measurements, each run in fresh or long-lived worker processes of both tools, alternating.

Every function returns plain lists of raw repeats (seconds or MB); summarising is the report's
job. Tools alternate inside each round and the order flips every round, so a burst of load on
this shared machine lands on both tools alike.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO, TypeVar

from bench.envs import REPO, WORK, ToolEnv
from bench.photos import BenchImage

WORKER = Path(__file__).resolve().parent / "worker.py"
EVENT = REPO / "events" / "api-v1.json"
LOGS = WORK / "logs"
# What `cutout invoke` sets before loading the handler; the soak sets the same for its process.
LAMBDA_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "cutout-bench",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "2048",
    "AWS_REGION": "us-east-1",
}

Raw = dict[str, list[float]]
T = TypeVar("T")


def log_file(name: str) -> TextIO:
    LOGS.mkdir(parents=True, exist_ok=True)
    return (LOGS / f"{name}.log").open("a")


def alternating(names: Sequence[T], round_index: int) -> list[T]:
    """The tools in this round's order: as given on even rounds, reversed on odd ones."""
    return list(names) if round_index % 2 == 0 else list(reversed(names))


def _pin(cpus: set[int] | None) -> Callable[[], None] | None:
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def model_of(tool: ToolEnv) -> str:
    """The model a tool's environment runs (bench/envs.py sets BENCH_MODEL)."""
    return tool.env.get("BENCH_MODEL", "u2netp")


def worker_command(tool: ToolEnv, *args: str) -> list[str]:
    return [str(tool.python), str(WORKER), "--tool", tool.name, *args]


def run_worker(tool: ToolEnv, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """One fresh worker process; its JSON answer."""
    with log_file(tool.name) as log:
        done = subprocess.run(
            worker_command(tool, *args),
            env=tool.env | (env or {}),
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            check=True,
        )
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


class Server:
    """A long-lived worker in serve mode: the tool loaded once, then timed calls on request."""

    def __init__(self, tool: ToolEnv, cpus: set[int] | None = None) -> None:
        self.tool = tool
        self._log = log_file(tool.name)
        self._proc = subprocess.Popen(
            worker_command(tool, "serve"),
            env=tool.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            preexec_fn=_pin(cpus),
        )
        self.ready = self._read()

    def _read(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.tool.name} worker exited; see {LOGS}/{self.tool.name}.log")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def ask(self, op: str, image: Path) -> dict[str, Any]:
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps({"op": op, "path": str(image)}) + "\n")
        self._proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self._proc.stdin.close()
            self._proc.wait(timeout=60)
        self._log.close()


@contextmanager
def servers(tools: Sequence[ToolEnv], cpus: set[int] | None = None) -> Iterator[list[Server]]:
    started: list[Server] = []
    try:
        for tool in tools:
            started.append(Server(tool, cpus))
        yield started
    finally:
        for server in started:
            server.close()


def warm(
    tools: Sequence[ToolEnv],
    images: Sequence[BenchImage],
    rounds: Callable[[BenchImage], int],
    cpus: set[int] | None = None,
) -> dict[str, Raw]:
    """Per image: seconds per warm call of each tool, and of each tool's bare session.run.

    For cutout also its pipeline's own stage timings, as `stage:<name>` series.

    Both tools stay loaded in their own process; each call is timed inside the worker, so
    the pipe between processes is not counted.
    """
    result: dict[str, Raw] = {
        image.name: {key: [] for t in tools for key in (t.name, f"{t.name}_bare")}
        for image in images
    }
    stages: dict[str, Raw] = {image.name: {} for image in images}
    with servers(tools, cpus) as running:
        for server in running:  # one untimed pass: first-call allocations, page cache
            for image in images:
                server.ask("remove", image.path)
                server.ask("bare", image.path)
        for r in range(max(rounds(image) for image in images)):
            for image in images:
                if r >= rounds(image):
                    continue
                for server in alternating(running, r):
                    name = server.tool.name
                    answer = server.ask("remove", image.path)
                    result[image.name][name].append(answer["s"])
                    for stage, ms in answer["stages_ms"].items():
                        stages[image.name].setdefault(stage, []).append(ms / 1000)
                    result[image.name][f"{name}_bare"].append(server.ask("bare", image.path)["s"])
    for name, per_stage in stages.items():
        for stage, seconds in per_stage.items():
            result[name][f"stage:{stage}"] = seconds
    return result


def _timed_run(command: list[str], env: dict[str, str], log_name: str) -> float:
    with log_file(log_name) as log:
        started = time.perf_counter()
        subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=log, check=True)
        return time.perf_counter() - started


def _written_after(
    command: list[str], env: dict[str, str], target: Path, log_name: str
) -> tuple[float, float]:
    """Seconds from process start to `target` last written (its mtime), and to process exit."""
    target.unlink(missing_ok=True)
    with log_file(log_name) as log:
        wall_start = time.time_ns()
        started = time.perf_counter()
        subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=log, check=True)
        exited = time.perf_counter() - started
    written = (target.stat().st_mtime_ns - wall_start) / 1e9
    return written, exited


def batch(cutout: ToolEnv, rembg: ToolEnv, images: Sequence[BenchImage], rounds: int) -> Raw:
    """Whole CLI runs on one folder: `cutout remove DIR -o OUT` vs `rembg p -m u2netp DIR OUT`."""
    folder = WORK / "batch-in"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for image in images:
        shutil.copyfile(image.path, folder / image.path.name)
    out = WORK / "batch-out"
    commands = {
        "cutout": [str(cutout.script("cutout")), "remove", str(folder), "-o", str(out)],
        "rembg": [str(rembg.script("rembg")), "p", "-m", model_of(rembg), str(folder), str(out)],
    }
    envs = {"cutout": cutout.env, "rembg": rembg.env}
    result: Raw = {"cutout": [], "rembg": []}
    for r in range(rounds + 1):
        for name in alternating(["cutout", "rembg"], r):
            shutil.rmtree(out, ignore_errors=True)
            seconds = _timed_run(commands[name], envs[name], name)
            written = sorted(p.name for p in out.iterdir())
            if len(written) != len(images):
                raise RuntimeError(f"{name} batch wrote {written}, expected {len(images)} files")
            if r > 0:  # round 0 warms the page cache for both
                result[name].append(seconds)
    return result


def event_body(event: Path) -> bytes:
    """The image inside a sample API event."""
    return base64.b64decode(json.loads(event.read_text())["body"])


def cold_start(
    cutout: ToolEnv,
    rembg: ToolEnv,
    image: BenchImage,
    rounds: int,
    kinds: Sequence[str] = ("cli", "lambda"),
) -> dict[str, Raw]:
    """Process start to first result written: the CLIs on one image, and Lambda-style init.

    Lambda-style: `cutout invoke events/api-v1.json`, against rembg as it is usually deployed
    (rembg imported and its u2netp session made at init, then remove() on the same photo).
    """
    out = WORK / "cold"
    out.mkdir(parents=True, exist_ok=True)
    body = out / "event-body.jpg"
    body.write_bytes(event_body(EVENT))
    lambda_env = cutout.env | LAMBDA_ENV
    cases: dict[str, tuple[list[str], dict[str, str], Path]] = {
        "cli:cutout": (
            [str(cutout.script("cutout")), "remove", str(image.path), "-o", str(out / "c.png")],
            cutout.env,
            out / "c.png",
        ),
        "cli:rembg": (
            [
                str(rembg.script("rembg")),
                "i",
                "-m",
                model_of(rembg),
                str(image.path),
                str(out / "r.png"),
            ],
            rembg.env,
            out / "r.png",
        ),
        "lambda:cutout": (
            [
                str(cutout.script("cutout")),
                "invoke",
                str(EVENT),
                "--out",
                str(out / "c.jsonl"),
            ],
            lambda_env,
            out / "c.jsonl",
        ),
        "lambda:rembg": (
            worker_command(rembg, "first", str(body), str(out / "r-lambda.png")),
            rembg.env,
            out / "r-lambda.png",
        ),
    }
    result: dict[str, Raw] = {}
    for kind in kinds:
        for r in range(rounds + 1):
            for name in alternating(["cutout", "rembg"], r):
                command, env, target = cases[f"{kind}:{name}"]
                written, exited = _written_after(command, env, target, name)
                if r > 0:  # round 0 warms the page cache for both
                    entry = result.setdefault(f"{kind}:{name}", {"written": [], "exit": []})
                    entry["written"].append(written)
                    entry["exit"].append(exited)
    return result


def imports(cutout: ToolEnv, rembg: ToolEnv, rounds: int) -> dict[str, Raw]:
    """Seconds to import each tool's entry module, and until its u2netp session is ready."""
    result: dict[str, Raw] = {
        name: {"import_s": [], "ready_s": [], "rss_mb": []} for name in ("cutout", "rembg")
    }
    tools = {"cutout": cutout, "rembg": rembg}
    for r in range(rounds + 1):
        for name in alternating(["cutout", "rembg"], r):
            answer = run_worker(tools[name], "import", env=LAMBDA_ENV if name == "cutout" else None)
            if r > 0:
                for key in result[name]:
                    result[name][key].append(answer[key])
    return result


def peaks(
    cutout: ToolEnv, rembg: ToolEnv, images: Sequence[BenchImage]
) -> dict[str, dict[str, dict[str, float]]]:
    """Per image and tool, in a fresh process each: RSS after init, peak RSS, seconds.

    cutout runs at its default tier (2,048 MB: the fast session profile) and again as
    `cutout-lean` with the lean profile (what tiers below 1,024 MB run).
    """
    result: dict[str, dict[str, dict[str, float]]] = {}
    tools = {"cutout": cutout, "cutout-lean": cutout, "rembg": rembg}
    for r, image in enumerate(images):
        result[image.name] = {}
        for name in alternating(["cutout", "cutout-lean", "rembg"], r):
            env = {"CUTOUT_SESSION_PROFILE": "lean"} if name == "cutout-lean" else None
            answer = run_worker(tools[name], "peak", str(image.path), env=env)
            result[image.name][name] = {k: answer[k] for k in ("init_mb", "peak_mb", "s")}
    return result


def soak(
    cutout: ToolEnv, rembg: ToolEnv, images: Sequence[BenchImage], invocations: int
) -> dict[str, dict[str, Any]]:
    """RSS after each of n invocations, both tools at once (RSS does not depend on CPU share).

    cutout goes through handler.app.lambda_handler with API Gateway v1 events; rembg through
    remove() with one reused session. Both see the same images in the same order.
    """
    paths = [str(image.path) for image in images]
    procs = {}
    logs = {}
    for tool, extra in (
        (cutout, ["--event", str(EVENT)]),
        (rembg, []),
    ):
        logs[tool.name] = log_file(f"soak-{tool.name}")
        procs[tool.name] = subprocess.Popen(
            worker_command(tool, "soak", *paths, "-n", str(invocations), *extra),
            env=tool.env | (LAMBDA_ENV if tool.name == "cutout" else {}),
            stdout=subprocess.PIPE,
            stderr=logs[tool.name],
            text=True,
        )
    result: dict[str, dict[str, Any]] = {}
    for name, proc in procs.items():
        stdout, _ = proc.communicate()
        logs[name].close()
        if proc.returncode != 0:
            raise RuntimeError(f"{name} soak failed; see {LOGS}/soak-{name}.log")
        answer = json.loads(stdout.strip().splitlines()[-1])
        answer["images"] = [images[i].name for i in answer.pop("order")]
        result[name] = answer
    return result
