"""Issue 2 item 3: ONNX Runtime session options, measured for per-image latency and RSS.

    .venv/bin/python -m bench.session_options [--invocations 500] [--quick]

Phase 1, the grid: CPU memory arena on/off x memory pattern on/off x intra-op threads 1/2, each
configuration in its own process running cutout's whole pipeline (service.remove, no cache) on
a shuffled mix of rembg's fixtures. The processes take turns, one invocation each, the order
rotating every round, so load on this shared machine lands on every configuration alike. RSS is
sampled after every invocation and the process's peak RSS is read at the end.

Phase 2, threads on one core's worth of CPU (Lambda below 1,769 MB, and the second vCPU that
only exists from 3,538 MB): the processes pinned to one CPU, 1 thread vs 2 threads (ONNX
Runtime's default spinning on and off).

Writes docs/bench/session-options.md and session-options.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.report import table
from bench.stats import Summary, paired_ratio

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs" / "bench"
FIXTURES = REPO / "tests" / "fixtures" / "rembg"
IMAGES = ("anime-girl-1", "car-1", "cloth-1", "plants-1")
# A configuration whose median latency is within this share of the fastest one counts as fast.
LATENCY_TOLERANCE = 1.10


@dataclass(frozen=True)
class Config:
    """One way to open the session, and whether its process is pinned to one CPU."""

    arena: bool
    pattern: bool
    threads: int
    spinning: bool = True
    pinned: bool = False

    @property
    def label(self) -> str:
        parts = [
            f"arena {'on' if self.arena else 'off'}",
            f"pattern {'on' if self.pattern else 'off'}",
            f"{self.threads} thread{'s' if self.threads > 1 else ''}",
        ]
        if not self.spinning:
            parts.append("no spinning")
        if self.pinned:
            parts.append("one CPU")
        return ", ".join(parts)


GRID = [
    Config(arena, pattern, threads)
    for threads in (1, 2)
    for arena in (True, False)
    for pattern in (True, False)
]
# The reference every latency is compared with: ONNX Runtime's defaults at two threads (what
# cutout shipped with before this measurement).
REFERENCE = Config(True, True, 2)


def one_core_configs(arena: bool, pattern: bool) -> list[Config]:
    return [
        Config(arena, pattern, 1, pinned=True),
        Config(arena, pattern, 2, pinned=True),
        Config(arena, pattern, 2, spinning=False, pinned=True),
    ]


# ---------------------------------------------------------------- worker (one configuration)


def _rss_mb() -> float:
    with Path("/proc/self/statm").open() as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def serve(config: Config) -> None:
    """Build the session for `config`, then answer one image path per line with timings."""
    import onnxruntime as ort

    from handler.core.options import RemoveOptions
    from handler.core.predict import ORT_LOG_SEVERITY, U2NetModel
    from handler.core.tiers import MemoryTier
    from handler.serving.service import CutoutService
    from handler.settings import Settings

    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    settings = Settings.from_env()
    # The same options handler.core.predict.load_model sets, plus the spinning switch it lacks.
    options = ort.SessionOptions()
    options.intra_op_num_threads = config.threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_cpu_mem_arena = config.arena
    options.enable_mem_pattern = config.pattern
    options.log_severity_level = ORT_LOG_SEVERITY
    options.add_session_config_entry(
        "session.intra_op.allow_spinning", "1" if config.spinning else "0"
    )
    session = ort.InferenceSession(
        str(settings.model_path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    model = U2NetModel(session, session.get_inputs()[0].name, "bench", settings.model_path)
    service = CutoutService(model=model, tier=MemoryTier.for_memory(settings.memory_mb))
    remove_options = RemoveOptions.parse()
    inputs: dict[str, bytes] = {}
    out.write(json.dumps({"init_mb": _rss_mb()}) + "\n")
    out.flush()
    for line in sys.stdin:
        path = line.strip()
        if path not in inputs:
            inputs[path] = Path(path).read_bytes()
        t0 = time.perf_counter()
        service.remove(inputs[path], remove_options)
        seconds = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out.write(json.dumps({"s": seconds, "rss_mb": _rss_mb(), "peak_mb": peak}) + "\n")
        out.flush()


# ---------------------------------------------------------------- parent


class Worker:
    def __init__(self, config: Config, cpu: int) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CUTOUT_", "AWS_"))}
        env["CUTOUT_CACHE_DIR"] = ""
        self.config = config
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.session_options", "--worker", json.dumps(asdict(config))],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if config.pinned else None,
        )
        self.init_mb = float(self._read()["init_mb"])

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker for {self.config.label} exited")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def run(self, image: Path) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{image}\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def shuffled_order(count: int, n: int, seed: int = 7) -> list[int]:
    """n image indices, each image equally often, in a seeded shuffled order."""
    import random

    rng = random.Random(seed)
    order: list[int] = []
    while len(order) < n:
        block = list(range(count))
        rng.shuffle(block)
        order.extend(block)
    return order[:n]


def measure(configs: Sequence[Config], invocations: int) -> list[dict[str, Any]]:
    """All configurations side by side, taking turns, one invocation at a time."""
    cpu = max(os.sched_getaffinity(0))
    images = [FIXTURES / f"{name}.jpg" for name in IMAGES]
    order = shuffled_order(len(images), invocations)
    workers = [Worker(config, cpu) for config in configs]
    runs: list[dict[str, Any]] = [
        {
            "config": asdict(w.config),
            "label": w.config.label,
            "init_mb": w.init_mb,
            "image": [],
            "s": [],
            "rss_mb": [],
            "peak_mb": 0.0,
        }
        for w in workers
    ]
    try:
        for i, index in enumerate(order):
            turn = i % len(workers)
            for k in list(range(turn, len(workers))) + list(range(turn)):
                answer = workers[k].run(images[index])
                runs[k]["image"].append(IMAGES[index])
                runs[k]["s"].append(answer["s"])
                runs[k]["rss_mb"].append(answer["rss_mb"])
                runs[k]["peak_mb"] = answer["peak_mb"]
            if (i + 1) % 50 == 0:
                print(f"  {i + 1}/{invocations}", flush=True)
    finally:
        for worker in workers:
            worker.close()
    return runs


def summarise(runs: list[dict[str, Any]], reference: str) -> list[dict[str, Any]]:
    """Per configuration: latency against the reference (paired per round), and RSS figures."""
    ref = next(r for r in runs if r["label"] == reference)
    rows = []
    for run in runs:
        rss = run["rss_mb"]
        tail = rss[len(rss) // 2 :]
        rows.append(
            {
                "label": run["label"],
                "config": run["config"],
                "median_ms": Summary.of(run["s"]).median * 1000,
                "vs_reference": paired_ratio(run["s"], ref["s"]).median,
                "per_image_ms": {
                    name: Summary.of(
                        [s for s, im in zip(run["s"], run["image"], strict=True) if im == name]
                    ).median
                    * 1000
                    for name in IMAGES
                    if name in run["image"]
                },
                "init_mb": run["init_mb"],
                "after_first_mb": rss[0],
                "after_last_mb": rss[-1],
                "max_sampled_mb": max(rss),
                "tail_rise_mb": tail[-1] - min(tail),
                "peak_mb": run["peak_mb"],
            }
        )
    return rows


def choose(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Arena and memory pattern: fast at every thread count, then the lowest peak RSS.

    Fast means a median latency within LATENCY_TOLERANCE of the fastest configuration with the
    same thread count (threads are set per tier by handler/runtime.py, not chosen here). If no
    setting is fast at every thread count, the one with the smallest worst-case slowdown wins.
    """
    fastest: dict[int, float] = {}
    for row in rows:
        threads = row["config"]["threads"]
        fastest[threads] = min(fastest.get(threads, float("inf")), row["vs_reference"])
    settings: dict[tuple[bool, bool], list[dict[str, Any]]] = {}
    for row in rows:
        settings.setdefault((row["config"]["arena"], row["config"]["pattern"]), []).append(row)

    def slowdown(group: list[dict[str, Any]]) -> float:
        return float(max(r["vs_reference"] / fastest[r["config"]["threads"]] for r in group))

    def peak(group: list[dict[str, Any]]) -> float:
        return float(max(r["peak_mb"] for r in group))

    fast = {k: g for k, g in settings.items() if slowdown(g) <= LATENCY_TOLERANCE}
    if fast:
        (arena, pattern), group = min(fast.items(), key=lambda kv: (peak(kv[1]), slowdown(kv[1])))
    else:
        (arena, pattern), group = min(settings.items(), key=lambda kv: slowdown(kv[1]))
    return {
        "arena": arena,
        "pattern": pattern,
        "label": f"arena {'on' if arena else 'off'}, pattern {'on' if pattern else 'off'}",
        "peak_mb": peak(group),
        "slowdown": slowdown(group),
    }


