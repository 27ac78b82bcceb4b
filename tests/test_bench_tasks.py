"""Benchmark tasks of other kinds than transfer: datasets whose loader builds its own task object
(a continual stream, few-shot episodes...), methods of that kind, their details stored as JSON and
shown with ``--metric``."""

from __future__ import annotations

import json
import sys
import types

import pytest
from click.testing import CliRunner

from transferkit import registry
from transferkit.bench import parse_suite, results_table, run_suite
from transferkit.cli import main
from transferkit.datasets import catalog, dataset_kind, load_pair, load_task
from transferkit.exceptions import InvalidParameterError, UnknownDatasetError


class CountingTask:
    """A toy task: guess ``size`` coin flips; its score depends on the seed and the pair."""

    kind = "toy"

    def __init__(self, source: str, target: str, size: int, seed: int):
        self.source, self.target, self.size, self.seed = source, target, size, seed
        self.n_eval = size


def load_counting_task(source, target, *, data_home=None, random_state=None, size=10):
    return CountingTask(source, target, size, int(random_state or 0))


class Guesser:
    """A method of the toy kind: its score is a known function of the task."""

    task_kind = "toy"

    def score_problem(self, task):
        correct = (task.seed + (task.source == task.target) * 5) % task.size
        self.details_ = {"forgetting": -0.25 * task.seed, "epoch_seconds": 1.5, "n_steps": 3}
        return correct / task.size


def _toy_info():
    return catalog.DatasetInfo(
        name="toy",
        description="Coin flips.",
        domains={"a": 10, "b": 10},
        pairs=[("a", "a"), ("a", "b")],
        citation="none",
        licence="none",
        origin="generated",
    )


@pytest.fixture
def toy(monkeypatch):
    module = types.ModuleType("toy_tasks")
    module.load_counting_task = load_counting_task
    monkeypatch.setitem(sys.modules, "toy_tasks", module)
    entry = catalog._Entry(
        _toy_info, "toy_tasks:load_counting_task", ("size",), all_pairs=False, kind="toy"
    )
    monkeypatch.setitem(catalog._CATALOG, "toy", entry)
    spec = registry.MethodSpec("guesser", "toy", lambda estimator, random_state: Guesser(), "")
    monkeypatch.setitem(registry._METHODS, "guesser", spec)


SUITE = """
[suite]
name = "toy-suite"
description = "toy tasks"
seeds = [0, 1]

[[datasets]]
name = "toy"
pairs = "standard"
options = { size = 10 }

[[methods]]
name = "guesser"

[[methods]]
name = "source_only"
"""


def test_load_task_builds_each_kind_and_load_pair_refuses_other_kinds(toy):
    assert dataset_kind("toy") == "toy" and dataset_kind("moons") == "transfer"
    task = load_task("toy", "a", "a", random_state=3, size=4)  # a same-domain pair is allowed
    assert (task.kind, task.size, task.seed) == ("toy", 4, 3)
    assert load_task("moons", "source", "rotated", random_state=0).kind == "transfer"
    with pytest.raises(InvalidParameterError, match=r"gives toy tasks.*load_task\('toy'"):
        load_pair("toy", "a", "b")
    with pytest.raises(InvalidParameterError, match="Unknown option.*colour.*Its options: size"):
        load_task("toy", "a", "b", colour=1)
    with pytest.raises(InvalidParameterError, match="only the pair"):
        load_task("toy", "b", "a")
    with pytest.raises(UnknownDatasetError, match="Unknown target domain 'c'"):
        load_task("toy", "a", "c")


def test_a_suite_of_another_kind_stores_scores_and_details(toy, tmp_path):
    db = tmp_path / "r.sqlite"
    suite = parse_suite(SUITE, "toy.toml")
    table = run_suite(suite, db=db)
    same, cross = ("toy", "a", "a"), ("toy", "a", "b")
    assert table.cell(same, "guesser").accuracies == {0: 50.0, 1: 60.0}
    assert table.cell(cross, "guesser").accuracies == {0: 0.0, 1: 10.0}
    # a transfer method on a toy task is an error row that says why
    error = table.cell(cross, "source_only").errors[0]
    assert "works on transfer tasks, but dataset 'toy' gives toy tasks" in error
    row = next(r for r in table.records() if r["method"] == "guesser" and r["seed"] == 1)
    assert json.loads(row["details"])["forgetting"] == -0.25
    assert row["n_eval"] == 10 and row["n_source"] is None

    forgetting = results_table(db, suite, metric="forgetting")
    assert forgetting.cell(same, "guesser").accuracies == {0: 0.0, 1: -25.0}  # a fraction, in %
    seconds = table.with_metric("epoch_seconds")
    assert seconds.cell(cross, "guesser").mean == 1.5  # seconds are shown as stored
    assert table.with_metric("n_steps").cell(cross, "guesser").mean == 3
    with pytest.raises(InvalidParameterError, match="epoch_seconds, forgetting, n_steps"):
        table.with_metric("bwt")


def test_a_toy_method_on_a_transfer_dataset_is_an_error_row(toy, tmp_path):
    text = SUITE.replace(
        'name = "toy"\npairs = "standard"\noptions = { size = 10 }',
        'name = "moons"\npairs = "standard"',
    )
    table = run_suite(parse_suite(text, "mixed.toml"), db=tmp_path / "r.sqlite")
    pair = ("moons", "source", "rotated")
    assert (
        "works on toy tasks, but dataset 'moons' gives transfer tasks"
        in (table.cell(pair, "guesser").errors[0])
    )
    assert table.cell(pair, "source_only").n_ok == 2


def test_bench_prints_a_detail_with_metric(toy, tmp_path):
    path = tmp_path / "toy.toml"
    path.write_text(SUITE)
    db = str(tmp_path / "r.sqlite")
    runner = CliRunner()
    result = runner.invoke(main, ["bench", str(path), "--db", db, "-q", "--metric", "forgetting"])
    assert result.exit_code == 0, result.output
    assert "forgetting (%)" in result.output and "-12.5" in result.output
    shown = runner.invoke(main, ["results", "show", str(path), "--db", db, "--metric", "nope"])
    assert shown.exit_code != 0 and "epoch_seconds, forgetting, n_steps" in shown.output
