import re
from pathlib import Path

import pytest
import tensorflow as tf
from click.testing import CliRunner

from tests.conftest import imported_packages, planted_corpus
from w2v.cli import cli

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "configs" / "tiny.yaml")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def event_tags(run_dir):
    tags = {}
    for path in run_dir.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                kind = value.metadata.plugin_data.plugin_name
                tags.setdefault((value.tag, kind), []).append(event.step)
    return tags


@pytest.mark.parametrize("kernel", ["fused", "tf"])
def test_tiny_smoke_run_writes_a_complete_run_directory(tmp_path, kernel):
    run_dir = tmp_path / "tiny"
    result = run("train", "--config", TINY, "--run-dir", run_dir, "--quiet", "--set", f"train.kernel={kernel}")
    assert result.exit_code == 0, result.output
    assert "step 60" in result.output
    assert (run_dir / "config.yaml").exists()
    ckpts = tf.train.get_checkpoint_state(str(run_dir / "checkpoints")).all_model_checkpoint_paths
    assert [Path(p).name for p in ckpts] == ["ckpt-20", "ckpt-40", "ckpt-60"]
    tags = event_tags(run_dir)
    assert tags[("loss", "scalars")] == [1, 10, 20, 30, 40, 50, 60]  # the first point at step 1
    assert ("weights/word2vec/embedding/embedding", "histograms") in tags
    # Only the tf kernel computes gradients; the fused one updates the tables directly.
    assert (("gradients/word2vec/embedding/embedding", "histograms") in tags) == (kernel == "tf")
    assert tags[("train_step", "graph_run_metadata_graph")] == [0]
    vocab_rows = (run_dir / "vocab.tsv").read_text().splitlines()
    metadata = (run_dir / "metadata.tsv").read_text().splitlines()
    assert len(metadata) == len(vocab_rows) and all(metadata)
    assert metadata == [row.split("\t")[0] for row in vocab_rows]
    config_text = (run_dir / "projector_config.pbtxt").read_text()
    assert 'metadata_path: "metadata.tsv"' in config_text
    projector_ckpt = tf.train.latest_checkpoint(str(run_dir))
    shapes = {name: shape for name, shape in tf.train.list_variables(projector_ckpt) if len(shape) == 2}
    assert list(shapes.values()) == [[len(vocab_rows), 16]]


def test_train_refuses_an_existing_run_and_resume_continues_it(tmp_path):
    run_dir = tmp_path / "tiny"
    assert run("train", "--config", TINY, "--run-dir", run_dir, "--quiet", "--set", "train.steps=20").exit_code == 0
    again = run("train", "--config", TINY, "--run-dir", run_dir, "--quiet")
    assert again.exit_code == 2
    assert f"w2v resume {run_dir}" in again.output
    resumed = run("resume", run_dir, "--quiet", "--set", "train.steps=40")
    assert resumed.exit_code == 0, resumed.output
    assert "step 40" in resumed.output
    # The step graph is written once, by the run that started at step 0.
    assert event_tags(run_dir)[("train_step", "graph_run_metadata_graph")] == [0]


def test_default_run_name_is_config_stem_timestamp_and_override_slug(tmp_path):
    result = run("train", "--config", TINY, "--quiet", "--set", f"run.output_dir={tmp_path}",
                 "--set", "train.steps=10", "--set", "model.loss=neg")
    assert result.exit_code == 0, result.output
    (made,) = list(tmp_path.iterdir())
    assert re.fullmatch(r"tiny-\d{8}-\d{6}-steps10-lossneg", made.name), made.name


def test_run_name_goes_under_output_dir(tmp_path):
    result = run("train", "--config", TINY, "--name", "exp1", "--quiet", "--set", f"run.output_dir={tmp_path}",
                 "--set", "train.steps=10")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "exp1" / "config.yaml").exists()


@pytest.fixture
def inputs(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "latin1.txt").write_bytes(b"na\xefve text\n")
    (tmp_path / "small.txt").write_text("a b c d e f\n" * 5)
    (tmp_path / "afile").write_text("x")
    planted_corpus(tmp_path / "ok.txt", sentences=50)
    return tmp_path


