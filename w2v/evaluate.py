"""Word-vector quality the way the field measures it: Google analogies and word-similarity sets.

Scoring follows gensim's ``evaluate_word_analogies`` / ``evaluate_word_pairs`` (and so word2vec's
compute-accuracy): case-insensitive matching where the most frequent spelling wins, answers drawn
from the ``restrict`` most frequent words, question words excluded, questions with an unknown word
skipped and counted. All questions are answered with batched matrix products.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from w2v import fileio
from w2v.corpus import gensim_test_data
from w2v.errors import W2VError
from w2v.vectors import Vectors

DEFAULT_ANALOGIES = "questions-words.txt"
DEFAULT_SIMILARITY = ("wordsim353.tsv", "simlex999.txt")


def bundled(name: str) -> Path:
    """A standard evaluation set, as gensim ships it in its test data."""
    return gensim_test_data(name)


@dataclass
class Question:
    section: str
    words: tuple[str, str, str, str]


def read_analogies(path: str | Path) -> list[Question]:
    """Questions in the Google format: ``: section`` lines, then ``a b c d`` lines."""
    questions, section = [], None
    for lineno, line in _lines(path):
        if line.startswith(":"):
            section = line[1:].strip()
            continue
        parts = line.split()
        if len(parts) != 4:
            raise W2VError(f"analogy file {path}, line {lineno}: expected 4 words, got {len(parts)}")
        if section is None:
            raise W2VError(f"analogy file {path}, line {lineno}: question before any ': section' line")
        questions.append(Question(section, tuple(w.upper() for w in parts)))
    if not questions:
        raise W2VError(f"analogy file {path}: no questions")
    return questions


def read_pairs(path: str | Path) -> list[tuple[str, str, float]]:
    """Word pairs with a human score: ``w1 w2 score`` separated by tabs or spaces; ``#`` comments."""
    pairs = []
    for lineno, line in _lines(path):
        if line.startswith("#"):
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) != 3:
            raise W2VError(f"similarity file {path}, line {lineno}: expected 3 columns, got {len(parts)}")
        try:
            score = float(parts[2])
        except ValueError:
            raise W2VError(f"similarity file {path}, line {lineno}: score {parts[2].strip()!r} is not a number") \
                from None
        pairs.append((parts[0].strip().upper(), parts[1].strip().upper(), score))
    if not pairs:
        raise W2VError(f"similarity file {path}: no word pairs")
    return pairs


def _lines(path: str | Path):
    try:
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if line.strip():
                    yield lineno, line.rstrip("\n")
    except FileNotFoundError:
        raise W2VError(f"evaluation file {path}: not found") from None
    except UnicodeDecodeError as e:
        raise W2VError(f"evaluation file {path}: not UTF-8 text (byte offset {e.start})") from None
    except OSError as e:
        raise W2VError(f"evaluation file {path}: cannot be read ({e.strerror})") from None


@dataclass
class AnalogyResult:
    file: str
    method: str
    restrict: int
    correct: int
    total: int
    skipped: int
    sections: dict[str, tuple[int, int]] = field(default_factory=dict)
    # Subword models: the questions whose answer is among the candidates, any question word outside them
    # (unseen: from its n-grams) included.
    correct_all: int | None = None
    total_all: int | None = None
    per_section: bool = False  # each section's accuracy is a metric too (BATS's four categories)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else math.nan  # no question answered: no score

    @property
    def accuracy_all(self) -> float | None:
        return None if self.total_all is None else self.correct_all / self.total_all if self.total_all else math.nan

    def part(self, syntactic: bool) -> float:
        """Accuracy over the syntactic (``gram*`` sections) or semantic questions."""
        chosen = [v for k, v in self.sections.items() if k.startswith("gram") == syntactic]
        total = sum(t for _, t in chosen)
        return sum(c for c, _ in chosen) / total if total else math.nan


def _answers(candidates: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray, exclude: np.ndarray,
             method: str, batch: int) -> np.ndarray:
    """The candidate each question (unit vectors a, b, c [n, D]) is answered with by 3CosAdd or 3CosMul,
    its own words (``exclude`` [n, 3], -1 for one that is no candidate) left out."""
    predicted = np.empty(len(a), dtype=np.int64)
    for start in range(0, len(a), batch):
        qa, qb, qc = (x[start:start + batch] for x in (a, b, c))
        if method == "mul":
            # Levy & Goldberg's 3CosMul with cosines shifted to [0, 1].
            sim = lambda x: (candidates @ x.T + 1) / 2  # noqa: E731
            scores = (sim(qb) * sim(qc) / (sim(qa) + 1e-6)).T
        else:
            scores = (qb - qa + qc) @ candidates.T
        rows = np.arange(len(qa))
        for j in range(3):
            own = exclude[start:start + batch, j]
            scores[rows[own >= 0], own[own >= 0]] = -np.inf
        predicted[start:start + batch] = np.argmax(scores, axis=1)
    return predicted


