"""CUTOUT_TRIGGER_EDGES: the S3 trigger's edges, read and checked once with the settings."""

from __future__ import annotations

import pytest

from handler.core.options import Edges
from handler.settings import TRIGGER_EDGES_ENV, Settings


@pytest.mark.parametrize(
    ("raw", "edges"), [("", Edges.SOFT), ("soft", Edges.SOFT), (" SHARP", Edges.SHARP)]
)
def test_trigger_edges_from_the_environment(raw: str, edges: Edges) -> None:
    assert Settings.from_env({TRIGGER_EDGES_ENV: raw}).trigger_edges is edges
    assert Settings.from_env({}).trigger_edges is Edges.SOFT


def test_a_bad_value_names_the_variable_and_the_choices() -> None:
    with pytest.raises(ValueError, match=f"{TRIGGER_EDGES_ENV} must be one of soft, sharp"):
        Settings.from_env({TRIGGER_EDGES_ENV: "hard"})
