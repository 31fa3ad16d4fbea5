"""bench/u2net.py's report renders from a synthetic result and judges issue 13's goals."""

from __future__ import annotations

from typing import Any

from bench import u2net


def _warm(cutout: float, rembg: float, n: int = 3) -> dict[str, list[float]]:
    return {
        "cutout": [cutout] * n,
        "cutout_bare": [0.28] * n,
        "rembg": [rembg] * n,
        "rembg_bare": [0.28] * n,
    }


def synthetic(cold_cutout: float) -> dict[str, Any]:
    images = [
        {"name": f"{mp} MP", "width": 1, "height": 1, "megapixels": float(mp), "bytes": 1}
        for mp in (2, 12)
    ]
    warm = {"2 MP": _warm(0.5, 0.7), "12 MP": _warm(1.0, 2.5)}
    peak = {"init_mb": 300.0, "peak_mb": 500.0, "s": 1.0, "out_bytes": 1}
    return {
        "model": "u2net",
        "quick": False,
        "machine": {"load_average": [1.0, 1.0, 1.0], "load_average_end": [2.0, 2.0, 2.0]},
        "images": images,
        "warm": {"2": warm, "1": warm},
        "cold_image": "anime-girl-1",
        "cold": {
            "cli:cutout": {"written": [cold_cutout] * 3, "exit": [cold_cutout] * 3},
            "cli:rembg": {"written": [2.0] * 3, "exit": [2.0] * 3},
        },
        "peak_12mp": {
            "cutout@1024": peak | {"profile": "lean"},
            "cutout@2048": peak | {"peak_mb": 800.0, "profile": "fast"},
            "rembg": peak | {"peak_mb": 1000.0},
        },
    }


def goal_rows(text: str) -> dict[str, str]:
    """Goal name -> its 'met' cell."""
    section = text.split("## Goals")[1].split("##")[0]
    rows = [line.split(" | ") for line in section.splitlines() if line.startswith("| ")]
    return {row[0].lstrip("| "): row[-1].rstrip(" |") for row in rows[1:]}


def test_goals_are_judged_on_the_paired_ratios() -> None:
    text = u2net.render(synthetic(cold_cutout=0.9))
    met = goal_rows(text)
    assert met["Warm per image, 2 MP (both cores)"] == "yes"  # 0.71x <= 0.8x
    assert met["Warm per image, 12 MP (both cores)"] == "yes"  # 0.40x <= 0.5x
    assert met["Cold start, CLI on one image (start to result written)"] == "yes"
    assert met["Peak RSS at 12 MP, 1024 MB tier (lean profile)"] == "yes"  # 0.50x
    assert met["Peak RSS at 12 MP, 2048 MB tier (fast profile)"] == "**no**"  # 0.80x
    assert "Load average at the start: 1.0, 1.0, 1.0" in text


def test_a_slow_cold_start_is_reported_as_not_met() -> None:
    met = goal_rows(u2net.render(synthetic(cold_cutout=1.5)))
    assert met["Cold start, CLI on one image (start to result written)"] == "**no**"
