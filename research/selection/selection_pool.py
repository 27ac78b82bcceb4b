"""Pool validators (EnsV and its variants) scored offline from saved target probabilities.

``benchmarks/selection.py --probas DIR`` saves, for every run, each candidate's target
probabilities from every search fold (what a pool validator sees inside ``DomainAwareSearchCV``),
the full fit's probabilities on the evaluation rows with their labels, and the held-out source
accuracy. This
script scores pool validators from those files without refitting, so a new consensus rule costs
seconds, and reports two gaps to the oracle:

* **in-sample** (the measure of ``selection.py`` and ``selection_rules.py``): the pick's target
  accuracy minus the best candidate's, both on all the target labels. The oracle chooses and is
  scored on the same labels, so it is optimistic: it gains from the noise in ~24 estimates.
* **split-half**: the oracle chooses on a random half of the target labels and both are scored
  on the other half (mean over 200 splits). This is what a user with labelled target data
  for validation could expect, and it is free of that optimism.

Rules: ``ensv``, ``ensv_dedup`` (threshold 0.8) or ``ensv_dedup(0.9)``, ``ensv_graph`` or
``ensv_graph(<neighbours>,<alpha>)`` (``GraphEnsembleValidator``, 10 and 0.5 by default: the
target's features are loaded from the data home), ``ensv_graph(prop)`` or
``ensv_graph(<neighbours>,<alpha>,prop)`` (each candidate's probabilities propagated over the
same graph before the comparison: ``propagate_candidates=True``),
``ensv_ds`` (a Dawid-Skene consensus, offline only), ``source_accuracy``,
and ``guard(<rule>,<tol>)`` (the rule among the candidates whose held-out source accuracy is
within ``tol`` of the best, as in ``SourceGuardedValidator`` with ``confidence=None``);
``guard(<rule>,<tol>,ot)`` lets the OT mappings pass the guard whatever their source accuracy;
``guard(<rule>,<tol>,ci)`` widens the tolerance to the noise of the held-out source accuracies
on a small source (``SourceGuardedValidator(confidence=0.95)``; the source's size is loaded from the
data home). The flags combine: ``guard(<rule>,<tol>,ot,ci)``.

Usage:
    python benchmarks/selection.py --suite digits --seeds 2 --validators ensv,source_accuracy \\
        --probas probas/ --json /tmp/digits.json
    python research/selection/selection_pool.py probas/*.npz                # the declared rules
    python research/selection/selection_pool.py --family probas/*seed2.npz  # thresholds x guards
    python research/selection/selection_pool.py --per-run --rules ensv,ensv_dedup probas/*.npz
    python research/selection/selection_pool.py --bootstrap 2000 --rules ensv probas/*.npz
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from transferkit.selection import (
    DedupEnsembleValidator,
    EnsembleValidator,
    GraphEnsembleValidator,
    SourceGuardedValidator,
)

# the benchmark harness that saves the runs (benchmarks/selection.py): its suites and the loader
# that gives a run's problem back
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from selection import SUITES, load_problem  # noqa: E402

#: Declared before the held-out and fresh runs were scored (see docs/benchmarks.md).
DECLARED = ("guard(ensv_dedup,0.05)", "ensv_dedup", "ensv", "guard(ensv,0.05)")
#: guard(ensv_graph,0.05), with guard(ensv_ds,0.05) as a secondary rule, was declared before
#: harness seeds 10-19 and digits seeds 7-9 were scored (commits f44c244 and 2b5c401; the docs
#: give the command).
THRESHOLDS = (0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.98)
TOLERANCES = (0.01, 0.02, 0.05, 0.10)
SPLITS = 200

Rule = Callable[[dict], np.ndarray]


def load_run(path: str) -> dict:
    """A run saved by ``selection.py --probas``; its suite from the file name."""
    name = os.path.basename(path)
    suite = max((s for s in SUITES if name.startswith(s + "-")), key=len, default=None)
    pair = re.fullmatch(r"([a-z0-9]+)-([a-z0-9]+)-seed(\d+)\.npz", name[len(suite or "") + 1 :])
    if suite is None or pair is None:
        raise SystemExit(
            f"{path}: the file name is not <suite>-<source>-<target>-seed<N>.npz with a suite of "
            f"{list(SUITES)}"
        )
    with np.load(path) as data:
        run = {key: data[key] for key in data.files}
    run["fold_probas"] = run["fold_probas"].astype(float)
    run["eval_probas"] = run["eval_probas"].astype(float)
    source, target, seed = pair.group(1), pair.group(2), int(pair.group(3))
    return {**run, "suite": suite, "name": name, "pair": (source, target, seed)}


def _problem(run: dict):
    """The run's transfer problem, loaded once per run from the data home (the saved files hold
    no features): for rules that need the target's features or the source's size."""
    if "_problem" not in run:
        problem = load_problem(run["suite"], *run["pair"])
        if problem.X_target.shape[0] != run["fold_probas"].shape[2]:
            raise SystemExit(
                f"{run['name']}: the data home gives {problem.X_target.shape[0]} target rows, "
                f"the saved run {run['fold_probas'].shape[2]}; was it saved from other data?"
            )
        run["_problem"] = problem
    return run["_problem"]


def target_features(run: dict):
    """The unlabelled target rows the search folds scored."""
    return _problem(run).X_target


def source_rows(run: dict) -> int:
    """The number of held-out source rows behind the run's source accuracies: every source row,
    since the search's source folds partition the source."""
    return int(_problem(run).n_source)


