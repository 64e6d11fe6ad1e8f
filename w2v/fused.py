"""The fused CPU step (w2v/fused_op.cc): built with g++ against the installed TensorFlow on first
use, cached by source, TensorFlow version and compiler flags, and loaded with ``tf.load_op_library``.

It runs word2vec.c's per-pair SGD for the ``neg`` loss as one op, several times faster on a CPU than
the same step made of TensorFlow's gather and scatter ops (see the README for the numbers).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import tensorflow as tf

from w2v.config import Config
from w2v.errors import W2VError

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("fused_op.cc")
# Each step has a fixed cost (a turn of the tf.function loop, handing the batch to the threads and
# waiting for the slowest): at 4096 pairs it is about a third of the step, from 16384 on it is lost in
# the noise (benchmarks/speed_vs_gensim.py, README). Per-pair SGD makes the batch a unit of work only.
FULL_SPEED_BATCH = 16384


def cache_dir() -> Path:
    """Where built ops are kept: $XDG_CACHE_HOME/w2v/ops, else ~/.cache/w2v/ops."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "w2v" / "ops"


def _command(output: Path) -> list[str]:
    return [os.environ.get("CXX", "g++"), "-shared", "-fPIC", "-O3", "-fopenmp-simd", "-o", str(output), str(SOURCE),
            *tf.sysconfig.get_compile_flags(), *tf.sysconfig.get_link_flags()]


@functools.cache
def load() -> object:
    """The op library (building it if this source and TensorFlow have not been built yet); a
    W2VError saying why when it cannot be built."""
    command = _command(Path("out"))
    key = hashlib.sha256(SOURCE.read_bytes() + f"{tf.__version__} {sys.platform} {' '.join(command)}".encode())
    library = cache_dir() / f"w2v_fused-{key.hexdigest()[:16]}.so"
    if not library.exists():
        if shutil.which(command[0]) is None:
            raise W2VError(f"train.kernel fused: no C++ compiler ({command[0]}) to build {SOURCE.name}; "
                           f"install g++ or set train.kernel=tf")
        library.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=library.parent) as tmp:
            built = Path(tmp) / library.name
            log.warning("building the fused training op (once per TensorFlow version, about 10 s)")
            done = subprocess.run(_command(built), capture_output=True, text=True)
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["no output"])[-1]
                raise W2VError(f"train.kernel fused: building {SOURCE.name} failed ({last}); set train.kernel=tf")
            os.replace(built, library)  # atomic: concurrent builders each publish a whole file
    return tf.load_op_library(str(library))


def applies(config: Config, strategy: tf.distribute.Strategy) -> str | None:
    """Why the fused step cannot train this config (None when it can)."""
    model, train = config.model, config.train
    if model.loss != "neg" or model.architecture != "skipgram":
        return f"it trains loss neg with skipgram only (not {model.loss} with {model.architecture})"
    if train.optimizer != "sgd" or train.clip != "none":
        return "it applies plain sgd without clipping"
    if strategy.num_replicas_in_sync != 1 or isinstance(strategy, tf.distribute.ParameterServerStrategy):
        return "it runs on one device (no tf.distribute strategy)"
    if tf.config.list_logical_devices("GPU"):
        return "it has a CPU kernel only"
    return None


def enabled(config: Config, strategy: tf.distribute.Strategy) -> bool:
    """Whether to use the fused step: train.kernel fused (refused with the reason when it cannot
    apply) or auto (where it applies and builds; else the TensorFlow ops, with a note). A fused run
    with a batch too small for full speed gets a warning."""
    kind = config.train.kernel
    if kind == "tf":
        return False
    reason = applies(config, strategy)
    if reason:
        if kind == "fused":
            raise W2VError(f"config key train.kernel: fused cannot train this run: {reason}")
        return False
    try:
        load()
    except W2VError as e:
        if kind == "fused":
            raise
        log.warning("%s; training with TensorFlow ops instead", e)
        return False
    if config.train.batch_size < FULL_SPEED_BATCH:
        log.warning("train.batch_size %d is small for the fused step: a fixed cost per step slows it; "
                    "%d or more trains at full speed (its per-pair SGD makes the batch a unit of work only)",
                    config.train.batch_size, FULL_SPEED_BATCH)
    return True


def step(embedding: tf.Variable, weights: tf.Variable, inputs: tf.Tensor, labels: tf.Tensor,
         noise: tuple[tf.Tensor, tf.Tensor], negatives: int, key: tf.Tensor, learning_rate: tf.Tensor,
         threads: int) -> tf.Tensor:
    """One fused step in place on the two tables; each example's loss.

    ``noise`` is the noise distribution's alias table (accept, alias) and ``key`` the [2] int64 key
    (seed, step) of the counter-based stream the op draws ``negatives`` noise words an example from.
    """
    accept, alias = noise
    return load().w2v_skipgram_neg_train(embedding.handle, weights.handle, tf.cast(inputs, tf.int32),
                                         tf.cast(labels, tf.int32), accept, tf.cast(alias, tf.int32),
                                         tf.cast(key, tf.int64), tf.cast(learning_rate, tf.float32),
                                         negatives=negatives, threads=threads)
