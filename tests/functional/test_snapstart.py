"""SnapStart hooks (handler/aws/snapstart.py) registered with a stand-in of Lambda's hooks module,
then run as the runtime would: before the snapshot, and after a restore."""

from __future__ import annotations

import random
import sys
import tempfile
import types
from collections.abc import Callable
from typing import Any

import pytest

from handler import runtime
from handler.aws import snapstart
from handler.aws.observability import metrics


class HooksModule(types.ModuleType):
    """snapshot_restore_py's two registration functions, recording what they are given."""

    def __init__(self) -> None:
        super().__init__(snapstart.HOOKS_MODULE)
        self.before: list[Callable[[], Any]] = []
        self.after: list[Callable[[], Any]] = []

    def register_before_snapshot(self, func: Callable[[], Any]) -> None:
        self.before.append(func)

    def register_after_restore(self, func: Callable[[], Any]) -> None:
        self.after.append(func)


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> HooksModule:
    module = HooksModule()
    monkeypatch.setitem(sys.modules, snapstart.HOOKS_MODULE, module)
    return module


def test_both_hooks_are_registered_with_lambdas_hooks_module(hooks: HooksModule) -> None:
    assert snapstart.register_hooks() is True
    assert hooks.before == [snapstart.before_snapshot]
    assert hooks.after == [snapstart.after_restore]


def test_without_the_hooks_module_nothing_is_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, snapstart.HOOKS_MODULE, None)  # import fails
    assert snapstart.register_hooks() is False


def test_before_snapshot_runs_the_warm_up_once(
    hooks: HooksModule, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime.init_clock, "phases_ms", {})
    runs: list[Any] = []
    monkeypatch.setattr(runtime, "warm_up_model", runs.append)
    snapstart.register_hooks()
    for hook in reversed(hooks.before):  # the runtime runs them in reverse order
        hook()
    runtime.warm_up()  # already warm: no second run
    assert runs == [runtime.model]
    assert "warm_up" in runtime.init_clock.phases_ms


def test_after_restore_renews_what_each_environment_must_own(
    hooks: HooksModule, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from aws_lambda_powertools.metrics.provider import cold_start

    from handler.aws.s3_client import s3_client

    snapstart.register_hooks()
    random.seed(1234)
    snapshot_state = random.getstate()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(cold_start, "is_cold_start", False)
    old_client = s3_client()
    metrics.add_metric(name="InitDurationMs", unit="Milliseconds", value=1.0)

    for hook in hooks.after:
        hook()

    assert random.getstate() != snapshot_state  # reseeded from os.urandom
    assert tempfile.tempdir is None  # found again in this environment
    assert cold_start.is_cold_start is True  # the first invocation after a restore is one
    assert s3_client() is not old_client  # new client, new connections, fresh credentials
    assert "InitDurationMs" not in metrics.metric_set  # the snapshot's init is not re-reported


def test_the_media_bucket_uses_the_client_renewed_after_a_restore(hooks: HooksModule) -> None:
    """The FastAPI app is built before the snapshot under SnapStart; its media bucket must not
    keep the snapshot's S3 client (dead sockets, the snapshot environment's credentials)."""
    from handler.aws.s3_client import s3_client
    from handler.aws.s3_media import MediaBucket

    media = MediaBucket(
        bucket="media",
        client_factory=s3_client,
        input_prefix="uploads/",
        output_prefix="cutouts/",
        ttl_seconds=60,
    )
    before = media.client
    snapstart.register_hooks()
    for hook in hooks.after:
        hook()
    assert media.client is not before and media.client is s3_client()
