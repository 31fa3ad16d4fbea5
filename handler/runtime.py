"""Process-wide state, built once at import (Lambda's init phase): settings, model, service."""

from __future__ import annotations

from handler.allocator import return_large_blocks
from handler.cache import LocalDiskCache, NoCache, ResultCache
from handler.predict import SessionTuning, U2NetModel, load_model
from handler.service import CutoutService
from handler.settings import Settings
from handler.tiers import MemoryTier


def build_cache(settings: Settings) -> ResultCache:
    """S3 when a bucket is configured, else the local folder, else off."""
    if settings.cache_bucket:
        from handler.s3_cache import S3Cache

        return S3Cache.from_settings(settings)
    if settings.cache_dir is not None:
        return LocalDiskCache(settings.cache_dir)
    return NoCache()


def build_service(settings: Settings, model: U2NetModel) -> CutoutService:
    """A service for these settings around an already loaded model."""
    return CutoutService(
        model=model,
        tier=MemoryTier.for_memory(settings.memory_mb),
        cache=build_cache(settings),
    )


return_large_blocks()
settings = Settings.from_env()
model = load_model(settings.model_path, SessionTuning(intra_op_threads=settings.threads))
service = build_service(settings, model)
