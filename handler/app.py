"""Lambda entry points: wiring only. The API handler is Mangum over the FastAPI app."""

from __future__ import annotations

from typing import Any, cast

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from handler import runtime
from handler.api import create_app

logger = Logger(service="cutout")
app = create_app(runtime.service)
asgi = Mangum(app, lifespan="off")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway REST (v1) and HTTP API (v2) proxy events."""
    response: dict[str, Any] = asgi(event, cast(Any, context))
    return response
