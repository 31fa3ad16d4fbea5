"""The S3 trigger's share of time per record (handler/aws/s3_trigger.py BatchClock)."""

from __future__ import annotations

import pytest

from handler.aws.lambda_context import LocalLambdaContext
from handler.aws.s3_trigger import TRIGGER_ANSWER_MARGIN_S, BatchClock


def test_records_share_the_time_left_and_the_last_has_all_of_it() -> None:
    clock = BatchClock.for_invocation(LocalLambdaContext(timeout_s=30 + TRIGGER_ANSWER_MARGIN_S), 3)
    first, second, last = clock.next_share(), clock.next_share(), clock.next_share()
    assert first is not None and second is not None and last is not None
    assert first.own.remaining_s() == pytest.approx(10, abs=0.5) and first.shared
    assert second.own.remaining_s() == pytest.approx(15, abs=0.5) and second.shared
    assert last.own is last.invocation and not last.shared
    assert last.invocation.remaining_s() == pytest.approx(30, abs=0.5)


def test_many_records_each_get_at_least_a_second() -> None:
    clock = BatchClock.for_invocation(
        LocalLambdaContext(timeout_s=10 + TRIGGER_ANSWER_MARGIN_S), 100
    )
    share = clock.next_share()
    assert share is not None and share.own.remaining_s() == pytest.approx(1.0, abs=0.2)


def test_without_a_context_there_is_no_deadline() -> None:
    assert BatchClock.for_invocation(object(), 5).next_share() is None
    assert BatchClock().next_share() is None
