"""The `w2v` process caps glibc's malloc arenas (w2v/arenas.py), unless MALLOC_ARENA_MAX says otherwise."""

import ctypes
import ctypes.util
import os
import subprocess
import sys

import pytest

from w2v import arenas

# Eight threads contending for malloc (ctypes lets go of the GIL during the calls), then the arenas
# counted from glibc's own report; with "cli", after the console entry point ran.
CHURN = """
import ctypes, ctypes.util, sys, tempfile, threading
if sys.argv[1] == "cli":
    from w2v import cli
    sys.argv = ["w2v", "--version"]
    try:
        cli.main()
    except SystemExit:
        pass
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
    environ = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | env
    out = subprocess.run([sys.executable, "-c", CHURN, how], env=environ, capture_output=True, text=True,
                         check=True).stdout
    return int(out.splitlines()[-1])


@glibc
def test_the_command_line_caps_the_arenas_that_threads_would_otherwise_multiply():
    assert heaps("plain") > arenas.ARENAS  # the workload does make arenas
    assert heaps("cli") == arenas.ARENAS


@glibc
def test_a_malloc_arena_max_set_by_the_user_stays():
    assert heaps("cli", MALLOC_ARENA_MAX="4") == 4
