"""`transferkit diagnose` and `transferkit select` on built-in pairs and on users' files."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from transferkit.cli.diagnose import diagnose_command
from transferkit.cli.main import main
from transferkit.cli.select import select_command
from transferkit.exceptions import InvalidParameterError


@pytest.fixture
def runner():
    return CliRunner()


def test_diagnose_a_builtin_pair_writes_table_html_and_json(runner, tmp_path):
    html, out = tmp_path / "report.html", tmp_path / "d.json"
    result = runner.invoke(
        diagnose_command,
        [
            "--dataset",
            "blobs",
            "--pair",
            "source:target",
            "--option",
            "label_shift=0.6",
            "--reveal",
            "10",
            "--permutations",
            "50",
            "--html",
            str(html),
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "P(Y) differs (label shift)" in result.output and "Recommendation" in result.output
    assert html.read_text().count("<img") == 4
    data = json.loads(out.read_text())
    assert data["summary"]["n_target_labeled"] == 30  # 10 per class, 3 classes
    assert data["flags"]["label_shift"] is True


def test_diagnose_files_of_different_widths_reports_scenario_one(runner, tmp_path):
    rng = np.random.default_rng(0)
    source = tmp_path / "s.csv"
    target = tmp_path / "t.csv"
    source.write_text(
        "a,b,label\n"
        + "\n".join(f"{x:.3f},{z:.3f},{i % 2}" for i, (x, z) in enumerate(rng.normal(size=(60, 2))))
    )
    target.write_text(
        "a,b,c\n" + "\n".join(",".join(f"{v:.3f}" for v in row) for row in rng.normal(size=(50, 3)))
    )
    result = runner.invoke(
        diagnose_command,
        ["--source", str(source), "--target", str(target), "--json", "-", "--permutations", "50"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["flags"]["feature_space"] is True
    assert data["details"]["feature_space"]["names_only_target"] == ["c"]
    assert data["flags"]["covariate_shift"] is False  # a and b are compared, and do not differ


def _diagnose_files(runner, source, target) -> dict:
    """``transferkit diagnose --source S --target T --json -`` (50 permutations), parsed."""
    result = runner.invoke(
        diagnose_command,
        ["--source", str(source), "--target", str(target), "--permutations", "50", "--json", "-"],
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_diagnose_svmlight_files(runner, tmp_path):
    from sklearn.datasets import dump_svmlight_file

    rng = np.random.default_rng(0)
    Xs = rng.poisson(0.3, size=(80, 20)).astype(float)
    Xt = rng.poisson(0.3, size=(70, 20)).astype(float)
    dump_svmlight_file(Xs, np.arange(80) % 2, str(tmp_path / "s.svmlight"))
    dump_svmlight_file(Xt, np.arange(70) % 2, str(tmp_path / "t.svmlight"))
    data = _diagnose_files(runner, tmp_path / "s.svmlight", tmp_path / "t.svmlight")
    assert data["summary"]["sparse"] is True and data["summary"]["n_features_source"] == 20
    assert data["flags"]["covariate_shift"] is False


@pytest.mark.parametrize("suffix", [".npz", ".mat"])
def test_diagnose_npz_and_mat_files_flag_a_planted_covariate_shift(runner, tmp_path, suffix):
    import scipy.io

    rng = np.random.default_rng(0)
    Xs = rng.normal(size=(120, 5))
    Xt = rng.normal(size=(100, 5)) + np.r_[1.5, 0, 0, 0, 0]  # feature 0 drifts
    for name, X in (("s", Xs), ("t", Xt)):
        y = (X[:, 1] > 0).astype(int)
        if suffix == ".npz":
            np.savez(tmp_path / f"{name}.npz", X=X, y=y)
        else:
            scipy.io.savemat(tmp_path / f"{name}.mat", {"fts": X, "labels": y.reshape(-1, 1)})
    data = _diagnose_files(runner, tmp_path / f"s{suffix}", tmp_path / f"t{suffix}")
    assert data["summary"]["n_source"] == 120 and data["summary"]["n_target"] == 100
    assert data["flags"]["covariate_shift"] is True
    assert data["flags"]["feature_space"] is False


def _one_line_error(result, *named: str) -> None:
    """The command stopped with exit status 2 and one line, ``Error: ...``, naming ``named``."""
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output
    assert "Traceback" not in result.output
    for text in named:
        assert text in result.output


def test_diagnose_errors_are_one_line(runner, tmp_path):
    result = runner.invoke(main, ["diagnose", "--dataset", "blobs"])
    _one_line_error(result, "--dataset blobs needs --pair SOURCE:TARGET")
    result = runner.invoke(main, ["diagnose"])
    _one_line_error(result, "Say which data", "--dataset NAME", "--source FILE")
    result = runner.invoke(
        main, ["diagnose", "--dataset", "blobs", "--pair", "source:target", "--option", "oops"]
    )
    _one_line_error(result, "--option takes KEY=VALUE", "'oops'")
    result = runner.invoke(
        main, ["diagnose", "--source", str(tmp_path / "none.csv"), "--target", "x.csv"]
    )
    _one_line_error(result, "none.csv", "does not exist")
    # --debug lets the error through with its traceback
    result = runner.invoke(main, ["--debug", "diagnose", "--dataset", "blobs"])
    assert isinstance(result.exception, InvalidParameterError)


def test_select_ranks_candidates_and_evaluates_the_pick(runner, tmp_path):
    out = tmp_path / "ranking.json"
    result = runner.invoke(
        select_command,
        [
            "--dataset",
            "moons",
            "--pair",
            "source:rotated",
            "--methods",
            "source_only,coral",
            "--validator",
            "im,snd",
            "--cv",
            "2",
            "--evaluate",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "%|" not in result.stderr  # no progress bar when stderr is not a terminal
    data = json.loads(out.read_text())
    assert len(data["ranking"]) == 4  # source_only + coral defaults and two grid points
    assert data["pick"]["method"] in {"source_only", "coral"}
    assert 0.5 < data["evaluation"]["pick_accuracy"] <= data["evaluation"]["oracle_accuracy"]
    # the printed ranking is the JSON's, best first by the first validator (im)
    lines = result.stdout.splitlines()
    assert "4 candidates, validator(s) im, snd; cv=2 split(s)" in lines
    printed = [line.split() for line in lines if re.match(r"\s+\d+\s{2}", line)]
    assert [row[1] for row in printed] == [row["method"] for row in data["ranking"]]
    im_scores = [float(row[-2]) for row in printed]
    assert im_scores == sorted(im_scores, reverse=True)
    assert im_scores == pytest.approx([row["im"] for row in data["ranking"]], abs=1e-4)
    pick = f"Pick: {data['pick']['method']} {json.dumps(data['pick']['params'])}"
    assert pick in lines
    accuracy = re.search(r"Target accuracy of the pick: ([\d.]+)%; best candidate \(oracle\): "
                         r"([\d.]+)%", result.stdout)  # fmt: skip
    assert float(accuracy.group(1)) == pytest.approx(
        100 * data["evaluation"]["pick_accuracy"], abs=0.05
    )
    assert float(accuracy.group(2)) == pytest.approx(
        100 * data["evaluation"]["oracle_accuracy"], abs=0.05
    )


def test_select_refuses_unknown_validators_and_methods(runner):
    result = runner.invoke(
        main, ["select", "--dataset", "moons", "--pair", "source:rotated", "--validator", "magic"]
    )
    _one_line_error(result, "Unknown validator 'magic'", "guarded_ensv_graph")
    result = runner.invoke(
        main, ["select", "--dataset", "moons", "--pair", "source:rotated", "--methods", "nope"]
    )
    _one_line_error(result, "Unknown method 'nope'", "coral")


def test_diagnose_and_select_run_under_the_transferkit_group(runner):
    result = runner.invoke(
        main, ["diagnose", "--dataset", "blobs", "--pair", "source:target", "--json", "-",
               "--permutations", "20"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["summary"]["n_source"] > 0
    result = runner.invoke(main, ["select", "--dataset", "moons", "--pair", "source:rotated",
                                  "--validator", "magic"])  # fmt: skip
    assert result.exit_code == 2 and "Unknown validator 'magic'" in result.output


def test_select_scores_deep_candidates_from_the_command_line(runner, tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "ranking.json"
    result = runner.invoke(
        select_command,
        [
            "--dataset", "moons", "--pair", "source:rotated", "--methods", "source_only,dann",
            "--validator", "ensv,im", "--cv", "2", "--evaluate", "--json", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert f"Pick: {data['pick']['method']}" in result.stdout
    printed = [
        line.split()[1] for line in result.stdout.splitlines() if re.match(r"\s+\d+\s{2}", line)
    ]
    assert sorted(printed) == ["dann", "source_only"]
    rows = {row["method"]: row for row in data["ranking"]}
    assert set(rows) == {"source_only", "dann"}
    assert all(np.isfinite(row["ensv"]) and not row["error"] for row in rows.values())
    # the default validator (guarded ensv_graph) with deep candidates too
    result = runner.invoke(
        select_command,
        ["--dataset", "moons", "--pair", "source:rotated", "--methods", "source_only,dann",
         "--cv", "2", "--json", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["ranking"][0]["guarded_ensv_graph"] > 0.5
    assert f"Pick: {data['pick']['method']}" in result.stdout
    # the guard says what it let through; 2 folds hold out every source row
    guard = data["guards"]["guarded_ensv_graph"]
    assert guard["held_out_source_rows"] == data["problem"]["n_source"]
    assert guard["tolerance"] >= 0.05 and 1 <= guard["kept"] <= 2
    assert "points of the best held-out source accuracy" in result.output


def test_select_says_why_the_source_guard_dropped_a_candidate(runner, tmp_path):
    out = tmp_path / "ranking.json"
    result = runner.invoke(
        select_command,
        ["--dataset", "moons", "--pair", "source:rotated", "--methods", "source_only,ot",
         "--validator", "guarded_ensv_graph,source_accuracy", "--cv", "2", "--json", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    guard = json.loads(out.read_text())["guards"]["guarded_ensv_graph"]
    best, tolerance = 100 * guard["best_source_accuracy"], 100 * guard["tolerance"]
    rows = [line for line in result.stdout.splitlines() if re.match(r"\s+\d+\s{2}", line)]
    dropped = [line for line in rows if " nan " in line]
    assert len(rows) == 6 and 1 <= len(dropped) == 6 - guard["kept"]
    for line in rows:
        note = re.search(
            r"dropped by the source guard: held-out source accuracy ([\d.]+)% below best "
            r"([\d.]+)% − tolerance ([\d.]+) points",
            line,
        )
        assert (note is not None) == (line in dropped), line
        if note is None:
            continue
        accuracy = float(note.group(1))
        assert float(note.group(2)) == pytest.approx(best, abs=0.05)
        assert float(note.group(3)) == pytest.approx(tolerance, abs=0.05)
        assert accuracy < best - tolerance
        # the figure is the candidate's held-out source accuracy, the second validator's column
        source_accuracy = float(line.split(" nan ")[1].split()[0])
        assert accuracy == pytest.approx(100 * source_accuracy, abs=0.05)


def test_select_help_lists_the_catalogue_budgets_and_the_safety_floor(runner, monkeypatch):
    import transferkit.selection

    result = runner.invoke(select_command, ["--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    names = transferkit.selection.UNSUPERVISED_VALIDATORS
    assert f"One of: {', '.join(names)}." in text
    assert "oracle" not in text
    assert "--budget [fast|default|thorough]" in text and "--safety / --no-safety" in text
    assert "source-only is always a candidate" in text.lower()
    # read from the catalogue when shown: a trimmed catalogue gives a trimmed help
    monkeypatch.setattr(transferkit.selection, "UNSUPERVISED_VALIDATORS", ("im", "snd"))
    text = " ".join(runner.invoke(select_command, ["--help"]).output.split())
    assert "One of: im, snd. The default" in text and "mixval" not in text


def test_select_says_why_it_picked_and_keeps_source_only_in_the_pool(runner, tmp_path):
    out = tmp_path / "ranking.json"
    result = runner.invoke(
        select_command,
        ["--dataset", "moons", "--pair", "source:rotated", "--methods", "coral,sa",
         "--budget", "fast", "--json", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert {row["method"] for row in data["ranking"]} == {"source_only", "coral", "sa"}
    assert len(data["ranking"]) == 3  # the fast budget: defaults only
    safety = data["safety"]
    assert safety["applied"] and data["budget"] == "fast"
    assert f"Why: {safety['reason']}" in result.stdout.splitlines()
    picked = data["pick"]["method"]
    assert safety["kept_source_only"] == (picked == "source_only")
    if picked != "source_only":
        assert safety["reason"].startswith(f"picked {picked}")
    # --no-safety: the validator's pick, and the output says the floor was off
    result = runner.invoke(
        select_command,
        ["--dataset", "moons", "--pair", "source:rotated", "--methods", "coral,sa",
         "--budget", "fast", "--no-safety", "--json", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert not data["safety"]["applied"] and "Why: no safety floor" in result.stdout
    assert {row["method"] for row in data["ranking"]} == {"coral", "sa"}


def data_method(output: str) -> str:
    """The method of the ``Pick:`` line of ``transferkit select``'s output."""
    return re.search(r"^Pick: (\S+)", output, re.MULTILINE)[1]


