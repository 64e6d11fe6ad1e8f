import dataclasses
import re
import typing
from pathlib import Path

import pytest

from w2v import config as config_lib
from w2v.errors import W2VError
from w2v.schema import sections

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_come_from_the_schema():
    cfg = config_lib.Config()
    assert cfg.model.loss == "nce"
    assert cfg.train.optimizer == "sgd"
    assert cfg.data.window == 5


def test_shipped_configs_validate():
    for path in (ROOT / "configs").glob("*.yaml"):
        config_lib.load(path)


def test_overrides_are_typed(tmp_path):
    cfg = config_lib.load(ROOT / "configs" / "tiny.yaml",
                          ["train.batch_size=4096", "data.subsample=1e-4", "run.name=abc", "train.steps=null"])
    assert cfg.train.batch_size == 4096 and isinstance(cfg.train.batch_size, int)
    assert cfg.data.subsample == pytest.approx(1e-4)
    assert cfg.run.name == "abc"
    assert cfg.train.steps is None


@pytest.mark.parametrize("override, message", [
    ("train.batch_size=0", "train.batch_size: 0 must be >= 1"),
    ("train.batch_size=big", "train.batch_size: expected int"),
    ("train.bacth_size=1", "unknown config key train.bacth_size (did you mean train.batch_size?)"),
    ("nosuch.key=1", "unknown config key nosuch.key (known: run, data, model, init, train, checkpoint, summary, "
                     "projector, eval, distribute)"),
    ("data.window=-1", "data.window: -1 must be >= 1"),
    ("init.from_run=runs/a init.freeze_old=true distribute.strategy=parameter_server distribute.num_shards=2",
     "config key init.freeze_old: not available with tables sharded over ps tasks (distribute.num_shards > 1)"),
    ("train.learning_rate=0", "train.learning_rate: 0.0 must be > 0"),
    ("model.loss=hinge", "model.loss: 'hinge' is not one of"),
    ("run.deterministic=3", "run.deterministic: expected bool"),
    ("train.epochs=2.5", "train.epochs: expected int"),
    ("batch_size=1", "key must be section.key"),
    ("train.batch_size", "expected section.key=value"),
])
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(W2VError, match=re.escape(message)):
        config_lib.apply_overrides(config_lib.Config(), override.split())


def test_yaml_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  batch_size: 10\n  epochs: [1\n")
    with pytest.raises(W2VError, match=r"bad\.yaml: YAML syntax error at line \d"):
        config_lib.load(bad)
    with pytest.raises(W2VError, match="not found"):
        config_lib.load(tmp_path / "missing.yaml")
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("train:\n  nope: 1\n")
    with pytest.raises(W2VError, match=r"unknown\.yaml: unknown config key train\.nope"):
        config_lib.load(unknown)


def test_resolved_config_round_trips(tmp_path):
    cfg = config_lib.apply_overrides(config_lib.Config(), ["model.embedding_dim=7", "data.max_vocab=100"])
    config_lib.dump(cfg, tmp_path / "c.yaml")
    assert config_lib.load(tmp_path / "c.yaml") == cfg
    assert config_lib.diff(config_lib.Config(), cfg) == {"model.embedding_dim": (128, 7),
                                                         "data.max_vocab": (None, 100)}


def test_readme_config_reference_is_current():
    assert config_lib.reference_markdown() in (ROOT / "README.md").read_text()


def _fields():
    for section, cls in sections().items():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            hint = hints[f.name]
            base = next((a for a in typing.get_args(hint) if a is not type(None)), hint)
            yield f"{section}.{f.name}", base, f.metadata


FIELDS = list(_fields())


@pytest.mark.parametrize("key, base, meta", [f for f in FIELDS if f[2]["lo"] is not None or f[2]["hi"] is not None],
                         ids=lambda x: x if isinstance(x, str) else "")
def test_every_documented_bound_holds_exactly_where_the_schema_puts_it(key, base, meta):
    step = 1 if base is int else 1e-6
    lo, hi = meta["lo"], meta["hi"]
    if lo is not None:
        edge = lo + step if meta["lo_open"] else lo
        assert getattr(getattr(config_lib.apply_overrides(config_lib.Config(), [f"{key}={edge}"]),
                               key.split(".")[0]), key.split(".")[1]) == edge
        with pytest.raises(W2VError, match=f"config key {re.escape(key)}: .* must be "):
            config_lib.apply_overrides(config_lib.Config(), [f"{key}={lo if meta['lo_open'] else lo - step}"])
    if hi is not None:
        config_lib.apply_overrides(config_lib.Config(), [f"{key}={hi}"])
        with pytest.raises(W2VError, match=f"config key {re.escape(key)}: .* must be <= {hi}"):
            config_lib.apply_overrides(config_lib.Config(), [f"{key}={hi + step}"])


@pytest.mark.parametrize("key, base, meta", [f for f in FIELDS if f[2]["choices"]], ids=lambda x: x
                         if isinstance(x, str) else "")
def test_every_documented_choice_is_accepted_and_nothing_else(key, base, meta):
    for choice in meta["choices"]:
        config_lib.apply_overrides(config_lib.Config(), [f"{key}={choice}"])
    with pytest.raises(W2VError, match=f"config key {re.escape(key)}: 'bogus' is not one of"):
        config_lib.apply_overrides(config_lib.Config(), [f"{key}=bogus"])


@pytest.mark.parametrize("key", [k for k, base, _ in FIELDS if base is float])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", ".nan", ".inf"])
def test_non_finite_numbers_are_bad_input(key, value):
    with pytest.raises(W2VError, match=f"config key {re.escape(key)}: .* is not a finite number"):
        config_lib.apply_overrides(config_lib.Config(), [f"{key}={value}"])


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", ".", "", "/abs"])
def test_a_run_name_is_one_path_component(name):
    with pytest.raises(W2VError, match="config key run.name: .* is not a run name"):
        config_lib.apply_overrides(config_lib.Config(), [f"run.name='{name}'"])


def test_an_override_value_is_everything_after_the_first_equals_sign():
    cfg = config_lib.apply_overrides(config_lib.Config(), ["data.corpus=/data/a=b.txt", "run.name=x=y=z"])
    assert cfg.data.corpus == "/data/a=b.txt" and cfg.run.name == "x=y=z"


def test_an_empty_override_is_an_empty_string_and_unparsable_yaml_is_kept_as_text():
    cfg = config_lib.apply_overrides(config_lib.Config(), ["data.cache_dir=", "data.corpus=[odd"])
    assert cfg.data.cache_dir == "" and cfg.data.corpus == "[odd"
    with pytest.raises(W2VError, match="config key train.steps: expected int, got ''"):
        config_lib.apply_overrides(config_lib.Config(), ["train.steps="])
