"""How many intra-op threads the session gets, per environment and Lambda memory tier."""

from __future__ import annotations

from dataclasses import replace

import pytest

from handler.core.predict import PROFILES
from handler.core.tiers import MemoryTier
from handler.runtime import session_tuning
from handler.settings import Settings


def _lambda(memory_mb: int, threads: int = 2) -> Settings:
    return Settings(memory_mb=memory_mb, memory_from_env=True, in_lambda=True, threads=threads)


@pytest.mark.parametrize(
    ("memory_mb", "visible_cores", "threads"),
    [(512, 2, 1), (2048, 2, 1), (3008, 2, 1), (3538, 2, 2), (10240, 6, 5), (10240, 2, 2)],
)
def test_lambda_gets_one_thread_per_whole_vcpu(
    memory_mb: int, visible_cores: int, threads: int
) -> None:
    assert session_tuning(_lambda(memory_mb, visible_cores)).intra_op_threads == threads


def test_outside_lambda_every_allowed_core_is_used() -> None:
    settings = Settings(memory_mb=512, memory_from_env=True, in_lambda=False, threads=4)
    assert session_tuning(settings).intra_op_threads == 4


@pytest.mark.parametrize(
    ("memory_mb", "profile"), [(512, "lean"), (1023, "lean"), (1024, "fast"), (10240, "fast")]
)
def test_the_tier_picks_the_session_profile(memory_mb: int, profile: str) -> None:
    tuning = session_tuning(_lambda(memory_mb))
    assert tuning == replace(PROFILES[profile], intra_op_threads=tuning.intra_op_threads)
    assert MemoryTier.for_memory(memory_mb).profile == profile


def test_the_profiles_differ_in_the_arena_and_layouts_only() -> None:
    lean, fast = PROFILES["lean"], PROFILES["fast"]
    assert not lean.cpu_arena and not lean.layout_optimizations
    assert fast.cpu_arena and fast.layout_optimizations
    assert not lean.memory_pattern and not fast.memory_pattern  # patterns: memory, no speed


def test_the_profile_can_be_chosen() -> None:
    settings = Settings.from_env(
        {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "2048", "CUTOUT_SESSION_PROFILE": "Lean"}
    )
    assert settings.session_profile == "lean"
    assert session_tuning(settings) == replace(PROFILES["lean"], intra_op_threads=settings.threads)
    with pytest.raises(ValueError, match="CUTOUT_SESSION_PROFILE must be one of lean, fast, got"):
        Settings.from_env({"CUTOUT_SESSION_PROFILE": "turbo"})


def test_a_lean_tier_admits_more_than_a_fast_one_of_the_same_size() -> None:
    lean = MemoryTier.for_memory(1024, "lean")
    fast = MemoryTier.for_memory(1024, "fast")
    assert lean.max_pixels > fast.max_pixels > 0
    assert lean.image_budget_bytes() > fast.image_budget_bytes()
