"""The config schema: the one source of defaults, types, validation and documentation.

A config is resolved in one path: schema defaults -> YAML file -> ``--set key.sub=value``
overrides -> validation -> frozen dataclasses. The resolved config is saved as
``config.yaml`` in every run directory, and ``w2v resume`` reads it back through the same path.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from w2v import fileio
from w2v.errors import W2VError
from w2v.losses import LOSSES


def _opt(default: Any, help: str, *, choices: tuple = (), lo: Any = None, hi: Any = None,
         lo_open: bool = False) -> Any:
    """A schema field: default, help text, and the constraints validation enforces."""
    return field(default=default, metadata={"help": help, "choices": choices, "lo": lo, "hi": hi,
                                            "lo_open": lo_open})


@dataclass(frozen=True)
class RunConfig:
    name: str | None = _opt(None, "Run name; default: <config stem>-<timestamp>.")
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
    noise: str = _opt("unigram", "Noise distribution: unigram (counts^noise_power) or log_uniform (Zipf).",
                      choices=("unigram", "log_uniform"))
    noise_power: float = _opt(0.75, "Exponent on counts for the unigram noise distribution.", lo=0.0, hi=1.0)


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
                       "no clipping, one CPU device; built with g++ on first use). tf: TensorFlow's gather and "
                       "scatter ops (every loss and optimizer, GPUs, tf.distribute). auto: fused where it applies "
                       "and builds, else tf.", choices=("auto", "fused", "tf"))
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
    every_n_steps: int = _opt(1000, "Save a checkpoint every N global steps (and at the end).", lo=1)
    max_to_keep: int = _opt(5, "Checkpoints kept; older ones are deleted.", lo=1)


@dataclass(frozen=True)
class SummaryConfig:
    scalars_every_n_steps: int = _opt(100, "Write loss, learning rate, words/s, gradient norm every N steps.",
                                      lo=1)
    histograms_every_n_steps: int = _opt(1000, "Write weight and gradient histograms every N steps.", lo=1)
    graph: bool = _opt(True, "Write the graph of one training step once.")


@dataclass(frozen=True)
class ProjectorConfig:
    top_n: int = _opt(10000, "Words given to TensorBoard's projector (the most frequent ones).", lo=1)


@dataclass(frozen=True)
class EvalConfig:
    every_n_steps: int = _opt(0, "Evaluate during training every N global steps (0: only with `w2v eval`).", lo=0)
    analogies: str = _opt("default", "Analogy files, comma-separated; default: gensim's questions-words.txt; "
                          "none: skip.")
    similarity: str = _opt("default", "Word-pair files, comma-separated; default: gensim's WordSim-353 and "
                           "SimLex-999; none: skip.")
    restrict: int = _opt(30000, "Answer analogies from this many most frequent words.", lo=1)
    method: str = _opt("add", "Analogy method: add (3CosAdd) or mul (3CosMul).", choices=("add", "mul"))


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


@dataclass(frozen=True)
class Config:
    run: RunConfig = field(default_factory=RunConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    summary: SummaryConfig = field(default_factory=SummaryConfig)
    projector: ProjectorConfig = field(default_factory=ProjectorConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    distribute: DistributeConfig = field(default_factory=DistributeConfig)


def _sections() -> dict[str, type]:
    return {f.name: f.type if isinstance(f.type, type) else globals()[f.type] for f in dataclasses.fields(Config)}


def _field_types(section: type) -> dict[str, Any]:
    return typing.get_type_hints(section)


def _check_value(key: str, value: Any, hint: Any, meta: dict) -> Any:
    """Coerce and check one value against its type hint and constraints; raise W2VError naming key."""
    optional = typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)
    base = next(a for a in typing.get_args(hint) if a is not type(None)) if optional else hint
    if value is None:
        if optional:
            return None
        raise W2VError(f"config key {key}: must not be null (expected {base.__name__})")
    if base is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if base is float and isinstance(value, str):
        # YAML 1.1 reads exponent forms without a dot (1e-4) as strings.
        try:
            value = float(value)
        except ValueError:
            pass
    if base is bool or isinstance(value, bool):
        if not (base is bool and isinstance(value, bool)):
            raise W2VError(f"config key {key}: expected {base.__name__}, got {value!r}")
    elif not isinstance(value, base):
        raise W2VError(f"config key {key}: expected {base.__name__}, got {value!r}")
    if meta["choices"] and value not in meta["choices"]:
        raise W2VError(f"config key {key}: {value!r} is not one of {', '.join(meta['choices'])}")
    lo, hi = meta["lo"], meta["hi"]
    if lo is not None and (value <= lo if meta["lo_open"] else value < lo):
        raise W2VError(f"config key {key}: {value!r} must be {'>' if meta['lo_open'] else '>='} {lo}")
    if hi is not None and value > hi:
        raise W2VError(f"config key {key}: {value!r} must be <= {hi}")
    return value


def from_dict(raw: dict, source: str = "config") -> Config:
    """Build a validated Config from a nested dict; unknown keys and bad values raise W2VError."""
    if not isinstance(raw, dict):
        raise W2VError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    sections = _sections()
    built = {}
    for name, value in raw.items():
        if name not in sections:
            raise W2VError(f"{source}: unknown config key {name!r}{_suggest(str(name), sections)}")
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise W2VError(f"{source}: config key {name} must be a mapping, got {value!r}")
        cls = sections[name]
        hints = _field_types(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        kwargs = {}
        for key, v in value.items():
            if key not in fields:
                raise W2VError(f"{source}: unknown config key {name}.{key}{_suggest(key, fields, name)}")
            kwargs[key] = _check_value(f"{name}.{key}", v, hints[key], fields[key].metadata)
        built[name] = cls(**kwargs)
    return Config(**built)


def _suggest(key: str, known: Any, section: str | None = None) -> str:
    """' (did you mean ...?)' for a misspelt key, else the list of known keys."""
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    prefix = f"{section}." if section else ""
    if close:
        return f" (did you mean {prefix}{close[0]}?)"
    return f" (known: {', '.join(known)})"


def to_dict(config: Config) -> dict:
    """The config as a plain nested dict (what config.yaml holds)."""
    return dataclasses.asdict(config)


def apply_overrides(config: Config, overrides: list[str]) -> Config:
    """Apply ``section.key=value`` overrides; values are parsed as YAML scalars and type-checked."""
    raw = to_dict(config)
    for item in overrides:
        if "=" not in item:
            raise W2VError(f"override {item!r}: expected section.key=value")
        key, text = item.split("=", 1)
        parts = key.strip().split(".")
        if len(parts) != 2:
            raise W2VError(f"override {item!r}: key must be section.key, e.g. train.batch_size")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        section, name = parts
        if section not in raw:
            raise W2VError(f"override {item!r}: unknown config key {key}{_suggest(section, raw)}")
        if name not in raw[section]:
            raise W2VError(f"override {item!r}: unknown config key {key}{_suggest(name, raw[section], section)}")
        raw[section][name] = value
    return from_dict(raw, "override")


def load(path: str | Path, overrides: list[str] = ()) -> Config:
    """Read a YAML config file, apply overrides and validate."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise W2VError(f"config file {path}: not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise W2VError(f"config file {path}: cannot be read ({e.__class__.__name__})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise W2VError(f"config file {path}: YAML syntax error{where}: {getattr(e, 'problem', e)}") from None
    config = from_dict(raw or {}, f"config file {path}")
    return apply_overrides(config, list(overrides))


def dump(config: Config, path: str | Path) -> None:
    """Write the resolved config as YAML, atomically (a crash never leaves half a config.yaml)."""
    fileio.write_text(path, yaml.safe_dump(to_dict(config), sort_keys=False))


# Batch sizes when train.batch_size is null, by kernel: the fused kernel's SGD goes a window at a time,
# so its batch is a unit of work (large ones spread the fixed cost of a step); the tf kernel sums a
# batch's gradients, which costs accuracy as batches grow.
DEFAULT_BATCH = {"fused": 16384, "tf": 1024}


def resolve(config: Config, kernel: str | None = None) -> Config:
    """The config with its objective-dependent defaults filled in (null values of model.num_sampled,
    train.learning_rate and, once the ``kernel`` is known, train.batch_size), as a run records it."""
    model, train = config.model, config.train
    if model.num_sampled is None:
        model = dataclasses.replace(model, num_sampled=LOSSES[model.loss].num_sampled or 1)
    if train.learning_rate is None:
        rate = (0.05 if model.architecture == "cbow" else 0.025) if train.optimizer == "sgd" else 0.01
        train = dataclasses.replace(train, learning_rate=rate)
    if train.batch_size is None and kernel is not None:
        train = dataclasses.replace(train, batch_size=DEFAULT_BATCH[kernel])
    return dataclasses.replace(config, model=model, train=train)


def diff(old: Config, new: Config) -> dict[str, tuple[Any, Any]]:
    """Dotted keys whose values differ between two configs."""
    a, b = to_dict(old), to_dict(new)
    return {f"{s}.{k}": (a[s][k], b[s][k]) for s in a for k in a[s] if a[s][k] != b[s][k]}


# What a resume may change: how long to train and what to record, never what is trained.
# The strategy may change too: checkpoints hold whole tables whatever the sharding, so a run
# trained on a cluster resumes on one machine (the global batch stays batch_size x replicas).
RESUMABLE = ("train.epochs", "train.steps", "train.steps_per_call", "train.kernel", "train.threads", "train.hogwild",
             "run.device", "checkpoint.", "summary.", "projector.", "eval.", "distribute.")
# Within those: the run directory links to its checkpoints where they were first written.
FIXED = ("checkpoint.dir",)


def check_resumable(saved: Config, new: Config) -> dict[str, tuple[Any, Any]]:
    """The changed keys, after refusing any that would change the model being trained."""
    changed = diff(saved, new)
    refused = [k for k in changed if not k.startswith(RESUMABLE) or k in FIXED]
    if refused:
        raise W2VError(f"resume: {', '.join(refused)} cannot change once a run has started (it would no longer "
                       f"be the same experiment); start a new run instead")
    return changed


def reference_markdown() -> str:
    """The config reference table for the README, generated from the schema."""
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for name, cls in _sections().items():
        hints = _field_types(cls)
        for f in dataclasses.fields(cls):
            hint = hints[f.name]
            tname = getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
            if typing.get_origin(hint) in (typing.Union, types.UnionType):
                tname = next(a.__name__ for a in typing.get_args(hint) if a is not type(None)) + " or null"
            default = "null" if f.default is None else f.default
            help_text = f.metadata["help"]
            if f.metadata["choices"]:
                help_text += f" One of: {', '.join(f.metadata['choices'])}."
            lines.append(f"| `{name}.{f.name}` | {tname} | `{default}` | {help_text} |")
    return "\n".join(lines)
