"""The ``w2v`` command line: parses arguments and calls library functions, nothing more."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from w2v.errors import W2VError

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


@click.group(cls=_Group)
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(package_name="w2v")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """word2vec experiments on TensorFlow 2."""
    ctx.obj = {"debug": debug}
    logging.basicConfig(level=logging.INFO if debug else logging.WARNING, format="%(levelname)s %(message)s")


def _report(result) -> None:
    click.echo(f"run {result.run_dir}: step {result.step}, loss {result.loss:.4f}, "
               f"{result.words_per_sec:,.0f} words/s")


@cli.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), required=True, help="YAML config file.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key, e.g. "
              "train.batch_size=4096.")
@click.option("--name", default=None, help="Run name (overrides run.name).")
@click.option("--run-dir", type=click.Path(file_okay=False), default=None, help="Exact run directory to create.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train(config_path: str, overrides: tuple[str, ...], name: str | None, run_dir: str | None, quiet: bool) -> None:
    """Train a new run from a config file."""
    from w2v import config as config_lib
    from w2v import runs, trainer

    overrides = list(overrides) + ([f"run.name={name}"] if name else [])
    config = config_lib.load(config_path, overrides)
    target = Path(run_dir) if run_dir else runs.resolve_run_dir(config, config_path)
    _report(trainer.train(config, target, show_progress=not quiet))


@cli.command()
@click.argument("run_dir", type=click.Path())
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a saved config key, e.g. "
              "train.epochs=10 to extend a finished run.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def resume(run_dir: str, overrides: tuple[str, ...], quiet: bool) -> None:
    """Continue a run from its latest checkpoint."""
    from w2v import trainer

    _report(trainer.resume(Path(run_dir), list(overrides), show_progress=not quiet))


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="w2v")


if __name__ == "__main__":
    main()
    sys.exit(0)
