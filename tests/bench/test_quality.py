"""bench.quality without the ground truth: finding pairs, skipping cleanly, the report."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from bench import quality
from bench.mask_metrics import Scores


def test_pairs_are_photos_with_a_matte_beside_them(tmp_path: Path) -> None:
    for name in ("am_GT02.png", "am_GT02.gt.png", "am_GT01.png", "am_GT01.gt.png", "lone.png"):
        Image.new("L", (4, 3)).save(tmp_path / name)
    found = quality.pairs(tmp_path)
    assert [(n, p.name, m.name) for n, p, m in found] == [
        ("am_GT01", "am_GT01.png", "am_GT01.gt.png"),
        ("am_GT02", "am_GT02.png", "am_GT02.gt.png"),
    ]


def test_without_ground_truth_it_skips_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "docs"
    assert quality.main(["--data", str(tmp_path / "absent"), "--out", str(out)]) == 0
    assert quality.main(["--data", str(tmp_path), "--out", str(out)]) == 0  # no pairs in it
    assert not out.exists()
    assert "skipped" in capsys.readouterr().out


def test_report_has_every_row_and_marks_the_best_per_photo() -> None:
    def row(tool: str, model: str, edges: str, edge_mae: float) -> dict[str, object]:
        per = {"am_GT01": Scores(0.9, 0.05, edge_mae), "am_GT02": Scores(0.8, 0.1, 0.3)}
        return quality.row(tool, model, edges, per)

    results = {
        "machine": {"cpu": "test", "load_average": [1.0, 1.0, 1.0]},
        "data": {"pairs": 2, "source": "made"},
        "edge_band": 0.01,
        "skipped_models": ["u2net"],
        "rows": [row("cutout", "u2netp", "soft", 0.2), row("rembg", "u2netp", "soft", 0.1)],
    }
    text = quality.render_markdown(results)
    assert "| cutout | u2netp | soft | 0.850 | 0.0750 | 0.250 |" in text
    assert "| rembg | u2netp | soft | 0.850 | 0.0750 | 0.200 |" in text
    assert "| am_GT01 | **0.200** |" in text  # cutout's rows only: rembg's equal them
    assert "Lowest edge MAE: u2netp soft on 2 of 2 photos." in text
    assert "Not measured: u2net" in text
    assert "u2netp soft: IoU or MAE differ by at most 0.0000" in text
