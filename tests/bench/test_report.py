"""The report renders from a tiny synthetic result, and judges the goals on its ratios."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import report
from bench.stats import rounded


def _warm(cutout: float, rembg: float, bare: float, n: int = 3) -> dict[str, list[float]]:
    return {
        "cutout": [cutout] * n,
        "cutout_bare": [bare] * n,
        "rembg": [rembg] * n,
        "rembg_bare": [bare] * n,
    }


def synthetic() -> dict[str, Any]:
    """The shape bench/run.py writes to results.json, with made-up numbers."""
    images = [
        {
            "name": "car-1",
            "width": 480,
            "height": 360,
            "megapixels": 0.173,
            "bytes": 1,
            "generated": False,
        },
        {
            "name": "2 MP",
            "width": 1155,
            "height": 1732,
            "megapixels": 2.0,
            "bytes": 1,
            "generated": True,
        },
        {
            "name": "12 MP",
            "width": 2828,
            "height": 4243,
            "megapixels": 12.0,
            "bytes": 1,
            "generated": True,
        },
    ]
    warm = {
        "car-1": _warm(0.22, 0.30, 0.20),
        "2 MP": _warm(0.30, 0.45, 0.21),
        "12 MP": _warm(0.9, 2.5, 0.21),
    }
    versions = {"onnxruntime": "1", "numpy": "2", "pillow": "3"}
    return {
        "schema": 1,
        "quick": True,
        "machine": {
            "cpu": "Test CPU",
            "cores": 2,
            "ram_gb": 4.0,
            "os": "TestOS",
            "kernel": "1",
            "python": "3.11",
            "date": "2026-01-01 00:00 UTC",
            "load_average": [1.0, 1.0, 1.0],
        },
        "versions": {
            "cutout": {"cutout": "0.1.0", **versions},
            "rembg": {"rembg": "2.0.86", **versions},
        },
        "images": images,
        "footprint": {
            "cutout": {"venv_mb": 260.0, "packages_mb": 230.0, "largest": [["onnxruntime", 78]]},
            "rembg": {"venv_mb": 840.0, "packages_mb": 810.0, "largest": [["llvmlite", 172]]},
        },
        "imports": {
            "cutout": {"import_s": [0.4, 0.4], "ready_s": [0.4, 0.4], "rss_mb": [100, 100]},
            "rembg": {"import_s": [0.8, 0.8], "ready_s": [0.9, 0.9], "rss_mb": [250, 250]},
        },
        "cold_image": "car-1",
        "cold": {
            "cli:cutout": {"written": [0.7, 0.8], "exit": [0.8, 0.9]},
            "cli:rembg": {"written": [2.0, 2.0], "exit": [2.2, 2.2]},
            "lambda:cutout": {"written": [1.0, 1.0], "exit": [1.1, 1.1]},
            "lambda:rembg": {"written": [1.5, 1.5], "exit": [1.6, 1.6]},
        },
        "batch_images": ["car-1"],
        "batch": {"cutout": [1.0, 1.2], "rembg": [3.0, 3.0]},
        "warm": {"2": warm, "1": warm},
        "peak": {
            "car-1": {
                "cutout": {"init_mb": 85, "peak_mb": 300, "s": 0.2},
                "rembg": {"init_mb": 246, "peak_mb": 520, "s": 0.3},
            },
            "2 MP": {
                "cutout": {"init_mb": 85, "peak_mb": 330, "s": 0.3},
                "rembg": {"init_mb": 246, "peak_mb": 560, "s": 0.4},
            },
            "12 MP": {
                "cutout": {"init_mb": 85, "peak_mb": 400, "s": 1.0},
                "rembg": {"init_mb": 246, "peak_mb": 1100, "s": 2.0},
            },
        },
        "soak": {
            tool: {
                "init_mb": 100,
                "init_s": 1.0,
                "rss_mb": [300, 310, 305, 306],
                "s": [0.2] * 4,
                "images": ["car-1", "2 MP", "car-1", "2 MP"],
                "peak_mb": peak,
                "failures": 0,
            }
            for tool, peak in (("cutout", 320.0), ("rembg", 600.0))
        },
    }


def test_goals_are_judged_on_same_run_ratios() -> None:
    goals = {g.name.split(",")[0].split(" (")[0]: g for g in report.goals(synthetic())}
    assert goals["Cold start"].met is True  # 0.7-0.8 s vs 2.0 s
    assert goals["Warm batch of the fixtures"].met is True  # 1.1 vs 3.0 -> 0.37x
    assert goals["Installed footprint"].met is True  # 230 / 810 = 0.28
    per_image = next(g for n, g in goals.items() if n.startswith("Warm per-image"))
    assert per_image.met is False  # 2 MP: 0.30 / 0.21 = 1.43x
    assert "2 MP" in per_image.measured
    assert goals["Peak RSS at 12 MP"].met is True  # 400 / 1100 = 0.36


def test_report_renders_every_section() -> None:
    text = report.render(synthetic())
    for heading in (
        "## Machine",
        "## Goals",
        "## Warm per-image time",
        "## Peak RSS",
        "## RSS over a soak",
        "## Installed footprint",
        "## Cost per 1,000 images",
    ):
        assert heading in text
    assert "Test CPU" in text and "Quick mode" in text
    assert "$0.0000166667 per GB-second" in text
    assert "| 512 | 0.29 |" in text
    # rembg's 12 MP peak (1,100 MB) does not fit 512 or 1,024 MB.
    twelve = text.split("### 12 MP photo")[1]
    assert twelve.count("(OOM)") == 2


def test_stage_table_shows_where_cutouts_time_goes() -> None:
    results = synthetic()
    stages = {
        "stage:decode": [0.01] * 3,
        "stage:compose": [0.0] * 3,
        "stage:inference": [0.18] * 3,
        "stage:encode": [0.02] * 3,
    }
    results["warm"]["2"]["car-1"] |= stages
    text = report.render(results)
    assert "Where cutout's time goes" in text
    # total 220 ms = decode 10 + inference 180 + compose 0 + encode 20 + other 10
    assert "| car-1 | 0.17 | 220 ms | 10 ms | 180 ms | 0 ms | 20 ms | 10 ms | 200 ms |" in text
    assert "Where cutout's time goes" not in report.render(synthetic())


def test_warm_soak_peak_marks_tiers_too_small_for_a_warm_instance() -> None:
    results = synthetic()
    results["soak"]["cutout"]["peak_mb"] = 700.0  # above 512 MB after many invocations
    fixtures = report.cost_classes(results)[0]
    assert fixtures.peak_mb["cutout"] == 700.0


def test_results_round_trip_through_json_rounded() -> None:
    results = rounded(synthetic() | {"x": 0.123456789})
    assert results["x"] == 0.12346
    assert report.render(json.loads(json.dumps(results)))


def test_plots_are_drawn_when_matplotlib_is_there(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from bench import plots

    plots.draw_all(synthetic(), tmp_path)
    for name in report.PLOTS:
        assert (tmp_path / name).stat().st_size > 1000


def test_the_lean_profile_gets_its_own_peak_goal_and_column() -> None:
    results = synthetic()
    for tools in results["peak"].values():
        tools["cutout-lean"] = {**tools["cutout"], "peak_mb": tools["cutout"]["peak_mb"] * 0.7}
    peak_goals = [g for g in report.goals(results) if g.name.startswith("Peak RSS at 12 MP")]
    assert [("lean" in g.name, g.met) for g in peak_goals] == [(False, True), (True, True)]
    assert "| cutout lean profile peak (MB) | lean / rembg (peak) |" in report.render(results)
