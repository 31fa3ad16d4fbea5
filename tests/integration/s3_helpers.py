"""Helpers for the S3 tests: notifications shaped as S3 sends them, a counting model."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote_plus

from handler.core.predict import U2NetModel
from tests.support import load_event


def s3_event_for(bucket: str, key: str, size: int = 1) -> dict[str, Any]:
    """events/s3-put.json pointed at a bucket and key, the key URL-encoded as S3 does."""
    event = load_event("s3-put")
    record = event["Records"][0]["s3"]
    record["bucket"]["name"] = bucket
    record["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    record["object"]["key"] = quote_plus(key, safe="/")
    record["object"]["size"] = size
    return event


def sqs_batch_for(*s3_events: dict[str, Any]) -> dict[str, Any]:
    """events/sqs-s3.json with one message per S3 notification."""
    template = load_event("sqs-s3")["Records"][0]
    records = []
    for number, s3_event in enumerate(s3_events):
        message = dict(template)
        message["messageId"] = f"00000000-0000-4000-8000-{number:012d}"
        message["body"] = json.dumps(s3_event)
        records.append(message)
    return {"Records": records}


@dataclass
class CountingSession:
    """Wraps an ONNX session and counts inference calls."""

    inner: Any
    calls: int = 0

    def run(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.inner.run(*args, **kwargs)


def counting(model: U2NetModel) -> tuple[U2NetModel, CountingSession]:
    session = CountingSession(model.session)
    return replace(model, session=session), session
