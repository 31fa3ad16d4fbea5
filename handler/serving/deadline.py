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

from handler.core.options import OutputFormat
from handler.errors import ProcessingTimeoutError

T = TypeVar("T")

# In Lambda, keep this much of the invocation's remaining time for sending the answer.
LAMBDA_ANSWER_MARGIN_S = 1.0
# A timed-out image leaves its worker thread running: ask clients to wait a little longer.
TIMEOUT_RETRY_AFTER_S = 5
# Seconds per megapixel of decode + compose + encode, by output format, and the fixed cost of
# one inference: measured on one core with a noisy 24 MP photo, the slowest content to encode,
# plus 25 % (docs/hardening.md). Used to refuse up front what could not finish in time.
SECONDS_PER_MEGAPIXEL = {OutputFormat.PNG: 0.15, OutputFormat.WEBP: 0.36, OutputFormat.JPEG: 0.06}
FIXED_SECONDS = 1.0


def time_budget_s(budget_s: float, scope: Mapping[str, Any]) -> float:
    """Seconds the image work may take: the configured budget, or less when the Lambda
    invocation's own deadline is nearer (Mangum puts the context in the ASGI scope)."""
    remaining_ms = getattr(scope.get("aws.context"), "get_remaining_time_in_millis", None)
    if callable(remaining_ms):
        budget_s = min(budget_s, remaining_ms() / 1000.0 - LAMBDA_ANSWER_MARGIN_S)
    return max(budget_s, 0.0)


def estimated_seconds(megapixels: float, fmt: OutputFormat) -> float:
    """A generous estimate of how long one image takes, cache miss, on one core."""
    return FIXED_SECONDS + SECONDS_PER_MEGAPIXEL[fmt] * megapixels


def max_megapixels_within(budget_s: float, fmt: OutputFormat) -> float:
    """The largest image whose estimate fits in the budget."""
    return max(0.0, (budget_s - FIXED_SECONDS) / SECONDS_PER_MEGAPIXEL[fmt])


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
