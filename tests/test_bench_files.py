"""Issue 17, bugs 1 and 2: a user's own files are keyed on their contents, and stored pairs of
files that share their names stay apart in the tables."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest

from transferkit.bench import format_markdown, parse_suite, results_table, run_suite

SUITE = """
[suite]
name = "mine"
seeds = [0]

[[datasets]]
name = "moons"

[[methods]]
name = "source_only"
"""


def _write_pair(folder, flip=False, shift=0.0):
    """Two well separated classes; the target's labels are flipped when asked (same bytes
    length: only the label values change)."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 40)
    X = rng.normal(size=(80, 2)) + np.c_[np.where(y == 1, 6.0, -6.0), np.zeros(80)]
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "src.npz", X=X, y=y)
    np.savez(folder / "tgt.npz", X=X + shift, y=1 - y if flip else y)
    return folder / "src.npz", folder / "tgt.npz"


def _accuracy(table):
    (row,) = table.rows
    return row["accuracy"]


def test_a_file_rewritten_in_place_is_run_again(tmp_path):
    suite = parse_suite(SUITE, "mine.toml")
    db = tmp_path / "r.sqlite"
    source, target = _write_pair(tmp_path / "data")
    assert _accuracy(run_suite(suite, db=db, files=(source, target, None))) == 1.0

    before = target.stat()
    _write_pair(tmp_path / "data", flip=True)
    # same path, same size, same modification time: only the bytes tell
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert target.stat().st_size == before.st_size
    assert _accuracy(run_suite(suite, db=db, files=(source, target, None))) == 0.0


def test_the_cells_options_hold_each_files_sha256(tmp_path):
    source, target = _write_pair(tmp_path)
    suite = parse_suite(SUITE, "mine.toml").with_files(source, target)
    options = suite.datasets[0].options
    assert options["source"] == str(source.resolve())
    assert options["target_sha256"] == hashlib.sha256(target.read_bytes()).hexdigest()
    assert (suite.cells()[0].source, suite.cells()[0].target) == ("src", "tgt")


def test_file_digests_hash_each_file_once_per_size_and_time(tmp_path, monkeypatch):
    from transferkit.bench import FileDigests

    source, _ = _write_pair(tmp_path)
    digests = FileDigests()
    opened = []
    original = type(source).open

    def counting(self, *args, **kwargs):
        opened.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(source), "open", counting)
    first = digests.sha256(source)
    assert digests.sha256(source) == first and len(opened) == 1
    with open(source, "ab") as stream:  # the builtin open: not counted
        stream.write(b"\0")
    assert digests.sha256(source) != first and len(opened) == 2


def test_a_missing_file_is_named(tmp_path):
    from transferkit.bench import FileDigests

    with pytest.raises(FileNotFoundError, match="missing.npz"):
        FileDigests().sha256(tmp_path / "missing.npz")


def test_results_show_keeps_pairs_of_files_with_the_same_names_apart(tmp_path):
    suite_path = tmp_path / "mine.toml"
    suite_path.write_text(SUITE)
    db = tmp_path / "r.sqlite"
    easy = _write_pair(tmp_path / "easy")
    flipped = _write_pair(tmp_path / "flipped", flip=True)
    for files in (easy, flipped):
        run_suite(suite_path, db=db, files=(*files, None))

    table = results_table(db, suite_path)
    assert len(table.pairs) == 2
    by_pair = {pair: table.cell(pair, "source_only").mean for pair in table.pairs}
    assert sorted(by_pair.values()) == [0.0, 100.0]
    for pair, files in zip(
        sorted(table.pairs, key=lambda pair: by_pair[pair]), (flipped, easy), strict=True
    ):
        digest = hashlib.sha256(files[1].read_bytes()).hexdigest()[:8]
        assert pair[2] == f"tgt ({digest})"
    markdown = table.to_markdown()
    assert markdown.count("files: src (") == 2
    assert table.timing_rows()[0]["n_ok"] == 2


