"""The benchmark runner: suite validation, the stored table, resume after a real kill, parallel
runs, error cells and exports, on the rotated two-moons (generated, no files)."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from transferkit import registry
from transferkit.baselines import SourceOnly
from transferkit.bench import (
    ResultStore,
    builtin_suites,
    format_markdown,
    load_suite,
    parse_suite,
    results_table,
    run_suite,
)
from transferkit.bench import runner as runner_module
from transferkit.bench.suite import AUTOMATIC_EXCLUDED_FAMILIES, OTHER_TASK_FAMILIES, MethodEntry
from transferkit.datasets import load_pair
from transferkit.exceptions import InvalidParameterError, SuiteError
from transferkit.registry import make_method

MOONS_SUITE = """
[suite]
name = "tiny"
description = "two rotations of the moons"
seeds = [0, 1]
classifier = "logreg"
protocol = "moons, logistic regression"
published = { source_only = 70.0, dann = 90.0 }

[[datasets]]
name = "moons"
label = "moons30"
options = { angle = 30, n_samples = 200, n_test = 200 }

[[datasets]]
name = "moons"
label = "moons60"
options = { angle = 60, n_samples = 200, n_test = 200 }

[[methods]]
name = "source_only"

[[methods]]
name = "target_oracle"
"""


def _suite_file(tmp_path: Path, text: str = MOONS_SUITE, name: str = "tiny.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _direct_accuracy(method: str, angle: int, seed: int) -> float:
    """The accuracy computed without the runner, to check the runner's numbers."""
    problem = load_pair(
        "moons", "source", "rotated", random_state=seed, angle=angle, n_samples=200, n_test=200
    )
    model = make_method(method, None, "logreg", seed)
    if hasattr(model, "score_problem"):
        return 100 * model.score_problem(problem)
    X, y = problem.evaluation_split()
    return 100 * float(np.mean(model.fit(problem).predict(X) == y))


# --------------------------------------------------------------------- suites
def test_builtin_suites_load_and_validate():
    assert {"demo", "digits", "amazon-reviews", "office-caltech-surf"} <= set(builtin_suites())
    office = load_suite("office-caltech-surf")
    assert office.classifier == "1nn"
    assert len(office.seeds) == 10 and len(office.datasets[0].pairs) == 12
    assert office.published["source_only"].mean == 27.7
    amazon = load_suite("amazon-reviews")
    assert amazon.published["dann"].pairs[("books", "dvd")] == 78.4
    digits = load_suite("digits")
    assert digits.datasets[0].pairs[1] == ("mnist", "mnistm")
    cnn = load_suite("office-caltech-cnn")
    assert cnn.classifier == "1nn" and len(cnn.seeds) == 10
    assert cnn.datasets[0].options == {"features": "both", "source_per_class": "harness"}
    priors = {m.label: m for m in cnn.methods}["jda_ot_priors"]
    assert priors.name == "jda_ot" and priors.params["source_mass"] == "target_priors"
    assert cnn.published["ot"].mean == 93.5


def test_demo_suite_runs_every_registered_shallow_method(tmp_path):
    suite = load_suite("demo")
    labels = [m.label for m in suite.methods]
    assert labels[:2] == ["source_only", "target_oracle"]
    shallow = {
        name: spec
        for name, spec in registry.available_methods().items()
        if not spec.deep and spec.family != "deep" and not spec.needs_target_labels
    }
    expected = {n for n, s in shallow.items() if s.family not in AUTOMATIC_EXCLUDED_FAMILIES}
    assert expected <= set(labels)
    # the families made for other settings still run with their defaults on a plain problem
    # (heterogeneous and cross-lingual methods refuse it by design; tests/test_heterogeneous.py
    # and tests/test_crosslingual_distillation.py check that)
    others = [
        MethodEntry(n, n)
        for n, s in shallow.items()
        if s.family in AUTOMATIC_EXCLUDED_FAMILIES
        and s.family not in ("heterogeneous", "crosslingual", *OTHER_TASK_FAMILIES)
    ]
    assert {"open_set", "partial_ot", "ms_jcpot"} <= {m.name for m in others}
    labels += [m.label for m in others]
    # and each of them runs: the demo's methods, one seed, on a small moons problem
    (moons,) = (d for d in suite.datasets if d.name == "moons")
    small = replace(moons, options={**moons.options, "n_samples": 80, "n_test": 80})
    everything = replace(suite, datasets=(small,), seeds=(0,), methods=(*suite.methods, *others))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the multi-source methods warn on one source
        table = run_suite(everything, db=tmp_path / "r.sqlite")
    pair = table.pairs[0]
    assert table.methods == labels and len(table.rows) == len(labels)
    for label in labels:
        stats = table.cell(pair, label)
        assert stats.errors == {}, f"{label} failed on the demo's moons: {stats.errors}"
        assert 0.0 <= stats.accuracies[0] <= 100.0  # a finite accuracy (nan fails both bounds)
    # the methods adapt on a rotation that hurts: the oracle is above source-only
    assert table.cell(pair, "target_oracle").mean > table.cell(pair, "source_only").mean


