from __future__ import annotations

from pathlib import Path

import pytest

from handler.budget import MemoryBudget
from handler.cache import CachedResult, CacheKey, LocalDiskCache
from handler.errors import OverloadedError
from handler.options import RemoveOptions
from handler.tiers import MemoryTier


def test_caps_grow_with_memory_and_keep_headroom() -> None:
    tiers = [MemoryTier.for_memory(mb) for mb in (512, 1024, 2048, 10240)]
    assert [t.max_pixels for t in tiers] == sorted(t.max_pixels for t in tiers)
    for t in tiers:
        assert t.estimated_peak_mb(t.max_pixels) <= 0.9 * t.memory_mb


def test_a_tier_too_small_for_the_runtime_admits_nothing() -> None:
    assert MemoryTier.for_memory(128).max_pixels == 0


def test_cache_key_covers_input_model_and_options() -> None:
    base = CacheKey.for_request(b"abc", "u2netp-1", RemoveOptions())
    assert base == CacheKey.for_request(b"abc", "u2netp-1", RemoveOptions.parse(format="png"))
    assert base.digest != CacheKey.for_request(b"abd", "u2netp-1", RemoveOptions()).digest
    assert base.digest != CacheKey.for_request(b"abc", "u2net-2", RemoveOptions()).digest
    assert base.digest != CacheKey.for_request(b"abc", "u2netp-1", RemoveOptions(mask=True)).digest
    assert base.etag.startswith('"') and len(base.etag) == 34


def test_local_cache_round_trip_and_torn_writes(tmp_path: Path) -> None:
    cache = LocalDiskCache(tmp_path)
    key = CacheKey.for_request(b"img", "m", RemoveOptions())
    assert cache.get(key) is None
    cache.put(key, CachedResult(b"png-bytes", "image/png", {"model": "m"}))
    hit = cache.get(key)
    assert hit == CachedResult(b"png-bytes", "image/png", {"model": "m"})
    (tmp_path / key.object_name()).with_suffix(".bin").write_bytes(b"png")  # torn
    assert cache.get(key) is None


def test_budget_admits_one_always_and_refuses_beyond_capacity() -> None:
    budget = MemoryBudget(capacity_bytes=100)
    with budget.reserve(500):  # alone: admitted even above capacity
        with pytest.raises(OverloadedError) as info, budget.reserve(1):
            pass
        assert info.value.retry_after_s >= 1
    with budget.reserve(60), budget.reserve(40):
        assert budget.in_use == 100
    assert budget.in_use == 0
