"""PNG compress_level 0-9 on real cutouts: bytes against encode time (issue 2, item 4 encode).

    .venv/bin/python -m bench.png_levels [--rounds 7] [--quick]

The inputs are cutout's own RGBA results for rembg's fixtures and a generated 2 MP photo (made
by the pipeline, decoded back to the RGBA image encode() receives). Each level is timed with
the same Pillow call handler/encode.py makes, the levels taking turns in a rotating order.
Writes docs/bench/png-levels.md and png-levels.json.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

from PIL import Image

from bench import cost, machine, photos
from bench.envs import REPO, WORK
from bench.report import table
from bench.stats import Summary

DOCS = REPO / "docs" / "bench"
LEVELS = tuple(range(10))
# The recommendation weighs encode time, billed by Lambda, against bytes sent to the client,
# billed as data transfer out: x86 GB-seconds at a 2,048 MB tier, and $0.09 per GB out to the
# internet (the first 10 TB a month; results answered inline or by a presigned S3 URL both pay it).
REFERENCE_TIER_MB = 2048
EGRESS_PER_GB = 0.09
GB = 1024**3
_NO_METADATA = {"icc_profile": None, "exif": b"", "xmp": b""}


def cutouts() -> dict[str, Image.Image]:
    """cutout's RGBA results for the fixtures and a 2 MP photo, as encode() would get them."""
    from handler.cache import NoCache
    from handler.options import RemoveOptions
    from handler.predict import SessionTuning, load_model
    from handler.service import CutoutService
    from handler.settings import Settings
    from handler.tiers import MemoryTier

    settings = Settings.from_env()
    service = CutoutService(
        model=load_model(settings.model_path, SessionTuning()),
        tier=MemoryTier.for_memory(settings.memory_mb),
        cache=NoCache(),
    )
    images = photos.fixtures() + photos.generated(WORK / "photos", (2,))
    found: dict[str, Image.Image] = {}
    for image in images:
        png = service.remove(image.path.read_bytes(), RemoveOptions.parse()).data
        rgba = Image.open(io.BytesIO(png))
        rgba.load()
        found[image.name] = rgba
    return found


def encode_png(image: Image.Image, level: int) -> tuple[int, float]:
    """Bytes and seconds for one encode at this level."""
    out = io.BytesIO()
    started = time.perf_counter()
    image.save(out, "PNG", compress_level=level, **_NO_METADATA)
    return len(out.getvalue()), time.perf_counter() - started


def measure(images: dict[str, Image.Image], rounds: int) -> dict[str, dict[str, Any]]:
    """Per image and level: the size (bytes, deterministic) and encode times of every round."""
    result: dict[str, dict[str, Any]] = {
        name: {str(level): {"bytes": 0, "s": []} for level in LEVELS} for name in images
    }
    for r in range(rounds + 1):
        order = LEVELS[r % len(LEVELS) :] + LEVELS[: r % len(LEVELS)]
        for name, image in images.items():
            for level in order:
                size, seconds = encode_png(image, level)
                entry = result[name][str(level)]
                entry["bytes"] = size
                if r > 0:  # round 0 warms caches and allocations
                    entry["s"].append(seconds)
    return result


def totals(result: dict[str, dict[str, Any]]) -> list[dict[str, float]]:
    """Per level, over all images: total bytes, and the sums of per-image median and fastest
    encode times (the fastest of the rounds is the one least disturbed by other work on the
    machine: the cost model uses it)."""
    rows = []
    for level in LEVELS:
        key = str(level)
        rows.append(
            {
                "level": level,
                "bytes": sum(per[key]["bytes"] for per in result.values()),
                "median_s": sum(Summary.of(per[key]["s"]).median for per in result.values()),
                "s": sum(min(per[key]["s"]) for per in result.values()),
            }
        )
    return rows


