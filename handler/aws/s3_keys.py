"""Bucket key layout: uploads/<path>.<ext> becomes cutouts/<path>.png (or a failure record)."""

from __future__ import annotations

import re
import uuid
from pathlib import PurePosixPath
from urllib.parse import unquote_plus

RESULT_SUFFIX = ".png"
FAILURE_SUFFIX = ".error.json"
_SAFE_RESULT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/ +=@-]{0,900}")
UPLOAD_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/gif": "gif",
    "image/bmp": "bmp",
    "image/tiff": "tiff",
}


def decode_event_key(raw: str) -> str:
    """S3 notifications URL-encode keys, with '+' for spaces."""
    return unquote_plus(raw)


def result_id_for(key: str, input_prefix: str, output_prefix: str) -> str | None:
    """The path between the input prefix and the extension, or None when the trigger must
    ignore the key: outside the input prefix, or inside the output prefix (its own writes)."""
    if key.startswith(output_prefix) or not key.startswith(input_prefix):
        return None
    relative = key[len(input_prefix) :]
    if not relative or relative.endswith("/"):
        return None
    return str(PurePosixPath(relative).with_suffix(""))


def result_key(result_id: str, output_prefix: str) -> str:
    return f"{output_prefix}{result_id}{RESULT_SUFFIX}"


def failure_key(result_id: str, output_prefix: str) -> str:
    return f"{output_prefix}{result_id}{FAILURE_SUFFIX}"


def new_upload_key(content_type: str, input_prefix: str) -> tuple[str, str]:
    """A fresh (result id, upload key) pair for a presigned upload."""
    result_id = uuid.uuid4().hex
    return result_id, f"{input_prefix}{result_id}.{UPLOAD_EXTENSIONS[content_type]}"


def is_safe_result_id(result_id: str) -> bool:
    """Result ids in URLs: printable, relative, no parent references."""
    return bool(_SAFE_RESULT_ID.fullmatch(result_id)) and ".." not in result_id.split("/")
