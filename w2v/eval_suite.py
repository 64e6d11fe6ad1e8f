"""The field's evaluation sets (``w2v eval --suite standard``, ``eval.suite``), fetched on first use from their
public sources into ``data.cache_dir``, checked against the SHA-256 written here, and read offline afterwards.

Word similarity: MEN, Stanford Rare Words, SimVerb-3500, MTurk-771, RG-65 and WordSim-353's similarity and
relatedness splits (Faruqui's collection, files as its authors published them). Analogies: MSR's syntactic
questions, written out in the Google format (each section a ``gram-`` one: all of MSR is syntax), and BATS 3.0,
scored as its paper does: every pair of pairs of a relation is a question, answered correctly by any of the
listed alternatives, with 3CosAdd and with 3CosMul.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from w2v import fileio
from w2v.errors import W2VError

_FARUQUI = ("https://raw.githubusercontent.com/mfaruqui/eval-word-vectors/94b3dd9fdbac7ed08dbee7179cd5ee464acf0594/"
            "data/word-sim/")
_MSR = ("https://raw.githubusercontent.com/vecto-ai/word-benchmarks/9b61d0e067e2e68af22160d09450f82d9544cd70/"
        "word-analogy/monolingual/en/msr.csv")
_BATS = ("https://raw.githubusercontent.com/haukelicht/advanced_text_analysis/"
         "b22e7959e05237cb651fa661ab537ad0e9915b8d/data/benchmarks/bats/")


@dataclass(frozen=True)
class Source:
    """One file: its name in the cache, where it comes from, and its SHA-256."""

    name: str
    url: str
    sha256: str


SIMILARITY = (
    Source("men.txt", _FARUQUI + "EN-MEN-TR-3k.txt",
           "888b13580faa362c7b11da0a670258cf1b1eb4bf0ecbcd418918729a3bd3f43a"),
    Source("rw.txt", _FARUQUI + "EN-RW-STANFORD.txt",
           "5108d54dfc746f44f9c3d7e31d2857c37cf71430bc1594175a61a3b89bb0ae1f"),
    Source("simverb3500.txt", _FARUQUI + "EN-SimVerb-3500.txt",
           "9d84274e7ad029fd3cf69dd0516e9ade624bbef9bd4e2050f6cc1fa01471e0f5"),
    Source("mturk771.txt", _FARUQUI + "EN-MTurk-771.txt",
           "04dc297c9e86b6fa7cf8ef0e4ba2e2c8d3399ec68d92fb7a53c0b4aae27198b5"),
    Source("rg65.txt", _FARUQUI + "EN-RG-65.txt", "c243f3a91c3f5d8cf67f21a67f6fb80bde8b6bb060851a6a48e6f2d68ec98c9f"),
    Source("ws353-sim.txt", _FARUQUI + "EN-WS-353-SIM.txt",
           "f1da938998863c94e53f72f984a5c6e215f0b46c323aae8f0f4930703a339107"),
    Source("ws353-rel.txt", _FARUQUI + "EN-WS-353-REL.txt",
           "66a7c88100624d0a391605ff61ce84e11d11ee620d51ec0298da49592838f8fa"),
)
MSR = Source("msr.csv", _MSR, "1f20d6f2ff22bcc6cb03148ac39c82cf9327befa4c15bb034a44ac91a74f1d44")
# BATS 3.0: four categories of ten relations, one file each; one SHA-256 over the 40 files in this order.
BATS_RELATIONS = {
    "1_inflectional_morphology": [
        "I01 [noun - plural_reg]", "I02 [noun - plural_irreg]", "I03 [adj - comparative]", "I04 [adj - superlative]",
        "I05 [verb_inf - 3pSg]", "I06 [verb_inf - Ving]", "I07 [verb_inf - Ved]", "I08 [verb_Ving - 3pSg]",
        "I09 [verb_Ving - Ved]", "I10 [verb_3pSg - Ved]"],
    "2_derivational_morphology": [
        "D01 [noun+less_reg]", "D02 [un+adj_reg]", "D03 [adj+ly_reg]", "D04 [over+adj_reg]", "D05 [adj+ness_reg]",
        "D06 [re+verb_reg]", "D07 [verb+able_reg]", "D08 [verb+er_irreg]", "D09 [verb+tion_irreg]",
        "D10 [verb+ment_irreg]"],
    "3_encyclopedic_semantics": [
        "E01 [country - capital]", "E02 [country - language]", "E03 [UK_city - county]", "E04 [name - nationality]",
        "E05 [name - occupation]", "E06 [animal - young]", "E07 [animal - sound]", "E08 [animal - shelter]",
        "E09 [things - color]", "E10 [male - female]"],
    "4_lexicographic_semantics": [
        "L01 [hypernyms - animals]", "L02 [hypernyms - misc]", "L03 [hyponyms - misc]", "L04 [meronyms - substance]",
        "L05 [meronyms - member]", "L06 [meronyms - part]", "L07 [synonyms - intensity]", "L08 [synonyms - exact]",
        "L09 [antonyms - gradable]", "L10 [antonyms - binary]"],
}
BATS_SHA256 = "9416edbb97e1ff0cb83410684f4334184748944d13852181722c072bd742dbb6"
TIMEOUT_S = 60


def directory(cache_dir: str | Path) -> Path:
    """Where the suite's files are kept."""
    return Path(os.path.expanduser(str(cache_dir))) / "eval-suite"