def test_methods_all_with_exclude_and_explicit_override(tmp_path):
    text = MOONS_SUITE.replace(
        'protocol = "moons, logistic regression"',
        'protocol = "p"\nmethods = "all"\nexclude = ["target_oracle"]',
    ).replace('[[methods]]\nname = "source_only"\n', "")
    text = text.replace(
        '[[methods]]\nname = "target_oracle"\n',
        '[[methods]]\nname = "source_only"\nclassifier = "1nn"\n',
    )
    suite = parse_suite(text, "all.toml")
    labels = [m.label for m in suite.methods]
    assert "target_oracle" not in labels and labels[0] == "source_only"
    assert suite.methods[0].classifier == "1nn"


def test_load_suite_from_path(tmp_path):
    suite = load_suite(_suite_file(tmp_path))
    assert suite.name == "tiny" and suite.seeds == (0, 1)
    assert [d.label for d in suite.datasets] == ["moons30", "moons60"]
    assert len(suite.cells()) == 2 * 2 * 2


@pytest.mark.parametrize(
    ("change", "names"),
    [
        (("seeds = [0, 1]", "seedz = [0, 1]"), ["[suite].seedz", "did you mean 'seeds'"]),
        (("seeds = [0, 1]", "seeds = [0, -1]"), ["[suite].seeds", "non-negative"]),
        (("seeds = [0, 1]", "seeds = [1, 1]"), ["[suite].seeds", "repeat"]),
        (("seeds = [0, 1]", "seeds = []"), ["[suite].seeds"]),
        (("seeds = [0, 1]", 'seeds = ["a"]'), ["[suite].seeds"]),
        (('classifier = "logreg"', 'classifier = "forest"'), ["[suite].classifier", "1nn"]),
        (('name = "source_only"', 'name = "sourceonly"'), ["methods[0].name", "source_only"]),
        (('name = "moons"\nlabel = "moons30"', 'name = "moon"'), ["datasets[0].name", "moons"]),
        (
            ('label = "moons30"', 'label = "moons30"\npairs = [["source", "tilted"]]'),
            ["datasets[0].pairs", "'tilted'", "rotated"],
        ),
        (('label = "moons60"', 'label = "moons30"'), ["datasets[1].label", "distinct"]),
        (
            ('name = "target_oracle"', 'name = "target_oracle"\nparams = { folds = 3 }'),
            ["methods[1].params", "folds"],
        ),
        (('[[methods]]\nname = "source_only"', "[[methods]]\nlabel = 'x'"), ["methods[0].name"]),
        (("[suite]", "[suit]"), ["top level.suit"]),
        (('label = "moons30"', 'label = "moons30"\npca = 0'), ["datasets[0].pca", ">= 1"]),
        (("angle = 30,", "angle = 30, pca = 2,"), ["datasets[0].options.pca"]),
        (("seeds = [0, 1]", "seeds = [0, 1"), ["not valid TOML"]),
    ],
)
def test_suite_errors_name_the_file_the_key_and_the_fix(tmp_path, change, names):
    path = _suite_file(tmp_path, MOONS_SUITE.replace(*change, 1), "broken.toml")
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    message = str(info.value)
    assert str(path) in message
    for name in names:
        assert name in message


def test_unknown_suite_names_the_builtins(tmp_path):
    with pytest.raises(SuiteError, match="office-caltech-surf"):
        load_suite("office-caltech")
    with pytest.raises(SuiteError, match="does not exist"):
        load_suite(str(tmp_path / "missing.toml"))


