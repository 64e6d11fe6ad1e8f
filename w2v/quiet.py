"""TensorFlow without its start-up noise on stderr.

Importing TensorFlow, and its first look for devices, print lines from C++ before its logging is set
up, so TF_CPP_MIN_LOG_LEVEL cannot silence them ("All log messages before absl::InitializeLog()",
"Could not find cuda drivers", "failed call to cuInit", oneDNN and CPU-feature notes). ``tensorflow()``
does both with the process's stderr file descriptor held in a temporary file, then writes back every
line that is not such a note: a real error still shows.
"""

from __future__ import annotations

import contextlib
import importlib.abc
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


# Imported by keras, which TensorFlow imports whether it is used or not, for optional parts of its own that w2v
# never uses (scikit-learn wrappers, an image gallery): 0.8 s of TensorFlow's 4 s import here. keras does without
# them when they are missing, so they are hidden while TensorFlow loads; w2v imports them later where it needs them.
KERAS_EXTRAS = ("sklearn", "matplotlib")


class _Hidden(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.partition(".")[0] in KERAS_EXTRAS:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


@contextlib.contextmanager
def _keras_extras_hidden() -> Iterator[None]:
    hidden = _Hidden()
    sys.meta_path.insert(0, hidden)
    try:
        yield
    finally:
        sys.meta_path.remove(hidden)


def tensorflow() -> ModuleType:
    """Import TensorFlow and let it find its devices, keeping only what is not start-up noise on stderr
    (all of it when logging shows INFO, as ``w2v --debug`` sets it); its Python warnings are kept for
    errors."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    verbose = logging.getLogger().isEnabledFor(logging.INFO)
    with contextlib.nullcontext([]) if verbose else _held_stderr() as lines, _keras_extras_hidden():
        import tensorflow as tf

        tf.config.list_physical_devices()
    for line in lines:
        if not NOISE.match(line):
            print(line, file=sys.stderr)
    if not verbose:
        tf.get_logger().setLevel(logging.ERROR)
    return tf
