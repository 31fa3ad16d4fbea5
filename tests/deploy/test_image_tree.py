"""The container image without Docker: its files built from the same lock, both handlers run by
Lambda's runtime interface client in a fresh interpreter that sees only those files and the
runtime's own folder (tests/deploy/trees.py, ric_in_tree.py, tests/runtime_api.py).

With CPython 3.12 this is the image's tree; without it, the same pinned versions built for the
running interpreter (so the trimmed lock's import closure is still tested on every run)."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import unquote_plus

import pytest

from handler.aws.s3_client import s3_client
from tests.deploy.trees import (
    LAMBDA_PYTHON,
    MODEL,
    REQUIREMENTS,
    ImageTree,
    Interpreter,
    build_image_tree,
    file_sha256,
    lambda_env,
    lambda_python,
    lock_for,
    pins,
    run_ric_in_tree,
)
from tests.runtime_api import Invocation
from tests.support import EVENTS, decode_image, encode_image, load_event, photo

# A cold run downloads and installs ~70 MB of wheels: more than the suite-wide 300 s may pass.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

CACHE_BUCKET = "cutout-cache-example"


@pytest.fixture(scope="module")
def python() -> Interpreter:
    return lambda_python()


@pytest.fixture(scope="module")
def tree(python: Interpreter) -> ImageTree:
    return build_image_tree(python)


def events(*names: str) -> list[Invocation]:
    return [Invocation(json.loads((EVENTS / f"{name}.json").read_text())) for name in names]


def installed(tree: ImageTree) -> set[str]:
    return {p.name.split("-")[0].lower() for p in tree.task_root.glob("*.dist-info")}


def test_tree_pins_the_locks_versions_but_where_this_python_has_no_wheel(
    tree: ImageTree, python: Interpreter
) -> None:
    locked, used = pins(REQUIREMENTS), pins(lock_for(python))
    assert set(used) == set(locked)
    moved = {name: (locked[name], used[name]) for name in locked if used[name] != locked[name]}
    print(f"{python.tag}: pins moved from the 3.12 lock: {moved or 'none'}")
    if python.version == LAMBDA_PYTHON:
        assert moved == {}
    # What is installed is what the lock for this Python pins.
    for dist in tree.task_root.glob("*.dist-info"):
        name, version = dist.name.removesuffix(".dist-info").rsplit("-", 1)
        assert used[name.lower().replace("_", "-")] == version, dist.name


def test_tree_holds_the_lock_the_code_and_the_model_and_no_dev_tools(tree: ImageTree) -> None:
    packages = installed(tree)
    assert {"onnxruntime", "numpy", "pillow", "fastapi", "mangum", "boto3"} <= packages
    assert {"aws_lambda_powertools", "aws_xray_sdk", "python_multipart"} <= packages
    assert not packages & {"pytest", "moto", "ruff", "mypy", "uvicorn", "sympy", "mpmath"}
    assert (tree.task_root / "handler" / "app.py").is_file()
    assert not list(tree.task_root.rglob("tests/"))
    assert file_sha256(tree.model_path) == file_sha256(MODEL)


def test_tree_is_precompiled_for_its_interpreter(tree: ImageTree, python: Interpreter) -> None:
    """/var/task is read-only in Lambda: a module without bytecode compiles at every cold start."""
    tag = f"cpython-{python.version[0]}{python.version[1]}"
    sources = [*(tree.task_root / "handler").rglob("*.py")]
    for package in ("fastapi", "pydantic", "numpy", "onnxruntime", "aws_lambda_powertools"):
        sources += (tree.task_root / package).glob("*.py")
    missing = [
        str(source.relative_to(tree.task_root))
        for source in sources
        if not (source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc").is_file()
    ]
    assert sources and missing == []


def test_api_handler_answers_both_event_versions_with_a_png_of_the_input_size(
    tree: ImageTree, python: Interpreter, tmp_path: Any
) -> None:
    env = lambda_env("cutout-api", tmp_path, CUTOUT_MODEL_PATH=str(tree.model_path))
    names = ["api-v1", "api-v2"]
    invocations = events(*names)
    # GET /healthz goes to the FastAPI app, which the handler builds on first use: its import
    # closure must be in the tree too.
    health = json.loads((EVENTS / "api-v2.json").read_text()) | {"body": "", "rawQueryString": ""}
    health["rawPath"] = health["requestContext"]["http"]["path"] = "/healthz"
    health["requestContext"]["http"]["method"] = "GET"
    health_check = Invocation(health)
    run, report = run_ric_in_tree(
        python, tree, "handler.app.lambda_handler", [*invocations, health_check], env, tmp_path
    )
    assert report["outside"] == [], "imported from outside the tree"
    assert tuple(report["python"]) == python.version
    assert run.api.calls.init_error is None, run.stdout[-2000:]
    for name, invocation in zip(names, invocations, strict=True):
        response = invocation.response
        source = decode_image(base64.b64decode(load_event(name)["body"]))
        assert response["statusCode"] == 200, (name, response.get("body", "")[:300])
        assert response["isBase64Encoded"] is True
        headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
        assert headers["content-type"] == "image/png"
        result = decode_image(base64.b64decode(response["body"]))
        assert (result.format, result.mode, result.size) == ("PNG", "RGBA", source.size)
    assert health_check.response["statusCode"] == 200, health_check.response
    assert json.loads(health_check.response["body"])["status"] == "ok"


@pytest.mark.integration
def test_s3_handler_writes_the_cutout_for_direct_and_sqs_notifications(
    tree: ImageTree, python: Interpreter, tmp_path: Any, s3_endpoint: str
) -> None:
    record = load_event("s3-put")["Records"][0]["s3"]
    bucket = record["bucket"]["name"]
    key = unquote_plus(record["object"]["key"])  # uploads/red+shoe.jpg -> uploads/red shoe.jpg
    expected = "cutouts/" + key.removeprefix("uploads/") + ".png"
    s3 = s3_client()
    s3.create_bucket(Bucket=bucket)
    s3.create_bucket(Bucket=CACHE_BUCKET)
    s3.put_object(Bucket=bucket, Key=key, Body=encode_image(photo(120, 80), "JPEG"))

    env = lambda_env(
        "cutout-trigger",
        tmp_path,
        CUTOUT_MODEL_PATH=str(tree.model_path),
        AWS_ENDPOINT_URL=s3_endpoint,
        CUTOUT_MEDIA_BUCKET=bucket,
        CUTOUT_CACHE_BUCKET=CACHE_BUCKET,
    )
    invocations = events("s3-put", "sqs-s3")
    _, report = run_ric_in_tree(
        python, tree, "handler.trigger.s3_handler", invocations, env, tmp_path
    )
    direct, via_sqs = (invocation.response for invocation in invocations)
    assert report["outside"] == [], "imported from outside the tree"
    assert report["fastapi_loaded"] is False  # the trigger's import closure has no HTTP stack
    assert direct == {"results": [{"status": "written", "key": key, "output_key": expected}]}
    assert via_sqs == {"batchItemFailures": []}  # the same upload again: already written

    out = s3.get_object(Bucket=bucket, Key=expected)
    assert out["ContentType"] == "image/png"
    result = decode_image(out["Body"].read())
    assert (result.format, result.mode, result.size) == ("PNG", "RGBA", (120, 80))
    assert s3.list_objects_v2(Bucket=CACHE_BUCKET)["KeyCount"] >= 1  # the S3 cache was written
