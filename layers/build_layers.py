"""Build the zip + layers variant of cutout (for SnapStart, which takes zip functions only).

    build/function.zip               handler/ only            -> /var/task/handler/
    build/layers/model.zip           ml/model/u2netp.onnx     -> /opt/ml/model/u2netp.onnx
    build/layers/dependencies.zip    python/ (the lock, manylinux wheels for CPython 3.12 x86_64)
                                                              -> /opt/python/ (on sys.path)

The model lands at the same path as in the container image, so settings.py needs no variable.
Lambda allows 250 MB unzipped for a function and all its layers together; the build fails past it.
The archives are deterministic (sorted entries, fixed timestamps), so an unchanged layer uploads
to the same object and CloudFormation does not publish a new layer version for it.

Run: .venv/bin/python layers/build_layers.py   (or `make layers`)
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REQUIREMENTS = REPO / "requirements" / "lambda.txt"
MODEL = REPO / "layers" / "model" / "u2netp.onnx"
HANDLER = REPO / "handler"
BUILD = REPO / "build"

# Lambda's quota for a function plus its layers, unzipped: 250 MB, counted in MiB.
UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024
MODEL_ARCNAME = "ml/model/u2netp.onnx"
DEPENDENCIES_ROOT = "python"
# The python3.12 runtime is Amazon Linux 2023 (glibc 2.34): manylinux2014 and manylinux_2_28 wheels
# both run there, and recent numpy and onnxruntime publish only the latter.
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64")
PYTHON_VERSION = "3.12"
# What the function never imports: bytecode compiled for the build machine's Python, test suites,
# console scripts (their shebangs name the build machine's interpreter), pip's install records.
STRIPPED_DIRS = frozenset({"__pycache__", "tests"})
STRIPPED_FILES = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Archive:
    """One built zip: where it is, its size, and what it unzips to."""

    path: Path
    zipped_bytes: int
    unzipped_bytes: int
    entries: int


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def install_dependencies(target: Path, requirements: Path = REQUIREMENTS) -> None:
    """pip-install the lock into target for the Lambda runtime, whatever this machine runs."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",  # the lock is the complete list (see requirements/lambda.in)
        "--require-hashes",
        "--only-binary=:all:",
        *(arg for platform in PLATFORMS for arg in ("--platform", platform)),
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        "--no-compile",
        "--target",
        str(target),
        "-r",
        str(requirements),
    ]
    subprocess.run(command, check=True)


def strip_tree(root: Path) -> int:
    """Remove what the function never imports; returns the bytes removed."""
    removed = 0
    bin_dir = root / "bin"
    if bin_dir.is_dir():
        removed += tree_bytes(bin_dir)
        shutil.rmtree(bin_dir)
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and path.name in STRIPPED_DIRS:
            removed += tree_bytes(path)
            shutil.rmtree(path)
        elif path.is_file() and (
            path.suffix == ".pyc"
            or (path.name in STRIPPED_FILES and path.parent.name.endswith(".dist-info"))
        ):
            removed += path.stat().st_size
            path.unlink()
    return removed


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def dependencies_tree(cache: Path, requirements: Path = REQUIREMENTS) -> Path:
    """The stripped dependency tree for this lock, built once and kept under cache."""
    key = file_sha256(requirements)[:16]
    tree = cache / f"dependencies-{key}"
    if (tree / ".complete").is_file():
        return tree
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="dependencies-", dir=cache))
    try:
        install_dependencies(staging / DEPENDENCIES_ROOT, requirements)
        strip_tree(staging / DEPENDENCIES_ROOT)
        (staging / ".complete").touch()
        if tree.exists():
            shutil.rmtree(tree)
        staging.rename(tree)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return tree


def _files_under(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            yield path


def write_zip(path: Path, members: Iterable[tuple[str, Path]]) -> Archive:
    """A deterministic zip of (archive name, file) pairs: sorted, fixed times, 0644/0755."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".zip.part")
    unzipped = entries = 0
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for arcname, source in sorted(members):
            info = zipfile.ZipInfo(arcname, date_time=_ZIP_EPOCH)
            executable = source.stat().st_mode & stat.S_IXUSR
            info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with source.open("rb") as src, zf.open(info, "w") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            unzipped += source.stat().st_size
            entries += 1
    partial.replace(path)
    return Archive(path, path.stat().st_size, unzipped, entries)


def function_members(handler_dir: Path = HANDLER) -> list[tuple[str, Path]]:
    """handler/**/*.py: the only code the function zip carries."""
    return [
        (f"handler/{p.relative_to(handler_dir).as_posix()}", p)
        for p in _files_under(handler_dir)
        if p.suffix == ".py" and "__pycache__" not in p.parts
    ]


def build(
    out: Path = BUILD,
    *,
    cache: Path | None = None,
    requirements: Path = REQUIREMENTS,
    model: Path = MODEL,
    handler_dir: Path = HANDLER,
) -> list[Archive]:
    """Build function.zip and layers/{model,dependencies}.zip under out; fail past 250 MB."""
    if not model.is_file():
        raise SystemExit(f"{model} is missing: run `make setup` first")
    deps = dependencies_tree(cache or out / "layers" / "cache", requirements)
    archives = [
        write_zip(out / "function.zip", function_members(handler_dir)),
        write_zip(out / "layers" / "model.zip", [(MODEL_ARCNAME, model)]),
        write_zip(
            out / "layers" / "dependencies.zip",
            [(p.relative_to(deps).as_posix(), p) for p in _files_under(deps / DEPENDENCIES_ROOT)],
        ),
    ]
    total = sum(a.unzipped_bytes for a in archives)
    if total > UNZIPPED_LIMIT_BYTES:
        raise SystemExit(
            f"unzipped total {mib(total)} is over Lambda's {mib(UNZIPPED_LIMIT_BYTES)} limit"
        )
    return archives


def mib(n: int) -> str:
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1024 * 1024):.1f} MiB"


def report(archives: list[Archive], root: Path = REPO) -> str:
    """A table of the archives and the unzipped total against the limit."""
    lines = []
    for a in archives:
        name = a.path.relative_to(root) if a.path.is_relative_to(root) else a.path
        lines.append(
            f"{name!s:<34} {mib(a.zipped_bytes):>11} zipped {mib(a.unzipped_bytes):>11} unzipped"
            f"  {a.entries:>5} files"
        )
    total = sum(a.unzipped_bytes for a in archives)
    lines.append(
        f"unzipped total: {mib(total)} of Lambda's {mib(UNZIPPED_LIMIT_BYTES)} "
        f"({100 * total / UNZIPPED_LIMIT_BYTES:.0f}%)"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=BUILD, help="output folder (build/)")
    args = parser.parse_args()
    print(report(build(args.out)))


if __name__ == "__main__":
    main()
