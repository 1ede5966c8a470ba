"""Tune glibc's allocator for a server that moves large bodies through short-lived buffers.

An upload arrives through uvicorn as a stream of ~64-256 KiB `bytes` objects, each allocated and
freed within microseconds. With glibc's default `M_TOP_PAD` (128 KiB) the heap top is trimmed back
after every free and grown again by the next chunk, so each chunk costs `brk` calls and fresh page
faults: on the reference machine that kernel time capped one upload stream at ~750 MB/s, and a
4 MiB pad lifts the same stream to ~2.5 GB/s (bench/RESULTS.md). The pad is memory the process
keeps at the top of its heap, at most a few MiB.

Other C libraries (musl, macOS) have no `mallopt`; there this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("reelhouse")

M_TOP_PAD = -2  # from glibc's malloc.h
M_MMAP_THRESHOLD = -3
TOP_PAD_BYTES = 4 * 1024 * 1024
# Setting any of these turns off glibc's sliding mmap threshold, which would otherwise have risen
# past the body chunks' size: fix it above them, or every chunk over 128 KiB is its own mapping.
MMAP_THRESHOLD_BYTES = 1024 * 1024


def keep_heap_top(pad_bytes: int = TOP_PAD_BYTES) -> bool:
    """Ask glibc to keep `pad_bytes` at the top of the heap instead of trimming after each free.

    Returns whether the C library accepted it.
    """
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    accepted = bool(mallopt(M_TOP_PAD, pad_bytes)) and bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    if not accepted:
        log.debug("mallopt(M_TOP_PAD) was refused; uploads will spend more time in the kernel")
    return accepted
