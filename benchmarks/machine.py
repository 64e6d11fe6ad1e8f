"""The machine a benchmark ran on, as every table names it: the CPU's model and family/model, whether it has
AVX-512 and which instruction set w2v's engine runs with (W2V_ENGINE_ISA narrows it), the OPENBLAS_* variables
in force. A ratio measured on one CPU holds on that one only."""

from __future__ import annotations

import os


def cpu() -> str:
    """One line: model, family/model, AVX-512 or not, the engine's instruction set, cores, OPENBLAS_*."""
    from w2v import fused

    info = open("/proc/cpuinfo").read()
    field = lambda name: next((line.split(":", 1)[1].strip() for line in info.splitlines()  # noqa: E731
                               if line.startswith(name)), "?")
    flags = field("flags").split()
    blas = ", ".join(f"{k}={v}" for k, v in os.environ.items() if k.startswith("OPENBLAS_")) or "no OPENBLAS_*"
    return (f"{field('model name')} (family {field('cpu family')}, model {field('model')}), "
            f"{'AVX-512' if 'avx512f' in flags else 'AVX2, no AVX-512'}, w2v engine {fused.isa()}, "
            f"{len(os.sched_getaffinity(0))} cores; {blas}")
