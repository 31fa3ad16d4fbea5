"""The container image without Docker: its files built from the same lock, both handlers run in
a fresh interpreter that sees only those files (tests/deploy/trees.py, run_in_tree.py)."""

from __future__ import annotations

import base64
import subprocess
from typing import Any
from urllib.parse import unquote_plus

import pytest

from handler.aws.s3_client import s3_client
from tests.deploy.trees import (
    LAMBDA_PYTHON,
    MODEL,
    ImageTree,
    Interpreter,
    build_image_tree,
    file_sha256,
    lambda_env,
    lambda_python,
    run_in_tree,
)
from tests.support import EVENTS, decode_image, encode_image, load_event, photo

# A cold run downloads and installs ~70 MB of wheels: more than the suite-wide 300 s may pass.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

CACHE_BUCKET = "cutout-cache-example"


@pytest.fixture(scope="module")
def python() -> Interpreter:
    return lambda_python()


@pytest.fixture(scope="module")
def tree(python: Interpreter) -> ImageTree:
    try:
        return build_image_tree(python)
    except subprocess.CalledProcessError:
        if python.version != LAMBDA_PYTHON:  # the lock is for Lambda's CPython 3.12
            pytest.skip(f"no CPython 3.12 here, and the lock does not install on {python.tag}")
        raise


def installed(tree: ImageTree) -> set[str]:
    return {p.name.split("-")[0].lower() for p in tree.task_root.glob("*.dist-info")}


def test_tree_holds_the_lock_the_code_and_the_model_and_no_dev_tools(tree: ImageTree) -> None:
    packages = installed(tree)
    assert {"onnxruntime", "numpy", "pillow", "fastapi", "mangum", "boto3"} <= packages
    assert {"aws_lambda_powertools", "aws_xray_sdk", "python_multipart"} <= packages
    assert not packages & {"pytest", "moto", "ruff", "mypy", "uvicorn", "sympy", "mpmath"}
    assert (tree.task_root / "handler" / "app.py").is_file()
    assert not list(tree.task_root.rglob("tests/"))
    assert file_sha256(tree.model_path) == file_sha256(MODEL)


def test_api_handler_answers_both_event_versions_with_a_png_of_the_input_size(
    tree: ImageTree, python: Interpreter, tmp_path: Any
) -> None:
    env = lambda_env("cutout-api", tmp_path, CUTOUT_MODEL_PATH=str(tree.model_path))
    names = ["api-v1", "api-v2"]
    report = run_in_tree(
        python,
        [tree.task_root],
        "handler.app.lambda_handler",
        [EVENTS / f"{name}.json" for name in names],
        env,
        tmp_path,
    )
    assert report["outside"] == [], "imported from outside the tree"
    assert tuple(report["python"]) == python.version
    for name, response in zip(names, report["responses"], strict=True):
        source = decode_image(base64.b64decode(load_event(name)["body"]))
        assert response["statusCode"] == 200, (name, response.get("body", "")[:300])
        assert response["isBase64Encoded"] is True
        headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
        assert headers["content-type"] == "image/png"
        result = decode_image(base64.b64decode(response["body"]))
        assert (result.format, result.mode, result.size) == ("PNG", "RGBA", source.size)


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
    report = run_in_tree(
        python,
        [tree.task_root],
        "handler.app.s3_handler",
        [EVENTS / "s3-put.json", EVENTS / "sqs-s3.json"],
        env,
        tmp_path,
    )
    direct, via_sqs = report["responses"]
    assert report["outside"] == [], "imported from outside the tree"
    assert direct == {"results": [{"status": "written", "key": key, "output_key": expected}]}
    assert via_sqs == {"batchItemFailures": []}  # the same upload again: already written

    out = s3.get_object(Bucket=bucket, Key=expected)
    assert out["ContentType"] == "image/png"
    result = decode_image(out["Body"].read())
    assert (result.format, result.mode, result.size) == ("PNG", "RGBA", (120, 80))
    assert s3.list_objects_v2(Bucket=CACHE_BUCKET)["KeyCount"] >= 1  # the S3 cache was written
