"""One request through the data flow: admit, cache, render, store. Every entry point uses this."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from handler.core.admit import ImageHeader, admit
from handler.core.options import Edges, RemoveOptions
from handler.core.pipeline import StageHook, render, untraced
from handler.core.predict import U2NetModel
from handler.core.tiers import MemoryTier
from handler.errors import (
    ImageTooLargeError,
    ModelNotLoadedError,
    ProcessingTimeoutError,
    TooLargeForFormatError,
)
from handler.serving.budget import MemoryBudget
from handler.serving.cache import CachedResult, CacheKey, NoCache, ResultCache
from handler.serving.deadline import (
    Speed,
    estimated_seconds,
    fixed_seconds,
    max_megapixels_within,
)

# A child of the Powertools "cutout" logger: same JSON format, no Powertools import here.
logger = logging.getLogger(f"cutout.{__name__}")


@dataclass(frozen=True)
class Outcome:
    """A finished request: the image, its key, whether the cache answered, and stage timings."""

    data: bytes
    media_type: str
    key: CacheKey
    header: ImageHeader
    cache_hit: bool
    timings_ms: dict[str, float] = field(default_factory=dict)
    cache_error: bool = False
    model: str = ""  # the name of the model that drew the mask

    @property
    def etag(self) -> str:
        return self.key.etag


def refuse_unfinishable(
    header: ImageHeader,
    options: RemoveOptions,
    time_budget_s: float | None,
    speed: Speed = Speed(),
) -> None:
    """Refuse, before decoding, what the output format cannot hold or the time cannot cover."""
    fmt = options.format
    if max(header.oriented_size) > fmt.max_side:
        raise TooLargeForFormatError(
            f"{fmt.value} holds at most {fmt.max_side} px per side and the image is "
            f"{header.oriented_size[0]}x{header.oriented_size[1]}; ask for format=png"
        )
    seconds = estimated_seconds(header.megapixels, fmt, speed, options.edges)
    if time_budget_s is None or seconds <= time_budget_s:
        return
    if time_budget_s < fixed_seconds(speed):  # no image could finish: the time is gone
        raise ProcessingTimeoutError("too little time is left to process an image; retry")
    output = fmt.value if options.edges is Edges.SOFT else f"{fmt.value} with sharp edges"
    raise ImageTooLargeError(
        f"the image is {header.megapixels:.1f} MP; as {output} this server finishes at most "
        f"{max_megapixels_within(time_budget_s, fmt, speed, options.edges):.1f} MP within its "
        f"{time_budget_s:.0f} s "
        "time budget: send a smaller image, ask for another format, or use the S3 upload path"
    )


class CutoutService:
    """The models, the tier's caps, the cache and the memory budget of one process."""

    def __init__(
        self,
        *,
        model: U2NetModel | None = None,
        models: Mapping[str, U2NetModel] | None = None,
        tier: MemoryTier,
        cache: ResultCache | None = None,
        budget: MemoryBudget | None = None,
        stage_hook: StageHook = untraced,
        threads: int = 1,
        cpu_share: float = 1.0,
    ) -> None:
        if models is None:
            if model is None:
                raise TypeError("CutoutService needs a model or models")
            models = {model.name: model}
        # By name, the default first.
        self.models: dict[str, U2NetModel] = dict(models)
        self.model = model or next(iter(self.models.values()))
        self.stage_hook = stage_hook
        self.threads = threads
        self.cpu_share = cpu_share
        self.tier = tier
        self.cache: ResultCache = cache or NoCache()
        self.budget = budget or MemoryBudget(tier.image_budget_bytes())

    def model_for(self, name: str | None = None) -> U2NetModel:
        """A loaded model by name (any case); None or blank is the default."""
        key = (name or "").strip().lower()
        if not key or key == self.model.name:
            return self.model
        found = self.models.get(key)
        if found is None:
            raise ModelNotLoadedError(
                f"model {key[:40]!r} is not loaded here; choose one of "
                f"{', '.join(self.models)} (the server's CUTOUT_MODELS)"
            )
        return found

    def key_for(
        self,
        data: bytes,
        options: RemoveOptions,
        model: str | None = None,
        cache_scope: str = "",
    ) -> CacheKey:
        model_id = self.model_for(model).model_id
        return CacheKey.for_request(data, model_id, options, scope=cache_scope)

    def admit(self, data: bytes, options: RemoveOptions) -> ImageHeader:
        """The image's header when this service would take it; else the 4xx, from the header."""
        return admit(data, self.tier, output=options.format)

    def with_cache(self, cache: ResultCache) -> CutoutService:
        """The same models, tier, budget and threads around another cache (the CLI's
        --no-cache)."""
        return CutoutService(
            model=self.model,
            models=self.models,
            tier=self.tier,
            cache=cache,
            budget=self.budget,
            stage_hook=self.stage_hook,
            threads=self.threads,
            cpu_share=self.cpu_share,
        )

    def remove(
        self,
        data: bytes,
        options: RemoveOptions,
        *,
        model: str | None = None,
        time_budget_s: float | None = None,
        cache_scope: str = "",
    ) -> Outcome:
        """Answer one image with a loaded model (default: the first): from the cache when
        possible, else by running the pipeline.

        With a time budget (the API's), an image that could not finish inside it is refused
        before any work, instead of timing out half done. A cache scope (a tenant) keeps its
        results apart from everyone else's.
        """
        started = time.perf_counter()
        chosen = self.model_for(model)
        header = admit(data, self.tier, output=options.format)
        key = CacheKey.for_request(data, chosen.model_id, options, scope=cache_scope)
        cached, cache_error = self._lookup(key)
        if cached is not None:
            return Outcome(
                data=cached.data,
                media_type=cached.media_type,
                key=key,
                header=header,
                cache_hit=True,
                timings_ms={"cache": (time.perf_counter() - started) * 1000.0},
                model=chosen.name,
            )
        speed = Speed(self.tier.profile, self.threads, self.cpu_share)
        refuse_unfinishable(header, options, time_budget_s, speed)
        # Reserved before decoding: what this image adds to the process at its peak.
        estimate = self.tier.estimated_bytes(header.pixels, len(data), options.format, header.path)
        # Past the budget the work stops (between stages, or between chunks of a decode), so an
        # abandoned request does not keep a core and its reservation.
        deadline = None if time_budget_s is None else time.monotonic() + time_budget_s
        with self.budget.reserve(estimate):
            rendered = render(
                data,
                header,
                options,
                model=chosen,
                stage_hook=self.stage_hook,
                threads=self.threads,
                deadline=deadline,
            )
        metadata = {
            "model": chosen.model_id,
            "source-sha256": key.source_sha256,
            "width": str(rendered.width),
            "height": str(rendered.height),
        }
        cache_error = (
            self._store(key, CachedResult(rendered.data, rendered.media_type, metadata))
            or cache_error
        )
        return Outcome(
            data=rendered.data,
            media_type=rendered.media_type,
            key=key,
            header=header,
            cache_hit=False,
            timings_ms=rendered.timings_ms,
            cache_error=cache_error,
            model=chosen.name,
        )

    def _lookup(self, key: CacheKey) -> tuple[CachedResult | None, bool]:
        try:
            return self.cache.get(key), False
        except Exception as exc:  # best effort: a broken cache must not fail the request
            logger.warning("cache read failed (%s): %s", self.cache.name, type(exc).__name__)
            return None, True

    def _store(self, key: CacheKey, result: CachedResult) -> bool:
        try:
            self.cache.put(key, result)
        except Exception as exc:  # best effort, as above
            logger.warning("cache write failed (%s): %s", self.cache.name, type(exc).__name__)
            return True
        return False
