"""What a thousand images cost on AWS Lambda at each memory tier, from measured durations.

Prices: x86, us-east-1 on-demand, $0.0000166667 per GB-second and $0.20 per million requests
(no free tier, no Savings Plans). GB-seconds use Lambda's definition: memory in MB / 1024 times
billed seconds, billed per millisecond.

CPU: Lambda gives a function CPU in proportion to its memory, one vCPU's worth at 1,769 MB and
at most about six at 10,240 MB. The benchmark times each tool pinned to one CPU of this machine
(each with its own threading, so rembg's second ONNX Runtime thread shares that CPU, as it would
share the one vCPU Lambda gives below 3,538 MB). The model used here:
  below 1,769 MB   the one-CPU time stretched by 1769 / memory (a fraction of one vCPU);
  1,769 MB and up  the one-CPU time: no speed-up from further vCPUs is credited to either tool.
This machine's two cores are shared with other work, so its two-core times measure contention
as much as parallelism; they are reported, not used. Costs at 3,008 and 10,240 MB are
therefore upper bounds (both tools can use more threads there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PRICE_PER_GB_SECOND = 0.0000166667
PRICE_PER_REQUEST = 0.20 / 1_000_000
TIERS_MB = (512, 1024, 2048, 3008, 10240)
MB_PER_VCPU = 1769
MAX_VCPUS = 6
IMAGES = 1000


def vcpus(memory_mb: int) -> float:
    """vCPUs' worth of CPU Lambda gives a function of this memory size."""
    return min(memory_mb / MB_PER_VCPU, MAX_VCPUS)


def lambda_seconds(memory_mb: int, one_core_s: float) -> float:
    """Expected duration on Lambda at this tier from the one-CPU time measured here."""
    return one_core_s / min(vcpus(memory_mb), 1.0)


def billed_seconds(seconds: float) -> float:
    """Lambda bills duration rounded up to the millisecond."""
    return math.ceil(seconds * 1000) / 1000


@dataclass(frozen=True)
class TierCost:
    """One tool at one tier: time per image, GB-seconds and dollars per 1,000 images."""

    memory_mb: int
    seconds: float
    gb_seconds: float
    dollars: float
    fits: bool

    @classmethod
    def at(cls, memory_mb: int, one_core_s: float, peak_mb: float | None = None) -> TierCost:
        """Cost per 1,000 images; `fits` is False when the measured peak RSS exceeds the tier."""
        seconds = billed_seconds(lambda_seconds(memory_mb, one_core_s))
        gb_seconds = memory_mb / 1024 * seconds * IMAGES
        dollars = gb_seconds * PRICE_PER_GB_SECOND + IMAGES * PRICE_PER_REQUEST
        fits = peak_mb is None or peak_mb <= memory_mb
        return cls(memory_mb, seconds, gb_seconds, dollars, fits)


def cost_table(one_core_s: float, peak_mb: float | None = None) -> list[TierCost]:
    """TierCost for every tier in TIERS_MB."""
    return [TierCost.at(m, one_core_s, peak_mb) for m in TIERS_MB]
