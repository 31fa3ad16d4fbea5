"""The one place that reads the environment: a frozen, typed settings object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from handler.core.options import Edges
from handler.core.tiers import MemoryTier, smallest_memory_mb, smallest_tier_holding
from handler.errors import ConfigurationError

# Environment variable names (the external contract in DESIGN.md).
MEMORY_SIZE_ENV = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"
FUNCTION_NAME_ENV = "AWS_LAMBDA_FUNCTION_NAME"
CACHE_BUCKET_ENV = "CUTOUT_CACHE_BUCKET"
CACHE_DIR_ENV = "CUTOUT_CACHE_DIR"
CACHE_MAX_MB_ENV = "CUTOUT_CACHE_MAX_MB"
OPTIMIZED_MODEL_DIR_ENV = "CUTOUT_OPTIMIZED_MODEL_DIR"
INPUT_PREFIX_ENV = "CUTOUT_INPUT_PREFIX"
OUTPUT_PREFIX_ENV = "CUTOUT_OUTPUT_PREFIX"
MODEL_PATH_ENV = "CUTOUT_MODEL_PATH"
MODELS_ENV = "CUTOUT_MODELS"
TRIGGER_MODEL_ENV = "CUTOUT_TRIGGER_MODEL"
THREADS_ENV = "CUTOUT_THREADS"
API_KEYS_ENV = "CUTOUT_API_KEYS"
MEDIA_BUCKET_ENV = "CUTOUT_MEDIA_BUCKET"
INLINE_LIMIT_ENV = "CUTOUT_INLINE_LIMIT_BYTES"
PRESIGN_TTL_ENV = "CUTOUT_PRESIGN_TTL_SECONDS"
TIME_BUDGET_ENV = "CUTOUT_TIME_BUDGET_SECONDS"
SESSION_PROFILE_ENV = "CUTOUT_SESSION_PROFILE"
SESSION_PROFILES = ("lean", "fast")
CACHE_SCOPE_ENV = "CUTOUT_CACHE_SCOPE"
CACHE_SCOPES = ("global", "tenant")
TRIGGER_EDGES_ENV = "CUTOUT_TRIGGER_EDGES"
XDG_CACHE_HOME_ENV = "XDG_CACHE_HOME"
# Set by the Lambda runtime, by SAM's local emulator, and by Powertools' own switch.
TASK_ROOT_ENV = "LAMBDA_TASK_ROOT"
SAM_LOCAL_ENV = "AWS_SAM_LOCAL"
TRACE_DISABLED_ENV = "POWERTOOLS_TRACE_DISABLED"
# Powertools' own names for the service (log key, metric dimension) and the metric namespace.
SERVICE_NAME_ENV = "POWERTOOLS_SERVICE_NAME"
METRICS_NAMESPACE_ENV = "POWERTOOLS_METRICS_NAMESPACE"
DEFAULT_SERVICE_NAME = "cutout"
# How Lambda started this environment: on-demand, provisioned-concurrency or snap-start.
INIT_TYPE_ENV = "AWS_LAMBDA_INITIALIZATION_TYPE"
WARM_UP_ENV = "CUTOUT_WARM_UP"
# Init types whose init phase no request waits for: the warm-up run is free there.
WARM_UP_INIT_TYPES = frozenset({"snap-start", "provisioned-concurrency"})

# The models cutout knows (files <name>.onnx, fetched by layers/fetch_model.py); the first is the
# default of CUTOUT_MODELS.
KNOWN_MODELS = ("u2netp", "u2net")
DEFAULT_MODELS = ("u2netp",)
# Where the container image puts the models (see Dockerfile); the repo checkout's copies come first.
IMAGE_MODEL_DIR = Path("/opt/ml/model")
CHECKOUT_MODEL_DIR = Path(__file__).resolve().parent.parent / "layers" / "model"
IMAGE_MODEL_PATH = IMAGE_MODEL_DIR / "u2netp.onnx"
CHECKOUT_MODEL_PATH = CHECKOUT_MODEL_DIR / "u2netp.onnx"

# Memory tier assumed when AWS_LAMBDA_FUNCTION_MEMORY_SIZE is absent (local runs).
DEFAULT_MEMORY_MB = 2048
# Base64 inflates by 4/3 and Lambda's response limit is 6 MB: keep raw results under ~4 MB.
# Outside Lambda there is no such limit (0 = none) unless CUTOUT_INLINE_LIMIT_BYTES says so.
DEFAULT_INLINE_LIMIT_BYTES = 4 * 1024 * 1024
DEFAULT_PRESIGN_TTL_SECONDS = 900
# Seconds one image may take before the API answers 503: inside API Gateway's 29 s limit, with
# room to answer (in Lambda the function's own remaining time can make it shorter).
DEFAULT_TIME_BUDGET_SECONDS = 25.0
# The local result cache's size cap: past it, the least recently used results are deleted.
DEFAULT_CACHE_MAX_MB = 512


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise ConfigurationError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value


def tracing_enabled(env: Mapping[str, str] | None = None) -> bool:
    """X-Ray tracing: on in Lambda (not under SAM local), unless POWERTOOLS_TRACE_DISABLED says no.

    The same rule Powertools' Tracer applies; decided here so that the X-Ray SDK (~0.13 s of
    imports) is only loaded where a daemon listens.
    """
    env = os.environ if env is None else env
    if env.get(TRACE_DISABLED_ENV, "").strip().lower() in {"1", "y", "yes", "t", "true", "on"}:
        return False
    return bool(env.get(TASK_ROOT_ENV)) and not env.get(SAM_LOCAL_ENV)


def powertools_names(env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The service name and the metric namespace: Powertools' own variables, `cutout` unless
    set. Read apart from Settings because the Powertools objects are made at import."""
    env = os.environ if env is None else env
    service = env.get(SERVICE_NAME_ENV, "").strip() or DEFAULT_SERVICE_NAME
    namespace = env.get(METRICS_NAMESPACE_ENV, "").strip() or DEFAULT_SERVICE_NAME
    return service, namespace


