"""w2v against its peers on the same corpus, cores and hyper-parameters, side by side, each run as its own
users run it: the speed, memory and quality benchmark in one table.

Every side is one whole process, from the corpus file to vectors on disk, timed from outside: wall time and
peak RSS as `/usr/bin/time -f "%e %M"` reports them (the rusage of the process, from os.wait4; or the summed
RSS of its process tree where that is larger, sampled every 20 ms). Then the
vectors each side wrote are read back and scored by the same code (w2v.evaluate, which agrees with gensim's
evaluators; see tests/test_evaluate.py): analogy accuracy (top 30k, 3CosAdd), WordSim-353 and SimLex-999
Spearman. The sides, all with the same threads (--workers, default the cores):

  w2v          `w2v train` on a config of these settings (or --config as shipped), the default deterministic
               engine, from an empty corpus cache; its vectors are the run's checkpoint
  w2v-hogwild  the same with train.hogwild: true
  gensim       gensim's Word2Vec (FastText with --subwords) streaming the corpus with LineSentence, as its
               documentation runs it; vectors saved with KeyedVectors.save
  pword2vec    Intel's pWord2Vec (HogBatch, Ji et al. 2016; skip-gram with negatives only), built from its
               source with g++ -O3 -march=native and OpenBLAS, -batch-size 11, vectors written with -binary 1,
               with the OpenBLAS kernels that trained it fastest on the corpus's first 2M words (OpenBLAS picks
               an older family's kernels on a CPU newer than it knows). It reads plain text only: a
               compressed corpus is decompressed for it first, outside its time.
  word2vec     Mikolov's word2vec.c, built from its source (github.com/tmikolov/word2vec) as its makefile
               builds it (gcc -O3 -march=native -funroll-loops), vectors written with -binary 1; plain text
               only, as pWord2Vec.
  fasttext     fastText's skip-gram or CBOW without subwords (minn=0, maxn=0: word2vec's model) through its
               Python module, as `fasttext skipgram` runs it; vectors written as a .vec file.

    python benchmarks/speed_vs_peers.py [--epochs 5] [--cbow] [--config configs/base.yaml] [--corpus PATH]
        [--sides w2v,w2v-hogwild,gensim,pword2vec,word2vec,fasttext] [--pword2vec BINARY | --pword2vec-src GIT_DIR]
        [--word2vec-src GIT_DIR]

The first line names the CPU (benchmarks/machine.py): its model, whether it has AVX-512, the instruction set
w2v's engine runs with there (W2V_ENGINE_ISA=avx2 measures the AVX2 one on an AVX-512 CPU), and the OPENBLAS_*
variables in force. A ratio holds on the CPU it was measured on.

pWord2Vec is built once into ~/.cache/w2v/bench from --pword2vec-src (a clone of
github.com/IntelLabs/pWord2Vec; cloned there when absent), which needs g++ and OpenBLAS's headers
(`apt-get install libopenblas-dev`); where it cannot be built, or the settings are not skip-gram with
negatives, its row says why and the others run. The corpus defaults to ../shared/corpora/gutenberg17m.txt.gz
when present, else the embedded default (gensim:all); the evaluation files to ../shared/eval when present,
else gensim's copies.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
BENCH_CACHE = Path.home() / ".cache" / "w2v" / "bench"
PWORD2VEC_GIT = "https://github.com/IntelLabs/pWord2Vec"
WORD2VEC_GIT = "https://github.com/tmikolov/word2vec"
PAGE = os.sysconf("SC_PAGE_SIZE")
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
import machine  # noqa: E402  (the CPU line)


def default_corpus() -> str:
    path = SHARED / "corpora" / "gutenberg17m.txt.gz"
    return str(path) if path.exists() else "gensim:all"


def eval_files() -> tuple[list[Path], list[Path]]:
    from w2v import evaluate

    shared = SHARED / "eval"
    if (shared / "questions-words.txt").exists():
        return [shared / "questions-words.txt"], [shared / "wordsim353.tsv", shared / "simlex999.txt"]
    return evaluate.default_files()


SUITE = False  # --suite: every side scored on the field's evaluation suite too (w2v eval --suite standard)


def score(words: list[str], vectors, unseen=None, unit=None) -> dict:
    """Analogy accuracy and similarity Spearman; with ``unseen`` (subword models: a word's vector from its
    n-grams), also the Spearman over every pair, words outside the vocabulary included; with ``SUITE``, every
    metric of the evaluation suite. ``unit``: the vectors' unit rows, where a run's vector cache has them."""
    from w2v import evaluate

    analogy_files, similarity_files = eval_files()
    chosen = evaluate.Vectors(words, vectors, True, unseen, unit)
    report = evaluate.Evaluator(analogy_files, similarity_files)(chosen, 0)
    ws, simlex = report.similarity
    analogy = report.analogies[0]
    suite = evaluate.Evaluator([], [], suite="standard")(chosen, 0).scalars() if SUITE else {}
    return {"analogy": analogy.accuracy, "ws353": ws.spearman, "simlex": simlex.spearman,
            "analogy_all": analogy.accuracy_all, "analogy_total_all": analogy.total_all, "analogy_total": analogy.total,
            "ws353_all": ws.spearman_all, "simlex_all": simlex.spearman_all, "skipped": ws.skipped + simlex.skipped,
            "suite": suite}


def w2v_config(args: argparse.Namespace, cache: str, hogwild: bool = False):
    """The w2v side's config: ``--config`` as shipped (pointed at the corpus, for ``--epochs``), or one
    made of the command line's settings."""
    from w2v import config

    common = [f"data.corpus={args.corpus}", f"train.epochs={args.epochs}", f"data.cache_dir={cache}",
              f"run.seed={args.seed}", f"train.hogwild={hogwild}", f"run.output_dir={cache}/runs",
              "checkpoint.dir=null"]
    if args.config:
        return config.load(args.config, common)
    overrides = [f"data.min_count={args.min_count}", f"data.window={args.window}", f"data.subsample={args.sample}",
                 f"data.tokenizer={args.tokenizer}", f"model.embedding_dim={args.dim}", f"model.loss={args.loss}",
                 f"model.architecture={'cbow' if args.cbow else 'skipgram'}", f"train.kernel={args.kernel}",
                 f"model.subwords={args.subwords}", f"model.buckets={args.buckets}",
                 "checkpoint.every_n_steps=1000000", "summary.histograms_every_n_steps=1000000",
                 "summary.scalars_every_n_steps=1000"]
    overrides += [f"train.{k}={v}" for k, v in (("batch_size", args.batch_size), ("learning_rate", args.lr),
                                                 ("threads", args.workers)) if v is not None]
    return config.apply_overrides(config.Config(), [*common, *overrides])


