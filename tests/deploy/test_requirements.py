"""requirements/lambda.in and its lock: the same packages and bounds as pyproject.toml."""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support import REPO

PIN = re.compile(r"^([A-Za-z0-9._-]+)==(\S+)")


def project_dependencies() -> dict[str, Requirement]:
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    requirements = (Requirement(d) for d in data["project"]["dependencies"])
    return {canonicalize_name(r.name): r for r in requirements}


def locked() -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) from requirements/lambda.txt."""
    pins: dict[str, tuple[str, int]] = {}
    name = ""
    for line in (REPO / "requirements" / "lambda.txt").read_text().splitlines():
        if match := PIN.match(line):
            name = canonicalize_name(match[1])
            pins[name] = (match[2], 0)
        elif line.strip().startswith("--hash=sha256:") and name:
            version, hashes = pins[name]
            pins[name] = (version, hashes + 1)
    return pins


def test_lambda_in_names_the_project_dependencies_with_the_same_bounds() -> None:
    lines = (REPO / "requirements" / "lambda.in").read_text().splitlines()
    wanted = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    assert {canonicalize_name(r.name): r.specifier for r in wanted} == {
        name: r.specifier for name, r in project_dependencies().items()
    }


def test_lock_pins_every_dependency_within_its_bounds_with_hashes() -> None:
    pins = locked()
    for name, requirement in project_dependencies().items():
        assert name in pins, name
        assert requirement.specifier.contains(pins[name][0]), (name, pins[name][0])
    assert all(hashes > 0 for _, hashes in pins.values())
    assert "aws-xray-sdk" in pins  # Powertools' tracer extra: the stack turns X-Ray on
    assert not {"sympy", "mpmath"} & set(pins)  # onnxruntime's offline tools only
