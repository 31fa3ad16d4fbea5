"""The benchmark's images: rembg's fixtures, and large photos generated from one of them.

The large photos are made at bench time and never committed: a real photo (plants-1) upscaled
to the target size with mild sensor-like noise, saved as JPEG. Same numpy and Pillow versions
give the same bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "rembg"
FIXTURE_NAMES = ("anime-girl-1", "car-1", "cloth-1", "plants-1")
GENERATED_MP = (2, 12, 24)
SOURCE = "plants-1"
NOISE_SIGMA = 4.0
JPEG_QUALITY = 90
_ROWS_PER_CHUNK = 256


@dataclass(frozen=True)
class BenchImage:
    """One input: its name in the report, where it is, its size."""

    name: str
    path: Path
    width: int
    height: int
    generated: bool

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6

    def describe(self) -> dict[str, object]:
        """Everything but the machine path, for results.json."""
        return {
            "name": self.name,
            "width": self.width,
            "height": self.height,
            "megapixels": round(self.megapixels, 3),
            "bytes": self.path.stat().st_size,
            "generated": self.generated,
        }


def _open(name: str, path: Path, generated: bool) -> BenchImage:
    with Image.open(path) as image:
        width, height = image.size
    return BenchImage(name, path, width, height, generated)


def fixtures() -> list[BenchImage]:
    """rembg's own test photos (found next to the repo, as tests/support.py does)."""
    missing = [n for n in FIXTURE_NAMES if not (FIXTURES / f"{n}.jpg").is_file()]
    if missing:
        raise SystemExit(f"fixtures missing under {FIXTURES}: {', '.join(missing)}")
    return [_open(n, FIXTURES / f"{n}.jpg", False) for n in FIXTURE_NAMES]


def size_for(megapixels: float, aspect: float) -> tuple[int, int]:
    """Width and height with this aspect (width / height) and about this many megapixels."""
    height = math.sqrt(megapixels * 1e6 / aspect)
    return round(height * aspect), round(height)


def generate(megapixels: int, dest: Path) -> Path:
    """Upscale the source photo to `megapixels`, add seeded noise, save as JPEG."""
    source = Image.open(FIXTURES / f"{SOURCE}.jpg").convert("RGB")
    width, height = size_for(megapixels, source.width / source.height)
    big = np.asarray(source.resize((width, height), Image.Resampling.BICUBIC))
    rng = np.random.default_rng(megapixels)
    noisy = np.empty_like(big)
    for top in range(0, height, _ROWS_PER_CHUNK):
        rows = big[top : top + _ROWS_PER_CHUNK].astype(np.float32)
        rows += rng.standard_normal(rows.shape, dtype=np.float32) * NOISE_SIGMA
        np.clip(rows, 0, 255, out=rows)
        noisy[top : top + _ROWS_PER_CHUNK] = rows.astype(np.uint8)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_suffix(".part")
    Image.fromarray(noisy).save(partial, "JPEG", quality=JPEG_QUALITY)
    partial.replace(dest)
    return dest


def generated(folder: Path, sizes: tuple[int, ...] = GENERATED_MP) -> list[BenchImage]:
    """The large photos, made once per folder (deterministic, so reusing them is safe)."""
    images = []
    for mp in sizes:
        path = folder / f"photo-{mp}mp.jpg"
        if not path.is_file():
            generate(mp, path)
        images.append(_open(f"{mp} MP", path, True))
    return images
