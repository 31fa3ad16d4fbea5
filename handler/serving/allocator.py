"""The C allocator: large blocks are mapped, and unmapped as soon as they are freed."""

from __future__ import annotations

import ctypes
import sys
from typing import Any

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

    Called once the ONNX sessions exist: making them with the fixed threshold maps and faults in
    every large temporary afresh (u2net: 250,000 page faults, ~1.1 s, against 150,000 and ~0.85 s
    with glibc's own threshold); what they leave free in the heap is trimmed here instead.
    """
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)  # first give back what is free in the heap now (the sessions' leftovers)
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))


def _glibc() -> Any:
    """glibc's C library, or None (another OS, or musl, which has no libc.so.6)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 (both must exist)
    except (OSError, AttributeError):
        return None
    return libc
