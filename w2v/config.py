"""Configs: loading, overriding, validating and resolving them against the schema (w2v/schema.py).

A config is resolved in one path: schema defaults -> YAML file -> ``--set key.sub=value``
overrides -> validation -> frozen dataclasses. The resolved config is saved as
``config.yaml`` in every run directory, and ``w2v resume`` reads it back through the same path.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from w2v import fileio
from w2v.errors import W2VError
from w2v.losses import LOSSES
from w2v.schema import Config, sections


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
    if base is float and not math.isfinite(value):
        raise W2VError(f"config key {key}: {value!r} is not a finite number")
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
    known = sections()
    built = {}
    for name, value in raw.items():
        if name not in known:
            raise W2VError(f"{source}: unknown config key {name!r}{_suggest(str(name), known)}")
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise W2VError(f"{source}: config key {name} must be a mapping, got {value!r}")
        cls = known[name]
        hints = _field_types(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        kwargs = {}
        for key, v in value.items():
            if key not in fields:
                raise W2VError(f"{source}: unknown config key {name}.{key}{_suggest(key, fields, name)}")
            kwargs[key] = _check_value(f"{name}.{key}", v, hints[key], fields[key].metadata)
        built[name] = cls(**kwargs)
    config = Config(**built)
    _check_together(config, source)
    return config


def watched_metrics(config: Config) -> dict[str, str]:
    """The config keys that name an evaluation metric to watch, and the names: keep_best's first."""
    named = {"checkpoint.keep_best": config.checkpoint.keep_best, "eval.early_stop": config.eval.early_stop}
    return {key: name for key, name in named.items() if name}


def _check_together(config: Config, source: str) -> None:
    """Constraints between keys."""
    name = config.run.name
    if name is not None and (name in ("", ".", "..") or "/" in name or "\\" in name):
        raise W2VError(f"{source}: config key run.name: {name!r} is not a run name (one path component, no '/'); "
                       f"give a path with --run-dir")
    data = config.data
    if data.phrases and data.phrase_scoring == "npmi" and not -1 < data.phrase_threshold <= 1:
        raise W2VError(f"{source}: config key data.phrase_threshold: {data.phrase_threshold} can never be crossed by "
                       f"npmi scores, which lie in [-1, 1]")
    if data.phrases and not data.phrase_delimiter:
        raise W2VError(f"{source}: config key data.phrase_delimiter: must not be empty")
    model = config.model
    if model.subwords and model.min_n > model.max_n:
        raise W2VError(f"{source}: config key model.min_n: {model.min_n} is above model.max_n ({model.max_n})")
    if model.subwords and config.init.from_run:
        raise W2VError(f"{source}: config key init.from_run: warm starts of subword models (model.subwords) are not "
                       f"supported yet")
    if (config.init.from_run and config.init.freeze_old and config.distribute.strategy == "parameter_server"
            and config.distribute.num_shards > 1):
        raise W2VError(f"{source}: config key init.freeze_old: not available with tables sharded over ps tasks "
                       f"(distribute.num_shards > 1)")
    for key, metric in watched_metrics(config).items():
        if config.eval.every_n_steps == 0:
            raise W2VError(f"{source}: config key {key}: {metric!r} needs periodic evaluation; set "
                           f"eval.every_n_steps")


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


def dump(config: Config, path: str | Path, exclusive: bool = False) -> None:
    """Write the resolved config as YAML, atomically (a crash never leaves half a config.yaml);
    ``exclusive``: a FileExistsError rather than replacing one."""
    fileio.write_text(path, yaml.safe_dump(to_dict(config), sort_keys=False), exclusive=exclusive)


# Batch sizes when train.batch_size is null, by kernel: the fused kernel's SGD goes a window at a time,
# so its batch is a unit of work (large ones spread the fixed cost of a step); the tf kernel sums a
# batch's gradients, which costs accuracy as batches grow.
DEFAULT_BATCH = {"fused": 16384, "tf": 1024}


def fused_cannot(config: Config) -> str | None:
    """Why the fused engine cannot train this config, as far as the config tells (where it runs is for the
    kernel's choice to say, once TensorFlow is there); None when it can."""
    from w2v.losses import LOSSES

    model, train = config.model, config.train
    if not LOSSES[model.loss].fused:
        return f"it trains the losses {', '.join(n for n, loss in LOSSES.items() if loss.fused)} (not {model.loss})"
    if train.optimizer != "sgd" or train.clip != "none":
        return "it applies plain sgd without clipping"
    return None


def check_kernel(config: Config) -> None:
    """train.kernel: fused on a config the engine cannot train: a W2VError before TensorFlow's seconds of
    loading."""
    if config.train.kernel == "fused" and (reason := fused_cannot(config)):
        raise W2VError(f"config key train.kernel: fused cannot train this run: {reason}")


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


def flat(config: Config) -> dict[str, Any]:
    """The config's values by dotted key (``model.loss``), in the schema's order."""
    return {f"{section}.{key}": value for section, values in to_dict(config).items() for key, value in values.items()}


def differing(configs: list[Config]) -> dict[str, list[Any]]:
    """The dotted keys whose values are not the same in every config, with each config's value."""
    flats = [flat(c) for c in configs]
    return {k: [f[k] for f in flats] for k in flats[0] if any(f[k] != flats[0][k] for f in flats)}


def diff(old: Config, new: Config) -> dict[str, tuple[Any, Any]]:
    """Dotted keys whose values differ between two configs."""
    return {k: (a, b) for k, (a, b) in differing([old, new]).items()}


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
    for name, cls in sections().items():
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
