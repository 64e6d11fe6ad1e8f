"""w2v at the size users train at, side by side with its peers: a corpus of tens of millions of tokens and a
vocabulary of about a million words at dimension 300, the shipped config (configs/base.yaml, its own periods),
and every command a user then runs on the run.

The corpus is made here (kept in ~/.cache/w2v/bench/scale for the next run): by default N tokens drawn over V
types from a seeded Zipf law (exponent 1: 60M tokens over 3M types leave 957k words seen 5 times or more, the
vocabulary of a web crawl's tens of millions of words), each type spelled in letters (a, b, ..., z, aa, ...) so
that every tokeniser reads it as one word, 100 a line; or with --corpus gutenberg, ../shared's 17M tokens of
books repeated --repeat times (real text, whose vocabulary grows little with repeats); or a file of your own.

It prints, per stage of one `w2v train` process (timed from outside as speed_vs_peers.py times every side, the
stages from the run's meta.json): start-up (tokenising, the vocabulary, the tables' initial values), training
and its words/s, the seconds each periodic action took in all (checkpoints, histograms, scalars, meta.json,
evaluation), the last step to the process's exit, the peak RSS against the tables' bytes and what the plan line
said, and the bytes on disk; then the wall seconds and peak RSS of each command on the finished run (neighbors
twice, eval, every export format, `w2v.load` and one `most_similar`, visualize) and of gensim's
save_word2vec_format on the same vectors. gensim (streamed, LineSentence) and pWord2Vec (speed_vs_peers.py's
build) train the same corpus with the same settings (skip-gram, negative 5, window 5, sample 1e-3, min_count 5,
dimension 300, the same threads), one whole process each, scored by the same evaluator (a Zipf corpus has no
meaning to learn: there the scores only show that every side's vectors were read). Then, unless skipped:

  kill       a second w2v run of the same config with checkpoints every quarter epoch, killed with SIGKILL
             after its second, resumed with `w2v resume`, its tables compared with the first run's
  multi      two loopback workers (distribute.strategy multi_worker, one thread each) on the same corpus:
             their syncs, the bytes and seconds of a sync and of the epoch

    python benchmarks/scale.py [--tokens 60000000] [--types 3000000] [--corpus zipf|gutenberg|PATH]
        [--repeat 4] [--dim 300] [--epochs 1] [--sides w2v,gensim,pword2vec] [--skip kill,multi]
        [--pword2vec BINARY | --pword2vec-src GIT_DIR]

A billion tokens are extrapolated from the words/s measured (and said to be).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import machine  # noqa: E402  (the CPU line)
import multi_worker  # noqa: E402  (the loopback cluster launcher)
import speed_vs_peers as peers  # noqa: E402  (the whole-process timing, the peers' builds, the evaluator)

ROOT = BENCH.parent
SCALE_CACHE = peers.BENCH_CACHE / "scale"
LINE_WORDS = 100
QUERY = "ab"  # a frequent word of the Zipf corpus (rank 28)


def spelled(rank: int) -> str:
    """A type's word: its rank in bijective base 26 (0 -> a, 25 -> z, 26 -> aa, ...)."""
    letters = []
    rank += 1
    while rank:
        rank, digit = divmod(rank - 1, 26)
        letters.append(chr(ord("a") + digit))
    return "".join(reversed(letters))


def zipf_corpus(path: Path, tokens: int, types: int, exponent: float = 1.0, seed: int = 0) -> Path:
    """``tokens`` tokens over ``types`` types, rank r drawn with probability proportional to r^-exponent."""
    import numpy as np

    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    cdf = np.cumsum(np.arange(1, types + 1, dtype=np.float64) ** -exponent)
    cdf /= cdf[-1]
    words = np.array([spelled(r) for r in range(types)], dtype=object)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".part"), "w", encoding="ascii") as f:
        for start in range(0, tokens, 1_000_000):
            drawn = words[np.minimum(np.searchsorted(cdf, rng.random(min(1_000_000, tokens - start))), types - 1)]
            f.write("".join(" ".join(drawn[i:i + LINE_WORDS]) + "\n" for i in range(0, len(drawn), LINE_WORDS)))
    os.replace(path.with_suffix(".part"), path)
    return path


def gutenberg_corpus(path: Path, repeat: int) -> Path:
    """../shared's Gutenberg corpus ``repeat`` times, as plain text."""
    import gzip

    if path.exists():
        return path
    source = peers.SHARED / "corpora" / "gutenberg17m.txt.gz"
    with open(path.with_suffix(".part"), "wb") as out:
        for _ in range(repeat):
            with gzip.open(source) as f:
                while block := f.read(1 << 24):
                    out.write(block)
    os.replace(path.with_suffix(".part"), path)
    return path


