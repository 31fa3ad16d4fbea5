"""The u2net part of `make bench`: cutout against `rembg -m u2net`, side by side.

    python -m bench.run --model u2net     (or BENCH_MODEL=u2net make bench): this part only
    python -m bench.run --model u2net --render-only

Both tools run the same verified u2net.onnx (rembg's from $U2NET_HOME, never downloaded).
Measured: warm time per image at 2 and 12 MP (both cores, and pinned to one for the cost table),
the CLI's cold start on one photo, peak RSS at 12 MP in a fresh process (cutout at every tier
that holds u2net and admits 12 MP, with that tier's session profile), and the cost per 1,000
images per tier. Written to docs/bench/u2net.md and u2net.json.
"""

from __future__ import annotations

import os
from typing import Any

from bench import cost, envs, machine, measure, photos
from bench.photos import BenchImage
from bench.report import ratio, spread, table
from bench.stats import Summary, paired_ratio

MODEL = "u2net"
SIZES_MP = (2, 12)
LARGE_MP = 12
ROUNDS = {"quick": {2: 3, 12: 1}, "full": {2: 11, 12: 9}}
COLD_ROUNDS = {"quick": 2, "full": 5}
# Goals of issue 13, item 5 (cutout / rembg).
WARM_GOAL = {2: 0.8, 12: 0.5}
COLD_GOAL = 0.5
PEAK_GOAL = 0.6


def tiers_admitting(megapixels: float) -> list[tuple[int, str]]:
    """(tier, session profile) of every cost tier that holds u2net and admits this photo."""
    from handler.core.tiers import MemoryTier

    found = []
    for memory_mb in cost.TIERS_MB:
        tier = MemoryTier.for_memory(memory_mb, models=(MODEL,))
        if tier.holds_models and tier.max_pixels >= megapixels * 1_000_000:
            found.append((memory_mb, tier.profile))
    return found


