"""Admission against the process's memory budget, so concurrent requests cannot add up to an OOM."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from handler.errors import OverloadedError


class MemoryBudget:
    """Reserves estimated bytes per image; refuses (does not queue) when the budget is spent.

    One image is always admitted when nothing else is in flight: the tier's pixel cap already
    guarantees that a single image fits.
    """

    def __init__(self, capacity_bytes: int, retry_after_s: int = 2) -> None:
        self.capacity_bytes = capacity_bytes
        self.retry_after_s = retry_after_s
        self._in_use = 0
        self._lock = threading.Lock()

    @property
    def in_use(self) -> int:
        return self._in_use

    def take(self, nbytes: int) -> None:
        """Reserve nbytes now, or raise OverloadedError (503 with Retry-After)."""
        with self._lock:
            if self._in_use and self._in_use + nbytes > self.capacity_bytes:
                raise OverloadedError(
                    "the server is busy with other images; retry shortly",
                    retry_after_s=self.retry_after_s,
                )
            self._in_use += nbytes

    def give_back(self, nbytes: int) -> None:
        with self._lock:
            self._in_use -= nbytes

    @contextmanager
    def reserve(self, estimate_bytes: int) -> Iterator[None]:
        self.take(estimate_bytes)
        try:
            yield
        finally:
            self.give_back(estimate_bytes)


class Holding:
    """Bytes taken from a budget a piece at a time (a request body as it arrives), given back
    all at once."""

    def __init__(self, budget: MemoryBudget) -> None:
        self.budget = budget
        self.nbytes = 0

    def grow(self, nbytes: int) -> None:
        self.budget.take(nbytes)
        self.nbytes += nbytes

    def release(self) -> None:
        self.budget.give_back(self.nbytes)
        self.nbytes = 0
