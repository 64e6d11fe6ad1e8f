"""The `w2v` process caps glibc's malloc arenas and fixes its mmap threshold (w2v/allocator.py), unless the
environment says otherwise."""

import ctypes
import ctypes.util
import os
import subprocess
import sys

import pytest

from w2v import allocator

CLI = """
import sys
if sys.argv[1] == "cli":
    from w2v import cli
    sys.argv = ["w2v", "--version"]
    try:
        cli.main()
    except SystemExit:
        pass
"""

# Eight threads contending for malloc (ctypes lets go of the GIL during the calls), then the arenas
# counted from glibc's own report; with "cli", after the console entry point ran.
CHURN = CLI + """
import ctypes, ctypes.util, tempfile, threading
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.fopen.restype = ctypes.c_void_p
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]

def churn():
    for _ in range(20000):
        libc.free(libc.malloc(1 << 12))

threads = [threading.Thread(target=churn) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
with tempfile.NamedTemporaryFile(suffix=".xml") as out:
    f = libc.fopen(out.name.encode(), b"w")
    libc.malloc_info(0, f)
    libc.fclose(f)
    print(open(out.name).read().count("<heap nr="))
"""

glibc = pytest.mark.skipif(not hasattr(ctypes.CDLL(ctypes.util.find_library("c")), "gnu_get_libc_version"),
                           reason="malloc arenas are glibc's")


def heaps(how: str, **env: str) -> int:
    return int(run(CHURN, how, **env))


def run(script: str, how: str, **env: str) -> str:
    """The last line a script prints, run with MALLOC_* settings from ``env`` only."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")} | env
    out = subprocess.run([sys.executable, "-c", script, how], env=environ, capture_output=True, text=True,
                         check=True).stdout
    return out.splitlines()[-1]


@glibc
def test_the_command_line_caps_the_arenas_that_threads_would_otherwise_multiply():
    assert heaps("plain") > allocator.ARENAS  # the workload does make arenas
    assert heaps("cli") == allocator.ARENAS


@glibc
def test_a_malloc_arena_max_set_by_the_user_stays():
    assert heaps("cli", MALLOC_ARENA_MAX="4") == 4


# A 16 MiB block used and freed, twice: the MiB mapped on their own for the second while it is held (mallinfo2's
# hblkhd), then what stays resident after both were freed, in MiB. glibc moves its mmap threshold
# up to the first block's size when that block is freed, so the second comes from the heap, where it stays
# after free (the first allocation of a large TensorFlow temporary, and every later one, in training); glibc
# moves its trim threshold to twice that size with it, so the freed block stays even at the heap's top. Where
# the thresholds are fixed (by the command line, or by the user's environment), the trim threshold stays at
# 128 KiB and whether a heap block is given back depends on where the imports left it: so what the mmap
# threshold decides, mapped or not, is read from glibc itself.
RETAINED = CLI + """
import ctypes, ctypes.util

class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                      "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
libc.mallinfo2.restype = Mallinfo2
SIZE = 16 << 20

def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20

def used_and_freed():
    already = libc.mallinfo2().hblkhd
    block = libc.malloc(SIZE)
    libc.memset(block, 1, SIZE)
    mapped = (libc.mallinfo2().hblkhd - already) / 2**20
    libc.free(block)
    return mapped

before = rss()
used_and_freed()
mapped = used_and_freed()
print(round(mapped), round(rss() - before))
"""


def mapped_and_retained(how: str, **env: str) -> tuple[int, int]:
    mapped, retained = run(RETAINED, how, **env).split()
    return int(mapped), int(retained)


@glibc
@pytest.mark.skipif(not hasattr(ctypes.CDLL(ctypes.util.find_library("c")), "mallinfo2"), reason="glibc before 2.33")
def test_the_command_line_gives_large_freed_blocks_back_to_the_system():
    mapped, retained = mapped_and_retained("plain")
    assert mapped == 0 and retained >= 15  # glibc's moving threshold does keep it
    mapped, retained = mapped_and_retained("cli")
    assert mapped >= 16 and retained <= 1
    mapped, _ = mapped_and_retained("cli", MALLOC_MMAP_THRESHOLD_=str(32 << 20))
    assert mapped == 0  # the user's threshold stays: the block comes from the heap
