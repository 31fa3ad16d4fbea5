"""When init runs a warm-up inference: where init is free (SnapStart, provisioned concurrency)."""

from __future__ import annotations

import pytest

from handler.settings import Settings


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, False),
        ({"AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand"}, False),
        ({"AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"}, True),
        ({"AWS_LAMBDA_INITIALIZATION_TYPE": "provisioned-concurrency"}, True),
        ({"AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand", "CUTOUT_WARM_UP": "true"}, True),
        ({"AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start", "CUTOUT_WARM_UP": "0"}, False),
    ],
)
def test_warm_up_follows_the_init_type_unless_overridden(
    env: dict[str, str], expected: bool
) -> None:
    assert Settings.from_env(env).warm_up is expected


def test_a_bad_warm_up_value_is_refused_with_the_variable_named() -> None:
    with pytest.raises(ValueError, match="CUTOUT_WARM_UP"):
        Settings.from_env({"CUTOUT_WARM_UP": "sometimes"})
