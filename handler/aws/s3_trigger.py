"""The S3 upload trigger: uploads/<path>.<ext> in a bucket becomes cutouts/<path>.<ext>.png there
(handler/aws/s3_keys.py has the mapping), each record inside its share of the invocation's time."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from botocore.exceptions import BotoCoreError, ClientError

from handler.aws.s3_keys import (
    MAX_KEY_BYTES,
    decode_event_key,
    failure_key,
    fits_in_s3,
    result_id_for,
    result_key,
)
from handler.core.options import RemoveOptions
from handler.errors import (
    CutoutError,
    KeyTooLongError,
    PayloadTooLargeError,
    ProcessingTimeoutError,
    SourceMissingError,
    StorageUnavailableError,
)
from handler.serving.deadline import Deadline, run_before
from handler.serving.service import CutoutService, Outcome

# A child of the Powertools "cutout" logger: same JSON format, no Powertools import here.
logger = logging.getLogger(f"cutout.{__name__}")

_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
# Of the invocation's remaining time, kept back for writing the last failure record and answering.
TRIGGER_ANSWER_MARGIN_S = 2.0

# A record is given at least this long: less than what a small image needs is no time at all.
MIN_RECORD_S = 1.0


class TransientTriggerError(Exception):
    """S3, capacity or time trouble: the record should be retried (SQS redelivers it, then the
    DLQ); `error` says which, for the metrics (S3 when not given)."""

    def __init__(self, message: str, error: CutoutError | None = None) -> None:
        super().__init__(message)
        self.error = error or StorageUnavailableError(message)


@dataclass(frozen=True)
class ObjectRef:
    """One object named by a notification (key already URL-decoded)."""

    bucket: str
    key: str
    size: int | None = None


@dataclass(frozen=True)
class TriggerResult:
    """What happened to one object: written, unchanged, skipped or failed (permanently)."""

    status: str
    key: str
    output_key: str | None = None
    error: CutoutError | None = None
    outcome: Outcome | None = None
    input_bytes: int = 0
    total_ms: float = 0.0
    model: str = ""

    def as_dict(self) -> dict[str, str]:
        result = {"status": self.status, "key": self.key}
        if self.output_key:
            result["output_key"] = self.output_key
        if self.error is not None:
            result["reason"] = self.error.code
        return result


def objects_in(s3_event: dict[str, Any]) -> Iterator[ObjectRef]:
    """ObjectCreated records of an S3 notification; S3's TestEvent and other kinds yield nothing."""
    for record in s3_event.get("Records") or []:
        if record.get("eventSource") != "aws:s3":
            continue
        if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
            continue
        s3 = record.get("s3") or {}
        bucket = (s3.get("bucket") or {}).get("name")
        obj = s3.get("object") or {}
        if bucket and obj.get("key"):
            size = obj.get("size")
            yield ObjectRef(
                bucket, decode_event_key(str(obj["key"])), size if isinstance(size, int) else None
            )


@dataclass(frozen=True)
class RecordTime:
    """One record's deadline (its share of the time) and the invocation's."""

    own: Deadline
    invocation: Deadline

    @property
    def shared(self) -> bool:
        """Whether the record had less than all the time left (others were still to come)."""
        return self.own.at < self.invocation.at


@dataclass
class BatchClock:
    """The invocation's time, shared out among the records still to process.

    Each record may run for an equal share of what is left (at least 1 s, the time any image
    needs), so one that overruns (a decoding bomb) cannot take the time of the records after it.
    A record stopped at its share is retried when it had less than the whole invocation (it may
    finish alone), and is a permanent `processing_timeout` when it had all of it (it never
    will). Without a Lambda context there is no deadline and records run to the end.
    """

    deadline: Deadline | None = None
    records_left: int = 1

    @classmethod
    def for_invocation(cls, context: Any, records: int) -> BatchClock:
        return cls(Deadline.of_invocation(context, TRIGGER_ANSWER_MARGIN_S), max(records, 1))

    def next_share(self) -> RecordTime | None:
        """The next record's time, from now; None without a deadline."""
        if self.deadline is None:
            return None
        left = self.deadline.remaining_s()
        # At least what any image needs: many small records must not each get too little.
        share = min(left, max(left / self.records_left, MIN_RECORD_S))
        self.records_left = max(self.records_left - 1, 1)
        own = self.deadline if share >= left else Deadline.after(share)
        return RecordTime(own=own, invocation=self.deadline)


