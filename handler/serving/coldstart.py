"""The init phase's clock: how long each part of a cold start took, for the init log line."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class InitClock:
    """Milliseconds per named phase, each from the end of the one before (or from started)."""

    started: float
    phases_ms: dict[str, float] = field(default_factory=dict)
    _last: float = 0.0

    def __post_init__(self) -> None:
        self._last = self.started

    def mark(self, phase: str) -> None:
        """End the phase that is running now and name it."""
        now = time.perf_counter()
        self.phases_ms[phase] = self.phases_ms.get(phase, 0.0) + (now - self._last) * 1000.0
        self._last = now

    def total_ms(self) -> float:
        return (self._last - self.started) * 1000.0
