"""How well does each validator choose a method and its hyper-parameters without target labels?

For every pair of a suite, every candidate configuration (each shallow method with its defaults and
a small grid, `transferkit.selection.default_candidates`) is

* scored by every validator with `DomainAwareSearchCV(refit=False)` (trained on source folds plus
  the unlabelled target), and
* trained on the whole problem and evaluated on the target's labels (the accuracy you get if you
  pick it).

Then, per validator, the configuration it ranks first gives "its pick"; the oracle's pick is the
configuration with the best target accuracy; "defaults" is the mean target accuracy of the methods
run with their default parameters (what you get picking a method without tuning), and
source-only is the floor. Two views: across all methods and parameters, and within each method
(hyper-parameters only, against that method's defaults).

Usage:
    TRANSFERKIT_DATA=../shared/datasets python benchmarks/selection.py \\
        --suite office-caltech-surf --json results/selection-office.json
    python benchmarks/selection.py --tables results/selection-*.json   # tables from saved runs
    python benchmarks/selection.py --suite digits --probas probas/ --json /tmp/digits.json
        # also saves each candidate's target probabilities, for
        # research/selection/selection_pool.py

``--validators`` takes the names of ``transferkit.selection.VALIDATORS`` and the research
variants of ``RESEARCH_VARIANTS`` (built here from the library's public classes), so the runs in
``research/selection/results/`` can be made again with the same columns.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from transferkit.datasets import load_pair, standard_pairs  # noqa: E402
from transferkit.problem import TARGET  # noqa: E402
from transferkit.selection import (  # noqa: E402
    UNSUPERVISED_VALIDATORS,
    DedupEnsembleValidator,
    DomainAwareSearchCV,
    EnsembleValidator,
    GraphEnsembleValidator,
    SourceGuardedValidator,
    default_candidates,
    predict_proba_rows,
)

SUITES = {
    # dataset, load_pair options, classifier, source folds
    "office-caltech-surf": ("office-caltech-surf", {}, "logreg", 2),
    "amazon-reviews": ("amazon-reviews", {}, "logreg", 2),
    "digits": ("digits", {"n_source": 1000, "n_target": 1000, "n_test": 1000}, "logreg", 2),
    # Office SURF with the harness's source draws (20 per class, 8 from dslr): each seed draws
    # new source images, so its accuracies change with the seed, unlike the whole-source suite
    "office-caltech-surf-harness": (
        "office-caltech-surf",
        {"source_per_class": "harness"},
        "logreg",
        2,
    ),
}

#: Amazon keeps its 1,000 most frequent features (source + target counts): CORAL and mSDA on all
#: 5,000 take minutes per fit on 2 cores, too slow for a grid of ~35 configurations x 5 fits.
MAX_FEATURES = {"amazon-reviews": 1000}

#: Methods too slow for a suite on 2 CPU cores (measured), left out of its grid.
SKIP = {"amazon-reviews": {"kmm", "kliep"}, "digits": {"kmm"}}

#: Single configurations too slow for a suite (OT Sinkhorn with reg_e = 0.1 needs ~4 minutes per
#: fit on Amazon): left out of the grid and of the tables.
SKIP_CONFIGS = {"amazon-reviews": [("ot", {"method": "sinkhorn", "reg_e": 0.1})]}


def _skipped_grids(suite: str) -> list[tuple[str, dict]]:
    """The skipped configurations as one-point grids (the form default_candidates gives)."""
    return [(m, {k: [v] for k, v in p.items()}) for m, p in SKIP_CONFIGS.get(suite, [])]


def _split_grids(candidates: list) -> list:
    """One grid per parameter point, so a single configuration can be left out."""
    from sklearn.model_selection import ParameterGrid

    out = []
    for method, grids in candidates:
        points = []
        for grid in grids:
            points.extend(
                [{k: [v] for k, v in p.items()} for p in ParameterGrid(grid)] if grid else [{}]
            )
        out.append((method, points))
    return out


#: Validators studied in research/selection/ that are not among the names users pick from: each
#: built from the public classes, under the name its results carry.
RESEARCH_VARIANTS = {
    "ensv_dedup": DedupEnsembleValidator,
    "ensv_graph": GraphEnsembleValidator,
    "guarded_mixval": lambda: SourceGuardedValidator("mixval"),
    "guarded_ensv_dedup": lambda: SourceGuardedValidator(DedupEnsembleValidator()),
}


def validator(name: str):
    """A research variant by its name, else the name (which the search resolves)."""
    return RESEARCH_VARIANTS[name]() if name in RESEARCH_VARIANTS else name


class _RecordingEnsV(EnsembleValidator):
    """EnsV that also keeps the target probabilities the search hands it, one list per fold."""

    def __init__(self):
        self.folds: list[list[np.ndarray | None]] = []

    def score_pool(self, probas):
        self.folds.append(list(probas))
        return super().score_pool(probas)


def save_probas(path: str, folds: list, evaluation: list, y_eval: np.ndarray, run: dict) -> None:
    """Target probabilities of every candidate (float16; nan where it failed): per search fold on
    the unlabelled target, and of the full fit on the evaluation rows, for new pool validators
    scored offline (``research/selection/selection_pool.py``)."""

    def stack(probas: list) -> np.ndarray:
        shape = next(p.shape for p in probas if p is not None)
        return np.stack([np.full(shape, np.nan) if p is None else p for p in probas])

    np.savez_compressed(
        path,
        fold_probas=np.stack([stack(f) for f in folds], axis=1).astype(np.float16),
        eval_probas=stack(evaluation).astype(np.float16),
        y_eval=y_eval,
        accuracy=np.asarray(run["accuracy"], dtype=float),
        source_accuracy=np.asarray(run["scores"]["source_accuracy"], dtype=float),
        labels=np.asarray(
            [
                f"{m} {json.dumps(p, sort_keys=True)}"
                for m, p in zip(run["method"], run["params"], strict=True)
            ]
        ),
    )


def load_problem(suite: str, source: str, target: str, seed: int):
    """The suite's transfer problem for a pair and seed (Amazon: its most frequent features)."""
    dataset, options, _, _ = SUITES[suite]
    problem = load_pair(dataset, source, target, random_state=seed, **options)
    if suite in MAX_FEATURES:
        import scipy.sparse as sp

        counts = np.asarray(
            (sp.csr_matrix(problem.X_source) != 0).sum(axis=0)
            + (sp.csr_matrix(problem.X_target) != 0).sum(axis=0)
        ).ravel()
        keep = np.sort(np.argsort(-counts, kind="stable")[: MAX_FEATURES[suite]])
        problem = problem.map_features(lambda X: X[:, keep])
    return problem


