"""The S3 backend of the result cache (CUTOUT_CACHE_BUCKET)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from handler.aws.s3_client import s3_client
from handler.serving.cache import CachedResult, CacheKey

if TYPE_CHECKING:
    from handler.settings import Settings

CACHE_PREFIX = "results/"


class S3Cache:
    """Results as S3 objects with content type and metadata; a missing object is a miss."""

    name = "s3"

    def __init__(self, bucket: str, client: Any) -> None:
        self.bucket = bucket
        self.client = client

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Cache:
        return cls(settings.cache_bucket, s3_client())

    def object_key(self, key: CacheKey) -> str:
        return CACHE_PREFIX + key.object_name()

    def get(self, key: CacheKey) -> CachedResult | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))
        except self.client.exceptions.NoSuchKey:
            return None
        with response["Body"] as body:
            data = body.read()
        return CachedResult(data, response["ContentType"], dict(response.get("Metadata", {})))

    def put(self, key: CacheKey, result: CachedResult) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=self.object_key(key),
            Body=result.data,
            ContentType=result.media_type,
            Metadata=result.metadata,
        )

    def result_url(self, key: CacheKey, expires_s: int) -> str | None:
        """A short-lived URL for a stored result (answers too large to send inline)."""
        url: str = self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self.object_key(key)},
            ExpiresIn=expires_s,
        )
        return url
