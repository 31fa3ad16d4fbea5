from __future__ import annotations

from pathlib import Path

import pytest

from handler.core.options import OutputFormat, RemoveOptions
from handler.core.tiers import BASE_MB, BYTES_PER_PIXEL, MIB, MemoryTier, estimated_peak_mb
from handler.errors import OverloadedError
from handler.serving.budget import MemoryBudget
from handler.serving.cache import CachedResult, CacheKey, LocalDiskCache


@pytest.mark.parametrize("profile", [None, "lean", "fast"])
def test_caps_grow_with_memory_and_keep_headroom(profile: str | None) -> None:
    tiers = [MemoryTier.for_memory(mb, profile) for mb in (512, 1024, 2048, 10240)]
    assert [t.max_pixels for t in tiers] == sorted(t.max_pixels for t in tiers)
    for t in tiers:
        for output in OutputFormat:
            peak = t.estimated_peak_mb(t.pixel_cap(output), t.max_input_bytes, output)
            assert peak <= 0.9 * t.memory_mb


@pytest.mark.parametrize("memory_mb,megapixels", [(512, 16), (1024, 40), (2048, 80)])
def test_caps_meet_the_tier_goals(memory_mb: int, megapixels: int) -> None:
    assert MemoryTier.for_memory(memory_mb).max_pixels >= megapixels * 1_000_000


def test_webp_has_its_own_lower_cap() -> None:
    tier = MemoryTier.for_memory(1024)
    assert 0 < tier.pixel_cap(OutputFormat.WEBP) < tier.pixel_cap(OutputFormat.PNG)
    assert tier.pixel_cap(OutputFormat.JPEG) == tier.max_pixels
    assert tier.as_dict()["max_webp_pixels"] == tier.pixel_cap(OutputFormat.WEBP)
    plain = MemoryTier(memory_mb=64, max_pixels=10, max_input_bytes=10)
    assert plain.pixel_cap(OutputFormat.WEBP) == 10


def test_the_model_has_an_inference_floor_and_counts_the_input() -> None:
    assert estimated_peak_mb(1) == pytest.approx(estimated_peak_mb(1000), abs=0.1)
    assert estimated_peak_mb(1, input_bytes=10 * MIB) == pytest.approx(
        estimated_peak_mb(1) + 10, abs=1e-6
    )
    big = 400_000_000
    assert estimated_peak_mb(big) == pytest.approx(BASE_MB + BYTES_PER_PIXEL * big / MIB)


def test_a_tier_too_small_for_the_runtime_admits_nothing() -> None:
    tier = MemoryTier.for_memory(128)
    assert tier.max_pixels == 0 and tier.max_input_bytes == 0
    assert tier.pixel_cap(OutputFormat.WEBP) == 0


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


def test_the_service_gives_the_png_writer_its_cores(
    model: object, tier: MemoryTier, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every entry point encodes through CutoutService: its threads must reach the writer."""
    from handler.core import encode as encode_module
    from handler.serving.cache import NoCache
    from handler.serving.service import CutoutService
    from tests.support import encode_image, photo

    seen: list[int] = []
    real = encode_module.encode_png

    def spy(*args: object, threads: int = 1, **kwargs: object) -> bytes:
        seen.append(threads)
        return real(*args, threads=threads, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(encode_module, "encode_png", spy)
    service = CutoutService(model=model, tier=tier, cache=NoCache(), threads=2)  # type: ignore[arg-type]
    service.remove(encode_image(photo(40, 30)), RemoveOptions())
    assert seen == [2]
    assert service.with_cache(NoCache()).threads == 2
