"""Time: each API request's budget, work refused up front when it could not finish inside it,
and the wait for a worker thread that ends in 503 when a budget runs out anyway."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import anyio.to_thread

from handler.core.options import Edges, OutputFormat
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
# What edges=sharp adds per megapixel in the worst case (a mask near the threshold everywhere,
# so every column is computed): 0.15 s/MP measured on one core, plus 25 % (README, edges).
# Real masks take ~0.02-0.05 s/MP: only the columns near an edge are computed.
SHARP_SECONDS_PER_MEGAPIXEL = 0.19


def time_budget_s(budget_s: float, scope: Mapping[str, Any]) -> float:
    """Seconds the image work may take: the configured budget, or less when the Lambda
    invocation's own deadline is nearer (Mangum puts the context in the ASGI scope)."""
    remaining_ms = getattr(scope.get("aws.context"), "get_remaining_time_in_millis", None)
    if callable(remaining_ms):
        budget_s = min(budget_s, remaining_ms() / 1000.0 - LAMBDA_ANSWER_MARGIN_S)
    return max(budget_s, 0.0)


def _per_megapixel(fmt: OutputFormat, edges: Edges) -> float:
    sharp = SHARP_SECONDS_PER_MEGAPIXEL if edges is Edges.SHARP else 0.0
    return SECONDS_PER_MEGAPIXEL[fmt] + sharp


def estimated_seconds(megapixels: float, fmt: OutputFormat, edges: Edges = Edges.SOFT) -> float:
    """A generous estimate of how long one image takes, cache miss, on one core."""
    return FIXED_SECONDS + _per_megapixel(fmt, edges) * megapixels


def max_megapixels_within(budget_s: float, fmt: OutputFormat, edges: Edges = Edges.SOFT) -> float:
    """The largest image whose estimate fits in the budget."""
    return max(0.0, (budget_s - FIXED_SECONDS) / _per_megapixel(fmt, edges))


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
