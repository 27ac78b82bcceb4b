"""Issue 17, point 6: the benchmark package and the reading of stored results import no torch
(a 4-second import on a busy machine), so that `transferkit results` answers quickly."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CHECK = """
import sys
import transferkit.bench
import transferkit.bench.runner, transferkit.bench.store, transferkit.bench.suite
import transferkit.bench.tables
from transferkit.bench import ResultStore, ResultsTable, format_markdown, results_table

assert "torch" not in sys.modules, "importing transferkit.bench imported torch"
row = dict(
    suite="s", dataset="moons", options="{}", source="source", target="rotated",
    method="source_only", method_name="source_only", params="{}", classifier='"logreg"',
    seed=0, dataset_label="moons", status="ok", accuracy=0.5, fit_seconds=0.1,
    predict_seconds=0.1, peak_memory_mb=1.0, max_rss_mb=1.0, n_source=1, n_target=1,
    n_eval=1, error=None, warnings=None, versions="{}", hostname="h",
    finished_at="2026-01-01T00:00:00",
)
with ResultStore(sys.argv[1]) as store:
    store.record(row)
    text = format_markdown(ResultsTable.from_rows(store.rows("s"), None))
assert "50.0" in text
# a stored suite name with no definition: its rows, read without the method registry
assert format_markdown(results_table(sys.argv[1], "s")) == text
assert "torch" not in sys.modules, "reading stored results imported torch"
"""


def test_bench_and_reading_results_import_no_torch(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CHECK), str(tmp_path / "r.sqlite")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
