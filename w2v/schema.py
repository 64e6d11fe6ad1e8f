"""The config schema: every section and key, with its type, default, help text and the constraints
validation enforces. The one source of defaults and documentation (w2v/config.py loads and checks
configs against it; the README's reference table is generated from it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from w2v.losses import LOSSES


def _opt(default: Any, help: str, *, choices: tuple = (), lo: Any = None, hi: Any = None,
         lo_open: bool = False) -> Any:
    """A schema field: default, help text, and the constraints validation enforces."""
    return field(default=default, metadata={"help": help, "choices": choices, "lo": lo, "hi": hi,
                                            "lo_open": lo_open})


@dataclass(frozen=True)
class RunConfig:
    name: str | None = _opt(None, "Run name (one path component); default: <config stem>-<timestamp>-<slug of the "
                            "overrides>, then -2, -3... for runs started in the same second.")
    output_dir: str = _opt("runs", "Directory under which run directories are created.")
    seed: int = _opt(0, "Seeds initialisation, subsampling, windows and negatives.", lo=0)
    device: str = _opt("auto", "Where to train: auto (GPU if present), cpu or gpu.",
                       choices=("auto", "cpu", "gpu"))
    deterministic: bool = _opt(False, "Turn on TensorFlow op determinism (bit-exact reruns on GPU too).")


@dataclass(frozen=True)
class DataConfig:
    corpus: str = _opt("gensim:all", "Text file (.txt/.gz/.bz2/.zip), a directory of them, 'text8', "
                       "or a bundled gensim corpus: gensim:lee, gensim:wiki, gensim:all.")
    lowercase: bool = _opt(True, "Lowercase the text before tokenising.")
    tokenizer: str = _opt("words", "words: runs of letters/digits/apostrophes; whitespace: split on spaces.",
                          choices=("words", "whitespace"))
    min_count: int = _opt(5, "Drop words seen fewer times than this.", lo=1)
    max_vocab: int | None = _opt(None, "Keep at most this many most frequent words (null: no limit).", lo=1)
    subsample: float = _opt(1e-3, "Mikolov's frequent-word subsampling threshold t (0 turns it off).",
                            lo=0.0, hi=1.0)
    window: int = _opt(5, "Maximum window radius; a reduced radius is drawn per centre word.", lo=1, hi=50)
    phrases: int = _opt(0, "Passes of phrase detection (word2phrase): each joins the pairs of tokens that score above "
                        "data.phrase_threshold into one token (new york -> new_york), so 2 passes make phrases of up "
                        "to 4 words; 0: none. The phrases and their scores are written to the run's phrases.tsv.",
                        lo=0, hi=8)
    phrase_min_count: int = _opt(5, "Phrases: ignore words and pairs seen fewer times than this (the score's "
                                 "discount, delta).", lo=1)
    phrase_threshold: float = _opt(100.0, "Phrases: join a pair scoring above this (word2phrase's default 100 for "
                                   "mikolov; npmi scores lie in [-1, 1], try 0.5).")
    phrase_scoring: str = _opt("mikolov", "mikolov: (count(a b) - phrase_min_count) / (count(a) count(b)) x tokens, "
                               "as word2phrase computes it (Mikolov et al. 2013); npmi: normalised pointwise mutual "
                               "information.", choices=("mikolov", "npmi"))
    phrase_delimiter: str = _opt("_", "Joins the words of a phrase.")
    chunk_tokens: int = _opt(65536, "Tokens per pipeline chunk (pairs are made a chunk at a time).",
                             lo=1024)
    cache_dir: str = _opt("~/.cache/w2v", "Where downloaded corpora (text8) and tokenised corpora (int32 shards, "
                          "written on first use) are kept.")


@dataclass(frozen=True)
class ModelConfig:
    architecture: str = _opt("skipgram", "skipgram predicts context from centre; cbow the reverse.",
                             choices=("skipgram", "cbow"))
    embedding_dim: int = _opt(128, "Embedding size.", lo=1)
    loss: str = _opt("nce", "; ".join(f"{name}: {loss.help}" for name, loss in LOSSES.items()) + ".",
                     choices=tuple(LOSSES))
    num_sampled: int | None = _opt(None, "Noise words: per example for nce and neg (the fused kernel shares one "
                                   "draw among a centre word's pairs), per batch for sampled_softmax; null: "
                                   + ", ".join(f"{n} for {name}" for name, loss in LOSSES.items() if loss.sampled
                                               for n in [loss.num_sampled]) + ".", lo=1)
    subwords: bool = _opt(False, "fastText's subword vectors: a word's input vector is the mean of its own row and "
                          "its character n-grams' (model.min_n to model.max_n characters of <word>, hashed into "
                          "model.buckets rows), so words never seen get vectors too (w2v neighbors, w2v eval).")
    min_n: int = _opt(3, "Subwords: shortest character n-gram.", lo=1)
    max_n: int = _opt(6, "Subwords: longest character n-gram.", lo=1)
    buckets: int = _opt(2000000, "Subwords: rows the n-grams are hashed into (fastText's default; each is "
                        "embedding_dim floats, 1 GB at dimension 128).", lo=1)
    noise: str = _opt("unigram", "Noise distribution: unigram (counts^noise_power) or log_uniform (Zipf).",
                      choices=("unigram", "log_uniform"))
    noise_power: float = _opt(0.75, "Exponent on counts for the unigram noise distribution.", lo=0.0, hi=1.0)


@dataclass(frozen=True)
class InitConfig:
    from_run: str | None = _opt(None, "A run to start from (`w2v train --init-from RUN`): this run's vocabulary is "
                                "that run's words, then the words of this corpus it lacks (data.min_count and "
                                "data.max_vocab applied to this corpus's counts; counts added, as gensim's "
                                "build_vocab(update=True) does); its latest checkpoint's input and output rows are "
                                "copied (output rows and biases only when both runs' losses have them alike), new "
                                "rows start as usual. Same model.embedding_dim.")
    freeze_old: bool = _opt(False, "Keep the rows copied from init.from_run as they are: only the new words' vectors "
                            "train (with hs the output rows are the new vocabulary's tree nodes, and all train).")


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int | None = _opt(None, "Training examples per step; null: 16384 for the fused kernel (whose SGD "
                                  "goes a window at a time, so a batch is a unit of work only), 1024 for the tf "
                                  "kernel (which sums a batch's gradients, so large batches learn less).", lo=1)
    epochs: int = _opt(5, "Passes over the corpus.", lo=1)
    steps: int | None = _opt(None, "Stop after this many global steps instead (null: use epochs).", lo=1)
    optimizer: str = _opt("sgd", "sgd (sparse row updates), adagrad or adam (lazy, sparse rows).",
                          choices=("sgd", "adagrad", "adam"))
    learning_rate: float | None = _opt(None, "Initial learning rate. The loss is summed over the batch, so for sgd "
                                       "it applies per example, like word2vec's alpha; null: word2vec's 0.025 for "
                                       "skipgram and 0.05 for cbow with sgd, 0.01 for adagrad and adam.",
                                       lo=0.0, lo_open=True)
    min_learning_rate: float = _opt(0.0001, "Floor of the linear decay, as a fraction of learning_rate.",
                                    lo=0.0, hi=1.0)
    clip: str = _opt("none", "Gradient clipping: none, value, norm (per tensor) or global_norm.",
                     choices=("none", "value", "norm", "global_norm"))
    clip_value: float = _opt(5.0, "Threshold for gradient clipping.", lo=0.0, lo_open=True)
    steps_per_call: int = _opt(50, "Training steps run inside one tf.function call.", lo=1)
    kernel: str = _opt("auto", "fused: each step is one C++ op doing word2vec's SGD a window at a time (losses "
                       + ", ".join(name for name, loss in LOSSES.items() if loss.fused) + ", skipgram or cbow, sgd, "
                       "no clipping, one CPU device or one per worker of a multi_worker cluster; built with g++ on "
                       "first use). tf: TensorFlow's gather and scatter ops (every loss and optimizer, GPUs, every "
                       "tf.distribute strategy). auto: fused where it applies and builds, else tf.",
                       choices=("auto", "fused", "tf"))
    threads: int | None = _opt(None, "Threads of the fused kernel; null: the cores this process may use. Runs are "
                               "bit-identical whatever the number (unless train.hogwild).", lo=1, hi=256)
    hogwild: bool = _opt(False, "Fused kernel: let threads update the tables without locks or order, as word2vec.c "
                         "and gensim do: faster, but no two runs give the same vectors.")


@dataclass(frozen=True)
class CheckpointConfig:
    dir: str | None = _opt(None, "Where checkpoints go: null keeps them inside the run directory; a directory "
                           "(like checkpoints, beside runs) holds each run's under the run's name, and the run "
                           "directory links to them, so bulky checkpoints and light run logs can be kept, synced "
                           "and cleaned apart.")
    every_n_steps: int | None = _opt(None, "Save a checkpoint every N global steps (and at the end); null: as often "
                                     "as keeps saving within 2% of the training time, by the size of the tables and "
                                     "the kernel's speed (the plan line says the period, the size and the disk the "
                                     "kept checkpoints take).", lo=1)
    max_to_keep: int = _opt(5, "Checkpoints kept; older ones are deleted.", lo=1)
    keep_best: str | None = _opt(None, "Also keep the checkpoint with the best value of this evaluation metric "
                                 "(e.g. questions-words/accuracy, wordsim353/spearman; higher is better) in "
                                 "checkpoints/best, apart from the rolling ones; `--checkpoint best` reads it. "
                                 "Needs eval.every_n_steps.")


@dataclass(frozen=True)
class SummaryConfig:
    scalars_every_n_steps: int = _opt(100, "Write loss, learning rate, words/s, gradient norm every N steps.",
                                      lo=1)
    histograms_every_n_steps: int = _opt(1000, "Write weight histograms every N steps (and gradient histograms on the "
                                           "tf kernel; the fused engine makes no gradients).", lo=1)
    graph: bool = _opt(True, "Write the graph of one training step once.")


@dataclass(frozen=True)
class ProjectorConfig:
    top_n: int = _opt(10000, "Words given to TensorBoard's projector (the most frequent ones).", lo=1)


@dataclass(frozen=True)
class EvalConfig:
    every_n_steps: int = _opt(0, "Evaluate during training every N global steps (0: none during training).", lo=0)
    at_end: bool = _opt(True, "Evaluate the vectors a run ends with (unless it stopped early), also with "
                        "every_n_steps 0: their scores are what `w2v runs`, sweeps, `w2v compare` and export cards "
                        "show. The plan line says what it costs (seconds on the default sets).")
    analogies: str = _opt("default", "Analogy files, comma-separated; default: gensim's questions-words.txt; "
                          "none: skip.")
    similarity: str = _opt("default", "Word-pair files, comma-separated; default: gensim's WordSim-353 and "
                           "SimLex-999; none: skip.")
    restrict: int = _opt(30000, "Answer analogies from this many most frequent words.", lo=1)
    method: str = _opt("add", "Analogy method: add (3CosAdd) or mul (3CosMul).", choices=("add", "mul"))
    suite: str = _opt("none", "standard: the field's sets too (MEN, Rare Words, SimVerb-3500, MTurk-771, RG-65, "
                      "WS-353 sim/rel, MSR, BATS 3.0 by 3CosAdd and 3CosMul), downloaded on first use into "
                      "data.cache_dir/eval-suite and checked by SHA-256; none: only the files above.",
                      choices=("none", "standard"))
    early_stop: str | None = _opt(None, "Stop the run (status completed, reason recorded) when this evaluation "
                                  "metric has not improved for eval.patience evaluations. Needs "
                                  "eval.every_n_steps.")
    patience: int = _opt(5, "Evaluations without improvement that eval.early_stop tolerates.", lo=1)


@dataclass(frozen=True)
class DistributeConfig:
    strategy: str = _opt("default", "tf.distribute strategy: default (one device), mirrored (all local GPUs, or "
                         "distribute.cpu_devices logical CPUs), multi_worker (MultiWorkerMirrored over the TF_CONFIG "
                         "cluster) or parameter_server (TF_CONFIG cluster with chief, worker and ps tasks). "
                         "train.batch_size is per replica.",
                         choices=("default", "mirrored", "multi_worker", "parameter_server"))
    num_shards: int = _opt(1, "parameter_server: split the embedding and output tables row-wise into this many "
                           "shards over the ps tasks.", lo=1)
    cpu_devices: int = _opt(1, "Split the host CPU into this many logical devices (mirrored uses them when there "
                            "is no GPU; for trying a strategy on one machine).", lo=1, hi=64)
    sync_every_n_steps: int = _opt(10, "multi_worker with the fused kernel: each worker trains its share of the "
                                   "corpus on its own copy of the tables, and every N steps (and before each "
                                   "checkpoint or evaluation) the workers make the rows some worker "
                                   "changed the mean of all copies. Longer periods train faster and drift further "
                                   "(2 workers, 5 epochs of Gutenberg: 10 steps 0.5 analogy points under one "
                                   "process, 50 steps 1.7).", lo=1)
    sync_rows: int = _opt(1024, "multi_worker with the fused kernel: the k-th sync averages the rows of the "
                          "sync_rows * 2^j most frequent words (2^j the largest power of 2 dividing k, as pWord2Vec "
                          "does), every row before checkpoints, evaluations and the end (a histogram shows the "
                          "chief's tables as they stand); 0: every row at every sync.", lo=0)


@dataclass(frozen=True)
class Config:
    run: RunConfig = field(default_factory=RunConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    init: InitConfig = field(default_factory=InitConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    summary: SummaryConfig = field(default_factory=SummaryConfig)
    projector: ProjectorConfig = field(default_factory=ProjectorConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    distribute: DistributeConfig = field(default_factory=DistributeConfig)


def sections() -> dict[str, type]:
    """Section name -> its dataclass, in order."""
    return {f.name: f.type if isinstance(f.type, type) else globals()[f.type] for f in dataclasses.fields(Config)}


def choices(section: type, key: str) -> tuple:
    """The values a key of a section allows (empty where any value of its type is allowed)."""
    return next(f.metadata["choices"] for f in dataclasses.fields(section) if f.name == key)