def run_pair(
    suite: str,
    source: str,
    target: str,
    seed: int,
    validators: list[str],
    probas: str | None = None,
    cv: int | None = None,
) -> dict:
    _, _, classifier, suite_cv = SUITES[suite]
    cv = suite_cv if cv is None else cv
    problem = load_problem(suite, source, target, seed)
    methods = [
        m
        for m, _ in default_candidates(n_features=problem.n_features, sparse=problem.is_sparse)
        if m not in SKIP.get(suite, set())
    ]
    candidates = [
        (method, [g for g in grids if (method, g) not in _skipped_grids(suite)])
        for method, grids in _split_grids(
            default_candidates(methods, problem.n_features, problem.is_sparse)
        )
    ]
    start = time.perf_counter()
    recorder = _RecordingEnsV() if probas else None
    scoring = {v: recorder if v == "ensv" and recorder else validator(v) for v in validators}
    if recorder and "ensv" not in validators:
        scoring["ensv"] = recorder
    search = DomainAwareSearchCV(
        candidates, scoring=scoring, refit=False, cv=cv, classifier=classifier, random_state=seed
    ).fit(problem)
    scored = time.perf_counter() - start
    accuracies = []
    evaluation = []
    X_eval, y_eval = problem.evaluation_split()
    for method, params in zip(
        search.cv_results_["method"], search.cv_results_["params"], strict=True
    ):
        try:
            model = search.make_candidate(method, params).fit(problem)
            accuracies.append(float(np.mean(model.predict(X_eval) == y_eval)))
            if recorder:
                evaluation.append(predict_proba_rows(model, X_eval, TARGET))
        except Exception as error:  # a failing configuration: recorded, never picked by the oracle
            print(f"#   {method} {params} failed: {error}", file=sys.stderr)
            accuracies.append(float("nan"))
            evaluation.append(None)
    run = {
        "suite": suite,
        "pair": f"{source}->{target}",
        "seed": seed,
        "method": search.cv_results_["method"],
        "params": search.cv_results_["params"],
        "accuracy": accuracies,
        "scores": {v: search.cv_results_[f"mean_{v}"] for v in validators},
        "errors": search.cv_results_["error"],
        "fit_time": search.cv_results_["mean_fit_time"],
        "seconds_scoring": scored,
        "seconds_total": time.perf_counter() - start,
    }
    if recorder:
        name = f"{suite}-{source}-{target}-seed{seed}.npz"
        save_probas(os.path.join(probas, name), recorder.folds, evaluation, y_eval, run)
    return run


