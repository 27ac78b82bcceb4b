"""Multi-task learning on a user's own tasks: ``multitask_from_files`` and ``transferkit
multitask`` on four Amazon review domains of 300 reviews each (one sentiment task per shop),
tasks with their own classes, svmlight files read with one width, and the errors."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from transferkit.cli.errors import Group
from transferkit.datasets import get_data_home
from transferkit.datasets.multitask import MISSING_LABEL, multitask_from_files
from transferkit.exceptions import InvalidParameterError, InvalidProblemError

pytest.importorskip("torch")

DOMAINS = ("books", "dvd", "electronics", "kitchen")
needs_amazon = pytest.mark.skipif(
    not (get_data_home() / "amazon_reviews").is_dir(),
    reason=f"data home {get_data_home()} lacks amazon_reviews (set TRANSFERKIT_DATA)",
)


@click.group(cls=Group)
def tool() -> None:
    """The root group's error handling around the command, as ``transferkit`` gives it."""


def invoke(*args: object):
    from transferkit.cli.multitask import multitask_command

    tool.add_command(multitask_command)
    return CliRunner().invoke(tool, ["multitask", *(str(a) for a in args)])


@pytest.fixture(scope="module")
def shops(tmp_path_factory) -> dict[str, Path]:
    """300 training reviews of each domain (drawn with seed 0) as svmlight files."""
    from sklearn.datasets import dump_svmlight_file

    from transferkit.datasets.amazon import load_amazon_reviews

    folder = tmp_path_factory.mktemp("shops")
    rng = np.random.default_rng(0)
    files = {}
    for domain in DOMAINS:
        X, y = load_amazon_reviews(domain, "train")
        keep = np.sort(rng.choice(len(y), 300, replace=False))
        files[domain] = folder / f"{domain}.svmlight"
        dump_svmlight_file(X[keep], y[keep], str(files[domain]))
    return files


@needs_amazon
def test_pooling_four_small_shops_beats_one_network_per_shop(shops):
    args = [shops[d] for d in DOMAINS]
    result = invoke(*args, "--method", "single_task", "--method", "pooled", "--json", "-q")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["task_names"] == list(DOMAINS)
    assert payload["n_labelled"] == dict.fromkeys(DOMAINS, 210)  # 30 % of each class held out
    alone, pooled = payload["results"]
    # the same sentiment on shifted inputs: four shops' labels together beat each shop's own
    assert pooled["mean_accuracy"] > alone["mean_accuracy"] + 0.02
    assert pooled["worst_task_accuracy"] > alone["worst_task_accuracy"]
    assert all(0.6 < a < 1.0 for a in pooled["task_accuracies"].values())


@needs_amazon
def test_svmlight_tasks_are_read_with_one_width(shops):
    from transferkit.datasets import load_file

    # books never uses its last feature: read by itself it is one column narrower
    assert load_file(shops["books"])[0].shape[1] == 4999
    data = multitask_from_files([shops[d] for d in DOMAINS])
    assert data.X.shape == (840, 5000) and data.X_test.shape == (360, 5000)


