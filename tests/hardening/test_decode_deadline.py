"""A decode that overruns its time stops, and gives back its memory reservation.

No wall clock: the deadline is read from a clock the test controls (one tick per read of the
input, so the budget is counted in chunks), or it has already passed.
"""

from __future__ import annotations

import time
import types
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from handler.core.admit import admit
from handler.core.decode import DEADLINE_READ_BYTES, decode
from handler.core.options import RemoveOptions
from handler.core.pipeline import render
from handler.core.predict import U2NetModel
from handler.core.tiers import MemoryTier
from handler.errors import ProcessingTimeoutError
from handler.serving import service as service_module
from handler.serving.budget import MemoryBudget
from handler.serving.service import CutoutService
from tests.memory.bombs import jpeg_scan_bomb, png_chunk_bomb
from tests.support import encode_image, photo

TIER = MemoryTier.for_memory(2048)


def ticking() -> tuple[Callable[[], float], list[int]]:
    """A clock that moves one tick each time it is read: each read of the input is a tick."""
    reads = [0]

    def clock() -> float:
        reads[0] += 1
        return float(reads[0])

    return clock, reads


def test_an_expired_deadline_stops_the_decode_at_once() -> None:
    data = encode_image(photo(64, 48), "JPEG")
    with pytest.raises(ProcessingTimeoutError):
        decode(data, admit(data, TIER), deadline=time.monotonic() - 1.0)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(jpeg_scan_bomb(side=512, scans=50), id="progressive-jpeg-scans"),
        pytest.param(png_chunk_bomb(5_000, after_pixels=True), id="png-chunks-after-pixels"),
    ],
)
def test_a_decode_stops_between_chunks_once_its_budget_is_spent(data: bytes) -> None:
    header = admit(data, TIER)
    clock, reads = ticking()
    decode(data, header, deadline=10**9, clock=clock)  # the whole decode, for comparison
    needed = reads[0]
    assert needed > 20  # the input is fed in many chunks (DEADLINE_READ_BYTES or PNG chunks)
    budget = needed // 2
    clock, reads = ticking()
    with pytest.raises(ProcessingTimeoutError):
        decode(data, header, deadline=budget, clock=clock)
    assert reads[0] == budget + 1  # it stopped at the first read past the budget


def test_a_deadline_decode_gives_the_same_pixels() -> None:
    noise = np.random.default_rng(3).integers(0, 256, size=(200, 300, 3), dtype=np.uint8)
    data = encode_image(Image.fromarray(noise), "JPEG", progressive=True)
    header = admit(data, TIER)
    assert len(data) > DEADLINE_READ_BYTES  # so the decode is fed in several chunks
    plain = np.asarray(decode(data, header))
    bounded = np.asarray(decode(data, header, deadline=time.monotonic() + 600))
    assert np.array_equal(plain, bounded)


def test_no_stage_starts_past_the_deadline(model: U2NetModel) -> None:
    data = encode_image(photo(64, 48), "PNG")
    with pytest.raises(ProcessingTimeoutError):
        render(data, admit(data, TIER), RemoveOptions(), model=model, deadline=time.monotonic() - 1)


def test_a_timed_out_image_gives_back_its_reservation(
    model: U2NetModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    budget = MemoryBudget(TIER.image_budget_bytes())
    service = CutoutService(model=model, tier=TIER, budget=budget)
    reserved = []
    real_reserve = budget.reserve

    def spy(estimate: int) -> object:
        reserved.append(estimate)
        return real_reserve(estimate)

    monkeypatch.setattr(budget, "reserve", spy)
    # The service's clock says the time budget ran out the moment it was given.
    clock = types.SimpleNamespace(monotonic=lambda: -1e9, perf_counter=time.perf_counter)
    monkeypatch.setattr(service_module, "time", clock)
    data = jpeg_scan_bomb(side=512, scans=50)
    with pytest.raises(ProcessingTimeoutError):
        service.remove(data, RemoveOptions(), time_budget_s=30.0)
    assert reserved and budget.in_use == 0
    # and the next image is answered
    assert service.remove(encode_image(photo(64, 48)), RemoveOptions()).data
