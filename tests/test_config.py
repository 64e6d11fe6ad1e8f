from pathlib import Path

import pytest

from w2v import config as config_lib
from w2v.errors import W2VError

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
    ("train.bacth_size=1", "unknown config key train.bacth_size"),
    ("nosuch.key=1", "unknown config key nosuch.key"),
    ("data.window=-1", "data.window: -1 must be >= 1"),
    ("train.learning_rate=0", "train.learning_rate: 0.0 must be > 0"),
    ("model.loss=hinge", "model.loss: 'hinge' is not one of"),
    ("run.deterministic=3", "run.deterministic: expected bool"),
    ("train.epochs=2.5", "train.epochs: expected int"),
    ("batch_size=1", "key must be section.key"),
    ("train.batch_size", "expected section.key=value"),
])
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(W2VError, match=message.replace("(", r"\(").replace(".", r"\.")):
        config_lib.apply_overrides(config_lib.Config(), [override])


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