def _tree_rss_mb(root: int) -> float:
    """The summed RSS of a process and all its descendants now, from /proc (0 where there is none)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            parents[int(entry.name)] = int(fields[1])
            rss[int(entry.name)] = int(fields[21]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
    tree, frontier = {root}, [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier and pid not in tree]
        tree.update(frontier)
    return sum(rss.get(pid, 0) for pid in tree) / 2**20


def measure(command: list[str], log: str) -> None:
    """The measuring process: run ``command`` (its output to ``log``) and print its wall seconds and peak
    memory in MB as JSON: the larger of the process's peak RSS (what /usr/bin/time's %M reports, from
    os.wait4) and the summed RSS of its process tree, sampled every 20 ms (w2v tokenises a new corpus in a
    child process during its first seconds). It is a small process of its own because a forked child's peak
    RSS starts at its parent's size: forked from the benchmark, which has loaded TensorFlow to score the
    vectors, every side would seem to need 650 MB."""
    with open(log, "w") as out:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        tree_peak = 0.0
        stop = threading.Event()

        def sample() -> None:
            nonlocal tree_peak
            while not stop.wait(0.02):
                tree_peak = max(tree_peak, _tree_rss_mb(process.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        stop.set()
        sampler.join()
    print(json.dumps({"code": os.waitstatus_to_exitcode(status), "wall_s": wall,
                      "peak_mb": max(usage.ru_maxrss / 1024, tree_peak)}))


def timed(command: list[str], log: Path, env: dict | None = None) -> tuple[float, float]:
    """Run ``command`` to its end in a measuring process of its own (``measure``); its wall seconds and peak
    memory in MB. Raises with its output's tail when it fails."""
    done = subprocess.run([sys.executable, __file__, "--measure", json.dumps([command, str(log)])], env=env,
                          capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["code"] != 0:
        raise RuntimeError(f"{command[0]} exited with {result['code']}:\n{log.read_text()[-2000:]}")
    return result["wall_s"], result["peak_mb"]


def run_w2v(args: argparse.Namespace, tmp: Path, hogwild: bool) -> dict:
    from w2v import config, meta, runs

    # An empty cache, so the corpus is read, tokenised and counted in the timed process, as gensim's side does.
    cfg = w2v_config(args, str(tmp / "cache"), hogwild)
    config.dump(cfg, tmp / "config.yaml")
    command = [sys.executable, "-m", "w2v", "train", "--config", str(tmp / "config.yaml"), "--run-dir",
               str(tmp / "run"), "--quiet"]
    wall, peak = timed(command, tmp / "w2v.log")
    record = meta.read(tmp / "run")
    e = runs.read_embedding(tmp / "run")
    return {"wall_s": wall, "peak_mb": peak, "train_s": record["wall_time_s"],
            **score(e.vocab.words, e.vectors, e.unseen if e.ngrams is not None else None)}


def gensim_side(params: str) -> None:
    """The gensim side's process: train from the streamed corpus, save the vectors."""
    import logging

    from gensim.models import FastText, Word2Vec
    from gensim.models.word2vec import LineSentence

    p = json.loads(params)
    logging.basicConfig(format="%(asctime)s %(message)s", level=logging.INFO)
    model_class = FastText if p.pop("subwords") else Word2Vec
    out = p.pop("output")
    model = model_class(LineSentence(p.pop("corpus")), **p)
    model.wv.save(out)


def run_gensim(args: argparse.Namespace, tmp: Path) -> dict:
    from gensim.models import KeyedVectors

    cfg = w2v_config(args, "/nonexistent")
    data, model = cfg.data, cfg.model
    cbow, hs = model.architecture == "cbow", model.loss == "hs"
    params = dict(corpus=str(corpus_file(args, tmp, (".gz", ".bz2"))), output=str(tmp / "gensim.kv"),
                  subwords=model.subwords, vector_size=model.embedding_dim, window=data.window,
                  min_count=data.min_count, sample=data.subsample, sg=0 if cbow else 1, hs=int(hs),
                  negative=0 if hs else args.negative, workers=args.workers, seed=args.seed, epochs=args.epochs,
                  alpha=0.05 if cbow else 0.025)
    if model.subwords:
        params.update(min_n=model.min_n, max_n=model.max_n, bucket=model.buckets)
    wall, peak = timed([sys.executable, __file__, "--gensim-side", json.dumps(params)], tmp / "gensim.log")
    kv = KeyedVectors.load(str(tmp / "gensim.kv"))
    return {"wall_s": wall, "peak_mb": peak,
            **score(kv.index_to_key, kv.vectors, kv.get_vector if model.subwords else None)}


def pword2vec_binary(args: argparse.Namespace) -> Path:
    """pWord2Vec built from its source with g++ -O3 -march=native and OpenBLAS (MKL's BLAS calls are
    OpenBLAS's CBLAS ones); a RuntimeError saying why when it cannot be."""
    if args.pword2vec:
        return Path(args.pword2vec)
    built = BENCH_CACHE / "pWord2Vec-openblas"
    if built.exists():
        return built
    text = source_file(args.pword2vec_src, PWORD2VEC_GIT, BENCH_CACHE / "pWord2Vec.git", "pWord2Vec.cpp",
                       "--pword2vec-src or --pword2vec")
    text = text.replace('#include "mkl.h"', "#include <cblas.h>\n#include <cstdio>\n#include <cstdlib>\n"
                        "#include <xmmintrin.h>\nextern \"C\" void openblas_set_num_threads(int);\n"
                        "#define mkl_set_num_threads openblas_set_num_threads")
    return build(built, "pWord2Vec.cpp", text, lambda src, out: [
        os.environ.get("CXX", "g++"), "-std=c++11", "-fopenmp", "-O3", "-march=native", "-DUSE_MKL", "-o", str(out),
        str(src), "-lopenblas"], "; apt-get install libopenblas-dev")


def source_file(source: str | None, url: str, clone: Path, name: str, give: str) -> str:
    """The text of ``name`` in a git repository: ``source`` (a clone), else ``clone``, cloned from ``url``
    first when absent; a RuntimeError saying why (and to ``give`` these options) when it cannot be."""
    repository = Path(source) if source else clone
    if not repository.exists():
        cloned = subprocess.run(["git", "clone", "--quiet", "--bare", url, str(repository)], capture_output=True,
                                text=True)
        if cloned.returncode != 0:
            raise RuntimeError(f"cannot clone {url} ({cloned.stderr.strip()[-200:]}); give {give}")
    return subprocess.run(["git", "-C", str(repository), "show", f"HEAD:{name}"], capture_output=True, text=True,
                          check=True).stdout


def build(built: Path, name: str, text: str, command: Callable[[Path, Path], list[str]], advice: str = "") -> Path:
    """``built``, compiled by ``command(source, output)`` from ``text`` saved as ``name``, in a directory beside
    it and then moved into place whole; a RuntimeError with the compiler's last line and ``advice``."""
    BENCH_CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=BENCH_CACHE) as tmp:
        source, output = Path(tmp) / name, Path(tmp) / built.name
        source.write_text(text)
        done = subprocess.run(command(source, output), capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"building {Path(name).stem} failed ({last}){advice}")
        os.replace(output, built)
    return built