@pytest.mark.parametrize("args, message", [
    (["--config", "{d}/missing.yaml"], "config file {d}/missing.yaml: not found"),
    (["--set", "train.nope=1"], "unknown config key train.nope"),
    (["--set", "train.batch_size=abc"], "config key train.batch_size: expected int, got 'abc'"),
    (["--set", "train.batch_size=0"], "config key train.batch_size: 0 must be >= 1"),
    (["--set", "data.corpus={d}/empty.txt"], "no words found (empty corpus)"),
    (["--set", "data.corpus={d}/latin1.txt"], "latin1.txt: not UTF-8 text (line 1, byte offset 2)"),
    (["--set", "data.corpus={d}/small.txt", "--set", "data.min_count=1"],
     "model.num_sampled: 8 must be smaller than the vocabulary (6 words"),
    (["--set", "data.corpus={d}/ok.txt", "--set", "run.output_dir={d}/afile"], "afile: is a file"),
    (["--set", "data.corpus={d}/ok.txt", "--run-dir", "{d}/afile/run"], "cannot be created"),
    (["--set", "data.corpus={d}/ok.txt", "--name", "../escape"], "config key run.name: '../escape' is not a run name"),
    (["--set", "data.corpus={d}/ok.txt", "--set", "train.learning_rate=nan"],
     "config key train.learning_rate: nan is not a finite number"),
    (["--set", "data.corpus={d}/ok.txt", "--set", "train.learning_rate=.inf"],
     "config key train.learning_rate: inf is not a finite number"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(inputs, args, message):
    d = str(inputs)
    before = sorted(p.name for p in inputs.iterdir())
    argv = ["train", "--quiet"] + ([] if "--config" in args else ["--config", TINY])
    argv += [a.format(d=d) for a in args]
    if "--run-dir" not in args and not any("output_dir" in a for a in args):
        argv += ["--set", f"run.output_dir={d}/runs"]
    result = run(*argv)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert message.format(d=d) in lines[0]
    assert "Traceback" not in result.output
    assert sorted(p.name for p in inputs.iterdir()) == before


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback_wherever_it_is_given(tmp_path, where):
    args = ["neighbors", tmp_path / "nosuchrun", "king"]
    result = run(*(["--debug", *args] if where == "before" else [*args, "--debug"]))
    assert result.exit_code != 0 and result.exit_code != 2
    assert "does not exist" in str(result.exception)


def test_resume_of_a_completed_run_changes_nothing_and_says_how_to_extend_it(tmp_path):
    run_dir = tmp_path / "tiny"
    assert run("train", "--config", TINY, "--run-dir", run_dir, "--quiet", "--set", "train.steps=20").exit_code == 0
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    again = run("resume", run_dir, "--quiet")
    assert again.exit_code == 0, again.output
    assert "already complete (step 20)" in again.output and "--set train.epochs=N" in again.output
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("finished, shorter, message", [
    (["train.steps=null", "train.epochs=2"], "train.epochs=1", "train.epochs=1 is below the run's 2 epochs"),
    (["train.steps=20"], "train.steps=10", "train.steps=10 does not go past the run's 20 steps"),
    (["train.steps=null", "train.epochs=1"], "train.steps=3", "train.steps=3 does not go past the run's step"),
    (["train.steps=20"], "train.epochs=5", "train.epochs=5 does not go past the run's 20 steps, which bound it"),
])
def test_resume_refuses_to_shorten_a_run_and_changes_nothing(tmp_path, finished, shorter, message):
    run_dir = tmp_path / "tiny"
    sets = [*finished, f"data.corpus={planted_corpus(tmp_path / 'c.txt', sentences=300)}"]
    trained = run("train", "--config", TINY, "--run-dir", run_dir, "--quiet", *[a for f in sets for a in ("--set", f)])
    assert trained.exit_code == 0, trained.output
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    refused = run("resume", run_dir, "--quiet", "--set", shorter)
    assert refused.exit_code == 2 and refused.stdout == ""
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith("error: resume: ") and message in line and "extends" in line
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before


def test_run_names_resolve_under_the_runs_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("a", "b"):
        assert run("train", "--config", TINY, "--name", name, "--quiet", "--set", "train.steps=10").exit_code == 0
    result = run("compare", "a", "b", "--json")
    assert result.exit_code == 0, result.output
    assert run("eval", "a", "--json").exit_code == 0
    missing = run("resume", "/no/such/dir")
    assert missing.exit_code == 2 and "run directory /no/such/dir: does not exist" in missing.stderr


def test_a_misspelt_config_key_gets_a_suggestion(tmp_path):
    result = run("train", "--config", TINY, "--set", "model.embeding_dim=8", "--set", f"run.output_dir={tmp_path}")
    assert result.exit_code == 2
    assert "unknown config key model.embeding_dim (did you mean model.embedding_dim?)" in result.stderr
    result = run("config", "--set", "modle.loss=neg")
    assert "(did you mean model?)" in result.stderr


def test_commands_say_nothing_on_stderr_but_their_own(tiny_run, tmp_path):
    """TensorFlow's start-up notes (absl, CUDA, oneDNN) stay off stderr; --debug shows them."""
    import shutil
    import subprocess
    import sys

    tiny_run = shutil.copytree(tiny_run, tmp_path / "run")  # eval writes into the run
    quiet = subprocess.run([sys.executable, "-m", "w2v", "eval", str(tiny_run), "--json"], capture_output=True,
                           text=True)
    assert quiet.returncode == 0 and quiet.stderr == ""
    from w2v import quiet as quiet_lib

    noisy = subprocess.run([sys.executable, "-m", "w2v", "--debug", "visualize", str(tiny_run), "--top", "10"],
                           capture_output=True, text=True)  # a command that loads TensorFlow
    assert noisy.returncode == 0
    shown = [line for line in noisy.stderr.splitlines() if quiet_lib.NOISE.match(line)]
    assert shown or not noisy.stderr  # where TensorFlow prints its notes, --debug keeps them


@pytest.mark.parametrize("command", [["eval", "{run}"], ["neighbors", "{run}", "king"], ["visualize", "{run}"],
                                     ["export", "{run}", "-o", "{d}/v.txt"], ["resume", "{run}"],
                                     ["compare", "{run}", "{run}"]])
@pytest.mark.parametrize("what", ["missing", "not a run"])
def test_every_command_says_the_same_about_a_run_that_is_not_there(tmp_path, command, what):
    target = tmp_path / "nosuchrun"
    if what == "not a run":
        target.mkdir()
    result = run(*[a.format(run=target, d=tmp_path) for a in command])
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line == f"error: run directory {target}: " + ("does not exist" if what == "missing"
                                                          else "not a w2v run (no config.yaml)")


EVERY_COMMAND = [["train", "--config", TINY, "--set", "train.epochs=1", "--name", "x", "--init-from", "{run}"],
                 ["resume", "{run}", "--set", "train.epochs=3", "--quiet"], ["eval", "{run}", "--restrict", "100"],
                 ["neighbors", "{run}", "king", "-k", "3"], ["export", "{run}", "--format", "npy", "-o", "x.npy"],
                 ["visualize", "{run}", "--top", "10"], ["runs", "--sort", "loss"], ["compare", "{run}", "{run}"],
                 ["sweep", "--config", TINY, "--grid", "train.epochs=1,2"], ["config", "--config", TINY]]


def test_parsing_any_command_imports_no_tensorflow(tiny_run):
    import subprocess
    import sys

    assert {args[0] for args in EVERY_COMMAND} == set(cli.commands)
    cases = [[a.format(run=tiny_run) for a in args] for args in EVERY_COMMAND]
    script = (f"import sys\nfrom w2v.cli import cli\nctx = cli.make_context('w2v', [], resilient_parsing=True)\n"
              f"for args in {cases!r}:\n    cli.get_command(ctx, args[0]).make_context(args[0], args[1:], parent=ctx)\n"
              f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {{'tensorflow', 'gensim', 'scipy'}}))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("args", [["--help"], ["export", "--help"], ["neighbors", "--help"], ["resume", "nosuchrun"],
                                  ["export", "{run}", "--format", "bogus", "-o", "x"], ["eval", "nosuchrun"],
                                  ["train", "--config", "missing.yaml"], ["neighbors", "{run}", "king", "queen"],
                                  ["eval", "{run}", "--similarity", "{pairs}"], ["runs", "{root}"]])
def test_help_errors_and_reading_a_finished_run_need_no_tensorflow(tiny_run, tmp_path, args):
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("king queen 8\nman woman 7\nking man 6\n")
    run_dir = tmp_path / "run"
    import shutil

    shutil.copytree(tiny_run, run_dir)  # eval writes its report into the run
    code, imported = imported_packages(*[a.format(run=run_dir, pairs=pairs, root=tmp_path) for a in args],
                                       cwd=tmp_path)
    assert code == (0 if args[0] in ("neighbors", "runs") or args[-1] == "--help" or "{pairs}" in args else 2)
    assert "w2v" in imported and "tensorflow" not in imported


def test_a_checkpoint_is_given_by_its_step_its_name_or_its_path(tiny_run):
    """`--checkpoint ckpt-100` (as an export's card names it) and `--checkpoint 100` read what the path does;
    a checkpoint the run does not keep is one line naming those it keeps."""
    from w2v import runs

    path = str(runs.checkpoint_dir(tiny_run) / "ckpt-100")
    answers = {which: run("neighbors", tiny_run, "government", "--checkpoint", which) for which in
               ("100", "ckpt-100", path)}
    assert all(a.exit_code == 0 for a in answers.values()), [a.output for a in answers.values()]
    assert len({a.stdout for a in answers.values()}) == 1
    assert run("neighbors", tiny_run, "government").stdout != answers["100"].stdout  # the latest is step 200
    missing = run("neighbors", tiny_run, "government", "--checkpoint", "150")
    assert missing.exit_code == 2 and missing.stdout == ""
    (line,) = missing.stderr.strip().splitlines()
    assert "no checkpoint 150" in line and "it keeps ckpt-100, ckpt-200" in line


def test_a_name_and_a_run_directory_together_are_refused(tmp_path):
    refused = run("train", "--config", TINY, "--name", "x", "--run-dir", tmp_path / "d", "--quiet")
    assert refused.exit_code == 2 and refused.stdout == ""
    (line,) = refused.stderr.strip().splitlines()
    assert line == f"error: train: give a name (run 'x' under run.output_dir) or a run directory ({tmp_path / 'd'}), " \
                   "not both"
    assert list(tmp_path.iterdir()) == []