def make_corpus(args: argparse.Namespace) -> Path:
    if args.corpus == "zipf":
        return zipf_corpus(SCALE_CACHE / f"zipf-{args.tokens}-{args.types}-seed{args.seed}.txt", args.tokens,
                           args.types, seed=args.seed)
    if args.corpus == "gutenberg":
        return gutenberg_corpus(SCALE_CACHE / f"gutenberg-x{args.repeat}.txt", args.repeat)
    return Path(args.corpus)


def w2v_sets(args: argparse.Namespace, tmp: Path, corpus: Path) -> list[str]:
    """configs/base.yaml as shipped, on this corpus at this dimension, with the peers' objective."""
    return [f"data.corpus={corpus}", f"model.embedding_dim={args.dim}", "model.loss=neg", f"train.epochs={args.epochs}",
            f"data.cache_dir={tmp / 'cache'}", f"run.output_dir={tmp / 'runs'}", "checkpoint.dir=null",
            f"run.seed={args.seed}", f"train.threads={args.workers}"]


def w2v_command(*words: object) -> list[str]:
    return [sys.executable, "-m", "w2v", *map(str, words)]


def disk_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file() and not p.is_symlink())


def train_w2v(args: argparse.Namespace, tmp: Path, corpus: Path) -> dict:
    """The w2v process from the corpus file (an empty corpus cache) to vectors on disk, and its stages."""
    from w2v import config, estimate, meta

    cfg = config.load(ROOT / "configs" / "base.yaml", w2v_sets(args, tmp, corpus))
    config.dump(cfg, tmp / "w2v.yaml")
    run_dir = tmp / "run"
    started = time.time()
    wall, peak = peers.timed(w2v_command("train", "--config", tmp / "w2v.yaml", "--run-dir", run_dir),
                             tmp / "w2v.log")
    record = meta.read(run_dir)
    timing = record["sessions"][-1]["time"]
    log = (tmp / "w2v.log").read_text()
    plan = next(line for line in log.splitlines() if line.startswith(f"run {run_dir}:"))
    vocab = sum(1 for _ in open(run_dir / "vocab.tsv", encoding="utf-8"))
    resolved = config.load(run_dir / "config.yaml")
    training = timing["training_stopped"] - timing["training_started"]
    return {"wall_s": wall, "peak_mb": peak, "plan": plan, "vocab": vocab, "words": record["words"],
            "steps": record["step"], "setup_s": timing["training_started"] - started, "train_s": training,
            "words_per_s": record["words"] / training, "periodic_s": timing["periodic_s"],
            "at_end_s": timing["at_end_s"], "last_step_to_exit_s": started + wall - timing["training_stopped"],
            "tables_mb": estimate.table_bytes(resolved, vocab) / 2**20, "disk_mb": disk_bytes(run_dir) / 2**20,
            "run_dir": str(run_dir)}


def commands(args: argparse.Namespace, tmp: Path, run_dir: Path) -> list[tuple[str, float, float]]:
    """Each command a user runs on a finished run: its wall seconds and peak MB, one whole process each."""
    rows = []

    def run(label: str, command: list[str]) -> None:
        wall, peak = peers.timed(command, tmp / "command.log")
        rows.append((label, wall, peak))

    run("neighbors (first)", w2v_command("neighbors", run_dir, QUERY, "-k", "5"))
    run("neighbors", w2v_command("neighbors", run_dir, QUERY, "-k", "5"))
    run("eval", w2v_command("eval", run_dir))
    for fmt, suffix in (("word2vec", "txt"), ("word2vec-binary", "bin"), ("npy", "npy"), ("tsv", "tsv")):
        out = tmp / f"export.{suffix}"
        run(f"export --format {fmt}", w2v_command("export", run_dir, "--format", fmt, "-o", out))
        if fmt != "word2vec":
            out.unlink()
    run("w2v.load + most_similar", [sys.executable, "-c", f"import w2v; w2v.load({str(run_dir)!r})"
                                                           f".most_similar({QUERY!r}, topn=5)"])
    run("visualize", w2v_command("visualize", run_dir, "-o", tmp / "map.png"))
    # gensim's own text writer on the same vectors (read from w2v's export outside the timed call).
    script = ("import sys, time; from gensim.models import KeyedVectors; "
              "kv = KeyedVectors.load_word2vec_format(sys.argv[1]); t = time.perf_counter(); "
              "kv.save_word2vec_format(sys.argv[2]); print(time.perf_counter() - t)")
    done = subprocess.run([sys.executable, "-c", script, str(tmp / "export.txt"), str(tmp / "gensim.txt")],
                          capture_output=True, text=True, check=True)
    rows.append(("gensim save_word2vec_format (the call alone)", float(done.stdout.split()[-1]), float("nan")))
    (tmp / "gensim.txt").unlink()
    (tmp / "export.txt").unlink()
    return rows


