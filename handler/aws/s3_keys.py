"""Bucket key layout: uploads/<path>.<ext> becomes cutouts/<path>.<ext>.png (or a failure record).

The mapping keeps the whole key below the input prefix, extension included, byte for byte (no
normalisation of `.`, `..` or `//`: S3 keys are opaque strings), and appends a fixed suffix. So it
is injective: `uploads/a.jpg` and `uploads/a.png`, or `uploads/d/./b.jpg`, `uploads/d//b.jpg` and
`uploads/d/b.jpg`, have different outputs, and no result key can equal a failure key (one ends in
`.png`, the other in `.error.json`). The result id the API answers for an upload is that same
relative key.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import unquote_plus

RESULT_SUFFIX = ".png"
FAILURE_SUFFIX = ".error.json"
# S3's own limit on a key, in bytes of its UTF-8 encoding.
MAX_KEY_BYTES = 1024
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
    """The key below the input prefix, unchanged, or None when the trigger must ignore the key:
    outside the input prefix, inside the output prefix (its own writes), or a folder marker."""
    if key.startswith(output_prefix) or not key.startswith(input_prefix):
        return None
    relative = key[len(input_prefix) :]
    if not relative or relative.endswith("/"):
        return None
    return relative


def result_key(result_id: str, output_prefix: str) -> str:
    return f"{output_prefix}{result_id}{RESULT_SUFFIX}"


def failure_key(result_id: str, output_prefix: str) -> str:
    return f"{output_prefix}{result_id}{FAILURE_SUFFIX}"


def fits_in_s3(key: str) -> bool:
    """Whether S3 accepts the key (at most 1,024 bytes of UTF-8)."""
    return len(key.encode("utf-8", "surrogatepass")) <= MAX_KEY_BYTES


def new_upload_key(content_type: str, input_prefix: str) -> tuple[str, str]:
    """A fresh (result id, upload key) pair for a presigned upload."""
    result_id = f"{uuid.uuid4().hex}.{UPLOAD_EXTENSIONS[content_type]}"
    return result_id, f"{input_prefix}{result_id}"


def is_safe_result_id(result_id: str) -> bool:
    """Result ids in URLs: printable, relative, no parent references."""
    return bool(_SAFE_RESULT_ID.fullmatch(result_id)) and ".." not in result_id.split("/")