def test_select_methods_pairs_and_seeds():
    suite = load_suite("office-caltech-surf").select(
        methods=["target_oracle"], pairs=["amazon:webcam", "dslr:webcam"], seeds=[3]
    )
    cells = suite.cells()
    assert len(cells) == 2 and {c.method for c in cells} == {"target_oracle"}
    assert {(c.source, c.target) for c in cells} == {("amazon", "webcam"), ("dslr", "webcam")}
    with pytest.raises(SuiteError, match="amazon:amazon"):
        load_suite("office-caltech-surf").select(pairs=["amazon:amazon"])
    with pytest.raises(SuiteError, match="nope"):
        load_suite("office-caltech-surf").select(methods=["nope"])
    with pytest.raises(SuiteError, match="source:target"):
        load_suite("office-caltech-surf").select(pairs=["amazon-webcam"])


# --------------------------------------------------------------------- the runner
def test_run_suite_table_matches_direct_computation(tmp_path):
    db = tmp_path / "results.sqlite"
    table = run_suite(_suite_file(tmp_path), db=db)
    assert len(table.rows) == 8 and table.is_complete()
    for label, angle in (("moons30", 30), ("moons60", 60)):
        pair = (label, "source", "rotated")
        for method in ("source_only", "target_oracle"):
            expected = [_direct_accuracy(method, angle, seed) for seed in (0, 1)]
            assert table.cell(pair, method).accuracies == pytest.approx(
                {0: expected[0], 1: expected[1]}
            )
        # the rotation hurts: the oracle (ceiling) beats source-only (floor)
        assert table.cell(pair, "target_oracle").mean > table.cell(pair, "source_only").mean

    markdown = table.to_markdown()
    stats = table.cell(("moons60", "source", "rotated"), "source_only")
    assert f"{stats.mean:.1f} ± {stats.std:.1f}" in markdown
    assert "| moons60: source → rotated |" in markdown
    mean, count = table.method_mean("source_only")
    assert count == 2 and f"**{mean:.1f}**" in markdown
    assert "| published | 70.0 | — |" in markdown
    assert "Published, not run here: dann 90.0" in markdown
    full = format_markdown(table)
    assert "fit s" in full and "mean ± std over seeds [0, 1]" in full

    rows = ResultStore(db).rows("tiny")
    assert {r["status"] for r in rows} == {"ok"}
    row = rows[0]
    assert row["fit_seconds"] > 0 and row["peak_memory_mb"] > 0 and row["max_rss_mb"] > 0
    versions = json.loads(row["versions"])
    assert {"python", "numpy", "scipy", "sklearn", "transferkit"} <= set(versions)
    assert row["hostname"] and row["finished_at"] and row["n_eval"] == 200


def test_rerun_skips_finished_cells_and_problem_is_loaded_once_per_seed(tmp_path, monkeypatch):
    calls = []
    original = runner_module.load_problem

    def counting(*args):
        calls.append(args[:4])
        return original(*args)

    monkeypatch.setattr(runner_module, "load_problem", counting)
    runner_module._cached_problem.cache_clear()
    db = tmp_path / "results.sqlite"
    path = _suite_file(tmp_path)
    first = run_suite(path, db=db)
    # 2 datasets x 1 pair x 2 seeds problems, each shared by both methods
    assert len(calls) == 4
    seen = []
    second = run_suite(path, db=db, progress=lambda *a: seen.append(a))
    assert len(calls) == 4 and seen == []  # nothing left to run, nothing loaded
    assert second.to_markdown() == first.to_markdown()
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT COUNT(*) FROM cells").fetchone()[0] == 8


def test_progress_callback_and_restricted_run(tmp_path):
    events = []
    table = run_suite(
        _suite_file(tmp_path),
        db=tmp_path / "r.sqlite",
        methods=["source_only"],
        seeds=[1],
        progress=lambda done, total, row: events.append((done, total, row is None)),
    )
    assert events[0] == (0, 2, True) and events[-1] == (2, 2, False)
    assert table.methods == ["source_only"] and table.seeds == [1]
    assert len(table.rows) == 2


class _Broken:
    """A method that fails until ``_Broken.healed`` is set."""

    healed = False

    def fit(self, problem):
        if not _Broken.healed:
            raise ValueError("planted failure")
        self.model_ = SourceOnly(registry.make_classifier("logreg")).fit(problem)
        return self

    def predict(self, X):
        return self.model_.predict(X)


