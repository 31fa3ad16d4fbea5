"""Settings from the environment: a bad value is one clear ConfigurationError naming it."""

from __future__ import annotations

import pytest

from handler.core.tiers import MemoryTier, smallest_memory_mb
from handler.errors import ConfigurationError
from handler.settings import DEFAULT_CACHE_MAX_MB, Settings, powertools_names


@pytest.mark.parametrize(
    "env,message",
    [
        (
            {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "abc"},
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE must be a positive integer, got 'abc'",
        ),
        (
            {"CUTOUT_SESSION_PROFILE": "turbo"},
            "CUTOUT_SESSION_PROFILE must be one of lean, fast, got 'turbo'",
        ),
        ({"CUTOUT_THREADS": "0"}, "CUTOUT_THREADS must be a positive integer, got '0'"),
        ({"CUTOUT_THREADS": "-2"}, "CUTOUT_THREADS must be a positive integer, got '-2'"),
        (
            {"CUTOUT_CACHE_MAX_MB": "lots"},
            "CUTOUT_CACHE_MAX_MB must be a whole number of MB, got 'lots'",
        ),
        (
            {"CUTOUT_TIME_BUDGET_SECONDS": "soon"},
            "CUTOUT_TIME_BUDGET_SECONDS must be a positive number of seconds, got 'soon'",
        ),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env(env)
    assert str(info.value) == message


def test_a_tier_too_small_for_the_model_is_refused_at_start_up() -> None:
    with pytest.raises(ConfigurationError, match="AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 is too"):
        Settings.from_env({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128"})
    lean = smallest_memory_mb("lean")
    assert Settings.from_env({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(lean)}).memory_mb == lean
    with pytest.raises(ConfigurationError, match=f"at least {lean} MB"):
        Settings.from_env({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(lean - 1)})
    # The fast profile needs more: forcing it onto a 512 MB tier leaves no room for an image.
    with pytest.raises(ConfigurationError, match="fast session profile"):
        Settings.from_env(
            {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512", "CUTOUT_SESSION_PROFILE": "fast"}
        )


@pytest.mark.parametrize("profile", ["lean", "fast"])
def test_the_smallest_tier_is_the_first_that_admits_an_image(profile: str) -> None:
    smallest = smallest_memory_mb(profile)
    assert MemoryTier.for_memory(smallest, profile).max_pixels > 0
    assert MemoryTier.for_memory(smallest - 1, profile).max_pixels == 0


def test_the_cache_cap_has_a_default_and_can_be_set() -> None:
    assert Settings.from_env({}).cache_max_mb == DEFAULT_CACHE_MAX_MB
    assert Settings.from_env({"CUTOUT_CACHE_MAX_MB": "64"}).cache_max_mb == 64
    assert Settings.from_env({"CUTOUT_CACHE_MAX_MB": "0"}).cache_max_mb == 0


def test_powertools_names_default_to_cutout() -> None:
    assert powertools_names({}) == ("cutout", "cutout")
    assert powertools_names(
        {"POWERTOOLS_SERVICE_NAME": "shop", "POWERTOOLS_METRICS_NAMESPACE": "Shop/Images"}
    ) == ("shop", "Shop/Images")
