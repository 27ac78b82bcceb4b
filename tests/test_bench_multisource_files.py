"""Several sources of the user's own on the command line: `bench --source A --source B --target T`
makes one multi-source problem, as the built-in `a+b:c` pairs do, keyed on every source's bytes;
`diagnose`, `select` and `plot` read several `--source` the same way.

The data are Office-Caltech10's SURF histograms of three domains as the sources and the fourth as
the target, each standardised within its domain (the harness's pre-processing), saved as a user
would save them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from transferkit.bench import ResultStore, load_suite
from transferkit.cli import main
from transferkit.datasets import get_data_home
from transferkit.exceptions import SuiteError

SURF = get_data_home() / "office_caltech10" / "surf"
needs_surf = pytest.mark.skipif(
    not SURF.is_dir(),
    reason=f"data home {get_data_home()} lacks office_caltech10/surf (set TRANSFERKIT_DATA)",
)


def invoke(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)


@pytest.fixture
def surf_files(tmp_path: Path) -> dict[str, Path]:
    from transferkit.datasets import load_office_caltech_surf
    from transferkit.datasets.office import harness_preprocess

    files = {}
    for domain in ("amazon", "caltech10", "dslr", "webcam"):
        X, y = load_office_caltech_surf(domain)
        files[domain] = tmp_path / f"{domain}.npz"
        np.savez(files[domain], X=harness_preprocess(X), y=y)
    return files


@needs_surf
def test_three_source_files_make_one_multi_source_problem(surf_files, tmp_path):
    db = tmp_path / "r.sqlite"
    args = [
        "bench", "office-caltech-multisource", "--source", surf_files["amazon"],
        "--source", surf_files["caltech10"], "--source", surf_files["dslr"],
        "--target", surf_files["webcam"], "--seeds", "1", "--db", db, "--quiet",
    ]  # fmt: skip
    result = invoke(*args, "--methods", "source_only,ms_moments", "--json")
    assert result.exit_code == 0, result.output
    table = json.loads(result.output)
    assert table["pairs"] == [
        {"dataset": "files", "source": "amazon+caltech10+dslr", "target": "webcam"}
    ]
    assert "3 labelled sources" in table["protocol"]
    means = table["means"]
    # the pooled sources against the sources each moved onto the target's moments
    assert means["ms_moments"] > means["source_only"] + 20, means
    # a source rewritten gives new cells: each source's bytes are part of the key
    shutil.copy(surf_files["caltech10"], surf_files["dslr"])
    result = invoke(*args, "--methods", "source_only", "--json")
    assert result.exit_code == 0, result.output
    with ResultStore(db, create=False) as store:
        assert store.count() == 3


@needs_surf
def test_one_source_keeps_its_single_source_key(surf_files):
    suite = load_suite("demo")
    one = suite.with_files(surf_files["amazon"], surf_files["webcam"]).datasets[0]
    also_one = suite.with_files([surf_files["amazon"]], surf_files["webcam"]).datasets[0]
    assert one == also_one and isinstance(one.options["source"], str)
    assert one.pairs == (("amazon", "webcam"),)
    two = suite.with_files([surf_files["amazon"], surf_files["dslr"]], surf_files["webcam"])
    options = two.datasets[0].options
    assert options["source"] == [str(surf_files["amazon"]), str(surf_files["dslr"])]
    assert len(options["source_sha256"]) == 2
    with pytest.raises(SuiteError, match="A source is given twice"):
        suite.with_files([surf_files["amazon"], surf_files["amazon"]], surf_files["webcam"])
    with pytest.raises(SuiteError, match="Several sources are combined in one feature space"):
        suite.with_files(
            [surf_files["amazon"], surf_files["dslr"]], surf_files["webcam"],
            text={"text_column": "text"},
        )  # fmt: skip


@needs_surf
def test_diagnose_select_and_plot_read_several_sources(surf_files, tmp_path):
    sources = [
        "--source", surf_files["amazon"], "--source", surf_files["caltech10"],
        "--source", surf_files["dslr"], "--target", surf_files["webcam"],
    ]  # fmt: skip
    diagnosed = invoke("diagnose", *sources, "--permutations", "50", "--json", "-")
    assert diagnosed.exit_code == 0, diagnosed.output
    report = json.loads(diagnosed.output)
    assert report["summary"]["source_domains"] == ["amazon", "caltech10", "dslr"]
    assert report["recommendations"][0]["family"] == "multi-source adaptation"

    ranking = tmp_path / "ranking.json"
    predictions = tmp_path / "webcam.csv"
    selected = invoke(
        "select", *sources, "--methods", "ms_moments", "--json", ranking,
        "--predictions", predictions,
    )  # fmt: skip
    assert selected.exit_code == 0, selected.output
    assert "Selection on amazon+caltech10+dslr → webcam" in selected.output
    ranked = {row["method"] for row in json.loads(ranking.read_text())["ranking"]}
    assert ranked == {"source_only", "ms_moments"}  # the floor is always a candidate
    rows = [line.split(",") for line in predictions.read_text().splitlines()[1:]]
    y_webcam = np.load(surf_files["webcam"])["y"]
    assert [row[0] for row in rows] == [str(i) for i in range(len(y_webcam))]
    assert np.mean([int(row[1]) for row in rows] == y_webcam) > 0.3  # chance: 0.1

    figure = tmp_path / "scores.png"
    drawn = invoke("plot", "domain-scores", *sources, "--method", "ms_moments", "-o", figure)
    assert drawn.exit_code == 0, drawn.output
    assert figure.stat().st_size > 1000

    def refused(*args: object) -> str:
        result = invoke("diagnose", *args)
        assert result.exit_code == 2 and result.output.startswith("Error: ")
        return result.output

    twice = ["--source", surf_files["amazon"]] * 2
    assert "given twice" in refused(*twice, "--target", surf_files["webcam"])
    assert "one feature space" in refused(*sources, "--text-column", "text")
    assert "Give files, or folders" in refused(*sources[:-1], tmp_path)
    narrow = tmp_path / "narrow.npz"
    np.savez(
        narrow, X=np.load(surf_files["dslr"])["X"][:, :100], y=np.load(surf_files["dslr"])["y"]
    )
    message = refused("--source", narrow, *sources[2:])
    assert f"{narrow} has 100 features and {surf_files['webcam']} 800" in message
    assert "Every source of a multi-source problem must be described by the target's" in message
