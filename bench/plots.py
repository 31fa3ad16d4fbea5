"""The report's PNG plots (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from bench.report import Results, image_megapixels
from bench.stats import Summary

COLORS = {"cutout": "#1f77b4", "rembg": "#d62728", "bare": "#7f7f7f"}
TIERS_MB = (512, 1024, 2048, 3008)


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def peak_rss(results: Results, path: Path) -> None:
    """Peak RSS against megapixels, both tools, with Lambda tiers as guides."""
    megapixels = image_megapixels(results)
    names = sorted(results["peak"], key=lambda n: megapixels[n])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    xs = [megapixels[n] for n in names]
    for tool in ("cutout", "cutout-lean", "rembg"):
        if not all(tool in results["peak"][n] for n in names):
            continue
        ys = [results["peak"][n][tool]["peak_mb"] for n in names]
        style = "o--" if tool == "cutout-lean" else "o-"
        label = {
            "cutout": "cutout, fast profile (from 1,024 MB)",
            "cutout-lean": "cutout, lean profile (below 1,024 MB)",
        }.get(tool, tool)
        ax.plot(xs, ys, style, color=COLORS[tool.split("-")[0]], label=label)
    top = max(results["peak"][n][t]["peak_mb"] for n in names for t in ("cutout", "rembg"))
    for tier in TIERS_MB:
        if tier < top * 1.2:
            ax.axhline(tier, color="#bbbbbb", linestyle=":", linewidth=1)
            ax.annotate(
                f"{tier} MB",
                (1, tier),
                xytext=(-2, 2),
                ha="right",
                textcoords="offset points",
                fontsize=7,
                color="#888888",
                xycoords=("axes fraction", "data"),
            )
    ax.set_xlabel("input megapixels")
    ax.set_ylabel("peak RSS (MB), fresh process per image")
    ax.set_ylim(bottom=0)
    ax.set_title("Peak memory against image size")
    ax.legend()
    ax.grid(alpha=0.3)
    _save(fig, path)


def soak_rss(results: Results, path: Path) -> None:
    """RSS after every invocation of the soak, both tools."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for tool in ("cutout", "rembg"):
        series = results["soak"][tool]["rss_mb"]
        ax.plot(range(1, len(series) + 1), series, color=COLORS[tool], linewidth=1, label=tool)
    ax.set_xlabel("invocation")
    ax.set_ylabel("RSS after the invocation (MB)")
    ax.set_title("RSS over the soak (mixed image sizes)")
    ax.set_ylim(bottom=0)
    ax.legend()
    ax.grid(alpha=0.3)
    _save(fig, path)


def _bar(ax: Any, x: float, values: list[float], width: float, color: str, label: str) -> None:
    s = Summary.of(values)
    ax.bar(
        x,
        s.median,
        width,
        color=color,
        label=label,
        yerr=[[s.median - s.p25], [s.p75 - s.median]],
        capsize=2,
    )


def times(results: Results, path: Path) -> None:
    """Warm per-image medians (left) and whole-process times (right), IQR as error bars."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    warm = results["warm"]["2"]
    series = (
        ("cutout", "cutout", "o"),
        ("cutout_bare", "bare session.run (cutout's)", "s"),
        ("rembg", "rembg", "D"),
    )
    for offset, (key, label, marker) in zip((-0.15, 0.0, 0.15), series, strict=True):
        color = COLORS[key.split("_")[-1]] if key != "cutout_bare" else COLORS["bare"]
        summaries = [Summary.of(warm[name][key]) for name in warm]
        left.errorbar(
            [i + offset for i in range(len(warm))],
            [s.median for s in summaries],
            yerr=[[s.median - s.p25 for s in summaries], [s.p75 - s.median for s in summaries]],
            fmt=marker,
            color=color,
            label=label,
            capsize=3,
        )
    left.set_xticks(range(len(warm)), list(warm), rotation=20, fontsize=8)
    left.set_yscale("log")
    left.set_ylabel("seconds per image (log scale)")
    left.set_title("Warm per-image time, median and IQR (2 cores)")
    left.legend(fontsize=8)
    left.grid(alpha=0.3, which="both", axis="y")

    cold = results["cold"]
    groups = [
        ("CLI cold start", cold["cli:cutout"]["written"], cold["cli:rembg"]["written"]),
        (
            "Lambda-style\ncold start",
            cold["lambda:cutout"]["written"],
            cold["lambda:rembg"]["written"],
        ),
        ("warm batch\n(fixtures)", results["batch"]["cutout"], results["batch"]["rembg"]),
        (
            "import until\nsession ready",
            results["imports"]["cutout"]["ready_s"],
            results["imports"]["rembg"]["ready_s"],
        ),
    ]
    width = 0.35
    for i, (_label, ours, theirs) in enumerate(groups):
        _bar(right, i - width / 2, ours, width, COLORS["cutout"], "cutout" if i == 0 else "_")
        _bar(right, i + width / 2, theirs, width, COLORS["rembg"], "rembg" if i == 0 else "_")
    right.set_xticks(range(len(groups)), [g[0] for g in groups], fontsize=8)
    right.set_ylabel("seconds")
    right.set_title("Whole processes")
    right.legend(fontsize=8)
    right.grid(alpha=0.3, axis="y")
    _save(fig, path)


def draw_all(results: Results, folder: Path) -> None:
    peak_rss(results, folder / "peak-rss.png")
    soak_rss(results, folder / "soak-rss.png")
    times(results, folder / "times.png")
