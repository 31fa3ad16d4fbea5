from __future__ import annotations

import pytest

from handler.core.options import Edges, OutputFormat, RemoveOptions, parse_color
from handler.errors import InvalidOptionError


def test_defaults_and_explicit_defaults_share_a_canonical_form() -> None:
    explicit = RemoveOptions.parse(format="PNG", mask="false", crop="0", crop_margin="0")
    assert explicit == RemoveOptions()
    assert explicit.canonical() == RemoveOptions.parse().canonical()


def test_jpeg_gets_an_opaque_white_background_by_default() -> None:
    assert RemoveOptions.parse(format="jpg").bg_color == (255, 255, 255, 255)
    assert RemoveOptions.parse(format="jpeg", bg_color="00000080").bg_color == (0, 0, 0, 255)


def test_mask_ignores_background_colour() -> None:
    assert RemoveOptions.parse(mask="true", bg_color="ff0000").bg_color is None


@pytest.mark.parametrize(
    "raw,expected",
    [("ff8000", (255, 128, 0, 255)), ("#FF800040", (255, 128, 0, 64)), ("", None), (None, None)],
)
def test_colours(raw: str | None, expected: tuple[int, ...] | None) -> None:
    assert parse_color(raw) == expected


@pytest.mark.parametrize(
    "kwargs",
    [
        {"format": "gif"},
        {"mask": "maybe"},
        {"bg_color": "red"},
        {"bg_color": "fff"},
        {"crop": "2"},
        {"crop_margin": "-1"},
        {"crop_margin": "ten"},
        {"crop_margin": "99999999"},
        {"crop_margin": "16"},  # a margin without crop=true would do nothing: refused
        {"crop": "false", "crop_margin": "16"},
        {"edges": "hard"},
        {"edges": "sharpest"},
    ],
)
def test_bad_values_are_invalid_option_errors(kwargs: dict[str, str]) -> None:
    with pytest.raises(InvalidOptionError) as info:
        RemoveOptions.parse(**kwargs)
    assert info.value.status == 422 and info.value.message


def test_media_types() -> None:
    assert OutputFormat.WEBP.media_type == "image/webp"
    assert OutputFormat.JPEG.extension == "jpg"


def test_edges_parse_and_only_sharp_changes_the_canonical_form() -> None:
    assert RemoveOptions.parse().edges is Edges.SOFT
    assert RemoveOptions.parse(edges=" Sharp ").edges is Edges.SHARP
    soft = RemoveOptions.parse(edges="soft")
    assert soft == RemoveOptions() and RemoveOptions.parse(edges="").edges is Edges.SOFT
    # Keys made before edges existed stay valid: soft adds nothing to the canonical form.
    assert soft.canonical() == "format=png;mask=0;bg=;crop=0;margin=0"
    sharp = RemoveOptions.parse(edges="sharp", mask="1")
    assert sharp.canonical() == "format=png;mask=1;bg=;crop=0;margin=0;edges=sharp"