def pool_scores(run: dict, validator: EnsembleValidator) -> np.ndarray:
    """Mean over search folds of the validator's pool scores, nan where a fold failed (as in
    ``DomainAwareSearchCV``)."""
    probas = run["fold_probas"]
    per_fold = []
    for fold in range(probas.shape[1]):
        pool = [p if np.isfinite(p).all() else None for p in probas[:, fold]]
        if getattr(validator, "uses_target_features", False):
            per_fold.append(validator.score_pool(pool, X_target=target_features(run)))
        else:
            per_fold.append(validator.score_pool(pool))
    return np.asarray(per_fold, dtype=float).mean(axis=0)


class DawidSkeneValidator(DedupEnsembleValidator):
    """Offline only: agreement with a Dawid & Skene (1979) consensus, each candidate an annotator
    with its own confusion matrix, estimated by EM from the ``ensv_dedup`` consensus; the
    de-duplication weights scale each annotator's vote (near copies share one vote)."""

    def __init__(self, threshold: float = 0.8, n_iter: int = 10, smoothing: float = 0.01):
        super().__init__(threshold)
        self.n_iter = n_iter
        self.smoothing = smoothing

    def score_pool(self, probas):
        valid = [p for p in probas if p is not None]
        if not valid:
            return [float("nan")] * len(probas)
        stacked = np.stack(valid)
        predicted = stacked.argmax(axis=2)
        n_candidates, n_classes = len(valid), stacked.shape[2]
        weights = self.weights(valid)
        votes = weights * n_candidates
        posterior = np.tensordot(weights, stacked, axes=1)
        posterior /= posterior.sum(axis=1, keepdims=True)
        onehot = np.eye(n_classes)[predicted]
        for _ in range(self.n_iter):
            confusion = np.einsum("rt,crk->ctk", posterior, onehot) + self.smoothing
            confusion /= confusion.sum(axis=2, keepdims=True)
            logp = np.log(posterior.mean(axis=0) + 1e-6)[None, :] + np.einsum(
                "c,crt->rt",
                votes,
                np.log(confusion[np.arange(n_candidates)[:, None], :, predicted]),
            )
            posterior = np.exp(logp - logp.max(axis=1, keepdims=True))
            posterior /= posterior.sum(axis=1, keepdims=True)
        labels = posterior.argmax(axis=1)
        return [
            float("nan") if p is None else float(np.mean(p.argmax(axis=1) == labels))
            for p in probas
        ]


def parse_rule(rule: str) -> Rule:
    """A rule name (see the module docstring) as a function of a run."""
    rule = rule.strip()
    guarded = re.fullmatch(r"guard\((.+),([0-9.]+)((?:,ot|,ci)*)\)", rule)
    if guarded:
        inner, tolerance = parse_rule(guarded.group(1)), float(guarded.group(2))
        flags = set(guarded.group(3).split(",")[1:])
        ot_passes, widened = "ot" in flags, "ci" in flags
        validator = SourceGuardedValidator(
            tolerance=tolerance, confidence=0.95 if widened else None
        )

        def guard(run: dict) -> np.ndarray:
            scores = inner(run)
            source = np.asarray(run["source_accuracy"], dtype=float)
            if ot_passes:  # the OT mappings as if they had the best source accuracy
                ot = np.char.startswith(run["labels"].astype(str), "ot ")
                source = np.where(ot, np.nanmax(source), source)
            n_rows = source_rows(run) if widened else None
            keep = validator.eligible(source, np.isfinite(scores), n_rows)
            return np.where(keep, scores, np.nan)

        return guard
    if rule == "ensv":
        return lambda run: pool_scores(run, EnsembleValidator())
    dedup = re.fullmatch(r"ensv_dedup(?:\(([0-9.]+)\))?", rule)
    if dedup:
        threshold = float(dedup.group(1) or DedupEnsembleValidator().threshold)
        return lambda run: pool_scores(run, DedupEnsembleValidator(threshold))
    graph = re.fullmatch(r"ensv_graph(?:\((?:([0-9]+),([0-9.]+)(,prop)?|(prop))\))?", rule)
    if graph:
        defaults = GraphEnsembleValidator()
        n_neighbors = int(graph.group(1) or defaults.n_neighbors)
        alpha = float(graph.group(2) or defaults.alpha)
        propagate = bool(graph.group(3) or graph.group(4))
        return lambda run: pool_scores(
            run,
            GraphEnsembleValidator(
                n_neighbors=n_neighbors, alpha=alpha, propagate_candidates=propagate
            ),
        )
    if rule == "ensv_ds":
        return lambda run: pool_scores(run, DawidSkeneValidator())
    if rule == "source_accuracy":
        return lambda run: np.asarray(run["source_accuracy"], dtype=float)
    raise SystemExit(f"unknown rule {rule!r}")


