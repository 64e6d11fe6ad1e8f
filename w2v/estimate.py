"""What a run will take, said before it starts: one line with the corpus, vocabulary, model and kernel, rough
figures for its time and peak memory, and its checkpoints (period, size, the disk those kept take); warnings
when its tables will not fit in memory or its checkpoints on the disk. Also the checkpoint period a run gets
when checkpoint.every_n_steps is null, from the same figures.
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from w2v.config import Config
from w2v.vocab import EncodedCorpus

if TYPE_CHECKING:
    from w2v.evaluate import Evaluator

# Rough training speeds, in (centre, context) pairs a second and thread at dimension 128 on a current CPU core:
# the fused engine's deterministic mode and Hogwild, and the tf kernel's whole process. Measured (2 threads, AMD
# Zen 3 and Zen 4): the engine 1.41M pairs/s a thread at dimension 128 (Gutenberg, benchmarks/speed_vs_peers.py)
# and 0.62M at 300 (957k words, benchmarks/scale.py), Hogwild about 1.8M at 128. Time scales with the dimension.
PAIRS_PER_SECOND = {"fused": 1.4e6, "hogwild": 1.8e6, "tf": 2.5e5}
# A training process's memory besides its tables: TensorFlow, Python and the input pipeline's buffers, and for
# each vocabulary word its string, counts, noise tables and ids (measured: 640 MB at 51k words, 840 MB at 957k).
RUNTIME_BYTES = 640 << 20
BYTES_PER_WORD = 210
# What a checkpoint costs: a fixed part (the index, the state file, the oldest checkpoint deleted) and its bytes
# written into the page cache (2.3 GB took 3-6 s on the 2-core machines of the README's tables).
SAVE_SECONDS = 0.05
SAVE_BYTES_PER_SECOND = 400e6
# The share of training time that checkpoints may take when checkpoint.every_n_steps is null.
CHECKPOINT_SHARE = 0.02
# An evaluation's time goes to its analogy questions: looking each one's words up, then its products with the
# unit vectors it is answered from (the word pairs are a small part). Measured on the Zen 4 of the README's scale
# table, Google's 19,544 questions over 30,000 words: 1.96 s at dimension 100, 2.47 s at 300.
EVAL_SECONDS_PER_QUESTION = 8.7e-5
EVAL_FLOPS = 4.6e11
# What an evaluation adds to the peak: scipy's statistics, the questions and pairs and their lookups (measured on
# the embedded run of configs/base.yaml: 682 against 619 MB).
EVAL_BYTES = 64 << 20


def pairs_per_epoch(corpus: EncodedCorpus, config: Config) -> float:
    """Skip-gram pairs (or CBOW context words) an epoch gives: the words subsampling keeps, times the
    window word2vec's reduced radius averages, (window + 1) context words."""
    kept = float(np.sum(corpus.vocab.counts * corpus.vocab.keep_probabilities(config.data.subsample)))
    return kept * (config.data.window + 1)


def table_bytes(config: Config, vocab: int) -> int:
    """The bytes of a run's trained tables and their optimizer slots: what a checkpoint holds."""
    model = config.model
    slots = {"sgd": 0, "adagrad": 1, "adam": 2}[config.train.optimizer]
    rows = 2 * vocab + (model.buckets if model.subwords else 0)  # input and output tables
    return (rows * model.embedding_dim + vocab) * 4 * (1 + slots)  # and the output biases


def pairs_per_second(config: Config, kernel: str, threads: int) -> float:
    """The training speed the estimates assume (PAIRS_PER_SECOND), at this dimension and thread count."""
    speed = PAIRS_PER_SECOND["hogwild" if kernel == "fused" and config.train.hogwild else kernel]
    return speed * (threads if kernel == "fused" else 1) * 128 / max(config.model.embedding_dim, 32)


def _pairs_per_step(config: Config) -> float:
    """Pairs (skip-gram) or context words (CBOW, a window an example) a step trains."""
    per_example = config.data.window + 1 if config.model.architecture == "cbow" else 1
    return config.train.batch_size * per_example


