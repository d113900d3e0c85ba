"""The C allocator's threshold for large blocks, fixed so that a long sync's memory stays flat.

Each page of records arrives as a body of about a megabyte (500 partners, 74 fields), decoded
into a string as large. glibc's ``malloc`` gives a block that large a mapping of its own at
first, but the first time it frees one it raises its threshold above that size (up to 32 MiB):
every later body is then carved out of the heap, among the page's smaller objects, and the
heap's free space fragments instead of going back to the system. Measured on a full sync
(prepare and step in one process, pages of 500): the peak memory grew with the number of
pages, 129 MiB at 100,000 partners, 151 at 300,000, 154 at a million, while the memory in use
after the sync was 59 MiB at each size (``malloc_trim`` gave the rest back). With the threshold
fixed at glibc's default of 128 KiB, each large block is mapped and unmapped on its own: 97 MiB
at 100,000 partners and 99 at 300,000 (76 and 77 at 100,000 and a million since a body is
decoded once, transport.py). The price is the page faults of mapping those blocks afresh:
0.42 s of system CPU against 0.23 for a full sync of 50,000 partners (4 runs each, alternated),
about 3% of the client's CPU.

Fixing the threshold is a process-wide choice, made once by the commands that read pages. A
user who sets ``MALLOC_MMAP_THRESHOLD_`` (glibc's variable for it) keeps their own; other C
libraries are left alone.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform

# From glibc's <malloc.h>: the mallopt parameter, and the threshold it starts with.
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 128 * 1024
OVERRIDE = "MALLOC_MMAP_THRESHOLD_"


@functools.cache
def keep_large_blocks_apart() -> bool:
    """Fix glibc's mmap threshold at 128 KiB, once per process; whether it was set here."""
    if platform.libc_ver()[0] != "glibc" or OVERRIDE in os.environ:
        return False
    try:
        libc = ctypes.CDLL(None)  # the process's own symbols, glibc's among them
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    except (OSError, AttributeError):
        return False
