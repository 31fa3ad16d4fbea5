"""Medians, spreads and same-run ratios of repeated measurements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) with linear interpolation between order statistics."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Summary:
    """Median and interquartile range of n repeats."""

    median: float
    p25: float
    p75: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        return cls(
            quantile(values, 0.5), quantile(values, 0.25), quantile(values, 0.75), len(values)
        )

    def scaled(self, factor: float) -> Summary:
        return Summary(self.median * factor, self.p25 * factor, self.p75 * factor, self.n)


def paired_ratio(numerators: Sequence[float], denominators: Sequence[float]) -> Summary:
    """Ratios of measurements taken side by side (round i of one tool over round i of the other).

    Pairs measured moments apart share the machine's load at that moment, so their ratio is
    steadier on a busy machine than the ratio of two medians.
    """
    if len(numerators) != len(denominators) or not numerators:
        raise ValueError("paired_ratio needs two equally long, non-empty series")
    return Summary.of([a / b for a, b in zip(numerators, denominators, strict=True)])


def rounded(value: Any) -> Any:
    """Floats to 5 significant digits, in nested dicts and lists, so result JSON stays readable."""
    if isinstance(value, float):
        return float(f"{value:.5g}")
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value