def corpus_file(args: argparse.Namespace, tmp: Path, compressions: tuple[str, ...]) -> Path:
    """The corpus as one file of lines that a peer reads: as it is when it is one file, plain or compressed in
    one of the ``compressions`` the peer reads (gensim's LineSentence: .gz, .bz2; pWord2Vec: none), else
    written out as plain text by w2v's own reader (decompressed, a directory's files joined, gensim:all)."""
    from w2v import corpus

    path = Path(os.path.expanduser(args.corpus))
    if path.is_file() and (path.suffix not in (".gz", ".bz2", ".zip") or path.suffix in compressions):
        return path
    target = tmp / "corpus.txt"
    with open(target, "w", encoding="utf-8") as dst:
        dst.writelines(line.rstrip("\n") + "\n" for line in corpus.iter_lines(args.corpus, str(tmp / "cache")))
    return target


def openblas_core(command: list[str], text: Path, tmp: Path, words: int = 2_000_000) -> tuple[str | None, str]:
    """The OpenBLAS kernels pWord2Vec runs fastest with here (None: those OpenBLAS picks itself), and a note of
    the trial. OpenBLAS chooses its kernels by the CPU's model, and one older than the CPU falls back to an older
    family's: on an AMD Zen 5 (family 26) OpenBLAS 0.3.21 runs Haswell's AVX2 kernels, with which pWord2Vec
    trained 0.9-1.3M words/s, against 3.4M with SkylakeX's AVX-512 ones (OPENBLAS_CORETYPE). Each candidate
    the CPU can run trains one epoch of the corpus's first ``words`` words; the fastest is kept."""
    import ctypes

    try:
        blas = ctypes.CDLL("libopenblas.so.0")
        blas.openblas_get_corename.restype = ctypes.c_char_p
        own = blas.openblas_get_corename().decode()
    except (OSError, AttributeError):
        own = "its own choice"
    flags = next((line for line in open("/proc/cpuinfo") if line.startswith("flags")), "").split()
    newer = (["Haswell"] if "avx2" in flags else []) + (["SkylakeX"] if "avx512f" in flags else [])
    candidates = [None] + [core for core in newer if core.lower() != own.lower()]
    sample, seen = tmp / "openblas-trial.txt", 0
    with open(text, encoding="utf-8", errors="replace") as src, open(sample, "w", encoding="utf-8") as dst:
        for line in src:
            dst.write(line)
            seen += len(line.split())
            if seen >= words:
                break
    trial = [str(sample) if part == str(text) else part for part in command]
    trial[trial.index("-iter") + 1] = "1"
    trial[trial.index("-output") + 1] = str(tmp / "openblas-trial.bin")
    seconds = {}
    for core in candidates:
        env = {**os.environ, **({"OPENBLAS_CORETYPE": core} if core else {})}
        start = time.perf_counter()
        subprocess.run(trial, env=env, capture_output=True, check=True)
        seconds[core] = time.perf_counter() - start
    best = min(seconds, key=seconds.get)
    note = ", ".join(f"{core or own + ' (default)'} {t:.2f} s" for core, t in seconds.items())
    return best, f"pWord2Vec's OpenBLAS kernels: {best or own}, the fastest on {seen:,} words ({note})"


