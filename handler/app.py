"""Lambda entry points: wiring only. The API handler is Mangum over the FastAPI app; the S3
handler takes S3 notifications directly or wrapped in SQS messages."""

from __future__ import annotations

import time
from typing import Any, cast

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from handler import INIT_STARTED, runtime
from handler.aws.observability import (
    logger,
    metrics,
    record_cold_start,
    record_trigger_result,
    trace_handler,
)
from handler.aws.s3_client import s3_client
from handler.aws.s3_trigger import S3Trigger, TriggerResult
from handler.core.options import RemoveOptions
from handler.http.api import create_app

app = create_app(runtime.service, runtime.settings)
asgi = Mangum(app, lifespan="off")
trigger = S3Trigger(
    service=runtime.service,
    client_factory=s3_client,
    input_prefix=runtime.settings.input_prefix,
    output_prefix=runtime.settings.output_prefix,
    on_result=record_trigger_result,
    options=RemoveOptions(edges=runtime.settings.trigger_edges),
)
record_cold_start(INIT_STARTED, time.perf_counter())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway REST (v1) and HTTP API (v2) proxy events."""
    response: dict[str, Any] = asgi(event, cast(Any, context))
    return response


def _sqs_record(record: SQSRecord) -> list[TriggerResult]:
    return trigger.handle_sqs_message(record.body)


@logger.inject_lambda_context
@trace_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def s3_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """S3 notifications, direct or in SQS messages (then answers batchItemFailures)."""
    records = event.get("Records") or []
    if records and records[0].get("eventSource") == "aws:sqs":
        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        return dict(
            process_partial_response(
                event=event, record_handler=_sqs_record, processor=processor, context=context
            )
        )
    return trigger.handle_s3_event(event)
