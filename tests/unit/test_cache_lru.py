"""The local result cache keeps to its size cap, evicting the least recently used results."""

from __future__ import annotations

import os
from pathlib import Path

from handler.core.options import RemoveOptions
from handler.runtime import build_cache
from handler.serving.cache import CachedResult, CacheKey, LocalDiskCache, NoCache
from handler.settings import Settings

KIB = 1024


def key(n: int) -> CacheKey:
    return CacheKey.for_request(f"image {n}".encode(), "u2netp-test", RemoveOptions())


def result(size: int) -> CachedResult:
    return CachedResult(b"x" * size, "image/png")


def age(cache: LocalDiskCache, k: CacheKey, seconds_ago: float) -> None:
    """Set a result's last use explicitly (no sleeping, no timing)."""
    blob = cache.root / f"{k.object_name()}.bin"
    when = blob.stat().st_mtime - seconds_ago
    os.utime(blob, (when, when))


def bins(root: Path) -> int:
    return sum(1 for _ in root.rglob("*.bin"))


def test_the_folder_stays_under_its_cap(tmp_path: Path) -> None:
    cache = LocalDiskCache(tmp_path, max_bytes=100 * KIB)
    for n in range(30):
        cache.put(key(n), result(10 * KIB))
    on_disk = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
    assert on_disk <= 100 * KIB
    assert 5 <= bins(tmp_path) <= 10
    assert cache.get(key(29)) is not None  # the newest is kept


def test_the_least_recently_used_goes_first_and_a_hit_counts_as_use(tmp_path: Path) -> None:
    cache = LocalDiskCache(tmp_path, max_bytes=35 * KIB)
    for n in range(3):
        cache.put(key(n), result(10 * KIB))
    age(cache, key(0), 300)
    age(cache, key(1), 200)
    age(cache, key(2), 100)
    assert cache.get(key(0)) is not None  # used now: no longer the oldest
    cache.put(key(3), result(10 * KIB))  # over the cap: one must go
    assert cache.get(key(1)) is None
    assert all(cache.get(key(n)) is not None for n in (0, 2, 3))
    assert not list(tmp_path.rglob(f"{key(1).digest}*"))  # sidecar gone with its result


def test_a_result_bigger_than_the_cap_is_not_kept(tmp_path: Path) -> None:
    cache = LocalDiskCache(tmp_path, max_bytes=10 * KIB)
    cache.put(key(0), result(4 * KIB))
    cache.put(key(1), result(20 * KIB))
    assert cache.get(key(1)) is None and cache.get(key(0)) is not None


def test_other_processes_files_count_too(tmp_path: Path) -> None:
    """A second cache on the same folder (another process) sees what the first wrote."""
    first = LocalDiskCache(tmp_path, max_bytes=25 * KIB)
    second = LocalDiskCache(tmp_path, max_bytes=25 * KIB)
    first.put(key(0), result(10 * KIB))
    age(first, key(0), 100)
    second.put(key(1), result(10 * KIB))
    second.put(key(2), result(10 * KIB))
    assert second.get(key(0)) is None and bins(tmp_path) == 2


def test_the_cap_comes_from_settings_and_zero_turns_the_cache_off(tmp_path: Path) -> None:
    cache = build_cache(Settings(cache_dir=tmp_path, cache_max_mb=64))
    assert isinstance(cache, LocalDiskCache) and cache.max_bytes == 64 * 1024 * 1024
    assert isinstance(build_cache(Settings(cache_dir=tmp_path, cache_max_mb=0)), NoCache)
