"""Session creation and first runs, the cold-start levers inside ONNX Runtime: run by
bench/cold_start.py with cutout's runtime-only interpreter, `python session_load.py MODEL ROUNDS`.

For each session profile (lean: extended graph optimisations, no arena; fast: all of them, NCHWc
layouts, arena), the time to create a session from the model as shipped, and from the model
optimised offline at the extended level (portable: no hardware-specific layout ops, which ONNX
Runtime only adds at load for this CPU). And, for the model as shipped, the first and second
session.run on a 320x320 input: the difference is what a warm-up run at init moves off the
first request. Prints one JSON line; medians in ms over ROUNDS interleaved repeats.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

LEVEL = ort.GraphOptimizationLevel


def options(level: Any, arena: bool, save_to: str | None = None) -> Any:
    o = ort.SessionOptions()
    o.intra_op_num_threads = 1
    o.inter_op_num_threads = 1
    o.graph_optimization_level = level
    o.enable_cpu_mem_arena = arena
    o.enable_mem_pattern = False
    o.log_severity_level = 3
    if save_to:
        o.optimized_model_filepath = save_to
    return o


def session(path: str, level: Any, arena: bool) -> Any:
    return ort.InferenceSession(path, options(level, arena), providers=["CPUExecutionProvider"])


def main() -> None:
    model, rounds = sys.argv[1], int(sys.argv[2])
    with tempfile.TemporaryDirectory() as tmp:
        optimised = str(Path(tmp) / "extended.onnx")
        ort.InferenceSession(
            model, options(LEVEL.ORT_ENABLE_EXTENDED, False, optimised), ["CPUExecutionProvider"]
        )
        cases = {
            "lean, as shipped": (model, LEVEL.ORT_ENABLE_EXTENDED, False),
            "lean, optimised offline": (optimised, LEVEL.ORT_DISABLE_ALL, False),
            "fast, as shipped": (model, LEVEL.ORT_ENABLE_ALL, True),
            "fast, optimised offline": (optimised, LEVEL.ORT_ENABLE_ALL, True),
        }
        created: dict[str, list[float]] = {name: [] for name in cases}
        first: dict[str, list[float]] = {name: [] for name in cases if "shipped" in name}
        second: dict[str, list[float]] = {name: [] for name in first}
        batch = np.zeros((1, 3, 320, 320), dtype=np.float32)
        for _ in range(rounds):
            for name, (path, level, arena) in cases.items():
                t0 = time.perf_counter()
                made = session(path, level, arena)
                created[name].append((time.perf_counter() - t0) * 1000)
                if name in first:
                    feed = {made.get_inputs()[0].name: batch}
                    t1 = time.perf_counter()
                    made.run(None, feed)
                    t2 = time.perf_counter()
                    made.run(None, feed)
                    t3 = time.perf_counter()
                    first[name].append((t2 - t1) * 1000)
                    second[name].append((t3 - t2) * 1000)
    median = statistics.median
    print(
        json.dumps(
            {
                "session_ms": {k: median(v) for k, v in created.items()},
                "first_run_ms": {k: median(v) for k, v in first.items()},
                "second_run_ms": {k: median(v) for k, v in second.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
