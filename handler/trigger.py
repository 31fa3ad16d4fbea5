"""The S3 trigger's Lambda entry point: S3 notifications, direct or in SQS messages (then it
answers batchItemFailures). It imports neither FastAPI nor Mangum, nor Powertools' batch
utility: its cold start pays for the image core, boto3 and Powertools' logger and metrics only.

The SQS partial-batch answer is the loop below rather than Powertools' BatchProcessor, whose
import (every event data class, asyncio) cost ~140 ms of `-X importtime` at each cold start for
what is, with a standard queue, one try/except per message (docs/bench/cold-start.md).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handler import runtime
from handler.aws.entry import fault_barrier, finish_init
from handler.aws.observability import (
    in_current_trace,
    logger,
    metrics,
    record_trigger_result,
    trace_handler,
)
from handler.aws.s3_client import s3_client
from handler.aws.s3_trigger import BatchClock, S3Trigger, TransientTriggerError
from handler.core.options import RemoveOptions

trigger = S3Trigger(
    service=runtime.service,
    client_factory=s3_client,
    input_prefix=runtime.settings.input_prefix,
    output_prefix=runtime.settings.output_prefix,
    model=runtime.settings.trigger_model,
    on_result=record_trigger_result,
    in_worker=in_current_trace,
    options=RemoveOptions(edges=runtime.settings.trigger_edges),
)
finish_init("s3")


def sqs_batch(records: list[dict[str, Any]], clock: BatchClock) -> dict[str, Any]:
    """SQS's partial-batch answer: the ids of the messages to deliver again.

    A message fails when its handling raises (TransientTriggerError: S3 was unreachable, or the
    record ran out of its share of the time); refusals of the image itself are written as failure
    records by the trigger and count as handled, so they are not retried.
    """
    failures = []
    for record in records:
        try:
            trigger.handle_sqs_message(str(record.get("body", "")), clock)
        except Exception as exc:
            where = {"message_id": record.get("messageId")}
            if isinstance(exc, TransientTriggerError):
                logger.warning("SQS message left for redelivery: %s", exc, extra=where)
            else:  # a fault of ours: the whole trace, and the message is tried again
                logger.exception("SQS message failed; left for redelivery", extra=where)
            failures.append({"itemIdentifier": record.get("messageId", "")})
    return {"batchItemFailures": failures}


@fault_barrier(TransientTriggerError)
@logger.inject_lambda_context
@trace_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def s3_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """S3 notifications, direct or in SQS messages (then answers batchItemFailures)."""
    records = event.get("Records") or []
    clock = BatchClock.for_invocation(context, len(records))  # each record's share of the time
    if records and records[0].get("eventSource") == "aws:sqs":
        return sqs_batch(records, clock)
    return trigger.handle_s3_event(event, clock)