def dollars_per_1000(row: dict[str, float], images: int) -> float:
    """Encode time plus bytes out, per 1,000 images like the average one measured."""
    seconds = row["s"] / images
    size = row["bytes"] / images
    compute = seconds * REFERENCE_TIER_MB / 1024 * cost.PRICE_PER_GB_SECOND
    return (compute + size / GB * EGRESS_PER_GB) * 1000


def recommend(rows: list[dict[str, float]], images: int) -> int:
    """The level with the lowest encode-plus-transfer cost."""
    return int(min(rows, key=lambda row: dollars_per_1000(row, images))["level"])


def render(data: dict[str, Any]) -> str:
    result, rows = data["images"], data["totals"]
    chosen = data["recommended"]
    smallest = min(row["bytes"] for row in rows)
    fastest = min(row["s"] for row in rows if row["level"] > 0)
    m = data["machine"]
    names = list(result)
    lines = [
        "# PNG compress_level: size against encode time\n",
        f"Measured by `python -m bench.png_levels` on {m['date']} ({m['cpu']}, {m['cores']} "
        f"cores shared with other work), Pillow {data['pillow']}. Inputs: cutout's RGBA results "
        f"for {', '.join(names)}. Same call as handler/encode.py (Pillow's adaptive filtering, "
        f"no metadata); {data['rounds']} rounds, levels in rotating order; times are medians.\n",
        "## All images together\n",
        table(
            [
                "Level",
                "total MB",
                "vs smallest",
                "encode ms (sum of medians)",
                "encode ms (sum of fastest)",
                "vs fastest level (1-9)",
                "$ per 1,000 (encode + transfer)",
            ],
            [
                [
                    f"**{row['level']}**" if row["level"] == chosen else str(row["level"]),
                    f"{row['bytes'] / 1e6:.2f}",
                    f"{row['bytes'] / smallest:.2f}x",
                    f"{row['median_s'] * 1000:.0f}",
                    f"{row['s'] * 1000:.0f}",
                    f"{row['s'] / fastest:.2f}x",
                    f"${dollars_per_1000(row, len(names)):.5f}",
                ]
                for row in rows
            ],
        ),
        "\n## Per image (KB / ms)\n",
        table(
            ["Level", *names],
            [
                [str(level)]
                + [
                    f"{result[n][str(level)]['bytes'] / 1e3:.0f} / "
                    f"{Summary.of(result[n][str(level)]['s']).median * 1000:.1f}"
                    for n in names
                ]
                for level in LEVELS
            ],
        ),
        "\n## Recommendation\n",
        f"**compress_level={chosen}**: the lowest cost per image when encode time is billed "
        f"as Lambda duration at {REFERENCE_TIER_MB} MB (x86, ${cost.PRICE_PER_GB_SECOND:.10f} "
        f"per GB-s) and the bytes as data transfer out (${EGRESS_PER_GB} per GB), taking each "
        "image's fastest encode of the rounds (the least disturbed by other work on this "
        "shared machine). Level 0 writes the pixels uncompressed: several times larger, and "
        "over the 4 MB that fits inline in a Lambda response for ordinary photos. Above the "
        "pick, each level adds encode time for a percent or two of bytes.\n",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="2 rounds, written to .bench/")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    rounds = 2 if args.quick else args.rounds
    out = args.out or (WORK / "quick" if args.quick else DOCS)
    out.mkdir(parents=True, exist_ok=True)
    import PIL

    started = machine.describe()
    result = measure(cutouts(), rounds)
    rows = totals(result)
    data = {
        "machine": started,
        "pillow": PIL.__version__,
        "rounds": rounds,
        "images": result,
        "totals": rows,
        "recommended": recommend(rows, len(result)),
    }
    (out / "png-levels.json").write_text(json.dumps(data, indent=1) + "\n")
    (out / "png-levels.md").write_text(render(data))
    print(f"recommended compress_level={data['recommended']}; wrote {out}/png-levels.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
