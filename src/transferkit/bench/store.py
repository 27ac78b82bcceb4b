"""The results database: one SQLite row per finished cell, written the moment the cell finishes.

Each row is committed in its own transaction (WAL journal), so a run that is killed keeps every cell
it finished; a UNIQUE key over the cell's identity means a resumed run can neither lose nor duplicate
a row. Only the process that runs the suite writes; workers send their results back to it.

The default database is ``$TRANSFERKIT_RESULTS``, else ``./transferkit-results.sqlite``.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from transferkit.exceptions import InvalidParameterError

#: Environment variable naming the default results database.
RESULTS_ENV = "TRANSFERKIT_RESULTS"
#: Default database file, in the working directory, when the variable is unset.
DEFAULT_DB_NAME = "transferkit-results.sqlite"
SCHEMA_VERSION = "1"

#: Columns forming a cell's identity (the UNIQUE key), in :attr:`Cell.key` order.
KEY_COLUMNS = (
    "suite",
    "dataset",
    "options",
    "source",
    "target",
    "method",
    "method_name",
    "params",
    "classifier",
    "seed",
)
#: Measurement columns, written by the runner; ``details`` holds the JSON of the other numbers a
#: benchmark task of another kind than transfer reports (a continual stream's accuracy matrix...).
VALUE_COLUMNS = (
    "dataset_label",
    "status",
    "accuracy",
    "fit_seconds",
    "predict_seconds",
    "peak_memory_mb",
    "max_rss_mb",
    "n_source",
    "n_target",
    "n_eval",
    "error",
    "warnings",
    "versions",
    "hostname",
    "finished_at",
    "details",
)
COLUMNS = KEY_COLUMNS + VALUE_COLUMNS

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS cells (
    id INTEGER PRIMARY KEY,
    suite TEXT NOT NULL,
    dataset TEXT NOT NULL,
    options TEXT NOT NULL,
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    method TEXT NOT NULL,
    method_name TEXT NOT NULL,
    params TEXT NOT NULL,
    classifier TEXT NOT NULL,
    seed INTEGER NOT NULL,
    dataset_label TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'error')),
    accuracy REAL,
    fit_seconds REAL,
    predict_seconds REAL,
    peak_memory_mb REAL,
    max_rss_mb REAL,
    n_source INTEGER,
    n_target INTEGER,
    n_eval INTEGER,
    error TEXT,
    warnings TEXT,
    versions TEXT NOT NULL,
    hostname TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    details TEXT,
    UNIQUE ({", ".join(KEY_COLUMNS)})
);
CREATE INDEX IF NOT EXISTS cells_by_suite ON cells (suite);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

# A new result fills a free slot or replaces an *errored* row (--retry-errors); it never
# overwrites a finished ok row, so two runs racing on one cell keep the first success.
_UPSERT = (
    f"INSERT INTO cells ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)}) "
    f"ON CONFLICT ({', '.join(KEY_COLUMNS)}) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in VALUE_COLUMNS)
    + " WHERE cells.status <> 'ok'"
)


def default_db_path() -> Path:
    """``$TRANSFERKIT_RESULTS`` if set, else ``./transferkit-results.sqlite``."""
    return Path(os.environ.get(RESULTS_ENV) or DEFAULT_DB_NAME).expanduser()


class ResultStore:
    """The SQLite results database.

    Parameters
    ----------
    path : str or Path or None, default None
        The database file (created with its folder if absent); None: :func:`default_db_path`.
    create : bool, default True
        False raises :class:`InvalidParameterError` when the file does not exist (for reading).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, create: bool = True):
        self.path = Path(path).expanduser() if path is not None else default_db_path()
        if not self.path.exists():
            if not create:
                raise InvalidParameterError(
                    f"No results database at {self.path}; run `transferkit bench SUITE` first, "
                    f"or point --db (or ${RESULTS_ENV}) at an existing one."
                )
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._connection = sqlite3.connect(self.path, timeout=30.0)
            self._connection.execute("PRAGMA journal_mode=WAL")
            with self._connection:
                self._connection.executescript(_SCHEMA)
                self._add_missing_columns()
                self._connection.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                    (SCHEMA_VERSION,),
                )
        except sqlite3.DatabaseError as error:
            raise InvalidParameterError(
                f"{self.path} is not a usable transferkit results database ({error}); give "
                "another path with --db or remove the file."
            ) from error
        self._connection.row_factory = sqlite3.Row

    def _add_missing_columns(self) -> None:
        """Databases written by an older transferkit gain the newer (nullable) columns."""
        present = {row[1] for row in self._connection.execute("PRAGMA table_info(cells)")}
        for column in ("warnings", "details"):
            if column not in present:
                self._connection.execute(f"ALTER TABLE cells ADD COLUMN {column} TEXT")

    # ----------------------------------------------------------------- context manager
    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ----------------------------------------------------------------- writing
    def record(self, row: Mapping[str, Any]) -> None:
        """Write one finished cell in its own committed transaction."""
        values = []
        for column in COLUMNS:
            value = row.get(column)
            if column == "versions" and not isinstance(value, str):
                value = json.dumps(value or {}, sort_keys=True)
            values.append(value)
        with self._connection:
            self._connection.execute(_UPSERT, values)

    # ----------------------------------------------------------------- reading
    def statuses(self, suite: str) -> dict[tuple[Any, ...], str]:
        """Cell key → status of every stored cell of ``suite``."""
        cursor = self._connection.execute(
            f"SELECT {', '.join(KEY_COLUMNS)}, status FROM cells WHERE suite = ?", (suite,)
        )
        return {tuple(row[c] for c in KEY_COLUMNS): row["status"] for row in cursor}

    def rows(self, suite: str | None = None) -> list[dict[str, Any]]:
        """Every stored cell (of ``suite`` when given) as a dict, in insertion order."""
        query = f"SELECT id, {', '.join(COLUMNS)} FROM cells"
        args: Iterable[Any] = ()
        if suite is not None:
            query += " WHERE suite = ?"
            args = (suite,)
        return [dict(row) for row in self._connection.execute(query + " ORDER BY id", tuple(args))]

    def suites(self) -> list[dict[str, Any]]:
        """One summary per stored suite: cell counts by status and the last finish time."""
        cursor = self._connection.execute(
            "SELECT suite, SUM(status = 'ok') AS ok, SUM(status = 'error') AS error, "
            "COUNT(DISTINCT method) AS methods, MAX(finished_at) AS last "
            "FROM cells GROUP BY suite ORDER BY suite"
        )
        return [dict(row) for row in cursor]

    def count(self) -> int:
        return int(self._connection.execute("SELECT COUNT(*) FROM cells").fetchone()[0])
