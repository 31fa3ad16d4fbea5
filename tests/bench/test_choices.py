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


def _encoder(name: str, size: float, seconds: float, threads: int = 1) -> dict[str, Any]:
    return {"encoder": name, "threads": threads, "bytes": size, "s": seconds}


def test_png_encoder_is_the_fastest_on_one_core_near_pillows_default_size() -> None:
    rows = [
        _encoder("pillow-1", 2.2e6, 0.40),
        _encoder("pillow-4", 1.95e6, 0.60),
        _encoder("pillow-6", 1.90e6, 1.00),
        _encoder("up-1", 2.25e6, 0.20),  # fastest, but 18% over pillow-6
        _encoder("up-4", 2.05e6, 0.30),
        _encoder("up-4 x2", 2.05e6, 0.18, threads=2),  # two cores: not what Lambda has
        _encoder("up-6", 2.00e6, 0.45),
    ]
    assert png_levels.recommend(rows) == "up-4"
    # The cost column counts bytes out too: more bytes cost more at the same time.
    assert png_levels.dollars_per_1000(rows[3], 5) > png_levels.dollars_per_1000(
        _encoder("x", 2.0e6, 0.20), 5
    )


def test_the_chosen_png_encoder_is_the_one_encode_uses() -> None:
    import json
    import zlib

    from zlib_ng import zlib_ng

    from handler.core import encode

    chosen = json.loads((png_levels.DOCS / "png-levels.json").read_text())["recommended"]
    setting = "rle" if encode.PNG_STRATEGY == zlib.Z_RLE else str(encode.PNG_COMPRESS_LEVEL)
    library = {zlib: "up", zlib_ng: "ng"}[encode.PNG_DEFLATE]
    assert chosen == f"{library}-{setting}"


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


def test_png_report_marks_the_chosen_encoder() -> None:
    names = [candidate.name for candidate in png_levels.candidates()]
    per_encoder = {
        name: {"bytes": 1000 + number, "s": [0.01 * (number + 1)]}
        for number, name in enumerate(names)
    }
    data = {
        "machine": {"date": "today", "cpu": "Test CPU", "cores": 2},
        "pillow": "12",
        "rounds": 1,
        "images": {"car-1": per_encoder},
        "totals": png_levels.totals({"car-1": per_encoder}),
        "recommended": "up-4",
    }
    assert png_levels.recommend(data["totals"]) == "pillow-1"  # fastest and smallest here
    text = png_levels.render(data)
    assert "| **up-4** | 1 |" in text and "**up-4** (handler/core/encode.py)" in text


def test_session_profiles_report_compares_each_option_with_lean() -> None:
    from bench import session_profiles

    rows = [
        {
            "config": name,
            "threads": threads,
            "ms": 100.0 * (number + 1) / threads,
            "first_ms": 500.0,
            "loaded_mb": 70.0,
            "after_mb": 100.0 + number,
            "peak_mb": 300.0,
        }
        for threads in (1, 2)
        for number, name in enumerate(session_profiles.CONFIGS)
    ]
    data = {
        "machine": {"date": "today", "cpu": "Test CPU", "cores": 2, "load_average": [0.1]},
        "onnxruntime": "1.32.0",
        "runs": 25,
        "rounds": 3,
        "rows": rows,
    }
    text = session_profiles.render(data)
    assert "| lean (512 MB tiers) | 100 | 1.00x |" in text
    assert "| fast (1,024 MB and up) | 400 | 4.00x |" in text
    assert text.count("| ONNX Runtime defaults (rembg) |") == 2