def run_pword2vec(args: argparse.Namespace, tmp: Path) -> dict:
    from gensim.models import KeyedVectors

    cfg = w2v_config(args, "/nonexistent")
    data, model = cfg.data, cfg.model
    if model.architecture != "skipgram" or model.loss != "neg" or model.subwords:
        raise RuntimeError("pWord2Vec trains skip-gram with negatives only")
    binary = pword2vec_binary(args)
    text = corpus_file(args, tmp, ())
    command = [str(binary), "-train", str(text), "-output", str(tmp / "pword2vec.bin"), "-size",
               str(model.embedding_dim), "-window", str(data.window), "-negative", str(args.negative), "-sample",
               str(data.subsample), "-min-count", str(data.min_count), "-iter", str(args.epochs), "-threads",
               str(args.workers), "-batch-size", "11", "-binary", "1", "-alpha", "0.025"]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.workers)}
    core, note = openblas_core(command, text, tmp)
    wall, peak = timed(command, tmp / "pword2vec.log", {**env, **({"OPENBLAS_CORETYPE": core} if core else {})})
    kv = KeyedVectors.load_word2vec_format(str(tmp / "pword2vec.bin"), binary=True)
    return {"wall_s": wall, "peak_mb": peak, "note": note, **score(kv.index_to_key, kv.vectors)}


