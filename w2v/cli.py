"""The ``w2v`` command line: parses arguments and calls library functions, nothing more."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from w2v import allocator
from w2v.errors import W2VError
from w2v.export import FORMATS
from w2v.meta import SORT_KEYS, STATUSES
from w2v.schema import EvalConfig, choices

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


class _Group(click.Group):
    """Turns W2VError into one line on stderr and exit code 2 (a traceback only with --debug)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except W2VError as e:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: {e}", err=True)
            ctx.exit(2)


class RunDir(click.ParamType):
    """A run directory given as a path, or as a name under runs/ (as `w2v runs` lists it)."""

    name = "run"

    def convert(self, value: str | Path, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        from w2v import runs

        path = runs.find(value)
        runs.check_run(path)  # before any slow import: a mistyped run is answered at once
        return path


RUN = RunDir()


class RunsOrSweep(click.ParamType):
    """A run directory (as RunDir takes it), or a sweep directory: the runs it holds."""

    name = "run|sweep"

    def convert(self, value: str | Path, param: click.Parameter | None,
                ctx: click.Context | None) -> tuple[Path, ...]:
        from w2v import runs

        path = runs.find(value)
        if (path / "sweep.json").exists() and not (path / runs.CONFIG).exists():
            from w2v import experiments

            members = experiments.find_runs(path)
            if not members:
                raise W2VError(f"sweep {path}: holds no runs yet")
            return tuple(members)
        runs.check_run(path)
        return (path,)


RUNS = RunsOrSweep()
CHECKPOINT = click.option("--checkpoint", default=None, metavar="best|STEP|NAME|PATH",
                          help="Which checkpoint: best (kept by checkpoint.keep_best), a step (134), a name (ckpt-134, "
                               "as the export card names it) or a path prefix (default: the latest).")

@click.group(cls=_Group)
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(package_name="w2v")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """word2vec experiments on TensorFlow 2."""
    ctx.obj = {"debug": debug}
    logging.basicConfig(level=logging.INFO if debug else logging.WARNING, format="%(levelname)s %(message)s")


def _report(result) -> None:
    if result.unchanged:
        click.echo(f"run {result.run_dir} is already complete (step {result.step}); to train it further, extend it: "
                   f"`w2v resume {result.run_dir} --set train.epochs=N` (or train.steps=N)")
        return
    if result.reason:
        click.echo(f"run {result.run_dir}: {result.reason}; stopped at step {result.step}")
    state = "" if result.finished else f" (stopped; continue with `w2v resume {result.run_dir}`)"
    click.echo(f"run {result.run_dir}: step {result.step}, loss {result.loss:.4f}, "
               f"{result.words_per_sec:,.0f} words/s{state}")
    if result.signal:
        sys.exit(128 + result.signal)


@cli.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), required=True, help="YAML config file.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key, e.g. "
              "train.batch_size=4096.")
@click.option("--name", default=None, help="Run name (overrides run.name).")
@click.option("--run-dir", type=click.Path(), default=None, help="Exact run directory to create.")
@click.option("--init-from", type=RUN, default=None, help="Start from this run's vectors, its vocabulary extended "
              "by this corpus's new words (init.from_run).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train(config_path: str, overrides: tuple[str, ...], name: str | None, run_dir: str | None,
          init_from: Path | None, quiet: bool) -> None:
    """Train a new run from a config file."""
    from w2v import api

    _report(api.train(config_path, overrides, name, run_dir, init_from, progress=not quiet, command_line=True))


@cli.command("config")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="YAML config file (default: the schema's defaults).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key.")
def config_command(config_path: str | None, overrides: tuple[str, ...]) -> None:
    """Print the resolved config (defaults, file, overrides) without training."""
    import yaml

    from w2v import config as config_lib

    resolved = config_lib.resolve(config_lib.load(config_path, list(overrides)) if config_path
                                  else config_lib.apply_overrides(config_lib.Config(), list(overrides)))
    click.echo(yaml.safe_dump(config_lib.to_dict(resolved), sort_keys=False), nl=False)


@cli.command()
@click.argument("run_dir", type=RUN)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a saved config key, e.g. "
              "train.epochs=10 to extend a finished run.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def resume(run_dir: Path, overrides: tuple[str, ...], quiet: bool) -> None:
    """Continue a run from its latest checkpoint."""
    from w2v import api

    _report(api.resume(run_dir, overrides, progress=not quiet, command_line=True))


def _vectors(run_dir: Path, checkpoint: str | None):
    """A run's vectors as queries are answered from, and their step (what `w2v.load` gives Python)."""
    from w2v.api import WordVectors

    loaded = WordVectors(run_dir, checkpoint)
    return loaded.queries, loaded.step


