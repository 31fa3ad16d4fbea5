"""How many intra-op threads the session gets, per environment and Lambda memory tier."""

from __future__ import annotations

import pytest

from handler.predict import SessionTuning
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


def test_arena_and_memory_pattern_follow_the_measured_defaults() -> None:
    tuning = session_tuning(Settings(threads=2))
    assert tuning.cpu_arena == SessionTuning().cpu_arena
    assert tuning.memory_pattern == SessionTuning().memory_pattern
