"""The two runtime-only virtual environments the benchmark compares, and rembg's model home.

Both tools run from environments built the same way (no dev extras), so footprint, import time
and cold start compare like with like. rembg is never a dependency of cutout: it lives only in
`.bench/rembg-venv`. Its model is our verified u2netp.onnx (or u2net.onnx for the u2net part),
placed where rembg looks first, so nothing is downloaded at run time.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import venv
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / ".bench"
MODEL_DIR = REPO / "layers" / "model"
MODEL = MODEL_DIR / "u2netp.onnx"
LAMBDA_REQUIREMENTS = REPO / "requirements" / "lambda.in"
REMBG_REQUIREMENT = "rembg[cpu,cli]==2.0.86"
# rembg's own checksums (sessions/u2netp.py, sessions/u2net.py); DESIGN.md lists the same files.
U2NETP_MD5 = "8e83ca70e441ab06c318d82300c84806"
MODEL_MD5 = {"u2netp": U2NETP_MD5, "u2net": "60024c5c889badc19c04ad937298a77b"}
# Any HTTP(S) request from a rembg process goes to a closed local port and fails at once: a
# guard that the benchmark never fetches weights, even if the seeded model were missed.
NO_NETWORK = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}
# pip itself and what venv seeds are the same in both environments: not part of a footprint.
_PACKAGING = ("pip", "setuptools", "_distutils_hack", "pkg_resources", "wheel")


@dataclass(frozen=True)
class ToolEnv:
    """One tool's environment: its interpreter, console scripts and process environment."""

    name: str
    root: Path
    env: dict[str, str]

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def script(self, name: str) -> Path:
        return self.root / "bin" / name


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _pip(root: Path, *args: str) -> None:
    subprocess.run(
        [str(root / "bin" / "python"), "-m", "pip", "install", "--quiet", *args], check=True
    )


def _ensure_venv(root: Path, stamp_text: str, install: list[str], *, always: bool) -> None:
    """Create the venv once; install when the stamp differs (or every time when `always`)."""
    stamp = root / ".bench-stamp"
    if not (root / "bin" / "python").is_file():
        venv.EnvBuilder(with_pip=True, clear=True).create(root)
    if always or not stamp.is_file() or stamp.read_text() != stamp_text:
        _pip(root, *install)
        stamp.write_text(stamp_text)


def base_env() -> dict[str, str]:
    """The parent's environment without anything that would steer either tool."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CUTOUT_", "AWS_", "U2NET"))}
    for name in ("VIRTUAL_ENV", "PYTHONPATH", "OMP_NUM_THREADS", "REMBG_HOME", "XDG_DATA_HOME"):
        env.pop(name, None)
    return env


def seed_rembg_model(home: Path, model: str = "u2netp") -> Path:
    """Put the verified model at $U2NET_HOME/<model>.onnx (rembg's resolve_existing finds it)."""
    source = MODEL_DIR / f"{model}.onnx"
    md5 = MODEL_MD5[model]
    if not source.is_file():
        raise SystemExit(f"{source} is missing: run 'make setup' first")
    if md5_of(source) != md5:
        raise SystemExit(f"{source} does not have rembg's md5 {md5}: run 'make setup'")
    home.mkdir(parents=True, exist_ok=True)
    # rembg checks <home>/models/<model>/<model>.onnx first: make sure nothing else sits there.
    shutil.rmtree(home / "models", ignore_errors=True)
    target = home / f"{model}.onnx"
    if not target.is_file() or md5_of(target) != md5:
        shutil.copyfile(source, target)
    if md5_of(target) != md5:
        raise SystemExit(f"{target}: md5 mismatch after copying")
    return target


def rembg_env(model: str = "u2netp") -> ToolEnv:
    """rembg 2.0.86 in .bench/rembg-venv, with the model seeded and the network closed."""
    root = WORK / "rembg-venv"
    _ensure_venv(root, REMBG_REQUIREMENT, [REMBG_REQUIREMENT], always=False)
    home = WORK / "u2net-home"
    seed_rembg_model(home, model)
    env = base_env() | NO_NETWORK | {"U2NET_HOME": str(home), "BENCH_MODEL": model}
    return ToolEnv("rembg", root, env)


def cutout_env(model: str = "u2netp") -> ToolEnv:
    """This checkout without dev extras in .bench/cutout-venv (reinstalled on every run)."""
    root = WORK / "cutout-venv"
    _ensure_venv(root, "cutout", ["--force-reinstall", "--no-deps", str(REPO)], always=True)
    # Dependencies once (and whenever they change); the project itself on every run above.
    # requirements/lambda.in is what the function ships with: pyproject's dependencies plus
    # Powertools' tracer extra (aws-xray-sdk), without which `import handler.app` fails.
    requirements = [str(REPO)]
    sources = [REPO / "pyproject.toml"]
    if LAMBDA_REQUIREMENTS.is_file():
        requirements += ["-r", str(LAMBDA_REQUIREMENTS)]
        sources.append(LAMBDA_REQUIREMENTS)
    deps_stamp = root / ".bench-deps"
    wanted = "".join(source.read_text() for source in sources)
    if not deps_stamp.is_file() or deps_stamp.read_text() != wanted:
        _pip(root, *requirements)
        deps_stamp.write_text(wanted)
    env = base_env() | {
        "CUTOUT_MODELS": model,
        "BENCH_MODEL": model,
        "CUTOUT_MODEL_PATH": str(MODEL_DIR / f"{model}.onnx"),
        "CUTOUT_CACHE_DIR": "",  # every run does the work; a cache hit would measure nothing
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "cutout-bench",
    }
    return ToolEnv("cutout", root, env)


def disk_usage_bytes(root: Path) -> int:
    """Bytes allocated on disk under root (each inode counted once, symlinks not followed)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            stat = (Path(dirpath) / name).lstat()
            key = (stat.st_dev, stat.st_ino)
            if key not in seen:
                seen.add(key)
                total += stat.st_blocks * 512
    return total


def footprint(tool: ToolEnv) -> dict[str, float]:
    """MB on disk: the whole venv, and its site-packages without pip/setuptools."""
    site = next((tool.root / "lib").glob("python*/site-packages"))
    packaging = 0
    for entry in site.iterdir():
        stem = entry.name.split("-")[0].lower()
        if stem in _PACKAGING or entry.name == "distutils-precedence.pth":
            packaging += (
                disk_usage_bytes(entry) if entry.is_dir() else entry.lstat().st_blocks * 512
            )
    mb = 1024 * 1024
    return {
        "venv_mb": disk_usage_bytes(tool.root) / mb,
        "packages_mb": (disk_usage_bytes(site) - packaging) / mb,
    }