def _pick(scores: np.ndarray, usable: np.ndarray) -> int:
    return int(np.argmax(np.where(np.isfinite(scores) & usable, scores, -np.inf)))


def _halves(run: dict, splits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(usable candidates, each candidate's accuracy on the scoring half of every split, the
    split-half oracle's accuracy there); computed once per run and number of splits."""
    cache = run.setdefault("_halves", {})
    if splits not in cache:
        accuracy = np.asarray(run["accuracy"], dtype=float)
        usable = np.isfinite(accuracy) & np.isfinite(run["eval_probas"]).all(axis=(1, 2))
        correct = run["eval_probas"].argmax(axis=2) == run["y_eval"][None, :]
        rng = np.random.default_rng(0)
        n = correct.shape[1]
        other, oracle = [], []
        for _ in range(splits):
            half = rng.permutation(n) < n // 2
            scored = correct[:, ~half].mean(axis=1)
            other.append(scored)
            oracle.append(scored[_pick(correct[:, half].mean(axis=1), usable)])
        cache[splits] = (usable, np.array(other).T, np.array(oracle))
    return cache[splits]


def gaps(run: dict, scores: np.ndarray, splits: int = SPLITS) -> tuple[float, float]:
    """(in-sample gap, split-half gap) in points for the candidate the scores pick."""
    accuracy = np.asarray(run["accuracy"], dtype=float)
    usable, other, oracle = _halves(run, splits)
    pick = _pick(scores, usable)
    in_sample = 100 * (accuracy[pick] - accuracy[usable].max())
    return float(in_sample), float(100 * np.mean(other[pick] - oracle))


def default_gaps(run: dict, splits: int = SPLITS) -> tuple[float, float]:
    """The same two gaps for the mean accuracy of the configurations with default parameters
    (picking a method without tuning, as in ``selection.py``)."""
    defaults = np.array([label.endswith(" {}") for label in run["labels"]])
    defaults &= np.isfinite(np.asarray(run["accuracy"], dtype=float))
    in_sample, split_half = [], []
    for i in np.flatnonzero(defaults):
        scores = np.where(np.arange(len(defaults)) == i, 1.0, np.nan)
        gap = gaps(run, scores, splits)
        in_sample.append(gap[0])
        split_half.append(gap[1])
    return float(np.mean(in_sample)), float(np.mean(split_half))


def table(runs: list[dict], rules: list[str]) -> tuple[list[str], dict[str, dict]]:
    """Per rule (and ``defaults``): mean gaps per suite and the mean of the suites."""
    suites = sorted({r["suite"] for r in runs})
    out = {}
    for rule in [*rules, "defaults"]:
        score = None if rule == "defaults" else parse_rule(rule)
        per_suite: dict[str, list[tuple[float, float]]] = {s: [] for s in suites}
        for run in runs:
            per_suite[run["suite"]].append(
                default_gaps(run) if score is None else gaps(run, score(run))
            )
        means = {s: np.mean(v, axis=0) for s, v in per_suite.items()}
        means["mean of the suites"] = np.mean(list(means.values()), axis=0)
        out[rule] = means
    return suites, out


def markdown(runs: list[dict], rules: list[str], top: int | None = None, decimals: int = 1) -> str:
    suites, result = table(runs, rules)
    columns = [*suites, "mean of the suites"]
    counts = {s: sum(r["suite"] == s for r in runs) for s in suites}
    head = [f"{s} ({counts[s]})" for s in suites] + ["mean of the suites"]
    order = sorted(
        (r for r in result if r != "defaults"), key=lambda r: -result[r]["mean of the suites"][0]
    )[:top] + ["defaults"]
    lines = [
        "Gap to the oracle's pick in points, in-sample / split-half (runs per suite in "
        "brackets):\n",
        "| rule | " + " | ".join(head) + " |",
        "|" + " --- |" + " ---: |" * len(columns),
    ]
    for rule in order:
        cells = [
            f"{result[rule][c][0]:+.{decimals}f} / {result[rule][c][1]:+.{decimals}f}"
            for c in columns
        ]
        lines.append(f"| {rule} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def bootstrap(runs: list[dict], rules: list[str], draws: int, level: float = 0.9) -> str:
    """A percentile interval for each rule's in-sample mean of the suites: the pairs of each
    suite are drawn again with replacement (all the runs of a pair together, since its seeds
    share data), ``draws`` times (seed 0)."""
    suites = sorted({r["suite"] for r in runs})
    rng = np.random.default_rng(0)
    lines = [
        f"In-sample mean of the suites with a {100 * level:.0f} % interval ({draws} draws of "
        "the pairs of each suite, all the runs of a pair together):\n",
        "| rule | mean of the suites | interval |",
        "| --- | ---: | --- |",
    ]
    for rule in [*rules, "defaults"]:
        score = None if rule == "defaults" else parse_rule(rule)
        per_pair: dict[str, dict[tuple, list[float]]] = {s: {} for s in suites}
        for run in runs:
            gap = default_gaps(run)[0] if score is None else gaps(run, score(run))[0]
            per_pair[run["suite"]].setdefault(run["pair"][:2], []).append(gap)
        groups = {s: [np.asarray(v) for v in pairs.values()] for s, pairs in per_pair.items()}
        point = np.mean([np.concatenate(g).mean() for g in groups.values()])
        means = []
        for _ in range(draws):
            suite_means = []
            for g in groups.values():
                chosen = rng.integers(len(g), size=len(g))
                suite_means.append(np.concatenate([g[i] for i in chosen]).mean())
            means.append(np.mean(suite_means))
        low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
        lines.append(f"| {rule} | {point:+.2f} | {low:+.2f} … {high:+.2f} |")
    return "\n".join(lines)


def per_run(runs: list[dict], rules: list[str]) -> str:
    """Each run's in-sample gap per rule, with the label of the candidate the rule picks."""
    scores = {rule: parse_rule(rule) for rule in rules}
    lines = ["| run | " + " | ".join(rules) + " |", "| --- |" + " --- |" * len(rules)]
    for run in runs:
        cells = []
        for rule in rules:
            picked = scores[rule](run)
            pick = _pick(picked, _halves(run, SPLITS)[0])
            cells.append(f"{gaps(run, picked)[0]:+.1f} {run['labels'][pick]}")
        lines.append(f"| {run['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def family() -> list[str]:
    rules = ["ensv", "source_accuracy", *(f"ensv_dedup({t})" for t in THRESHOLDS)]
    base = [r for r in rules if r != "source_accuracy"]
    return rules + [f"guard({r},{t})" for r in base for t in TOLERANCES]


def split_rules(text: str) -> list[str]:
    """Comma-separated rules, commas inside brackets kept: ``guard(ensv,0.05),ensv``."""
    rules, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            rules.append(current.strip())
            current = ""
        else:
            current += char
    return [r for r in [*rules, current.strip()] if r]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help=".npz files written by selection.py --probas")
    parser.add_argument("--rules", help="comma-separated rules (default: the declared ones)")
    parser.add_argument("--family", action="store_true", help="every threshold x guard")
    parser.add_argument("--top", type=int, help="rows to print, best first")
    parser.add_argument("--decimals", type=int, default=1, help="decimals of the gaps")
    parser.add_argument(
        "--per-run", action="store_true", help="each run's gap and pick per rule instead"
    )
    parser.add_argument(
        "--bootstrap",
        type=int,
        metavar="DRAWS",
        help="a 90 %% interval of the in-sample mean of the suites instead (pairs redrawn)",
    )
    args = parser.parse_args(argv)
    if args.rules and args.family:
        parser.error("give --rules or --family, not both")
    if args.bootstrap is not None and (args.bootstrap < 1 or args.per_run):
        parser.error("--bootstrap takes a positive number of draws, and not with --per-run")
    rules = family() if args.family else (split_rules(args.rules) if args.rules else DECLARED)
    runs = [load_run(path) for path in args.runs]
    if args.per_run:
        print(per_run(runs, list(rules)))
    elif args.bootstrap:
        print(bootstrap(runs, list(rules), args.bootstrap))
    else:
        print(markdown(runs, list(rules), args.top, args.decimals))
    return 0


if __name__ == "__main__":
    sys.exit(main())
