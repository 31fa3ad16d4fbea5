"""The trigger's SQS partial-batch answer (handler/trigger.py): the messages whose handling
raised go back to the queue, whatever raised; the others are done."""

from __future__ import annotations

import json
from typing import Any

import pytest

from handler.aws.lambda_context import LocalLambdaContext
from handler.aws.s3_trigger import TransientTriggerError
from tests.support import load_event


def batch_of(*bodies: str) -> dict[str, Any]:
    """events/sqs-s3.json with one message per body, each with its own id."""
    event = load_event("sqs-s3")
    template = event["Records"][0]
    event["Records"] = [
        template | {"messageId": f"m-{i}", "body": body} for i, body in enumerate(bodies)
    ]
    return event


def test_each_raising_message_is_reported_and_only_those(monkeypatch: pytest.MonkeyPatch) -> None:
    from handler import trigger

    seen: list[str] = []

    def handle(body: str, clock: Any = None) -> list[Any]:
        seen.append(body)
        if body == "transient":
            raise TransientTriggerError("uploads/a.jpg: s3_unavailable")
        if body == "bug":
            raise RuntimeError("a fault of ours")
        return []

    monkeypatch.setattr(trigger.trigger, "handle_sqs_message", handle)
    event = batch_of("fine", "transient", json.dumps({"Records": []}), "bug")
    answer = trigger.s3_handler(event, LocalLambdaContext())
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-3"}]}
    assert seen == [r["body"] for r in event["Records"]]  # a failure does not stop the batch