def grid_table(rows: list[dict[str, Any]]) -> str:
    body = [
        [
            row["label"],
            f"{row['median_ms']:.0f}",
            f"{row['vs_reference']:.2f}x",
            f"{row['init_mb']:.0f}",
            f"{row['after_first_mb']:.0f}",
            f"{row['after_last_mb']:.0f}",
            f"{row['max_sampled_mb']:.0f}",
            f"{row['tail_rise_mb']:+.0f}",
            f"{row['peak_mb']:.0f}",
        ]
        for row in rows
    ]
    return table(
        [
            "Configuration",
            "median ms / image",
            "latency vs reference",
            "RSS after init (MB)",
            "after 1st (MB)",
            "after last (MB)",
            "max sampled (MB)",
            "last-half rise (MB)",
            "peak RSS (MB)",
        ],
        body,
    )


def render(result: dict[str, Any]) -> str:
    grid, one_core, chosen = result["grid"], result["one_core"], result["chosen"]
    n = result["invocations"]
    m = result["machine"]
    lines = [
        "# ONNX Runtime session options: latency and RSS (issue 2 item 3)\n",
        f"Measured by `python -m bench.session_options` on {m['date']}: {m['cpu']}, "
        f"{m['cores']} cores shared with other work (load average {m['load_average']} at the "
        f"start), onnxruntime {result['onnxruntime']}. Each configuration is a process running "
        f"cutout's whole pipeline (no cache) on {n} invocations over a shuffled mix of rembg's "
        "fixtures; the processes take turns, one invocation each, so load lands on all alike. "
        "*Latency vs reference* is the median of per-round ratios against "
        f"**{result['reference']}** (ONNX Runtime's defaults, as shipped before). RSS is sampled "
        "after every invocation; peak RSS is the process's `ru_maxrss`.\n",
        "## Arena, memory pattern and threads\n",
        grid_table(grid),
        "",
        f"\n**Chosen: {chosen['label']}** - of the arena and pattern settings within "
        f"{(LATENCY_TOLERANCE - 1) * 100:.0f}% of the fastest median latency at both thread "
        f"counts, the one with the lowest peak RSS ({chosen['peak_mb']:.0f} MB).\n",
        "## Threads when there is one core's worth of CPU\n",
        "Pinned to one CPU: Lambda below 1,769 MB gives less than one vCPU, and a second vCPU "
        "only from 3,538 MB, so a second intra-op thread there competes for the same core. "
        f"{one_core['invocations']} invocations each, alternating; latency against the 1-thread "
        "row.\n",
        grid_table(one_core["rows"]),
        "",
        "\n## What cutout does with this\n",
        result["decision"],
    ]
    return "\n".join(lines).rstrip() + "\n"


