"""Logs, metrics and traces (Powertools): one structured line and one metric set per request."""

from __future__ import annotations

import functools
import resource
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from handler.errors import CutoutError
from handler.serving.service import Outcome
from handler.settings import tracing_enabled

if TYPE_CHECKING:
    from handler.aws.s3_trigger import TriggerResult
    from handler.serving.coldstart import InitClock

SERVICE_NAME = "cutout"
NAMESPACE = "cutout"
ANONYMOUS = "anonymous"
_PAGE_SIZE = resource.getpagesize()
# The local server records from worker threads; Powertools' metric set is a plain dict.
_LOCK = threading.Lock()
Handler = TypeVar("Handler", bound=Callable[..., Any])
P = ParamSpec("P")
T = TypeVar("T")

logger = Logger(service=SERVICE_NAME)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE_NAME)
# X-Ray in Lambda only (and not with POWERTOOLS_TRACE_DISABLED): elsewhere no Tracer is made, so
# the X-Ray SDK and its botocore patches (~0.13 s of imports) never load. When on, Powertools
# patches botocore, so every S3 call is its own subsegment.
tracer: Tracer | None = Tracer(service=SERVICE_NAME) if tracing_enabled() else None


def trace_handler(handler: Handler) -> Handler:
    """The handler's own subsegment (with Powertools' ColdStart annotation) when tracing is on."""
    if tracer is None:
        return handler
    traced_handler: Handler = tracer.capture_lambda_handler(capture_response=False)(handler)
    return traced_handler


