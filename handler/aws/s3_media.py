"""The media bucket as the API sees it: presigned uploads and finished results."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from handler.aws.s3_keys import (
    UPLOAD_EXTENSIONS,
    failure_key,
    is_safe_result_id,
    new_upload_key,
    result_key,
)
from handler.errors import (
    InvalidOptionError,
    NotFoundError,
    PayloadTooLargeError,
    ResultFailedError,
    ResultNotReadyError,
)


@dataclass(frozen=True)
class MediaBucket:
    """Presigns uploads under the input prefix and finds results under the output prefix."""

    bucket: str
    # The process's S3 client, asked for at each use: after a SnapStart restore it is a new one
    # (handler/aws/snapstart.py), with this environment's credentials and connections.
    client_factory: Callable[[], Any]
    input_prefix: str
    output_prefix: str
    ttl_seconds: int

    @property
    def client(self) -> Any:
        return self.client_factory()

    def presign_upload(
        self, content_type: str, content_length: int, max_bytes: int
    ) -> dict[str, Any]:
        """A presigned PUT for one image; Content-Type and Content-Length are signed."""
        if content_type not in UPLOAD_EXTENSIONS:
            allowed = ", ".join(sorted(UPLOAD_EXTENSIONS))
            raise InvalidOptionError(
                f"content_type must be one of {allowed}; got {content_type[:60]!r}"
            )
        if content_length <= 0:
            raise InvalidOptionError("content_length must be positive")
        if content_length > max_bytes:
            raise PayloadTooLargeError(
                f"the upload would be {content_length} bytes; the cap is {max_bytes} bytes"
            )
        result_id, key = new_upload_key(content_type, self.input_prefix)
        url = self.client.generate_presigned_url(
            "put_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ContentType": content_type,
                "ContentLength": content_length,
            },
            ExpiresIn=self.ttl_seconds,
        )
        return {
            "id": result_id,
            "key": key,
            "upload": {
                "method": "PUT",
                "url": url,
                "headers": {"Content-Type": content_type, "Content-Length": str(content_length)},
                "expires_in": self.ttl_seconds,
            },
            "result": {
                "key": result_key(result_id, self.output_prefix),
                "href": f"/v1/results/{result_id}",
            },
        }

    def result_url(self, result_id: str) -> str:
        """A presigned GET for a finished result; raises when it is not (yet) there."""
        if not is_safe_result_id(result_id):
            raise NotFoundError("no such result")
        key = result_key(result_id, self.output_prefix)
        if self._exists(key):
            url: str = self.client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=self.ttl_seconds
            )
            return url
        failure = self._read_failure(result_id)
        if failure is not None:
            raise ResultFailedError(failure["code"], failure["message"])
        raise ResultNotReadyError("the result is not ready yet (or the upload never arrived)")

    def _exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def _read_failure(self, result_id: str) -> dict[str, str] | None:
        try:
            response = self.client.get_object(
                Bucket=self.bucket, Key=failure_key(result_id, self.output_prefix)
            )
        except self.client.exceptions.NoSuchKey:
            return None
        with response["Body"] as body:
            record = json.loads(body.read())
        error = record.get("error", {})
        return {"code": str(error.get("code", "failed")), "message": str(error.get("message", ""))}
