"""The S3 trigger's Lambda entry point: S3 notifications, direct or in SQS messages (then it
answers batchItemFailures). It imports neither FastAPI nor Mangum: its cold start pays for the
image core, boto3 and Powertools' logger, metrics and batch utility only."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
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
from handler.aws.s3_trigger import BatchClock, S3Trigger, TransientTriggerError, TriggerResult
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


def _sqs_record(record: SQSRecord, clock: BatchClock) -> list[TriggerResult]:
    return trigger.handle_sqs_message(record.body, clock)


@fault_barrier(TransientTriggerError)
@logger.inject_lambda_context
@trace_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def s3_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """S3 notifications, direct or in SQS messages (then answers batchItemFailures)."""
    records = event.get("Records") or []
    clock = BatchClock.for_invocation(context, len(records))  # each record's share of the time
    if records and records[0].get("eventSource") == "aws:sqs":
        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        handle = functools.partial(_sqs_record, clock=clock)
        return dict(
            process_partial_response(
                event=event, record_handler=handle, processor=processor, context=context
            )
        )
    return trigger.handle_s3_event(event, clock)