def test_errors_are_recorded_and_retried_only_when_asked(tmp_path, monkeypatch):
    spec = registry.MethodSpec("broken", "test", lambda estimator, random_state: _Broken(), "")
    monkeypatch.setitem(registry._METHODS, "broken", spec)
    monkeypatch.setattr(_Broken, "healed", False)
    db = tmp_path / "r.sqlite"
    path = _suite_file(tmp_path, MOONS_SUITE.replace('"target_oracle"', '"broken"'))
    table = run_suite(path, db=db)
    pair = ("moons30", "source", "rotated")
    assert table.cell(pair, "broken").errors[0] == "ValueError: planted failure"
    assert "error" in table.to_markdown()
    assert any("planted failure" in line for line in table.error_lines())

    _Broken.healed = True
    again = run_suite(path, db=db)
    assert again.cell(pair, "broken").n_ok == 0  # errors are not retried by default
    retried = run_suite(path, db=db, retry_errors=True)
    assert retried.cell(pair, "broken").n_ok == 2
    assert retried.cell(pair, "broken").mean == retried.cell(pair, "source_only").mean
    assert ResultStore(db).count() == 8


def test_a_problem_that_cannot_load_stops_the_run_with_its_message(tmp_path):
    text = MOONS_SUITE.replace("n_test = 200 }", "n_test = 200, colour = 1 }", 1)
    with pytest.raises(InvalidParameterError, match="colour"):
        run_suite(_suite_file(tmp_path, text), db=tmp_path / "r.sqlite")


def test_parallel_jobs_give_the_same_numbers(tmp_path):
    path = _suite_file(tmp_path)
    serial = run_suite(path, db=tmp_path / "one.sqlite", jobs=1)
    parallel = run_suite(path, db=tmp_path / "two.sqlite", jobs=2)
    assert parallel.to_markdown() == serial.to_markdown()
    for key, stats in serial.stats.items():
        assert parallel.stats[key].accuracies == stats.accuracies
    with pytest.raises(InvalidParameterError, match="jobs"):
        run_suite(path, db=tmp_path / "x.sqlite", jobs=0)
    with pytest.raises(InvalidParameterError, match="threads"):
        run_suite(path, db=tmp_path / "x.sqlite", threads=0)


def test_exports_csv_and_json(tmp_path):
    db = tmp_path / "r.sqlite"
    table = run_suite(_suite_file(tmp_path), db=db)
    out = tmp_path / "cells.csv"
    table.to_csv(out)
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 8
    assert {"suite", "method", "seed", "accuracy", "fit_seconds", "status"} <= set(rows[0])
    first = next(r for r in rows if r["method"] == "source_only" and r["seed"] == "0")
    assert float(first["accuracy"]) * 100 == pytest.approx(_direct_accuracy("source_only", 30, 0))

    data = json.loads(table.to_json())
    assert data["suite"] == "tiny" and data["seeds"] == [0, 1] and data["complete"]
    assert data["published"]["source_only"]["mean"] == 70.0
    result = next(
        r for r in data["results"] if r["dataset"] == "moons30" and r["method"] == "source_only"
    )
    assert result["mean"] == pytest.approx(
        table.cell(("moons30", "source", "rotated"), "source_only").mean
    )
    assert {t["method"] for t in data["timing"]} == {"source_only", "target_oracle"}


def test_results_table_follows_the_current_suite_definition(tmp_path):
    db = tmp_path / "r.sqlite"
    path = _suite_file(tmp_path)
    run_suite(path, db=db)
    # the same suite name with other classifier: old rows no longer match its definition
    changed = _suite_file(tmp_path, MOONS_SUITE.replace('"logreg"', '"1nn"'), "changed.toml")
    assert results_table(db, changed).rows == []
    assert len(results_table(db, path).rows) == 8
    # a bare name no definition matches shows every stored row of that name
    assert len(results_table(db, "tiny").rows) == 8
    with pytest.raises(InvalidParameterError, match="Stored suites: tiny"):
        results_table(db, "other")
    with pytest.raises(InvalidParameterError, match="No results database"):
        results_table(tmp_path / "none.sqlite", "tiny")


def test_not_a_database_is_a_clean_error(tmp_path):
    path = tmp_path / "junk.sqlite"
    path.write_text("this is not sqlite " * 100)
    with pytest.raises(InvalidParameterError, match="not a usable"):
        ResultStore(path)