@needs_amazon
def test_each_shop_keeps_its_own_classifier_of_the_shared_network(shops, tmp_path):
    """mtl_hard on the four shops, saved with -o: one file per shop, and transferkit predict
    labels a shop's rows (its svmlight file read alone is one column narrower, so it is read
    with the tasks' width) with the shop's own labels, well above chance."""
    import joblib

    from transferkit.cli.predict import predict_command
    from transferkit.multitask import TaskClassifier

    folder = tmp_path / "models"
    result = invoke(*(shops[d] for d in DOMAINS), "--method", "mtl_hard", "-o", folder, "-q")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in folder.iterdir()) == [f"{d}.joblib" for d in DOMAINS]
    assert f"transferkit predict {folder / 'books.joblib'} DATA" in result.output
    tool.add_command(predict_command)
    result = CliRunner().invoke(
        tool, ["predict", str(folder / "books.joblib"), str(shops["books"]), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["method"] == "mtl_hard" and report["rows"] == 300
    assert set(report["counts"]) <= {"0", "1"} and report["accuracy"] > 0.8  # its training rows
    # labels the model never learned are named: -1/1 where the shops said 0/1
    from sklearn.datasets import dump_svmlight_file, load_svmlight_file

    X, y = load_svmlight_file(str(shops["books"]), n_features=5000, zero_based=True)
    dump_svmlight_file(X, 2 * y - 1, str(tmp_path / "signs.svmlight"))
    result = CliRunner().invoke(
        tool, ["predict", str(folder / "books.joblib"), str(tmp_path / "signs.svmlight")]
    )
    assert result.exit_code == 0, result.output
    negatives = int((y == 0).sum())
    assert f"Note: {negatives} rows of DATA have labels the model never learned (['-1']" in (
        result.output
    )
    books, kitchen = (joblib.load(folder / f"{d}.joblib")["model"] for d in ("books", "kitchen"))
    assert isinstance(books, TaskClassifier) and (books.task, kitchen.task) == (0, 3)
    with pytest.raises(ValueError, match="the model learned 4 tasks"):
        TaskClassifier(books.model, 4)


def test_saving_needs_one_method(tmp_path):
    a = _write(tmp_path / "a.npz", np.repeat(["cat", "dog"], 10))
    b = _write(tmp_path / "b.npz", np.repeat(["cat", "dog"], 10), seed=1)
    result = invoke(a, b, "-o", tmp_path / "models")
    assert result.exit_code == 2 and "--output saves one method's networks" in result.output
    result = invoke(a, b, "--method", "single_task", "-o", tmp_path / "models", "-q")
    assert result.exit_code == 0, result.output
    import joblib

    model = joblib.load(tmp_path / "models" / "a.joblib")["model"]
    assert set(model.predict(np.zeros((4, 3))).tolist()) <= {"cat", "dog"}  # names, not codes


def _write(path: Path, y, width: int = 3, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    np.savez(path, X=rng.normal(size=(len(y), width)), y=np.asarray(y))
    return path


def test_each_row_is_labelled_for_its_own_task_and_classes_keep_their_names(tmp_path):
    a = _write(tmp_path / "a.npz", np.repeat(["cat", "dog"], 10))
    b = _write(tmp_path / "b.npz", np.repeat([1, 2, 3], 4), seed=1)
    data = multitask_from_files([a, b], random_state=0)
    assert data.metadata["task_classes"] == {"a": ["cat", "dog"], "b": ["1", "2", "3"]}
    codes = data.metadata["class_names"]
    assert sorted(codes) == ["1", "2", "3", "cat", "dog"]
    first = data.Y[:, 0] != MISSING_LABEL
    assert first.sum() == 14 and (data.Y[first, 1] == MISSING_LABEL).all()
    assert {codes[c] for c in data.Y[first, 0]} == {"cat", "dog"}  # codes index class_names


def test_tasks_with_their_own_classes_leave_pooled_out_or_refuse_it(tmp_path):
    a = _write(tmp_path / "a.npz", np.repeat(["cat", "dog"], 20))
    b = _write(tmp_path / "b.npz", np.repeat(["owl", "fox"], 20), seed=1)
    result = invoke(a, b, "--param", "epochs=2", "-q")
    assert result.exit_code == 0, result.output
    assert "pooled left out: the tasks do not have the same classes." in result.output
    assert [line.split()[0] for line in result.output.splitlines()[5:7]] == [
        "single_task",
        "mtl_hard",
    ]
    refused = invoke(a, b, "--method", "pooled", "-q")
    assert refused.exit_code == 2
    assert "every task needs the same classes; these have a ['cat', 'dog']" in refused.output


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda d: [_write(d / "a.npz", [0, 1] * 5)], InvalidParameterError, "at least two tasks"),
        (
            lambda d: [_write(d / "a.npz", [0, 1] * 5), _write(d / "b.npz", [1] * 6)],
            InvalidProblemError,
            "Task b has a single class",
        ),
        (
            lambda d: [_write(d / "a.npz", [0, 1] * 5), _write(d / "b.npz", [0, 1] * 5, width=4)],
            InvalidProblemError,
            "a 3, b 4",
        ),
    ],
)
def test_tasks_that_cannot_be_learned_together_say_why(tmp_path, make, error, message):
    with pytest.raises(error, match=message):
        multitask_from_files(make(tmp_path))


def test_a_method_of_another_kind_is_refused(tmp_path):
    a = _write(tmp_path / "a.npz", [0, 1] * 5)
    b = _write(tmp_path / "b.npz", [0, 1] * 5, seed=1)
    result = invoke(a, b, "--method", "ewc")
    assert result.exit_code == 2
    assert "'ewc' is not a multi-task method" in result.output
