"""The fused CPU engine (w2v/fused_op.cc) and the pipeline's keep and windows ops (w2v/windows_op.cc): built
with g++ against the installed TensorFlow on first use, cached by source, TensorFlow version and compiler flags, and
loaded with ``tf.load_op_library``.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

import tensorflow as tf

from w2v import compiled
from w2v.errors import W2VError

log = logging.getLogger(__name__)

SOURCES = [Path(__file__).with_name(name) for name in ("fused_op.cc", "windows_op.cc")]
NAMES = " and ".join(path.name for path in SOURCES)
HEADERS = [Path(__file__).with_name(name) for name in ("fused_threads.h", "fused_window.h")]
# Windows a group of the deterministic mode: they are scored against the tables as the group found them,
# then their updates are added. A group is a few thousand row updates, as stale as the tf kernel's batches
# of 1024 pairs (which learn as well as word2vec.c). Fewer windows mean more waiting at the barriers; more
# mean a group's record of updates outgrows the core's cache. A skip-gram window keeps a row a context
# word (about 5 of them), a CBOW window two in all: measured best, 512 and 1024 windows (skip-gram's 512
# learn as well as 256: 41.4% analogies against 41.3% after 5 epochs of Gutenberg).
GROUP = {"skipgram": 512, "cbow": 1024}
# hs's groups: its outputs are the nodes on the centre word's path, which all start at the root, so a group
# adds as many stale updates to the few rows near the root as it has windows. After an epoch of Gutenberg,
# skip-gram hs learnt 13.2% analogies with groups of 512 against 18.6% with 128 and 19.4% with 32 (Hogwild
# 20.5%, gensim 20.0%); CBOW hs 7.3% with 1024 against 16.3% with 64 (Hogwild 17.1%, gensim 16.9%).
HS_GROUP = {"skipgram": 32, "cbow": 64}


# The instruction sets the engine's arithmetic may use (its target_clones, fused_window.h), from the best: the
# CPU runs the first it has. W2V_ENGINE_ISA=avx2 or baseline builds an engine without the sets above it (cached
# apart), to measure one set against another on the same CPU; the results are the same bits.
ISAS = {"avx512": ("avx512f", "avx2", "default"), "avx2": ("avx2", "default"), "baseline": ("default",)}
ISA_VARIABLE = "W2V_ENGINE_ISA"


def _targets() -> tuple[str, ...]:
    """The clones to build: every one, or those W2V_ENGINE_ISA allows."""
    chosen = os.environ.get(ISA_VARIABLE, "avx512")
    if chosen not in ISAS:
        raise W2VError(f"environment variable {ISA_VARIABLE}: {chosen!r} is not one of {', '.join(ISAS)}")
    return ISAS[chosen]


def isa() -> str:
    """The instruction set the engine's arithmetic runs with on this CPU: avx512, avx2 or baseline (as
    W2V_ENGINE_ISA allows and /proc/cpuinfo's flags offer; GCC's dispatch picks the same)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        flags = []
    first = next(t for t in _targets() if t == "default" or t in flags)
    return next(name for name, targets in ISAS.items() if targets[0] == first)


def _command(output: Path) -> list[str]:
    # -fno-trapping-math: nothing here reads floating-point exception flags, and without it GCC does not
    # vectorise a loop whose divisions sit behind a branch it made itself (the engine's gradients: it
    # splits off the logits beyond exp's range). It changes no result. -ffp-contract=off: AVX-512 has fused
    # multiply-adds, which GCC used in that clone alone, so an AVX-512 CPU trained other bits than an AVX2
    # one (a run resumed on the other kind diverged); without them every clone gives the same bits, at a
    # cost within noise on a Zen 4 (deterministic mode 4.25-4.50M examples/s against 4.48-4.50M with them,
    # benchmarks/engine_modes.py runs alternated).
    targets = _targets()
    narrowed = [] if targets == ISAS["avx512"] else ["-DW2V_TARGETS=" + ",".join(f'"{t}"' for t in targets)]
    if targets == ISAS["baseline"]:
        narrowed.append("-Wno-attributes")  # GCC's warning that a single clone is no clone: meant
    return [os.environ.get("CXX", "g++"), "-shared", "-fPIC", "-O3", "-fopenmp-simd", "-fno-trapping-math",
            "-ffp-contract=off", *narrowed, "-o", str(output),
            *map(str, SOURCES), *tf.sysconfig.get_compile_flags(), *tf.sysconfig.get_link_flags()]


@functools.cache
def load() -> object:
    """The op library, built first if this source and TensorFlow have not been built yet; a W2VError
    saying why when it cannot be built."""
    def announce(compiler: str, directory: Path) -> None:
        # Keyed by the source and the build command, whose paths are the install's.
        log.warning("building the fused training engine with %s (once per install of w2v and TensorFlow, about "
                    "20 s); cached in %s", compiler, directory)

    try:
        path = compiled.library("w2v_fused", [*SOURCES, *HEADERS], _command, tf.__version__, announce)
    except compiled.NoCompiler as e:
        raise W2VError(f"train.kernel fused: {e} to build {NAMES}; install g++ (or set CXX) for the fast "
                       f"CPU engine, or set train.kernel=tf") from None
    except compiled.BuildError as e:
        raise W2VError(f"train.kernel fused: building {NAMES} failed ({e}); set train.kernel=tf") from None
    return tf.load_op_library(str(path))


def default_threads() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def train(model: object, rows: tf.Tensor, mask: tf.Tensor, targets: tf.Tensor, windows: tf.Tensor, step: tf.Tensor,
          learning_rate: tf.Tensor, threads: int, hogwild: bool) -> tf.Tensor:
    """One step of the engine on ``model``'s tables, in place; each example's loss.

    Skip-gram: ``rows`` [B] are the context words, ``targets`` [B] the centre words, and examples with
    equal ``windows`` (their centre word's stream position) form one window. CBOW: ``rows`` [B, C] the
    context words with ``mask`` [B, C] marking the real ones. The noise words come from the model's
    alias table, drawn by a hash of (its noise key for ``step``, window); with hs, the output rows are
    the nodes on the centre word's path in the model's Huffman tree; with subwords, a word's input is the
    mean of its rows (its own and its n-grams'). Rows below ``model.frozen`` (input,
    output) stay as they are.
    """
    tree = model.loss_kind.tree
    nothing = tf.zeros([0], tf.int32)
    return load().w2v_train(model.embedding.handle, model.output_weights.handle, model.output_biases.handle,
                            tf.cast(rows, tf.int32), tf.cast(mask, tf.float32), tf.cast(targets, tf.int32),
                            tf.cast(windows, tf.int64), model.noise_accept, tf.cast(model.noise_alias, tf.int32),
                            model.correction, model.tree_paths if tree else nothing,
                            model.tree_codes if tree else nothing, tf.constant(model.frozen, tf.int32),
                            nothing if model.subword_ids is None else model.subword_offsets,
                            nothing if model.subword_ids is None else model.subword_ids,
                            model.noise_key(step), tf.cast(learning_rate, tf.float32),
                            negatives=model.num_sampled if model.loss_kind.sampled else 0, threads=threads,
                            hogwild=hogwild, group=(HS_GROUP if tree else GROUP)["cbow" if rows.shape.rank == 2
                                                                                  else "skipgram"])
