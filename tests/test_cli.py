"""The ``transferkit`` command: every sub-command through click's runner, and the installed script."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner

from transferkit import __version__
from transferkit.cli import main
from transferkit.exceptions import SuiteError

SUITE = """
[suite]
name = "cli-tiny"
seeds = [0, 1]
classifier = "logreg"
published = { source_only = 70.0 }

[[datasets]]
name = "moons"
label = "moons30"
options = { angle = 30, n_samples = 150, n_test = 150 }

[[datasets]]
name = "moons"
label = "moons50"
options = { angle = 50, n_samples = 150, n_test = 150 }

[[methods]]
name = "source_only"

[[methods]]
name = "target_oracle"
"""


@pytest.fixture
def suite_file(tmp_path: Path) -> Path:
    path = tmp_path / "cli-tiny.toml"
    path.write_text(SUITE)
    return path


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _invoke(runner: CliRunner, *args: str):
    return runner.invoke(main, [str(a) for a in args], catch_exceptions=True)


#: Every command of `transferkit` with its options and arguments, as main had them before the
#: command line became a package: the names users type must not change.
COMMANDS = {
    "": ["--debug", "--version"],
    "datasets": ["--json", "--verify"],
    "bench": ["--amp", "--backbone", "--csv", "--db", "--ddp", "--device", "--encoder", "--feature-spaces",
              "--jobs", "--json", "--label-column", "--language", "--methods", "--metric", "--pairs", "--parallel",
              "--parallel-columns", "--quiet", "--retry-errors", "--reveal",
              "--scheduler", "--seeds", "--source", "--target", "--test", "--text-column", "--threads", "-j",
              "-q", "suite"],
    "zeroshot": ["--backbone", "--center", "--class", "--class-column", "--class-embeddings",
                 "--classes", "--description-column", "--encoder", "--hold-out-named", "--json",
                 "--label-column",
                 "--language", "--method", "--predictions", "--quiet", "--seed", "--stacking",
                 "--test", "--text-column", "--texts", "--train", "--transductive", "-q"],
    "fewshot": ["--backbone", "--classify", "--encoder", "--episodes", "--json", "--label-column", "--method",
                "--predictions", "--queries", "--query", "--quiet", "--seed", "--shot", "--text-column", "--way",
                "-q", "shots"],
    "continual": ["--backbone", "--encoder", "--epochs", "--json", "--label-column", "--output", "--param",
                  "--plot", "--quiet", "--scenario", "--seed", "--strategy", "--test-fraction", "--text-column",
                  "-o", "-q", "tasks"],
    "multitask": ["--backbone", "--encoder", "--json", "--label-column", "--method", "--output", "--param",
                  "--quiet", "--seed", "--test-fraction", "--text-column", "-o", "-q", "tasks"],
    "corrupt": ["--corruption", "--hold-out", "--json", "--output", "--quiet", "--seed", "--severity", "-o", "-q",
                "folder"],
    "source-free": ["--classes", "--code", "--device", "--epochs", "--grey", "--head", "--image-size",
                    "--input-shape", "--json", "--mean", "--method", "--online", "--output", "--param", "--predictions",
                    "--quiet", "--resize-size", "--seed", "--std", "-o", "-q", "model", "target"],
    "robustness": ["--attack", "--batch-size", "--classes", "--code", "--corruption", "--device", "--eps",
                   "--examples", "--grey",
                   "--image-size", "--input-shape", "--json", "--mean", "--norm", "--quiet", "--resize-size",
                   "--restarts", "--rows", "--seed", "--severity", "--std", "--steps", "-q", "data", "model"],
    "adapt": ["--batch-size", "--classes", "--code", "--device", "--epochs", "--grey", "--head",
              "--image-size", "--input-shape", "--json", "--learning-rate", "--mean", "--method", "--output",
              "--predictions", "--quiet", "--resize-size", "--seed", "--std", "--trade-off", "-o", "-q", "model",
              "source", "target"],
    "harden": ["--batch-size", "--beta", "--classes", "--code", "--defence", "--device", "--epochs", "--eps",
               "--grey", "--image-size", "--input-shape", "--json", "--learning-rate", "--mean", "--norm",
               "--output", "--quiet", "--resize-size", "--seed", "--std", "--steps", "--test", "--warmup", "-o",
               "-q", "model", "train"],
    "predict": ["--json", "--predictions", "--quiet", "-q", "data", "pick"],
    "results": [],
    "results list": ["--db", "--json"],
    "results show": ["--db", "--json", "--metric", "suite"],
    "results export": ["--csv", "--db", "--format", "--output", "-o", "suite"],
    "demo": ["--db", "--jobs", "--quiet", "-j", "-q"],
    "diagnose": ["--alpha", "--backbone", "--dataset", "--encoder", "--feature-spaces", "--html", "--json", "--label-column",
                 "--language", "--max-samples", "--mmd", "--option", "--pair", "--permutations",
                 "--reveal", "--seed", "--source", "--target", "--text-column"],
    "bli": ["--cache-dir", "--dictionary", "--json", "--max-iter", "--method", "--quiet",
            "--retrieval", "--seed", "--source", "--target", "--test-words", "--top",
            "--translate", "--vocab", "-q"],
    "transferability": ["--backbones", "--cache-dir", "--check", "--dataset", "--device",
                        "--domain", "--folder", "--folds", "--json", "--layers", "--no-check", "--per-class",
                        "--quiet", "--scores", "--seed", "-q"],
    "select": ["--backbone", "--budget", "--classifier", "--cv", "--dataset", "--encoder", "--evaluate",
               "--feature-spaces",
               "--jobs", "--json", "--label-column", "--language", "--methods", "--no-safety",
               "--option", "--output", "--pair", "--predictions", "--reveal", "--safety", "--scheduler",
               "--seed", "--source", "--target", "--text-column", "--top", "--validator", "-o"],
    "plot": [],
    "plot domain-scores": ["--backbone", "--baseline", "--baseline-params", "--dataset", "--encoder",
                           "--feature-spaces", "--label-column", "--language", "--method", "--option",
                           "--output", "--pair", "--params", "--quiet", "--reveal", "--rows", "--seed",
                           "--source", "--target", "--text-column", "-o", "-q", "builtin"],
    "plot embedding": ["--backbone", "--baseline", "--baseline-params", "--dataset", "--encoder",
                       "--feature-spaces", "--label-column", "--language", "--max-points", "--method",
                       "--option", "--output", "--pair", "--params", "--projection", "--quiet", "--reveal",
                       "--rows", "--seed", "--source", "--target", "--text-column", "-o", "-q", "builtin"],
    "extract-features": ["--amp", "--backbone", "--batch-size", "--cache-dir", "--device",
                         "--domains", "--layer", "--output", "--quiet", "-o", "-q", "dataset"],
}  # fmt: skip


def _command_table(command, prefix: tuple[str, ...] = ()) -> dict[str, list[str]]:

    table = {" ".join(prefix): sorted(o for p in command.params for o in p.opts + p.secondary_opts)}
    for name, sub in getattr(command, "commands", {}).items():
        table.update(_command_table(sub, (*prefix, name)))
    return table


def test_every_command_and_option_keeps_its_name_and_shows_in_its_help(runner):
    assert _command_table(main) == COMMANDS
    for path, options in COMMANDS.items():
        result = _invoke(runner, *path.split(), "--help")
        assert result.exit_code == 0, (path, result.output)
        assert result.output.startswith(f"Usage: main {path}".rstrip())
        shown = set(re.findall(r"(?<![\w-])-{1,2}[a-z][a-z-]*", result.output))
        assert {o for o in options if o.startswith("-")} <= shown, path
    listed = _invoke(runner, "--help").output.partition("Commands:")[2]
    assert [line.split()[0] for line in listed.strip().splitlines()] == sorted(
        name for name in COMMANDS if name and " " not in name
    )


def test_version(runner):
    result = _invoke(runner, "--version")
    assert result.exit_code == 0 and result.output == f"transferkit, version {__version__}\n"


def test_datasets_lists_every_dataset_with_files_status(runner, monkeypatch, tmp_path):
    monkeypatch.setenv("TRANSFERKIT_DATA", str(tmp_path / "empty-home"))
    result = _invoke(runner, "datasets")
    assert result.exit_code == 0
    for name in ("moons", "digits", "amazon-reviews", "office-caltech-surf"):
        assert name in result.output
    assert "licence:" in result.output and "cite:" in result.output
    assert "missing: amazon_reviews/books_train.svmlight" in result.output

    data = json.loads(_invoke(runner, "datasets", "--json").output)
    by_name = {d["name"]: d for d in data}
    assert by_name["moons"]["files"]["n_files"] == 0
    amazon = by_name["amazon-reviews"]
    assert amazon["domains"]["books"] > 0 and len(amazon["pairs"]) == 12
    assert amazon["files"]["n_present"] == 0 and amazon["citation"] and amazon["licence"]


def test_datasets_verify_checks_the_real_files(runner, monkeypatch):
    home = Path(os.environ.get("TRANSFERKIT_DATA", "../shared/datasets"))
    if not (home / "amazon_reviews").is_dir():
        pytest.skip(f"no real data home at {home} (set TRANSFERKIT_DATA)")
    monkeypatch.setenv("TRANSFERKIT_DATA", str(home))
    data = json.loads(_invoke(runner, "datasets", "--verify", "--json").output)
    amazon = next(d for d in data if d["name"] == "amazon-reviews")
    assert amazon["files"]["verified"] is True and amazon["files"]["checksum_errors"] == []
    assert amazon["files"]["n_present"] == amazon["files"]["n_files"] > 0


def _published_sum(name: str) -> str:
    """The SHA-256 the package ships for data-home file ``name`` (read from SHA256SUMS itself)."""
    text = resources.files("transferkit.datasets").joinpath("SHA256SUMS").read_text("utf-8")
    return next(line.split()[0] for line in text.splitlines() if line.endswith("/" + name))


def test_datasets_verify_names_the_corrupt_file_both_sums_and_its_source(
    runner, monkeypatch, tmp_path
):
    name = "amazon_reviews/books_train.svmlight"
    bad = tmp_path / "home" / name
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"1 3:0.5 7:1.0\n")
    found = hashlib.sha256(bad.read_bytes()).hexdigest()
    expected = _published_sum(name)
    monkeypatch.setenv("TRANSFERKIT_DATA", str(tmp_path / "home"))
    result = _invoke(runner, "datasets", "--verify")
    assert result.exit_code == 0, result.output
    amazon = result.output.partition("amazon-reviews")[2].partition("\n\n")[0]
    assert "1 fail their SHA-256 check" in amazon
    corrupt = [line for line in amazon.splitlines() if line.strip().startswith("corrupt:")]
    assert len(corrupt) == 1
    assert f"{name}: SHA-256 {found} found, {expected} expected" in corrupt[0]
    assert "GRAAL-Research/domain_adversarial_neural_network" in corrupt[0]

    data = json.loads(_invoke(runner, "datasets", "--verify", "--json").output)
    errors = next(d for d in data if d["name"] == "amazon-reviews")["files"]["checksum_errors"]
    assert [(e["file"], e["found"], e["expected"]) for e in errors] == [(name, found, expected)]


def _accuracy_rows(markdown: str) -> dict[str, dict[str, tuple[float, float]]]:
    """The pair rows of a bench table: {pair: {method: (mean, std)}} (accuracies in %)."""
    lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    methods = [cell.strip() for cell in lines[0].strip("|").split("|")][1:]
    rows = {}
    for line in lines:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if "→" not in cells[0]:
            continue
        values = [tuple(float(v) for v in cell.split("±")) for cell in cells[1:]]
        rows[cells[0]] = dict(zip(methods, values, strict=True))
    return rows


def test_bench_prints_the_table_and_resumes(runner, suite_file, tmp_path):
    db = tmp_path / "r.sqlite"
    result = _invoke(runner, "bench", suite_file, "--db", db, "--quiet")
    assert result.exit_code == 0, result.output
    assert "| pair | source_only | target_oracle |" in result.output
    assert "| published | 70.0 | — |" in result.output
    rows = _accuracy_rows(result.output)
    assert set(rows) == {"moons30: source → rotated", "moons50: source → rotated"}
    for cells in rows.values():
        assert all(0 < mean <= 100 and 0 <= std < 50 for mean, std in cells.values())
        # the oracle sees the rotated target's labels: the ceiling beats the floor
        assert cells["target_oracle"][0] > cells["source_only"][0]
    # the mean row is the mean of the pair rows
    means = re.search(r"\| \*\*mean\*\* \| \*\*([\d.]+)\*\* \| \*\*([\d.]+)\*\* \|", result.output)
    for column, method in enumerate(("source_only", "target_oracle"), start=1):
        expected = sum(cells[method][0] for cells in rows.values()) / len(rows)
        assert float(means.group(column)) == pytest.approx(expected, abs=0.06)
    again = _invoke(runner, "bench", suite_file, "--db", db)
    assert again.exit_code == 0 and again.output == result.output
    fresh = _invoke(runner, "bench", suite_file, "--db", tmp_path / "fresh.sqlite")
    assert fresh.exit_code == 0 and "| moons50: source → rotated |" in fresh.stdout
    assert fresh.stderr == ""  # no progress bar when stderr is not a terminal

    data = json.loads(_invoke(runner, "bench", suite_file, "--db", db, "--json").output)
    assert data["suite"] == "cli-tiny" and data["complete"] and len(data["results"]) == 4

    out = tmp_path / "cells.csv"
    result = _invoke(
        runner, "bench", suite_file, "--db", db, "--methods", "source_only", "--pairs",
        "source:rotated", "--seeds", "1", "--csv", out,
    )  # fmt: skip
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert {(r["method"], r["seed"]) for r in rows} == {("source_only", "1")}
    assert len(rows) == 2  # one per dataset entry


DEEP_SUITE = """
[suite]
name = "cli-deep"
seeds = [0]
classifier = "logreg"