def _session_profile(env: Mapping[str, str]) -> str | None:
    raw = env.get(SESSION_PROFILE_ENV, "").strip().lower()
    if not raw:
        return None
    if raw not in SESSION_PROFILES:
        raise ConfigurationError(
            f"{SESSION_PROFILE_ENV} must be one of {', '.join(SESSION_PROFILES)}, "
            f"got {env[SESSION_PROFILE_ENV]!r}"
        )
    return raw


def _api_keys(env: Mapping[str, str]) -> frozenset[str]:
    """The keys in CUTOUT_API_KEYS; set but naming none (`,`) is an error, not "no check"."""
    raw = env.get(API_KEYS_ENV, "")
    keys = frozenset(k.strip() for k in raw.split(",") if k.strip())
    if raw.strip() and not keys:
        raise ValueError(
            f"{API_KEYS_ENV} is set but names no key; unset it to turn the key check off"
        )
    return keys


def _cache_scope(env: Mapping[str, str]) -> str:
    raw = env.get(CACHE_SCOPE_ENV, "").strip().lower() or CACHE_SCOPES[0]
    if raw not in CACHE_SCOPES:
        raise ValueError(f"{CACHE_SCOPE_ENV} must be one of {', '.join(CACHE_SCOPES)}")
    return raw


def _trigger_edges(env: Mapping[str, str]) -> Edges:
    raw = env.get(TRIGGER_EDGES_ENV, "").strip().lower()
    try:
        return Edges(raw) if raw else Edges.SOFT
    except ValueError:
        choices = ", ".join(e.value for e in Edges)
        raise ValueError(f"{TRIGGER_EDGES_ENV} must be one of {choices}, got {raw!r}") from None


def default_model_file(name: str) -> Path:
    """Where a known model's file is: the checkout's copy if there is one, else the image's."""
    checkout = CHECKOUT_MODEL_DIR / f"{name}.onnx"
    return checkout if checkout.is_file() else IMAGE_MODEL_DIR / f"{name}.onnx"


def _warm_up(env: Mapping[str, str]) -> bool:
    """A warm-up inference at init: where no request waits for init (SnapStart, provisioned
    concurrency), unless CUTOUT_WARM_UP says otherwise. On demand the first request waits for
    init anyway, and a warm-up costs a whole inference to save the first run's extra ~20 %:
    the cold start grows (docs/bench/cold-start.md)."""
    raw = env.get(WARM_UP_ENV, "").strip().lower()
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    if raw:
        raise ConfigurationError(f"{WARM_UP_ENV} must be true or false, got {raw!r}")
    return env.get(INIT_TYPE_ENV, "").strip() in WARM_UP_INIT_TYPES


