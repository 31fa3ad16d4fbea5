"""`python -m bench.quality`: mask quality against human ground truth, cutout's and rembg's.

The ground truth is the 27 alphamatting.com training pairs in ../shared/quality/ (its
SOURCES.md says where they come from): research benchmark data, read where it lies and never
copied into the repository. The masks made from it go to a temporary folder that is deleted
at the end; only the numbers are written, to docs/bench/quality.md and quality.json.
Without the folder this says so and exits cleanly (status 0).

Rows: cutout and rembg 2.0.86, u2netp and u2net (u2net when layers/model/u2net.onnx is
there), each with soft edges (the model's mask) and sharp ones (rembg's post_process_mask,
cutout's edges=sharp). rembg runs from .bench/rembg-venv with our verified model files at
$U2NET_HOME, and with the network closed: nothing is downloaded.

python -m bench.quality [--data FOLDER] [--out FOLDER]
python -m bench.quality --render-only     redraw quality.md from quality.json
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench import envs, machine
from bench.mask_metrics import EDGE_BAND, Scores, mean_scores, score
from bench.stats import rounded

DOCS = envs.REPO / "docs" / "bench"
DATA_ENV = "BENCH_QUALITY_DIR"
MODELS = ("u2netp", "u2net")
EDGES = ("soft", "sharp")
TOOLS = ("cutout", "rembg")
# rembg's own checksums of the model files (sessions/u2net*.py); DESIGN.md lists the same.
MD5 = {"u2netp": envs.U2NETP_MD5, "u2net": "60024c5c889badc19c04ad937298a77b"}


def step(message: str) -> None:
    print(f"[quality {time.strftime('%H:%M:%S')}] {message}", flush=True)


def main_checkout() -> Path:
    """The main working tree of this repository (a git worktree's own root otherwise)."""
    try:
        common = subprocess.run(
            ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
            cwd=envs.REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return envs.REPO
    return Path(common).parent


def data_folder(explicit: Path | None = None) -> Path | None:
    """--data, else $BENCH_QUALITY_DIR, else ../shared/quality next to the (main) checkout."""
    if explicit is not None:
        return explicit if explicit.is_dir() else None
    if os.environ.get(DATA_ENV):
        folder = Path(os.environ[DATA_ENV])
        return folder if folder.is_dir() else None
    for root in (envs.REPO, main_checkout()):
        folder = root.parent / "shared" / "quality"
        if folder.is_dir():
            return folder
    return None


def pairs(folder: Path) -> list[tuple[str, Path, Path]]:
    """(name, photo, matte) for every am_*.png with its .gt.png beside it."""
    found = []
    for photo in sorted(folder.glob("*.png")):
        if photo.name.endswith(".gt.png"):
            continue
        matte = photo.with_name(f"{photo.stem}.gt.png")
        if matte.is_file():
            found.append((photo.stem, photo, matte))
    return found


def model_file(name: str) -> Path:
    return envs.REPO / "layers" / "model" / f"{name}.onnx"


def available_models() -> list[str]:
    return [name for name in MODELS if model_file(name).is_file()]


def cutout_masks(model_name: str, photos: list[Path], out: Path) -> None:
    """cutout's masks through its own pipeline (render, mask=true), soft and sharp.

    The model runs once per photo: the sharp mask is the soft one through `sharpen`, which is
    what render does for edges=sharp (pipeline.full_size_mask; tests/test_parity.py checks the
    two agree with rembg's).
    """
    from handler.core.admit import admit
    from handler.core.edges import sharpen
    from handler.core.options import RemoveOptions
    from handler.core.pipeline import render
    from handler.core.predict import PROFILES, load_model
    from handler.core.tiers import MemoryTier

    # The profile changes speed and memory, never the mask.
    model = load_model(model_file(model_name), PROFILES["fast"])
    tier = MemoryTier(memory_mb=10240, max_pixels=200_000_000, max_input_bytes=1 << 30)
    out.mkdir(parents=True, exist_ok=True)
    for photo in photos:
        data = photo.read_bytes()
        rendered = render(data, admit(data, tier), RemoveOptions(mask=True), model=model)
        (out / f"{photo.stem}.soft.png").write_bytes(rendered.data)
        with Image.open(io.BytesIO(rendered.data)) as soft:
            sharpen(soft).save(out / f"{photo.stem}.sharp.png")


def seed_rembg_model(home: Path, name: str) -> None:
    """Our verified model file where rembg looks first (as envs.seed_rembg_model for u2netp)."""
    source, target = model_file(name), home / f"{name}.onnx"
    if envs.md5_of(source) != MD5[name]:
        raise SystemExit(f"{source} does not have rembg's md5 {MD5[name]}: run 'make setup'")
    shutil.rmtree(home / "models", ignore_errors=True)
    if not target.is_file() or envs.md5_of(target) != MD5[name]:
        shutil.copyfile(source, target)


def rembg_masks(tool: envs.ToolEnv, model_name: str, photos: list[Path], out: Path) -> None:
    """rembg's masks, soft and post-processed, made by rembg in its own environment."""
    seed_rembg_model(Path(tool.env["U2NET_HOME"]), model_name)
    script = Path(__file__).with_name("rembg_masks.py")
    command = [str(tool.python), str(script), "--model", model_name, "--out", str(out)]
    subprocess.run([*command, *map(str, photos)], env=tool.env, check=True)


def read_gray(path: Path) -> np.ndarray:
    """A mask or matte as a uint8 array."""
    with Image.open(path) as image:
        return np.asarray(image.convert("L"))


def measure(folder: Path) -> dict[str, Any]:
    """Every available (tool, model, edges) row, scored image by image."""
    found = pairs(folder)
    photos = [photo for _, photo, _ in found]
    models = available_models()
    step(f"{len(found)} pairs in {folder}; models: {', '.join(models) or 'none'}")
    rembg = envs.rembg_env()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="cutout-quality-") as scratch:
        for model_name in models:
            for tool in TOOLS:
                out = Path(scratch) / f"{tool}-{model_name}"
                step(f"{tool} {model_name}: masks of {len(photos)} photos")
                if tool == "cutout":
                    cutout_masks(model_name, photos, out)
                else:
                    rembg_masks(rembg, model_name, photos, out)
                for edges in EDGES:
                    per_image = {
                        name: score(read_gray(out / f"{name}.{edges}.png"), read_gray(matte))
                        for name, _, matte in found
                    }
                    rows.append(row(tool, model_name, edges, per_image))
    skipped = [name for name in MODELS if name not in models]
    return {
        "schema": 1,
        "machine": machine.describe(),
        "data": {"pairs": len(found), "source": "alphamatting.com training set (SOURCES.md)"},
        "edge_band": EDGE_BAND,
        "skipped_models": skipped,
        "rows": rows,
    }


def row(tool: str, model_name: str, edges: str, per_image: dict[str, Scores]) -> dict[str, Any]:
    overall = mean_scores(list(per_image.values()))
    return {
        "tool": tool,
        "model": model_name,
        "edges": edges,
        **overall.as_dict(),
        "per_image": {name: s.as_dict() for name, s in per_image.items()},
    }


def _find(rows: list[dict[str, Any]], tool: str, model: str, edges: str) -> dict[str, Any] | None:
    return next(
        (r for r in rows if (r["tool"], r["model"], r["edges"]) == (tool, model, edges)), None
    )


def render_markdown(results: dict[str, Any]) -> str:
    """quality.md: the summary table, what each column means, and the per-image numbers."""
    rows = results["rows"]
    load = results["machine"].get("load_average")
    lines = [
        "# Mask quality against human ground truth",
        "",
        f"{results['data']['pairs']} photos with measured alpha mattes "
        f"({results['data']['source']}, read from ../shared/quality/, never copied). "
        "Each figure is the mean over the photos. IoU at 0.5 (higher is better); MAE and edge "
        f"MAE in 0..1 (lower is better); edge MAE is the MAE within {results['edge_band']:.0%} "
        "of the image diagonal (Euclidean) of the true edge, where hair, fur and soft outlines "
        "are; the true edge is both sides of the 4-connected boundary of (matte > 0.5). "
        "Metrics: bench/mask_metrics.py.",
        "",
        "| tool | model | edges | IoU | MAE | edge MAE |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['tool']} | {r['model']} | {r['edges']} | {r['iou']:.3f} | {r['mae']:.4f} "
            f"| {r['edge_mae']:.3f} |"
        )
    if results["skipped_models"]:
        skipped = ", ".join(results["skipped_models"])
        lines += ["", f"Not measured: {skipped} (no layers/model/<name>.onnx; run make setup)."]
    lines += ["", *_agreement(rows), "", *_per_image(rows)]
    lines += [
        "",
        f"Machine: {results['machine'].get('cpu', '?')}; load average at the start {load}. "
        "Quality does not depend on the load; only the run time does.",
        "",
    ]
    return "\n".join(lines)


def _agreement(rows: list[dict[str, Any]]) -> list[str]:
    """cutout against rembg, same model and edges: the largest per-image difference."""
    lines = ["cutout against rembg on the same model and edges (largest per-image difference):"]
    lines.append("")
    for r in rows:
        if r["tool"] != "cutout":
            continue
        other = _find(rows, "rembg", r["model"], r["edges"])
        if other is None:
            continue
        diffs = [
            max(abs(r["per_image"][n][k] - other["per_image"][n][k]) for k in ("iou", "mae"))
            for n in r["per_image"]
        ]
        lines.append(f"- {r['model']} {r['edges']}: IoU or MAE differ by at most {max(diffs):.4f}")
    return lines


def _per_image(rows: list[dict[str, Any]]) -> list[str]:
    """Edge MAE per photo for cutout's rows (rembg's equal them, above): where each model and
    edge choice wins, and how often."""
    ours = [r for r in rows if r["tool"] == "cutout"] or rows
    if not ours:
        return []
    labels = [f"{r['model']} {r['edges']}" for r in ours]
    wins = dict.fromkeys(labels, 0)
    lines = [f"Edge MAE per photo, {ours[0]['tool']}'s masks (the lowest in bold):", ""]
    lines += [f"| photo | {' | '.join(labels)} |", "|---" * (len(ours) + 1) + "|"]
    for name in ours[0]["per_image"]:
        values = [r["per_image"][name]["edge_mae"] for r in ours]
        best = min(values)
        wins[labels[values.index(best)]] += 1
        cells = [f"**{v:.3f}**" if v == best else f"{v:.3f}" for v in values]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    counts = ", ".join(f"{label} on {count}" for label, count in wins.items())
    return [f"Lowest edge MAE: {counts} of {len(ours[0]['per_image'])} photos.", "", *lines]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help=f"the pairs' folder (or ${DATA_ENV})")
    parser.add_argument("--out", type=Path, default=DOCS)
    parser.add_argument("--render-only", action="store_true")
    args = parser.parse_args(argv)
    results_path = args.out / "quality.json"
    if args.render_only:
        results = json.loads(results_path.read_text())
    else:
        folder = data_folder(args.data)
        if folder is None or not pairs(folder):
            step("no ground truth found (../shared/quality/ or --data): quality table skipped")
            return 0
        results = rounded(measure(folder))
        args.out.mkdir(parents=True, exist_ok=True)
        results_path.write_text(json.dumps(results, indent=1) + "\n")
    (args.out / "quality.md").write_text(render_markdown(results))
    step(f"wrote {args.out}/quality.md and quality.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
