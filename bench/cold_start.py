"""Lambda-style cold starts, cutout against rembg, by phase: `python -m bench.cold_start`
(or `make bench-cold-start`; `make bench` runs it too). Writes docs/bench/cold-start.{md,json}.

Each round starts one fresh process per case, in alternating order, and each process answers
one image and reports its phases:
- cutout `api`: import handler.app (the init phase: imports, ONNX session, warm-up if on, the
  entry's wiring), then handler.app.lambda_handler on an API Gateway v1 event carrying the photo;
- cutout `api+warm-up`: the same with CUTOUT_WARM_UP=true (what SnapStart and provisioned
  concurrency get), to show what the warm-up run costs an on-demand cold start;
- cutout `s3`: import handler.trigger, then handler.trigger.s3_handler on an SQS batch of one S3
  notification for the photo, as the template delivers uploads (a real boto3 client is made; its
  calls are answered from memory, no network);
- rembg: import rembg, new_session("u2netp"), remove() of the same photo, as rembg's README
  shows it and as Lambda deployments of it run it.
Every process is pinned to the same single CPU: a 2,048 MB Lambda function has about one vCPU
(one per 1,769 MB), and cutout, told its memory size, runs ONNX Runtime on one thread there,
while rembg would take both cores of this machine. The wall time runs from process spawn to the
first answer ready, so it includes the interpreter's own start-up ("interpreter" below). Ratios
are paired: round i of cutout over round i of rembg, measured moments apart under the same load.
Then, in cutout's interpreter, bench/session_load.py times the ONNX Runtime levers: the session
from the model as shipped or optimised offline, and the first run against the second.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import envs, machine
from bench.measure import EVENT, LAMBDA_ENV, alternating, log_file, worker_command
from bench.photos import fixtures
from bench.stats import Summary, paired_ratio

DOCS = envs.REPO / "docs" / "bench"
CASES = ("cutout:api", "cutout:api+warm-up", "cutout:s3", "rembg:remove")
GOALS = {"cutout:api": 0.5, "cutout:s3": 0.4}
SESSION_LOAD = Path(__file__).resolve().parent / "session_load.py"
IMPORT_TOP = 12


def case_command(tool: envs.ToolEnv, entry: str, image: Path) -> tuple[list[str], dict[str, str]]:
    env = tool.env | (LAMBDA_ENV if tool.name == "cutout" else {})
    if entry.endswith("+warm-up"):
        entry, env = entry.removesuffix("+warm-up"), env | {"CUTOUT_WARM_UP": "true"}
    return worker_command(tool, "coldstart", entry, str(image), "--event", str(EVENT)), env


def one_cpu() -> set[int]:
    """The CPU every measured process runs on (the last this process may use)."""
    return {max(os.sched_getaffinity(0))}


def run_case(tool: envs.ToolEnv, entry: str, image: Path) -> dict[str, Any]:
    """One fresh process: its phases (ms) and its wall time from spawn to the answer ready."""
    command, env = case_command(tool, entry, image)
    cpus = one_cpu()
    with log_file(f"cold-start-{tool.name}") as log:
        started = time.time_ns()
        done = subprocess.run(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            check=True,
            preexec_fn=lambda: os.sched_setaffinity(0, cpus),
        )
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    phases: dict[str, float] = answer["phases_ms"]
    wall_ms = (answer["done_ns"] - started) / 1e6
    phases["interpreter"] = wall_ms - sum(phases.values())
    return {"wall_ms": wall_ms, "phases_ms": phases}


def import_profile(tool: envs.ToolEnv, entry: str, image: Path) -> list[list[Any]]:
    """One run under `python -X importtime`: the top-level packages by cumulative import ms."""
    command, env = case_command(tool, entry, image)
    done = subprocess.run(
        [command[0], "-X", "importtime", *command[1:]],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    totals: dict[str, float] = {}
    pattern = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")
    for line in done.stderr.splitlines():
        match = pattern.match(line)
        if match and len(match.group(3)) <= 1:  # a top-level import of the process
            name = match.group(4)
            totals[name] = totals.get(name, 0.0) + int(match.group(2)) / 1000
    ranked = sorted(totals.items(), key=lambda item: -item[1])[:IMPORT_TOP]
    return [[name, round(ms, 1)] for name, ms in ranked]


def measure(rounds: int) -> dict[str, Any]:
    cutout, rembg = envs.cutout_env(), envs.rembg_env()
    image = fixtures()[0].path
    tools = {"cutout": cutout, "rembg": rembg}
    runs: dict[str, list[dict[str, Any]]] = {case: [] for case in CASES}
    load = [os.getloadavg()[0]]
    for r in range(rounds + 1):
        for case in alternating(CASES, r):
            tool, entry = case.split(":")
            result = run_case(tools[tool], entry, image)
            if r > 0:  # round 0 warms the page cache for every case
                runs[case].append(result)
        load.append(os.getloadavg()[0])
    profiles = {
        case: import_profile(tools[case.split(":")[0]], case.split(":")[1], image)
        for case in CASES
        if "+" not in case
    }
    cpus = one_cpu()
    levers = subprocess.run(
        [str(cutout.python), str(SESSION_LOAD), str(envs.MODEL), str(rounds)],
        env=cutout.env,
        capture_output=True,
        text=True,
        check=True,
        preexec_fn=lambda: os.sched_setaffinity(0, cpus),
    )
    load.append(os.getloadavg()[0])
    return {
        "schema": 1,
        "machine": machine.describe(),
        "image": image.name,
        "rounds": rounds,
        "load_average_1min": [round(x, 2) for x in load],
        "runs": runs,
        "imports": profiles,
        "session_levers": json.loads(levers.stdout.strip().splitlines()[-1]),
    }


def summarise(results: dict[str, Any]) -> dict[str, Any]:
    """Medians per case and phase, and the paired ratios against rembg."""
    runs = results["runs"]
    rembg = [run["wall_ms"] for run in runs["rembg:remove"]]
    out: dict[str, Any] = {}
    for case in CASES:
        walls = [run["wall_ms"] for run in runs[case]]
        names = sorted({p for run in runs[case] for p in run["phases_ms"]})
        phases = {p: Summary.of([r["phases_ms"].get(p, 0.0) for r in runs[case]]) for p in names}
        out[case] = {
            "wall": Summary.of(walls),
            "phases": phases,
            "ratio": paired_ratio(walls, rembg) if case != "rembg:remove" else None,
        }
    return out


def render(results: dict[str, Any]) -> str:
    summary = summarise(results)
    load = results["load_average_1min"]
    lines = [
        "# Cold start: cutout against rembg (Lambda-style, fresh processes)",
        "",
        f"Generated by `make bench-cold-start` (bench/cold_start.py) on {results['machine']['cpu']}"
        f", {results['machine']['cores']} cores; {results['rounds']} rounds after one untimed "
        f"warm-up round; photo `{results['image']}`. Load average (1 min) during the run: "
        f"{min(load):.1f} to {max(load):.1f} (the machine is shared: read ratios, not seconds). "
        "Every process pinned to one CPU, as a 2,048 MB Lambda function has about one vCPU.",
        "",
        "Wall time from process spawn to the first answer ready; medians (p25-p75).",
        "",
        "| case | wall | vs rembg (paired) | goal |",
        "|---|---|---|---|",
    ]
    for case in CASES:
        s = summary[case]
        wall = f"{s['wall'].median:.0f} ms ({s['wall'].p25:.0f}-{s['wall'].p75:.0f})"
        if s["ratio"] is None:
            lines.append(f"| {case} | {wall} | 1 | |")
            continue
        r = s["ratio"]
        goal = GOALS.get(case)
        verdict = "" if goal is None else f"<= {goal}x: {'met' if r.median <= goal else 'not met'}"
        lines.append(f"| {case} | {wall} | {r.median:.2f}x ({r.p25:.2f}-{r.p75:.2f}) | {verdict} |")
    lines += ["", "## Where the time goes (medians, ms)", ""]
    phases = ["interpreter", "imports", "session", "warm_up", "wiring", "first_run"]
    lines.append("| case | " + " | ".join(phases) + " |")
    lines.append("|---|" + "---|" * len(phases))
    for case in CASES:
        cells = []
        for phase in phases:
            found = summary[case]["phases"].get(phase)
            cells.append(f"{found.median:.0f}" if found is not None else "-")
        lines.append(f"| {case} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "- interpreter: spawn to the first line of the worker (Python's own start-up).",
        "- imports: cutout, everything imported before the ONNX session is made (the image core,"
        " numpy, ONNX Runtime, Pillow, and for the API Powertools); rembg, `import rembg`.",
        "- session: the ONNX Runtime session (`load_model`; rembg's `new_session`).",
        "- warm_up: one inference on a blank input at init (on under SnapStart and provisioned"
        " concurrency only: see handler/settings.py).",
        "- wiring: the rest of the entry module (FastAPI and Mangum for the API, the trigger"
        " and Powertools' batch utility for S3) and building it.",
        "- first_run: the first invocation (cutout: the handler; rembg: `remove()`).",
        "",
        "## Imports by cumulative time (one `python -X importtime` run each, ms)",
        "",
    ]
    for case, ranked in results["imports"].items():
        top = ", ".join(f"{name} {ms:.0f}" for name, ms in ranked)
        lines.append(f"- {case}: {top}")
    levers = results["session_levers"]
    lines += [
        "",
        "## ONNX Runtime levers (bench/session_load.py, medians in one process, ms)",
        "",
        "| session profile, model | session created | first run | second run |",
        "|---|---|---|---|",
    ]
    for name, ms in levers["session_ms"].items():
        first = levers["first_run_ms"].get(name)
        second = levers["second_run_ms"].get(name)
        runs = (
            f"{first:.0f} | {second:.0f}" if first is not None and second is not None else "- | -"
        )
        lines.append(f"| {name} | {ms:.0f} | {runs} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", "9")))
    parser.add_argument("--out", type=Path, default=DOCS)
    parser.add_argument("--render-only", action="store_true")
    args = parser.parse_args(argv)
    path = args.out / "cold-start.json"
    if args.render_only:
        results = json.loads(path.read_text())
    else:
        results = measure(args.rounds)
        args.out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=1) + "\n")
    (args.out / "cold-start.md").write_text(render(results))
    print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