def word2vec_binary(args: argparse.Namespace) -> Path:
    """word2vec.c built as its makefile builds it; a RuntimeError saying why when it cannot be."""
    built = BENCH_CACHE / "word2vec"
    if built.exists():
        return built
    text = source_file(args.word2vec_src, WORD2VEC_GIT, BENCH_CACHE / "word2vec.git", "word2vec.c",
                       "--word2vec-src")
    return build(built, "word2vec.c", text, lambda src, out: [
        os.environ.get("CC", "gcc"), str(src), "-o", str(out), "-lm", "-pthread", "-O3", "-march=native", "-Wall",
        "-funroll-loops", "-Wno-unused-result"])


def run_word2vec(args: argparse.Namespace, tmp: Path) -> dict:
    from gensim.models import KeyedVectors

    cfg = w2v_config(args, "/nonexistent")
    data, model = cfg.data, cfg.model
    if model.subwords or model.loss not in ("neg", "hs"):
        raise RuntimeError("word2vec.c trains words alone, with negatives or hs")
    cbow, hs = model.architecture == "cbow", model.loss == "hs"
    command = [str(word2vec_binary(args)), "-train", str(corpus_file(args, tmp, ())), "-output",
               str(tmp / "word2vec.bin"), "-cbow", str(int(cbow)), "-size", str(model.embedding_dim), "-window",
               str(data.window), "-negative", "0" if hs else str(args.negative), "-hs", str(int(hs)), "-sample",
               str(data.subsample), "-min-count", str(data.min_count), "-iter", str(args.epochs), "-threads",
               str(args.workers), "-binary", "1", "-alpha", "0.05" if cbow else "0.025"]
    wall, peak = timed(command, tmp / "word2vec.log")
    kv = KeyedVectors.load_word2vec_format(str(tmp / "word2vec.bin"), binary=True)
    return {"wall_s": wall, "peak_mb": peak, **score(kv.index_to_key, kv.vectors)}