# ----------------------------------------------------------------------------- tables
def pick_accuracy(scores: np.ndarray, accuracy: np.ndarray, index: np.ndarray) -> float:
    """The accuracy of the candidate among ``index`` with the best finite score (nan if none)."""
    s = np.where(np.isfinite(scores[index]), scores[index], -np.inf)
    if not np.isfinite(s).any():
        return float("nan")
    return float(accuracy[index[int(np.argmax(s))]])


def _derive_guarded(run: dict) -> dict:
    """Add ``guarded_mixval`` to a run recorded before it existed, from the run's ``mixval`` and
    ``source_accuracy`` columns: the search computes it from the same two numbers (MixVal, kept
    only for candidates within the tolerance of the best held-out source accuracy)."""
    scores = run["scores"]
    if "guarded_mixval" in scores or not {"mixval", "source_accuracy"} <= set(scores):
        return run
    mixval = np.array([np.nan if v is None else v for v in scores["mixval"]], dtype=float)
    source = np.array([np.nan if v is None else v for v in scores["source_accuracy"]], dtype=float)
    keep = SourceGuardedValidator().eligible(source, np.isfinite(mixval))
    guarded = np.where(keep, mixval, np.nan)
    return {**run, "scores": {**scores, "guarded_mixval": guarded.tolist()}}


def summarize(runs: list[dict], validators: list[str]) -> dict:
    """Per suite: mean over pairs of the pick accuracies (all candidates, and per method)."""
    out: dict = {}
    for run in map(_derive_guarded, runs):
        skipped = SKIP_CONFIGS.get(run["suite"], [])
        keep = [
            i
            for i, (m, p) in enumerate(zip(run["method"], run["params"], strict=True))
            if (m, p) not in skipped
        ]
        if len(keep) < len(run["method"]):  # runs made before a configuration was skipped
            run = {
                **run,
                "method": [run["method"][i] for i in keep],
                "params": [run["params"][i] for i in keep],
                "accuracy": [run["accuracy"][i] for i in keep],
                "scores": {v: [s[i] for i in keep] for v, s in run["scores"].items()},
            }
        acc = 100 * np.asarray(run["accuracy"], dtype=float)
        methods = np.asarray(run["method"])
        is_default = np.array([p == {} for p in run["params"]])
        everything = np.flatnonzero(np.isfinite(acc))
        row = {
            "oracle": float(np.nanmax(acc)),
            "defaults": float(np.nanmean(acc[is_default])),
            "source_only": float(acc[(methods == "source_only") & is_default][0]),
        }
        for v in validators:
            row[v] = pick_accuracy(np.asarray(run["scores"][v], dtype=float), acc, everything)
        within = {}
        for m in np.unique(methods):
            index = np.flatnonzero((methods == m) & np.isfinite(acc))
            if len(index) < 2 or not is_default[index].any():
                continue
            cell = {
                "oracle": float(acc[index].max()),
                "defaults": float(acc[index][is_default[index]][0]),
            }
            for v in validators:
                cell[v] = pick_accuracy(np.asarray(run["scores"][v], dtype=float), acc, index)
            within[m] = cell
        suite = out.setdefault(run["suite"], {"pairs": [], "within": []})
        suite["pairs"].append(row)
        suite["within"].extend(within.values())
    return out


def _cell(means: dict, column: str) -> str:
    if column == "oracle":
        return f"{means[column]:.1f}"
    return f"{means[column]:.1f} ({means[column] - means['oracle']:+.1f})"