@cli.command("eval")
@click.argument("run_dir", type=RUN)
@CHECKPOINT
@click.option("--analogies", "analogy_files", multiple=True, type=click.Path(), help="Google-format analogy file "
              "(repeatable; 'default': questions-words.txt bundled with gensim; 'none': no analogies).")
@click.option("--similarity", "similarity_files", multiple=True, type=click.Path(), help="'w1 w2 score' file "
              "(repeatable; 'default': WordSim-353 and SimLex-999 bundled with gensim; 'none': no similarity).")
@click.option("--restrict", default=None, type=click.IntRange(min=1),
              help=f"Answer analogies from this many most frequent words (default: the run's eval.restrict, "
                   f"{EvalConfig().restrict} unless set).")
@click.option("--method", type=click.Choice(choices(EvalConfig, "method")), default=None,
              help="3CosAdd or 3CosMul (default: the run's eval.method, add unless set).")
@click.option("--suite", type=click.Choice(choices(EvalConfig, "suite")), default=None,
              help="standard: the field's sets too (MEN, Rare Words, SimVerb, MTurk-771, RG-65, WS-353 sim/rel, MSR, "
                   "BATS), fetched on first use (default: the run's eval.suite).")
@click.option("--suite-from", "suite_from", type=click.Path(), default=None, metavar="DIR",
              help="Offline: copy the suite's files from DIR (an eval-suite folder from a machine online, or the "
                   "files laid out as it is) into the cache, each checked by SHA-256; implies --suite standard.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def eval_command(run_dir: Path, checkpoint: str | None, analogy_files: tuple[str, ...],
                 similarity_files: tuple[str, ...], restrict: int | None, method: str | None, suite: str | None,
                 suite_from: str | None, as_json: bool) -> None:
    """Score a run's vectors on analogy and word-similarity benchmarks (by default the run's own evaluation,
    its config's eval.* keys: its report is eval/step-N.json; any other is kept beside it as
    eval/step-N.<tag>.json)."""
    import json

    from w2v import evaluate, runs

    config = runs.load_config(run_dir)
    settings = config.eval
    if suite_from is not None:
        from w2v import eval_suite

        copied = eval_suite.copy_from(suite_from, config.data.cache_dir)
        click.echo(f"copied {len(copied)} files of the evaluation suite into "
                   f"{eval_suite.directory(config.data.cache_dir)}", err=True)
        suite = "standard"
    own_analogies, own_similarity = evaluate.configured_files(settings.analogies, settings.similarity)
    analogies, similarity = evaluate.requested_files(list(analogy_files), list(similarity_files), own_analogies,
                                                     own_similarity)
    evaluator = evaluate.Evaluator(analogies, similarity, restrict or settings.restrict, method or settings.method,
                                   suite or settings.suite, config.data.cache_dir)
    vectors, step = _vectors(run_dir, checkpoint)
    report = evaluator(vectors, step)
    own = evaluate.setting(own_analogies, own_similarity, settings.restrict, settings.method, settings.suite)
    click.echo(json.dumps(report.to_json(), indent=2) if as_json else report.table())
    try:
        evaluate.record(report, run_dir, tag=evaluator.tag(own))
    except OSError as e:  # a read-only run (a shared or archived one): the scores are still worth having
        click.echo(f"note: run directory {run_dir}: these scores could not be recorded there ({e.strerror or e})",
                   err=True)


@cli.command()
@click.argument("run_dir", type=RUN)
@click.argument("words", nargs=-1)
@click.option("-k", "k", default=10, show_default=True, type=click.IntRange(min=1), help="Neighbours per word.")
@click.option("--analogy", nargs=3, default=None, metavar="A B C", help="Answer 'A is to B as C is to ?'.")
@CHECKPOINT
def neighbors(run_dir: Path, words: tuple[str, ...], k: int, analogy: tuple[str, str, str] | None,
              checkpoint: str | None) -> None:
    """Cosine nearest neighbours of WORDS, or the answers to an analogy. Unknown words are named (with
    the closest known spellings) and the others answered; the exit code is 2 only if none could be."""
    if not words and not analogy:
        raise W2VError("neighbors: give one or more words, or --analogy A B C")
    vectors, _ = _vectors(run_dir, checkpoint)
    answers, unknown = vectors.nearest(list(words), k)
    if analogy:
        answers.insert(0, vectors.analogy(*analogy, k))
    if not answers:
        raise W2VError("; ".join(str(e) for e in unknown))
    for answer in answers:
        click.echo(answer.query)
        for word, sim in answer.neighbours:
            click.echo(f"  {sim:7.4f}  {word}")
    for error in unknown:
        click.echo(f"error: {error}", err=True)


