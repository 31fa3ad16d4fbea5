"""The C allocator: large blocks are mapped, and unmapped as soon as they are freed."""

from __future__ import annotations

import ctypes
import sys
from typing import Any

# mallopt(3) parameter numbers in glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# Blocks from this size up are mapped on their own and unmapped when freed: full-size images
# (Pillow allocates them in blocks of up to 16 MiB) and ONNX Runtime's large buffers. Smaller
# ones come from the heap and are reused: the strips compose works in (~2 MiB each, and three
# or four images of that size per strip), the PNG writer's 1 MiB pieces and their numpy copies.
MMAP_THRESHOLD_BYTES = 4 << 20
# Free memory at the top of the heap up to this much stays mapped, so that the strips' memory
# is not given back and faulted in again strip after strip.
TRIM_THRESHOLD_BYTES = 8 << 20


def return_large_blocks() -> bool:
    """Fix glibc's mmap threshold at 4 MiB and its trim threshold at 8 MiB; False where that
    does not apply.

    glibc raises the mmap threshold each time a mapped block is freed (up to 32 MiB). After the
    first inference frees its tensors, Pillow's 16 MiB image blocks and ONNX Runtime's
    buffers come from the heap instead and stay resident once freed, so a freed image and
    the next stage's memory add up. Measured (docs/memory.md): a 12 MP PNG cutout peaks at
    290 MB with a fixed threshold instead of 345 MB, and idles at 80 MB instead of 99 MB.

    The threshold was 1 MiB until the strips' own allocations were measured: each 2 MiB strip
    of compose and each PNG piece was then mapped, faulted in and unmapped afresh (12 MP cutout,
    u2net: 35,000 page faults in compose, 12,700 in encode; with 4 MiB and the 8 MiB trim
    threshold, 470 and 2), and compose took 259 ms instead of 98, encode 363 instead of 301.

    Called once the ONNX sessions exist: making them with the fixed threshold maps and faults in
    every large temporary afresh (u2net: 250,000 page faults, ~1.1 s, against 150,000 and ~0.85 s
    with glibc's own threshold); what they leave free in the heap is trimmed here instead.
    """
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)  # first give back what is free in the heap now (the sessions' leftovers)
    mapped = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    return bool(mapped and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))


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