def markdown(runs: list[dict], validators: list[str]) -> str:
    summary = summarize(runs, validators)
    lines = []
    columns = ["oracle", *validators, "defaults", "source_only"]
    lines.append(
        "Across all methods and parameters: target accuracy (%) of the configuration each "
        "validator picks, mean over pairs (gap to the oracle's pick in points):\n"
    )
    lines.append("| suite | pairs | " + " | ".join(columns) + " |")
    lines.append("|" + " --- |" * (len(columns) + 2))
    suite_means = []
    for suite, data in summary.items():
        rows = data["pairs"]
        means = {c: float(np.nanmean([r[c] for r in rows])) for c in columns}
        suite_means.append(means)
        lines.append(
            f"| {suite} | {len(rows)} | " + " | ".join(_cell(means, c) for c in columns) + " |"
        )
    if len(suite_means) > 1:
        means = {c: float(np.mean([m[c] for m in suite_means])) for c in columns}
        lines.append(
            f"| mean of the suites | {sum(len(d['pairs']) for d in summary.values())} | "
            + " | ".join(_cell(means, c) for c in columns)
            + " |"
        )
    lines.append("")
    lines.append(
        "Within each method (hyper-parameters only): mean over pairs and methods of the "
        "pick's target accuracy minus the method's defaults (points; oracle = best possible):\n"
    )
    columns = ["oracle", *validators]
    lines.append("| suite | (pair, method) cells | " + " | ".join(columns) + " |")
    lines.append("|" + " --- |" * (len(columns) + 2))
    within_means = []
    for suite, data in summary.items():
        cells = data["within"]
        gains = {v: float(np.nanmean([c[v] - c["defaults"] for c in cells])) for v in columns}
        within_means.append(gains)
        values = [f"{gains[v]:+.1f}" for v in columns]
        lines.append(f"| {suite} | {len(cells)} | " + " | ".join(values) + " |")
    if len(within_means) > 1:
        values = [f"{np.mean([g[v] for g in within_means]):+.1f}" for v in columns]
        lines.append(
            f"| mean of the suites | {sum(len(d['within']) for d in summary.values())} | "
            + " | ".join(values)
            + " |"
        )
    best = {}
    for suite, data in summary.items():
        rows = data["pairs"]
        gaps = {v: np.nanmean([r["oracle"] - r[v] for r in rows]) for v in validators}
        best[suite] = min(gaps, key=gaps.get)
    lines.append("")
    lines.append(
        "Best validator per suite (smallest mean gap to the oracle): "
        + "; ".join(f"{s}: {v}" for s, v in best.items())
        + "."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suite", choices=list(SUITES), action="append")
    parser.add_argument("--pairs", default="all", help="'all', or comma-separated src:tgt")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds, e.g. 0,1")
    parser.add_argument("--validators", default=",".join(UNSUPERVISED_VALIDATORS))
    parser.add_argument("--json", help="write the raw runs here (appends to an existing file)")
    parser.add_argument("--tables", nargs="*", help="only print tables from saved JSON runs")
    parser.add_argument(
        "--cv",
        type=int,
        help="source folds of the search for every suite (default: the suite's, 2); the "
        "library's own default is 3 where a validator needs source rows",
    )
    parser.add_argument(
        "--probas",
        metavar="DIR",
        help="also save every candidate's target probabilities here, one .npz per run",
    )
    args = parser.parse_args(argv)
    validators = [v for v in args.validators.split(",") if v]
    if args.tables:
        runs = []
        for path in args.tables:
            with open(path) as handle:
                runs.extend(json.load(handle))
        print(markdown(runs, validators))
        return 0
    warnings.simplefilter("ignore")
    runs = []
    if args.json and os.path.exists(args.json):
        with open(args.json) as handle:
            runs = json.load(handle)
    done = {(r["suite"], r["pair"], r["seed"]) for r in runs}
    start = time.perf_counter()
    for suite in args.suite or ["office-caltech-surf", "amazon-reviews", "digits"]:
        dataset = SUITES[suite][0]
        pairs = (
            standard_pairs(dataset)
            if args.pairs == "all"
            else [tuple(p.split(":")) for p in args.pairs.split(",")]
        )
        for source, target in pairs:
            for seed in [int(s) for s in args.seeds.split(",")]:
                if (suite, f"{source}->{target}", seed) in done:
                    continue
                run = run_pair(suite, source, target, seed, validators, args.probas, args.cv)
                runs.append(run)
                print(
                    f"# {suite} {source}->{target} seed {seed}: {run['seconds_total']:.0f}s",
                    file=sys.stderr,
                    flush=True,
                )
                if args.json:
                    with open(args.json, "w") as handle:
                        json.dump(runs, handle)
    print(markdown(runs, validators))
    print()
    print(
        f"{len(runs)} runs in {(time.perf_counter() - start) / 60:.1f} min on {os.cpu_count()} "
        f"CPU cores ({platform.machine()}); classifier and source folds per suite: "
        + "; ".join(f"{s}: {c[2]}, {args.cv or c[3]} folds" for s, c in SUITES.items())
        + "."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
