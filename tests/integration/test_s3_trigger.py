"""handler.app.s3_handler against moto's S3 server: direct and SQS-wrapped notifications."""

from __future__ import annotations

import json
from typing import Any

import pytest

from handler.aws.lambda_context import LocalLambdaContext
from handler.aws.s3_client import s3_client
from handler.core.options import Edges, RemoveOptions
from tests.integration.s3_helpers import counting, s3_event_for, sqs_batch_for
from tests.support import decode_image, encode_image, fixture_bytes, photo

pytestmark = pytest.mark.integration
BUCKET = "media"


def keys(s3: Any) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def failure_record(s3: Any, key: str) -> dict[str, Any]:
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return json.loads(body)  # type: ignore[no-any-return]


def test_upload_becomes_a_png_cutout_with_metadata(
    s3: Any, s3_handler: Any, lambda_context: LocalLambdaContext
) -> None:
    data = encode_image(photo(90, 60), "JPEG")
    s3.put_object(Bucket=BUCKET, Key="uploads/shoes/red.jpg", Body=data)
    result = s3_handler(s3_event_for(BUCKET, "uploads/shoes/red.jpg"), lambda_context)
    assert result["results"][0]["status"] == "written"
    out = s3.get_object(Bucket=BUCKET, Key="cutouts/shoes/red.jpg.png")
    assert out["ContentType"] == "image/png"
    assert out["Metadata"]["source-key"] == "uploads/shoes/red.jpg"
    assert out["Metadata"]["edges"] == "soft"
    assert (
        out["Metadata"]["model"].startswith("u2netp-")
        and len(out["Metadata"]["source-sha256"]) == 64
    )
    image = decode_image(out["Body"].read())
    assert image.mode == "RGBA" and image.size == (90, 60)