def _units(vectors: Vectors, lookup: dict[str, int], words: set[str]) -> dict[str, np.ndarray]:
    """The unit vectors of (uppercased) evaluation words: a known word's row, an unseen one's from its
    n-grams (subword models; composed lowercased)."""
    return {w: vectors.unit[lookup[w]] if w in lookup else vectors.vector(w.lower())[0] for w in words}


def analogies(vectors: Vectors, questions: list[Question], restrict: int = 30000, method: str = "add",
              file: str = "", batch: int = 512) -> AnalogyResult:
    """Answer every question with 3CosAdd or 3CosMul over the top ``restrict`` words; for a subword
    model, also every question whose answer is among them, other words from anywhere (n-grams)."""
    lookup = vectors.upper_index(restrict)
    known = [all(w in lookup for w in q.words) for q in questions]
    # Questions answered: those with every word known, or with a subword model every one whose answer is
    # a candidate (a known question is answered the same way in both counts).
    asked = [(q, k) for q, k in zip(questions, known, strict=True)
             if k or (vectors.unseen is not None and q.words[3] in lookup)]
    result = AnalogyResult(file, method, restrict, 0, sum(known), len(questions) - sum(known))
    if vectors.unseen is not None:
        result.total_all, result.correct_all = len(asked), 0
    if not asked:
        return result
    unit = _units(vectors, lookup, {w for q, _ in asked for w in q.words[:3]})
    own = np.array([[lookup.get(w, -1) for w in q.words[:3]] for q, _ in asked])
    parts = (np.array([unit[q.words[j]] for q, _ in asked]) for j in range(3))
    hits = _answers(vectors.unit[:restrict], *parts, own, method, batch) == \
        np.array([lookup[q.words[3]] for q, _ in asked])
    for (q, k), hit in zip(asked, hits, strict=True):
        if k:
            result.correct += int(hit)
            c, t = result.sections.get(q.section, (0, 0))
            result.sections[q.section] = (c + int(hit), t + 1)
    if vectors.unseen is not None:
        result.correct_all = int(hits.sum())
    return result


def bats(vectors: Vectors, questions: list[tuple[str, tuple[str, str, str], list[str]]], restrict: int = 30000,
         method: str = "add", file: str = "", batch: int = 512) -> AnalogyResult:
    """BATS's questions (category, (a, a′, b), b′'s accepted answers; see ``eval_suite.bats_questions``)
    answered over the top ``restrict`` words: right when the answer is any accepted one among them. A question
    is asked when a, a′ and b are among them and so is one of its answers. Sections: the categories, the two
    of morphology counted as syntactic (``gram-``)."""
    lookup = vectors.upper_index(restrict)
    asked = [(category, [lookup[w.upper()] for w in words], {lookup[a.upper()] for a in answers if a.upper() in lookup})
             for category, words, answers in questions
             if all(w.upper() in lookup for w in words) and any(a.upper() in lookup for a in answers)]
    result = AnalogyResult(file, method, restrict, 0, len(asked), len(questions) - len(asked), per_section=True)
    if not asked:
        return result
    ids = np.array([words for _, words, _ in asked])
    unit = vectors.unit
    predicted = _answers(unit[:restrict], unit[ids[:, 0]], unit[ids[:, 1]], unit[ids[:, 2]], ids, method, batch)
    for (category, _, answers), guess in zip(asked, predicted, strict=True):
        section = bats_section(category)
        hit = int(guess in answers)
        result.correct += hit
        c, t = result.sections.get(section, (0, 0))
        result.sections[section] = (c + hit, t + 1)
    return result


def bats_section(category: str) -> str:
    """A BATS category as a report section: ``gram-inflectional_morphology`` (syntactic), ``encyclopedic_semantics``."""
    return ("gram-" if "morphology" in category else "") + category.split("_", 1)[1]


@dataclass
class SimilarityResult:
    file: str
    spearman: float
    pearson: float
    pairs: int
    skipped: int
    spearman_all: float | None = None  # subword models: over every pair, unseen words from their n-grams


SIMILARITY_RESTRICT = 300000  # word pairs are looked up among this many most frequent words, as gensim does


