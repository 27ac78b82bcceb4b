"""Continual learning on a user's own tasks: ``stream_from_files`` and ``transferkit continual``
on the four Office-Caltech10 SURF domains learned one after the other (domain-incremental), the
scenario read from the classes, EWC's warning when its penalty does not weigh, and the errors."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from transferkit.cli.errors import Group
from transferkit.continual import scenario_of_classes, stream_from_files
from transferkit.datasets import get_data_home
from transferkit.exceptions import (
    DataFormatError,
    DegenerateResultWarning,
    FeatureSpaceMismatchError,
    InvalidParameterError,
    ParameterValueError,
)

pytest.importorskip("torch")

DOMAINS = ("amazon", "dslr", "webcam", "caltech10")
needs_surf = pytest.mark.skipif(
    not (get_data_home() / "office_caltech10").is_dir(),
    reason=f"data home {get_data_home()} lacks office_caltech10 (set TRANSFERKIT_DATA)",
)


@click.group(cls=Group)
def tool() -> None:
    """The root group's error handling around the command, as ``transferkit`` gives it."""


def _tool() -> click.Group:
    from transferkit.cli.continual import continual_command
    from transferkit.cli.predict import predict_command

    tool.add_command(continual_command)
    tool.add_command(predict_command)
    return tool


@pytest.fixture(scope="module")
def surf(tmp_path_factory) -> dict[str, Path]:
    """Each domain's SURF histograms, pre-processed as the harness does, class names as labels."""
    from transferkit.datasets import load_office_caltech_surf
    from transferkit.datasets.office import OFFICE_CLASSES, harness_preprocess

    folder = tmp_path_factory.mktemp("surf")
    files = {}
    for domain in DOMAINS:
        X, y = load_office_caltech_surf(domain)
        files[domain] = folder / f"{domain}.npz"
        np.savez(files[domain], X=harness_preprocess(X), y=np.array(OFFICE_CLASSES)[y])
    return files


@needs_surf
def test_replay_forgets_less_than_naive_on_four_cameras(surf, tmp_path):
    args = ["continual", *(surf[d] for d in DOMAINS), "--strategy", "naive", "--strategy"]
    result = CliRunner().invoke(
        _tool(), [str(a) for a in (*args, "replay", "--json", "--plot", tmp_path / "figures")]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["scenario"] == "domain"  # the same ten classes in every domain
    assert payload["task_names"] == list(DOMAINS)
    naive, replay = payload["results"]
    assert (naive["strategy"], replay["strategy"]) == ("naive", "replay")
    # naive fine-tuning loses accuracy on the earlier cameras; replay keeps more of it
    assert naive["bwt"] < -0.02
    assert replay["bwt"] > naive["bwt"] + 0.02
    assert replay["average_accuracy"] > naive["average_accuracy"]
    assert all(0.4 < a <= 1.0 for a in replay["final_accuracies"])  # chance is 0.1
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == ["naive.png", "replay.png"]


@needs_surf
def test_the_table_names_the_scenario_the_tasks_and_what_each_strategy_keeps(surf):
    args = ["continual", surf["amazon"], surf["dslr"], "--strategy", "naive", "--epochs", "3"]
    result = CliRunner().invoke(_tool(), [str(a) for a in (*args, "--quiet")])
    assert result.exit_code == 0, result.output
    assert "2 tasks, domain-incremental" in result.output
    assert "amazon 670+288, dslr 109+48" in result.output  # 30 % of each class held out
    (row,) = [line for line in result.output.splitlines() if line.startswith("naive")]
    assert row.count("%") == 3  # the average and each task's final accuracy


@needs_surf
def test_ewc_warns_when_its_penalty_does_not_weigh_and_not_when_it_does(surf):
    from transferkit.continual import EWC

    stream = stream_from_files([surf[d] for d in DOMAINS[:3]])
    with pytest.warns(DegenerateResultWarning, match="raise ewc_lambda"):
        idle = EWC(epochs=10).fit(stream)  # the default lambda, a model sure of its rows
    assert idle.penalty_share_ < 0.02
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateResultWarning)
        held = EWC(epochs=10, ewc_lambda=1e6).fit(stream)
    assert held.penalty_share_ > 0.02
    assert held.accuracy_matrix_[-1, 0] > idle.accuracy_matrix_[-1, 0]  # amazon kept better