def _download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
        return response.read()


def _bats_sources() -> list[Source]:
    return [Source(f"bats/{category}/{name}.txt", _BATS + urllib.parse.quote(f"{category}/{name}.txt"), "")
            for category, names in BATS_RELATIONS.items() for name in names]


def _sets() -> list[tuple[str, list[Source], str | None]]:
    """Every set of the suite: its name, its files and, for BATS, the one SHA-256 over all of them."""
    return ([(s.name.removesuffix(".txt"), [s], None) for s in SIMILARITY] + [("MSR", [MSR], None)]
            + [("BATS 3.0", _bats_sources(), BATS_SHA256)])


def _differs(contents: list[bytes], sources: list[Source], sha256: str | None) -> list[tuple[Source, str, str]]:
    """The files whose SHA-256 is not the pinned one: (source, got, expected); for BATS, all 40 as one."""
    if sha256 is not None:
        got = hashlib.sha256(b"".join(contents)).hexdigest()
        return [] if got == sha256 else [(sources[0], got, sha256)]
    return [(s, got, s.sha256) for s, data in zip(sources, contents, strict=True)
            if (got := hashlib.sha256(data).hexdigest()) != s.sha256]


def _fetch(sources: list[Source], sha256: str | None, home: Path, what: str) -> list[Path]:
    """The files, from the cache (checked against their SHA-256 on every read: a truncated or edited copy is
    refused) or downloaded and checked; ``sha256`` given: one digest over all of them (in order), else each
    file's own. Nothing is kept unless it checks out."""
    paths = [home / s.name for s in sources]
    if all(p.exists() for p in paths):
        wrong = _differs([p.read_bytes() for p in paths], sources, sha256)
        if wrong:
            kept = paths[0] if len(paths) == 1 else home / Path(sources[0].name).parts[0]
            raise W2VError(f"eval suite: {kept} has SHA-256 {wrong[0][1][:12]}…, expected {wrong[0][2][:12]}… (a "
                           f"truncated or edited copy?); delete it to download it again, or copy in the file from "
                           f"{_where(sources)}")
        return paths
    contents = []
    for s in sources:
        try:
            contents.append(_download(s.url))
        except (urllib.error.URLError, OSError) as e:
            raise W2VError(_offline(home, getattr(e, "reason", e))) from None
    wrong = _differs(contents, sources, sha256)
    if wrong:
        source, got, expected = wrong[0]
        raise W2VError(f"eval suite: {what} downloaded from {source.url if sha256 is None else _where(sources)} has "
                       f"SHA-256 {got[:12]}…, expected {expected[:12]}…; not kept (the source changed: report it)")
    for path, data in zip(paths, contents, strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        with fileio.replacing(path) as tmp:
            tmp.write_bytes(data)
    return paths


def missing(cache_dir: str | Path) -> list[tuple[str, Path]]:
    """Every file of the suite that the cache lacks: (its URL, where it goes)."""
    home = directory(cache_dir)
    return [(s.url, home / s.name) for _, sources, _ in _sets() for s in sources if not (home / s.name).exists()]


def _offline(home: Path, reason: object) -> str:
    """The error when a file cannot be downloaded: every file the cache lacks, with its URL and destination."""
    lacking = missing(home.parent)
    return (f"eval suite: cannot download ({reason}); {len(lacking)} files missing from {home}. On a machine "
            f"online, fetch them (or run `w2v eval RUN --suite standard` there) and copy that eval-suite folder in "
            f"with `w2v eval RUN --suite-from DIR`, or put each file where it goes:\n"
            + "\n".join(f"  {url} -> {path}" for url, path in lacking))


def copy_from(folder: str | Path, cache_dir: str | Path) -> list[Path]:
    """Copy the suite's files from ``folder`` (laid out as the cache is: ``men.txt``, ``msr.csv``,
    ``bats/<category>/<relation>.txt``; an ``eval-suite`` folder from another machine) into the cache, each set
    checked against its SHA-256 first; returns the files copied. A set that differs is refused, naming the
    file, and nothing is copied; one the folder lacks is left for later (the next evaluation that needs it says
    so)."""
    folder, home = Path(folder).expanduser(), directory(cache_dir)
    if not folder.is_dir():
        raise W2VError(f"--suite-from {folder}: not a directory")
    found = []
    for what, sources, sha256 in _sets():
        given = [folder / s.name for s in sources]
        if not all(p.is_file() for p in given):
            continue
        wrong = _differs([p.read_bytes() for p in given], sources, sha256)
        if wrong:
            raise W2VError(f"--suite-from {folder}: {what} ({wrong[0][0].name}) has SHA-256 {wrong[0][1][:12]}…, "
                           f"expected {wrong[0][2][:12]}…: not the published file (truncated or edited?); nothing "
                           f"copied")
        found += [(path, home / source.name) for source, path in zip(sources, given, strict=True)]
    if not found:
        raise W2VError(f"--suite-from {folder}: holds none of the suite's files (men.txt, msr.csv, bats/...)")
    for path, target in found:  # only once every set found has checked out
        target.parent.mkdir(parents=True, exist_ok=True)
        with fileio.replacing(target) as tmp:
            shutil.copyfile(path, tmp)
    return [target for _, target in found]


def _where(sources: list[Source]) -> str:
    return sources[0].url if len(sources) == 1 else sources[0].url.rsplit("/", 2)[0] + "/"


def similarity_files(cache_dir: str | Path) -> list[Path]:
    """The word-similarity sets (``w1 w2 score`` files), fetched if need be."""
    home = directory(cache_dir)
    return [_fetch([s], None, home, s.name.removesuffix(".txt"))[0] for s in SIMILARITY]


def msr_file(cache_dir: str | Path) -> Path:
    """MSR's questions in the Google format (``msr.txt``, written from the fetched ``msr.csv``)."""
    home = directory(cache_dir)
    target = home / "msr.txt"
    (source,) = _fetch([MSR], None, home, "MSR")  # checked on every read, as the other sets are
    if target.exists():
        return target
    sections: dict[str, list[str]] = {}
    for row in csv.DictReader(io.StringIO(source.read_text(encoding="utf-8"))):
        sections.setdefault(row["type"], []).append(" ".join(row[k] for k in ("word1", "word2", "word3", "target")))
    fileio.write_text(target, "".join(f": gram-{name}\n" + "".join(q + "\n" for q in questions)
                                      for name, questions in sections.items()))
    return target


def bats(cache_dir: str | Path) -> dict[str, list[list[tuple[str, list[str]]]]]:
    """BATS 3.0's relations by category: each a list of (word, [accepted answers])."""
    paths = iter(_fetch(_bats_sources(), BATS_SHA256, directory(cache_dir), "BATS 3.0"))
    relations: dict[str, list[list[tuple[str, list[str]]]]] = {}
    for category, names in BATS_RELATIONS.items():
        for _, path in zip(names, paths, strict=False):
            pairs = []
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    word, answers = line.split("\t", 1) if "\t" in line else line.split(None, 1)
                    pairs.append((word.strip(), [a.strip() for a in answers.split("/") if a.strip()]))
            relations.setdefault(category, []).append(pairs)
    return relations


def bats_questions(relations: dict[str, list[list[tuple[str, list[str]]]]]) -> list[tuple[str, tuple[str, ...],
                                                                                          list[str]]]:
    """Every question of every relation, as BATS's paper asks them: for two pairs (a, a′) and (b, b′) of one
    relation, a : a′ :: b : ?, any of b′'s alternatives counting as right (a′: the first one listed)."""
    return [(category, (a, a_answers[0], b), b_answers)
            for category, rels in relations.items() for pairs in rels
            for (a, a_answers), (b, b_answers) in itertools.permutations(pairs, 2) if a_answers and b_answers]