def _default_model_path() -> Path:
    return default_model_file(DEFAULT_MODELS[0])


def _models(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = env.get(MODELS_ENV, "").strip()
    if not raw:
        return DEFAULT_MODELS
    names = tuple(dict.fromkeys(name.strip().lower() for name in raw.split(",") if name.strip()))
    unknown = [name for name in names if name not in KNOWN_MODELS]
    if unknown or not names:
        raise ConfigurationError(
            f"{MODELS_ENV} must list some of {', '.join(KNOWN_MODELS)} (comma separated, "
            f"the first is the default); got {raw[:60]!r}"
        )
    return names


def also_load_model(name: str) -> None:
    """Make this process load `name` too (the CLI's --model), before handler.runtime is
    imported: it joins CUTOUT_MODELS after the configured ones (the default stays the default),
    or alone when none are configured."""
    configured = _models(os.environ) if os.environ.get(MODELS_ENV, "").strip() else ()
    os.environ[MODELS_ENV] = ",".join(dict.fromkeys([*configured, name]))


# What Lambda's runtime sets and `cutout invoke` plays when the shell has not set it.
LAMBDA_ENV_DEFAULTS = {
    FUNCTION_NAME_ENV: "cutout-local",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_REGION": "us-east-1",
    TRACE_DISABLED_ENV: "true",
}


def play_lambda() -> Settings:
    """Set what Lambda's runtime would (where the shell has not), before a handler module is
    imported, memory size included (this tier's, as Lambda always sets one); the settings then."""
    for name, value in LAMBDA_ENV_DEFAULTS.items():
        os.environ.setdefault(name, value)
    settings = Settings.from_env()
    os.environ.setdefault(MEMORY_SIZE_ENV, str(settings.memory_mb))
    return settings


def _trigger_model(env: Mapping[str, str], models: tuple[str, ...]) -> str:
    raw = env.get(TRIGGER_MODEL_ENV, "").strip().lower()
    if not raw:
        return models[0]
    if raw not in models:
        raise ConfigurationError(
            f"{TRIGGER_MODEL_ENV} must be one of the loaded models ({MODELS_ENV}: "
            f"{', '.join(models)}); got {raw[:40]!r}"
        )
    return raw


def _optional_dir(env: Mapping[str, str], name: str, default: Path | None) -> Path | None:
    """A directory setting: its value if set, None if set empty (off), else `default`."""
    if name not in env:
        return default
    raw = env[name].strip()
    return Path(raw) if raw else None


def _default_cache_dir(env: Mapping[str, str]) -> Path:
    base = env.get(XDG_CACHE_HOME_ENV) or str(Path.home() / ".cache")
    return Path(base) / "cutout"


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigurationError(f"{name} must be a positive integer, got {raw!r}")
    return value


def _cache_max_mb(env: Mapping[str, str]) -> int:
    """The local cache's size cap in MB; 0 keeps nothing (the same as no cache)."""
    raw = env.get(CACHE_MAX_MB_ENV, "").strip()
    if not raw:
        return DEFAULT_CACHE_MAX_MB
    if not raw.isdigit():
        raise ConfigurationError(f"{CACHE_MAX_MB_ENV} must be a whole number of MB, got {raw!r}")
    return int(raw)


def _memory_mb(env: Mapping[str, str], profile: str | None, models: tuple[str, ...]) -> int:
    """The memory tier; one too small to run the models under its session profile is refused
    (one that runs them but admits only small photos is refused by the runtime, tier_holding)."""
    memory_mb = _positive_int(env, MEMORY_SIZE_ENV, DEFAULT_MEMORY_MB)
    tier = MemoryTier.for_memory(memory_mb, profile, models)
    if tier.max_pixels <= 0:
        smallest = smallest_tier_holding(models, profile)
        holds = f"; the smallest Lambda tier that holds them is {smallest} MB" if smallest else ""
        raise ConfigurationError(
            f"{memory_mb} MB cannot hold {'+'.join(models)}: {MEMORY_SIZE_ENV}={memory_mb} is too "
            f"small to run it with the {tier.profile} session profile (at least "
            f"{smallest_memory_mb(tier.profile, models)} MB{holds})"
        )
    return memory_mb


@dataclass(frozen=True)
class Settings:
    """Configuration for one process, built once from the environment."""

    memory_mb: int = DEFAULT_MEMORY_MB
    memory_from_env: bool = False
    in_lambda: bool = False
    tracing: bool = False
    # The models loaded at import, the first the default; model_path is the default's file.
    models: tuple[str, ...] = DEFAULT_MODELS
    model_path: Path = field(default_factory=_default_model_path)
    trigger_model: str = DEFAULT_MODELS[0]  # the model the S3 trigger uses
    threads: int = field(default_factory=_cpu_count)
    cache_bucket: str = ""
    cache_dir: Path | None = None
    cache_max_mb: int = DEFAULT_CACHE_MAX_MB
    # Where ONNX Runtime's graphs optimised for this CPU are kept (handler/core/predict.py);
    # None: every start optimises the model again (Lambda, whose disk does not outlive it).
    optimized_model_dir: Path | None = None
    media_bucket: str = ""
    input_prefix: str = "uploads/"
    output_prefix: str = "cutouts/"
    api_keys: frozenset[str] = frozenset()
    inline_limit_bytes: int = 0
    presign_ttl_seconds: int = DEFAULT_PRESIGN_TTL_SECONDS
    time_budget_seconds: float = DEFAULT_TIME_BUDGET_SECONDS
    session_profile: str | None = None  # None: the tier's own (handler/core/tiers.py)
    cache_scope: str = "global"  # "tenant": one tenant's results never answer another's
    trigger_edges: Edges = Edges.SOFT  # the S3 trigger's edges (CUTOUT_TRIGGER_EDGES)
    warm_up: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read every setting from the environment (os.environ unless given).

        Raises ConfigurationError, with a one-line message naming the variable, for a bad value.
        """
        env = os.environ if env is None else env
        session_profile = _session_profile(env)
        in_lambda = bool(env.get(FUNCTION_NAME_ENV))
        memory_raw = env.get(MEMORY_SIZE_ENV, "").strip()
        local_cache = None if in_lambda else _default_cache_dir(env)
        cache_dir = _optional_dir(env, CACHE_DIR_ENV, local_cache)
        optimized_model_dir = _optional_dir(
            env, OPTIMIZED_MODEL_DIR_ENV, local_cache and local_cache / "models"
        )
        model_raw = env.get(MODEL_PATH_ENV, "").strip()
        models = _models(env)
        return cls(
            memory_mb=_memory_mb(env, session_profile, models),
            memory_from_env=bool(memory_raw),
            in_lambda=in_lambda,
            tracing=tracing_enabled(env),
            models=models,
            model_path=Path(model_raw) if model_raw else default_model_file(models[0]),
            trigger_model=_trigger_model(env, models),
            threads=_positive_int(env, THREADS_ENV, _cpu_count()),
            cache_bucket=env.get(CACHE_BUCKET_ENV, "").strip(),
            cache_dir=cache_dir,
            cache_max_mb=_cache_max_mb(env),
            optimized_model_dir=optimized_model_dir,
            media_bucket=env.get(MEDIA_BUCKET_ENV, "").strip(),
            input_prefix=env.get(INPUT_PREFIX_ENV, "").strip() or "uploads/",
            output_prefix=env.get(OUTPUT_PREFIX_ENV, "").strip() or "cutouts/",
            api_keys=_api_keys(env),
            inline_limit_bytes=_positive_int(
                env, INLINE_LIMIT_ENV, DEFAULT_INLINE_LIMIT_BYTES if in_lambda else 0
            ),
            presign_ttl_seconds=_positive_int(env, PRESIGN_TTL_ENV, DEFAULT_PRESIGN_TTL_SECONDS),
            time_budget_seconds=_positive_float(env, TIME_BUDGET_ENV, DEFAULT_TIME_BUDGET_SECONDS),
            session_profile=session_profile,
            cache_scope=_cache_scope(env),
            trigger_edges=_trigger_edges(env),
            warm_up=_warm_up(env),
        )

    def model_files(self) -> dict[str, Path]:
        """Each loaded model's file, the default first (CUTOUT_MODEL_PATH overrides its file)."""
        files = {name: default_model_file(name) for name in self.models}
        files[self.models[0]] = self.model_path
        return files