def _enough_left(ref: ObjectRef, deadline: Deadline) -> None:
    """Retry (never write off) a record that has less time than any image needs."""
    if deadline.remaining_s() < MIN_RECORD_S:
        error = ProcessingTimeoutError("too little of the invocation was left to process it")
        raise TransientTriggerError(f"{ref.key}: {error.message}", error)


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def s3_errors(action: str, key: str) -> Iterator[None]:
    """S3 failures as TransientTriggerError (retry), but a missing object as SourceMissingError."""
    try:
        yield
    except ClientError as exc:
        if _error_code(exc) in _MISSING_CODES:
            raise SourceMissingError(f"the object {key} is gone") from None
        raise TransientTriggerError(f"{action} {key}: {_error_code(exc)}") from exc
    except BotoCoreError as exc:
        raise TransientTriggerError(f"{action} {key}: {type(exc).__name__}") from exc


class S3Trigger:
    """Processes objects named by S3 notifications, idempotently, one PUT per result."""

    def __init__(
        self,
        *,
        service: CutoutService,
        client_factory: Callable[[], Any],
        input_prefix: str,
        output_prefix: str,
        model: str | None = None,
        on_result: Callable[[TriggerResult], None] | None = None,
        in_worker: Callable[[Callable[..., Outcome]], Callable[..., Outcome]] = lambda f: f,
        options: RemoveOptions | None = None,
    ) -> None:
        self.service = service
        self.options = options or RemoveOptions()
        # Per deployment (CUTOUT_TRIGGER_MODEL): checked now, so a wrong name fails at init.
        self.model_name = service.model_for(model).name
        self.client_factory = client_factory
        self.input_prefix = input_prefix
        self.output_prefix = output_prefix
        self.on_result = on_result or (lambda result: None)
        # Wraps the work handed to a record's worker thread (to carry the X-Ray trace there).
        self.in_worker = in_worker

    def process(self, ref: ObjectRef, clock: BatchClock | None = None) -> TriggerResult:
        """Handle one object; permanent failures are recorded, transient ones raise."""
        started = time.perf_counter()
        try:
            result = self._process(ref, (clock or BatchClock()).next_share())
        except TransientTriggerError as exc:
            self.on_result(
                TriggerResult("retry", ref.key, error=exc.error, total_ms=_ms_since(started))
            )
            raise
        result = replace(result, total_ms=_ms_since(started))
        self.on_result(result)
        return result

    def _process(self, ref: ObjectRef, time_s: RecordTime | None) -> TriggerResult:
        result_id = result_id_for(ref.key, self.input_prefix, self.output_prefix)
        if result_id is None:
            return TriggerResult("skipped", ref.key)
        if time_s is not None:
            _enough_left(ref, time_s.invocation)
        client = self.client_factory()
        out_key = result_key(result_id, self.output_prefix)
        tier = self.service.tier
        try:
            if not fits_in_s3(out_key):
                raise KeyTooLongError(
                    f"the result key would be over S3's {MAX_KEY_BYTES} bytes; use a shorter key"
                )
            with s3_errors("head", ref.key):
                head = client.head_object(Bucket=ref.bucket, Key=ref.key)
            size = int(head.get("ContentLength", 0))
            if size > tier.max_input_bytes:
                raise PayloadTooLargeError(
                    f"the object is {size} bytes; the cap at {tier.memory_mb} MB is "
                    f"{tier.max_input_bytes} bytes"
                )
            source_etag = str(head.get("ETag", "")).strip('"')
            if self._already_done(client, ref.bucket, out_key, source_etag):
                return TriggerResult("unchanged", ref.key, out_key)
            with s3_errors("get", ref.key):
                response = client.get_object(Bucket=ref.bucket, Key=ref.key, IfMatch=head["ETag"])
                with response["Body"] as body:
                    data = body.read()
            outcome = self._remove(ref, data, time_s)
        except ProcessingTimeoutError as exc:
            if time_s is not None and time_s.shared:
                raise TransientTriggerError(f"{ref.key}: over its share of the time", exc) from exc
            return replace(self._fail(client, ref, result_id, exc), model=self.model_name)
        except CutoutError as exc:
            if exc.status >= 500:
                raise TransientTriggerError(f"{ref.key}: {exc.code}") from exc
            return replace(self._fail(client, ref, result_id, exc), model=self.model_name)
        metadata = {
            "source-key": quote(ref.key, safe="/"),  # S3 metadata is ASCII
            "source-sha256": hashlib.sha256(data).hexdigest(),
            "source-etag": source_etag,
            "model": self.service.model_for(self.model_name).model_id,
            "edges": self.options.edges.value,
        }
        with s3_errors("put", out_key):
            client.put_object(
                Bucket=ref.bucket,
                Key=out_key,
                Body=outcome.data,
                ContentType=outcome.media_type,
                Metadata=metadata,
            )
            client.delete_object(Bucket=ref.bucket, Key=failure_key(result_id, self.output_prefix))
        return TriggerResult(
            "written",
            ref.key,
            out_key,
            outcome=outcome,
            input_bytes=len(data),
            model=self.model_name,
        )

    def _remove(self, ref: ObjectRef, data: bytes, time_s: RecordTime | None) -> Outcome:
        """The service's answer, stopped at this record's deadline when there is one.

        Refused up front (413) is only what could not finish in all the time left.
        """
        if time_s is None:
            return self.service.remove(data, self.options, model=self.model_name)
        _enough_left(ref, time_s.invocation)
        return run_before(
            time_s.own.remaining_s(),
            self.in_worker(self.service.remove),
            data,
            self.options,
            model=self.model_name,
            time_budget_s=time_s.invocation.remaining_s(),
        )

    def _already_done(self, client: Any, bucket: str, out_key: str, source_etag: str) -> bool:
        """A redelivered event for an object whose result this model, with these edges, already
        wrote."""
        try:
            with s3_errors("head", out_key):
                head = client.head_object(Bucket=bucket, Key=out_key)
        except SourceMissingError:
            return False
        metadata = head.get("Metadata", {})
        # Written from the same upload by the same model and edges: after a deployment changes
        # the trigger's model or edges, a redelivered upload is drawn again. (Results written
        # before the edges were recorded had soft edges.)
        model_id = self.service.model_for(self.model_name).model_id
        return (
            bool(source_etag)
            and metadata.get("source-etag") == source_etag
            and metadata.get("model", model_id) == model_id
            and metadata.get("edges", "soft") == self.options.edges.value
        )

    def _fail(
        self, client: Any, ref: ObjectRef, result_id: str, error: CutoutError
    ) -> TriggerResult:
        """Record a permanent failure next to where the result would be, and remove an earlier
        upload's result there (it is stale now); never retried."""
        record = {"error": {"code": error.code, "message": error.message}, "source_key": ref.key}
        key = failure_key(result_id, self.output_prefix)
        out_key = result_key(result_id, self.output_prefix)
        try:
            if fits_in_s3(out_key):
                client.delete_object(Bucket=ref.bucket, Key=out_key)
            if fits_in_s3(key):
                client.put_object(
                    Bucket=ref.bucket,
                    Key=key,
                    Body=json.dumps(record).encode(),
                    ContentType="application/json",
                )
            else:  # nowhere to record it: this log line is the record
                logger.warning("permanent failure, key too long to record: %s", error.code)
        except (ClientError, BotoCoreError) as exc:
            raise TransientTriggerError(
                f"record failure for {ref.key}: {type(exc).__name__}"
            ) from exc
        return TriggerResult("failed", ref.key, error=error)

    def handle_s3_event(
        self, event: dict[str, Any], clock: BatchClock | None = None
    ) -> dict[str, Any]:
        """A direct S3 notification: process every record, then raise if any must be retried."""
        results: list[dict[str, str]] = []
        retry: list[str] = []
        for ref in objects_in(event):
            try:
                results.append(self.process(ref, clock).as_dict())
            except TransientTriggerError as exc:
                logger.warning("transient failure, will retry: %s", exc)
                retry.append(ref.key)
        if retry:
            raise TransientTriggerError(f"{len(retry)} object(s) must be retried")
        return {"results": results}

    def handle_sqs_message(self, body: str, clock: BatchClock | None = None) -> list[TriggerResult]:
        """One SQS message: an S3 notification as JSON (S3's TestEvent yields nothing)."""
        try:
            s3_event = json.loads(body)
        except json.JSONDecodeError:
            logger.warning("SQS message is not JSON; dropped")
            return []
        if not isinstance(s3_event, dict):
            return []
        return [self.process(ref, clock) for ref in objects_in(s3_event)]
