"""The cold-start report renders from a synthetic result and judges the goals on paired ratios."""

from __future__ import annotations

from typing import Any

from bench import cold_start


def run(wall: float, **phases: float) -> dict[str, Any]:
    return {"wall_ms": wall, "phases_ms": {"interpreter": 20.0, **phases}}


def synthetic(api_ms: float, s3_ms: float, rembg_ms: float) -> dict[str, Any]:
    cutout_phases = {"imports": 100.0, "session": 30.0, "wiring": 50.0, "first_run": 80.0}
    return {
        "machine": {"cpu": "Test CPU", "cores": 2},
        "image": "car-1.jpg",
        "rounds": 3,
        "load_average_1min": [1.0, 1.5, 1.2],
        "runs": {
            "cutout:api": [run(api_ms, **cutout_phases)] * 3,
            "cutout:api+warm-up": [run(api_ms + 10, warm_up=60.0, **cutout_phases)] * 3,
            "cutout:s3": [run(s3_ms, **cutout_phases)] * 3,
            "rembg:remove": [run(rembg_ms, imports=600.0, session=60.0, first_run=200.0)] * 3,
        },
        "imports": {"cutout:api": [["handler", 300.0]], "rembg:remove": [["rembg", 600.0]]},
        "session_levers": {
            "session_ms": {"lean, as shipped": 70.0, "lean, optimised offline": 26.0},
            "first_run_ms": {"lean, as shipped": 250.0},
            "second_run_ms": {"lean, as shipped": 190.0},
        },
    }


def test_goals_are_judged_on_the_paired_ratio() -> None:
    text = cold_start.render(synthetic(api_ms=500, s3_ms=500, rembg_ms=1000))
    assert "| cutout:api | 500 ms (500-500) | 0.50x (0.50-0.50) | <= 0.5x: met |" in text
    assert "| cutout:s3 | 500 ms (500-500) | 0.50x (0.50-0.50) | <= 0.4x: not met |" in text
    assert "Load average (1 min) during the run: 1.0 to 1.5" in text


def test_the_breakdown_and_the_levers_are_reported() -> None:
    text = cold_start.render(synthetic(api_ms=600, s3_ms=380, rembg_ms=1000))
    assert "| cutout:api+warm-up | 20 | 100 | 30 | 60 | 50 | 80 |" in text
    assert "| rembg:remove | 20 | 600 | 60 | - | - | 200 |" in text
    assert "| lean, as shipped | 70 | 250 | 190 |" in text
    assert "| lean, optimised offline | 26 | - | - |" in text