def peak_rss_mb() -> float:
    """This process's peak resident set size so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mb() -> float:
    try:
        resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
        return resident_pages * _PAGE_SIZE / (1024.0 * 1024.0)
    except OSError:  # not Linux: report the peak instead
        return peak_rss_mb()


@dataclass
class RequestRecord:
    """What one request did, gathered by the adapter and reported once at the end."""

    entry: str
    tenant: str = ANONYMOUS
    input_bytes: int = 0
    model: str = ""  # the chosen model, once known
    started: float = field(default_factory=time.perf_counter)

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000.0


def record_outcome(record: RequestRecord, outcome: Outcome) -> None:
    """Metrics and the request log line for a served image."""
    total_ms = record.elapsed_ms()
    megapixels = outcome.header.megapixels
    with _LOCK:
        _add_outcome_metrics(outcome, total_ms)
    _bill(record.tenant, outcome.model, megapixels)
    logger.info(
        "request served",
        extra={
            "entry": record.entry,
            "outcome": "ok",
            "tenant": record.tenant,
            "model": outcome.model,
            "input_bytes": record.input_bytes,
            "output_bytes": len(outcome.data),
            "format": outcome.header.format,
            "width": outcome.header.width,
            "height": outcome.header.height,
            "cache": "hit" if outcome.cache_hit else "miss",
            "timings_ms": {k: round(v, 1) for k, v in outcome.timings_ms.items()},
            "total_ms": round(total_ms, 1),
        },
    )


def _add_outcome_metrics(outcome: Outcome, total_ms: float) -> None:
    megapixels = outcome.header.megapixels
    metrics.add_metric(name="TotalMs", unit=MetricUnit.Milliseconds, value=total_ms)
    for stage, ms in outcome.timings_ms.items():
        metrics.add_metric(name=f"{stage.capitalize()}Ms", unit=MetricUnit.Milliseconds, value=ms)
    metrics.add_metric(name="InputMegapixels", unit=MetricUnit.Count, value=megapixels)
    cache_metric = "CacheHits" if outcome.cache_hit else "CacheMisses"
    metrics.add_metric(name=cache_metric, unit=MetricUnit.Count, value=1)
    if outcome.cache_error:
        metrics.add_metric(name="CacheErrors", unit=MetricUnit.Count, value=1)
    _add_memory_metrics()


def record_failure(record: RequestRecord, error: CutoutError) -> None:
    """Metrics and the request log line for a refused or failed request."""
    total_ms = record.elapsed_ms()
    kind = "ClientErrors" if error.status < 500 else "ServerErrors"
    with _LOCK:
        metrics.add_metric(name="TotalMs", unit=MetricUnit.Milliseconds, value=total_ms)
        metrics.add_metric(name=kind, unit=MetricUnit.Count, value=1)
        _add_memory_metrics()
    log = logger.warning if error.status >= 500 else logger.info
    log(
        "request refused" if error.status < 500 else "request failed",
        extra={
            "entry": record.entry,
            "outcome": error.code,
            "status": error.status,
            "tenant": record.tenant,
            "model": record.model,
            "input_bytes": record.input_bytes,
            "total_ms": round(total_ms, 1),
        },
    )


def record_cold_start(entry: str, clock: InitClock) -> None:
    """The init log line and metrics, once per process: InitDurationMs from the start of the
    package import to the entry point wired, and Init<Phase>Ms for each part of it."""
    phases = {name: round(ms, 1) for name, ms in clock.phases_ms.items()}
    with _LOCK:
        metrics.add_metric(
            name="InitDurationMs", unit=MetricUnit.Milliseconds, value=clock.total_ms()
        )
        for name, ms in clock.phases_ms.items():
            metric = "Init" + name.title().replace("_", "") + "Ms"
            metrics.add_metric(name=metric, unit=MetricUnit.Milliseconds, value=ms)
    logger.info(
        "init done",
        extra={
            "entry": entry,
            "init_duration_ms": round(clock.total_ms(), 1),
            "init_phases_ms": phases,
        },
    )


def _add_memory_metrics() -> None:
    metrics.add_metric(name="PeakMemoryMB", unit=MetricUnit.Megabytes, value=peak_rss_mb())
    metrics.add_metric(name="RssMB", unit=MetricUnit.Megabytes, value=current_rss_mb())


def _bill(tenant: str, model: str, megapixels: float) -> None:
    """BilledMegapixels carries per-request `tenant` and `model` dimensions (a SaaS can price
    models differently), so it is its own EMF blob."""
    with single_metric(
        name="BilledMegapixels",
        unit=MetricUnit.Count,
        value=megapixels,
        namespace=NAMESPACE,
        default_dimensions={**metrics.default_dimensions, "service": SERVICE_NAME},
    ) as metric:
        metric.add_dimension(name="tenant", value=tenant)
        metric.add_dimension(name="model", value=model or "unknown")


@contextmanager
def traced(name: str, **annotations: Any) -> Iterator[None]:
    """An X-Ray subsegment when tracing is on; nothing otherwise. Also the pipeline's stage hook."""
    if tracer is None:
        yield
        return
    with tracer.provider.in_subsegment(name) as subsegment:
        for key, value in annotations.items():
            subsegment.put_annotation(key, value)
        yield


def in_current_trace(func: Callable[P, T]) -> Callable[P, T]:
    """func, with its subsegments nested under the caller's current one from a worker thread.

    X-Ray keeps the current (sub)segment per thread, so work handed to a thread pool would
    otherwise hang its subsegments off the invocation's root segment, beside the handler's.
    """
    if tracer is None:
        return func
    recorder = cast(Any, tracer.provider)  # the X-Ray recorder; Powertools types the base class
    entity = recorder.get_trace_entity()

    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        recorder.set_trace_entity(entity)
        try:
            return func(*args, **kwargs)
        finally:
            recorder.clear_trace_entities()

    return run


def flush_local_metrics() -> None:
    """Outside Lambda (the local server), publish this request's metrics now."""
    with _LOCK:
        if metrics.metric_set:
            metrics.flush_metrics()


def record_trigger_result(result: TriggerResult) -> None:
    """The same metrics and log line for an object the S3 trigger handled."""
    started = time.perf_counter() - result.total_ms / 1000.0
    record = RequestRecord(
        entry="s3", input_bytes=result.input_bytes, started=started, model=result.model
    )
    if result.outcome is not None:
        record_outcome(record, result.outcome)
    elif result.error is not None:
        record_failure(record, result.error)
    else:
        with _LOCK:
            metrics.add_metric(name="ObjectsSkipped", unit=MetricUnit.Count, value=1)
        logger.info("object skipped", extra={"entry": "s3", "outcome": result.status})
