"""`make layers`: the archives' layout, Lambda's 250 MB bound, and both handlers run from them by
Lambda's runtime interface client, the API one through SnapStart's path (warm-up, restore)."""

from __future__ import annotations

import base64
import hashlib
import platform
import zipfile
from pathlib import Path

import pytest

from layers.build_layers import (
    MODEL_ARCNAME,
    UNZIPPED_LIMIT_BYTES,
    Archive,
    build,
    function_members,
    report,
)
from tests.deploy.trees import (
    BUILD,
    MODEL,
    file_sha256,
    lambda_env,
    lambda_python,
    run_ric,
    runtime_client_folder,
)
from tests.runtime_api import Invocation
from tests.support import decode_image, load_event

# A cold run downloads and installs ~70 MB of wheels: more than the suite-wide 300 s may pass.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Archive]:
    out = tmp_path_factory.mktemp("layers")
    built = build(out, cache=BUILD / "layers" / "cache")  # the dependency install is cached
    print(report(built, out))
    return {a.path.relative_to(out).as_posix(): a for a in built}


def names(archive: Archive) -> list[str]:
    with zipfile.ZipFile(archive.path) as zf:
        return zf.namelist()


def test_three_archives_within_lambdas_unzipped_limit(archives: dict[str, Archive]) -> None:
    assert set(archives) == {"function.zip", "layers/model.zip", "layers/dependencies.zip"}
    total = sum(a.unzipped_bytes for a in archives.values())
    assert total <= UNZIPPED_LIMIT_BYTES, f"{total} bytes unzipped"
    for archive in archives.values():
        with zipfile.ZipFile(archive.path) as zf:
            infos = zf.infolist()
            assert zf.testzip() is None
        assert sum(i.file_size for i in infos) == archive.unzipped_bytes
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}  # reproducible
        assert all((i.external_attr >> 16) & 0o444 == 0o444 for i in infos)  # readable by all


def test_function_zip_is_handler_sources_only(archives: dict[str, Archive]) -> None:
    entries = names(archives["function.zip"])
    assert entries == sorted(name for name, _ in function_members())
    assert "handler/app.py" in entries and "handler/settings.py" in entries
    assert all(e.startswith("handler/") and e.endswith(".py") for e in entries)


def test_model_zip_unzips_where_the_image_keeps_the_model(archives: dict[str, Archive]) -> None:
    from handler.settings import IMAGE_MODEL_PATH

    assert names(archives["layers/model.zip"]) == [MODEL_ARCNAME]
    assert Path("/opt") / MODEL_ARCNAME == IMAGE_MODEL_PATH  # layers unzip under /opt
    with zipfile.ZipFile(archives["layers/model.zip"].path) as zf:
        assert hashlib.sha256(zf.read(MODEL_ARCNAME)).hexdigest() == file_sha256(MODEL)


def test_dependencies_zip_is_python_3_12_x86_64_without_build_leftovers(
    archives: dict[str, Archive],
) -> None:
    entries = names(archives["layers/dependencies.zip"])
    assert all(e.startswith("python/") for e in entries)
    for module in ("onnxruntime", "numpy", "PIL", "fastapi", "mangum", "boto3"):
        assert f"python/{module}/__init__.py" in entries
    assert "python/aws_lambda_powertools/__init__.py" in entries
    assert not [e for e in entries if "/__pycache__/" in e or e.endswith(".pyc")]
    assert not [e for e in entries if "/tests/" in e or e.startswith("python/bin/")]
    assert not [e for e in entries if e.endswith(".dist-info/RECORD")]
    assert not [e for e in entries if e.startswith(("python/sympy/", "python/mpmath/"))]
    extensions = [e for e in entries if ".cpython-" in e and e.endswith(".so")]
    assert extensions and all("cpython-312-x86_64-linux-gnu" in e for e in extensions)


def test_both_handlers_run_from_the_unzipped_function_and_layers_snapstart_as_well(
    archives: dict[str, Archive], tmp_path: Path
) -> None:
    python = lambda_python()
    if python.version != (3, 12) or platform.machine() != "x86_64":
        pytest.skip("the layer holds CPython 3.12 x86_64 wheels; no such interpreter here")
    task, opt = tmp_path / "var" / "task", tmp_path / "opt"
    with zipfile.ZipFile(archives["function.zip"].path) as zf:
        zf.extractall(task)
    for layer in ("layers/dependencies.zip", "layers/model.zip"):
        with zipfile.ZipFile(archives[layer].path) as zf:
            zf.extractall(opt)
    paths = [task, opt / "python", runtime_client_folder(python)]
    model = str(opt / MODEL_ARCNAME)

    # The API as template-snapstart.yaml runs it: init (with the warm-up), snapshot, restore.
    env = lambda_env("cutout-api-zip", tmp_path, CUTOUT_MODEL_PATH=model)
    env["AWS_LAMBDA_INITIALIZATION_TYPE"] = "snap-start"
    api = Invocation(load_event("api-v2"))
    run, loaded = run_ric(python, paths, "handler.app.lambda_handler", [api], env, tmp_path)
    assert loaded["outside"] == [], "imported from outside the function and its layers"
    assert "GET /2018-06-01/runtime/restore/next" in run.api.calls.log
    assert api.response["statusCode"] == 200
    source = decode_image(base64.b64decode(load_event("api-v2")["body"]))
    assert decode_image(base64.b64decode(api.response["body"])).size == source.size

    # The trigger's import closure from the layers (S3's test event: nothing to fetch).
    env = lambda_env("cutout-trigger-zip", tmp_path, CUTOUT_MODEL_PATH=model)
    probe = Invocation({"Service": "Amazon S3", "Event": "s3:TestEvent", "Records": []})
    _, loaded = run_ric(python, paths, "handler.trigger.s3_handler", [probe], env, tmp_path)
    assert loaded["outside"] == [] and loaded["fastapi_loaded"] is False
    assert probe.response == {"results": []}