def similarity(vectors: Vectors, pairs: list[tuple[str, str, float]], restrict: int = SIMILARITY_RESTRICT,
               file: str = "") -> SimilarityResult:
    """Spearman and Pearson correlation of cosine similarity with human scores over the pairs of known
    words; for a subword model, also the Spearman correlation over every pair."""
    from scipy import stats  # only where similarity is scored: listing runs needs no scipy

    lookup = vectors.upper_index(restrict)
    known = [(lookup[a], lookup[b], s) for a, b, s in pairs if a in lookup and b in lookup]
    every = None
    if vectors.unseen is not None and len(pairs) >= 2:
        unit = _units(vectors, lookup, {w for a, b, _ in pairs for w in (a, b)})
        cosine = [float(unit[a] @ unit[b]) for a, b, _ in pairs]
        every = float(stats.spearmanr([s for _, _, s in pairs], cosine)[0])
    if len(known) < 2:
        return SimilarityResult(file, math.nan, math.nan, len(known), len(pairs) - len(known), every)
    a, b, human = (np.array(x) for x in zip(*known, strict=True))
    cosine = np.sum(vectors.unit[a] * vectors.unit[b], axis=1)
    return SimilarityResult(file, float(stats.spearmanr(human, cosine)[0]), float(stats.pearsonr(human, cosine)[0]),
                            len(known), len(pairs) - len(known), every)


CORRELATIONS = ("spearman", "spearman_all", "pearson")


def shown(metric: str, value: float | None) -> str:
    """A metric as every command prints it: correlations to four places, accuracies (overall, of a part or
    a section) in percent, and "–" where there is no score (no question or pair of that kind had its words in
    the vocabulary)."""
    if value is None or math.isnan(value):
        return "–"
    return f"{value:.4f}" if metric.rsplit("/", 1)[-1] in CORRELATIONS else f"{100 * value:.2f}%"


@dataclass
class Report:
    step: int
    analogies: list[AnalogyResult]
    similarity: list[SimilarityResult]
    summary: bool = False  # a suite of sets: their mean analogy accuracy and mean Spearman too

    def means(self) -> tuple[float, float]:
        """The mean accuracy over the analogy sets and the mean Spearman over the similarity sets (sets with
        no score left out; NaN when none has one)."""
        def mean(values: list[float]) -> float:
            scored = [v for v in values if not math.isnan(v)]
            return sum(scored) / len(scored) if scored else math.nan
        return mean([r.accuracy for r in self.analogies]), mean([r.spearman for r in self.similarity])

    def scalars(self) -> dict[str, float]:
        """Flat metric names for TensorBoard and run tables."""
        out = {}
        for r in self.analogies:
            name = Path(r.file).stem
            out[f"eval/{name}/accuracy"] = r.accuracy
            out[f"eval/{name}/semantic"] = r.part(False)
            out[f"eval/{name}/syntactic"] = r.part(True)
            if r.accuracy_all is not None:
                out[f"eval/{name}/accuracy_all"] = r.accuracy_all
            if r.per_section:
                out.update({f"eval/{name}/{section}": c / t if t else math.nan
                            for section, (c, t) in r.sections.items()})
        for r in self.similarity:
            out[f"eval/{Path(r.file).stem}/spearman"] = r.spearman
            if r.spearman_all is not None:
                out[f"eval/{Path(r.file).stem}/spearman_all"] = r.spearman_all
        if self.summary:
            out["eval/summary/accuracy"], out["eval/summary/spearman"] = self.means()
        return out

    def to_json(self) -> dict:
        """Everything, including per-section counts, for ``eval/step-N.json``."""
        return {"step": self.step,
                "analogies": [dict(asdict(r), accuracy=r.accuracy, semantic=r.part(False), syntactic=r.part(True),
                                   accuracy_all=r.accuracy_all)
                              for r in self.analogies],
                "similarity": [asdict(r) for r in self.similarity],
                "metrics": self.scalars()}

    def table(self) -> str:
        """A readable summary."""
        lines = [f"step {self.step}"]
        for r in self.analogies:
            lines.append(f"  analogies {Path(r.file).name} (3Cos{r.method.capitalize()}, top {r.restrict}): "
                         f"{shown('accuracy', r.accuracy)} of {r.total} "
                         f"(semantic {shown('accuracy', r.part(False))}, syntactic {shown('accuracy', r.part(True))}), "
                         f"{r.skipped} skipped (out of vocabulary)")
            if r.accuracy_all is not None:
                lines.append(f"    with unseen question words' vectors from their n-grams: "
                             f"{shown('accuracy', r.accuracy_all)} of {r.total_all} (those whose answer is among "
                             f"the top {r.restrict})")
            for section, (c, t) in r.sections.items():
                lines.append(f"    {section:<32} {100 * c / t:6.2f}%  {c}/{t}")
        for r in self.similarity:
            lines.append(f"  similarity {Path(r.file).name}: Spearman {shown('spearman', r.spearman)}, "
                         f"Pearson {shown('pearson', r.pearson)} "
                         f"over {r.pairs} pairs, {r.skipped} skipped (out of vocabulary)")
            if r.spearman_all is not None:
                lines.append(f"    with the unseen words' vectors from their n-grams: Spearman "
                             f"{shown('spearman', r.spearman_all)} "
                             f"over all {r.pairs + r.skipped} pairs")
        if self.summary:
            accuracy, spearman = self.means()
            lines.append(f"  summary: mean analogy accuracy {shown('accuracy', accuracy)} over "
                         f"{len(self.analogies)} sets, mean Spearman {shown('spearman', spearman)} over "
                         f"{len(self.similarity)} sets")
        return "\n".join(lines)


