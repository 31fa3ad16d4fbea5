"""Trigger outputs keyed by their source, against moto's S3: distinct uploads never share an
output, a failed re-upload leaves no stale cutout, over-long keys fail once and for all."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from handler.aws.lambda_context import LocalLambdaContext
from handler.aws.s3_keys import MAX_KEY_BYTES, failure_key, result_id_for, result_key
from handler.http.api import create_app
from handler.serving.service import CutoutService
from handler.settings import Settings
from tests.integration.s3_helpers import s3_event_for, sqs_batch_for
from tests.support import decode_image, encode_image, photo

pytestmark = pytest.mark.integration
BUCKET = "media"


def outputs(s3: Any) -> set[str]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="cutouts/").get("Contents", [])
    return {item["Key"] for item in listed}


def test_mapping_keeps_the_whole_source_key() -> None:
    names = ["a.jpg", "a.png", "a", "d/./b.jpg", "d//b.jpg", "d/b.jpg", "a.png.png", "a.error"]
    keys = [f"uploads/{name}" for name in names]
    ids = [result_id_for(key, "uploads/", "cutouts/") for key in keys]
    assert ids == [key.removeprefix("uploads/") for key in keys]
    written = [result_key(i, "cutouts/") for i in ids if i] + [
        failure_key(i, "cutouts/") for i in ids if i
    ]
    assert len(set(written)) == 2 * len(keys)
    assert result_key("d/./b.jpg", "cutouts/") == "cutouts/d/./b.jpg.png"


@pytest.mark.parametrize(
    "names",
    [("a.jpg", "a.png"), ("d/./b.jpg", "d//b.jpg", "d/b.jpg")],
    ids=["extensions", "dot-segments"],
)
def test_distinct_uploads_never_share_an_output(
    s3: Any, s3_handler: Any, lambda_context: LocalLambdaContext, names: tuple[str, ...]
) -> None:
    sizes = [(40 + 10 * n, 30) for n in range(len(names))]
    for name, size in zip(names, sizes, strict=True):
        s3.put_object(Bucket=BUCKET, Key=f"uploads/{name}", Body=encode_image(photo(*size)))
    event = sqs_batch_for(*(s3_event_for(BUCKET, f"uploads/{name}") for name in names))
    assert s3_handler(event, lambda_context) == {"batchItemFailures": []}
    assert outputs(s3) == {f"cutouts/{name}.png" for name in names}
    for name, size in zip(names, sizes, strict=True):
        out = s3.get_object(Bucket=BUCKET, Key=f"cutouts/{name}.png")
        assert out["Metadata"]["source-key"] == f"uploads/{name}"
        assert decode_image(out["Body"].read()).size == size


def test_failed_reupload_removes_the_stale_cutout(
    s3: Any, s3_handler: Any, lambda_context: LocalLambdaContext, service: CutoutService
) -> None:
    event = s3_event_for(BUCKET, "uploads/shoe.jpg")
    s3.put_object(Bucket=BUCKET, Key="uploads/shoe.jpg", Body=encode_image(photo(50, 40), "JPEG"))
    assert s3_handler(event, lambda_context)["results"][0]["status"] == "written"
    app = TestClient(create_app(service, Settings(media_bucket=BUCKET)))
    assert app.get("/v1/results/shoe.jpg", follow_redirects=False).status_code == 303
    s3.put_object(Bucket=BUCKET, Key="uploads/shoe.jpg", Body=b"GIF89a but not really")
    assert s3_handler(event, lambda_context)["results"][0]["reason"] == "corrupt_image"
    assert outputs(s3) == {"cutouts/shoe.jpg.error.json"}
    answer = app.get("/v1/results/shoe.jpg", follow_redirects=False)
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "corrupt_image"
    # A good upload again supersedes the failure record.
    s3.put_object(Bucket=BUCKET, Key="uploads/shoe.jpg", Body=encode_image(photo(20, 10), "JPEG"))
    assert s3_handler(event, lambda_context)["results"][0]["status"] == "written"
    assert outputs(s3) == {"cutouts/shoe.jpg.png"}


def test_over_long_output_key_is_a_permanent_failure(
    s3: Any, s3_handler: Any, lambda_context: LocalLambdaContext
) -> None:
    key = "uploads/" + "é" * 200 + "x" * (MAX_KEY_BYTES - 8 - 400 - 4) + ".jpg"
    assert len(key.encode()) == MAX_KEY_BYTES  # the longest key S3 takes: its output cannot fit
    s3.put_object(Bucket=BUCKET, Key=key, Body=encode_image(photo(20, 20), "JPEG"))
    direct = s3_handler(s3_event_for(BUCKET, key), lambda_context)  # returns: no async retry
    assert direct["results"][0]["reason"] == "key_too_long"
    batch = s3_handler(sqs_batch_for(s3_event_for(BUCKET, key)), lambda_context)
    assert batch == {"batchItemFailures": []}  # not redelivered into the dead-letter queue
    assert outputs(s3) == set()


def test_failure_record_names_its_source(
    s3: Any, s3_handler: Any, lambda_context: LocalLambdaContext
) -> None:
    s3.put_object(Bucket=BUCKET, Key="uploads/notes.txt", Body=b"plain text")
    s3_handler(s3_event_for(BUCKET, "uploads/notes.txt"), lambda_context)
    stored = s3.get_object(Bucket=BUCKET, Key="cutouts/notes.txt.error.json")
    record = json.loads(stored["Body"].read())
    assert record["source_key"] == "uploads/notes.txt"
    assert record["error"]["code"] == "unsupported_format"
