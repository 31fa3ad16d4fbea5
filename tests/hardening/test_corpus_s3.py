"""The corpus through handler.app.s3_handler against moto's S3: a valid upload becomes
cutouts/<path>.<ext>.png; anything else writes no result, records its failure and is not retried."""

from __future__ import annotations

import json
from typing import Any

import pytest

from handler.aws.lambda_context import LocalLambdaContext
from tests.hardening.contract import decoded_size, leaks_internals
from tests.hardening.corpus import HOSTILE, VALID, Case, case_ids
from tests.integration.s3_helpers import s3_event_for, sqs_batch_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(180),
    pytest.mark.usefixtures("runtime_at_corpus_tier"),
]
BUCKET = "corpus"
UPLOADS = HOSTILE + VALID  # the S3 path takes no options, so the bad queries do not apply


def upload_key(case: Case) -> str:
    return f"uploads/corpus/{case.name}.bin"


def check_bucket(s3: Any, case: Case) -> None:
    """The result, or the failure record and no result."""
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="cutouts/").get("Contents", [])
    written = {item["Key"] for item in listed}
    result, failure = (
        f"cutouts/corpus/{case.name}.bin.png",
        f"cutouts/corpus/{case.name}.bin.error.json",
    )
    if case.valid:
        assert written == {result}
        out = s3.get_object(Bucket=BUCKET, Key=result)
        assert out["ContentType"] == "image/png"
        assert decoded_size(out["Body"].read()) == case.size
        return
    assert written == {failure}
    error = json.loads(s3.get_object(Bucket=BUCKET, Key=failure)["Body"].read())["error"]
    assert error["code"] == case.code and not leaks_internals(error["message"])


@pytest.mark.parametrize("case", UPLOADS, ids=case_ids(UPLOADS))
def test_direct_notification(
    s3: Any, s3_handler: Any, lambda_context: LocalLambdaContext, case: Case
) -> None:
    s3.put_object(Bucket=BUCKET, Key=upload_key(case), Body=case.body)
    # Returning (not raising) is what stops Lambda's async retries for a permanent failure.
    result = s3_handler(s3_event_for(BUCKET, upload_key(case), len(case.body)), lambda_context)
    (only,) = result["results"]
    assert only["status"] == ("written" if case.valid else "failed")
    assert only.get("reason") == case.code
    check_bucket(s3, case)


def test_whole_corpus_as_one_sqs_batch_retries_nothing(
    s3: Any, s3_handler: Any, lambda_context: LocalLambdaContext
) -> None:
    for case in UPLOADS:
        s3.put_object(Bucket=BUCKET, Key=upload_key(case), Body=case.body)
    event = sqs_batch_for(
        *(s3_event_for(BUCKET, upload_key(case), len(case.body)) for case in UPLOADS)
    )
    assert s3_handler(event, lambda_context) == {"batchItemFailures": []}
    results = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="cutouts/")["Contents"]}
    for case in UPLOADS:
        suffix = ".png" if case.valid else ".error.json"
        assert f"cutouts/corpus/{case.name}.bin{suffix}" in results
        assert (
            f"cutouts/corpus/{case.name}.bin{'.error.json' if case.valid else '.png'}"
            not in results
        )
