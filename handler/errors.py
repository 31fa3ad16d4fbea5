"""Every error cutout answers with: a stable code, an HTTP status and a one-line message."""

from __future__ import annotations


class CutoutError(Exception):
    """Base class: `code` and `status` are what clients see; the message must be safe to show."""

    code = "internal_error"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EmptyBodyError(CutoutError):
    code = "empty_body"
    status = 400


class InvalidOptionError(CutoutError):
    code = "invalid_option"
    status = 422


class UnsupportedFormatError(CutoutError):
    code = "unsupported_format"
    status = 415


class CorruptImageError(CutoutError):
    code = "corrupt_image"
    status = 422


class ImageTooComplexError(CutoutError):
    """The file's structure (scans, chunks, frames, pages, strips) asks for more decoding work
    than any image needs: a CPU bomb, refused before decoding."""

    code = "image_too_complex"
    status = 422


class ImageTooLargeError(CutoutError):
    code = "image_too_large"
    status = 413


class TooLargeForFormatError(CutoutError):
    """The image is admitted, but the requested output format cannot hold its size."""

    code = "too_large_for_format"
    status = 422


class PayloadTooLargeError(CutoutError):
    code = "payload_too_large"
    status = 413


class ResultTooLargeError(CutoutError):
    code = "result_too_large"
    status = 413


class UnauthorizedError(CutoutError):
    code = "unauthorized"
    status = 401


class NotFoundError(CutoutError):
    code = "not_found"
    status = 404


class OverloadedError(CutoutError):
    """The process is at its memory or concurrency budget; the client should retry later."""

    code = "overloaded"
    status = 503

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ProcessingTimeoutError(OverloadedError):
    """The image did not finish within the request's time budget; the work is abandoned."""

    code = "processing_timeout"
    status = 503


class ModelUnavailableError(CutoutError):
    """The ONNX model is missing or unusable: a deployment fault, raised at start-up."""

    code = "model_unavailable"
    status = 500


class ModelNotLoadedError(CutoutError):
    """The request chose a model this deployment has not loaded (CUTOUT_MODELS)."""

    code = "model_unavailable"
    status = 422


class MalformedBodyError(CutoutError):
    code = "malformed_body"
    status = 400


class MissingFileError(CutoutError):
    code = "missing_file"
    status = 400


class ResultNotReadyError(CutoutError):
    code = "result_not_ready"
    status = 404


class ResultFailedError(CutoutError):
    """A presigned upload was processed and refused; carries the trigger's own error code."""

    status = 422

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class UploadsDisabledError(CutoutError):
    code = "uploads_disabled"
    status = 404


class StorageUnavailableError(CutoutError):
    """S3 failed for a step the answer depends on (not the best-effort cache)."""

    code = "storage_unavailable"
    status = 503


class SourceMissingError(CutoutError):
    """The S3 object a notification names is gone."""

    code = "source_missing"
    status = 404


class InvocationFaultError(Exception):
    """What a Lambda entry point raises when an invocation fails: one line that is safe to hand
    to whoever invoked the function (no paths, no library internals); the log has the rest."""
