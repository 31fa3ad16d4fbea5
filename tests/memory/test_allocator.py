"""glibc's allocator as handler/serving/allocator.py sets it: a freed full-size image leaves the
resident set, and strip-sized work reuses the same memory instead of faulting in fresh pages
for every strip. Read in a fresh process, since mallopt changes the whole process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support import REPO

SCRIPT = r"""
import json, resource
from PIL import Image
from handler.serving.allocator import MMAP_THRESHOLD_BYTES, return_large_blocks

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20

def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

applied = return_large_blocks()
strip = (1024, 512)  # 2 MiB of RGBA, as compose's strips
Image.new("RGBA", strip).close()  # the heap grows once
before = faults()
for _ in range(STRIPS):
    images = [Image.new("RGBA", strip, (1, 2, 3, 4)) for _ in range(3)]
    del images
strip_faults = faults() - before

idle = rss_mb()
big = Image.new("RGBA", (4000, 3000), (9, 9, 9, 9))  # a 12 MP image: 46 MiB
held = rss_mb()
del big
freed = rss_mb()
print(json.dumps({"applied": applied, "threshold": MMAP_THRESHOLD_BYTES,
                  "strip_faults": strip_faults, "idle": idle, "held": held, "freed": freed}))
"""
STRIPS = 40
PAGES_PER_STRIP_SET = 3 * (2 << 20) // 4096  # what each round faults in when its memory is fresh


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc and /proc")
def test_strips_reuse_memory_and_a_freed_image_leaves_rss() -> None:
    script = SCRIPT.replace("STRIPS", str(STRIPS))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["applied"], result
    # 2 MiB strips come from the heap and its free top is kept: a few pages, not ~1,500 a round.
    assert result["strip_faults"] < STRIPS * PAGES_PER_STRIP_SET / 20, result
    # A full-size image is mapped on its own: freeing it gives its memory back at once.
    assert result["held"] - result["idle"] > 40, result
    assert result["freed"] - result["idle"] < 4, result