@needs_surf
def test_the_saved_network_labels_a_new_camera_as_the_stream_tested_it(surf, tmp_path):
    """amazon, dslr, webcam learned in order with replay, saved with -o; transferkit predict
    labels the fourth camera's rows with the tasks' class names, well above chance, and the
    saved classifier answers as the strategy's own network did on every task's test rows."""
    import joblib

    from transferkit.continual import Replay, StreamClassifier

    model = tmp_path / "replay.joblib"
    args = ["continual", *(surf[d] for d in DOMAINS[:3]), "--strategy", "replay", "-o", model]
    result = CliRunner().invoke(_tool(), [str(a) for a in (*args, "-q")])
    assert result.exit_code == 0, result.output
    assert f"transferkit predict {model} DATA" in result.output
    csv = tmp_path / "caltech.csv"
    result = CliRunner().invoke(
        _tool(),
        ["predict", str(model), str(surf["caltech10"]), "--predictions", str(csv), "--json"],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["method"] == "replay" and report["params"]["scenario"] == "domain"
    assert report["rows"] == 1123 and report["accuracy"] > 0.25  # chance 0.1
    assert set(report["counts"]) <= {"backpack", "bike", "calculator", "headphones", "keyboard",
                                     "laptop", "monitor", "mouse", "mug", "projector"}  # fmt: skip
    saved = joblib.load(model)["model"]
    assert isinstance(saved, StreamClassifier) and saved.classes_[0] == "backpack"
    stream = stream_from_files([surf[d] for d in DOMAINS[:3]])
    strategy = Replay(random_state=0).fit(stream)
    for experience in stream.experiences:
        units = strategy.predict(experience.X_test)
        np.testing.assert_array_equal(
            StreamClassifier(strategy).predict(experience.X_test),
            np.asarray(experience.classes)[units],
        )


def test_new_classes_are_all_open_and_a_model_that_cannot_label_alone_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    files = []
    for name, labels, centre in (("a", ["cat", "dog"], 0.0), ("b", ["owl", "fox"], 6.0)):
        y = np.repeat(labels, 30)
        X = rng.normal(size=(60, 2)) + centre + 3 * (y == labels[1])[:, None]
        files.append(tmp_path / f"{name}.npz")
        np.savez(files[-1], X=X, y=y)
    model = tmp_path / "m.joblib"
    args = ["continual", *files, "--strategy", "replay", "--epochs", "20", "-o", model, "-q"]
    result = CliRunner().invoke(_tool(), [str(a) for a in args])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(_tool(), [str(a) for a in (*args, "--json")])
    assert json.loads(result.output)["output"] == str(model)
    result = CliRunner().invoke(_tool(), ["predict", str(model), str(files[0]), "--json"])
    report = json.loads(result.output)
    assert report["params"]["scenario"] == "class" and report["accuracy"] > 0.9
    assert set(report["counts"]) <= {"cat", "dog", "owl", "fox"}
    for extra, message in (
        (["--scenario", "task"], "in the task scenario each row's task picks its outputs"),
        (["--strategy", "naive"], "--output saves one strategy's network"),
    ):
        result = CliRunner().invoke(_tool(), [str(a) for a in (*args, *extra)])
        assert result.exit_code == 2 and message in result.output, result.output
    # the same labels forced into new units: each named after its task
    from transferkit.continual import Naive, StreamClassifier

    copy = tmp_path / "c.npz"
    copy.write_bytes(files[0].read_bytes())
    stream = stream_from_files([files[0], copy], "class")
    assert StreamClassifier(Naive(epochs=1).fit(stream)).classes_.tolist() == [
        "a:cat", "a:dog", "c:cat", "c:dog"
    ]  # fmt: skip
    with pytest.raises(InvalidParameterError, match="a new row comes without one"):
        StreamClassifier(Naive(epochs=1).fit(stream_from_files(files, "task")))


def _write(path: Path, y, width: int = 3, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    np.savez(path, X=rng.normal(size=(len(y), width)), y=np.asarray(y))
    return path


def test_the_scenario_follows_the_classes(tmp_path):
    same = [
        _write(tmp_path / f"{n}.npz", np.repeat([0, 1], 10), seed=k) for k, n in enumerate("ab")
    ]
    assert stream_from_files(same).scenario == "domain"
    new = [
        _write(tmp_path / "c.npz", np.repeat(["cat", "dog"], 10)),
        _write(tmp_path / "d.npz", np.repeat(["owl", "fox"], 10)),
    ]
    stream = stream_from_files(new)
    assert (stream.scenario, stream.n_outputs) == ("class", 4)
    assert stream_from_files(new, "task").scenario == "task"
    assert scenario_of_classes([[1, 2], [3, 4]], ["x", "y"]) == "class"
    with pytest.raises(InvalidParameterError, match="x and y share the classes \\[2\\]"):
        scenario_of_classes([[1, 2], [2, 3]], ["x", "y"])


def test_each_class_is_split_into_training_and_test_rows(tmp_path):
    paths = [
        _write(tmp_path / f"{n}.npz", np.repeat([0, 1, 2], [10, 4, 2]), seed=k)
        for k, n in enumerate("ab")
    ]
    first = stream_from_files(paths, test_fraction=0.5, random_state=3).experiences[0]
    assert np.bincount(first.y_test).tolist() == [5, 2, 1]
    assert np.bincount(first.y_train).tolist() == [5, 2, 1]
    again = stream_from_files(paths, test_fraction=0.5, random_state=3).experiences[0]
    np.testing.assert_array_equal(first.X_test, again.X_test)  # the seed fixes the split


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda d: [_write(d / "a.npz", [0, 1] * 5)], InvalidParameterError, "at least two tasks"),
        (
            lambda d: [_write(d / "a.npz", [0, 1] * 5), _write(d / "b.npz", [0, 1, 1, 1])],
            InvalidParameterError,
            "class 0 has 1 row",
        ),
        (
            lambda d: [_write(d / "a.npz", [0, 1] * 5), _write(d / "b.npz", [0, 1] * 5, width=4)],
            FeatureSpaceMismatchError,
            "a 3, b 4",
        ),
        (
            lambda d: [_write(d / "a.npz", [0, 1] * 5), d / "a.npz"],
            InvalidParameterError,
            "given twice",
        ),
    ],
)
def test_tasks_that_cannot_form_a_stream_say_why(tmp_path, make, error, message):
    with pytest.raises(error, match=message):
        stream_from_files(make(tmp_path))


