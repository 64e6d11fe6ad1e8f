"""A card that travels with exported vectors: what they were trained on and how, how good they were, and how to
load them, as ``OUTPUT.card.json`` (for code) and ``OUTPUT.card.md`` (for people) beside the export.

Everything comes from the run directory (config.yaml, meta.json, eval/) and the corpus's shard cache, when it
is still there: vectors handed on without their run directory still say where they came from.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from w2v import config as config_lib
from w2v import corpus, evaluate, fileio, runs, shards
from w2v import meta as meta_lib
from w2v.errors import W2VError
from w2v.schema import DataConfig

LOADERS = {
    "word2vec": "from gensim.models import KeyedVectors; vectors = KeyedVectors.load_word2vec_format('{file}')",
    "word2vec-binary": "from gensim.models import KeyedVectors; "
                       "vectors = KeyedVectors.load_word2vec_format('{file}', binary=True)",
    "npy": "import numpy as np; matrix = np.load('{file}'); "
           "words = [line.split('\\t')[0] for line in open('{vocab}', encoding='utf-8')]",
    "tsv": "rows = [line.rstrip('\\n').split('\\t') for line in open('{file}', encoding='utf-8')]",
    "fasttext": "import fasttext; model = fasttext.load_model('{file}')  # or gensim.models.fasttext."
                "load_facebook_vectors('{file}')",
}


def _cache(data: DataConfig) -> dict[str, Any] | None:
    """The run's corpus cache, if it is still there and its corpus unchanged: its key, tokens and the SHA-256
    of its token shards. Nothing is downloaded or tokenised to find it."""
    if data.corpus == "text8" and not (Path(os.path.expanduser(data.cache_dir)) / "text8.zip").exists():
        return None
    try:
        files = corpus.source_files(data.corpus, data.cache_dir)
    except W2VError:  # the corpus moved or was deleted since training: the card says so
        return None
    directory = shards.cache_directory(data.corpus, files, data.cache_dir, data.tokenizer, data.lowercase)
    if not (directory / "index.json").exists():
        return None
    encoded = shards.ShardedCorpus.load(directory)
    digest = hashlib.sha256()
    for shard in range(len(encoded.shard_sizes)):
        with open(encoded.path(shard), "rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
    return {"cache_key": directory.name, "tokens": encoded.raw_tokens, "sha256": digest.hexdigest()}


def _evaluation(run_dir: Path, step: int) -> dict[str, Any] | None:
    """The run's own evaluation of these vectors (the exported step), else its latest one before them."""
    reports = {s: m for s, m in evaluate.reports(run_dir).items() if s <= step}
    if not reports:
        return None
    at = max(reports)
    return {"step": at, "of_these_vectors": at == step, "metrics": reports[at]}


def card(run_dir: Path, fmt: str, files: list[Path], step: int, checkpoint: str, words: int,
         dim: int) -> dict[str, Any]:
    """The card's contents."""
    config = runs.load_config(run_dir)
    meta = meta_lib.read(run_dir)
    vocab = {"words": words, "min_count": config.data.min_count, "max_vocab": config.data.max_vocab,
             "lowercase": config.data.lowercase, "tokenizer": config.data.tokenizer}
    return {
        "vectors": {"format": fmt, "files": [p.name for p in files], "words": words, "dimension": dim},
        "run": {"name": Path(run_dir).name, "path": str(Path(run_dir).resolve()), "step": step,
                "checkpoint": Path(checkpoint).name, "status": meta.get("status"),
                "words_trained": meta.get("words"), "command": meta.get("command"),
                # A resumed or extended run took several: its vectors are what all of them made.
                "commands": [session.get("command") for session in meta.get("sessions", [])]},
        "corpus": {"spec": config.data.corpus, "cache": _cache(config.data)},
        "vocabulary": vocab,
        "evaluation": _evaluation(run_dir, step),
        "versions": meta.get("versions"),
        "git": meta.get("git"),
        "load": LOADERS[fmt].format(file=files[0].name, vocab=files[-1].name),
        "config": config_lib.to_dict(config),
    }


def _markdown(c: dict[str, Any]) -> str:
    v, r, corp = c["vectors"], c["run"], c["corpus"]
    cache = corp["cache"]
    model = c["config"]["model"]
    lines = [f"# {r['name']}: word vectors at step {r['step']:,}", "",
             f"{v['words']:,} words × {v['dimension']} ({v['format']}: {', '.join(v['files'])}), trained by w2v "
             f"({model['architecture']}, {model['loss']}) on `{corp['spec']}`"
             + (f": {cache['tokens']:,} tokens, corpus cache {cache['cache_key']}, shards SHA-256 "
                f"`{cache['sha256']}`." if cache else " (its corpus cache is gone, or the corpus changed since)."),
             "", f"Vocabulary: words seen at least {c['vocabulary']['min_count']} times"
             + (", lowercased" if c["vocabulary"]["lowercase"] else "") + ".", "", "## Evaluation", ""]
    e = c["evaluation"]
    if e is None:
        lines.append("No evaluation of this run up to this step (`w2v eval RUN` makes one).")
    else:
        if not e["of_these_vectors"]:
            lines.append(f"The latest before these vectors, at step {e['step']:,}:")
            lines.append("")
        lines += [f"- {m.removeprefix('eval/')}: {evaluate.shown(m, x)}" for m, x in sorted(e["metrics"].items())]
    git = c["git"] or {}
    lines += ["", "## Load", "", "```python", c["load"], "```", "", "## Provenance", "",
              f"- run: `{r['path']}` (checkpoint `{r['checkpoint']}`, {r['status']})",
              "- " + ("command" if len(r["commands"]) <= 1 else "commands, one a session") + ": "
              + "; then ".join(f"`{command}`" for command in r["commands"] or [r["command"]]),
              "- versions: " + ", ".join(f"{k} {x}" for k, x in (c["versions"] or {}).items()),
              f"- git: {git.get('commit', 'not recorded')}" + (" (uncommitted changes)" if git.get("dirty") else ""),
              "- the whole config is in the `.card.json` beside this file", ""]
    return "\n".join(lines)


def write(output: Path, card_data: dict[str, Any]) -> list[Path]:
    """``OUTPUT.card.json`` and ``OUTPUT.card.md`` beside the export."""
    as_json, as_markdown = Path(f"{output}.card.json"), Path(f"{output}.card.md")
    fileio.write_text(as_json, json.dumps(card_data, indent=2))
    fileio.write_text(as_markdown, _markdown(card_data))
    return [as_json, as_markdown]
