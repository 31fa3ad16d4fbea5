"""One boto3 S3 client per process, with short timeouts so a sick S3 cannot stall a request."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

# boto3 itself honours AWS_ENDPOINT_URL (tests point it at moto's server on loopback).
_CONFIG = Config(
    connect_timeout=2,
    read_timeout=10,
    retries={"max_attempts": 2, "mode": "standard"},
    signature_version="s3v4",
)


@cache
def s3_client() -> Any:
    """The process's S3 client, made on first use."""
    return boto3.client("s3", config=_CONFIG)