def test_a_file_without_labels_and_a_bad_fraction_are_named(tmp_path):
    a = _write(tmp_path / "a.npz", [0, 1] * 5)
    np.savez(tmp_path / "b.npz", X=np.ones((4, 3)))
    with pytest.raises(DataFormatError, match="b.npz holds no labels.*continual learning"):
        stream_from_files([a, tmp_path / "b.npz"])
    with pytest.raises(ParameterValueError, match="test_fraction"):
        stream_from_files([a, a.with_name("c.npz")], test_fraction=1.0)


def test_the_command_refuses_a_parameter_no_strategy_has_and_a_method_of_another_kind(tmp_path):
    a = _write(tmp_path / "a.npz", [0, 1] * 5)
    b = _write(tmp_path / "b.npz", [0, 1] * 5, seed=1)
    result = CliRunner().invoke(
        _tool(), ["continual", str(a), str(b), "--strategy", "naive", "--param", "memory_size=5"]
    )
    assert result.exit_code == 2
    assert "none of naive has a parameter 'memory_size'" in result.output
    result = CliRunner().invoke(_tool(), ["continual", str(a), str(b), "--strategy", "coral"])
    assert result.exit_code == 2
    assert "'coral' is not a continual-learning strategy" in result.output


def test_the_command_gives_a_parameter_to_the_strategies_that_have_it(tmp_path):
    a = _write(tmp_path / "a.npz", [0, 1] * 10)
    b = _write(tmp_path / "b.npz", [0, 1] * 10, seed=1)
    args = ["continual", a, b, "--strategy", "naive", "--strategy", "ewc", "--param"]
    result = CliRunner().invoke(
        _tool(), [str(x) for x in (*args, "ewc_lambda=0", "--param", "hidden=[8]", "--json", "-q")]
    )
    assert result.exit_code == 0, result.output
    naive, ewc = json.loads(result.output)["results"]
    assert naive["params"] == {"hidden": [8]}
    assert ewc["params"]["ewc_lambda"] == 0
    assert "ewc_lambda" not in naive["params"]


def test_settings_the_command_owns_and_a_bad_layer_list_are_named(tmp_path):
    a = _write(tmp_path / "a.npz", [0, 1] * 10)
    b = _write(tmp_path / "b.npz", [0, 1] * 10, seed=1)
    for param, message in (
        ("epochs=3", "--param epochs: give it with --epochs."),
        ("random_state=3", "--param random_state: give it with --seed."),
        ("hidden=256", "naive: hidden must list the default MLP's hidden layer widths"),
    ):
        result = CliRunner().invoke(
            _tool(), ["continual", str(a), str(b), "--strategy", "naive", "--param", param, "-q"]
        )
        assert result.exit_code == 2, result.output
        assert message in result.output
