"""docs/bench/results.md from results.json: goals, tables and the cost model. Pure functions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench import cost
from bench.stats import Summary, paired_ratio

Results = dict[str, Any]
PLOTS = ("peak-rss.png", "soak-rss.png", "times.png")
# "Photos up to 2 MP" (issue 2's goal, the soak's mix): the generated 2 MP photo is 2.0005 MP.
SMALL_MP = 2.05


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def secs(seconds: float) -> str:
    return f"{seconds:.2f} s"


def spread(summary: Summary, unit: str = "ms") -> str:
    """Median and interquartile range, e.g. `213 ms (205-230)`."""
    k = 1000.0 if unit == "ms" else 1.0
    digits = 0 if unit == "ms" else 2
    return (
        f"{summary.median * k:.{digits}f} {unit} "
        f"({summary.p25 * k:.{digits}f}-{summary.p75 * k:.{digits}f})"
    )


def ratio(summary: Summary) -> str:
    return f"{summary.median:.2f}x ({summary.p25:.2f}-{summary.p75:.2f})"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


@dataclass(frozen=True)
class Goal:
    """One target from the issues, and what this run measured against it."""

    name: str
    source: str
    target: str
    measured: str
    met: bool | None  # None: not measured in this run

    def row(self) -> list[str]:
        verdict = {True: "yes", False: "**no**", None: "not measured"}[self.met]
        return [self.name, self.source, self.target, self.measured, verdict]


def image_megapixels(results: Results) -> dict[str, float]:
    return {image["name"]: image["megapixels"] for image in results["images"]}


def photo_names(results: Results) -> list[str]:
    """The real photos (rembg's fixtures), as opposed to the generated large ones."""
    return [image["name"] for image in results["images"] if not image["generated"]]


def warm_ratio(per_image: dict[str, list[float]], a: str, b: str) -> Summary:
    return paired_ratio(per_image[a], per_image[b])


def goals(results: Results) -> list[Goal]:
    """Every goal the issues set for this benchmark, judged on this run's same-run ratios."""
    found: list[Goal] = []
    cold = results["cold"]
    cli = paired_ratio(cold["cli:cutout"]["written"], cold["cli:rembg"]["written"])
    found.append(
        Goal(
            "Cold start, CLI on one image (start to result written)",
            "issue 4",
            "<= 0.4x rembg",
            ratio(cli),
            cli.median <= 0.4,
        )
    )
    batch = paired_ratio(results["batch"]["cutout"], results["batch"]["rembg"])
    found.append(
        Goal(
            "Warm batch of the fixtures, whole CLI runs",
            "issue 4",
            "<= 0.6x rembg",
            ratio(batch),
            batch.median <= 0.6,
        )
    )
    speedup = 1 / batch.median
    found.append(
        Goal(
            "Same batch: cutout's speed-up over `rembg p -m u2netp`",
            "issue 2",
            ">= 1.5x faster",
            f"{speedup:.2f}x faster",
            speedup >= 1.5,
        )
    )
    foot = results["footprint"]
    share = foot["cutout"]["packages_mb"] / foot["rembg"]["packages_mb"]
    found.append(
        Goal(
            "Installed footprint (site-packages of a runtime-only venv)",
            "issue 4",
            "<= 0.3x rembg",
            f"{share:.2f}x ({foot['cutout']['packages_mb']:.0f} MB vs "
            f"{foot['rembg']['packages_mb']:.0f} MB)",
            share <= 0.3,
        )
    )
    megapixels = image_megapixels(results)
    warm = results["warm"]["2"]
    small = [name for name in warm if megapixels[name] <= SMALL_MP]
    if small:
        worst_name = max(small, key=lambda n: warm_ratio(warm[n], "cutout", "cutout_bare").median)
        worst = warm_ratio(warm[worst_name], "cutout", "cutout_bare")
        found.append(
            Goal(
                "Warm per-image time vs a bare session.run, photos up to 2 MP (worst photo)",
                "issue 2",
                "<= 1.2x",
                f"{ratio(worst)} on {worst_name}",
                worst.median <= 1.2,
            )
        )
    twelve = results["peak"].get("12 MP")
    if twelve is None:
        found.append(Goal("Peak RSS at 12 MP", "issue 7", "<= 0.45x rembg", "-", None))
    else:
        profiles = [("cutout", "fast session profile, tiers from 1,024 MB")]
        if "cutout-lean" in twelve:
            profiles.append(("cutout-lean", "lean session profile, tiers below 1,024 MB"))
        for key, label in profiles:
            share = twelve[key]["peak_mb"] / twelve["rembg"]["peak_mb"]
            found.append(
                Goal(
                    f"Peak RSS at 12 MP (fresh process; {label})",
                    "issue 7",
                    "<= 0.45x rembg",
                    f"{share:.2f}x ({twelve[key]['peak_mb']:.0f} MB vs "
                    f"{twelve['rembg']['peak_mb']:.0f} MB)",
                    share <= 0.45,
                )
            )
    return found


@dataclass(frozen=True)
class CostClass:
    """A kind of image the cost table is worked out for: one-CPU times and peak RSS per tool."""

    label: str
    one_core_s: dict[str, float]
    peak_mb: dict[str, float | None]


_TOOLS = ("cutout", "rembg")


def cost_classes(results: Results) -> list[CostClass]:
    """The fixture photos (mean of their medians), then each generated size timed on one CPU."""
    one = results["warm"].get("1", {})
    peaks = results["peak"]

    def median_of(name: str, tool: str) -> float:
        return Summary.of(one[name][tool]).median

    def peak_of(name: str, tool: str) -> float | None:
        """The fresh-process peak, or the soak's when the image was in it and that is higher
        (a warm process reaches more than one fresh image: what an instance must fit)."""
        found = [peaks[name][tool]["peak_mb"]] if name in peaks else []
        soak = results.get("soak", {}).get(tool)
        if soak and name in soak["images"]:
            found.append(soak["peak_mb"])
        return max(found) if found else None

    classes = []
    photos = [n for n in photo_names(results) if n in one]
    if photos:
        classes.append(
            CostClass(
                f"rembg's fixture photos ({len(photos)}, mean of their medians)",
                {t: sum(median_of(n, t) for n in photos) / len(photos) for t in _TOOLS},
                {t: max((peak_of(n, t) or 0.0) for n in photos) or None for t in _TOOLS},
            )
        )
    for image in results["images"]:
        name = image["name"]
        if image["generated"] and name in one:
            classes.append(
                CostClass(
                    f"{name} photo",
                    {t: median_of(name, t) for t in _TOOLS},
                    {t: peak_of(name, t) for t in _TOOLS},
                )
            )
    return classes


def cost_rows(kind: CostClass) -> list[list[str]]:
    ours = cost.cost_table(kind.one_core_s["cutout"], kind.peak_mb["cutout"])
    theirs = cost.cost_table(kind.one_core_s["rembg"], kind.peak_mb["rembg"])

    def cells(c: cost.TierCost) -> list[str]:
        note = "" if c.fits else " (OOM)"
        return [f"{c.seconds:.3f}", f"{c.gb_seconds:.0f}", f"${c.dollars:.4f}{note}"]

    return [
        [
            str(a.memory_mb),
            f"{cost.vcpus(a.memory_mb):.2f}",
            *cells(a),
            *cells(b),
            f"{a.dollars / b.dollars:.2f}x",
        ]
        for a, b in zip(ours, theirs, strict=True)
    ]


def render(results: Results) -> str:
    """The whole Markdown report."""
    out: list[str] = []
    quick = results.get("quick", False)
    out.append("# cutout vs rembg 2.0.86 (u2netp): benchmark results\n")
    out.append(
        "Generated by `make bench` (bench/run.py). Every ratio is cutout over rembg measured in "
        "the same run, the two tools alternating (the order flips every round); each figure is "
        "the median of the repeats, with the interquartile range in brackets. Ratios are the "
        "median of per-round ratios, so a burst of load on the machine cancels out.\n"
    )
    if quick:
        out.append(
            "> **Quick mode** (`BENCH_QUICK=1`): few repeats, fewer images. Not for quoting.\n"
        )
    out.append("## Machine\n")
    out.append(_machine(results))
    out.append("\n## Goals\n")
    out.append(
        table(["Goal", "From", "Target", "Measured", "Met"], [g.row() for g in goals(results)])
    )
    out.append("\n\n![times](times.png)\n")
    out.append("\n## Warm per-image time\n")
    out.append(
        "In-process, each tool loaded once in its own long-lived process: cutout's service "
        "(admit, decode, predict, compose, PNG encode; no cache) and rembg's `remove()` with a "
        "reused u2netp session, both from JPEG bytes to PNG bytes. *Bare* is one "
        "`session.run` on an already prepared 320x320 input, with the tool's own session.\n"
    )
    for cores, label in (("2", "both cores"), ("1", "pinned to one core")):
        if cores in results["warm"]:
            out.append(f"\n### {label.capitalize()}\n")
            out.append(_warm_table(results, results["warm"][cores]))
            out.append("\n")
    stage_table = _stage_table(results)
    if stage_table:
        out.append("\n### Where cutout's time goes (both cores, medians)\n")
        out.append(
            "The pipeline's own stage timings (the `Server-Timing` header's). *decode* "
            "includes the 320x320 LANCZOS resize and normalisation of the model input; "
            "*inference* is `session.run` and the scaling of its output to an 8-bit mask; "
            "*compose* includes the mask's LANCZOS upscale to the photo's size; *other* is the "
            "service around the pipeline (admit, the sha256 cache key, the memory budget).\n"
        )
        out.append(stage_table)
        out.append("\n")
    out.append("\n## Whole processes: cold start, batch, import\n")
    out.append(_process_table(results))
    out.append("\n\n## Peak RSS against megapixels\n")
    out.append(
        "Each image in a fresh process: the tool's init, then one image to PNG bytes. "
        "`ru_maxrss` of that process.\n\n"
    )
    out.append(_peak_table(results))
    out.append("\n\n![peak RSS](peak-rss.png)\n")
    out.append("\n## RSS over a soak\n")
    out.append(_soak_text(results))
    out.append("\n\n![soak RSS](soak-rss.png)\n")
    out.append("\n## Installed footprint\n")
    out.append(_footprint_table(results))
    out.append("\n\n## Cost per 1,000 images on AWS Lambda\n")
    out.append(_cost_text(results))
    out.append("\n## How it was measured\n")
    out.append(_method_text(results))
    return "\n".join(out).rstrip() + "\n"


def _machine(results: Results) -> str:
    m = results["machine"]
    versions = results["versions"]
    rows = [
        ["CPU", f"{m['cpu']}, {m['cores']} cores (shared with other work while measuring)"],
        ["RAM", f"{m['ram_gb']} GB"],
        ["OS", f"{m['os']}, kernel {m['kernel']}"],
        ["Python", m["python"]],
        ["Date", m["date"]],
        ["Load average at start / end", f"{m['load_average']} / {m.get('load_average_end', '-')}"],
    ]
    for tool in _TOOLS:
        v = versions[tool]
        rows.append(
            [
                f"{tool} venv",
                f"{tool} {v[tool]}, onnxruntime {v['onnxruntime']}, numpy {v['numpy']}, "
                f"Pillow {v['pillow']}",
            ]
        )
    return table(["", ""], rows)


def _warm_table(results: Results, warm: dict[str, dict[str, list[float]]]) -> str:
    megapixels = image_megapixels(results)
    rows = []
    for name, per_image in warm.items():
        rows.append(
            [
                name,
                f"{megapixels[name]:.2f}",
                spread(Summary.of(per_image["cutout"])),
                spread(Summary.of(per_image["rembg"])),
                ratio(warm_ratio(per_image, "cutout", "rembg")),
                spread(Summary.of(per_image["cutout_bare"])),
                ratio(warm_ratio(per_image, "cutout", "cutout_bare")),
                ratio(warm_ratio(per_image, "rembg", "rembg_bare")),
                str(len(per_image["cutout"])),
            ]
        )
    return table(
        [
            "Image",
            "MP",
            "cutout",
            "rembg",
            "cutout / rembg",
            "bare session.run (cutout's)",
            "cutout / bare",
            "rembg / its bare",
            "n",
        ],
        rows,
    )


STAGES = ("decode", "inference", "compose", "encode")


def _stage_table(results: Results) -> str:
    warm = results["warm"]["2"]
    megapixels = image_megapixels(results)
    rows = []
    for name, per_image in warm.items():
        if not all(f"stage:{s}" in per_image for s in ("inference", "encode")):
            continue
        total = Summary.of(per_image["cutout"]).median
        medians = {
            s: Summary.of(per_image[f"stage:{s}"]).median if f"stage:{s}" in per_image else 0.0
            for s in STAGES
        }
        bare = Summary.of(per_image["cutout_bare"]).median
        # The rest of each call (admit, cache key, budget), call by call: medians do not add up.
        rest = [
            total_i - sum(per_image[f"stage:{s}"][i] for s in STAGES if f"stage:{s}" in per_image)
            for i, total_i in enumerate(per_image["cutout"])
        ]
        rows.append(
            [
                name,
                f"{megapixels[name]:.2f}",
                ms(total),
                *(ms(medians[s]) for s in STAGES),
                ms(max(Summary.of(rest).median, 0.0)),
                ms(bare),
            ]
        )
    if not rows:
        return ""
    return table(
        ["Image", "MP", "total", *STAGES, "other", "bare session.run"],
        rows,
    )


def _process_table(results: Results) -> str:
    cold = results["cold"]
    rows = []
    for kind, label in (
        ("cli", f"Cold start, CLI on one image ({results['cold_image']}): to result written"),
        ("lambda", "Cold start, Lambda-style: init + first API event, to result written"),
    ):
        c, r = cold[f"{kind}:cutout"]["written"], cold[f"{kind}:rembg"]["written"]
        rows.append(
            [
                label,
                spread(Summary.of(c), "s"),
                spread(Summary.of(r), "s"),
                ratio(paired_ratio(c, r)),
            ]
        )
        c, r = cold[f"{kind}:cutout"]["exit"], cold[f"{kind}:rembg"]["exit"]
        rows.append(
            [
                "... same, to process exit",
                spread(Summary.of(c), "s"),
                spread(Summary.of(r), "s"),
                ratio(paired_ratio(c, r)),
            ]
        )
    c, r = results["batch"]["cutout"], results["batch"]["rembg"]
    rows.append(
        [
            f"Warm batch, {len(results['batch_images'])} fixtures, whole CLI run",
            spread(Summary.of(c), "s"),
            spread(Summary.of(r), "s"),
            ratio(paired_ratio(c, r)),
        ]
    )
    imports = results["imports"]
    for key, label in (
        ("import_s", "Import: `import handler.app` (includes the session) vs `import rembg`"),
        ("ready_s", "Import until a u2netp session is ready"),
    ):
        c, r = imports["cutout"][key], imports["rembg"][key]
        rows.append(
            [
                label,
                spread(Summary.of(c), "s"),
                spread(Summary.of(r), "s"),
                ratio(paired_ratio(c, r)),
            ]
        )
    c, r = imports["cutout"]["rss_mb"], imports["rembg"]["rss_mb"]
    rows.append(
        [
            "RSS once ready (MB)",
            f"{Summary.of(c).median:.0f} MB",
            f"{Summary.of(r).median:.0f} MB",
            f"{Summary.of(c).median / Summary.of(r).median:.2f}x",
        ]
    )
    return table(["Measurement", "cutout", "rembg", "cutout / rembg"], rows)


def _peak_table(results: Results) -> str:
    megapixels = image_megapixels(results)
    lean = all("cutout-lean" in tools for tools in results["peak"].values())
    rows = []
    for name, tools in sorted(results["peak"].items(), key=lambda kv: megapixels[kv[0]]):
        c, r = tools["cutout"], tools["rembg"]
        row = [
            name,
            f"{megapixels[name]:.2f}",
            f"{c['init_mb']:.0f}",
            f"{c['peak_mb']:.0f}",
            f"{r['init_mb']:.0f}",
            f"{r['peak_mb']:.0f}",
            f"{c['peak_mb'] / r['peak_mb']:.2f}x",
        ]
        if lean:
            leaner = tools["cutout-lean"]["peak_mb"]
            row += [f"{leaner:.0f}", f"{leaner / r['peak_mb']:.2f}x"]
        rows.append(row)
    headers = [
        "Image",
        "MP",
        "cutout after init (MB)",
        "cutout peak (MB)",
        "rembg after init (MB)",
        "rembg peak (MB)",
        "cutout / rembg (peak)",
    ]
    if lean:
        headers += ["cutout lean profile peak (MB)", "lean / rembg (peak)"]
    return table(headers, rows)


def soak_summary(series: Sequence[float]) -> dict[str, float]:
    """First and last sample, the maximum, and growth over the last half (leak signal)."""
    half = len(series) // 2
    tail = series[half:]
    return {
        "first": series[0],
        "last": series[-1],
        "max": max(series),
        "tail_growth": tail[-1] - min(tail) if tail else 0.0,
    }


def _soak_text(results: Results) -> str:
    soak = results["soak"]
    n = len(soak["cutout"]["rss_mb"])
    names = sorted(set(soak["cutout"]["images"]))
    text = (
        f"{n} invocations per tool over a shuffled mix of {', '.join(names)} (every image equally "
        "often, same order for both). cutout: `handler.app.lambda_handler` with API Gateway v1 "
        "events built like `events/api-v1.json`; rembg: `remove()` with one reused session. "
        "RSS sampled after every invocation.\n\n"
    )
    rows = []
    for tool in _TOOLS:
        s = soak_summary(soak[tool]["rss_mb"])
        rows.append(
            [
                tool,
                f"{soak[tool]['init_mb']:.0f}",
                f"{s['first']:.0f}",
                f"{s['last']:.0f}",
                f"{s['max']:.0f}",
                f"{s['tail_growth']:+.0f}",
                f"{soak[tool]['peak_mb']:.0f}",
                str(soak[tool]["failures"]),
            ]
        )
    return text + table(
        [
            "Tool",
            "after init (MB)",
            "after 1st (MB)",
            f"after {n}th (MB)",
            "max sampled (MB)",
            "last-half rise (MB)",
            "peak RSS (MB)",
            "failed",
        ],
        rows,
    )


def _footprint_table(results: Results) -> str:
    foot = results["footprint"]
    rows = []
    for tool in _TOOLS:
        f = foot[tool]
        largest = ", ".join(f"{name} {mb:.0f}" for name, mb in f.get("largest", []))
        rows.append([tool, f"{f['packages_mb']:.0f}", f"{f['venv_mb']:.0f}", largest])
    text = table(
        ["Tool", "site-packages, no pip/setuptools (MB)", "whole venv (MB)", "largest (MB)"],
        rows,
    )
    return text + (
        "\n\ncutout: `pip install . -r requirements/lambda.in` (no dev extras; lambda.in adds "
        "Powertools' tracer extra, which `import handler.app` needs); rembg: "
        '`pip install "rembg[cpu,cli]==2.0.86"`. MB on disk (allocated blocks, bytecode '
        "included). Neither count includes the 4.5 MB model: cutout's image carries it in "
        "`layers/`, rembg downloads it at run time unless it is already in place."
    )


def _cost_text(results: Results) -> str:
    parts = [
        f"Price assumed: x86, ${cost.PRICE_PER_GB_SECOND:.10f} per GB-second and "
        f"${cost.PRICE_PER_REQUEST * 1e6:.2f} per million requests (us-east-1 on-demand, no "
        "free tier). GB-seconds = memory (MB) / 1024 x billed seconds (rounded up to 1 ms) x "
        "1,000 images; dollars add the requests.\n\n"
        "CPU: Lambda gives one vCPU's worth of CPU at 1,769 MB, in proportion to memory. Both "
        "tools were timed pinned to one CPU of this machine, each with its own threading. Below "
        "1,769 MB the duration is that time x 1769 / memory; from 1,769 MB it is that time, "
        "with no speed-up credited for further vCPUs (this machine's second core is shared "
        "with other work, so its two-core times measure contention as much as parallelism). "
        "Costs at 3,008 and 10,240 MB are therefore upper bounds for both tools. Warm "
        "invocations only: no init, no cache hits. **(OOM)** marks a tier below the peak RSS "
        "measured for that image (in a fresh process, or over the soak for the images in it): "
        "such invocations would be killed, not billed as shown. cutout's times are its fast "
        "session profile's (the benchmark's 2,048 MB tier); below 1,024 MB cutout runs the "
        "lean profile, whose session.run takes ~1.55x as long on one thread "
        "([session-profiles.md](session-profiles.md)), so its 512 MB row is an underestimate.\n"
    ]
    header = [
        "Tier (MB)",
        "vCPUs",
        "cutout s/image",
        "cutout GB-s",
        "cutout $",
        "rembg s/image",
        "rembg GB-s",
        "rembg $",
        "cutout / rembg ($)",
    ]
    for kind in cost_classes(results):
        parts.append(f"\n### {kind.label}\n")
        parts.append(table(header, cost_rows(kind)))
        parts.append("\n")
    if len(parts) == 1:
        parts.append("\n(no one-core measurement in this run)\n")
    return "\n".join(parts)


def _method_text(results: Results) -> str:
    images = ", ".join(
        f"{i['name']} ({i['width']}x{i['height']})" for i in results["images"] if i["generated"]
    )
    return (
        "- Both tools run from runtime-only virtual environments made by the benchmark "
        "(`.bench/cutout-venv`: `pip install .`; `.bench/rembg-venv`: rembg[cpu,cli]==2.0.86). "
        "rembg's u2netp.onnx is our verified copy placed at `$U2NET_HOME/u2netp.onnx` (md5 "
        "checked), and rembg's processes run with HTTP(S) pointed at a closed port: nothing is "
        "downloaded at run time.\n"
        "- Images: rembg's fixtures (vendored in `tests/fixtures/rembg/*.jpg`) and photos "
        "generated at "
        f"bench time from plants-1 (upscaled, seeded noise, JPEG q90): {images}.\n"
        "- cutout runs with its result cache off (`CUTOUT_CACHE_DIR=`), so every call works.\n"
        "- Each tool uses its own default threading: cutout sets intra-op threads to the cores it "
        "may run on (in Lambda-style runs, where AWS_LAMBDA_FUNCTION_MEMORY_SIZE=2048, to the "
        "tier's one whole vCPU); rembg leaves ONNX Runtime's default (one thread per core).\n"
        "- This machine's two cores are shared with other engineers' test runs: absolute times "
        "move with their load (see the load averages above), which is why every comparison is "
        "a ratio of neighbouring measurements. Peak RSS does not depend on load.\n"
        "- Cold starts are measured with a warm page cache (one untimed round first, for both); "
        "'result written' is the output file's modification time.\n"
        "- Raw repeats are in `results.json`; plots are regenerated from it by "
        "`python -m bench.run --render-only`.\n"
        "- The ONNX Runtime session options and the PNG encoder were chosen by their "
        "own measurements: [session-options.md](session-options.md), "
        "[png-levels.md](png-levels.md).\n"
    )
