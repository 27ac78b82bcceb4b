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

The false-alarm table (``--null``) draws no-shift pairs from several generators (dense and
sparse, sizes, dimensions, class counts; see ``NULL_GENERATORS``), diagnoses each at level alpha,
and gives per generator the share of draws raising the covariate-shift flag and the worst flag,
each with a 95 % Wilson interval, and the power of the covariate flag on shifted pairs
(``POWER_GENERATORS``). It uses only the public ``diagnose``, so the same command measures an
older tree (``PYTHONPATH=old/src``) for a before/after comparison.

Usage:
    python benchmarks/calibration.py --null --draws 200 > false-alarms.md
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
from transferkit.diagnose.results import FLAGS  # noqa: E402

CURVE_EFFECTS = {
    ("dense", "covariate"): [0.25, 0.35],
    ("dense", "label"): [0.1, 0.15],
    ("dense", "conditional"): [0.1, 0.2],
    ("sparse", "vocabulary"): [0.02, 0.03],
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


# ----------------------------------------------------------------------------- false alarms
def _gaussian_pair(n_source, n_target, d, k, shift, rng):
    """Two samples of k Gaussian classes (means on a circle of radius 2, identity covariance).

    With ``shift`` > 0 the target moves by ``shift`` standard deviations along a random unit
    direction of the label-independent coordinates (covariate shift). Target labels are given,
    hidden from methods, as a user's files with labels would give them.
    """
    import numpy as np

    from transferkit.problem import TransferProblem

    angles = 2 * np.pi * np.arange(k) / k
    means = np.zeros((k, d))
    means[:, 0], means[:, 1] = 2 * np.cos(angles), 2 * np.sin(angles)
    ys, yt = rng.integers(0, k, n_source), rng.integers(0, k, n_target)
    Xs = means[ys] + rng.normal(size=(n_source, d))
    Xt = means[yt] + rng.normal(size=(n_target, d))
    if shift:
        direction = np.zeros(d)
        v = rng.normal(size=d - 2)
        direction[2:] = v / np.linalg.norm(v)
        Xt = Xt + shift * direction
    return TransferProblem(Xs, ys, Xt, yt, target_labeled=np.zeros(n_target, bool))


def _poisson_pair(n_source, n_target, d, k, rng):
    """Bag-of-words-like sparse counts: Zipf-like rates, k classes that double some rates."""
    import numpy as np
    import scipy.sparse as sp

    from transferkit.problem import TransferProblem

    base = 0.5 / (1.0 + np.arange(d) / 3.0)
    rates = np.tile(base, (k, 1))
    informative = max(k, d // 10)
    for c in range(k):
        rates[c, c:informative:k] *= 2.0
    ys, yt = rng.integers(0, k, n_source), rng.integers(0, k, n_target)
    Xs = sp.csr_matrix(rng.poisson(rates[ys]).astype(float))
    Xt = sp.csr_matrix(rng.poisson(rates[yt]).astype(float))
    return TransferProblem(Xs, ys, Xt, yt, target_labeled=np.zeros(n_target, bool))


def _planted_none(seed, family):
    from transferkit.diagnose.calibration import make_planted_problem

    return make_planted_problem("none", family=family, random_state=seed).problem


def _planted_covariate(seed, effect):
    from transferkit.diagnose.calibration import make_planted_problem

    return make_planted_problem("covariate", effect, random_state=seed).problem


#: No-shift generators: name -> problem(seed). The first is the pair of the bug report (two
#: Gaussian classes, 12 features, 1,200 rows each, target labels in the file).
NULL_GENERATORS = {
    "dense, 2 classes, 12-d, 1200 + 1200": lambda rng, seed: _gaussian_pair(
        1200, 1200, 12, 2, 0.0, rng
    ),
    "dense planted 'none' (3 classes, 10-d, 500 + 500, 50 target labels)": lambda rng, seed: (
        _planted_none(seed, "dense")
    ),
    "dense, 5 classes, 50-d, 300 + 300": lambda rng, seed: _gaussian_pair(
        300, 300, 50, 5, 0.0, rng
    ),
    "dense, 2 classes, 4-d, 2000 + 2000": lambda rng, seed: _gaussian_pair(
        2000, 2000, 4, 2, 0.0, rng
    ),
    "dense, 3 classes, 8-d, 400 + 1500 (unequal)": lambda rng, seed: _gaussian_pair(
        400, 1500, 8, 3, 0.0, rng
    ),
    "sparse planted 'none' (2 classes, 300 words, 500 + 500)": lambda rng, seed: _planted_none(
        seed, "sparse"
    ),
    "sparse, 3 classes, 600 words, 600 + 600": lambda rng, seed: _poisson_pair(
        600, 600, 600, 3, rng
    ),
}

#: Shifted generators for the power of the covariate-shift flag.
POWER_GENERATORS = {
    "dense planted covariate δ = 0.25": lambda rng, seed: _planted_covariate(seed, 0.25),
    "dense planted covariate δ = 0.5": lambda rng, seed: _planted_covariate(seed, 0.5),
    "dense, 2 classes, 12-d, 1200 + 1200, δ = 0.15": lambda rng, seed: _gaussian_pair(
        1200, 1200, 12, 2, 0.15, rng
    ),
}


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The 95 % Wilson score interval of a binomial proportion (Wilson, 1927)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _rate_cell(count: int, n: int) -> str:
    low, high = wilson_interval(count, n)
    return f"{100 * count / n:.1f} [{100 * low:.1f}, {100 * high:.1f}]"


def _flag_counts(generator, draws, seed, alpha, options):
    import numpy as np

    from transferkit.diagnose import diagnose

    counts = dict.fromkeys(FLAGS, 0)
    any_flag = 0
    for i in range(draws):
        problem = generator(np.random.default_rng(seed + i), seed + i)
        flags = diagnose(problem, alpha=alpha, random_state=seed + i, **options).flags
        raised = {f for f in FLAGS if flags[f]}
        for f in raised:
            counts[f] += 1
        any_flag += int(bool(raised - {"source_imbalance"}))
    return counts, any_flag


def _one_null(args):
    kind, name, draws, seed, alpha, options = args
    generators = NULL_GENERATORS if kind == "null" else POWER_GENERATORS
    start = time.perf_counter()
    counts, any_flag = _flag_counts(generators[name], draws, seed, alpha, options)
    return kind, name, counts, any_flag, time.perf_counter() - start


def false_alarm_benchmark(
    draws: int,
    alpha: float,
    seed: int,
    options: dict,
    jobs: int,
    power_draws: int | None = None,
    only: str = "",
) -> str:
    """Markdown: false-alarm rates per no-shift generator and covariate power, Wilson 95 % CIs.

    ``only`` keeps the generators whose name contains it; ``power_draws`` (default ``draws``)
    sets the draws of the shifted rows (0 leaves them out).
    """
    power_draws = draws if power_draws is None else power_draws
    tasks = [
        ("null", name, draws, seed, alpha, options) for name in NULL_GENERATORS if only in name
    ]
    if power_draws:
        tasks += [
            ("power", name, power_draws, seed, alpha, options)
            for name in POWER_GENERATORS
            if only in name
        ]
    if jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(jobs) as pool:
            results = list(pool.map(_one_null, tasks))
    else:
        results = []
        for task in tasks:
            results.append(_one_null(task))
            print(f"# {task[0]}: {task[1]} done", file=sys.stderr, flush=True)
    lines = [
        "| no-shift generator | draws | covariate shift flagged, % [95 % CI] | any other flag "
        "(source imbalance aside), % [95 % CI] | worst single flag | s/draw |",
        "| --- | ---: | --- | --- | --- | ---: |",
    ]
    for kind, name, counts, any_flag, seconds in results:
        if kind != "null":
            continue
        worst = max((f for f in FLAGS if f != "source_imbalance"), key=lambda f: counts[f])
        lines.append(
            f"| {name} | {draws} | {_rate_cell(counts['covariate_shift'], draws)} | "
            f"{_rate_cell(any_flag, draws)} | {worst} {100 * counts[worst] / draws:.1f} | "
            f"{seconds / draws:.2f} |"
        )
    draws = power_draws
    lines += [
        "",
        "| shifted generator | draws | covariate shift flagged (power), % [95 % CI] | s/draw |",
        "| --- | ---: | --- | ---: |",
    ]
    for kind, name, counts, _, seconds in results:
        if kind == "power":
            lines.append(
                f"| {name} | {draws} | {_rate_cell(counts['covariate_shift'], draws)} | "
                f"{seconds / draws:.2f} |"
            )
    return "\n".join(lines)


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
    parser.add_argument(
        "--power-draws", type=int, help="draws of the shifted rows of --null (default --draws)"
    )
    parser.add_argument("--only", default="", help="--null: generators whose name contains this")
    parser.add_argument(
        "--null",
        action="store_true",
        help="false alarms on no-shift generators (and covariate power), with Wilson intervals",
    )
    args = parser.parse_args(argv)
    if args.null:
        start = time.perf_counter()
        options = {"n_permutations": args.permutations, "n_bootstrap": args.bootstrap}
        print(
            false_alarm_benchmark(
                args.draws, args.alpha, args.seed, options, args.jobs, args.power_draws, args.only
            )
        )
        print()
        print(
            f"{args.draws} draws per no-shift row, {args.power_draws or args.draws} per shifted "
            f"row (seeds from {args.seed}) at "
            f"alpha = {args.alpha} in {(time.perf_counter() - start) / 60:.1f} min on "
            f"{os.cpu_count()} CPU cores, {args.jobs} worker(s); MMD/label-test permutations "
            f"{args.permutations}, bootstrap {args.bootstrap}."
        )
        return 0
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
        s: i
        for i, s in enumerate(
            ["none", "covariate", "label", "conditional", "feature_space", "vocabulary"]
        )
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