def checkpoint_period(config: Config, vocab: int, kernel: str, threads: int) -> int:
    """Steps between checkpoints: checkpoint.every_n_steps, or when it is null the period at which saving the
    tables takes CHECKPOINT_SHARE of the training time by the figures above, rounded up to two significant
    digits. It follows the tables' size and nothing measured, so every worker of a cluster, and every session
    of a run, gets the same period from the same config and corpus."""
    if config.checkpoint.every_n_steps is not None:
        return config.checkpoint.every_n_steps
    save = SAVE_SECONDS + table_bytes(config, vocab) / SAVE_BYTES_PER_SECOND
    step = _pairs_per_step(config) / pairs_per_second(config, kernel, threads)
    steps = max(math.ceil(save / (CHECKPOINT_SHARE * step)), 1)
    unit = 10 ** max(len(str(steps)) - 2, 0)
    return -(-steps // unit) * unit


def _available_memory() -> int | None:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _free_disk(path: Path) -> int | None:
    """Free bytes on the disk that holds ``path`` (or the nearest directory above it that exists)."""
    for place in (path, *path.parents):
        if place.exists():
            try:
                return shutil.disk_usage(place).free
            except OSError:
                return None
    return None


def plan(config: Config, corpus: EncodedCorpus, kernel: str, threads: int, checkpoints: Path, period: int,
         start_step: int = 0, evaluation: float | None = None) -> tuple[str, list[str]]:
    """The line to show before training (a resume's from ``start_step``: its time is for what is left; the
    ``evaluation`` seconds of one of its evaluations, None for none), and warnings: tables that will not fit in
    memory, kept checkpoints that will not fit on the disk that holds ``checkpoints``."""
    model, train = config.model, config.train
    vocab = len(corpus.vocab)
    tables = table_bytes(config, vocab)
    speed = pairs_per_second(config, kernel, threads)
    total_steps = train.steps or math.ceil(train.epochs * pairs_per_epoch(corpus, config) / _pairs_per_step(config))
    left = max(0.0, 1 - start_step / total_steps)
    length = (counted(train.steps, "step") if train.steps else counted(train.epochs, "epoch")) + \
        (f" from step {start_step:,}" if start_step else "")
    seconds = None if train.steps else left * train.epochs * pairs_per_epoch(corpus, config) / speed
    kept = min(config.checkpoint.max_to_keep, total_steps // period + 1) + bool(config.checkpoint.keep_best)
    # The last checkpoint's unit rows (vector_cache); its table is read where the checkpoint holds it, except a
    # subword run's composed vectors, which get a copy.
    cache = (1 + model.subwords) * vocab * model.embedding_dim * 4
    disk = kept * tables + cache
    # A subword table's n-gram rows are drawn a block at a time and joined: while it is made, it is held twice
    # (measured, the embedded corpus with 2M buckets at dimension 100: 2,149 MB, 1.4 GB planned without them).
    made = (model.buckets + vocab) * model.embedding_dim * 4 if model.subwords else 0
    peak = tables + made + RUNTIME_BYTES + BYTES_PER_WORD * vocab + (EVAL_BYTES if evaluation is not None else 0)
    mode = f"{threads} threads, {'hogwild' if train.hogwild else 'deterministic'}" if kernel == "fused" else "tf ops"
    every = f"{counted(period, 'step')}, about {_duration(period * _pairs_per_step(config) / speed)}"
    line = (f"{config.data.corpus}: {corpus.raw_tokens:,} words, {length}, vocabulary {vocab:,}; "
            f"{model.architecture} {model.loss}, dimension {model.embedding_dim}; kernel {kernel} ({mode}); "
            + (f"about {_duration(seconds)}{' to go' if start_step else ''}, " if seconds is not None else "")
            + f"peak memory about {_gigabytes(peak)}; "
            f"a checkpoint every {every} ({_gigabytes(tables)} each, {kept} kept: {_gigabytes(disk)} of disk "
            f"with the vectors)" + _evaluation(config, evaluation))
    warnings = []
    available = _available_memory()
    if available is not None and tables > 0.8 * available:
        warnings.append(f"the tables need {_gigabytes(tables)} and {_gigabytes(available)} of memory is free: lower "
                        f"data.max_vocab or model.embedding_dim, or shard them (distribute.strategy=parameter_server)")
    free = _free_disk(checkpoints)
    if free is not None and disk > free:
        warnings.append(f"checkpoints in {checkpoints}: the {kept} kept will take {_gigabytes(disk)} with the "
                        f"vectors and the disk has {_gigabytes(free)} free: lower checkpoint.max_to_keep or "
                        f"point checkpoint.dir at a larger disk")
    return line, warnings


def evaluation_seconds(evaluator: Evaluator, config: Config, vocab: int) -> float:
    """About how long one evaluation of the run's vectors takes: each analogy question (3CosAdd, 3CosMul and
    BATS's twice) is scored against the ``restrict`` most frequent words."""
    questions = sum(len(q) for _, q in evaluator.questions) + 2 * len(evaluator.bats)
    products = min(evaluator.restrict, vocab) * config.model.embedding_dim * 2
    return questions * (EVAL_SECONDS_PER_QUESTION + products / EVAL_FLOPS)


def _evaluation(config: Config, seconds: float | None) -> str:
    """The plan's words for the run's own evaluation and its cost."""
    if seconds is None:
        return ""
    cost = _duration(seconds)
    every = config.eval.every_n_steps
    if every:
        return f"; evaluated every {counted(every, 'step')}, about {cost} each"
    return f"; its final vectors evaluated, about {cost}"


def counted(n: int, unit: str) -> str:
    """``1 epoch``, ``2 epochs``, ``12,000 steps``."""
    return f"{n:,} {unit}{'' if n == 1 else 's'}"


def _gigabytes(n: float) -> str:
    if n >= 2**30:
        return f"{n / 2**30:.1f} GB"
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n / 2**10:.0f} KB"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
