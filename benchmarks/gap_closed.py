"""Per-dataset means of a suite's stored cells, and the share of a floor-to-ceiling gap closed.

Reads one suite's cells from the results database (``transferkit bench`` fills it) and prints a
markdown table: per pair the mean accuracy of every method over seeds, then per dataset (each
``[[datasets]]`` label of the suite) the mean row, and, with ``--gap``, for each named method the
share of the gap closed,
``(method - floor) / (ceiling - floor)``; a dataset's gap is that of its means. The share is left
blank where the ceiling is less than ``--min-gap`` points above the floor (the ratio is then
noise).

Usage::

    transferkit bench source-free --threads 1
    python benchmarks/gap_closed.py source-free --floor source_model --ceiling deep_oracle \\
        --gap tent --gap shot
    python benchmarks/gap_closed.py office-caltech-hetero   # per-direction means only
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np

from transferkit.bench import ResultStore, default_db_path, load_suite


def gap_table(
    suite_name: str, floor: str, ceiling: str, gaps: list[str], db: str, min_gap: float
) -> str:
    suite = load_suite(suite_name)
    rows = ResultStore(db).rows(suite.name)
    accuracy: dict[tuple[str, str, str], dict[str, list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    methods: list[str] = []
    for row in rows:
        if row["status"] != "ok":
            continue
        key = (row["dataset_label"], row["source"], row["target"])
        accuracy[key][row["method"]].append(100 * row["accuracy"])
        if row["method"] not in methods:
            methods.append(row["method"])

    def share(values: dict[str, float], method: str) -> str:
        gap = values[ceiling] - values[floor]
        if gap < min_gap:
            return ""
        return f"{100 * (values[method] - values[floor]) / gap:.0f} %"

    header = [*methods, *(f"gap closed, {m}" for m in gaps)]
    lines = [
        "| pair | " + " | ".join(header) + " |",
        "| --- | " + " | ".join("---:" for _ in header) + " |",
    ]
    by_dataset: dict[str, list[dict[str, float]]] = defaultdict(list)
    for (dataset, source, target), cells in accuracy.items():
        if not all(m in cells for m in methods):
            continue
        means = {m: float(np.mean(cells[m])) for m in methods}
        by_dataset[dataset].append(means)
        values = [f"{means[m]:.1f}" for m in methods] + [share(means, m) for m in gaps]
        lines.append(f"| {dataset}: {source} → {target} | " + " | ".join(values) + " |")
        if len(by_dataset[dataset]) == sum(1 for k in accuracy if k[0] == dataset):
            mean = {m: float(np.mean([p[m] for p in by_dataset[dataset]])) for m in methods}
            values = [f"**{mean[m]:.1f}**" for m in methods]
            values += [f"**{share(mean, m)}**" if share(mean, m) else "" for m in gaps]
            lines.append(f"| **{dataset}, mean** | " + " | ".join(values) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", help="A built-in suite name or a suite TOML file.")
    parser.add_argument("--floor", help="The unadapted method (e.g. source_model).")
    parser.add_argument("--ceiling", help="The reference above (e.g. deep_oracle).")
    parser.add_argument("--gap", action="append", default=[], help="Method whose share to show.")
    parser.add_argument("--db", default=None, help="Results database (default: transferkit's).")
    parser.add_argument("--min-gap", type=float, default=2.0, help="Points; smaller gaps: blank.")
    args = parser.parse_args()
    if args.gap and not (args.floor and args.ceiling):
        parser.error("--gap needs --floor and --ceiling")
    db = args.db or str(default_db_path())
    print(gap_table(args.suite, args.floor, args.ceiling, args.gap, db, args.min_gap))


if __name__ == "__main__":
    main()
