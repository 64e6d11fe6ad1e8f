import json
import shutil
import time

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from tests.conftest import http_get as _get
from tests.conftest import start_tensorboard
from w2v import projector, runs, visualize
from w2v.cli import cli
from w2v.vectors import Vectors


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def run_copy(tiny_run, tmp_path):
    run_dir = tmp_path / "logs" / "tiny"
    shutil.copytree(tiny_run, run_dir)
    return run_dir


def test_visualize_writes_projector_files_png_and_tsv(run_copy, tmp_path):
    vocab, vectors, _ = runs.load_embedding(run_copy)
    result = invoke("visualize", run_copy, "--top", 50, "--tsv", tmp_path / "tsv")
    assert result.exit_code == 0, result.output
    assert (run_copy / "metadata.tsv").read_text().splitlines() == vocab.words[:50]
    image = Image.open(run_copy / visualize.MAP_FILE)
    image.verify()
    assert image.size[0] >= 800 and image.size[1] >= 800
    tsv = (tmp_path / "tsv" / "vectors.tsv").read_text().splitlines()
    assert len(tsv) == 50
    np.testing.assert_allclose([float(x) for x in tsv[3].split("\t")], vectors[3], rtol=1e-5)
    assert (tmp_path / "tsv" / "metadata.tsv").read_text().splitlines() == vocab.words[:50]
    # The same picture in TensorBoard's Images tab, at the checkpoint's step.
    from tests.test_cli import event_tags

    assert event_tags(run_copy)[("embedding_map", "images")] == [200]


