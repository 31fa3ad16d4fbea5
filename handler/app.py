"""The API's Lambda entry point: wiring only, Mangum over the fast path (handler/http/fast_path.py:
POST /v1/remove without FastAPI) and, for every other route, the FastAPI app, built on first use.
The S3 trigger's is handler.trigger.s3_handler (no HTTP stack); handler.app.s3_handler stays as an
alias of it."""

from __future__ import annotations

import functools
from typing import Any, cast

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from handler import runtime
from handler.aws.entry import fault_barrier, finish_init
from handler.aws.observability import logger, metrics, trace_handler
from handler.http.fast_path import FastPath, LambdaAdapter


@functools.cache
def full_app() -> Any:
    """The FastAPI app (every route, the OpenAPI description), built once when first needed."""
    from handler.http.api import create_app

    return create_app(runtime.service, runtime.settings)


asgi = LambdaAdapter(FastPath(runtime.service, runtime.settings, full_app), lifespan="off")
if runtime.settings.warm_up:  # init is not waited for (SnapStart, provisioned): build it all now
    full_app()
finish_init("api")


@fault_barrier()
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway REST (v1) and HTTP API (v2) proxy events."""
    response: dict[str, Any] = asgi(event, cast(Any, context))
    return response


def __getattr__(name: str) -> Any:
    """handler.app.app: the FastAPI app (`cutout serve` runs it). handler.app.s3_handler (and
    .trigger): the trigger's module. Each is imported on first use so that the API's cold start
    does not build it."""
    if name == "app":
        return full_app()
    if name in {"s3_handler", "trigger"}:
        from handler import trigger

        return getattr(trigger, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