def test_select_writes_the_picks_predictions_and_saves_the_fitted_pick(runner, tmp_path):
    import csv

    import joblib

    from transferkit.datasets import load_pair

    source, target = tmp_path / "s.csv", tmp_path / "t.csv"
    problem = load_pair("moons", "source", "rotated", random_state=0)
    names = np.array(["left", "right"])  # labels as words, as a user's files often have them
    for path, X, y in ((source, problem.X_source, problem.y_source),
                       (target, problem.X_target, problem.y_target)):  # fmt: skip
        rows = [f"{a:.6f},{b:.6f},{names[label]}" for (a, b), label in zip(X, y, strict=True)]
        path.write_text("a,b,label\n" + "\n".join(rows) + "\n")
    predictions, model = tmp_path / "p.csv", tmp_path / "pick.joblib"
    result = runner.invoke(
        select_command,
        ["--source", str(source), "--target", str(target), "--methods", "coral,sa",
         "--budget", "fast", "--no-safety", "--evaluate", "--predictions", str(predictions),
         "-o", str(model)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"Predictions for {problem.n_target} target rows: {predictions}" in result.output
    with predictions.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["item"] for row in rows] == [str(i) for i in range(problem.n_target)]
    picked = np.array([row["prediction"] for row in rows])
    accuracy = float(re.search(r"Target accuracy of the pick: ([\d.]+)%", result.output)[1])
    assert 100 * np.mean(picked == names[problem.y_target]) == pytest.approx(accuracy, abs=0.05)
    assert all(0.5 <= float(row["confidence"]) <= 1.0 for row in rows)  # two classes
    # the saved pick labels the target's rows as the file says, in Python and with predict
    saved = joblib.load(model)
    assert saved["method"] == data_method(result.output)
    X_target = np.round(problem.X_target, 6)
    np.testing.assert_array_equal(saved["model"].predict(X_target), picked)
    again = tmp_path / "again.csv"
    result = runner.invoke(main, ["predict", str(model), str(target), "--predictions", str(again)])
    assert result.exit_code == 0, result.output
    assert f"accuracy {accuracy:.1f} %" in result.output  # the target file's labels
    with again.open(newline="") as handle:
        assert [row["prediction"] for row in csv.DictReader(handle)] == picked.tolist()
    for data, message in [
        (tmp_path, "was fitted on files of features; "),
        (source.with_suffix(".npz"), "does not exist"),
    ]:
        result = runner.invoke(main, ["predict", str(model), str(data)])
        assert result.exit_code == 2 and message in result.output, result.output
    # named columns in another order are put in the target's; other names are refused
    lines = [line.split(",") for line in target.read_text().splitlines()]
    swapped = tmp_path / "swapped.csv"
    swapped.write_text("".join(f"{b},{a},{label}\n" for a, b, label in lines))
    result = runner.invoke(main, ["predict", str(model), str(swapped), "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["accuracy"] == pytest.approx(
        accuracy / 100, abs=5e-4
    ), result.output
    renamed = tmp_path / "renamed.csv"
    renamed.write_text("a,c,label\n" + "".join(",".join(row) + "\n" for row in lines[1:]))
    result = runner.invoke(main, ["predict", str(model), str(renamed)])
    assert result.exit_code == 2 and "missing: ['b'], extra: ['c']" in result.output
    np.savez(tmp_path / "wide.npz", X=np.zeros((3, 5)))
    result = runner.invoke(main, ["predict", str(model), str(tmp_path / "wide.npz")])
    assert "has 5 features; the model in" in result.output and "takes 2" in result.output
    result = runner.invoke(main, ["predict", str(predictions), str(target)])
    assert result.exit_code == 2 and "is not a file saved by transferkit select -o" in (
        result.output
    )
    # source-only's column is the plain model's: its accuracy is the floor's
    only = np.array([row["source_only_prediction"] for row in rows])
    assert set(only) <= set(names) and not np.array_equal(only, picked)


def test_diagnose_ends_with_the_select_command_for_its_recommendations(runner):
    import shlex

    def next_command(*args: str) -> list[str]:
        result = runner.invoke(main, ["diagnose", *args, "--permutations", "50"])
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert lines[-2] == "Next, pick a method without target labels and label the target rows:"
        return shlex.split(lines[-1])

    data = ["--dataset", "blobs", "--pair", "source:target", "--option", "label_shift=0.6"]
    words = next_command(*data, "--seed", "1")
    assert words[:2] == ["transferkit", "select"] and words[2:10] == [*data, "--seed", "1"]
    methods = words[words.index("--methods") + 1].split(",")
    assert methods[0] == "label_shift" and "source_only" not in methods
    assert not {"dann", "pada", "feature_augmentation"} & set(methods)  # deep; labels needed
    with runner.isolated_filesystem():  # the command as printed runs, and labels the target
        result = runner.invoke(main, [*words[1:], "--budget", "fast"])
        assert result.exit_code == 0, result.output
        with open("target.csv") as handle:
            assert len(handle.read().splitlines()) == 1 + int(
                re.search(r"(\d+) target rows", result.output)[1]
            )
    # nothing flagged (source-only recommended): select's default pool confirms or not
    words = next_command("--dataset", "moons", "--pair", "source:rotated", "--seed", "1")
    assert "--methods" not in words and words[-2:] == ["--predictions", "target.csv"]


def test_the_next_command_keeps_only_what_select_can_score():
    from types import SimpleNamespace

    from transferkit.cli.diagnose import select_command_line
    from transferkit.diagnose.results import Recommendation

    diagnosis = SimpleNamespace(
        recommendations=[
            Recommendation("alignment", ["coral", "dann", "deep_coral"], ""),
            Recommendation("labels", ["feature_augmentation", "jda", "coral"], ""),
            Recommendation("none", ["source_only"], ""),
        ]
    )
    data = {"source_file": ("my reviews.csv",), "target_file": "avis.tsv", "text_column": "text"}
    line = select_command_line(diagnosis, data)
    assert line == (
        "transferkit select --source 'my reviews.csv' --target avis.tsv --text-column text "
        "--methods coral,jda --predictions target.csv"
    )
    line = select_command_line(diagnosis, {**data, "reveal": 3})
    assert "--reveal 3 --methods coral,feature_augmentation,jda " in line


def test_predict_reads_a_new_svmlight_file_as_the_pick_read_its_target(runner, tmp_path):
    import joblib
    from sklearn.datasets import dump_svmlight_file

    rng = np.random.default_rng(0)
    X = rng.poisson(1.0, size=(300, 6)).astype(float)
    y = (X[:, 0] > X[:, 1]).astype(int)  # the first feature, index 0, decides
    dump_svmlight_file(X[:150], y[:150], str(tmp_path / "s.svmlight"), zero_based=True)
    dump_svmlight_file(X[150:] + 1.0, y[150:], str(tmp_path / "t.svmlight"), zero_based=True)
    pick = tmp_path / "pick.joblib"
    result = runner.invoke(
        main,
        ["select", "--source", str(tmp_path / "s.svmlight"), "--target",
         str(tmp_path / "t.svmlight"), "--methods", "sa", "--budget", "fast", "-o", str(pick)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert joblib.load(pick)["reads"]["svmlight_zero_based"] is True
    # rows that use neither index 0 nor the last one: read alone, the file would look
    # one-based and four features wide
    new = X[:20].copy()
    new[:, [0, 5]] = 0.0
    dump_svmlight_file(new, np.zeros(20), str(tmp_path / "new.svmlight"), zero_based=True)
    out = tmp_path / "new.csv"
    result = runner.invoke(
        main, ["predict", str(pick), str(tmp_path / "new.svmlight"), "--predictions", str(out)]
    )
    assert result.exit_code == 0, result.output
    predicted = [int(line.split(",")[1]) for line in out.read_text().splitlines()[1:]]
    assert predicted == joblib.load(pick)["model"].predict(new).tolist()
