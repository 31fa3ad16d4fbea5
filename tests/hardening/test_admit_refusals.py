"""Which refusal a body gets: corrupt_image when it starts like an allowed format, else
unsupported_format (the client learns whether to fix the file or change the format)."""

from __future__ import annotations

import pytest

from handler.core.admit import admit, sniff_format
from handler.errors import CorruptImageError, UnsupportedFormatError
from tests.hardening.corpus import CORPUS_TIER


@pytest.mark.parametrize(
    "body,name",
    [
        (b"\xff\xd8\xff\xe0" + b"\x00" * 40, "JPEG"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "PNG"),
        (b"GIF89a" + b"\xff" * 40, "GIF"),
        (b"II*\x00" + b"\xff" * 40, "TIFF"),
        (b"MM\x00*" + b"\xff" * 40, "TIFF"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 40, "WEBP"),
        (b"BM" + b"\x00" * 12 + b"\x28\x00\x00\x00" + b"\xff" * 40, "BMP"),
    ],
)
def test_a_broken_file_of_an_allowed_format_is_corrupt(body: bytes, name: str) -> None:
    assert sniff_format(body) == name
    with pytest.raises(CorruptImageError, match=f"the {name} image"):
        admit(body, CORPUS_TIER)


@pytest.mark.parametrize(
    "body",
    [b"BMW owners club\n" * 4, b"RIFF\x10\x00\x00\x00WAVEfmt " + b"\x00" * 40, b"P6\n1 1\n255\n"],
)
def test_other_bodies_are_unsupported(body: bytes) -> None:
    assert sniff_format(body) is None
    with pytest.raises(UnsupportedFormatError):
        admit(body, CORPUS_TIER)