def default_files() -> tuple[list[Path], list[Path]]:
    """gensim's bundled Google analogies, WordSim-353 and SimLex-999."""
    return [bundled(DEFAULT_ANALOGIES)], [bundled(n) for n in DEFAULT_SIMILARITY]


def named_files(spec: str, default: list[Path]) -> list[Path]:
    """The files a spec names: "default" (``default``), "none", or comma-separated paths."""
    if spec == "default":
        return default
    if spec == "none":
        return []
    return [Path(p.strip()) for p in spec.split(",") if p.strip()]


def requested_files(analogies: list[str], similarity: list[str], own_analogies: list[Path],
                    own_similarity: list[Path]) -> tuple[list[Path], list[Path]]:
    """The files `w2v eval --analogies … --similarity …` names: files given for one kind are scored alone;
    "none" for one kind leaves out that kind and keeps the run's own files of the other; neither given, the
    run's own. A W2VError when nothing is left to score."""
    defaults = default_files()
    given_analogies = named_files(",".join(analogies), defaults[0]) if analogies else None
    given_similarity = named_files(",".join(similarity), defaults[1]) if similarity else None
    chosen_analogies = given_analogies if given_analogies is not None else [] if given_similarity else own_analogies
    chosen_similarity = given_similarity if given_similarity is not None else [] if given_analogies \
        else own_similarity
    if not (chosen_analogies or chosen_similarity):
        raise W2VError("eval: no analogy and no similarity file left to score (--analogies none and "
                       "--similarity none)")
    return chosen_analogies, chosen_similarity


def configured_files(analogies_spec: str, similarity_spec: str) -> tuple[list[Path], list[Path]]:
    """The files named by eval.analogies / eval.similarity ("default", "none" or comma-separated paths)."""
    default_analogies, default_similarity = default_files()
    return named_files(analogies_spec, default_analogies), named_files(similarity_spec, default_similarity)


def metric_name(name: str) -> str:
    """A metric's full name as reports and TensorBoard spell it: questions-words/accuracy ->
    eval/questions-words/accuracy."""
    return "eval/" + name.removeprefix("eval/")


def setting(analogy_files: list[Path], similarity_files: list[Path], restrict: int, method: str,
            suite: str = "none") -> str:
    """What an evaluation is (its files, restrict, method and suite): two with the same setting give the same
    report."""
    chosen = [sorted(str(Path(f).resolve()) for f in analogy_files),
              sorted(str(Path(f).resolve()) for f in similarity_files), restrict, method]
    return json.dumps(chosen + ([suite] if suite != "none" else []))