def overlapping(boxes, gap=0.0):
    """Pairs of boxes that overlap, or with ``gap``, come closer than that many pixels."""
    x = np.minimum(boxes[:, None, 2], boxes[None, :, 2]) - np.maximum(boxes[:, None, 0], boxes[None, :, 0])
    y = np.minimum(boxes[:, None, 3], boxes[None, :, 3]) - np.maximum(boxes[:, None, 1], boxes[None, :, 1])
    clash = (x > 0.5 - gap) & (y > 0.5 - gap)
    np.fill_diagonal(clash, False)
    return int(clash.sum() // 2)


def test_the_map_labels_every_word_without_overlaps(tmp_path):
    # Tight clusters: without the repulsion pass, labels pile on one another.
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(6, 16))
    vectors = np.repeat(centres, 20, axis=0) + rng.normal(scale=0.01, size=(120, 16))
    words = [f"word{i:03d}" for i in range(120)]
    drawn = visualize.render_map(vectors, words, tmp_path / "m.png", groups=[i // 20 for i in range(120)])
    assert drawn.labels == words and drawn.method == "t-SNE"
    assert overlapping(drawn.boxes, gap=visualize.LABEL_GAP - 1) == 0  # apart by a space, not touching
    Image.open(tmp_path / "m.png").verify()


def test_no_label_is_drawn_under_the_legend(tmp_path):
    # Groups whose words sit where the legend goes (upper right): they must move out from under it.
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(6, 16))
    vectors = np.repeat(centres, 20, axis=0) + rng.normal(scale=0.01, size=(120, 16))
    words = [f"word{i:03d}" for i in range(120)]
    names = [f"query{g}" for g in range(6)]
    drawn = visualize.render_map(vectors, words, tmp_path / "m.png", groups=[i // 20 for i in range(120)],
                                 legend=names)
    assert drawn.legend is not None
    assert overlapping(np.vstack([drawn.boxes, drawn.legend])) == 0
    assert overlapping(drawn.boxes) == 0


def test_a_fixed_box_stays_and_the_others_leave_it():
    boxes = np.array([[0, 0, 40, 10]] * 4 + [[10, 0, 50, 10]], dtype=float)
    moved = visualize.separate(boxes, fixed=1)
    assert np.all(moved[-1] == 0)
    assert overlapping(boxes + np.hstack([moved, moved])) == 0


def test_separate_moves_boxes_at_one_point_apart():
    boxes = np.array([[0, 0, 40, 10]] * 5, dtype=float)
    moved = visualize.separate(boxes)
    assert overlapping(boxes + np.hstack([moved, moved])) == 0


def test_neighbors_and_words_choose_what_is_drawn(run_copy):
    vocab, table, _ = runs.load_embedding(run_copy)
    result = invoke("visualize", run_copy, "--neighbors", "government,President", "-k", "4")
    assert result.exit_code == 0, result.output
    vectors = Vectors(vocab.words, table, lowercase=True)
    want = []
    for query in ("government", "president"):
        want += [w for w in [query] + [w for w, _ in vectors.nearest([query], 4)[0][0].neighbours] if w not in want]
    drawn = visualize.visualize(run_copy, queries=["government", "President"], k=4)
    assert drawn.labels == want
    assert drawn.emphasised == ["government", "president"]  # the words asked about stand out
    partly = invoke("visualize", run_copy, "--words", "government,people,world,zzzqqq")
    assert partly.exit_code == 0 and "word 'zzzqqq' is not in the vocabulary" in partly.stderr
    default = visualize.visualize(run_copy)
    assert len(default.labels) == visualize.DEFAULT_WORDS and "the" not in default.labels


def test_the_projector_gets_the_runs_top_n_words_unless_told(run_copy):
    config = (run_copy / runs.CONFIG).read_text()
    (run_copy / runs.CONFIG).write_text(config.replace("top_n: 100000", "top_n: 30"))
    assert invoke("visualize", run_copy).exit_code == 0
    vocab = runs.load_vocab(run_copy)
    assert (run_copy / "metadata.tsv").read_text().splitlines() == vocab.words[:30]


def test_top_is_clamped_or_refused(run_copy):
    vocab = runs.load_vocab(run_copy)
    big = invoke("visualize", run_copy, "--top", 10 ** 7)
    assert big.exit_code == 0
    assert f"using all {len(vocab)} words" in big.stderr
    assert len((run_copy / "metadata.tsv").read_text().splitlines()) == len(vocab)
    bad = invoke("visualize", run_copy, "--top", 0)
    assert bad.exit_code == 2 and "--top 0: must be a positive" in bad.stderr


def _poll_json(url, ok, timeout=60):
    deadline = time.time() + timeout
    while True:
        value = json.loads(_get(url))
        if ok(value) or time.time() > deadline:
            return value
        time.sleep(1)


@pytest.fixture
def tensorboard(run_copy):
    with start_tensorboard(run_copy.parent) as base:
        yield base


def test_tensorboard_serves_the_projector_and_scalars(run_copy, tensorboard):
    vocab, vectors, _ = runs.load_embedding(run_copy)
    projector_url = tensorboard + "/data/plugin/projector"
    assert _poll_json(projector_url + "/runs", lambda r: "." in r or "tiny" in r)
    run_name = "." if "." in json.loads(_get(projector_url + "/runs")) else "tiny"
    info = json.loads(_get(f"{projector_url}/info?run={run_name}"))
    names = [e["tensorName"] for e in info["embeddings"]]
    assert names == [projector.TENSOR_NAME]
    shapes = [e["tensorShape"] for e in info["embeddings"]]
    assert shapes == [[len(vocab), vectors.shape[1]]]
    raw = _get(f"{projector_url}/tensor?run={run_name}&name={projector.TENSOR_NAME}")
    served = np.frombuffer(raw, dtype=np.float32).reshape(len(vocab), -1)
    np.testing.assert_array_equal(served, vectors)
    metadata = _get(f"{projector_url}/metadata?run={run_name}&name={projector.TENSOR_NAME}").decode()
    assert metadata.splitlines() == vocab.words
    scalars = _poll_json(f"{tensorboard}/data/plugin/scalars/scalars?run={run_name}&tag=loss",
                         lambda r: isinstance(r, list) and len(r) > 0)
    assert [step for _, step, _ in scalars] == [1, *range(10, 201, 10)]  # the first point at step 1


@pytest.mark.parametrize("args, message", [
    (["--words", "zzzqqq"], "but none of those given is; word 'zzzqqq' is not in the vocabulary"),
    (["--words", "government,people,zzzqqq"], "but only 2 (government, people) are; word 'zzzqqq'"),
    (["--neighbors", "government", "-k", "1"], "but only 2 (government, "),
])
def test_fewer_than_three_known_words_is_one_clear_line_and_nothing_written(run_copy, args, message):
    before = {p.name: p.stat().st_mtime_ns for p in run_copy.iterdir()}
    result = invoke("visualize", run_copy, *args)
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: visualize: a map needs at least 3 words in the vocabulary") and message in line
    assert {p.name: p.stat().st_mtime_ns for p in run_copy.iterdir()} == before


def test_the_map_goes_where_output_says(run_copy, tmp_path):
    result = invoke("visualize", run_copy, "--words", "government,people,world", "-o", tmp_path / "map.png")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote {tmp_path / 'map.png'}" in result.stdout and not (run_copy / visualize.MAP_FILE).exists()
    missing = invoke("visualize", run_copy, "-o", tmp_path / "no" / "map.png")
    assert missing.exit_code == 2 and "directory" in missing.stderr and "does not exist" in missing.stderr
