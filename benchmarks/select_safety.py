"""Does the default ``transferkit select`` ever hand a user negative transfer?

For every pair of every suite, the default selection (``DomainAwareSearchCV`` with the
``default`` budget's candidates, the CLI's folds, the default validator and the safety floor)
picks a candidate without target labels; then every candidate of that pool is trained on the
whole problem and scored on the target's labels. Per suite the table gives:

* **regret**: mean over pairs of best candidate's accuracy minus the pick's (points);
* **harm rate**: share of pairs where the pick is more than 1 point below source-only;
* **worst drop**: the largest amount the pick falls below source-only (points; 0 = never);
* **gain**: mean over pairs of the pick's accuracy minus source-only's (points);
* **kept source-only**: share of pairs where the floor returned source-only;
* **seconds**: mean wall time of the selection alone per pair.

With runs of more than one suite, the last rows pool the pairs of every new suite and then every
pair of every suite (the harm rate over all pairs is the one the goal is set on).

Suites marked *new* were assembled from data never used to design the selection rules; run them
once, after the rule is committed.

Usage (one at a time, in the background, on a shared machine); the saved runs of the table in
docs/benchmarks.md are in benchmarks/results/select_safety/, one JSON file per suite::

    TRANSFERKIT_DATA=../shared/datasets nice python benchmarks/select_safety.py \\
        --suite fashion-mnist --json benchmarks/results/select_safety/fashion-mnist.json
    python benchmarks/select_safety.py --tables benchmarks/results/select_safety/*.json
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
from transferkit.multisource import is_multi_source  # noqa: E402
from transferkit.selection import DomainAwareSearchCV, default_candidates  # noqa: E402

#: suite: (dataset, load_pair options, classifier, new = never used in selection design)
SUITES = {
    "office-caltech-surf": ("office-caltech-surf", {}, "logreg", False),
    "amazon-reviews": ("amazon-reviews", {}, "logreg", False),
    "digits": ("digits", {"n_source": 1000, "n_target": 1000, "n_test": 1000}, "logreg", False),
    # new: the other backbone's features of the Office images (the CNN suite pools both)
    "office-caltech-efficientnet": (
        "office-caltech-images",
        {"features": "efficientnet_lite0"},
        "logreg",
        True,
    ),
    # not new data (the SURF features were used in design), but a classifier (1-NN) and
    # source draws (20 per class) the rules were not tuned with
    "office-caltech-surf-1nn-harness": (
        "office-caltech-surf",
        {"source_per_class": "harness"},
        "1nn",
        False,
    ),
    # new: Fashion-MNIST photos under capture shifts (rotation, low contrast, noise, blur); the
    # sample sizes of the digits suite keep each pair's selection under about a minute
    "fashion-mnist": (
        "fashion-mnist",
        {"n_source": 1000, "n_target": 1000, "n_test": 2000},
        "logreg",
        True,
    ),
    # new: Bible verses in English and Spanish (dataset bible-en-es), labelled by genre
    "bible-en-es": ("bible-en-es", {"label": "genre"}, "logreg", True),
    # several sources, one target (the multi-source methods join the pool): SURF features,
    # used in design as single pairs, never as a multi-source problem
    "office-caltech-surf-multisource": ("office-caltech-surf", {}, "logreg", False),
}

#: The pairs of a multi-source suite: each domain the target of the other three.
MULTI_SOURCE_PAIRS = {
    "office-caltech-surf-multisource": [
        ("+".join(d for d in ("amazon", "caltech10", "dslr", "webcam") if d != target), target)
        for target in ("amazon", "caltech10", "dslr", "webcam")
    ],
}


def run_pair(suite: str, source: str, target: str, seed: int) -> dict:
    """The default pick and every candidate's target accuracy on one pair."""
    dataset, options, classifier, _ = SUITES[suite]
    problem = load_pair(dataset, source, target, random_state=seed, **options)
    candidates = default_candidates(
        n_features=problem.n_features,
        sparse=problem.is_sparse,
        budget="default",
        n_rows=(problem.n_source, problem.n_target),
        multi_source=is_multi_source(problem),  # as `transferkit select`
    )
    cv = 2 if problem.n_source >= 2000 else 3  # as `transferkit select --budget default`
    start = time.perf_counter()
    search = DomainAwareSearchCV(candidates, cv=cv, classifier=classifier, random_state=seed).fit(
        problem
    )
    seconds = time.perf_counter() - start
    X, y = problem.evaluation_split()
    pick = float(np.mean(search.predict(X) == y))
    accuracy = []
    for method, params in zip(
        search.cv_results_["method"], search.cv_results_["params"], strict=True
    ):
        try:
            model = search.make_candidate(method, params).fit(problem)
            accuracy.append(float(np.mean(model.predict(X) == y)))
        except Exception as error:  # a failing candidate: recorded, never the best
            print(f"#   {method} {params} failed: {error}", file=sys.stderr)
            accuracy.append(float("nan"))
    source_only = next(
        a
        for m, p, a in zip(
            search.cv_results_["method"], search.cv_results_["params"], accuracy, strict=True
        )
        if m == "source_only" and not p
    )
    return {
        "suite": suite,
        "pair": f"{source}->{target}",
        "seed": seed,
        "pick": search.best_method_,
        "pick_params": search.best_params_,
        "pick_accuracy": pick,
        "source_only": source_only,
        "best": float(np.nanmax(accuracy)),
        "kept_source_only": bool(search.safety_.get("kept_source_only", False)),
        "reason": search.safety_["reason"],
        "seconds": seconds,
    }