@cli.command()
@click.argument("run_dir", type=RUN)
@click.option("--format", "fmt", type=click.Choice(list(FORMATS)), default="word2vec", show_default=True,
              help="; ".join(f"{name}: {f.help}" for name, f in FORMATS.items()) + ".")
@click.option("-o", "--output", required=True, type=click.Path(), help="File to write.")
@CHECKPOINT
def export(run_dir: Path, fmt: str, output: str, checkpoint: str | None) -> None:
    """Write a run's vectors for other tools (gensim, word2vec.c, numpy, fastText); a subword model's n-gram
    table too (OUTPUT.ngrams.npy and .json; inside the .bin for fasttext), to give unseen words vectors; and a
    card beside them (OUTPUT.card.json and .card.md): corpus, vocabulary, config, step, latest evaluation,
    versions, how to load them."""
    from w2v import export as export_lib
    from w2v import model_card, runs

    e = runs.read_embedding(run_dir, checkpoint)
    written = export_lib.export(e.vocab.words, e.vectors, fmt, Path(output), e.vocab.counts, run_dir, e.checkpoint)
    if e.ngrams is not None and not FORMATS[fmt].whole_model:
        written += export_lib.ngram_table(Path(output), e.ngrams, e.settings)
    about = model_card.card(run_dir, fmt, written, e.step, e.checkpoint, len(e.vocab.words), e.vectors.shape[1])
    written += model_card.write(Path(output), about)
    for path in written:
        click.echo(f"wrote {path}")


@cli.command()
@click.argument("run_dir", type=RUN)
@CHECKPOINT
@click.option("--top", type=int, default=None, help="Projector files for the N most frequent words (default: the "
              "run's projector.top_n, 10,000 unless set, as training writes them).")
@click.option("--tsv", "tsv_dir", type=click.Path(file_okay=False), default=None,
              help="Also write vectors.tsv + metadata.tsv here for the standalone projector.")
@click.option("--words", default="", metavar="W1,W2,...", help="Draw these words on the map.")
@click.option("--neighbors", "queries", default="", metavar="W1,W2,...",
              help="Draw these words and their nearest neighbours, one colour each.")
@click.option("-k", "k", default=8, show_default=True, type=click.IntRange(min=1), help="Neighbours per word.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Where to write the map (default: RUN/embedding_map.png).")
def visualize(run_dir: Path, checkpoint: str | None, top: int | None, tsv_dir: str | None, words: str,
              queries: str, k: int, output: str | None) -> None:
    """Write TensorBoard projector files and a map of words (a PNG): given words, words and their
    neighbours (the words asked about drawn as stars), or by default 300 frequent words past the first
    hundred."""
    from w2v import quiet

    quiet.tensorflow()  # it writes TensorFlow's files; the commands that only read runs answer without it
    from w2v.visualize import visualize as run_visualize

    split = lambda text: [w.strip() for w in text.split(",") if w.strip()]  # noqa: E731
    result = run_visualize(run_dir, checkpoint, top, Path(tsv_dir) if tsv_dir else None, split(words),
                           split(queries), k, Path(output) if output else None)
    if result.note:
        click.echo(f"note: {result.note}", err=True)
    click.echo(f"step {result.step}: {result.rows} words")
    for path in result.files:
        click.echo(f"wrote {path}")


@cli.command("runs")
@click.argument("root", type=click.Path(), default="runs")
@click.option("--sort", type=click.Choice(SORT_KEYS), default="started",
              show_default=True, help="Sort the table by this column.")
@click.option("--status", type=click.Choice(STATUSES), default=None,
              help="Only runs with this status.")
@click.option("--json", "as_json", is_flag=True, help="Print the records as JSON.")
@click.option("--wide", is_flag=True, help="Every metric column, however wide the table.")
def runs_command(root: str, sort: str, status: str | None, as_json: bool, wide: bool) -> None:
    """List the runs under ROOT: status, progress, loss, latest evaluation, wall time."""
    import json
    import shutil

    from w2v import experiments

    records = experiments.list_runs(Path(root), sort, status)
    width = None if wide else shutil.get_terminal_size().columns
    click.echo(json.dumps(records, indent=2) if as_json else experiments.runs_table(records, width))


@cli.command()
@click.argument("run_dirs", nargs=-1, type=RUNS)
@click.option("--words", default="", metavar="W1,W2,...", help="Compare what the runs learned for these words: "
              "nearest neighbours in each run, their overlap and (two runs) the aligned cosine.")
@click.option("--top", type=click.IntRange(min=1), default=None, help="Compare what the runs learned for their N most "
              "frequent shared words: two runs, the words that moved most and least; more, the least and most "
              "stable neighbours.")
