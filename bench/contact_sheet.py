"""`python -m bench.contact_sheet`: docs/bench/contact-sheet.png, the cutouts side by side.

One row per rembg test photo (tests/fixtures/rembg, MIT: the only photos the repository may
carry), one column per model and edges (soft, sharp), each cutout over a checkerboard so that
what is transparent shows. u2net columns appear when layers/model/u2net.onnx is there.
"""

from __future__ import annotations

import argparse
import functools
import io
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from bench import envs, photos
from bench.quality import EDGES, available_models, model_file
from handler.core.admit import admit
from handler.core.options import Edges, RemoveOptions
from handler.core.pipeline import render
from handler.core.predict import PROFILES, U2NetModel, load_model
from handler.core.tiers import MemoryTier

CELL_HEIGHT = 150
GAP = 6
LABEL_HEIGHT = 22
SQUARE = 10  # checkerboard squares, in pixels of the sheet
LIGHT, DARK = (236, 236, 236), (190, 190, 190)
TARGET = envs.REPO / "docs" / "bench" / "contact-sheet.png"


def checkerboard(size: tuple[int, int]) -> Image.Image:
    """Light and dark squares, as image editors show transparency."""
    width, height = size
    board = Image.new("RGB", size, LIGHT)
    draw = ImageDraw.Draw(board)
    for top in range(0, height, SQUARE):
        for left in range((top // SQUARE) % 2 * SQUARE, width, 2 * SQUARE):
            draw.rectangle((left, top, left + SQUARE - 1, top + SQUARE - 1), fill=DARK)
    return board


def thumbnail(image: Image.Image) -> Image.Image:
    width = round(image.width * CELL_HEIGHT / image.height)
    return image.resize((width, CELL_HEIGHT), Image.Resampling.LANCZOS)


def on_checkerboard(cutout: Image.Image) -> Image.Image:
    small = thumbnail(cutout.convert("RGBA"))
    board = checkerboard(small.size).convert("RGBA")
    return Image.alpha_composite(board, small).convert("RGB")


@functools.cache
def loaded(model_name: str) -> U2NetModel:
    return load_model(model_file(model_name), PROFILES["lean"])


def cutouts(model_name: str, data: bytes) -> dict[str, Image.Image]:
    """cutout's RGBA results for one photo, per edges, through the whole pipeline."""
    tier = MemoryTier(memory_mb=10240, max_pixels=200_000_000, max_input_bytes=1 << 30)
    header = admit(data, tier)
    results = {}
    for edges in EDGES:
        options = RemoveOptions(edges=Edges(edges))
        rendered = render(data, header, options, model=loaded(model_name))
        results[edges] = Image.open(io.BytesIO(rendered.data))
    return results


def sheet(models: list[str]) -> Image.Image:
    """The whole sheet: a label row, then one row per fixture."""
    columns = ["photo", *(f"{m}, {e} edges" for m in models for e in EDGES)]
    rows: list[list[Image.Image]] = []
    for image in photos.fixtures():
        data = image.path.read_bytes()
        with Image.open(image.path) as source:
            cells = [thumbnail(source.convert("RGB"))]
        for model_name in models:
            results = cutouts(model_name, data)
            cells += [on_checkerboard(results[edges]) for edges in EDGES]
        rows.append(cells)
    widths = [max(row[i].width for row in rows) for i in range(len(columns))]
    width = sum(widths) + GAP * (len(columns) + 1)
    height = LABEL_HEIGHT + len(rows) * (CELL_HEIGHT + GAP) + GAP
    out = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(out)
    font = ImageFont.load_default(size=14)
    left = GAP
    for label, column_width in zip(columns, widths, strict=True):
        draw.text((left + 2, 3), label, fill="black", font=font)
        left += column_width + GAP
    top = LABEL_HEIGHT
    for cells in rows:
        left = GAP
        for cell, column_width in zip(cells, widths, strict=True):
            out.paste(cell, (left + (column_width - cell.width) // 2, top))
            left += column_width + GAP
        top += CELL_HEIGHT + GAP
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=TARGET)
    args = parser.parse_args(argv)
    models = available_models()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet(models).save(args.out, optimize=True)
    print(f"wrote {args.out} ({', '.join(models)}; soft and sharp)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
