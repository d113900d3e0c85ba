"""The allocator's threshold for large blocks (allocator.py), seen from glibc's own figures.

Each case runs in a fresh interpreter: the threshold is process-wide and set once. A block of
2 MiB is made and freed (glibc maps it, and on freeing it raises its threshold above 2 MiB), then
another is made and held: ``mallinfo2().hblkhd``, the bytes glibc holds in mappings of their
own, says whether it was mapped apart or carved out of the heap.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

BLOCK = 2 << 20
PROBE = f"""
import ctypes, sys
from odoo_sync_cli.allocator import keep_large_blocks_apart

class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Mallinfo2
fixed = keep_large_blocks_apart() if sys.argv[1] == "fixed" else None
block = b"x" * {BLOCK}
del block
held = b"y" * {BLOCK}
print(fixed, libc.mallinfo2().hblkhd)
"""

glibc = platform.libc_ver()[0] == "glibc"


def probe(mode: str, **environ: str) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        capture_output=True,
        text=True,
        check=True,
        env={**env, **environ},
    )
    fixed, mapped = out.stdout.split()
    return fixed, int(mapped)


@pytest.mark.skipif(not glibc, reason="the threshold is glibc's; elsewhere nothing is set")
def test_a_large_block_is_mapped_apart_once_the_threshold_is_fixed() -> None:
    fixed, mapped = probe("fixed")
    assert fixed == "True"
    assert mapped >= BLOCK


@pytest.mark.skipif(not glibc, reason="the threshold is glibc's; elsewhere nothing is set")
def test_without_it_glibc_carves_the_second_block_out_of_the_heap() -> None:
    # What the fix is for: the probe tells the two cases apart.
    fixed, mapped = probe("default")
    assert fixed == "None"
    assert mapped < BLOCK


@pytest.mark.skipif(not glibc, reason="the threshold is glibc's; elsewhere nothing is set")
def test_a_threshold_the_user_set_is_kept() -> None:
    fixed, mapped = probe("fixed", MALLOC_MMAP_THRESHOLD_="4194304")
    assert fixed == "False"
    assert mapped < BLOCK  # 4 MiB: the 2 MiB block is in the heap, as the user asked
