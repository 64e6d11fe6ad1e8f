"""TensorFlow without its start-up noise on stderr.

Importing TensorFlow, and its first look for devices, print lines from C++ before its logging is set
up, so TF_CPP_MIN_LOG_LEVEL cannot silence them ("All log messages before absl::InitializeLog()",
"Could not find cuda drivers", "failed call to cuInit", oneDNN and CPU-feature notes). ``tensorflow()``
does both with the process's stderr file descriptor held in a temporary file, then writes back every
line that is not such a note: a real error still shows.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from types import ModuleType

# Notes TensorFlow prints while it starts on a machine without a GPU (or with one it cannot use).
NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IWE]\d{4} [\d:. ]+\d+ (cudart_stub|cuda_platform|cuda_executor|cuda_diagnostics|cuda_dnn|cuda_fft|cuda_blas"
    r"|port|cpu_feature_guard|gpu_device|dso_loader)\.cc:\d+\] .*"
    r"|To enable the following instructions: .*|rebuild TensorFlow with the appropriate compiler flags\.)\s*$")


@contextlib.contextmanager
def _held_stderr() -> Iterator[list[str]]:
    """Everything written to file descriptor 2 inside the block, as lines (given back afterwards)."""
    sys.stderr.flush()
    saved = os.dup(2)
    lines: list[str] = []
    with tempfile.TemporaryFile(mode="w+b") as held:
        os.dup2(held.fileno(), 2)
        try:
            yield lines
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines.extend(held.read().decode("utf-8", "replace").splitlines())


# TensorFlow imports Keras 3 at start-up whether it is used or not ("keras.src.optimizers", for SavedModel
# registrations of Keras optimizers): 570 modules, about 20 MB of a training process's peak and a few tenths of a
# second here. w2v never uses Keras. Told to use legacy Keras (TF_USE_LEGACY_KERAS), TensorFlow imports
# ``tf_keras`` instead and goes on without it when it is not installed. The variable is set for the import only,
# so ``tf.keras`` still resolves to Keras 3 for code that asks for it later.
LEGACY_KERAS = "TF_USE_LEGACY_KERAS"


@contextlib.contextmanager
def _keras_skipped() -> Iterator[None]:
    saved = os.environ.get(LEGACY_KERAS)
    os.environ[LEGACY_KERAS] = "1"
    try:
        yield
    finally:
        if saved is None:
            del os.environ[LEGACY_KERAS]
        else:
            os.environ[LEGACY_KERAS] = saved


# With oneDNN's ops on (TensorFlow's default on x86), a CPU tensor larger than a few kilobytes comes from
# oneDNN's allocator, a best-fit pool that keeps each block it ever took from the system for later tensors: a
# process's memory stays at the peak of its live tensors for good. Drawing a 957k x 300 table's initial values
# left 3.5 GB resident for 1.1 GB of table; TensorFlow's own CPU allocator gives large blocks back
# (w2v/allocator.py). w2v's steps are its own engine's, gathers and scatters: the same speed without oneDNN
# (measured, tf kernel, configs/base.yaml, one epoch). Set before the import, which reads it; a user's own
# setting wins.
ONEDNN = "TF_ENABLE_ONEDNN_OPTS"


def tensorflow() -> ModuleType:
    """Import TensorFlow (oneDNN's ops off unless the environment says otherwise: ``ONEDNN``) and let it find
    its devices, keeping only what is not start-up noise on stderr (all of it when logging shows INFO, as
    ``w2v --debug`` sets it); its Python warnings are kept for errors."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault(ONEDNN, "0")
    verbose = logging.getLogger().isEnabledFor(logging.INFO)
    with contextlib.nullcontext([]) if verbose else _held_stderr() as lines, _keras_skipped():
        import tensorflow as tf

        tf.config.list_physical_devices()
    for line in lines:
        if not NOISE.match(line):
            print(line, file=sys.stderr)
    if not verbose:
        tf.get_logger().setLevel(logging.ERROR)
    return tf