def fasttext_side(params: str) -> None:
    """The fastText side's process: train from the corpus file, write the vectors as a .vec file."""
    import fasttext

    p = json.loads(params)
    out = p.pop("output")
    model = fasttext.train_unsupervised(**p)
    words = model.get_words()
    with open(out, "w", encoding="utf-8") as f:
        f.write(f"{len(words)} {model.get_dimension()}\n")
        for word in words:
            f.write(word + " " + " ".join(f"{x:.6g}" for x in model.get_word_vector(word)) + "\n")


def run_fasttext(args: argparse.Namespace, tmp: Path) -> dict:
    from gensim.models import KeyedVectors

    cfg = w2v_config(args, "/nonexistent")
    data, model = cfg.data, cfg.model
    if model.loss not in ("neg", "hs"):
        raise RuntimeError("fastText trains with negatives (ns) or hs")
    cbow, hs = model.architecture == "cbow", model.loss == "hs"
    params = dict(input=str(corpus_file(args, tmp, ())), output=str(tmp / "fasttext.vec"),
                  model="cbow" if cbow else "skipgram", dim=model.embedding_dim, ws=data.window,
                  minCount=data.min_count, t=data.subsample, loss="hs" if hs else "ns", neg=args.negative,
                  epoch=args.epochs, thread=args.workers, lr=0.05 if cbow else 0.025, verbose=0,
                  **({"minn": model.min_n, "maxn": model.max_n, "bucket": model.buckets} if model.subwords
                     else {"minn": 0, "maxn": 0}))
    wall, peak = timed([sys.executable, __file__, "--fasttext-side", json.dumps(params)], tmp / "fasttext.log")
    kv = KeyedVectors.load_word2vec_format(str(tmp / "fasttext.vec"))
    return {"wall_s": wall, "peak_mb": peak, **score(kv.index_to_key, kv.vectors)}


RUNNERS = {
    "w2v": lambda args, tmp: run_w2v(args, tmp, False),
    "w2v-hogwild": lambda args, tmp: run_w2v(args, tmp, True),
    "gensim": run_gensim,
    "pword2vec": run_pword2vec,
    "word2vec": run_word2vec,
    "fasttext": run_fasttext,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gensim-side", help=argparse.SUPPRESS)
    parser.add_argument("--fasttext-side", help=argparse.SUPPRESS)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--config", help="w2v trains this config as shipped (pointed at --corpus, for --epochs)")
    parser.add_argument("--corpus", default=default_corpus())
    parser.add_argument("--tokenizer", default="whitespace")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--negative", type=int, default=5, help="the peers' negatives (w2v: its loss's default)")
    parser.add_argument("--sample", type=float, default=1e-4)
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--cbow", action="store_true", help="CBOW (gensim sg=0; pWord2Vec has none)")
    parser.add_argument("--workers", type=int, default=None, help="threads on every side (default: the cores)")
    parser.add_argument("--loss", default="neg", help="w2v loss (neg is gensim's objective; with hs gensim trains "
                        "hs=1, negative=0)")
    parser.add_argument("--subwords", action="store_true", help="subword models: w2v model.subwords, gensim FastText")
    parser.add_argument("--buckets", type=int, default=2000000, help="n-gram buckets with --subwords")
    parser.add_argument("--batch-size", type=int, default=None, help="w2v batch (default: its kernel's)")
    parser.add_argument("--kernel", default="auto", help="w2v train.kernel")
    parser.add_argument("--lr", type=float, default=None, help="w2v learning rate (default: its objective's)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sides", default="w2v,w2v-hogwild,gensim,pword2vec,word2vec,fasttext",
                        help="comma-separated, in the order run: " + ", ".join(RUNNERS))
    parser.add_argument("--pword2vec", help="a built pWord2Vec binary (default: build one)")
    parser.add_argument("--pword2vec-src", help="a git repository of pWord2Vec to build from (default: clone it)")
    parser.add_argument("--word2vec-src", help="a git repository of word2vec.c to build from (default: clone it)")
    parser.add_argument("--suite", action="store_true", help="score every side on the evaluation suite too (`w2v "
                        "eval --suite standard`'s sets, fetched into ~/.cache/w2v/eval-suite on first use)")
    args = parser.parse_args()
    global SUITE
    SUITE = args.suite
    if args.measure:
        measure(*json.loads(args.measure))
        return
    if args.gensim_side:
        gensim_side(args.gensim_side)
        return
    if args.fasttext_side:
        fasttext_side(args.fasttext_side)
        return
    args.workers = args.workers or len(os.sched_getaffinity(0))
    if {"w2v", "w2v-hogwild"} & set(args.sides.split(",")):
        # Built once per TensorFlow version and source (the engine, the tokeniser): not part of any run's time.
        subprocess.run([sys.executable, "-c", "from w2v import fused, tokens; fused.load(); tokens.library()"],
                       check=True, cwd=ROOT, capture_output=True)
    rows: dict[str, dict | str] = {}
    for side in args.sides.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            try:
                rows[side] = RUNNERS[side](args, Path(tmp))
            except RuntimeError as e:
                rows[side] = str(e)
    report(args, rows)


