"""The S3 trigger keeps its own deadline: a record that cannot finish is written off before the
invocation ends, and the other records of the batch are still processed."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from handler.aws.lambda_context import LocalLambdaContext
from handler.aws.s3_trigger import TRIGGER_ANSWER_MARGIN_S
from handler.core.options import RemoveOptions
from handler.serving.service import CutoutService
from tests.integration.s3_helpers import s3_event_for, sqs_batch_for
from tests.support import decode_image, encode_image, photo

pytestmark = pytest.mark.integration
BUCKET = "media"
# A short function timeout: each test waits for a stuck record's share of it, never longer.
TIMEOUT_S = TRIGGER_ANSWER_MARGIN_S + 4.0
STUCK = b"GIF89a stuck"  # never decoded: the injected service blocks on it


@pytest.fixture
def stuck_service(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """The trigger's service, except that the STUCK body blocks until the test ends."""
    from handler import app

    release = threading.Event()
    real_remove = app.trigger.service.remove

    def remove(data: bytes, *args: Any, **kwargs: Any) -> Any:
        if data == STUCK:
            release.wait()
        return real_remove(data, *args, **kwargs)

    monkeypatch.setattr(app.trigger.service, "remove", remove)
    yield release
    release.set()


def read_json(s3: Any, key: str) -> dict[str, Any]:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())  # type: ignore[no-any-return]


def test_a_stuck_record_does_not_cost_the_batch_its_other_records(
    s3: Any, stuck_service: threading.Event
) -> None:
    from handler.app import s3_handler

    s3.put_object(Bucket=BUCKET, Key="uploads/bomb.gif", Body=STUCK)
    from handler import app

    good_photo = encode_image(photo(60, 40), "JPEG")
    # Made once beforehand, so in the batch it is a cache hit: on a loaded machine an inference
    # alone can take seconds, and this test is about the deadline, not about speed.
    app.trigger.service.remove(good_photo, RemoveOptions())
    s3.put_object(Bucket=BUCKET, Key="uploads/good.jpg", Body=good_photo)
    event = sqs_batch_for(
        s3_event_for(BUCKET, "uploads/bomb.gif"), s3_event_for(BUCKET, "uploads/good.jpg")
    )
    context = LocalLambdaContext(timeout_s=TIMEOUT_S)
    response = s3_handler(event, context)
    assert context.get_remaining_time_in_millis() > 0
    good = s3.get_object(Bucket=BUCKET, Key="cutouts/good.jpg.png")["Body"].read()
    assert decode_image(good).size == (60, 40)
    # It had only half of the time: retried (alone next time), not written off yet.
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="cutouts/")["Contents"]
    assert {item["Key"] for item in listed} == {"cutouts/good.jpg.png"}
    # Redelivered alone, it has the whole invocation: a permanent failure, recorded in time.
    context = LocalLambdaContext(timeout_s=TIMEOUT_S)
    again = s3_handler(sqs_batch_for(s3_event_for(BUCKET, "uploads/bomb.gif")), context)
    assert context.get_remaining_time_in_millis() > 0
    assert again == {"batchItemFailures": []}
    record = read_json(s3, "cutouts/bomb.gif.error.json")
    assert record["error"]["code"] == "processing_timeout"
    assert record["source_key"] == "uploads/bomb.gif"
    # A direct notification (Lambda's async retries) is answered without raising.
    direct = s3_handler(
        s3_event_for(BUCKET, "uploads/bomb.gif"), LocalLambdaContext(timeout_s=TIMEOUT_S)
    )
    assert direct["results"][0]["reason"] == "processing_timeout"


def test_no_time_left_to_start_is_retried_not_written_off(s3: Any, service: CutoutService) -> None:
    from handler.app import s3_handler

    s3.put_object(Bucket=BUCKET, Key="uploads/late.jpg", Body=encode_image(photo(20, 20), "JPEG"))
    event = sqs_batch_for(s3_event_for(BUCKET, "uploads/late.jpg"))
    response = s3_handler(event, LocalLambdaContext(timeout_s=TRIGGER_ANSWER_MARGIN_S + 0.5))
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="cutouts/")
