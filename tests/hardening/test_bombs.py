"""Bombs stay unexploded: admit reads headers only, so the caps apply before any pixel exists."""

from __future__ import annotations

import contextlib
import io
import struct
import subprocess
import sys
import textwrap
import zlib

import pytest
from PIL import Image

from handler.core.admit import admit
from handler.core.decode import decode
from handler.errors import CutoutError, ImageTooLargeError
from tests.hardening.corpus import CORPUS_TIER, HOSTILE, VALID, Case, case_ids, png_chunk
from tests.hardening.mutations import no_pixel_decoding, seeds
from tests.support import REPO, encode_image, photo

# Python and Pillow take ~40 MB; the PNG bomb would take 900 MB decoded, the GIF one 2 GB.
BOMB_ADMIT_PEAK_MB = 200


@pytest.mark.parametrize("case", HOSTILE + VALID, ids=case_ids(HOSTILE + VALID))
def test_admit_never_decodes_pixels(case: Case) -> None:
    body = case.body
    with no_pixel_decoding(CORPUS_TIER.max_pixels), contextlib.suppress(CutoutError):
        admit(body, CORPUS_TIER)


def test_admit_never_decodes_the_fuzzing_seeds() -> None:
    for seed in seeds():  # all valid, so admit reads each one fully
        with no_pixel_decoding(CORPUS_TIER.max_pixels):
            admit(seed, CORPUS_TIER)


@pytest.mark.parametrize("bomb", ["png_bomb", "gif_frame_bomb"])
def test_bombs_are_refused_without_the_memory_they_would_take(bomb: str) -> None:
    """In a fresh process, so the peak RSS (VmHWM: ru_maxrss would carry the parent's
    over the fork) is the refusal's own."""
    script = textwrap.dedent(
        """
        from pathlib import Path
        from handler.core.admit import admit
        from handler.errors import ImageTooLargeError
        from tests.hardening.corpus import CORPUS_TIER, {bomb}
        data = {bomb}()
        try:
            admit(data, CORPUS_TIER)
        except ImageTooLargeError:
            status = Path("/proc/self/status").read_text()
            print(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script.format(bomb=bomb)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    peak_kib = int(done.stdout.strip())
    assert peak_kib < BOMB_ADMIT_PEAK_MB * 1024


def png_with_late_exif(orientation: int) -> bytes:
    """A PNG whose eXIf chunk comes after the pixel data (Pillow only sees it on load)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    plain = encode_image(photo(40, 20))
    iend = plain.rindex(b"IEND") - 4
    return plain[:iend] + png_chunk(b"eXIf", exif.tobytes()[6:]) + plain[iend:]


def test_a_late_exif_orientation_is_ignored_consistently() -> None:
    data = png_with_late_exif(6)
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert image.getexif()[0x0112] == 6  # it is there, after the pixels
    with no_pixel_decoding(CORPUS_TIER.max_pixels):
        header = admit(data, CORPUS_TIER)
    assert header.orientation == 1
    assert decode(data, header).size == header.oriented_size == (40, 20)


def test_an_early_exif_orientation_still_rotates() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode_image(photo(40, 20), "PNG", exif=exif)
    header = admit(data, CORPUS_TIER)
    assert header.orientation == 6 and decode(data, header).size == (20, 40)


def test_a_bomb_with_exif_is_still_refused_from_the_header() -> None:
    side = 20_000
    row = b"\x00" * (1 + (side + 7) // 8)
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(row * 64, 9))
        + png_chunk(b"eXIf", b"MM\x00*\x00\x00\x00\x08\x00\x00")
        + png_chunk(b"IEND", b"")
    )
    with no_pixel_decoding(CORPUS_TIER.max_pixels), pytest.raises(ImageTooLargeError):
        admit(data, CORPUS_TIER)