def report(args: argparse.Namespace, rows: dict[str, dict | str]) -> None:
    """The table: each side's scores, wall time, peak memory and its speed against gensim's and pWord2Vec's."""
    from w2v.estimate import counted

    cfg = w2v_config(args, "/nonexistent")
    objective = "hs=1, negative=0" if cfg.model.loss == "hs" else f"negative {args.negative}"
    if args.subwords:
        objective = f"FastText, n-grams {cfg.model.min_n}-{cfg.model.max_n}, {cfg.model.buckets:,} buckets, {objective}"
    print(f"{time.strftime('%Y-%m-%d')}, {machine.cpu()}")
    print(f"corpus {cfg.data.corpus}, {counted(args.epochs, 'epoch')}, {cfg.model.architecture}, "
          f"dim {cfg.model.embedding_dim}, "
          f"window {cfg.data.window}, sample {cfg.data.subsample}, min_count {cfg.data.min_count}; w2v "
          f"{args.config or 'loss ' + cfg.model.loss}; peers {objective}; {args.workers} threads each")
    peers = ("gensim", "pword2vec", "word2vec", "fasttext")
    print(f"{'':12} {'analogy':>8} {'ws353':>7} {'simlex':>7} {'wall s':>8} {'peak MB':>8} "
          + " ".join(f"{'vs ' + peer:>12}" for peer in peers))
    done = {side: r for side, r in rows.items() if isinstance(r, dict)}
    for side, r in rows.items():
        if not isinstance(r, dict):
            print(f"{side:12} skipped: {r}")
            continue
        ratios = [f"{done[peer]['wall_s'] / r['wall_s']:.2f}" if peer in done else "-" for peer in peers]
        print(f"{side:12} {100 * r['analogy']:7.2f}% {r['ws353']:7.3f} {r['simlex']:7.3f} {r['wall_s']:8.1f} "
              f"{r['peak_mb']:8.0f} " + " ".join(f"{ratio:>12}" for ratio in ratios))
    if args.subwords and done:
        first = next(iter(done.values()))
        print(f"with words outside the vocabulary scored too (their vectors from their n-grams): the "
              f"{first['skipped']} WS-353/SimLex pairs that have one, and analogy questions whose answer is known "
              f"({first['analogy_total_all']:,} instead of {first['analogy_total']:,}): "
              + "; ".join(f"{side} analogy {100 * r['analogy_all']:.2f}%, WS-353 {r['ws353_all']:.3f}, SimLex "
                          f"{r['simlex_all']:.3f}" for side, r in done.items()))
    if args.suite and done:
        from w2v import evaluate
        from w2v.experiments import short_name

        print(f"{'evaluation suite':44}" + "".join(f"{side:>12}" for side in done))
        for metric in next(iter(done.values()))["suite"]:
            print(f"  {short_name(metric):42}" + "".join(f"{evaluate.shown(metric, r['suite'].get(metric)):>12}"
                                                      for r in done.values()))
    trained = "; ".join(f"{side} {r['train_s']:.1f} s" for side, r in done.items() if "train_s" in r)
    print("wall s, peak MB: the whole process, from the corpus file to vectors on disk; vs: the peer's wall time "
          "over this side's" + (f". w2v's training loop alone: {trained}" if trained else ""))
    for r in done.values():
        if "note" in r:
            print(r["note"])


if __name__ == "__main__":
    main()