def summary_row(label: str, new: str, rows: list[dict]) -> str:
    """One line of the table: regret, harm rate, worst drop, gain, kept, seconds over ``rows``."""
    pick = 100 * np.array([r["pick_accuracy"] for r in rows])
    source = 100 * np.array([r["source_only"] for r in rows])
    best = 100 * np.array([r["best"] for r in rows])
    drop = source - pick
    return (
        f"| {label} | {new} | {len(rows)} | {np.mean(best - pick):.2f} | "
        f"{100 * np.mean(drop > 1):.0f} % | {max(0.0, float(drop.max())):.1f} | "
        f"{np.mean(pick - source):+.2f} | "
        f"{100 * np.mean([r['kept_source_only'] for r in rows]):.0f} % | "
        f"{np.mean([r['seconds'] for r in rows]):.0f} |"
    )


def is_new(suite: str) -> bool:
    return SUITES.get(suite, (0, 0, 0, False))[3]


def table(runs: list[dict]) -> str:
    """Per suite, then every new suite's pairs pooled, then every pair of every suite pooled."""
    lines = [
        "| suite | new | pairs | regret | harm rate | worst drop | gain | kept source-only | "
        "seconds |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    suites = list(dict.fromkeys(r["suite"] for r in runs))
    for suite in suites:
        rows = [r for r in runs if r["suite"] == suite]
        lines.append(summary_row(suite, "yes" if is_new(suite) else "no", rows))
    if len(suites) > 1:
        new_suites = [suite for suite in suites if is_new(suite)]
        if len(new_suites) > 1:
            rows = [r for r in runs if r["suite"] in new_suites]
            lines.append(summary_row("**new suites, pooled**", "yes", rows))
        lines.append(summary_row("**all suites, pooled**", "", runs))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suite", choices=list(SUITES), action="append")
    parser.add_argument("--pairs", default="all", help="'all', or comma-separated src:tgt")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--json", help="write the runs here (resumes from an existing file)")
    parser.add_argument("--tables", nargs="*", help="only print the table of saved runs")
    args = parser.parse_args(argv)
    if args.tables:
        runs = []
        for path in args.tables:
            with open(path) as handle:
                runs.extend(json.load(handle))
        print(table(runs))
        return 0
    warnings.simplefilter("ignore")
    runs = []
    if args.json and os.path.exists(args.json):
        with open(args.json) as handle:
            runs = json.load(handle)
    done = {(r["suite"], r["pair"], r["seed"]) for r in runs}
    start = time.perf_counter()
    for suite in args.suite or [s for s, v in SUITES.items() if not v[3]]:
        pairs = (
            MULTI_SOURCE_PAIRS.get(suite) or standard_pairs(SUITES[suite][0])
            if args.pairs == "all"
            else [tuple(p.split(":")) for p in args.pairs.split(",")]
        )
        for source, target in pairs:
            for seed in [int(s) for s in args.seeds.split(",")]:
                if (suite, f"{source}->{target}", seed) in done:
                    continue
                run = run_pair(suite, source, target, seed)
                runs.append(run)
                print(
                    f"# {suite} {source}->{target} seed {seed}: pick {run['pick']} "
                    f"{100 * run['pick_accuracy']:.1f} % (source-only "
                    f"{100 * run['source_only']:.1f} %, best {100 * run['best']:.1f} %), "
                    f"{run['seconds']:.0f} s; {run['reason']}",
                    file=sys.stderr,
                    flush=True,
                )
                if args.json:
                    with open(args.json, "w") as handle:
                        json.dump(runs, handle)
    print(table(runs))
    print(
        f"\n{len(runs)} runs in {(time.perf_counter() - start) / 60:.1f} min on "
        f"{os.cpu_count()} CPU cores ({platform.machine()})."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
