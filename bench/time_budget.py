"""Issue 12 item 10: calibrate the time-budget estimate (handler/serving/deadline.py).

    .venv/bin/python -m bench.time_budget [--repeats 3] [--quick]

Times cutout's whole request path (service.remove, no cache) for each ONNX session profile
(lean, fast) and intra-op thread count (1, 2; the PNG writer gets the same cores), on rembg's
car-1 (0.17 MP) and generated noisy photos of 2, 12 and 29 MP (bench/photos.py: the slowest
content to encode), in every output format. The configurations take turns image by image, so
load on this shared machine lands on all of them alike. Fits seconds = fixed + per_mp * MP per
configuration and format (least squares on the medians), and reports, for a few budgets, the
largest image the estimate in deadline.py admits against the largest measured image that
finished inside the budget, before and after calibration.

Writes docs/bench/time-budget.md and time-budget.json. Paste the fitted figures into
handler/serving/deadline.py (FIXED_SECONDS, SECONDS_PER_MEGAPIXEL).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import machine
from bench.photos import FIXTURES, generated
from bench.report import table
from bench.stats import Summary
from handler.core.options import OutputFormat, RemoveOptions
from handler.core.predict import PROFILES, load_model
from handler.core.tiers import MemoryTier
from handler.serving import deadline
from handler.serving.cache import NoCache
from handler.serving.service import CutoutService
from handler.settings import Settings

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs" / "bench"
PHOTOS = REPO / ".bench" / "time-budget"
CONFIGS = (("lean", 1), ("lean", 2), ("fast", 1), ("fast", 2))
BUDGETS_S = (1.0, 2.0, 5.0, 25.0)
CALIBRATION_CLOCK = "cpu_seconds"
# Decoding the model's small view of a photo and the two resizes around inference, outside
# session.run: 35-60 ms on a 1.5-2 MP photo (README, Benchmarks against rembg).
MODEL_VIEW_S = 0.06
# The estimate before calibration (one figure for every profile and thread count).
OLD_FIXED_S = 1.0
OLD_PER_MP = {OutputFormat.PNG: 0.15, OutputFormat.WEBP: 0.36, OutputFormat.JPEG: 0.06}


def fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares line seconds = fixed + per_mp * megapixels, neither below zero."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var_x = sum((x - mean_x) ** 2 for x, _ in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / var_x if var_x else 0.0
    slope = max(slope, 0.0)
    return max(mean_y - slope * mean_x, 0.0), slope


def measure(repeats: int, quick: bool) -> dict[str, Any]:
    settings = Settings.from_env()
    images = [("car-1", FIXTURES / "car-1.jpg", 0.1728)]
    sizes = (2,) if quick else (2, 12, 29)
    images += [(i.name, i.path, i.megapixels) for i in generated(PHOTOS, sizes)]
    tier = MemoryTier.for_memory(10240)  # caps out of the way: time is what is measured
    services = {}
    for profile, threads in CONFIGS:
        tuning = replace(PROFILES[profile], intra_op_threads=threads)
        model = load_model(settings.model_path, tuning)
        services[(profile, threads)] = CutoutService(
            model=model, tier=tier, cache=NoCache(), threads=threads
        )
    # clock ("seconds": wall, "cpu_seconds": this process's CPU) -> config -> format -> image
    times: dict[str, dict[str, dict[str, dict[str, list[float]]]]] = {}
    for name, path, _ in images:
        data = path.read_bytes()
        for fmt in OutputFormat:
            options = RemoveOptions(format=fmt)
            for _ in range(repeats):
                for (profile, threads), service in services.items():
                    started, cpu_started = time.perf_counter(), time.process_time()
                    service.remove(data, options)
                    wall = time.perf_counter() - started
                    cpu = time.process_time() - cpu_started
                    for clock, value in (("seconds", wall), ("cpu_seconds", cpu)):
                        by_image = (
                            times.setdefault(clock, {})
                            .setdefault(f"{profile}/{threads}", {})
                            .setdefault(fmt.value, {})
                        )
                        by_image.setdefault(name, []).append(value)
            print(f"{name} {fmt.value} done (load {os.getloadavg()[0]:.1f})", flush=True)
    return {
        "machine": machine.describe(),
        "load_average": os.getloadavg(),
        "images": {name: mp for name, _, mp in images},
        "repeats": repeats,
        **times,
    }


def medians(results: dict[str, Any], clock: str) -> dict[str, dict[str, dict[str, float]]]:
    """config -> format -> image -> median seconds on one clock."""
    return {
        key: {
            fmt: {name: Summary.of(values).median for name, values in by_image.items()}
            for fmt, by_image in by_format.items()
        }
        for key, by_format in results[clock].items()
    }


def quiet_session_run_s() -> dict[str, float]:
    """session.run seconds per configuration from the quiet-machine benchmark of the session
    profiles (docs/bench/session-profiles.json, load average about 1)."""
    rows = json.loads((DOCS / "session-profiles.json").read_text())["rows"]
    names = {"lean (512 MB tiers)": "lean", "fast (1,024 MB and up)": "fast"}
    return {
        f"{names[row['config']]}/{row['threads']}": row["ms"] / 1000.0
        for row in rows
        if row["config"] in names
    }


def analyse(results: dict[str, Any]) -> dict[str, Any]:
    """The estimate's figures for free cores.

    One thread: lines fitted to the CPU seconds measured here, divided by this run's load
    factor: how much slower the same configuration's fixed cost was here than its quiet
    figure (the quiet session.run plus MODEL_VIEW_S for the model's view of the photo).
    Two threads: the fixed cost from the quiet two-thread session.run (plus MODEL_VIEW_S);
    per megapixel, the one-thread figure (the second core only helps, so this errs slow).
    """
    megapixels: dict[str, float] = results["images"]
    quiet = quiet_session_run_s()
    cpu_fits: dict[str, dict[str, tuple[float, float]]] = {}
    for key, by_format in medians(results, CALIBRATION_CLOCK).items():
        for fmt, by_image in by_format.items():
            points = [(megapixels[n], seconds) for n, seconds in by_image.items()]
            cpu_fits.setdefault(key, {})[fmt] = fit(points)
    load_factor: dict[str, float] = {}
    fitted: dict[str, dict[str, tuple[float, float]]] = {}
    for key in cpu_fits:
        profile = key.split("/")[0]
        one = f"{profile}/1"
        measured_fixed = max(fixed for fixed, _ in cpu_fits[one].values())
        load_factor[profile] = measured_fixed / (quiet[one] + MODEL_VIEW_S)
        fitted[key] = {
            fmt: (quiet[key] + MODEL_VIEW_S, slope / load_factor[profile])
            for fmt, (_, slope) in cpu_fits[one].items()
        }
    return {
        "cpu_fits": cpu_fits,
        "load_factor": load_factor,
        "quiet_session_run_s": quiet,
        "fitted": fitted,
    }


def render(results: dict[str, Any], analysis: dict[str, Any]) -> str:
    megapixels: dict[str, float] = results["images"]
    lines = [
        "# The time-budget estimate, calibrated",
        "",
        "Written by `bench/time_budget.py`: the whole request path (`service.remove`, no cache), "
        f"median of {results['repeats']} runs per point, every session profile and thread count "
        f"taking turns image by image. Load average while measuring: "
        f"{results['load_average'][0]:.1f} (1 min) on a shared 2-core machine "
        f"({results['machine'].get('cpu', 'CPU')}).",
        "",
        "Wall times under that load say more about the other work on the machine than about "
        "cutout, and CPU seconds are inflated by it too (shared caches and memory bandwidth), "
        "so the figures for free cores come from two sources. One thread: lines fitted to the "
        "CPU seconds below, divided by this run's load factor, i.e. how much slower the same "
        "configuration's fixed cost was here than its quiet figure (session.run from "
        "[session-profiles.md](session-profiles.md), load about 1, plus "
        f"{MODEL_VIEW_S:.2f} s for the model's view of the photo). Two threads: the fixed "
        "cost from the quiet two-thread session.run, and per megapixel the one-thread figure "
        "(the second core only helps, so that errs slow). deadline.py multiplies the result "
        f"by a safety margin of {deadline.SAFETY_MARGIN}x.",
        "",
        "Load factors: "
        + ", ".join(f"{p} {f:.2f}x" for p, f in analysis["load_factor"].items())
        + "; quiet session.run: "
        + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in analysis["quiet_session_run_s"].items())
        + ".",
        "",
    ]
    header = [
        "profile / threads",
        "format",
        *[f"{n} ({mp:.2f} MP)" for n, mp in megapixels.items()],
    ]
    for clock, title in (("cpu_seconds", "CPU seconds"), ("seconds", "Wall seconds")):
        rows = [
            [key, fmt, *[f"{by_image[n]:.2f}" for n in megapixels]]
            for key, by_format in medians(results, clock).items()
            for fmt, by_image in by_format.items()
        ]
        lines += [f"## {title} (under the load above)", "", table(header, rows), ""]
    lines += ["## For free cores: seconds = fixed + per MP x megapixels (deadline.py)", ""]
    rows = [
        [key, fmt, f"{fixed:.3f}", f"{slope:.4f}"]
        for key, by_format in analysis["fitted"].items()
        for fmt, (fixed, slope) in by_format.items()
    ]
    lines += [table(["profile / threads", "format", "fixed (s)", "per MP (s)"], rows), ""]
    lines += [
        "## Largest PNG admitted against the largest finished",
        "",
        "`admitted before`: the estimate before calibration (1 s + 0.15 s/MP for every "
        "configuration). `admitted now`: deadline.py's, margin included, and what that image "
        "would take on free cores by the figures above. `finished here`: the largest photo "
        "measured in this run whose wall time, under the load above, fitted in the budget. "
        "The issue's measurements on two free cores (fast profile) were 0.2 s for 0.2 MP, "
        "0.6 s for 12 MP and 1.1 s for 29 MP.",
        "",
    ]
    wall = medians(results, "seconds")
    rows = []
    for key, by_format in analysis["fitted"].items():
        profile, threads = key.split("/")
        fixed, slope = by_format["png"]
        for budget in BUDGETS_S:
            old = max(0.0, (budget - OLD_FIXED_S) / OLD_PER_MP[OutputFormat.PNG])
            new = deadline.max_megapixels_within(
                budget, OutputFormat.PNG, deadline.Speed(profile, int(threads))
            )
            done = [(megapixels[n], t) for n, t in wall[key]["png"].items() if t <= budget]
            largest = max(done, default=None)
            rows.append(
                [
                    key,
                    f"{budget:.0f} s",
                    f"{old:.1f} MP",
                    f"{new:.1f} MP ({fixed + slope * new:.2f} s)",
                    "none" if largest is None else f"{largest[0]:.2f} MP in {largest[1]:.2f} s",
                ]
            )
    header = ["profile / threads", "budget", "admitted before", "admitted now", "finished here"]
    lines.append(table(header, rows))
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="2 MP only, written to .bench/")
    parser.add_argument("--from-json", type=Path, help="re-render a saved run")
    args = parser.parse_args()
    if args.from_json:
        results = json.loads(args.from_json.read_text())
    else:
        results = measure(args.repeats, args.quick)
    analysis = analyse(results)
    out = PHOTOS if args.quick else DOCS
    out.mkdir(parents=True, exist_ok=True)
    (out / "time-budget.json").write_text(json.dumps({**results, **analysis}, indent=1))
    (out / "time-budget.md").write_text(render(results, analysis))
    print(render(results, analysis))


if __name__ == "__main__":
    main()