def gensim_side(args: argparse.Namespace, tmp: Path, corpus: Path) -> dict:
    from gensim.models import KeyedVectors

    params = dict(corpus=str(corpus), output=str(tmp / "gensim.kv"), subwords=False, vector_size=args.dim, window=5,
                  min_count=5, sample=1e-3, sg=1, hs=0, negative=5, workers=args.workers, seed=args.seed,
                  epochs=args.epochs, alpha=0.025)
    wall, peak = peers.timed([sys.executable, peers.__file__, "--gensim-side", json.dumps(params)],
                             tmp / "gensim.log")
    kv = KeyedVectors.load(str(tmp / "gensim.kv"))
    return {"wall_s": wall, "peak_mb": peak, "vocab": len(kv.index_to_key), **peers.score(kv.index_to_key, kv.vectors)}


def pword2vec_side(args: argparse.Namespace, tmp: Path, corpus: Path) -> dict:
    from gensim.models import KeyedVectors

    binary = peers.pword2vec_binary(args)
    command = [str(binary), "-train", str(corpus), "-output", str(tmp / "pword2vec.bin"), "-size", str(args.dim),
               "-window", "5", "-negative", "5", "-sample", "1e-3", "-min-count", "5", "-iter", str(args.epochs),
               "-threads", str(args.workers), "-batch-size", "11", "-binary", "1", "-alpha", "0.025"]
    core, note = peers.openblas_core(command, corpus, tmp)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.workers), **({"OPENBLAS_CORETYPE": core} if core else {})}
    wall, peak = peers.timed(command, tmp / "pword2vec.log", env)
    kv = KeyedVectors.load_word2vec_format(str(tmp / "pword2vec.bin"), binary=True)
    return {"wall_s": wall, "peak_mb": peak, "vocab": len(kv.index_to_key), "note": note,
            **peers.score(kv.index_to_key, kv.vectors)}


