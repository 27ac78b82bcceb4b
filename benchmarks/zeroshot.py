"""Zero-shot learning: the three zero-shot suites, summarised per dataset and method.

Runs (or resumes) the built-in suites ``zeroshot-office-caltech``, ``zeroshot-fashion-mnist``
(skipped when the Fashion-MNIST files are absent) and ``zeroshot-bible`` through
``transferkit.bench.run_suite`` (their protocols are in the suite files), then prints one Markdown
table per suite from the stored cells: for each dataset label and method, the unseen-class
accuracy (mean over the class splits and seeds, and the worst split), and from ``details`` the
generalised scores with calibrated stacking (S, U, H), H without stacking, and AUSUC; and for
the Office-Caltech10 class descriptions, one row per class split with each method's unseen
accuracy and generalised H (and the same for the bare class names). Accuracies in %.

Run (about 15 minutes on 2 shared cores, one thread per cell, the CNN features and USE
embeddings cached):

    TRANSFERKIT_DATA=../shared/datasets TRANSFERKIT_RESULTS=/tmp/zeroshot.sqlite \\
        PYTHONPATH=src python benchmarks/zeroshot.py
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from collections import defaultdict

import numpy as np

from transferkit.bench import run_suite
from transferkit.bench.store import default_db_path
from transferkit.exceptions import DatasetNotFoundError

SUITES = ("zeroshot-office-caltech", "zeroshot-fashion-mnist", "zeroshot-bible")


def _fashion_available() -> bool:
    from transferkit.datasets import load_fashion_mnist

    try:
        load_fashion_mnist("test")
    except DatasetNotFoundError:
        return False
    return True


def _percent(values: list[float]) -> str:
    values = [v for v in values if v is not None]
    return "—" if not values else f"{100 * np.mean(values):.1f}"


def summarise(db: str, suite: str) -> str:
    connection = sqlite3.connect(db)
    connection.row_factory = sqlite3.Row
    rows = connection.execute(
        "SELECT * FROM cells WHERE suite = ? AND status = 'ok'", (suite,)
    ).fetchall()
    groups: dict[tuple[str, str], list[sqlite3.Row]] = defaultdict(list)
    for row in rows:
        groups[(row["dataset_label"], row["method"])].append(row)
    lines = [
        f"**{suite}** (accuracy in %; mean over the pairs and seeds)",
        "",
        "| dataset | method | unseen acc. | worst pair | majority | S | U | H | H (no stacking) "
        "| AUSUC |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for (label, method), cells in sorted(groups.items()):
        details = [json.loads(cell["details"] or "{}") for cell in cells]
        by_pair: dict[str, list[float]] = defaultdict(list)
        for cell in cells:
            by_pair[f"{cell['source']}:{cell['target']}"].append(cell["accuracy"])
        worst = min(np.mean(v) for v in by_pair.values())
        lines.append(
            f"| {label} | {method} | {_percent([c['accuracy'] for c in cells])} | "
            f"{100 * worst:.1f} | {_percent([d.get('majority') for d in details])} | "
            + " | ".join(
                _percent([d.get(key) for d in details])
                for key in ("seen", "unseen", "harmonic", "harmonic_uncalibrated", "ausuc")
            )
            + " |"
        )
    return "\n".join(lines)


def per_split(db: str, suite: str, label: str) -> str:
    """One row per pair of the dataset ``label``: each method's unseen accuracy / H (in %)."""
    connection = sqlite3.connect(db)
    connection.row_factory = sqlite3.Row
    rows = connection.execute(
        "SELECT * FROM cells WHERE suite = ? AND dataset_label = ? AND status = 'ok'",
        (suite, label),
    ).fetchall()
    if not rows:
        return ""
    methods = sorted({row["method"] for row in rows})
    cells: dict[tuple[str, str], list[tuple[float, float | None]]] = defaultdict(list)
    for row in rows:
        harmonic = json.loads(row["details"] or "{}").get("harmonic")
        cells[(row["target"], row["method"])].append((row["accuracy"], harmonic))
    pairs = sorted({row["target"] for row in rows}, key=lambda t: int(t.rsplit("-", 1)[-1]))
    lines = [
        f"**{suite}, {label}: unseen accuracy / generalised H per class split** (%)",
        "",
        "| split | " + " | ".join(methods) + " |",
        "| --- |" + " ---: |" * len(methods),
    ]

    def pair_text(values: list[tuple[float, float | None]]) -> str:
        accuracy = _percent([v[0] for v in values])
        harmonic = _percent([v[1] for v in values])
        return accuracy if harmonic == "—" else f"{accuracy} / {harmonic}"

    for pair in pairs:
        lines.append(
            f"| {pair} | " + " | ".join(pair_text(cells[(pair, m)]) for m in methods) + " |"
        )
    means = [pair_text([v for p in pairs for v in cells[(p, m)]]) for m in methods]
    lines.append("| **mean** | " + " | ".join(means) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=None, help="results database (default: transferkit's)")
    parser.add_argument("--suites", default=",".join(SUITES))
    args = parser.parse_args()
    try:
        import torch
    except ImportError:  # the zero-shot methods are numpy; torch only extracts Office features
        pass
    else:
        torch.set_num_threads(1)
    db = str(args.db or default_db_path())
    for suite in args.suites.split(","):
        if suite == "zeroshot-fashion-mnist" and not _fashion_available():
            print(f"{suite}: skipped, the Fashion-MNIST files are absent\n")
            continue
        run_suite(suite, db=db, threads=1)
        print(summarise(db, suite) + "\n")
        if suite == "zeroshot-office-caltech":
            for label in ("office", "office-names"):
                print(per_split(db, suite, label) + "\n")


if __name__ == "__main__":
    main()
