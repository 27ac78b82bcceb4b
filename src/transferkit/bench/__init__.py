"""Benchmarks anyone can rerun: TOML suites, a resumable SQLite runner, and tables.

* :func:`load_suite` reads a built-in suite (``demo``, ``digits``, ``amazon-reviews``,
  ``office-caltech-surf``) or a user's TOML file and validates it (format: ``docs/suites.md``);
* :func:`run_suite` runs every cell not yet stored, in parallel processes if asked, writing each
  result to SQLite the moment it finishes, so an interrupted run resumes where it stopped;
* :func:`results_table` and :func:`format_markdown` turn stored rows into the pairs × methods table
  (mean ± std over seeds, a mean row, the published numbers), JSON and CSV.

Examples
--------
>>> from transferkit.bench import format_markdown, run_suite     # doctest: +SKIP
>>> table = run_suite("demo", db="results.sqlite", jobs=2)        # doctest: +SKIP
>>> print(format_markdown(table))                                 # doctest: +SKIP
"""

from transferkit.bench.runner import execute_cell, results_table, run_suite
from transferkit.bench.store import ResultStore, default_db_path
from transferkit.bench.suite import (
    Cell,
    DatasetEntry,
    FileDigests,
    MethodEntry,
    Published,
    Suite,
    builtin_suites,
    load_suite,
    parse_suite,
)
from transferkit.bench.tables import ResultsTable, format_markdown

__all__ = [
    "Cell",
    "DatasetEntry",
    "FileDigests",
    "MethodEntry",
    "Published",
    "ResultStore",
    "ResultsTable",
    "Suite",
    "builtin_suites",
    "default_db_path",
    "execute_cell",
    "format_markdown",
    "load_suite",
    "parse_suite",
    "results_table",
    "run_suite",
]