class Evaluator:
    """Evaluation files read and checked once, then applied to any vectors (periodic evaluation). With
    ``suite="standard"`` the field's sets too (``eval_suite``, fetched into ``cache_dir`` on first use): their
    similarity sets and MSR beside the files given, BATS with 3CosAdd and 3CosMul, and a summary."""

    def __init__(self, analogy_files: list[Path], similarity_files: list[Path], restrict: int = 30000,
                 method: str = "add", suite: str = "none", cache_dir: str | Path = "~/.cache/w2v") -> None:
        self.setting = setting(analogy_files, similarity_files, restrict, method, suite)
        self.bats: list = []
        if suite == "standard":
            from w2v import eval_suite

            analogy_files = list(analogy_files) + [eval_suite.msr_file(cache_dir)]
            similarity_files = list(similarity_files) + eval_suite.similarity_files(cache_dir)
            self.bats = eval_suite.bats_questions(eval_suite.bats(cache_dir))
        self.suite = suite
        self.questions = [(f, read_analogies(f)) for f in analogy_files]
        self.pairs = [(f, read_pairs(f)) for f in similarity_files]
        self.restrict, self.method = restrict, method

    def tag(self, own: str) -> str | None:
        """None when this is the run's ``own`` evaluation (the ``setting`` of its config's), else a short
        tag naming this one (its method, and a digest of its files and restrict)."""
        if own == self.setting:
            return None
        return f"{self.method}-{hashlib.sha1(self.setting.encode()).hexdigest()[:8]}"

    def metrics(self) -> list[str]:
        """The metric names its reports hold (``eval/<file stem>/<measure>``)."""
        sections = {bats_section(category): (0, 0) for category, _, _ in self.bats}
        empty = Report(0, [AnalogyResult(str(f), self.method, self.restrict, 0, 0, 0) for f, _ in self.questions]
                       + [AnalogyResult(name, m, self.restrict, 0, 0, 0, dict(sections), per_section=True)
                          for name, m in self._bats_methods()],
                       [SimilarityResult(str(f), math.nan, math.nan, 0, 0) for f, _ in self.pairs],
                       summary=self.suite != "none")
        return list(empty.scalars())

    def _bats_methods(self) -> list[tuple[str, str]]:
        return [("bats-3cosadd", "add"), ("bats-3cosmul", "mul")] if self.bats else []

    def metric(self, key: str, name: str) -> str:
        """The full name of the metric config key ``key`` names (with or without ``eval/``); a W2VError
        listing the known ones when this evaluation reports no such metric."""
        full = metric_name(name)
        known = self.metrics()
        if full not in known:
            names = ", ".join(m.removeprefix("eval/") for m in known) or "none: no evaluation files"
            raise W2VError(f"config key {key}: {name!r} is not a metric of the configured evaluation (known: "
                           f"{names})")
        return full

    def __call__(self, vectors: Vectors, step: int) -> Report:
        return Report(step, [analogies(vectors, q, self.restrict, self.method, str(f)) for f, q in self.questions]
                      + [bats(vectors, self.bats, self.restrict, m, name) for name, m in self._bats_methods()],
                      [similarity(vectors, p, file=str(f)) for f, p in self.pairs], summary=self.suite != "none")


REPORT = re.compile(r"step-(\d+)\.json")  # the run's own evaluation; others are step-N.<tag>.json


def report_files(run_dir: Path) -> dict[int, Path]:
    """A run's own evaluation reports (``eval/step-N.json``) by step, unread."""
    found = ((p, REPORT.fullmatch(p.name)) for p in (Path(run_dir) / "eval").glob("step-*.json"))
    return {int(match[1]): p for p, match in found if match}


def read_metrics(path: Path) -> dict[str, float] | None:
    """The metrics of one report, or None when it cannot be read."""
    try:
        return json.loads(Path(path).read_text()).get("metrics", {})
    except (OSError, ValueError, AttributeError):
        return None


def reports(run_dir: Path) -> dict[int, dict[str, float]]:
    """The metrics of each of a run's own evaluations by step; a report that cannot be read is left out."""
    read = {step: read_metrics(path) for step, path in report_files(run_dir).items()}
    return {step: metrics for step, metrics in read.items() if metrics is not None}


def save(report: Report, run_dir: Path, tag: str | None = None) -> Path:
    """Write ``eval/step-N.json`` in the run directory (``eval/step-N.<tag>.json`` for an evaluation other
    than the run's own, so that it never replaces the run's standard scores)."""
    out = Path(run_dir) / "eval"
    out.mkdir(exist_ok=True)
    path = out / (f"step-{report.step}.json" if tag is None else f"step-{report.step}.{tag}.json")
    fileio.write_text(path, json.dumps(report.to_json(), indent=2))
    return path


def record(report: Report, run_dir: Path, summaries: object | None = None, tag: str | None = None) -> Path:
    """Keep a report: ``eval/step-N.json``, and its scalars in the run's TensorBoard events at the
    report's step (through ``summaries``, else an event file of its own, written without TensorFlow). An
    evaluation other than the run's own (other files, method or restrict) is kept under its ``tag``:
    ``step-N.<tag>.json``, and ``eval-<tag>/...`` scalars."""
    if summaries is None:
        from w2v.events import ScalarEvents

        summaries = ScalarEvents(Path(run_dir))
    scalars = report.scalars()
    if tag is not None:
        scalars = {f"eval-{tag}/{name.removeprefix('eval/')}": v for name, v in scalars.items()}
    summaries.scalars(report.step, scalars)
    summaries.flush()
    return save(report, run_dir, tag)