DECISION = """\
- `SessionTuning` defaults in `handler/core/predict.py` follow the chosen row above (arena and
  memory pattern).
- Threads: `handler/runtime.py` gives the session as many intra-op threads as there are whole
  vCPUs to run them: outside Lambda the cores the process may use (`CUTOUT_THREADS` overrides);
  in Lambda no more than `memory_mb // 1769` (at least 1), because below 3,538 MB a second
  thread only competes for one vCPU's worth of CPU, which the one-CPU table shows costs time.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--invocations", type=int, default=500)
    parser.add_argument("--one-core-invocations", type=int, default=60)
    parser.add_argument("--quick", action="store_true", help="20 + 8 invocations, to .bench/")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.worker:
        serve(Config(**json.loads(args.worker)))
        return 0
    if args.quick:
        args.invocations, args.one_core_invocations = 20, 8
    out = args.out or (REPO / ".bench" / "quick" if args.quick else DOCS)
    out.mkdir(parents=True, exist_ok=True)

    import onnxruntime

    from bench import machine

    started = machine.describe()
    print(f"grid: {len(GRID)} configurations x {args.invocations} invocations", flush=True)
    grid = summarise(measure(GRID, args.invocations), REFERENCE.label)
    chosen = choose(grid)
    pinned = one_core_configs(chosen["arena"], chosen["pattern"])
    print(f"one core: {len(pinned)} configurations x {args.one_core_invocations}", flush=True)
    one_core_rows = summarise(measure(pinned, args.one_core_invocations), pinned[0].label)
    result = {
        "machine": started,
        "onnxruntime": onnxruntime.__version__,
        "invocations": args.invocations,
        "reference": REFERENCE.label,
        "grid": grid,
        "chosen": chosen,
        "one_core": {"invocations": args.one_core_invocations, "rows": one_core_rows},
        "decision": DECISION,
    }
    (out / "session-options.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "session-options.md").write_text(render(result))
    print(f"chosen: {chosen['label']}; wrote {out}/session-options.md", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
