"""Tables of stored results: pairs × methods, mean ± std over seeds, beside the published numbers.

:class:`ResultsTable` holds the database rows of one suite and renders them as a markdown table
(accuracy in %, one decimal, a "mean" row over pairs and a "published" row where the suite quotes
numbers), a timing table, JSON and CSV.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from transferkit.bench.store import COLUMNS, KEY_COLUMNS
from transferkit.bench.suite import FILES_DATASET, Published, Suite, as_list, canonical_json
from transferkit.exceptions import InvalidParameterError

#: What a table cell shows when no seed of it has been stored yet.
MISSING = "—"
#: Characters of an error's first line the table shows: enough for the fix most messages end with.
ERROR_CHARS = 600

Pair = tuple[str, str, str]  # (dataset label, source, target)


@dataclass
class CellStats:
    """The stored seeds of one (pair, method): accuracies in % and errors."""

    accuracies: dict[int, float] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)

    @property
    def n_ok(self) -> int:
        return len(self.accuracies)

    @property
    def mean(self) -> float | None:
        values = list(self.accuracies.values())
        return sum(values) / len(values) if values else None

    @property
    def std(self) -> float | None:
        """Sample standard deviation over seeds (0 for a single seed)."""
        values = list(self.accuracies.values())
        if not values:
            return None
        if len(values) == 1:
            return 0.0
        mean = sum(values) / len(values)
        return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


class ResultsTable:
    """Stored results of one suite, ready to render.

    Build it with :meth:`from_rows`, :func:`~transferkit.bench.run_suite` or
    :func:`~transferkit.bench.results_table`.
    """

    def __init__(
        self,
        name: str,
        rows: list[dict[str, Any]],
        pairs: list[Pair],
        methods: list[str],
        seeds: list[int],
        suite: Suite | None = None,
        metric: str | None = None,
    ):
        self.name = name
        self.rows = rows
        self.pairs = pairs
        self.methods = methods
        self.seeds = seeds
        self.suite = suite
        self.metric = metric
        self.stats: dict[tuple[Pair, str], CellStats] = {}
        for row in rows:
            key = ((row["dataset_label"], row["source"], row["target"]), row["method"])
            stats = self.stats.setdefault(key, CellStats())
            if row["status"] != "ok":
                stats.errors[row["seed"]] = row["error"] or "error"
            elif metric is None:
                stats.accuracies[row["seed"]] = 100.0 * row["accuracy"]
            else:
                value = detail_value(row, metric)
                if value is not None:
                    stats.accuracies[row["seed"]] = value

    def with_metric(self, metric: str | None) -> ResultsTable:
        """The same rows showing another number than the primary score: ``details[metric]``,
        which benchmark tasks of other kinds than transfer store (a continual stream's ``bwt``,
        a few-shot run's ``ci95``...). Scores are stored as fractions and shown in %; keys
        ending in ``_seconds`` or starting with ``n_`` are shown as stored. None: the primary
        score. Raises :class:`InvalidParameterError` naming the stored keys when no row has
        ``metric``.

        Examples
        --------
        >>> row = {"dataset_label": "d", "source": "s", "target": "t", "method": "m",
        ...        "seed": 0, "status": "ok", "accuracy": 0.9, "details": '{"bwt": -0.25}'}
        >>> table = ResultsTable("suite", [row], [("d", "s", "t")], ["m"], [0])
        >>> table.with_metric("bwt").cell(("d", "s", "t"), "m").mean
        -25.0
        """
        if metric is None:
            return ResultsTable(
                self.name, self.rows, self.pairs, self.methods, self.seeds, self.suite
            )
        stored = sorted(
            {key for row in self.rows for key, value in _details(row).items() if _is_number(value)}
        )
        if metric not in stored:
            raise InvalidParameterError(
                f"No stored cell of suite '{self.name}' reports {metric!r}. Numbers its cells "
                f"report: {', '.join(stored) or 'none (only the primary score)'}."
            )
        return ResultsTable(
            self.name, self.rows, self.pairs, self.methods, self.seeds, self.suite, metric
        )

    # ----------------------------------------------------------------- building
    @classmethod
    def from_rows(
        cls,
        rows: Iterable[Mapping[str, Any]],
        suite: Suite | None,
        cells: set[tuple[Any, ...]] | None = None,
    ) -> ResultsTable:
        """Keep the rows that belong to ``suite`` (exactly ``cells`` when given) and order them
        as the suite does. Without a suite, every row is kept, grouped by labels."""
        rows = [dict(r) for r in rows]
        if suite is not None:
            if cells is not None:
                rows = [r for r in rows if tuple(r[c] for c in KEY_COLUMNS) in cells]
            else:
                rows = [r for r in rows if _matches(r, suite)]
        _tell_apart_file_pairs(rows)
        pairs: list[Pair] = list(suite.pairs) if suite is not None and cells is not None else []
        methods: list[str] = [m.label for m in suite.methods] if suite is not None else []
        if suite is not None and cells is None:
            stored = {(r["dataset_label"], r["source"], r["target"]) for r in rows}
            pairs = [p for p in suite.pairs if p in stored]
            stored_methods = {r["method"] for r in rows}
            methods = [m for m in methods if m in stored_methods]
        for row in rows:
            pair = (row["dataset_label"], row["source"], row["target"])
            if pair not in pairs:
                pairs.append(pair)
            if row["method"] not in methods:
                methods.append(row["method"])
        seeds = sorted({r["seed"] for r in rows} | set(suite.seeds if cells is not None else ()))
        name = suite.name if suite is not None else (rows[0]["suite"] if rows else "")
        return cls(name, rows, pairs, methods, seeds, suite)

    # ----------------------------------------------------------------- numbers
    @property
    def n_seeds(self) -> int:
        return len(self.seeds)

    def cell(self, pair: Pair, method: str) -> CellStats:
        return self.stats.get((pair, method), CellStats())

    def method_mean(self, method: str) -> tuple[float | None, int]:
        """Mean over pairs of the per-pair means, and how many pairs had a value."""
        means = [self.cell(p, method).mean for p in self.pairs]
        means = [m for m in means if m is not None]
        return (sum(means) / len(means) if means else None), len(means)

    @property
    def published(self) -> Mapping[str, Published]:
        """The suite's published numbers (none when the table shows another metric)."""
        if self.suite is None or self.metric is not None:
            return {}
        return self.suite.published

    def is_complete(self) -> bool:
        """Whether every (pair, method, seed) has a stored row (ok or error)."""
        return all(
            len(self.cell(p, m).accuracies) + len(self.cell(p, m).errors) >= self.n_seeds
            for p in self.pairs
            for m in self.methods
        )

    # ----------------------------------------------------------------- markdown
    def _pair_name(self, pair: Pair) -> str:
        several = len({p[0] for p in self.pairs}) > 1 or pair[0] == FILES_DATASET
        name = f"{pair[1]} → {pair[2]}"
        return f"{pair[0]}: {name}" if several else name

    def _format(self, stats: CellStats) -> str:
        if stats.n_ok == 0:
            return "error" if stats.errors else MISSING
        text = f"{stats.mean:.1f}"
        if self.n_seeds > 1:
            text += f" ± {stats.std:.1f}"
        if stats.n_ok < self.n_seeds:
            text += f" ({stats.n_ok}/{self.n_seeds})"
        return text

    def _columns(self) -> list[tuple[str, str]]:
        """("ours", label) per method, each followed by ("published", label) when the suite
        quotes per-pair numbers for it; per-pair published labels not run come last."""
        columns = []
        for method in self.methods:
            columns.append(("ours", method))
            if method in self.published and self.published[method].pairs:
                columns.append(("published", method))
        for label, published in self.published.items():
            if label not in self.methods and published.pairs:
                columns.append(("published", label))
        return columns

    def to_markdown(self) -> str:
        """Pairs × methods, accuracy % mean ± std over seeds, a mean row and a published row."""
        columns = self._columns()
        header = ["pair"] + [
            label if kind == "ours" else f"{label} (published)" for kind, label in columns
        ]
        lines = [_row(header), _row(["---"] + ["---:"] * len(columns))]
        for pair in self.pairs:
            cells = [self._pair_name(pair)]
            for kind, label in columns:
                if kind == "ours":
                    cells.append(self._format(self.cell(pair, label)))
                else:
                    value = self.published[label].pairs.get((pair[1], pair[2]))
                    cells.append(MISSING if value is None else f"{value:.1f}")
            lines.append(_row(cells))
        if len(self.pairs) > 1:
            cells = ["**mean**"]
            for kind, label in columns:
                if kind == "published":
                    cells.append(self._published_mean_of_shown_pairs(self.published[label]))
                    continue
                mean, count = self.method_mean(label)
                text = MISSING if mean is None else f"**{mean:.1f}**"
                if mean is not None and count < len(self.pairs):
                    text += f" ({count}/{len(self.pairs)} pairs)"
                cells.append(text)
            lines.append(_row(cells))
        published_means = [
            label
            for kind, label in columns
            if kind == "ours" and label in self.published and not self.published[label].pairs
        ]
        if published_means:
            cells = ["published"]
            for kind, label in columns:
                if kind == "ours" and label in published_means:
                    cells.append(_published_mean(self.published[label]))
                else:
                    cells.append(MISSING if kind == "ours" else "")
            lines.append(_row(cells))
        others = [
            f"{label} {_published_mean(p)}"
            for label, p in self.published.items()
            if label not in self.methods and not p.pairs and p.mean is not None
        ]
        if others:
            lines.append("")
            lines.append(f"Published, not run here: {', '.join(others)}.")
        return "\n".join(lines)

    def _published_mean_of_shown_pairs(self, published: Published) -> str:
        """The quoted mean when the table shows every pair it covers; the mean of the shown
        pairs' published numbers, so marked, when it shows only some (a partial run)."""
        shown = {(pair[1], pair[2]) for pair in self.pairs}
        if not published.pairs or shown >= set(published.pairs):
            return _published_mean(published)
        values = [published.pairs.get(pair) for pair in shown]
        if any(value is None for value in values):
            return _published_mean(published)
        which = "this pair" if len(values) == 1 else f"these {len(values)} pairs"
        return f"{sum(values) / len(values):.1f} ({which})"

    def timing_rows(self) -> list[dict[str, Any]]:
        """Per method: mean fit and predict seconds, peak memory, cell counts."""
        out = []
        for method in self.methods:
            rows = [r for r in self.rows if r["method"] == method]
            ok = [r for r in rows if r["status"] == "ok"]
            out.append(
                {
                    "method": method,
                    "fit_seconds": _mean(r["fit_seconds"] for r in ok),
                    "predict_seconds": _mean(r["predict_seconds"] for r in ok),
                    "peak_memory_mb": _max(r["peak_memory_mb"] for r in rows),
                    "max_rss_mb": _max(r["max_rss_mb"] for r in rows),
                    "n_ok": len(ok),
                    "n_error": len(rows) - len(ok),
                    "n_warned": sum(1 for r in rows if r.get("warnings")),
                }
            )
        return out

    def timing_markdown(self) -> str:
        """Mean fit / predict seconds, peak traced memory and process max RSS per method."""
        lines = [
            _row(
                [
                    "method",
                    "fit s",
                    "predict s",
                    "peak MB",
                    "max RSS MB",
                    "cells",
                    "errors",
                    "warned",
                ]
            ),
            _row(["---"] + ["---:"] * 7),
        ]
        for t in self.timing_rows():
            lines.append(
                _row(
                    [
                        t["method"],
                        _number(t["fit_seconds"], 3),
                        _number(t["predict_seconds"], 3),
                        _number(t["peak_memory_mb"], 1),
                        _number(t["max_rss_mb"], 0),
                        str(t["n_ok"]),
                        str(t["n_error"]),
                        str(t["n_warned"]),
                    ]
                )
            )
        return "\n".join(lines)

    def error_lines(self, limit: int = 5) -> list[str]:
        """The first few distinct error messages, one line each."""
        seen: dict[tuple[str, str], list[str]] = {}
        for row in self.rows:
            if row["status"] == "error":
                where = f"{row['source']}→{row['target']} seed {row['seed']}"
                seen.setdefault((row["method"], row["error"] or ""), []).append(where)
        lines = []
        for (method, message), where in list(seen.items())[:limit]:
            more = f" (+{len(where) - 1} more)" if len(where) > 1 else ""
            lines.append(f"{method} on {where[0]}{more}: {message.splitlines()[0][:ERROR_CHARS]}")
        if len(seen) > limit:
            lines.append(f"... and {len(seen) - limit} more distinct errors.")
        return lines

    def warning_lines(self, limit: int = 3) -> list[str]:
        """The most frequent distinct warnings (e.g. a solver that did not converge), per method."""
        counts: dict[tuple[str, str], int] = {}
        for row in self.rows:
            for line in (row.get("warnings") or "").splitlines():
                text = line.rsplit(" (x", 1)[0]
                counts[(row["method"], text)] = counts.get((row["method"], text), 0) + 1
        ranked = sorted(counts.items(), key=lambda item: -item[1])
        lines = [f"{method} ({n} cells): {text}" for (method, text), n in ranked[:limit]]
        if len(ranked) > limit:
            lines.append(
                f"... and {len(ranked) - limit} more; see the warnings column of the rows."
            )
        return lines

    # ----------------------------------------------------------------- machine-readable
    def to_dict(self) -> dict[str, Any]:
        """Everything in the table as plain JSON-ready data (accuracies in %)."""
        suite = self.suite
        results = []
        for pair in self.pairs:
            for method in self.methods:
                stats = self.cell(pair, method)
                results.append(
                    {
                        "dataset": pair[0],
                        "source": pair[1],
                        "target": pair[2],
                        "method": method,
                        "mean": stats.mean,
                        "std": stats.std,
                        "n_ok": stats.n_ok,
                        "n_error": len(stats.errors),
                        "accuracies": {str(s): a for s, a in sorted(stats.accuracies.items())},
                        "errors": {str(s): e for s, e in sorted(stats.errors.items())},
                    }
                )
        return {
            "suite": self.name,
            "description": suite.description if suite else None,
            "protocol": suite.protocol if suite else None,
            "classifier": suite.classifier if suite else None,
            "seeds": self.seeds,
            "methods": self.methods,
            "pairs": [{"dataset": d, "source": s, "target": t} for d, s, t in self.pairs],
            "results": results,
            "means": {m: self.method_mean(m)[0] for m in self.methods},
            "published": {
                label: {
                    "mean": p.mean,
                    "pairs": {f"{s}:{t}": v for (s, t), v in p.pairs.items()},
                }
                for label, p in self.published.items()
            },
            "timing": self.timing_rows(),
            "complete": self.is_complete(),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def records(self) -> list[dict[str, Any]]:
        """The raw database rows (one per cell; ``accuracy`` is a fraction in [0, 1])."""
        return [{c: row.get(c) for c in ("id",) + COLUMNS} for row in self.rows]

    def to_csv(self, path: str | os.PathLike[str] | IO[str] | None = None) -> str:
        """The raw rows as CSV; written to ``path`` when given, and returned as text."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=("id",) + COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.records())
        text = buffer.getvalue()
        if path is not None:
            if hasattr(path, "write"):
                path.write(text)  # type: ignore[union-attr]
            else:
                Path(path).write_text(text, "utf-8")
        return text


def _tell_apart_file_pairs(rows: list[dict[str, Any]]) -> None:
    """Rename, in place, users' file pairs that share their names but not their files.

    A pair of users' files is named by the files' stems, so two pairs from different folders, or
    one file before and after it was rewritten, would fall into one row (one pair's accuracies,
    the other's timings). When names collide, each file's name gains the first 8 hex digits of its
    SHA-256 (rows stored before the hashes were: its path), e.g. ``src (1a2b3c4d)``. Unique names
    are left as they are.
    """
    files_by_name: dict[tuple[str, str, str], set[str]] = {}
    for row in rows:
        if row["dataset"] == FILES_DATASET:
            name = (row["dataset_label"], row["source"], row["target"])
            files_by_name.setdefault(name, set()).add(_file_identity(row["options"]))
    for row in rows:
        name = (row["dataset_label"], row["source"], row["target"])
        if row["dataset"] != FILES_DATASET or len(files_by_name[name]) < 2:
            continue
        options = _options(row["options"])
        for role in ("source", "target"):
            digest = options.get(f"{role}_sha256")
            short = "+".join(d[:8] for d in as_list(digest)) if digest else options.get(role, "?")
            row[role] = f"{row[role]} ({short})"


def _options(text: str) -> dict[str, Any]:
    try:
        options = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return options if isinstance(options, dict) else {}


def _file_identity(text: str) -> str:
    """What tells two stored pairs of files apart: their hashes, else (older rows) their paths."""
    options = _options(text)
    parts = []
    for role in ("source", "target"):
        parts.append(str(options.get(f"{role}_sha256") or options.get(role)))
    return "|".join(parts)


def _matches(row: Mapping[str, Any], suite: Suite) -> bool:
    """Whether a stored row belongs to the suite's current definition: one of its methods as it
    defines it, or a registered method it does not hold, run by name with its defaults and the
    suite's classifier (``--methods NAME``, :meth:`Suite.select`)."""
    if row["dataset"] == FILES_DATASET:
        dataset_ok = True
    else:
        dataset_ok = any(
            d.name == row["dataset"] and d.options_key == row["options"] for d in suite.datasets
        )
    if not dataset_ok:
        return False
    if row["method"] not in {m.label for m in suite.methods}:
        return (
            row["method"] == row["method_name"]
            and row["params"] == canonical_json({})
            and row["classifier"] == canonical_json(suite.classifier)
        )
    return any(
        m.label == row["method"]
        and m.name == row["method_name"]
        and canonical_json(m.params_for(row["source"], row["target"])) == row["params"]
        and m.classifier_key == row["classifier"]
        for m in suite.methods
    )


def detail_value(row: Mapping[str, Any], metric: str) -> float | None:
    """The number ``details[metric]`` of a stored row, in the unit its table shows (see
    :meth:`ResultsTable.with_metric`); None when the row does not report it."""
    value = _details(row).get(metric)
    if not _is_number(value):
        return None
    if _shown_as_stored(metric):
        return float(value)
    return 100.0 * float(value)


def _shown_as_stored(metric: str) -> bool:
    return metric.endswith("_seconds") or metric.startswith("n_")


def _details(row: Mapping[str, Any]) -> dict[str, Any]:
    text = row.get("details")
    if not text:
        return {}
    details = json.loads(text)
    return details if isinstance(details, dict) else {}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _metric_text(suite: Any, metric: str | None = None) -> str:
    """What the numbers are: accuracy, or HOS where a dataset's target holds unknown classes
    (the runner scores those with :func:`transferkit.evaluation.problem_score`), or the detail
    a table shows instead (:meth:`ResultsTable.with_metric`)."""
    if metric is not None:
        return f"{metric}{'' if _shown_as_stored(metric) else ' (%)'}"
    if suite is None:
        return "target accuracy (%)"
    open_set = ["unknown_classes" in entry.options for entry in suite.datasets]
    if open_set and all(open_set):
        return "HOS (%; open set: harmonic mean of known-class and unknown accuracy)"
    if any(open_set):
        return "target accuracy (%; HOS for the open-set datasets)"
    return "target accuracy (%)"


def _protocol_text(table: ResultsTable, suite: Suite) -> str:
    """The suite's protocol, or what stands in for it where the table shows runs on a user's
    files from a definition that describes the suite's own data (``results show``)."""
    on_files = [pair for pair in table.pairs if pair[0] == FILES_DATASET]
    if not on_files or all(d.name == FILES_DATASET for d in suite.datasets):
        return suite.protocol
    where = f"`transferkit results export {suite.name}` lists their paths"
    if len(on_files) == len(table.pairs):
        return f"your own files, run with the suite's methods and seeds ({where})."
    return f"{suite.protocol} The pairs 'files: ...' are your own files ({where})."


def format_markdown(table: ResultsTable, timing: bool = True, header: bool = True) -> str:
    """The accuracy table (with a header line on suite, seeds, classifier and protocol), and the
    timing table and any errors below it."""
    parts = []
    if header:
        suite = table.suite
        seeds = ", ".join(str(s) for s in table.seeds)
        metric = _metric_text(suite, table.metric)
        line = f"**{table.name}**: {metric}, mean ± std over seeds [{seeds}]"
        if suite is not None:
            line += f"; classifier {_classifier_text(suite.classifier)}"
        parts.append(line + ".")
        if suite is not None and suite.protocol:
            parts.append(f"Protocol: {_protocol_text(table, suite)}")
    parts.append(table.to_markdown())
    if timing:
        parts.append(table.timing_markdown())
    errors = table.error_lines()
    if errors:
        parts.append(
            "Errors (stored; `--retry-errors` runs those cells again):\n"
            + "\n".join(f"- {e}" for e in errors)
        )
    if timing:
        warned = table.warning_lines()
        if warned:
            parts.append("Warnings:\n" + "\n".join(f"- {w}" for w in warned))
    return "\n\n".join(parts)


def _classifier_text(spec: Any) -> str:
    if isinstance(spec, Mapping):
        params = ", ".join(f"{k}={v}" for k, v in spec.items() if k != "name")
        return f"{spec.get('name')}({params})"
    return str(spec)


def _published_mean(published: Published) -> str:
    return MISSING if published.mean is None else f"{published.mean:.1f}"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _mean(values: Iterable[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _max(values: Iterable[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return max(values) if values else None


def _number(value: float | None, digits: int) -> str:
    return MISSING if value is None else f"{value:.{digits}f}"
