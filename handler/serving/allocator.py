"""The C allocator: large blocks are mapped, and unmapped as soon as they are freed."""

from __future__ import annotations

import ctypes
import sys

# mallopt(3) parameter number for M_MMAP_THRESHOLD in glibc's malloc.h.
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 1 << 20


def return_large_blocks() -> bool:
    """Fix glibc's mmap threshold at 1 MiB; False where that does not apply.

    glibc raises the threshold each time a mapped block is freed (up to 32 MiB). After the
    first inference frees its tensors, Pillow's 16 MiB image blocks and ONNX Runtime's
    buffers come from the heap instead and stay resident once freed, so a freed image and
    the next stage's memory add up. Measured (docs/memory.md): a 12 MP PNG cutout peaks at
    290 MB with the fixed threshold instead of 345 MB, and idles at 80 MB instead of 99 MB.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no libc.so.6)
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