# --------------------------------------------------------------------- resume after a kill
_SLOW_SCRIPT = """
import sys, time
from transferkit import registry
from transferkit.baselines import SourceOnly
from transferkit.bench import run_suite


class Slow(SourceOnly):
    def fit(self, problem):
        time.sleep(0.25)
        return super().fit(problem)


registry.register_method("slow", "test", "sleeps, then source-only")(
    lambda estimator, random_state: Slow(estimator)
)
run_suite(sys.argv[1], db=sys.argv[2])
"""


def test_resume_after_a_real_kill_keeps_every_row_once(tmp_path, monkeypatch):
    suite_text = MOONS_SUITE.replace('name = "target_oracle"', 'name = "slow"')
    path = _suite_file(tmp_path, suite_text)
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(_SLOW_SCRIPT))
    db = tmp_path / "killed.sqlite"
    process = subprocess.Popen([sys.executable, str(script), str(path), str(db)])
    try:
        deadline = time.monotonic() + 60
        count = 0
        while time.monotonic() < deadline and process.poll() is None:
            if db.exists():
                try:
                    with sqlite3.connect(db) as connection:
                        count = connection.execute("SELECT COUNT(*) FROM cells").fetchone()[0]
                except sqlite3.OperationalError:
                    count = 0
                if count >= 3:
                    break
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    with sqlite3.connect(db) as connection:
        before = connection.execute("SELECT id, method, seed, finished_at FROM cells").fetchall()
    assert 3 <= len(before) < 8, "the run should have been killed part-way"

    # resume (a second process, as a user would) and compare with an uninterrupted run
    subprocess.run([sys.executable, str(script), str(path), str(db)], check=True, timeout=120)
    reference = tmp_path / "reference.sqlite"
    spec = registry.MethodSpec(
        "slow", "test", lambda estimator, random_state: SourceOnly(estimator), ""
    )
    monkeypatch.setitem(registry._METHODS, "slow", spec)
    run_suite(path, db=reference)
    with sqlite3.connect(db) as connection:
        after = connection.execute("SELECT id, method, seed, finished_at FROM cells").fetchall()
        keys = connection.execute(
            "SELECT COUNT(*), COUNT(DISTINCT suite || dataset || options || source || target || "
            "method || params || classifier || seed) FROM cells"
        ).fetchone()
    assert keys == (8, 8)
    assert set(before) <= set(after)  # the finished cells were kept untouched

    def numbers(database):
        with sqlite3.connect(database) as connection:
            return sorted(
                connection.execute(
                    "SELECT dataset, options, method, seed, status, accuracy FROM cells"
                ).fetchall()
            )

    assert numbers(db) == numbers(reference)


def test_per_pair_published_numbers_get_their_own_column(tmp_path):
    text = MOONS_SUITE.replace(
        "published = { source_only = 70.0, dann = 90.0 }",
        'published.dann = { mean = 90.0, "source:rotated" = 91.0 }\n'
        'published.source_only = { "source:rotated" = 71.0 }',
    )
    table = run_suite(_suite_file(tmp_path, text), db=tmp_path / "r.sqlite", seeds=[0])
    lines = table.to_markdown().splitlines()
    assert (
        lines[0]
        == "| pair | source_only | source_only (published) | target_oracle | dann (published) |"
    )
    assert lines[2].endswith("| 71.0 | " + lines[2].split(" | ")[3] + " | 91.0 |")
    mean_row = lines[4].split(" | ")
    assert mean_row[0] == "| **mean**" and mean_row[2] == "—" and mean_row[4] == "90.0 |"
    assert "Published, not run here" not in table.to_markdown()


PAIRWISE_SUITE = """
[suite]
name = "pairwise"
seeds = [0]
classifier = "1nn"

[[datasets]]
name = "office-caltech-surf"
pairs = [["amazon", "webcam"], ["dslr", "webcam"]]
options = { preprocess = "harness", source_per_class = "harness" }

[[methods]]
name = "sa"
params = { n_components = 40 }
pair_params = { "dslr:webcam" = { n_components = 5 } }
"""


def _direct_pairwise(source: str, target: str, n_components: int) -> float:
    problem = load_pair(
        "office-caltech-surf",
        source,
        target,
        random_state=0,
        preprocess="harness",
        source_per_class="harness",
    )
    model = make_method("sa", {"n_components": n_components}, "1nn", 0)
    X, y = problem.evaluation_split()
    return 100 * float(np.mean(model.fit(problem).predict(X) == y))


