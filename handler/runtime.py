"""Process-wide state, built once at import (Lambda's init phase): settings, models, service."""

from __future__ import annotations

from dataclasses import replace

from handler import INIT_STARTED
from handler.core.pipeline import StageHook, untraced
from handler.core.predict import (
    PROFILES,
    SessionTuning,
    U2NetModel,
    load_model,
    warm_up_model,
)
from handler.core.tiers import MemoryTier, tier_holding
from handler.serving.allocator import return_large_blocks
from handler.serving.cache import LocalDiskCache, NoCache, ResultCache
from handler.serving.coldstart import InitClock
from handler.serving.service import CutoutService
from handler.settings import Settings

# Lambda gives one vCPU's worth of CPU per 1,769 MB of memory. With less than two, a second
# intra-op thread only competes for the same share and slows inference down (measured in
# docs/bench/session-options.md by bench/session_options.py).
LAMBDA_MB_PER_VCPU = 1769


def build_cache(settings: Settings) -> ResultCache:
    """S3 when a bucket is configured, else the local folder, else off."""
    if settings.cache_bucket:
        from handler.aws.s3_cache import S3Cache

        return S3Cache.from_settings(settings)
    if settings.cache_dir is not None and settings.cache_max_mb > 0:
        return LocalDiskCache(settings.cache_dir, max_bytes=settings.cache_max_mb * 1024 * 1024)
    return NoCache()


def tier_for(settings: Settings) -> MemoryTier:
    """The memory tier for the loaded models, with its session profile (CUTOUT_SESSION_PROFILE,
    else the tier's); ModelUnavailableError when the tier cannot hold the models."""
    return tier_holding(settings.memory_mb, settings.session_profile, settings.models)


def session_tuning(settings: Settings) -> SessionTuning:
    """The tier's session profile. Intra-op threads: the cores we may use, and in Lambda no
    more than the tier's whole vCPUs."""
    threads = settings.threads
    if settings.in_lambda and settings.memory_from_env:
        threads = min(threads, max(1, settings.memory_mb // LAMBDA_MB_PER_VCPU))
    return replace(PROFILES[tier_for(settings).profile], intra_op_threads=threads)


def cpu_share(settings: Settings) -> float:
    """The share of one core this process gets: in Lambda below 1,769 MB, less than one."""
    if settings.in_lambda and settings.memory_from_env:
        return min(1.0, settings.memory_mb / LAMBDA_MB_PER_VCPU)
    return 1.0


def stage_hook(settings: Settings) -> StageHook:
    """An X-Ray subsegment per pipeline stage when tracing is on, else nothing."""
    if not settings.tracing:
        return untraced
    from handler.aws.observability import traced

    return traced


def load_models(settings: Settings) -> dict[str, U2NetModel]:
    """One session per model in CUTOUT_MODELS, the default first."""
    tuning = session_tuning(settings)
    return {
        name: load_model(path, tuning, name, optimized_dir=settings.optimized_model_dir)
        for name, path in settings.model_files().items()
    }


def build_service(settings: Settings, models: dict[str, U2NetModel]) -> CutoutService:
    """A service for these settings around already loaded models (the first is the default)."""
    return CutoutService(
        models=models,
        tier=tier_for(settings),
        cache=build_cache(settings),
        stage_hook=stage_hook(settings),
        threads=session_tuning(settings).intra_op_threads,
        cpu_share=cpu_share(settings),
    )


def warm_up() -> None:
    """One inference on a blank input per loaded model, once: ONNX Runtime's first run costs
    ~60 ms more than the next ones (allocations, kernel set-up), better paid at init than by the
    first request."""
    if "warm_up" not in init_clock.phases_ms:
        for loaded in models.values():
            warm_up_model(loaded)
        init_clock.mark("warm_up")


# The init phase, timed: imports (everything loaded until here), session, warm-up; the entry
# module marks the rest (its own imports and wiring) in handler/aws/entry.py.
init_clock = InitClock(started=INIT_STARTED)
settings = Settings.from_env()
init_clock.mark("imports")
tier_for(settings)  # refuse a tier too small for the models before loading any of them
models = load_models(settings)
return_large_blocks()  # after the sessions are made: see handler/serving/allocator.py
model = models[settings.models[0]]  # the default
init_clock.mark("session")
if settings.warm_up:
    warm_up()
service = build_service(settings, models)
