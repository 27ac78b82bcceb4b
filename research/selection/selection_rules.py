"""Combined selection rules, scored from saved ``benchmarks/selection.py`` runs (no refitting).

No single validator is best on every suite (MixVal on Office SURF, the source-side ones on
Amazon, EnsV or guarded MixVal on digits). This script asks whether a combination of the
validators' scores does better. Each rule is a function of the per-candidate scores the runs
already hold, so a family of rules costs nothing to evaluate:

* ``<validator>``: the validator alone;
* ``guard(<validator>,<tol>)``: the validator among the candidates whose held-out source accuracy
  is within ``tol`` of the best candidate's (``guard(mixval,0.05)`` is ``guarded_mixval``);
* ``borda(<v1>+<v2>+...)``: the mean of the validators' ranks (ties share their mean rank; a
  candidate without a score from every member is not picked);
* ``gborda(<v1>+<v2>,<tol>)``: the same among the guarded candidates.

For each rule: the mean over pairs of (its pick's target accuracy - the oracle pick's), per suite
and as the mean of the suites, as in ``selection.py``'s first table.

Usage:
    python research/selection/selection_rules.py design-*.json      # the family, best first
    python research/selection/selection_rules.py --rules 'ensv,guard(ensv,0.05)' heldout-*.json
    python research/selection/selection_rules.py --best-per-suite --top 3 runs-*.json  # a bound
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from transferkit.selection import SourceGuardedValidator

# the benchmark harness that writes the runs (benchmarks/selection.py): its skipped
# configurations and its pick
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from selection import SKIP_CONFIGS, pick_accuracy  # noqa: E402

Rule = Callable[[dict], np.ndarray]
VALIDATORS = ("mixval", "ensv", "reverse", "dev", "entropy", "im", "snd", "iwcv")
BORDA_POOL = ("mixval", "ensv", "source_accuracy", "reverse", "dev", "iwcv", "im")
TOLERANCES = (0.01, 0.02, 0.03, 0.05, 0.10)


def _scores(run: dict, validator: str) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in run["scores"][validator]], dtype=float)


def _guarded(run: dict, scores: np.ndarray, tolerance: float) -> np.ndarray:
    """``scores`` kept only for candidates within ``tolerance`` of the best held-out source
    accuracy (the rule of SourceGuardedValidator)."""
    keep = SourceGuardedValidator(tolerance=tolerance).eligible(
        _scores(run, "source_accuracy"), np.isfinite(scores)
    )
    return np.where(keep, scores, np.nan)


def _mean_rank_score(run: dict, members: tuple[str, ...]) -> np.ndarray:
    """Minus the mean rank (0 = best) over ``members``; nan where a member gives no score."""
    columns = [_scores(run, v) for v in members]
    ranks = []
    for column in columns:
        filled = np.where(np.isfinite(column), column, -np.inf)
        values, inverse = np.unique(-filled, return_inverse=True)
        counts = np.bincount(inverse)
        below = np.concatenate([[0], np.cumsum(counts)[:-1]])
        ranks.append((below + (counts - 1) / 2)[inverse])
    complete = np.all([np.isfinite(c) for c in columns], axis=0)
    return np.where(complete, -np.mean(ranks, axis=0), np.nan)


def parse_rule(name: str) -> Rule:
    """The rule a name describes (the grammar of the module docstring)."""
    if name in (*VALIDATORS, "source_accuracy", "guarded_mixval"):
        return lambda run: _scores(run, name)
    match = re.fullmatch(r"(guard|borda|gborda)\(([a-z_+]+)(?:,([0-9.]+))?\)", name)
    if match is None:
        raise ValueError(f"unknown rule {name!r}; see the module docstring for the grammar")
    kind, members, tolerance = match.group(1), tuple(match.group(2).split("+")), match.group(3)
    if (kind == "borda") != (tolerance is None):
        raise ValueError(f"rule {name!r}: guard and gborda take a tolerance, borda none")
    if kind == "guard":
        return lambda run: _guarded(run, _scores(run, members[0]), float(tolerance))
    if kind == "borda":
        return lambda run: _mean_rank_score(run, members)
    return lambda run: _guarded(run, _mean_rank_score(run, members), float(tolerance))


def family() -> list[str]:
    """Every rule this script tries by default (the names parse_rule takes)."""
    names = [*VALIDATORS, "source_accuracy"]
    names += [f"guard({v},{t})" for v in VALIDATORS for t in TOLERANCES]
    for size in (2, 3, 4):
        names += [f"borda({'+'.join(s)})" for s in itertools.combinations(BORDA_POOL, size)]
    for pair in itertools.combinations(("mixval", "ensv", "reverse", "dev", "im"), 2):
        names += [f"gborda({'+'.join(pair)},{t})" for t in (0.03, 0.05)]
    return names


def gaps(runs: list[dict], names: list[str]) -> tuple[list[str], dict[str, list[float]]]:
    """Per rule: the mean gap to the oracle's pick per suite, then the mean of the suites."""
    rules = {name: parse_rule(name) for name in names}
    per_suite: dict[str, list[dict[str, float]]] = {}
    for run in runs:
        accuracy = 100 * np.array(
            [np.nan if a is None else a for a in run["accuracy"]], dtype=float
        )
        skipped = SKIP_CONFIGS.get(run["suite"], [])
        for i, (method, params) in enumerate(zip(run["method"], run["params"], strict=True)):
            if (method, params) in skipped:
                accuracy[i] = np.nan
        defaults = np.array([p == {} for p in run["params"]])
        row = {"oracle": float(np.nanmax(accuracy)), "defaults": np.nanmean(accuracy[defaults])}
        candidates = np.flatnonzero(np.isfinite(accuracy))
        for name, rule in rules.items():
            row[name] = pick_accuracy(rule(run), accuracy, candidates)
        per_suite.setdefault(run["suite"], []).append(row)
    table = {}
    for name in ["defaults", *names]:
        suite_gaps = [
            float(np.nanmean([r[name] - r["oracle"] for r in rows])) for rows in per_suite.values()
        ]
        table[name] = [*suite_gaps, float(np.mean(suite_gaps))]
    return list(per_suite), table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="JSON files written by selection.py --json")
    parser.add_argument("--rules", help="comma-separated rule names (default: the whole family)")
    parser.add_argument("--top", type=int, default=15, help="rows to print for the family")
    parser.add_argument(
        "--best-per-suite",
        action="store_true",
        help="also print each suite's best rule in hindsight (chosen with the target labels)",
    )
    args = parser.parse_args(argv)
    runs = []
    for path in args.runs:
        with open(path) as handle:
            runs.extend(json.load(handle))
    names = re.split(r",(?![0-9])", args.rules) if args.rules else family()
    suites, table = gaps(runs, names)
    counts = {s: sum(r["suite"] == s for r in runs) for s in suites}
    order = names if args.rules else sorted(names, key=lambda n: -table[n][-1])[: args.top]
    print(f"{len(runs)} runs; {len(names)} rules; gap to the oracle's pick (points)\n")
    header = [f"{s} ({counts[s]})" for s in suites] + ["mean of the suites"]
    print("| rule | " + " | ".join(header) + " |")
    print("| --- |" + " ---: |" * len(header))
    for name in [*order, "defaults"]:
        print(f"| {name} | " + " | ".join(f"{g:+.1f}" for g in table[name]) + " |")
    if args.best_per_suite:
        best = [max(names, key=lambda n, i=i: table[n][i]) for i in range(len(suites))]
        gaps_ = [table[name][i] for i, name in enumerate(best)]
        print("\nEach suite's best rule in hindsight (target labels choose it):\n")
        print("| suite | rule | gap |")
        print("| --- | --- | ---: |")
        for suite, name, gap in zip(suites, best, gaps_, strict=True):
            print(f"| {suite} | {name} | {gap:+.1f} |")
        print(f"| mean of the suites | | {sum(gaps_) / len(gaps_):+.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
