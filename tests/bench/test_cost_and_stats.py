"""The benchmark's arithmetic: summaries, same-run ratios and the Lambda cost model."""

from __future__ import annotations

import pytest

from bench import cost
from bench.stats import Summary, paired_ratio, quantile


def test_quantile_interpolates_between_order_statistics() -> None:
    assert quantile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert quantile([1.0, 2.0, 3.0, 4.0, 5.0], 0.25) == 2.0
    with pytest.raises(ValueError):
        quantile([], 0.5)


def test_paired_ratio_uses_each_round_not_the_medians() -> None:
    # Load doubles in round 2 for both tools: the per-round ratio stays 0.5.
    ours, theirs = [1.0, 2.0, 1.0], [2.0, 4.0, 2.0]
    assert paired_ratio(ours, theirs) == Summary(0.5, 0.5, 0.5, 3)
    with pytest.raises(ValueError):
        paired_ratio([1.0], [1.0, 2.0])


def test_one_vcpu_at_1769_mb_and_a_share_below() -> None:
    assert cost.vcpus(1769) == pytest.approx(1.0)
    assert cost.vcpus(10240) == pytest.approx(10240 / 1769)
    assert cost.lambda_seconds(1769, 0.5) == pytest.approx(0.5)
    assert cost.lambda_seconds(3008, 0.5) == pytest.approx(0.5)  # no credit past one vCPU
    assert cost.lambda_seconds(512, 0.5) == pytest.approx(0.5 * 1769 / 512)


def test_cost_per_thousand_images() -> None:
    tier = cost.TierCost.at(2048, 0.4, peak_mb=400.0)
    # 2 GB x 0.4 s x 1,000 images = 800 GB-s; plus 1,000 requests at $0.20 per million.
    assert tier.gb_seconds == pytest.approx(800.0)
    assert tier.dollars == pytest.approx(800 * 0.0000166667 + 0.0002)
    assert tier.fits
    assert not cost.TierCost.at(512, 0.4, peak_mb=600.0).fits


def test_duration_is_billed_per_started_millisecond() -> None:
    assert cost.billed_seconds(0.2501) == pytest.approx(0.251)
    assert cost.billed_seconds(0.25) == pytest.approx(0.25)


def test_cost_table_covers_every_tier() -> None:
    assert [c.memory_mb for c in cost.cost_table(0.3)] == [512, 1024, 2048, 3008, 10240]
