"""The S3 cache backend against moto's S3 server over HTTP."""

from __future__ import annotations

import pytest

from handler.aws.s3_cache import S3Cache
from handler.aws.s3_client import s3_client
from handler.core.options import RemoveOptions
from handler.serving.cache import CachedResult, CacheKey

pytestmark = pytest.mark.integration


def test_round_trip_with_type_and_metadata(s3_endpoint: str) -> None:
    client = s3_client()
    client.create_bucket(Bucket="cache")
    cache = S3Cache("cache", client)
    key = CacheKey.for_request(b"img", "u2netp-x", RemoveOptions())
    assert cache.get(key) is None
    cache.put(key, CachedResult(b"\x89PNG...", "image/png", {"model": "u2netp-x"}))
    stored = client.head_object(Bucket="cache", Key=cache.object_key(key))
    assert stored["ContentType"] == "image/png" and stored["Metadata"] == {"model": "u2netp-x"}
    assert cache.get(key) == CachedResult(b"\x89PNG...", "image/png", {"model": "u2netp-x"})