def killed_and_resumed(args: argparse.Namespace, tmp: Path, corpus: Path, whole: Path, steps: int) -> dict:
    """A run with checkpoints every quarter epoch, killed with SIGKILL after its second, then resumed: are its
    final tables the uninterrupted run's, bit for bit?"""
    import numpy as np

    from w2v import config, runs, state

    every = max(steps // (4 * args.epochs), 1)
    sets = w2v_sets(args, tmp, corpus)
    sets[sets.index(f"data.cache_dir={tmp / 'cache'}")] = f"data.cache_dir={tmp / 'cache-kill'}"
    cfg = config.load(ROOT / "configs" / "base.yaml", [*sets, f"checkpoint.every_n_steps={every}"])
    config.dump(cfg, tmp / "kill.yaml")
    run_dir = tmp / "killed"
    with open(tmp / "kill.log", "w") as log:
        proc = subprocess.Popen(w2v_command("train", "--config", tmp / "kill.yaml", "--run-dir", run_dir, "--quiet"),
                                stdout=log, stderr=subprocess.STDOUT)
        while not (run_dir / "checkpoints" / f"ckpt-{2 * every}.index").exists():
            if proc.poll() is not None:
                raise RuntimeError(f"the run to kill ended first:\n{(tmp / 'kill.log').read_text()[-2000:]}")
            time.sleep(0.2)
        time.sleep(5)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    started = time.perf_counter()
    subprocess.run(w2v_command("resume", run_dir, "--quiet"), check=True, capture_output=True)
    resumed_s = time.perf_counter() - started
    a, b = state.read(runs.checkpoint_path(run_dir)), state.read(runs.checkpoint_path(whole))
    same = a.step == b.step and all(np.array_equal(x, y) for x, y in ((a.embedding, b.embedding),
                                                                     (a.output_weights, b.output_weights)))
    return {"every": every, "killed_after": 2 * every, "resume_s": resumed_s, "identical": same, "step": a.step}


def two_workers(args: argparse.Namespace, tmp: Path, corpus: Path) -> dict:
    """Two loopback workers of one thread each: their syncs (meta.json's averaging record), wall and peak."""
    from w2v import config, meta

    sets = w2v_sets(args, tmp, corpus)
    sets[sets.index(f"train.threads={args.workers}")] = "train.threads=1"
    cfg = config.load(ROOT / "configs" / "base.yaml", [*sets, "distribute.strategy=multi_worker"])
    config.dump(cfg, tmp / "multi.yaml")
    w2v = ["train", "--config", str(tmp / "multi.yaml"), "--run-dir", str(tmp / "multi"), "--quiet"]
    launch = [sys.executable, multi_worker.__file__, "--launch", json.dumps([2, w2v, str(tmp / "m.log")])]
    wall, peak = peers.timed(launch, tmp / "multi.log")
    record = meta.read(tmp / "multi")
    timing = record["sessions"][-1]["time"]
    return {"wall_s": wall, "peak_mb": peak, "averaging": record["averaging"], "words": record["words"],
            "train_s": timing["training_stopped"] - timing["training_started"],
            "sync_every": cfg.distribute.sync_every_n_steps}


def report(args: argparse.Namespace, corpus: Path, results: dict) -> None:
    done = {k: v if isinstance(v, dict | list) else None for k, v in results.items()}
    w2v, rows, peers_done, kill, multi = (done[k] for k in ("w2v", "commands", "sides", "kill", "multi"))
    for name, value in results.items():
        if isinstance(value, str):
            print(f"{name}: {value}")
    print(f"\n{time.strftime('%Y-%m-%d')}, {machine.cpu()}")
    print(f"corpus {corpus} ({args.corpus}), {args.epochs} epoch(s), skip-gram negative 5, dimension {args.dim}, "
          f"window 5, sample 1e-3, min_count 5, {args.workers} threads a side")
    if w2v:
        print(f"\nw2v train, configs/base.yaml as shipped (model.loss=neg, dimension {args.dim}):\n  {w2v['plan']}")
        periodic = sum(w2v["periodic_s"].values())
        stages = [("start-up: tokenise, vocabulary, tables", f"{w2v['setup_s']:.1f} s"),
                  ("training", f"{w2v['train_s']:.1f} s, {w2v['words_per_s']:,.0f} words/s, "
                               f"{w2v['steps']:,} steps"),
                  *((f"  periodic: {name}", f"{seconds:.1f} s") for name, seconds in w2v["periodic_s"].items()
                    if name != "progressbar"),
                  ("  periodic in all", f"{periodic:.1f} s, {periodic / w2v['train_s']:.1%} of training"),
                  ("last step to exit", f"{w2v['last_step_to_exit_s']:.1f} s (" + ", ".join(
                      f"{name} {s:.1f} s" for name, s in w2v["at_end_s"].items() if s >= 0.05) + ")"),
                  ("whole process", f"{w2v['wall_s']:.1f} s"),
                  ("peak RSS", f"{w2v['peak_mb']:,.0f} MB; tables {w2v['tables_mb']:,.0f} MB, vocabulary "
                               f"{w2v['vocab']:,}; tables + {(w2v['peak_mb'] - w2v['tables_mb']) / 1024:.2f} GB"),
                  ("on disk", f"{w2v['disk_mb']:,.0f} MB (checkpoints, vector cache, summaries)")]
        for label, value in stages:
            print(f"  {label:42} {value}")
    if rows:
        print("\ncommands on the finished run (whole processes):")
        for label, wall, peak in rows:
            print(f"  {label:44} {wall:7.2f} s" + (f" {peak:8,.0f} MB" if peak == peak else ""))
    if peers_done:
        print(f"\n{'side':12} {'wall s':>8} {'peak MB':>8} {'words/s':>10} {'vocab':>9} {'analogy':>8} "
              f"{'ws353':>7} {'vs w2v':>7}")
        for side, r in peers_done.items():
            if isinstance(r, str):
                print(f"{side:12} skipped: {r}")
                continue
            rate = args.tokens_read / r["wall_s"]
            ratio = f"{r['wall_s'] / peers_done['w2v']['wall_s']:.2f}" if isinstance(peers_done.get("w2v"), dict) \
                else "-"
            print(f"{side:12} {r['wall_s']:8.1f} {r['peak_mb']:8,.0f} {rate:10,.0f} {r['vocab']:9,} "
                  f"{100 * r['analogy']:7.2f}% {r['ws353']:7.3f} {ratio:>7}")
        print("words/s: the corpus's tokens over the whole process's wall time; vs w2v: this side's wall time over "
              "w2v's")
        billion = {side: 1e9 / (args.tokens_read / r["wall_s"]) / 3600 for side, r in peers_done.items()
                   if isinstance(r, dict)}
        print("a billion tokens, an epoch (extrapolated from the words/s above, not measured): " +
              ", ".join(f"{side} {hours:.1f} h" for side, hours in billion.items()))
        for r in peers_done.values():
            if isinstance(r, dict) and "note" in r:
                print(r["note"])
    if kill:
        print(f"\nkill -9 and resume: checkpoints every {kill['every']:,} steps, killed after step "
              f"{kill['killed_after']:,}, resumed in {kill['resume_s']:.1f} s to step {kill['step']:,}: tables "
              + ("bit-identical to the uninterrupted run's" if kill["identical"] else "DIFFER from the uninterrupted "
                                                                                     "run's"))
    if multi:
        a = multi["averaging"]
        print(f"\ntwo loopback workers x 1 thread, a sync every {multi['sync_every']} steps: wall "
              f"{multi['wall_s']:.1f} s, training {multi['train_s']:.1f} s, "
              f"{multi['words'] / multi['train_s']:,.0f} words/s, peak "
              f"{multi['peak_mb']:,.0f} MB (both); {a['syncs']:,} syncs ({a['whole']} of whole tables), "
              f"{a['bytes'] / a['syncs'] / 2**20:.1f} MB and {a['seconds'] / a['syncs']:.3f} s a sync, "
              f"{a['bytes'] / args.epochs / 2**20:,.0f} MB and {a['seconds'] / args.epochs:.1f} s an epoch "
              f"({a['seconds'] / multi['train_s']:.1%} of training)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="zipf", help="zipf, gutenberg or a text file")
    parser.add_argument("--tokens", type=int, default=60_000_000, help="zipf: tokens")
    parser.add_argument("--types", type=int, default=3_000_000, help="zipf: types drawn from")
    parser.add_argument("--repeat", type=int, default=4, help="gutenberg: copies")
    parser.add_argument("--dim", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)), help="threads, every side")
    parser.add_argument("--sides", default="w2v,gensim,pword2vec")
    parser.add_argument("--skip", default="", help="comma-separated: commands, kill, multi")
    parser.add_argument("--pword2vec", help="a built pWord2Vec binary (default: build one)")
    parser.add_argument("--pword2vec-src", help="a git repository of pWord2Vec to build from (default: clone it)")
    args = parser.parse_args()
    from w2v import quiet, runs

    skip = set(args.skip.split(","))
    corpus = make_corpus(args)
    args.tokens_read = sum(len(line.split()) for line in open(corpus, encoding="utf-8", errors="replace"))
    subprocess.run([sys.executable, "-c", "from w2v import fused, tokens; fused.load(); tokens.library()"],
                   check=True, cwd=ROOT, capture_output=True)
    quiet.tensorflow()  # this process reads checkpoints (the kill side) as w2v does
    results: dict = {"w2v": None, "commands": [], "sides": {}, "kill": None, "multi": None}
    saved = SCALE_CACHE / f"results-{time.strftime('%Y%m%d-%H%M%S')}.json"

    def part(name: str, work) -> None:
        """One part of the benchmark, its result kept (and written out) as soon as it has one; a part that
        fails says why in the report and the others go on."""
        try:
            results[name] = work()
        except (RuntimeError, subprocess.CalledProcessError, KeyError, OSError) as e:
            results[name] = f"failed: {e.__class__.__name__}: {str(e)[-1500:]}"
        saved.write_text(json.dumps(results, default=str))

    with tempfile.TemporaryDirectory(dir=SCALE_CACHE) as tmp:
        tmp = Path(tmp)
        for side in args.sides.split(","):
            if side == "w2v":
                part("w2v", lambda: train_w2v(args, tmp, corpus))
                w2v = results["w2v"] if isinstance(results["w2v"], dict) else None
                if w2v:
                    e = runs.read_embedding(Path(w2v["run_dir"]))
                    results["sides"]["w2v"] = {**w2v, **peers.score(e.vocab.words, e.vectors, unit=e.unit())}
                    if "commands" not in skip:
                        part("commands", lambda: commands(args, tmp, Path(w2v["run_dir"])))  # noqa: B023
                else:
                    results["sides"]["w2v"] = results["w2v"]
            elif side in ("gensim", "pword2vec"):
                runner = gensim_side if side == "gensim" else pword2vec_side
                part(side, lambda: runner(args, tmp, corpus))  # noqa: B023
                results["sides"][side] = results.pop(side)
        w2v = results["w2v"] if isinstance(results["w2v"], dict) else None
        if w2v and "kill" not in skip:
            part("kill", lambda: killed_and_resumed(args, tmp, corpus, Path(w2v["run_dir"]), w2v["steps"]))
        if "multi" not in skip:
            part("multi", lambda: two_workers(args, tmp, corpus))
    report(args, corpus, results)
    print(f"(the results as JSON: {saved})")


if __name__ == "__main__":
    main()
