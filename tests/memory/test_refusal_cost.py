"""Refusing a decompression bomb costs no more than the idle process plus a few MB."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.memory.bombs import jpeg_declaring, png_bomb
from tests.support import REPO

# A decode of either bomb would need GBs; refusing it may cost the file and some slack.
MAX_EXTRA_MB = 24

CHILD = """
import sys
from pathlib import Path
from handler import runtime
from handler.errors import CutoutError
from handler.core.options import RemoveOptions
outcome = "idle"
if len(sys.argv) > 1:
    try:
        runtime.service.remove(Path(sys.argv[1]).read_bytes(), RemoveOptions())
        outcome = "admitted"
    except CutoutError as exc:
        outcome = exc.code
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(outcome, int(hwm.split()[1]) / 1024)
"""


def peak_of(*args: str) -> tuple[str, float]:
    """(outcome, VmHWM in MiB) of a fresh process that may be handed a file to refuse.

    VmHWM, not ru_maxrss: ru_maxrss would also carry this test process's own peak over exec.
    """
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "CUTOUT_CACHE_DIR": "", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "2048"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    outcome, peak = done.stdout.split()
    return outcome, float(peak)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize(
    "name,data",
    [
        ("png-30000x30000.png", png_bomb(30000, 30000)),
        ("jpeg-65000x65000.jpg", jpeg_declaring(65000, 65000)),
    ],
)
def test_refusing_a_bomb_costs_about_nothing(tmp_path: Path, name: str, data: bytes) -> None:
    (tmp_path / name).write_bytes(data)
    _, idle = peak_of()
    outcome, refusing = peak_of(str(tmp_path / name))
    assert outcome == "image_too_large"
    assert refusing - idle <= MAX_EXTRA_MB + len(data) / 2**20, (idle, refusing)
