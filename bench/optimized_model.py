"""u2net's session with and without an offline-optimised model file: creation time and memory.

ONNX Runtime can save the graph it optimised (SessionOptions.optimized_model_filepath) and load
that file later with optimisations off. At the fast level the saved graph holds NCHWc layout
transforms for the CPU that produced it, so such a file must be made on the machine that runs
it (at init, into /tmp) or only at the basic level offline. Each case runs in a fresh process;
its peak is VmHWM.

    .venv/bin/python bench/optimized_model.py [--model u2net] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time
import numpy as np
import onnxruntime as ort
path, level, arena, save_to = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]

def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) / 1024

levels = {
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "off": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
}
options = ort.SessionOptions()
options.intra_op_num_threads = 2
options.inter_op_num_threads = 1
options.graph_optimization_level = levels[level]
options.enable_cpu_mem_arena = arena
options.enable_mem_pattern = False
options.log_severity_level = 3
if save_to != "-":
    options.optimized_model_filepath = save_to
t0 = time.perf_counter()
session = ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
created_s = time.perf_counter() - t0
created_mb = rss("VmRSS:")
batch = np.random.default_rng(0).random((1, 3, 320, 320), dtype=np.float32)
feed = {session.get_inputs()[0].name: batch}
t0 = time.perf_counter()
first = session.run(None, feed)[0]
first_s = time.perf_counter() - t0
t0 = time.perf_counter()
session.run(None, feed)
second_s = time.perf_counter() - t0
print(json.dumps({"created_s": created_s, "created_mb": created_mb, "after_run_mb": rss("VmRSS:"),
                  "peak_mb": rss("VmHWM:"), "first_run_s": first_s, "second_run_s": second_s,
                  "checksum": float(np.asarray(first, dtype=np.float64).sum())}))
"""


def child(path: Path, level: str, arena: bool, save_to: str = "-") -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), level, "1" if arena else "0", save_to],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="u2net")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    model = REPO / "layers" / "model" / f"{args.model}.onnx"
    with tempfile.TemporaryDirectory(prefix="cutout-optimized-") as tmp:
        fast_file = Path(tmp) / "fast.onnx"
        basic_file = Path(tmp) / "basic.onnx"
        made = {
            "making the fast file (all, arena)": child(model, "all", True, str(fast_file)),
            "making the basic file (basic)": child(model, "basic", False, str(basic_file)),
        }
        cases = {
            "fast profile (all + arena)": (model, "all", True),
            "fast, pre-optimised file (off + arena)": (fast_file, "off", True),
            "fast, basic file + all at load (all + arena)": (basic_file, "all", True),
            "lean profile (extended, no arena)": (model, "extended", False),
            "lean, basic file + extended at load (no arena)": (basic_file, "extended", False),
        }
        rows = {name: [child(*case) for _ in range(args.runs)] for name, case in cases.items()}
    print(f"model {model.name}, {args.runs} fresh processes per case; medians")
    print(
        "| case | session created | RSS after creation | after first run | peak | "
        "first run | later run | output sum |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, runs in {**{k: [v] for k, v in made.items()}, **rows}.items():
        med = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        print(
            f"| {name} | {med['created_s'] * 1000:.0f} ms | {med['created_mb']:.0f} MiB | "
            f"{med['after_run_mb']:.0f} MiB | {med['peak_mb']:.0f} MiB | "
            f"{med['first_run_s'] * 1000:.0f} ms | {med['second_run_s'] * 1000:.0f} ms | "
            f"{med['checksum']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
