"""CPU bombs: what refusing them costs, and whether a decode past its deadline truly stops.

    .venv/bin/python bench/cpu_bombs.py [--side 8000] [--budget 2] [--window 3]

1. Refusal: the issue's bombs (an 8000x8000 progressive JPEG with 5,000 repeated scans, a 64x48
   PNG with 800,000 empty chunks) through admit: time to the 422.
2. The deadline: a bomb just inside the structure limits (20 scans at 64 MP, which admit lets
   through at 2,048 MB) decoded in a worker thread, the way the API runs an image,
   with and without a deadline `--budget` seconds ahead. At the deadline the main thread
   "answers" (as run_within does with its 503), then measures the process's CPU time over the
   next `--window` seconds and when the worker ends. Without a deadline the worker runs on.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: the repository's packages come from its root
    sys.path.insert(0, str(REPO))

from handler.core.admit import admit  # noqa: E402
from handler.core.decode import decode  # noqa: E402
from handler.core.structure import jpeg_scan_limit  # noqa: E402
from handler.core.tiers import MemoryTier  # noqa: E402
from handler.errors import CutoutError  # noqa: E402
from tests.memory.bombs import jpeg_scan_bomb, png_chunk_bomb  # noqa: E402


def refusal(name: str, data: bytes, tier: MemoryTier) -> None:
    started = time.perf_counter()
    try:
        admit(data, tier)
        outcome = "admitted"
    except CutoutError as exc:
        outcome = f"{exc.status} {exc.code}: {exc.message}"
    ms = (time.perf_counter() - started) * 1000
    print(f"{name} ({len(data) / 1e6:.2f} MB): {outcome} in {ms:.1f} ms")


def after_answer(
    data: bytes, tier: MemoryTier, budget_s: float | None, wait_s: float, window_s: float
) -> None:
    header = admit(data, tier)
    outcome: list[str] = []
    cpu_at_end: list[float] = []

    def work() -> None:
        deadline = None if budget_s is None else time.monotonic() + budget_s
        try:
            decode(data, header, deadline=deadline)
            outcome.append("decoded")
        except CutoutError as exc:
            outcome.append(exc.code)
        finally:
            cpu_at_end.append(time.thread_time())

    worker = threading.Thread(target=work, daemon=True)
    started = time.monotonic()
    worker.start()
    worker.join(wait_s)  # the answer: a 503 at the budget, as run_within gives
    answered = time.monotonic()
    if not worker.is_alive():
        print(f"finished before the answer: {outcome[0]}, worker CPU {cpu_at_end[0]:.2f} s")
        return
    assert worker.ident is not None
    clock = time.pthread_getcpuclockid(worker.ident)
    cpu_at_answer = time.clock_gettime(clock)
    worker.join(window_s)
    ended = None if worker.is_alive() else time.monotonic()
    cpu_after = cpu_at_end[0] if ended is not None else time.clock_gettime(clock)
    cpu_in_window = cpu_after - cpu_at_answer
    label = "no deadline" if budget_s is None else f"deadline {budget_s:.0f} s"
    stop = (
        f"worker ended {ended - answered:.2f} s after the answer ({outcome[0]})"
        if ended is not None
        else f"worker still running {window_s:.0f} s after the answer"
    )
    print(
        f"{label}: answered at {answered - started:.1f} s (worker CPU {cpu_at_answer:.2f} s); "
        f"{stop}; worker CPU after the answer: {cpu_in_window:.2f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", type=int, default=8000)
    parser.add_argument("--budget", type=float, default=2.0)
    parser.add_argument("--window", type=float, default=3.0)
    args = parser.parse_args()
    tier = MemoryTier.for_memory(2048)
    refusal("JPEG with 5,000 repeated scans", jpeg_scan_bomb(args.side, 5000), tier)
    refusal("PNG with 800,000 empty chunks", png_chunk_bomb(800_000), tier)
    refusal(
        "PNG with 800,000 empty chunks after IDAT", png_chunk_bomb(800_000, after_pixels=True), tier
    )
    scans = jpeg_scan_limit(args.side * args.side)
    inside = jpeg_scan_bomb(args.side, scans - 6)  # 6 scans of its own
    print(f"bomb inside the limits: {args.side}x{args.side}, {scans} scans, {len(inside)} bytes")
    started = time.perf_counter()
    decode(inside, admit(inside, tier))
    print(f"decoded to the end, no deadline: {time.perf_counter() - started:.1f} s")
    after_answer(inside, tier, args.budget, args.budget, args.window)
    after_answer(inside, tier, None, args.budget, args.window)  # last: its worker runs on
    return 0


if __name__ == "__main__":
    sys.exit(main())