def test_pair_params_change_a_methods_parameters_on_their_pair_only(tmp_path):
    db = tmp_path / "r.sqlite"
    table = run_suite(_suite_file(tmp_path, PAIRWISE_SUITE), db=db)
    assert len(table.rows) == 2 and table.is_complete()  # both cells match the suite
    stored = {r["source"]: json.loads(r["params"]) for r in ResultStore(db).rows("pairwise")}
    assert stored == {"amazon": {"n_components": 40}, "dslr": {"n_components": 5}}
    for source, k in (("amazon", 40), ("dslr", 5)):
        expected = _direct_pairwise(source, "webcam", k)
        pair = ("office-caltech-surf", source, "webcam")
        assert table.cell(pair, "sa").mean == pytest.approx(expected)
    # 5 components are not 40: the override did reach its pair
    assert _direct_pairwise("dslr", "webcam", 40) != pytest.approx(
        _direct_pairwise("dslr", "webcam", 5)
    )


@pytest.mark.parametrize(
    "override, names",
    [
        ('"dslr:amazon" = { n_components = 5 }', ['pair_params."dslr:amazon"', '"dslr:webcam"']),
        ('"dslr:webcam" = { n_comp = 5 }', ['methods[0].pair_params."dslr:webcam"', "n_comp"]),
        ('"dslr:webcam" = 5', ['pair_params."dslr:webcam"', "must be a table"]),
    ],
)
def test_pair_params_errors_name_the_pair_and_the_fix(tmp_path, override, names):
    text = PAIRWISE_SUITE.replace('"dslr:webcam" = { n_components = 5 }', override)
    with pytest.raises(SuiteError) as info:
        load_suite(_suite_file(tmp_path, text, "pairwise.toml"))
    for name in names:
        assert name in str(info.value)


def test_a_partial_run_compares_with_the_published_mean_of_its_own_pairs(tmp_path):
    text = MOONS_SUITE.replace(
        "published = { source_only = 70.0, dann = 90.0 }",
        'published.dann = { mean = 85.0, "source:rotated" = 91.0, "source:other" = 79.0 }',
    )
    table = run_suite(_suite_file(tmp_path, text), db=tmp_path / "r.sqlite", seeds=[0])
    mean_row = table.to_markdown().splitlines()[4]
    # only source:rotated was run: its own published number, not the quoted mean of both pairs
    assert mean_row.startswith("| **mean**") and mean_row.endswith("| 91.0 (this pair) |")


def test_pca_entry_projects_every_domain_without_labels(tmp_path):
    text = MOONS_SUITE.replace('label = "moons30"', 'label = "moons30"\npca = 1')
    suite = parse_suite(text, "pca.toml")
    assert suite.datasets[0].pca == 1 and '"pca":1' in suite.cells()[0].options
    problem = runner_module.load_problem(
        "moons", "source", "rotated", 0, {"angle": 30, "n_samples": 200, "pca": 1}
    )
    assert problem.n_features == 1 and problem.X_test.shape == (problem.X_test.shape[0], 1)
    table = run_suite(suite, db=tmp_path / "r.sqlite", seeds=[0], methods=["source_only"])
    projected, plain = (
        table.cell((label, "source", "rotated"), "source_only").mean
        for label in ("moons30", "moons60")
    )
    assert projected is not None and plain is not None and projected != plain


class _Warns(SourceOnly):
    def fit(self, problem):
        import warnings

        warnings.warn("solver did not converge", RuntimeWarning, stacklevel=1)
        return super().fit(problem)


def test_warnings_of_a_cell_are_stored_and_summarised(tmp_path, monkeypatch):
    spec = registry.MethodSpec("warns", "test", lambda estimator, rs: _Warns(estimator), "")
    monkeypatch.setitem(registry._METHODS, "warns", spec)
    path = _suite_file(tmp_path, MOONS_SUITE.replace('"target_oracle"', '"warns"'))
    table = run_suite(path, db=tmp_path / "r.sqlite", seeds=[0])
    rows = {r["method"]: r for r in table.rows if r["dataset_label"] == "moons30"}
    assert rows["warns"]["warnings"] == "RuntimeWarning: solver did not converge"
    assert rows["warns"]["status"] == "ok" and rows["source_only"]["warnings"] is None
    assert "| warns |" in table.timing_markdown() and table.timing_rows()[1]["n_warned"] == 2
    assert "Warnings:\n- warns (2 cells): RuntimeWarning: solver did not converge" in (
        format_markdown(table)
    )


