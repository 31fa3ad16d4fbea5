"""No growth: a warm Lambda process's RSS stays flat over many API invocations."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO

# The benchmark's goal is 3 % over 500 invocations; this short run allows more for noise.
MAX_GROWTH = 0.10


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_rss_after_the_last_invocation_is_close_to_after_the_tenth(tmp_path: Path) -> None:
    result_file = tmp_path / "growth.json"
    command = [sys.executable, str(REPO / "bench" / "growth.py"), "--invocations", "40"]
    command += ["--reference", "10", "--small", "--json", str(result_file)]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024"},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(result_file.read_text())
    assert result["statuses"] == {"200": 40}
    assert result["growth"] <= MAX_GROWTH, result
