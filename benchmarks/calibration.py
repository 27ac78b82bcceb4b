"""Calibration of `transferkit diagnose` on problems with planted shifts.

For each planted scenario (none; covariate only; label only; conditional; feature-space mismatch)
draw fresh problems, diagnose each at level alpha, and report how often each flag is raised:
the planted flag's rate is the power, every other rate a false-positive rate (all of them for
"none"). Goal: false positives <= 5 % at alpha = 0.05 over 100 draws, power >= 90 % at the
documented effect sizes (see transferkit.diagnose.calibration for the generators and units).

Usage:
    python benchmarks/calibration.py --draws 100 --jobs 2 > calibration.md
    python benchmarks/calibration.py --draws 100 --curve   # also power at other effect sizes
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
    args = parser.parse_args(argv)

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