@click.option("-k", "k", default=10, show_default=True, type=click.IntRange(min=1), help="Neighbours per word.")
@click.option("--show", default=10, show_default=True, type=click.IntRange(min=1),
              help="Words listed at each end of the --top ranking.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON (with every seed's value).")
def compare(run_dirs: tuple[tuple[Path, ...], ...], words: str, top: int | None, k: int, show: int,
            as_json: bool) -> None:
    """Runs (or a sweep's runs) side by side: the config keys that differ and the metrics, settings run
    with several seeds as mean ± std; with --words or --top, what the runs learned word by word."""
    import json

    from w2v import experiments, seeds

    paths = [path for paths in run_dirs for path in paths]
    asked = [w.strip() for w in words.split(",") if w.strip()]
    if asked and top:
        raise W2VError("compare: give --words or --top, not both")
    if asked or top:
        from w2v import drift

        comparison = drift.compare([_vectors(p, None)[0] for p in paths], experiments.names(paths), asked or None,
                                   top, k)
        if len(paths) > 2 and len(settings := seeds.group(paths)) > 1:
            click.echo(f"note: these runs are {len(settings)} settings, not one setting's seeds: "
                       f"stability over them mixes what the settings change", err=True)
        click.echo(json.dumps(comparison.to_json(), indent=2) if as_json else drift.table(comparison, show))
        return
    comparison = experiments.compare(paths)
    groups = seeds.group(paths)
    if seeds.repeated(groups):
        comparison["seeds"] = seeds.to_json(groups)
    click.echo(json.dumps(comparison, indent=2) if as_json else
               seeds.table(groups) if seeds.repeated(groups) else experiments.compare_table(comparison))


@cli.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), required=True, help="YAML config file.")
@click.option("--grid", multiple=True, metavar="KEY=V1,V2", help="A swept key and its values "
              "(repeatable; the sweep is their product).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override for every run.")
@click.option("--seeds", type=click.IntRange(min=1), default=None, help="Run each combination with N seeds (run.seed "
              "and the next N-1): metrics as mean ± std over them.")
@click.option("--parallel", default=1, show_default=True, type=click.IntRange(min=1), help="Runs at a time.")
@click.option("--name", default=None, help="Sweep directory name (default: derived from config and grid).")
def sweep(config_path: str, grid: tuple[str, ...], overrides: tuple[str, ...], seeds: int | None, parallel: int,
          name: str | None) -> None:
    """Run a grid of overrides as separate runs; re-running skips what is done. Exit code 1 when a run failed.
    Settings run with several seeds (--seeds, or run.seed in the grid) are summed up as mean ± std, in the
    printed table and in TensorBoard (SWEEP/seeds)."""
    from w2v import experiments
    from w2v import seeds as seeds_lib
    from w2v import sweep as sweep_lib

    if not grid and not seeds:
        raise W2VError("sweep: give --grid KEY=V1,V2 (repeatable), --seeds N, or both")
    done = sweep_lib.run_sweep(Path(config_path), list(grid), list(overrides), parallel, name,
                               report=lambda line: click.echo(line, err=True), seeds=seeds)
    counts = {status: sum(t.status == status for t in done.trials)
              for status in ("completed", "failed", "interrupted", "pending")}
    shown = [f"{n} {status if status != 'pending' else 'not started'}" for status, n in counts.items()
             if n or status in ("completed", "failed")]
    click.echo(f"sweep {done.root}: {', '.join(shown)}")
    for t in done.trials:
        if t.status == "failed":
            click.echo(f"  failed {t.name}: {t.error}")
    click.echo(experiments.runs_table(sweep_lib.records(done.trials)))
    if seeds_lib.repeated(done.groups):
        click.echo("\nover seeds:\n" + seeds_lib.table(done.groups))
    if done.signal:
        click.echo("stopped; the same `w2v sweep` command continues it", err=True)
        sys.exit(128 + done.signal)
    if counts["failed"]:
        sys.exit(1)  # scripts and CI must see that a combination failed


def _debug_anywhere(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        ctx.find_root().obj["debug"] = True
        logging.getLogger().setLevel(logging.INFO)


# `w2v train --debug ...` as well as `w2v --debug train ...`: people add it to the command that failed.
for _command in cli.commands.values():
    _command.params.append(click.Option(["--debug"], is_flag=True, expose_value=False, is_eager=True,
                                        callback=_debug_anywhere,
                                        help="Show tracebacks for errors."))


def main() -> None:
    """Console-script entry point."""
    allocator.configure()  # before TensorFlow starts its threads
    cli(prog_name="w2v")


if __name__ == "__main__":
    main()
    sys.exit(0)