def test_an_older_database_gains_the_new_columns(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE cells (id INTEGER PRIMARY KEY, suite TEXT)")
    ResultStore(path).close()
    with sqlite3.connect(path) as connection:
        columns = {row[1] for row in connection.execute("PRAGMA table_info(cells)")}
    assert {"warnings", "details"} <= columns


def test_target_labels_entry_reveals_labels_and_scores_only_the_hidden_rows(tmp_path):
    text = MOONS_SUITE.replace('label = "moons30"', 'label = "moons30"\ntarget_labels = 2')
    suite = parse_suite(text, "semi.toml")
    assert suite.datasets[0].target_labels == 2
    assert '"target_labels":2' in suite.cells()[0].options
    problem = runner_module.load_problem(
        "moons", "source", "rotated", 0, {"angle": 30, "n_samples": 200, "target_labels": 2}
    )
    assert problem.n_target_labeled == 4  # 2 per class, 2 classes
    with pytest.raises(SuiteError, match=r"datasets\[0\].target_labels"):
        parse_suite(text.replace("target_labels = 2", "target_labels = 0"), "bad.toml")
    with pytest.raises(SuiteError, match=r"options.target_labels"):
        parse_suite(text.replace("angle = 30,", "angle = 30, target_labels = 2,"), "bad.toml")


def test_semi_supervised_office_suite_feature_augmentation_uses_the_few_target_labels(tmp_path):
    from transferkit.datasets import get_data_home

    if not (get_data_home() / "office_caltech10/surf/amazon.mat").is_file():
        pytest.skip("data home lacks office_caltech10/surf/amazon.mat (set TRANSFERKIT_DATA)")
    suite = load_suite("office-caltech-surf-semi")
    table = run_suite(
        suite,
        db=tmp_path / "semi.sqlite",
        seeds=[0, 1],
        pairs=[("amazon", "webcam")],
        methods=["source_only", "target_only", "feature_augmentation"],
    )
    key = ("office-caltech-surf", "amazon", "webcam")
    pooled, alone, augmented = (
        table.cell(key, name).mean
        for name in ("source_only", "target_only", "feature_augmentation")
    )
    # Daume's augmentation beats pooling the source with the 30 target labels, and both pool
    # more than the 30 target labels alone on this strongly shifted pair
    assert augmented > pooled + 3 and augmented > alone
    options = json.loads(suite.datasets[0].options_key)
    problem = runner_module.load_problem("office-caltech-surf", "amazon", "webcam", 0, options)
    X_eval, y_eval = problem.evaluation_split()
    assert problem.n_target_labeled == 30 and len(y_eval) == problem.n_target - 30


def test_a_deep_cell_killed_mid_training_resumes_from_its_checkpoint(
    tmp_path, monkeypatch, interrupt_after
):
    """The runner points a deep method's checkpoint beside the database; a second run of the
    cell goes on from the last finished epoch and gives the uninterrupted run's accuracy."""
    pytest.importorskip("torch")
    text = MOONS_SUITE.replace(
        '[[methods]]\nname = "target_oracle"',
        '[[methods]]\nname = "dann"\nparams = { epochs = 6, patience = 100 }',
    )
    cell = next(c for c in parse_suite(text, "deep.toml").cells() if c.method == "dann")
    reference = runner_module.execute_cell(cell, memory=False)
    checkpoints = tmp_path / "checkpoints"
    folder = runner_module.cell_checkpoint(checkpoints, cell)

    killed = make_method(
        cell.method_name, json.loads(cell.params), json.loads(cell.classifier), cell.seed
    )
    killed.set_params(checkpoint=folder / "checkpoint", progress=interrupt_after(3))
    problem = runner_module._cached_problem(
        cell.dataset, cell.source, cell.target, cell.seed, cell.options
    )
    with pytest.raises(interrupt_after.Interrupted):
        killed.fit(problem)
    assert any(folder.rglob("*.pt"))

    built = []

    def spy(*args, **kwargs):
        built.append(make_method(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(registry, "make_method", spy)
    row = runner_module.execute_cell(cell, memory=False, checkpoints=checkpoints)
    assert built[0].history_.resumed_from == 3
    assert row["status"] == "ok" and row["accuracy"] == pytest.approx(reference["accuracy"])
    assert not folder.exists()  # removed once the cell has its result