def test_a_file_rewritten_during_a_run_stops_it_instead_of_storing_new_numbers_under_old_keys(
    tmp_path,
):
    from transferkit.bench import runner
    from transferkit.exceptions import DataFormatError

    source, target = _write_pair(tmp_path)
    cell = parse_suite(SUITE, "mine.toml").with_files(source, target).cells()[0]
    options = json.loads(cell.options)
    runner.check_files_unchanged(options)  # as hashed: fine
    _write_pair(tmp_path, shift=1.0)  # the target's rows change while the run goes on
    with pytest.raises(DataFormatError, match="tgt.npz changed after the run started"):
        runner.load_problem(cell.dataset, cell.source, cell.target, cell.seed, options)


def test_a_table_of_files_describes_the_files_not_the_suites_own_data(tmp_path):
    text = SUITE.replace("seeds = [0]", 'seeds = [0]\nprotocol = "moons rotated by 30 degrees"')
    suite = parse_suite(text, "mine.toml")
    source, target = _write_pair(tmp_path)
    on_files = suite.with_files(source, target)
    assert "moons" not in on_files.protocol
    assert f"labelled source {source.resolve()}, target {target.resolve()}" in on_files.protocol
    table = run_suite(on_files, db=tmp_path / "r.sqlite")
    assert f"Protocol: {on_files.protocol}" in format_markdown(table)
    as_texts = suite.with_files(source, target, text={"text_column": "body", "encoder": "glove"})
    assert "texts of the column 'body', encoded with 'glove'" in as_texts.protocol


def test_results_show_the_methods_added_by_name_to_a_run_on_files(tmp_path):
    suite = parse_suite(
        SUITE.replace("seeds = [0]", 'seeds = [0]\nprotocol = "moons rotated by 30 degrees"'),
        "mine.toml",
    )
    source, target = _write_pair(tmp_path, shift=0.5)
    db = tmp_path / "r.sqlite"
    run = run_suite(suite, db=db, files=(source, target, None), methods=["source_only", "coral"])
    assert run.methods == ["source_only", "coral"]
    shown = results_table(db, suite)  # the definition holds source_only only
    assert shown.methods == ["source_only", "coral"]
    assert [r["accuracy"] for r in shown.rows] == [r["accuracy"] for r in run.rows]
    text = format_markdown(shown)
    assert "Protocol: your own files" in text and "moons" not in text
    # a label the definition holds with other parameters than those stored stays out
    changed = SUITE.replace(
        'name = "source_only"', 'name = "coral"\nparams = { regularization = 10.0 }'
    )
    assert results_table(db, parse_suite(changed, "mine.toml")).methods == ["source_only"]


@pytest.mark.parametrize(
    ("suite", "advice"),
    [
        ("continual-split-mnist", "docs/guides/continual.md"),
        ("robustness-mnist", "docs/guides/robustness.md"),
        ("fewshot-mnist", "`transferkit fewshot`"),
    ],
)
def test_a_suite_of_another_kind_of_task_refuses_files_before_any_cell(tmp_path, suite, advice):
    from transferkit.exceptions import SuiteError

    source, target = _write_pair(tmp_path)
    db = tmp_path / "r.sqlite"
    with pytest.raises(SuiteError, match="give a transfer problem") as caught:
        run_suite(suite, db=db, files=(source, target, None))
    assert advice in str(caught.value)
    assert f"Suite '{suite}'" in str(caught.value)
    assert not db.exists()  # refused before the store was opened


def test_a_suite_of_another_kind_runs_on_files_when_a_transfer_method_is_chosen(tmp_path):
    source, target = _write_pair(tmp_path)
    table = run_suite(
        "continual-split-mnist",
        db=tmp_path / "r.sqlite",
        files=(source, target, None),
        methods=["source_only"],
    )
    assert _accuracy(table) == 1.0