[[datasets]]
name = "moons"
options = { angle = 30, n_samples = 150, n_test = 150 }

[[methods]]
name = "source_only"

[[methods]]
name = "dann"

[[methods]]
name = "shallow_dann"
params = { learning_rate = "auto" }

[[methods]]
name = "sda"
params = { hidden_sizes = [8], epochs = 2 }
"""


def test_bench_trains_deep_methods_from_the_command_line(runner, tmp_path):
    pytest.importorskip("torch")
    suite = tmp_path / "cli-deep.toml"
    suite.write_text(DEEP_SUITE)
    db = tmp_path / "r.sqlite"
    result = _invoke(runner, "bench", suite, "--db", db, "--quiet", "--json")
    assert result.exit_code == 0, result.output
    cells = json.loads(result.output)["results"]
    assert {c["method"] for c in cells} == {"source_only", "dann", "shallow_dann", "sda"}
    # trained, not collapsed onto one class (which scores 50 % here)
    assert all(c["n_ok"] == 1 and c["mean"] > 60 for c in cells), cells
    # each deep cell checkpointed beside the database and cleaned up once it had its result
    assert list((tmp_path / "r.sqlite.checkpoints").iterdir()) == []


def test_bench_errors_are_one_clean_line_with_exit_status_2(runner, suite_file, tmp_path):
    db = tmp_path / "r.sqlite"
    result = _invoke(runner, "bench", "no-such-suite", "--db", db)
    assert result.exit_code == 2
    assert result.output.startswith("Error: Unknown suite 'no-such-suite'")
    assert "Traceback" not in result.output and result.output.count("\n") == 1

    broken = tmp_path / "broken.toml"
    broken.write_text(SUITE.replace("seeds = [0, 1]", "seeds = [0, 0]"))
    result = _invoke(runner, "bench", broken, "--db", db)
    assert result.exit_code == 2 and "[suite].seeds" in result.output

    result = _invoke(runner, "bench", suite_file, "--db", db, "--methods", "nope")
    assert result.exit_code == 2 and "nope" in result.output
    result = _invoke(runner, "bench", suite_file, "--db", db, "--seeds", "a,b")
    assert result.exit_code == 2 and "integers" in result.output
    result = _invoke(runner, "bench", suite_file, "--db", db, "--source", suite_file)
    assert result.exit_code == 2 and "--target" in result.output

    debug = runner.invoke(main, ["--debug", "bench", "no-such-suite", "--db", str(db)])
    assert isinstance(debug.exception, SuiteError)


def test_results_list_show_and_export(runner, suite_file, tmp_path):
    db = tmp_path / "r.sqlite"
    missing = _invoke(runner, "results", "list", "--db", tmp_path / "none.sqlite")
    assert missing.exit_code == 2 and "No results database" in missing.output
    table = _invoke(runner, "bench", suite_file, "--db", db, "-q").output

    listed = _invoke(runner, "results", "list", "--db", db)
    assert listed.exit_code == 0 and "| cli-tiny | 8 | 0 | 2 |" in listed.output
    assert json.loads(_invoke(runner, "results", "list", "--db", db, "--json").output)[0]["ok"] == 8

    shown = _invoke(runner, "results", "show", suite_file, "--db", db)
    assert shown.exit_code == 0 and shown.output == table
    by_name = _invoke(runner, "results", "show", "cli-tiny", "--db", db)
    assert "| moons30: source → rotated |" in by_name.output
    as_json = json.loads(
        _invoke(runner, "results", "show", suite_file, "--db", db, "--json").output
    )
    assert as_json["methods"] == ["source_only", "target_oracle"]
    unknown = _invoke(runner, "results", "show", "nothing", "--db", db)
    assert unknown.exit_code == 2 and "Stored suites: cli-tiny" in unknown.output

    out = tmp_path / "export.csv"
    result = _invoke(runner, "results", "export", suite_file, "--db", db, "--csv", out)
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 8 and {r["status"] for r in rows} == {"ok"}
    records = json.loads(
        _invoke(runner, "results", "export", "cli-tiny", "--db", db, "--format", "json").output
    )
    assert len(records) == 8 and 0 <= records[0]["accuracy"] <= 1
    stdout_csv = _invoke(runner, "results", "export", "cli-tiny", "--db", db).output
    assert stdout_csv.splitlines()[0].startswith("id,suite,dataset")


def test_bench_on_the_users_own_files(runner, tmp_path):
    import numpy as np

    from transferkit.datasets import load_pair

    problem = load_pair("moons", "source", "rotated", random_state=0, angle=40)
    np.savez(tmp_path / "src.npz", X=problem.X_source, y=problem.y_source)
    np.savez(tmp_path / "tgt.npz", X=problem.X_target, y=problem.y_target)
    np.savez(tmp_path / "test.npz", X=problem.X_test, y=problem.y_test)
    suite = tmp_path / "s.toml"
    suite.write_text(SUITE)
    db = tmp_path / "r.sqlite"
    result = _invoke(
        runner, "bench", suite, "--db", db, "--source", tmp_path / "src.npz", "--target",
        tmp_path / "tgt.npz", "--test", tmp_path / "test.npz", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["pairs"] == [{"dataset": "files", "source": "src", "target": "tgt"}]
    means = {r["method"]: r["mean"] for r in data["results"]}
    assert means["target_oracle"] > means["source_only"]


@pytest.mark.slow
def test_demo_finishes_and_prints_again_at_once(runner, tmp_path):
    db = tmp_path / "demo.sqlite"
    result = _invoke(runner, "demo", "--db", db, "--quiet")
    assert result.exit_code == 0, result.output
    rows = _accuracy_rows(result.output)
    assert "digits: synthetic → uci" in rows and "floor" in result.output
    for cells in rows.values():
        assert all(0 < mean <= 100 for mean, _ in cells.values())
        assert cells["target_oracle"][0] > cells["source_only"][0]
    # every registered shallow method must run on the demo; the message names the failing ones
    errors = result.output.partition("Errors (stored")[2].partition("\n\n")[0]
    assert not errors, f"methods failed on the demo:{errors}"
    again = _invoke(runner, "demo", "--db", db)
    assert again.output == result.output


def test_installed_script_runs(tmp_path, suite_file):
    script = shutil.which("transferkit", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the transferkit script is not installed next to this Python")
    version = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and __version__ in version.stdout
    failed = subprocess.run(
        [script, "results", "show", "x", "--db", str(tmp_path / "none.sqlite")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert failed.returncode == 2
    assert (
        failed.stderr.startswith("Error: No results database") and "Traceback" not in failed.stderr
    )
