"""Calibration of `transferkit diagnose` on problems with planted shifts.

For each planted scenario (none; covariate only; label only; conditional; feature-space mismatch)
draw fresh problems, diagnose each at level alpha, and report how often each flag is raised:
the planted flag's rate is the power, every other rate a false-positive rate (all of them for
"none"). Goal: false positives <= 5 % at alpha = 0.05 over 100 draws, power >= 90 % at the
documented effect sizes (see transferkit.diagnose.calibration for the generators and units).

The same script measures the label-shift remedies (``--label-shift``): target accuracy of a
source classifier, of its posteriors corrected to target priors estimated by EM or BBSE (or, as a
ceiling, to the true priors), and of the source resampled to the estimated priors, on planted
label shift and on real data whose target class balance was altered.

Usage:
    python benchmarks/calibration.py --draws 100 --jobs 2 > calibration.md
    python benchmarks/calibration.py --draws 100 --curve   # also power at other effect sizes
    TRANSFERKIT_DATA=../shared/datasets python benchmarks/calibration.py --label-shift --draws 10
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

from transferkit.diagnose.calibration import (  # noqa: E402
    DEFAULT_EFFECTS,
    EFFECT_UNITS,
    CalibrationRow,
    calibrate,
)
from transferkit.diagnose.scenarios import FLAGS  # noqa: E402

CURVE_EFFECTS = {
    ("dense", "covariate"): [0.25, 0.35],
    ("dense", "label"): [0.1, 0.15],
    ("dense", "conditional"): [0.1, 0.2],
    ("sparse", "feature_space"): [0.02, 0.03],
}

SHORT = {
    "feature_space": "feat. space",
    "covariate_shift": "covariate",
    "label_space": "label space",
    "label_shift": "label shift",
    "conditional_shift": "conditional",
    "source_imbalance": "src. imbalance",
}


def _one(args: tuple) -> CalibrationRow:
    family, scenario, effect, draws, alpha, seed, options = args
    return calibrate([(family, scenario, effect)], draws, alpha, seed, options)[0]


def markdown(rows: list[CalibrationRow], alpha: float) -> str:
    head = (
        "| family | planted | effect | draws | "
        + " | ".join(SHORT[f] for f in FLAGS)
        + " | power | worst false-positive |"
    )
    lines = [head, "|" + " --- |" * (len(FLAGS) + 6)]
    for r in rows:
        cells = []
        for f in FLAGS:
            text = f"{100 * r.rates[f]:.0f}"
            cells.append(f"**{text}**" if f in r.planted else text)
        power = "–" if r.power is None else f"{100 * r.power:.0f}"
        effect = "–" if r.scenario == "none" else f"{r.effect:g}"
        lines.append(
            f"| {r.family} | {r.scenario} | {effect} | {r.draws} | "
            + " | ".join(cells)
            + f" | {power} | {100 * r.worst_false_positive:.0f} |"
        )
    lines.append("")
    lines.append(
        f"Rates in % of draws at alpha = {alpha}; **bold** = the planted flag (power). "
        "Effect units: " + "; ".join(f"{k}: {v}" for k, v in EFFECT_UNITS.items() if v) + "."
    )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- label shift
def _altered_target(y, rng, favoured, thin):
    """Indices keeping every sample of the ``favoured`` classes and a share ``thin`` of the rest."""
    import numpy as np

    keep = np.isin(y, favoured) | (rng.random(len(y)) < thin)
    return np.flatnonzero(keep)


def _real_label_shift_tasks():
    """(name, loader) pairs; a loader(seed) returns Xs, ys, Xt, yt with the target's balance altered.

    Within one domain (pure label shift: P(X|Y) unchanged) and across domains (label shift on top
    of the domain's own shift, where the assumption of BBSE/EM fails).
    """
    import numpy as np
    from sklearn.datasets import load_digits

    def digits(seed):
        X, y = load_digits(return_X_y=True)
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(y))
        source, rest = order[:900], order[900:]
        target = rest[_altered_target(y[rest], rng, [3, 5, 8], 0.1)]
        return X[source], y[source], X[target], y[target]

    def office(seed, source_domain="caltech10", target_domain=None):
        from transferkit.datasets import load_office_caltech_surf
        from transferkit.datasets.office import harness_preprocess

        rng = np.random.default_rng(seed)
        X, y = load_office_caltech_surf(source_domain)
        X = harness_preprocess(X)
        if target_domain is None:
            order = rng.permutation(len(y))
            source, rest = order[: len(y) // 2], order[len(y) // 2 :]
            target = rest[_altered_target(y[rest], rng, [0, 1, 2, 3, 4], 0.2)]
            return X[source], y[source], X[target], y[target]
        Xt, yt = load_office_caltech_surf(target_domain)
        Xt = harness_preprocess(Xt)
        target = _altered_target(yt, rng, [0, 1, 2, 3, 4], 0.2)
        return X, y, Xt[target], yt[target]

    def amazon(seed):
        from transferkit.datasets import load_amazon_reviews

        rng = np.random.default_rng(seed)
        Xs, ys = load_amazon_reviews("books", "train")
        Xt, yt = load_amazon_reviews("books", "test")
        target = _altered_target(yt, rng, [1], 0.25)
        return Xs, ys, Xt[target], yt[target]

    return [
        ("digits (UCI), within domain: 3/5/8 kept, others 10%", digits, "logreg"),
        ("digits (UCI), within domain: 3/5/8 kept, others 10%", digits, "pca8+logreg"),
        (
            "office-caltech SURF caltech10, within domain: classes 0-4 kept, others 20%",
            office,
            "logreg",
        ),
        (
            "office-caltech SURF amazon -> webcam: classes 0-4 kept, others 20%",
            lambda seed: office(seed, "amazon", "webcam"),
            "logreg",
        ),
        ("amazon reviews books, within domain: positives kept, negatives 25%", amazon, "logreg"),
    ]


def _label_shift_models(kind):
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MaxAbsScaler, StandardScaler

    if kind == "pca8+logreg":
        return make_pipeline(PCA(8, random_state=0), LogisticRegression(max_iter=3000))
    if kind == "sparse":
        return make_pipeline(MaxAbsScaler(), LogisticRegression(max_iter=3000, solver="liblinear"))
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=0.1))


def _label_shift_scores(Xs, ys, Xt, yt, model, seed):
    """Accuracies on the target of the plain model and of each remedy."""
    import numpy as np
    import scipy.sparse as sp
    from sklearn.base import clone

    from transferkit.label_shift import LabelShiftCorrector, ResampledMethod, adjust_proba
    from transferkit.problem import TransferProblem

    if sp.issparse(Xs):
        model = _label_shift_models("sparse")
    problem = TransferProblem(Xs, ys, Xt, yt)
    plain = clone(model).fit(Xs, ys)
    scores = {"source model": float(np.mean(plain.predict(Xt) == yt))}
    em = LabelShiftCorrector(model, method="em", random_state=seed).fit(problem)
    scores["EM + BCTS"] = float(np.mean(em.predict(Xt) == yt))
    bbse = LabelShiftCorrector(model, method="bbse", random_state=seed).fit(problem)
    scores["BBSE"] = float(np.mean(bbse.predict(Xt) == yt))
    truth = np.array([np.mean(yt == c) for c in em.classes_])
    oracle = adjust_proba(em.source_proba(Xt), em.source_priors_, truth)
    scores["true priors (ceiling)"] = float(np.mean(em.classes_[oracle.argmax(1)] == yt))
    resampled = ResampledMethod(
        "source_only", "random_under", target="target_priors", classifier=model, random_state=seed
    ).fit(problem)
    scores["resampled to EM priors"] = float(np.mean(resampled.predict(Xt) == yt))
    errors = {
        "EM": float(0.5 * np.abs(em.target_priors_ - truth).sum()),
        "BBSE": float(0.5 * np.abs(bbse.target_priors_ - truth).sum()),
    }
    return scores, errors


def label_shift_benchmark(draws: int, effects=(0.1, 0.2, 0.3, 0.4)) -> str:
    """Markdown tables of the label-shift remedies' accuracy (planted and real)."""
    import numpy as np

    from transferkit.diagnose.calibration import make_planted_problem

    columns = [
        "source model",
        "EM + BCTS",
        "BBSE",
        "resampled to EM priors",
        "true priors (ceiling)",
    ]

    def table(rows):
        lines = [
            "| data | classifier | draws | "
            + " | ".join(columns)
            + " | prior error EM / BBSE (TV) |",
            "|" + " --- |" * (len(columns) + 4),
        ]
        for name, kind, results in rows:
            acc = {c: 100 * np.array([r[0][c] for r in results]) for c in columns}
            err = {k: np.array([r[1][k] for r in results]) for k in ("EM", "BBSE")}
            base = acc["source model"]
            cells = [f"{base.mean():.1f} ± {base.std():.1f}"]
            for c in columns[1:]:
                gain = acc[c] - base
                cells.append(f"{acc[c].mean():.1f} ({gain.mean():+.1f})")
            lines.append(
                f"| {name} | {kind} | {len(results)} | "
                + " | ".join(cells)
                + f" | {err['EM'].mean():.3f} / {err['BBSE'].mean():.3f} |"
            )
        return "\n".join(lines)

    planted_rows = []
    for effect in effects:
        results = []
        for seed in range(draws):
            p = make_planted_problem("label", effect=effect, random_state=seed, n_target=1000)
            results.append(
                _label_shift_scores(
                    p.X_source, p.y_source, p.X_test, p.y_test, _label_shift_models("logreg"), seed
                )
            )
        planted_rows.append((f"planted label shift, TV = {effect:g}", "logreg", results))
        print(f"# planted {effect} done", file=sys.stderr, flush=True)
    real_rows = []
    for name, loader, kind in _real_label_shift_tasks():
        try:
            results = [
                _label_shift_scores(*loader(seed), _label_shift_models(kind), seed)
                for seed in range(draws)
            ]
        except Exception as error:  # a missing data file: say so in the table
            print(f"# {name}: skipped ({error})", file=sys.stderr)
            continue
        real_rows.append((name, kind, results))
        print(f"# {name} {kind} done", file=sys.stderr, flush=True)
    return (
        "Planted (dense generator of `transferkit.diagnose.calibration`, 3 classes, source "
        "uniform; the source model is evaluated on 1,000 target test samples; the target priors "
        "are estimated from the same test samples, unlabelled):\n\n"
        + table(planted_rows)
        + "\n\nReal data, target class balance altered (target accuracy, transductive):\n\n"
        + table(real_rows)
        + "\n\nCells: mean target accuracy in % (gain over the source model in points); "
        "prior error = total variation between estimated and true target priors."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=100)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--permutations", type=int, default=100)
    parser.add_argument("--bootstrap", type=int, default=50)
    parser.add_argument("--curve", action="store_true", help="power at smaller effects too")
    parser.add_argument("--family", choices=["dense", "sparse", "both"], default="both")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument(
        "--label-shift", action="store_true", help="measure the label-shift remedies instead"
    )
    args = parser.parse_args(argv)
    if args.label_shift:
        start = time.perf_counter()
        print(label_shift_benchmark(args.draws))
        print()
        print(
            f"{args.draws} draws per row in {(time.perf_counter() - start) / 60:.1f} min on "
            f"{os.cpu_count()} CPU cores; seeds 0..{args.draws - 1}."
        )
        return 0

    families = ["dense", "sparse"] if args.family == "both" else [args.family]
    specs = [(f, s, None) for f in families for s in DEFAULT_EFFECTS[f]]
    if args.curve:
        specs += [(f, s, e) for (f, s), es in CURVE_EFFECTS.items() if f in families for e in es]
    options = {"n_permutations": args.permutations, "n_bootstrap": args.bootstrap}
    jobs = [(f, s, e, args.draws, args.alpha, args.seed, options) for f, s, e in specs]
    start = time.perf_counter()
    if args.jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(args.jobs) as pool:
            rows = list(pool.map(_one, jobs))
    else:
        rows = []
        for job in jobs:
            rows.append(_one(job))
            print(f"# {job[0]}/{job[1]} effect={job[2]} done", file=sys.stderr, flush=True)
    order = {
        s: i for i, s in enumerate(["none", "covariate", "label", "conditional", "feature_space"])
    }
    rows.sort(key=lambda r: (r.family != "dense", order[r.scenario], r.effect))
    elapsed = time.perf_counter() - start
    print(markdown(rows, args.alpha))
    print()
    print(
        f"{len(rows)} rows x {args.draws} draws in {elapsed / 60:.1f} min on "
        f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), "
        f"{args.jobs} worker(s); MMD/label-test permutations {args.permutations}, "
        f"bootstrap {args.bootstrap}, seed {args.seed}."
    )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(
                [
                    {
                        "family": r.family,
                        "scenario": r.scenario,
                        "effect": r.effect,
                        "draws": r.draws,
                        "rates": r.rates,
                        "planted": list(r.planted),
                        "seconds": r.seconds,
                    }
                    for r in rows
                ],
                handle,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
