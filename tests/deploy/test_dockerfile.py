"""The Dockerfile and .dockerignore: in step with settings.py, the lock and the image-tree test."""

from __future__ import annotations

import json
import shlex

from handler.settings import IMAGE_MODEL_DIR, IMAGE_MODEL_PATH, KNOWN_MODELS
from tests.deploy.trees import PIP_INSTALL_FLAGS
from tests.support import REPO

BASE_IMAGE = "public.ecr.aws/lambda/python:3.12"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined, current = [], ""
    for line in (REPO / "Dockerfile").read_text().splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            joined.append(current.strip())
            current = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in joined]


def test_every_stage_is_the_lambda_python_312_base_image() -> None:
    bases = [args.split()[0] for op, args in instructions() if op == "FROM"]
    assert bases and set(bases) == {BASE_IMAGE}


def test_entry_point_model_and_code_land_where_lambda_and_settings_look() -> None:
    steps = instructions()
    assert steps[-1] == ("CMD", '["handler.app.lambda_handler"]')
    assert json.loads(steps[-1][1]) == ["handler.app.lambda_handler"]
    copies = [shlex.split(args) for op, args in steps if op == "COPY"]
    assert ["layers/model/u2netp.onnx", str(IMAGE_MODEL_PATH)] in copies
    for name in KNOWN_MODELS:  # every model CUTOUT_MODELS may name
        assert [f"layers/model/{name}.onnx", str(IMAGE_MODEL_DIR / f"{name}.onnx")] in copies
    assert ["handler/", "${LAMBDA_TASK_ROOT}/handler/"] in copies


def test_dependencies_come_from_the_lock_as_the_image_tree_test_installs_them() -> None:
    (install,) = [args for op, args in instructions() if op == "RUN" and "pip install" in args]
    words = shlex.split(install.split("&&")[0])
    assert set(PIP_INSTALL_FLAGS) <= set(words)
    assert words[words.index("-r") + 1] == "/tmp/lambda.txt"
    assert ["COPY", "requirements/lambda.txt /tmp/lambda.txt"] in [
        [op, args] for op, args in instructions()
    ]


def test_dockerignore_lets_in_exactly_what_the_dockerfile_copies() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    allowed = {p.removeprefix("!") for p in patterns if p.startswith("!")}
    sources = {
        shlex.split(args)[0]
        for op, args in instructions()
        if op == "COPY" and not args.startswith("--from")
    }
    assert sources == allowed
    for source in sources:
        assert (REPO / source).exists(), source