def test_trigger_with_sharp_edges_writes_a_binary_alpha(
    s3: Any, s3_handler: Any, lambda_context: LocalLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CUTOUT_TRIGGER_EDGES=sharp becomes the trigger's options (handler/trigger.py)."""
    from handler import app

    monkeypatch.setattr(app.trigger, "options", RemoveOptions(edges=Edges.SHARP))
    s3.put_object(Bucket=BUCKET, Key="uploads/car.jpg", Body=fixture_bytes("car-1"))
    s3_handler(s3_event_for(BUCKET, "uploads/car.jpg"), lambda_context)
    out = s3.get_object(Bucket=BUCKET, Key="cutouts/car.jpg.png")
    assert out["Metadata"]["edges"] == "sharp"
    alpha = decode_image(out["Body"].read()).getchannel("A")
    assert sorted(value for _, value in alpha.getcolors() or []) == [0, 255]


def test_key_with_spaces_plus_and_unicode(
    s3: Any, s3_handler: Any, lambda_context: LocalLambdaContext
) -> None:
    key = "uploads/red shoe+blue ü.png"
    s3.put_object(Bucket=BUCKET, Key=key, Body=encode_image(photo(40, 30)))
    event = s3_event_for(BUCKET, key)
    assert event["Records"][0]["s3"]["object"]["key"] == "uploads/red+shoe%2Bblue+%C3%BC.png"
    s3_handler(event, lambda_context)
    assert "cutouts/red shoe+blue ü.png.png" in keys(s3)


@pytest.mark.parametrize("key", ["cutouts/already.png", "elsewhere/photo.jpg", "uploads/"])
def test_recursion_guard_and_foreign_prefixes_write_nothing(
    s3: Any, s3_handler: Any, lambda_context: LocalLambdaContext, key: str
) -> None:
    if not key.endswith("/"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=encode_image(photo(20, 20)))
    before = keys(s3)
    result = s3_handler(s3_event_for(BUCKET, key), lambda_context)
    assert keys(s3) == before
    assert all(r["status"] == "skipped" for r in result["results"])


def test_redelivery_is_idempotent(
    s3: Any, s3_handler: Any, lambda_context: LocalLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    from handler import app

    model, session = counting(app.trigger.service.model)
    monkeypatch.setattr(app.trigger.service, "model", model)
    monkeypatch.setattr(app.trigger.service, "cache", _NoCache())
    s3.put_object(Bucket=BUCKET, Key="uploads/a.jpg", Body=encode_image(photo(30, 30), "JPEG"))
    event = s3_event_for(BUCKET, "uploads/a.jpg")
    first = s3_handler(event, lambda_context)["results"][0]
    written = s3.head_object(Bucket=BUCKET, Key="cutouts/a.jpg.png")
    second = s3_handler(event, lambda_context)["results"][0]
    assert (first["status"], second["status"]) == ("written", "unchanged")
    assert session.calls == 1
    assert s3.head_object(Bucket=BUCKET, Key="cutouts/a.jpg.png")["ETag"] == written["ETag"]


def test_object_over_the_byte_cap_is_refused_before_download(
    s3: Any, s3_handler: Any, lambda_context: LocalLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    from handler import app
    from handler.core.tiers import MemoryTier

    small = MemoryTier(memory_mb=512, max_pixels=1_000_000, max_input_bytes=1000)
    monkeypatch.setattr(app.trigger.service, "tier", small)
    calls: list[str] = []
    real_get = s3.get_object
    s3.put_object(Bucket=BUCKET, Key="uploads/big.png", Body=encode_image(photo(300, 300)))
    monkeypatch.setattr(s3, "get_object", lambda **kw: calls.append(kw["Key"]) or real_get(**kw))
    result = s3_handler(s3_event_for(BUCKET, "uploads/big.png"), lambda_context)
    assert result["results"][0] == {
        "status": "failed",
        "key": "uploads/big.png",
        "reason": "payload_too_large",
    }
    assert "uploads/big.png" not in calls
    assert failure_record(s3, "cutouts/big.png.error.json")["error"]["code"] == "payload_too_large"


def test_sqs_batch_one_bad_record_never_fails_the_others(
    s3: Any, s3_handler: Any, lambda_context: LocalLambdaContext
) -> None:
    s3.put_object(Bucket=BUCKET, Key="uploads/good.jpg", Body=encode_image(photo(50, 40), "JPEG"))
    s3.put_object(Bucket=BUCKET, Key="uploads/notes.jpg", Body=b"this is not an image")
    event = sqs_batch_for(
        s3_event_for(BUCKET, "uploads/good.jpg"),
        s3_event_for(BUCKET, "uploads/notes.jpg"),
        s3_event_for(BUCKET, "uploads/missing.jpg"),
        {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET},
    )
    response = s3_handler(event, lambda_context)
    # Permanent failures are recorded, not retried: nothing goes back to the queue.
    assert response == {"batchItemFailures": []}
    assert decode_image(
        s3.get_object(Bucket=BUCKET, Key="cutouts/good.jpg.png")["Body"].read()
    ).size == (50, 40)
    assert (
        failure_record(s3, "cutouts/notes.jpg.error.json")["error"]["code"] == "unsupported_format"
    )
    assert failure_record(s3, "cutouts/missing.jpg.error.json")["error"]["code"] == "source_missing"


def test_s3_down_reports_every_record_for_retry(
    s3: Any, s3_handler: Any, lambda_context: LocalLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    s3_client.cache_clear()
    event = sqs_batch_for(
        s3_event_for(BUCKET, "uploads/a.jpg"), s3_event_for(BUCKET, "uploads/b.jpg")
    )
    response = s3_handler(event, lambda_context)
    ids = [item["itemIdentifier"] for item in response["batchItemFailures"]]
    assert ids == [r["messageId"] for r in event["Records"]]


def test_direct_notification_raises_for_retry_when_s3_is_down(
    s3: Any, s3_handler: Any, lambda_context: LocalLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    from handler.aws.s3_trigger import TransientTriggerError
    from tests.support import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    s3_client.cache_clear()
    with pytest.raises(TransientTriggerError):
        s3_handler(s3_event_for(BUCKET, "uploads/a.jpg"), lambda_context)


class _NoCache:
    name = "off"

    def get(self, key: Any) -> None:
        return None

    def put(self, key: Any, result: Any) -> None:
        return None

    def result_url(self, key: Any, expires_s: int) -> None:
        return None


def test_the_trigger_draws_with_its_deployments_model_and_redraws_after_a_change(
    s3: Any, model: Any
) -> None:
    """CUTOUT_TRIGGER_MODEL per deployment; the model is part of what makes a result current.
    The second model is u2netp's session under another name and id (routing, not weights)."""
    from dataclasses import replace

    from handler.aws.s3_trigger import S3Trigger
    from handler.core.tiers import MemoryTier
    from handler.errors import ModelNotLoadedError
    from handler.serving.service import CutoutService

    big, session = counting(replace(model, name="u2net", model_id="u2net-test"))
    service = CutoutService(
        models={"u2netp": model, "u2net": big},
        tier=MemoryTier.for_memory(4096, models=("u2netp", "u2net")),
    )

    def trigger(name: str | None) -> S3Trigger:
        return S3Trigger(
            service=service,
            client_factory=lambda: s3,
            input_prefix="uploads/",
            output_prefix="cutouts/",
            model=name,
        )

    s3.put_object(Bucket=BUCKET, Key="uploads/m.jpg", Body=encode_image(photo(30, 20), "JPEG"))
    event = s3_event_for(BUCKET, "uploads/m.jpg")
    first = trigger("u2net").handle_s3_event(event)["results"][0]
    assert first["status"] == "written" and session.calls == 1
    assert (
        s3.head_object(Bucket=BUCKET, Key="cutouts/m.jpg.png")["Metadata"]["model"] == "u2net-test"
    )
    again = trigger("u2net").handle_s3_event(event)["results"][0]
    assert again["status"] == "unchanged"
    switched = trigger(None).handle_s3_event(event)["results"][0]  # the default: u2netp
    assert switched["status"] == "written"
    head = s3.head_object(Bucket=BUCKET, Key="cutouts/m.jpg.png")
    assert head["Metadata"]["model"] == model.model_id
    with pytest.raises(ModelNotLoadedError, match="u2netp, u2net"):
        trigger("u2netq")


def test_a_redelivered_upload_is_redrawn_when_the_deployments_edges_change(
    s3: Any, model: Any
) -> None:
    """CUTOUT_TRIGGER_EDGES is part of what makes a result current, as the model is."""
    from handler.aws.s3_trigger import S3Trigger
    from handler.core.tiers import MemoryTier
    from handler.serving.service import CutoutService

    counted, session = counting(model)
    service = CutoutService(model=counted, tier=MemoryTier.for_memory(2048), cache=_NoCache())

    def trigger(edges: Edges) -> S3Trigger:
        return S3Trigger(
            service=service,
            client_factory=lambda: s3,
            input_prefix="uploads/",
            output_prefix="cutouts/",
            options=RemoveOptions(edges=edges),
        )

    s3.put_object(Bucket=BUCKET, Key="uploads/e.jpg", Body=encode_image(photo(30, 20), "JPEG"))
    event = s3_event_for(BUCKET, "uploads/e.jpg")
    statuses = [
        trigger(edges).handle_s3_event(event)["results"][0]["status"]
        for edges in (Edges.SOFT, Edges.SOFT, Edges.SHARP, Edges.SHARP)
    ]
    assert statuses == ["written", "unchanged", "written", "unchanged"]
    assert session.calls == 2
    head = s3.head_object(Bucket=BUCKET, Key="cutouts/e.jpg.png")
    assert head["Metadata"]["edges"] == "sharp"
