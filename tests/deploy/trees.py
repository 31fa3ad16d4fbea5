"""Deployment trees for the tests: the container image's files built without Docker, and Lambda's
runtime interface client running a handler inside a tree, in a fresh interpreter that sees
nothing else (ric_in_tree.py, against the Runtime API double in tests/runtime_api.py).

The tree is built for CPython 3.12 (Lambda's) from requirements/lambda.txt when this machine has
one. Elsewhere it is built for the running interpreter from the lock re-resolved for it by uv,
which keeps every pinned version that has a wheel for that Python (uv prefers the versions
already in its output file) and moves only those that do not (numpy 2.5 has no CPython 3.11
wheels, say). What that leaves untested is said in README.md ("What the tests do not cover").
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from tests.runtime_api import Invocation, RuntimeRun, run_runtime
from tests.support import REPO

BUILD = REPO / "build"
REQUIREMENTS = REPO / "requirements" / "lambda.txt"
REQUIREMENTS_IN = REPO / "requirements" / "lambda.in"
MODEL = REPO / "layers" / "model" / "u2netp.onnx"
RIC_RUNNER = Path(__file__).with_name("ric_in_tree.py")
LAMBDA_PYTHON = (3, 12)
# `running`: build the tree for the running interpreter even where CPython 3.12 is installed
# (what a machine without 3.12 does; `make test` on such a machine needs nothing else).
TREE_PYTHON_ENV = "CUTOUT_TREE_PYTHON"
# The Dockerfile's `pip install` flags (tests/deploy/test_dockerfile.py holds the two together).
PIP_INSTALL_FLAGS = ("--no-cache-dir", "--no-deps", "--require-hashes", "--only-binary=:all:")
# The same, less --no-cache-dir: an image build has no use for pip's cache, the tests do (a
# fresh clone's tree then installs from wheels pip already has).
TREE_PIP_FLAGS = tuple(flag for flag in PIP_INSTALL_FLAGS if flag != "--no-cache-dir")


@dataclass(frozen=True)
class Interpreter:
    """A Python executable and its version."""

    executable: str
    version: tuple[int, int]

    @property
    def tag(self) -> str:
        return f"cp{self.version[0]}{self.version[1]}"


def probe(command: str, env: dict[str, str] | None = None) -> Interpreter | None:
    """The real executable behind a command (a pyenv shim, say), or None if it does not run."""
    script = "import json, sys; print(json.dumps([sys.executable, *sys.version_info[:2]]))"
    try:
        done = subprocess.run(
            [command, "-c", script], env=env, capture_output=True, text=True, timeout=60
        )
    except OSError:
        return None
    if done.returncode != 0:
        return None
    executable, major, minor = json.loads(done.stdout.strip().splitlines()[-1])
    return Interpreter(executable, (major, minor))


def running_python() -> Interpreter:
    return Interpreter(sys.executable, (sys.version_info.major, sys.version_info.minor))


@cache
def lambda_python() -> Interpreter:
    """CPython 3.12 (the Lambda runtime's) when this machine has one, else the running Python."""
    if os.environ.get(TREE_PYTHON_ENV, "").strip() == "running":
        return running_python()
    name = "python{}.{}".format(*LAMBDA_PYTHON)
    found = shutil.which(name)
    if found and (interpreter := probe(found)) and interpreter.version == LAMBDA_PYTHON:
        return interpreter
    # A pyenv shim for a version that is installed but not selected: ask pyenv which one has it.
    pyenv = shutil.which("pyenv")
    if found and pyenv:
        whence = subprocess.run([pyenv, "whence", name], capture_output=True, text=True)
        for version in whence.stdout.split():
            env = {**os.environ, "PYENV_VERSION": version}
            if (interpreter := probe(found, env)) and interpreter.version == LAMBDA_PYTHON:
                return interpreter
    return running_python()


@dataclass(frozen=True)
class ImageTree:
    """The container image's files that matter, under one folder."""

    root: Path

    @property
    def task_root(self) -> Path:
        return self.root / "var" / "task"

    @property
    def runtime_root(self) -> Path:
        """Where the base image keeps the runtime interface client (/var/runtime)."""
        return self.root / "var" / "runtime"

    @property
    def model_path(self) -> Path:
        return self.root / "opt" / "ml" / "model" / "u2netp.onnx"


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def lock_for(python: Interpreter) -> Path:
    """The lock for this interpreter: requirements/lambda.txt itself for CPython 3.12; for
    another Python, the same lock re-resolved by uv (the Makefile's `make requirements` flags,
    but this Python's version), changing only the pins that have no wheel for it."""
    if python.version == LAMBDA_PYTHON:
        return REQUIREMENTS
    lock = BUILD / "image-tree" / f"lambda-{file_sha256(REQUIREMENTS)[:16]}-{python.tag}.txt"
    if lock.is_file():
        return lock
    lock.parent.mkdir(parents=True, exist_ok=True)
    staging = lock.with_suffix(".part")
    shutil.copyfile(REQUIREMENTS, staging)  # uv keeps the versions its output file pins
    uv = Path(sys.executable).with_name("uv")
    subprocess.run(
        [
            str(uv if uv.is_file() else "uv"),
            "pip",
            "compile",
            str(REQUIREMENTS_IN),
            "--quiet",
            "--generate-hashes",
            "--python-version",
            "{}.{}".format(*python.version),
            "--python-platform",
            "x86_64-manylinux_2_28",
            "--no-emit-package",
            "sympy",
            "--no-emit-package",
            "mpmath",
            "--output-file",
            str(staging),
        ],
        check=True,
    )
    staging.replace(lock)
    return lock


def pins(lock: Path) -> dict[str, str]:
    """name -> version of every package a lock pins."""
    found = {}
    for line in lock.read_text().splitlines():
        if line and line[0].isalnum() and "==" in line:
            name, _, version = line.split()[0].partition("==")
            found[name.lower()] = version
    return found


def _install_like_the_dockerfile(python: Interpreter, target: Path) -> None:
    """The Dockerfile's first stage: pip-install the lock, drop console scripts and test suites."""
    subprocess.run(
        [
            python.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *TREE_PIP_FLAGS,
            "--target",
            str(target),
            "-r",
            str(lock_for(python)),
        ],
        check=True,
    )
    shutil.rmtree(target / "bin", ignore_errors=True)
    for tests_dir in sorted(target.rglob("tests"), key=lambda p: len(p.parts), reverse=True):
        if tests_dir.is_dir():
            shutil.rmtree(tests_dir)


def ric_requirement() -> str:
    """The runtime interface client at the version the dev environment has (the tests' own)."""
    from importlib.metadata import version

    return f"awslambdaric=={version('awslambdaric')}"


def _install_runtime_client(python: Interpreter, target: Path) -> None:
    """What the base image has in /var/runtime: awslambdaric (with its hooks module)."""
    subprocess.run(
        [
            python.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--only-binary=:all:",
            "--target",
            str(target),
            ric_requirement(),
        ],
        check=True,
    )


def build_image_tree(python: Interpreter) -> ImageTree:
    """The image's /var/task and /opt/ml/model under build/image-tree/<lock hash>-<python>.

    The dependencies are installed once per lock and interpreter (the slow part); handler/ and
    the model are copied afresh on every call, as the Dockerfile's last stage does.
    """
    parent = BUILD / "image-tree"
    key = hashlib.sha256(lock_for(python).read_bytes() + ric_requirement().encode()).hexdigest()
    tree = ImageTree(parent / f"{key[:16]}-{python.tag}")
    if not (tree.root / ".complete").is_file():
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="staging-", dir=parent))
        try:
            _install_like_the_dockerfile(python, ImageTree(staging).task_root)
            _install_runtime_client(python, ImageTree(staging).runtime_root)
            (staging / ".complete").touch()
            shutil.rmtree(tree.root, ignore_errors=True)
            staging.rename(tree.root)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    code = tree.task_root / "handler"
    shutil.rmtree(code, ignore_errors=True)
    shutil.copytree(REPO / "handler", code, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run([python.executable, "-m", "compileall", "-q", str(code)], check=True)
    tree.model_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(MODEL, tree.model_path)
    return tree


def lambda_env(function_name: str, home: Path, **extra: str) -> dict[str, str]:
    """A clean environment shaped like Lambda's: nothing of this machine's comes through."""
    return {
        "PATH": os.defpath,
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "HOME": str(home),  # so botocore cannot read this machine's ~/.aws
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "2048",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "POWERTOOLS_SERVICE_NAME": "cutout",
        "POWERTOOLS_METRICS_NAMESPACE": "cutout",
        "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
        "CUTOUT_INPUT_PREFIX": "uploads/",
        "CUTOUT_OUTPUT_PREFIX": "cutouts/",
        "CUTOUT_THREADS": "1",  # a shared 2-core machine
        **extra,
    }


def runtime_client_folder(python: Interpreter) -> Path:
    """awslambdaric installed for this interpreter on its own, as the runtime's /var/runtime."""
    folder = BUILD / "runtime-client" / f"{ric_requirement().partition('==')[2]}-{python.tag}"
    if not (folder / ".complete").is_file():
        shutil.rmtree(folder, ignore_errors=True)
        _install_runtime_client(python, folder)
        (folder / ".complete").touch()
    return folder


def run_ric(
    python: Interpreter,
    paths: list[Path],
    handler: str,
    invocations: list[Invocation],
    env: dict[str, str],
    workdir: Path,
) -> tuple[RuntimeRun, dict[str, Any]]:
    """The runtime interface client (found in paths) runs handler on each invocation (init
    once), in an interpreter that sees only paths and the standard library."""
    report = workdir / "ric-report.json"
    command = [python.executable, "-I", "-S", str(RIC_RUNNER), "--report", str(report)]
    for path in paths:
        command += ["--path", str(path)]
    run = run_runtime(handler, invocations, env, command=command, cwd=workdir, timeout_s=600)
    if not report.is_file():
        raise AssertionError(
            f"{handler} did not run in the tree:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
        )
    loaded: dict[str, Any] = json.loads(report.read_text())
    return run, loaded


def run_ric_in_tree(
    python: Interpreter,
    tree: ImageTree,
    handler: str,
    invocations: list[Invocation],
    env: dict[str, str],
    workdir: Path,
) -> tuple[RuntimeRun, dict[str, Any]]:
    """The image tree's runtime interface client runs handler: /var/task and /var/runtime."""
    paths = [tree.task_root, tree.runtime_root]
    return run_ric(python, paths, handler, invocations, env, workdir)