def measure_u2net(quick: bool) -> dict[str, Any]:
    mode = "quick" if quick else "full"
    cutout, rembg = envs.cutout_env(MODEL), envs.rembg_env(MODEL)
    images = photos.generated(envs.WORK / "photos", SIZES_MP)
    by_mp = dict(zip(SIZES_MP, images, strict=True))

    def rounds(image: BenchImage) -> int:
        return ROUNDS[mode][round(image.megapixels)]

    results: dict[str, Any] = {
        "schema": 1,
        "model": MODEL,
        "quick": quick,
        "machine": machine.describe(),
        "images": [image.describe() for image in images],
    }
    results["warm"] = {"2": measure.warm([cutout, rembg], images, rounds)}
    cpu = {max(os.sched_getaffinity(0))}
    results["warm"]["1"] = measure.warm([cutout, rembg], images, rounds, cpus=cpu)
    fixture = photos.fixtures()[0]
    results["cold_image"] = fixture.name
    results["cold"] = measure.cold_start(cutout, rembg, fixture, COLD_ROUNDS[mode], kinds=("cli",))
    large = by_mp[LARGE_MP]
    peaks: dict[str, Any] = {}
    for memory_mb, profile in tiers_admitting(LARGE_MP):
        env = {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb)}
        answer = measure.run_worker(cutout, "peak", str(large.path), env=env)
        peaks[f"cutout@{memory_mb}"] = answer | {"profile": profile}
    peaks["rembg"] = measure.run_worker(rembg, "peak", str(large.path))
    results["peak_12mp"] = peaks
    results["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


def render(results: dict[str, Any]) -> str:
    """docs/bench/u2net.md: goals first, then the tables behind them."""
    names = {round(i["megapixels"]): i["name"] for i in results["images"]}
    warm2, warm1 = results["warm"]["2"], results["warm"]["1"]
    rows, goal_rows = [], []
    for mp in SIZES_MP:
        series = warm2[names[mp]]
        r = paired_ratio(series["cutout"], series["rembg"])
        rows.append(
            [
                f"{mp} MP",
                spread(Summary.of(series["cutout"])),
                spread(Summary.of(series["rembg"])),
                ratio(r),
                spread(Summary.of(series["cutout_bare"])),
                spread(Summary.of(series["rembg_bare"])),
            ]
        )
        goal_rows.append(
            [
                f"Warm per image, {mp} MP (both cores)",
                f"<= {WARM_GOAL[mp]}x rembg",
                ratio(r),
                "yes" if r.median <= WARM_GOAL[mp] else "**no**",
            ]
        )
    cold = results["cold"]
    cold_ratio = paired_ratio(cold["cli:cutout"]["written"], cold["cli:rembg"]["written"])
    goal_rows.append(
        [
            "Cold start, CLI on one image (start to result written)",
            f"<= {COLD_GOAL}x rembg",
            ratio(cold_ratio),
            "yes" if cold_ratio.median <= COLD_GOAL else "**no**",
        ]
    )
    peaks = results["peak_12mp"]
    rembg_peak = peaks["rembg"]["peak_mb"]
    peak_rows = []
    for key, answer in peaks.items():
        if key == "rembg":
            continue
        share = answer["peak_mb"] / rembg_peak
        tier = key.split("@")[1]
        peak_rows.append(
            [
                f"cutout at {tier} MB ({answer['profile']})",
                f"{answer['init_mb']:.0f} MiB",
                f"{answer['peak_mb']:.0f} MiB",
                f"{share:.2f}x",
            ]
        )
        goal_rows.append(
            [
                f"Peak RSS at 12 MP, {tier} MB tier ({answer['profile']} profile)",
                f"<= {PEAK_GOAL}x rembg",
                f"{share:.2f}x ({answer['peak_mb']:.0f} vs {rembg_peak:.0f} MiB)",
                "yes" if share <= PEAK_GOAL else "**no**",
            ]
        )
    peak_rows.append(
        ["rembg", f"{peaks['rembg']['init_mb']:.0f} MiB", f"{rembg_peak:.0f} MiB", "1.00x"]
    )
    cost_rows = []
    for mp in SIZES_MP:
        series = warm1[names[mp]]
        ours = cost.cost_table(Summary.of(series["cutout"]).median)
        theirs = cost.cost_table(Summary.of(series["rembg"]).median, rembg_peak)
        held = [t for t, _ in tiers_admitting(mp)]
        for a, b in zip(ours, theirs, strict=True):
            fits = a.memory_mb in held
            cost_rows.append(
                [
                    f"{mp} MP",
                    str(a.memory_mb),
                    f"{a.seconds:.3f}",
                    f"${a.dollars:.4f}" if fits else "refused (tier too small)",
                    f"{b.seconds:.3f}",
                    f"${b.dollars:.4f}" + ("" if b.fits else " (OOM)"),
                ]
            )
    m = results["machine"]
    load = ", ".join(str(x) for x in m.get("load_average", []))
    load_end = ", ".join(str(x) for x in m.get("load_average_end", []))
    parts = [
        "# cutout vs `rembg -m u2net`",
        "",
        "Written by `python -m bench.run --model u2net` (bench/u2net.py). Both tools run the same "
        "verified u2net.onnx (md5 60024c5c889badc19c04ad937298a77b; rembg's from `$U2NET_HOME`). "
        "Ratios are paired: each round times both tools moments apart. "
        f"Load average at the start: {load}; at the end: {load_end}."
        + (" **Quick run: few repeats.**" if results.get("quick") else ""),
        "",
        "## Goals (issue 13, item 5)",
        "",
        table(["goal", "target", "measured", "met"], goal_rows),
        "",
        "## Warm time per image (both cores; median and IQR)",
        "",
        "`bare` is the model's session.run alone on a prepared input.",
        "",
        table(["photo", "cutout", "rembg", "cutout / rembg", "cutout bare", "rembg bare"], rows),
        "",
        "## Cold start (CLI, one image)",
        "",
        f"`cutout remove --model` vs `rembg i -m u2net` on {results['cold_image']}: process start "
        "to result written.",
        "",
        table(
            ["tool", "start to written"],
            [
                ["cutout", spread(Summary.of(cold["cli:cutout"]["written"]), "s")],
                ["rembg", spread(Summary.of(cold["cli:rembg"]["written"]), "s")],
            ],
        ),
        "",
        "## Peak RSS, 12 MP JPEG, fresh process",
        "",
        "cutout at each tier that holds u2net and admits 12 MP "
        "(AWS_LAMBDA_FUNCTION_MEMORY_SIZE set: the tier's session profile).",
        "",
        table(["tool", "RSS after init", "peak RSS", "vs rembg"], peak_rows),
        "",
        "## Cost per 1,000 images (one-CPU warm time, bench/cost.py's model)",
        "",
        table(
            ["photo", "tier MB", "cutout s", "cutout $", "rembg s", "rembg $"],
            cost_rows,
        ),
    ]
    return "\n".join(parts) + "\n"
