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

    @contextmanager
    def reserve(self, estimate_bytes: int) -> Iterator[None]:
        with self._lock:
            if self._in_use and self._in_use + estimate_bytes > self.capacity_bytes:
                raise OverloadedError(
                    "the server is busy with other images; retry shortly",
                    retry_after_s=self.retry_after_s,
                )
            self._in_use += estimate_bytes
        try:
            yield
        finally:
            with self._lock:
                self._in_use -= estimate_bytes
