"""How the tuning scripts choose: session options and the PNG level, and the soak's events."""

from __future__ import annotations

import base64
from typing import Any

from bench import png_levels, session_options
from bench.photos import size_for
from bench.worker import api_event, soak_order


def _row(arena: bool, pattern: bool, threads: int, vs_ref: float, peak: float) -> dict[str, Any]:
    config = {"arena": arena, "pattern": pattern, "threads": threads}
    return {"config": config, "vs_reference": vs_ref, "peak_mb": peak}


def test_session_options_pick_the_leanest_setting_that_is_fast_at_every_thread_count() -> None:
    rows = [
        _row(True, True, 1, 1.80, 570),
        _row(True, False, 1, 1.78, 380),
        _row(False, True, 1, 2.20, 370),
        _row(False, False, 1, 1.90, 420),
        _row(True, True, 2, 1.00, 570),
        _row(True, False, 2, 1.02, 380),
        _row(False, True, 2, 1.30, 370),
        _row(False, False, 2, 1.25, 380),
    ]
    chosen = session_options.choose(rows)
    assert (chosen["arena"], chosen["pattern"]) == (True, False)
    assert chosen["peak_mb"] == 380


def test_session_options_fall_back_to_the_smallest_slowdown() -> None:
    rows = [
        _row(True, True, 1, 1.0, 500),
        _row(False, True, 1, 1.5, 300),
        _row(True, True, 2, 1.5, 500),
        _row(False, True, 2, 1.0, 300),
    ]
    chosen = session_options.choose(rows)
    assert chosen["slowdown"] == 1.5


def test_png_level_is_the_cheapest_in_encode_time_plus_transfer() -> None:
    rows = [
        {"level": 0, "bytes": 20e6, "s": 0.3},  # huge
        {"level": 1, "bytes": 2.2e6, "s": 0.5},
        {"level": 4, "bytes": 1.95e6, "s": 0.8},
        {"level": 9, "bytes": 1.87e6, "s": 5.0},  # slow
    ]
    assert png_levels.recommend(rows, images=5) == 4
    # With free bytes, the fastest level would win.
    assert png_levels.dollars_per_1000(rows[0], 5) > png_levels.dollars_per_1000(rows[1], 5)


def test_soak_order_uses_every_image_equally_and_is_seeded() -> None:
    order = soak_order(4, 40, seed=7)
    assert sorted(order.count(i) for i in range(4)) == [10, 10, 10, 10]
    assert order == soak_order(4, 40, seed=7)
    assert order != soak_order(4, 40, seed=8)


def test_api_event_carries_the_body_and_its_length() -> None:
    template = {
        "headers": {"Content-Length": "1"},
        "multiValueHeaders": {"Content-Length": ["1"]},
        "body": "",
        "isBase64Encoded": False,
    }
    event = api_event(template, b"abc")
    assert base64.b64decode(event["body"]) == b"abc"
    assert event["isBase64Encoded"] is True
    assert event["headers"]["Content-Length"] == "3"
    assert event["multiValueHeaders"]["Content-Length"] == ["3"]
    assert template["body"] == ""  # the template is not modified


def test_generated_sizes_keep_the_aspect_and_the_megapixels() -> None:
    width, height = size_for(12, 2 / 3)
    assert abs(width * height - 12e6) < 10_000
    assert abs(width / height - 2 / 3) < 0.001


def test_png_report_marks_the_recommended_level() -> None:
    per_level = {
        str(level): {"bytes": 1000 - level, "s": [0.01 * (level + 1)]} for level in range(10)
    }
    data = {
        "machine": {"date": "today", "cpu": "Test CPU", "cores": 2},
        "pillow": "12",
        "rounds": 1,
        "images": {"car-1": per_level},
        "totals": png_levels.totals({"car-1": per_level}),
        "recommended": 1,
    }
    text = png_levels.render(data)
    assert "| **1** |" in text and "compress_level=1" in text
