"""Both handlers run as Lambda runs them: `python -m awslambdaric <handler>` (the image's entry
point) against a Runtime API on loopback (tests/runtime_api.py). The init phase, the invoke loop
and how init and invocation errors are reported are AWS's own code here, not ours."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from handler.aws.s3_client import s3_client
from tests.deploy.trees import MODEL, lambda_env
from tests.integration.s3_helpers import s3_event_for, sqs_batch_for
from tests.runtime_api import Invocation, RuntimeRun, run_runtime
from tests.support import REPO, decode_image, encode_image, free_port, load_event, photo

pytest.importorskip("awslambdaric")
pytestmark = [pytest.mark.integration, pytest.mark.slow]

API = "handler.app.lambda_handler"
TRIGGER = "handler.trigger.s3_handler"


def env_for(tmp_path: Path, function: str = "cutout-api", **extra: str) -> dict[str, str]:
    return lambda_env(function, tmp_path, **{"CUTOUT_MODEL_PATH": str(MODEL), **extra})


def api_event(version: str, image: Any = None) -> dict[str, Any]:
    return load_event(version, body=encode_image(image or photo(96, 64), "JPEG"))


def run(handler: str, invocations: list[Invocation], env: dict[str, str]) -> RuntimeRun:
    return run_runtime(handler, invocations, env, cwd=REPO)


def messages(run: RuntimeRun, text: str) -> list[dict[str, Any]]:
    return [line for line in run.log_lines() if line.get("message") == text]


def emf_metrics(run: RuntimeRun) -> list[dict[str, Any]]:
    return [line for line in run.log_lines() if "_aws" in line]


def assert_png_of(response: dict[str, Any], size: tuple[int, int]) -> None:
    assert response["statusCode"] == 200, response.get("body", "")[:300]
    image = decode_image(base64.b64decode(response["body"]))
    assert (image.format, image.mode, image.size) == ("PNG", "RGBA", size)


def test_init_once_then_v1_and_v2_events_on_the_same_session(tmp_path: Path) -> None:
    invocations = [
        Invocation(api_event("api-v1", photo(96, 64))),
        Invocation(api_event("api-v2", photo(80, 120, seed=1))),
        Invocation(api_event("api-v2", photo(64, 64, seed=2))),
    ]
    result = run(API, invocations, env_for(tmp_path))

    assert result.api.calls.init_error is None, result.stdout[-2000:]
    for invocation, size in zip(invocations, [(96, 64), (80, 120), (64, 64)], strict=True):
        assert invocation.error is None, invocation.error
        assert_png_of(invocation.response, size)
    # One process, one init: one init line (with its breakdown), one ColdStart, three requests.
    (init,) = messages(result, "init done")
    assert init["entry"] == "api"
    assert {"imports", "session", "wiring"} <= set(init["init_phases_ms"])
    assert init["init_duration_ms"] >= sum(init["init_phases_ms"].values()) - 1
    assert len(messages(result, "request served")) == 3
    cold = [m for m in emf_metrics(result) if "ColdStart" in m]
    assert len(cold) == 1
    # The invocation's request id reaches the log lines (Powertools' context from the runtime's).
    served = messages(result, "request served")
    assert [m["function_request_id"] for m in served] == [i.request_id for i in invocations]


def test_the_deadline_from_the_runtime_api_reaches_the_time_budget(tmp_path: Path) -> None:
    # 1.5 s left leaves less than the one second kept for answering plus one image's fixed cost:
    # refused up front. With 30 s left the same image is served.
    near = Invocation(api_event("api-v2"), time_limit_ms=1500)
    far = Invocation(api_event("api-v2"), time_limit_ms=30_000)
    run(API, [near, far], env_for(tmp_path))

    assert near.response["statusCode"] == 503, near.response
    assert '"processing_timeout"' in near.response["body"]
    assert_png_of(far.response, (96, 64))


def test_a_fault_is_an_invocation_error_that_names_no_path_and_the_next_event_is_served(
    tmp_path: Path,
) -> None:
    broken = Invocation({"Records": "not a list of records"})  # a bug's stand-in: AttributeError
    s3_down = Invocation(s3_event_for("cutout-media-ric", "uploads/a.jpg"))
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens: S3 is down, retry
    env = env_for(tmp_path, "cutout-trigger", AWS_ENDPOINT_URL=closed)
    result = run(TRIGGER, [broken, s3_down], env)

    assert broken.response is None and broken.error is not None
    assert broken.error["errorType"] == "InvocationFaultError"
    message = broken.error["errorMessage"]
    assert broken.request_id in message and "log" in message
    assert "/" not in message and "Error" not in message  # no path, no exception internals
    # Our own retry signal keeps its type and message (SQS and S3 retry on any error).
    assert s3_down.error is not None
    assert s3_down.error["errorType"] == "TransientTriggerError"
    assert s3_down.error["errorMessage"] == "1 object(s) must be retried"
    for error in (broken.error, s3_down.error):
        # The stack trace is the barrier's one frame: nothing from the handlers or a library.
        assert len(error["stackTrace"]) == 1, error["stackTrace"]
        assert "handler/aws/entry.py" in error["stackTrace"][0]
        assert "site-packages" not in str(error)
    # The log keeps the real exceptions for the operator.
    logged = messages(result, "invocation failed")
    assert [line["error_type"] for line in logged] == ["AttributeError", "TransientTriggerError"]

    fine = Invocation(api_event("api-v2"))
    api = run(API, [Invocation({"not": "an API Gateway event"}), fine], env_for(tmp_path))
    assert api.api.invocations[0].error["errorType"] == "InvocationFaultError"
    assert "/" not in api.api.invocations[0].error["errorMessage"]
    assert_png_of(fine.response, (96, 64))  # the same process goes on serving


def test_a_missing_model_is_an_init_error_with_our_message(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "u2netp.onnx"
    env = env_for(tmp_path, CUTOUT_MODEL_PATH=str(missing))
    result = run(API, [Invocation(api_event("api-v2"))], env)

    error = result.api.calls.init_error
    assert error is not None
    assert error["errorType"] == "ModelUnavailableError"
    assert error["errorMessage"].startswith(f"model file not found at {missing}")
    assert "CUTOUT_MODEL_PATH" in error["errorMessage"]
    assert result.returncode != 0
    assert not any("invocation/next" in call for call in result.api.calls.log)


@pytest.mark.usefixtures("s3_endpoint")
def test_trigger_answers_an_sqs_batch_with_batch_item_failures(
    tmp_path: Path, s3_endpoint: str
) -> None:
    bucket = "cutout-media-ric"
    s3 = s3_client()
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="uploads/shoe.jpg", Body=encode_image(photo(90, 60), "JPEG"))
    batch = sqs_batch_for(
        s3_event_for(bucket, "uploads/shoe.jpg"),
        s3_event_for("no-such-bucket-ric", "uploads/gone.jpg"),  # S3 fails: retry this one
        s3_event_for(bucket, "elsewhere/ignored.jpg"),  # outside the input prefix: skipped
    )
    env = env_for(tmp_path, "cutout-trigger", AWS_ENDPOINT_URL=s3_endpoint)
    invocation = Invocation(batch)
    result = run(TRIGGER, [invocation], env)

    assert invocation.error is None, (invocation.error, result.stdout[-2000:])
    failed = batch["Records"][1]["messageId"]
    assert invocation.response == {"batchItemFailures": [{"itemIdentifier": failed}]}
    out = s3.get_object(Bucket=bucket, Key="cutouts/shoe.png")
    assert decode_image(out["Body"].read()).size == (90, 60)
    (init,) = messages(result, "init done")
    assert init["entry"] == "s3"


def test_snapstart_warms_up_before_the_snapshot_and_renews_state_after_restore(
    tmp_path: Path,
) -> None:
    env = env_for(tmp_path, AWS_LAMBDA_INITIALIZATION_TYPE="snap-start")
    invocation = Invocation(api_event("api-v1"))
    result = run(API, [invocation], env)

    assert_png_of(invocation.response, (96, 64))
    log = result.api.calls.log
    restore = log.index("GET /2018-06-01/runtime/restore/next")
    assert restore < log.index("GET /2018-06-01/runtime/invocation/next")
    (init,) = messages(result, "init done")
    assert init["init_phases_ms"]["warm_up"] > 0  # inside the init phase: in the snapshot
    lines = [line.get("message") for line in result.log_lines()]
    assert lines.index("init done") < lines.index("restored from snapshot")
    # The restored environment does not re-report the snapshot's init, but counts a cold start.
    emitted = emf_metrics(result)
    assert not [m for m in emitted if "InitDurationMs" in m]
    assert len([m for m in emitted if "ColdStart" in m]) == 1
