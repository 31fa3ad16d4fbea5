"""`make bench`: cutout against rembg 2.0.86 in one run, written to docs/bench/ with plots.

python -m bench.run                 full run (about 15-25 minutes on 2 shared cores)
BENCH_QUICK=1 python -m bench.run   a few repeats, for debugging the harness
python -m bench.run --render-only   redraw the report and plots from results.json
python -m bench.run --model u2net   only the u2net part against `rembg -m u2net` (bench/u2net.py;
                                    BENCH_MODEL=u2net make bench does the same), docs/bench/u2net.md
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import envs, machine, measure, photos, report
from bench.photos import BenchImage
from bench.stats import rounded

DOCS = envs.REPO / "docs" / "bench"


@dataclass(frozen=True)
class Plan:
    """How many repeats of what: the full run, or the quick one for debugging."""

    quick: bool
    generated_mp: tuple[int, ...]
    one_core_max_mp: float  # one-core warm timing (for the cost table) up to this size
    rounds_small: int  # warm repeats for photos up to 2 MP
    rounds_large: int  # warm repeats above 2 MP
    process_rounds: int  # cold starts, batches and imports
    soak_invocations: int

    def rounds(self, image: BenchImage) -> int:
        return self.rounds_small if image.megapixels <= report.SMALL_MP else self.rounds_large


FULL = Plan(False, photos.GENERATED_MP, 12.5, 15, 5, 9, 500)
QUICK = Plan(True, (2,), 2.5, 3, 1, 2, 30)


def step(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def largest_packages(tool: envs.ToolEnv, count: int = 5) -> list[list[Any]]:
    """The biggest top-level entries of a venv's site-packages, in MB."""
    site = next((tool.root / "lib").glob("python*/site-packages"))
    sizes = [
        (entry.name, envs.disk_usage_bytes(entry) / 1024 / 1024)
        for entry in site.iterdir()
        if entry.is_dir() and not entry.name.endswith(("dist-info", "__pycache__"))
    ]
    return [[name, mb] for name, mb in sorted(sizes, key=lambda s: -s[1])[:count]]


def measure_all(plan: Plan) -> dict[str, Any]:
    step("environments: .bench/cutout-venv (pip install .) and .bench/rembg-venv")
    cutout, rembg = envs.cutout_env(), envs.rembg_env()
    fixtures = photos.fixtures()
    step(f"generating {', '.join(f'{mp} MP' for mp in plan.generated_mp)} photos")
    large = photos.generated(envs.WORK / "photos", plan.generated_mp)
    images = fixtures + large
    results: dict[str, Any] = {
        "schema": 1,
        "quick": plan.quick,
        "machine": machine.describe(),
        "versions": {t.name: measure.run_worker(t, "versions") for t in (cutout, rembg)},
        "images": [image.describe() for image in images],
    }
    step("footprint")
    results["footprint"] = {
        t.name: envs.footprint(t) | {"largest": largest_packages(t)} for t in (cutout, rembg)
    }
    step("import times")
    results["imports"] = measure.imports(cutout, rembg, plan.process_rounds)
    step("cold starts")
    results["cold_image"] = fixtures[0].name
    results["cold"] = measure.cold_start(cutout, rembg, fixtures[0], plan.process_rounds)
    step("warm batch (whole CLI runs)")
    results["batch_images"] = [image.name for image in fixtures]
    results["batch"] = measure.batch(cutout, rembg, fixtures, plan.process_rounds)
    step("warm per-image time, both cores")
    results["warm"] = {"2": measure.warm([cutout, rembg], images, plan.rounds)}
    one_core = [image for image in images if image.megapixels <= plan.one_core_max_mp]
    cpu = {max(os.sched_getaffinity(0))}
    step(f"warm per-image time, pinned to CPU {next(iter(cpu))}")
    results["warm"]["1"] = measure.warm([cutout, rembg], one_core, plan.rounds, cpus=cpu)
    step("peak RSS, one fresh process per image")
    results["peak"] = measure.peaks(cutout, rembg, images)
    soak_images = [image for image in images if image.megapixels <= report.SMALL_MP]
    step(f"soak: {plan.soak_invocations} invocations per tool")
    results["soak"] = measure.soak(cutout, rembg, soak_images, plan.soak_invocations)
    results["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


def write_report(results: dict[str, Any], folder: Path) -> None:
    from bench import plots  # matplotlib: only needed here (the bench extra)

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.md").write_text(report.render(results))
    plots.draw_all(results, folder)


def run_u2net(quick: bool, out: Path, render_only: bool) -> int:
    from bench import u2net

    results_path = out / "u2net.json"
    if render_only:
        results = json.loads(results_path.read_text())
    else:
        step("u2net part: cutout against rembg -m u2net")
        results = rounded(u2net.measure_u2net(quick))
        out.mkdir(parents=True, exist_ok=True)
        results_path.write_text(json.dumps(results, indent=1) + "\n")
    (out / "u2net.md").write_text(u2net.render(results))
    step(f"wrote {out}/u2net.md and u2net.json")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", default=bool(os.environ.get("BENCH_QUICK")))
    parser.add_argument(
        "--out",
        type=Path,
        help="folder for results and plots (default: docs/bench, or .bench/quick in quick mode)",
    )
    parser.add_argument("--render-only", action="store_true")
    parser.add_argument(
        "--model",
        choices=["u2netp", "u2net"],
        default=os.environ.get("BENCH_MODEL") or "u2netp",
        help="u2net: only the u2net part (bench/u2net.py)",
    )
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = envs.WORK / "quick" if args.quick else DOCS
    if args.model == "u2net":
        return run_u2net(args.quick, args.out, args.render_only)
    results_path = args.out / "results.json"
    if args.render_only:
        results = json.loads(results_path.read_text())
    else:
        results = rounded(measure_all(QUICK if args.quick else FULL))
        args.out.mkdir(parents=True, exist_ok=True)
        results_path.write_text(json.dumps(results, indent=1) + "\n")
    write_report(results, args.out)
    step(f"wrote {args.out}/results.md, results.json and {', '.join(report.PLOTS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
