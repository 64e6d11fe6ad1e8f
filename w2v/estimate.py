"""What a run will take, said before it starts: one line with the corpus, vocabulary, model and kernel,
and rough figures for its time and peak memory (a warning when its tables will not fit in memory)."""

from __future__ import annotations

import os

import numpy as np

from w2v.config import Config
from w2v.vocab import EncodedCorpus

# Rough training speeds, in (centre, context) pairs a second and thread at dimension 128 on a current
# CPU core: the fused engine's deterministic mode and Hogwild, and the tf kernel's whole process. The
# README and benchmarks/speed_vs_gensim.py have measured figures; these only size the estimate.
PAIRS_PER_SECOND = {"fused": 1.0e6, "hogwild": 1.3e6, "tf": 2.5e5}
RUNTIME_BYTES = 700 << 20  # TensorFlow, the input pipeline's buffers and Python


def pairs_per_epoch(corpus: EncodedCorpus, config: Config) -> float:
    """Skip-gram pairs (or CBOW context words) an epoch gives: the words subsampling keeps, times the
    window word2vec's reduced radius averages, (window + 1) context words."""
    kept = float(np.sum(corpus.vocab.counts * corpus.vocab.keep_probabilities(config.data.subsample)))
    return kept * (config.data.window + 1)


def _available_memory() -> int | None:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def plan(config: Config, corpus: EncodedCorpus, kernel: str, threads: int) -> tuple[str, str | None]:
    """The line to show before training, and a warning when the tables will not fit in memory."""
    model, train = config.model, config.train
    vocab = len(corpus.vocab)
    slots = {"sgd": 0, "adagrad": 1, "adam": 2}[train.optimizer]
    rows = 2 * vocab + (model.buckets if model.subwords else 0)  # input and output tables
    tables = rows * model.embedding_dim * 4 * (1 + slots)
    speed = PAIRS_PER_SECOND["hogwild" if kernel == "fused" and train.hogwild else kernel]
    speed *= (threads if kernel == "fused" else 1) * 128 / max(model.embedding_dim, 32)
    length = counted(train.steps, "step") if train.steps else counted(train.epochs, "epoch")
    seconds = None if train.steps else train.epochs * pairs_per_epoch(corpus, config) / speed
    mode = f"{threads} threads, {'hogwild' if train.hogwild else 'deterministic'}" if kernel == "fused" else "tf ops"
    line = (f"{config.data.corpus}: {corpus.raw_tokens:,} words, {length}, vocabulary {vocab:,}; "
            f"{model.architecture} {model.loss}, dimension {model.embedding_dim}; kernel {kernel} ({mode}); "
            + (f"about {_duration(seconds)}, " if seconds is not None else "")
            + f"peak memory about {(tables + RUNTIME_BYTES) / 2**30:.1f} GB")
    available = _available_memory()
    warning = None
    if available is not None and tables > 0.8 * available:
        warning = (f"the tables need {tables / 2**30:.1f} GB and {available / 2**30:.1f} GB of memory is free: lower "
                   f"data.max_vocab or model.embedding_dim, or shard them (distribute.strategy=parameter_server)")
    return line, warning


def counted(n: int, unit: str) -> str:
    """``1 epoch``, ``2 epochs``, ``12,000 steps``."""
    return f"{n:,} {unit}{'' if n == 1 else 's'}"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
