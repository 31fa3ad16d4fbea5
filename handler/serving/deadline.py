"""Time: each API request's budget, work refused up front when it could not finish inside it,
and the wait for a worker thread that ends in 503 when a budget runs out anyway."""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio.to_thread

from handler.core.options import Edges, OutputFormat
from handler.errors import ProcessingTimeoutError

T = TypeVar("T")

# In Lambda, keep this much of the invocation's remaining time for sending the answer.
LAMBDA_ANSWER_MARGIN_S = 1.0
# A timed-out image leaves its worker thread running: ask clients to wait a little longer.
TIMEOUT_RETRY_AFTER_S = 5
# One cache miss takes about FIXED + PER_MP[format] x megapixels seconds on free cores: the fixed
# part is the model (its small view of the photo, inference), the rest the full-size decode,
# compose and encode. Calibrated by bench/time_budget.py (docs/bench/time-budget.md, 2026-12-01)
# per ONNX session profile and thread count: the fixed part from the quiet session.run benchmark
# (docs/bench/session-profiles.md) plus 0.06 s, per megapixel from the whole path on generated
# noisy 0.2-29 MP photos, one thread (the second core only helps, so two threads reuse it).
# SAFETY_MARGIN covers slower CPUs, content that encodes slower, and noise. More than two
# threads use the two-thread figures.
SAFETY_MARGIN = 2.0
FIXED_SECONDS: dict[tuple[str, int], float] = {
    ("lean", 1): 0.71,
    ("lean", 2): 0.41,
    ("fast", 1): 0.48,
    ("fast", 2): 0.26,
}
_LEAN_PER_MP = {OutputFormat.PNG: 0.036, OutputFormat.WEBP: 0.153, OutputFormat.JPEG: 0.021}
_FAST_PER_MP = {OutputFormat.PNG: 0.042, OutputFormat.WEBP: 0.187, OutputFormat.JPEG: 0.020}
SECONDS_PER_MEGAPIXEL: dict[tuple[str, int], dict[OutputFormat, float]] = {
    ("lean", 1): _LEAN_PER_MP,
    ("lean", 2): _LEAN_PER_MP,
    ("fast", 1): _FAST_PER_MP,
    ("fast", 2): _FAST_PER_MP,
}
# What edges=sharp adds per megapixel in the worst case (a mask near the threshold everywhere,
# so every column is computed): 0.15 s/MP measured on one core (README, edges); SAFETY_MARGIN
# applies on top. Real masks take ~0.02-0.05 s/MP: only the columns near an edge are computed.
SHARP_SECONDS_PER_MEGAPIXEL = 0.15


def time_budget_s(budget_s: float, scope: Mapping[str, Any]) -> float:
    """Seconds the image work may take: the configured budget, or less when the Lambda
    invocation's own deadline is nearer (Mangum puts the context in the ASGI scope)."""
    remaining_ms = getattr(scope.get("aws.context"), "get_remaining_time_in_millis", None)
    if callable(remaining_ms):
        budget_s = min(budget_s, remaining_ms() / 1000.0 - LAMBDA_ANSWER_MARGIN_S)
    return max(budget_s, 0.0)


@dataclass(frozen=True)
class Speed:
    """What the time estimate depends on: the session profile, the cores (intra-op threads and
    the PNG writer's), and the share of a core the process gets (in Lambda below 1,769 MB,
    less than one: the work takes that much longer)."""

    profile: str = "lean"
    threads: int = 1
    cpu_share: float = 1.0

    @property
    def calibration(self) -> tuple[str, int]:
        return self.profile, min(max(self.threads, 1), 2)

    @property
    def factor(self) -> float:
        return SAFETY_MARGIN / self.cpu_share


def fixed_seconds(speed: Speed = Speed()) -> float:
    """What the smallest image takes, with the safety margin: less budget than this is none."""
    return FIXED_SECONDS[speed.calibration] * speed.factor


def _per_megapixel(fmt: OutputFormat, speed: Speed, edges: Edges) -> float:
    sharp = SHARP_SECONDS_PER_MEGAPIXEL if edges is Edges.SHARP else 0.0
    return (SECONDS_PER_MEGAPIXEL[speed.calibration][fmt] + sharp) * speed.factor


def estimated_seconds(
    megapixels: float, fmt: OutputFormat, speed: Speed = Speed(), edges: Edges = Edges.SOFT
) -> float:
    """A safe estimate of one cache miss: the calibrated time times SAFETY_MARGIN."""
    return fixed_seconds(speed) + _per_megapixel(fmt, speed, edges) * megapixels


def max_megapixels_within(
    budget_s: float, fmt: OutputFormat, speed: Speed = Speed(), edges: Edges = Edges.SOFT
) -> float:
    """The largest image whose estimate fits in the budget."""
    return max(0.0, (budget_s - fixed_seconds(speed)) / _per_megapixel(fmt, speed, edges))


async def run_within(budget_s: float, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """func(*args, **kwargs) in a worker thread; past the budget, 503 processing_timeout.

    A thread cannot be stopped: a stuck one is abandoned and runs on, still holding its memory
    reservation, so the memory budget keeps shedding new work until it ends. (anyio's default
    would make the cancelled wait last as long as the thread.)
    """
    call = functools.partial(func, *args, **kwargs)
    work = anyio.to_thread.run_sync(call, abandon_on_cancel=True)
    try:
        return await asyncio.wait_for(work, timeout=budget_s)
    except TimeoutError:
        raise ProcessingTimeoutError(
            f"the image was not finished within the {budget_s:.0f} s time budget; "
            "retry later or send a smaller image",
            retry_after_s=TIMEOUT_RETRY_AFTER_S,
        ) from None


@dataclass(frozen=True)
class Deadline:
    """A moment on the monotonic clock by which work must be answered."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    @classmethod
    def of_invocation(cls, context: Any, margin_s: float) -> Deadline | None:
        """The Lambda invocation's end less a margin for answering; None without a context."""
        remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
        if not callable(remaining_ms):
            return None
        return cls.after(remaining_ms() / 1000.0 - margin_s)

    def remaining_s(self) -> float:
        return max(0.0, self.at - time.monotonic())


def run_before(seconds: float, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """func(*args, **kwargs) in a daemon thread; past `seconds`, ProcessingTimeoutError.

    The synchronous twin of run_within, for the S3 trigger: the overrunning thread is abandoned
    as there (it holds its memory reservation until it ends), and being a daemon it never keeps
    the process from exiting.
    """
    outcome: list[Any] = []
    failure: list[BaseException] = []

    def work() -> None:
        try:
            outcome.append(func(*args, **kwargs))
        except BaseException as exc:  # handed to the caller's thread below
            failure.append(exc)

    worker = threading.Thread(target=work, name="cutout-record", daemon=True)
    worker.start()
    worker.join(max(seconds, 0.0))
    if worker.is_alive():
        raise ProcessingTimeoutError(
            f"the image was not finished within the {seconds:.0f} s it had", retry_after_s=0
        )
    if failure:
        raise failure[0]
    return outcome[0]  # type: ignore[no-any-return]
