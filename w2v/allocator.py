"""glibc's malloc, set up for the `w2v` process: fewer arenas, and large blocks always mapped on their own.

Arenas. glibc gives a thread that finds the arenas busy one of its own, up to 8 per core, and memory freed into
an arena stays with it: TensorFlow's threads allocating the temporaries of a multi-worker sync (gathered rows,
all-reduce buffers, of varying sizes) spread them over many arenas, each keeping its high-water mark. Measured
(`/usr/bin/time`, 1 epoch of Gutenberg, 2 loopback workers syncing every 10 steps): 1.15 and 1.12 GB peak per
worker with glibc's default, 0.95 and 0.94 GB with 2 arenas; one process 747 against 742 MB, at the same speed.

The mmap threshold. A block at least that large gets pages of its own, given back to the system when it is freed;
glibc starts it at 128 KiB but raises it to the size of each such block freed (up to 32 MiB), so after TensorFlow
frees its first large temporaries (a table's copy for a checkpoint: 24-31 MB here), blocks of that size come from
the heap, where freed memory stays. Fixed at 8 MiB, it stays above a training step's tensors (up to 4 MiB), which
the heap serves without a page fault each, and below the tables' copies. Measured (1 epoch of Gutenberg,
dimension 128, one process): peak 693-696 MB with glibc's moving threshold (3 runs), 682 MB fixed at 8 MiB, 674 MB
at 4 MiB, 662-664 MB at 128 KiB (3 runs), which maps and unmaps a step's tensors: 5,600 more mmap/munmap pairs in
an epoch of configs/base.yaml (`strace -c`), and perhaps 10% slower there (within this machine's noise).
"""

from __future__ import annotations

import ctypes
import os

ARENAS = 2
MMAP_THRESHOLD = 8 << 20
# glibc's malloc.h
M_ARENA_MAX = -8
M_MMAP_THRESHOLD = -3


def configure() -> None:
    """Cap this process's malloc arenas at ARENAS and fix its mmap threshold at MMAP_THRESHOLD, each unless its
    environment variable (MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_, which glibc read at start-up) already says;
    nothing where the C library is not glibc, whose parameters these are."""
    try:
        libc = ctypes.CDLL(None)  # the process's own symbols, libc's among them (no search for the library)
    except (OSError, TypeError):  # no such handle (Windows)
        return
    if not hasattr(libc, "gnu_get_libc_version"):
        return
    for variable, parameter, value in (("MALLOC_ARENA_MAX", M_ARENA_MAX, ARENAS),
                                       ("MALLOC_MMAP_THRESHOLD_", M_MMAP_THRESHOLD, MMAP_THRESHOLD)):
        if variable not in os.environ:
            libc.mallopt(parameter, value)
