"""Multi-source adaptation: Office-Caltech10 leave-one-domain-out, and digits.

Usage: nice -n 10 python benchmarks/multisource.py [--features both] [--classifier 1nn]
       [--seeds 1,2,3,4,5,6,7,8,9] [--deep [--m3sda-params JSON]]
       nice -n 10 python benchmarks/multisource.py --dataset digits [--classifier logreg]
       [--seeds 0,1,2] [--deep [--m3sda-params JSON]]

For each target domain the three others are the sources, loaded as
``load_pair("office-caltech-images", "a+b+c", target, features=..., source_per_class="harness")``
(``--features surf`` reads ``office-caltech-surf`` instead): the harness protocol of
docs/protocols.md, each source with its own draw of 20 labelled images per class (8 from dslr), the
whole target as adaptation and test set. Columns: each source alone (``source_only`` on it; the
table gives the best one, picked with the target labels, and their mean), the sources pooled
(``source_only`` on the combined problem), and the registered multi-source methods with their
defaults (``ms_refined``: ``ms_jcpot``'s target labels refined by the target's class centroids). Accuracy in %, mean over seeds; the last row is the mean over the four targets.
``--deep`` adds the deep pair instead: ``deep_source_only`` (the MLP of transferkit.deep on the
pooled sources) and ``m3sda`` (the same network with M3SDA's moment distance, its defaults), 30
epochs each, on one CPU thread; ``--m3sda-params '{"trade_off": 1}'`` sets m3sda's parameters
over its defaults.

``--dataset digits`` runs the two digits settings instead, ``load_pair("digits",
"synthetic+uci", "mnist")`` and ``load_pair("digits", "mnist+synthetic", "mnistm")`` (each source
2,000 images, or all 1,797 UCI digits, drawn as in its single-source pair; 2,000 unlabelled target
images, scored on 1,000 separate test images); ``--deep`` trains the LeNet of the digits-deep
suite for 10 epochs.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

from transferkit.datasets import load_pair
from transferkit.multisource import split_sources
from transferkit.registry import make_method

DOMAINS = ("amazon", "caltech10", "dslr", "webcam")
DIGITS_SETTINGS = (("synthetic+uci", "mnist"), ("mnist+synthetic", "mnistm"))
METHODS = ("ms_weighted", "ms_moments", "ms_jcpot", "ms_refined")


def accuracy(model, problem) -> float:
    X, y = problem.evaluation_split()
    return 100.0 * float(np.mean(model.predict(X) == y))


def run_target(
    target: str,
    features: str,
    classifier: str,
    seed: int,
    deep: bool = False,
    sources: str | None = None,
    m3sda_params: dict[str, Any] | None = None,
) -> dict[str, float]:
    deep_params: dict[str, Any] = {"epochs": 30}
    if features == "digits":
        problem = load_pair("digits", sources, target, random_state=seed)
        deep_params = {"epochs": 10, "patience": 0}  # the digits-deep budget
    elif features == "surf":
        sources = "+".join(d for d in DOMAINS if d != target)
        problem = load_pair(
            "office-caltech-surf", sources, target, random_state=seed, source_per_class="harness"
        )
    else:
        sources = "+".join(d for d in DOMAINS if d != target)
        problem = load_pair(
            "office-caltech-images",
            sources,
            target,
            random_state=seed,
            features=features,
            source_per_class="harness",
        )
    row: dict[str, float] = {}
    if deep:
        for name in ("deep_source_only", "m3sda"):
            params = {**deep_params, **(m3sda_params or {})} if name == "m3sda" else deep_params
            model = make_method(name, params, random_state=seed)
            row[name] = accuracy(model.fit(problem), problem)
        return row
    single = []
    for single_problem in split_sources(problem).values():
        model = make_method("source_only", classifier=classifier, random_state=seed)
        single.append(accuracy(model.fit(single_problem), problem))
    row["best single"] = max(single)
    row["mean single"] = float(np.mean(single))
    model = make_method("source_only", classifier=classifier, random_state=seed)
    row["pooled"] = accuracy(model.fit(problem), problem)
    for name in METHODS:
        model = make_method(name, classifier=classifier, random_state=seed)
        row[name] = accuracy(model.fit(problem), problem)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", default="both")
    parser.add_argument("--classifier", default="1nn")
    parser.add_argument("--seeds", default="1,2,3,4,5,6,7,8,9")
    parser.add_argument("--deep", action="store_true")
    parser.add_argument("--dataset", choices=("office-caltech", "digits"), default="office-caltech")
    parser.add_argument(
        "--m3sda-params",
        type=json.loads,
        default=None,
        help="JSON object of m3sda parameters over its defaults (with --deep)",
    )
    args = parser.parse_args()
    if args.deep:
        import torch

        torch.set_num_threads(1)  # one core per run on the shared 2-core machine
    seeds = [int(s) for s in args.seeds.split(",")]
    start = time.time()
    table = {}
    if args.dataset == "digits":
        args.features = "digits"
        settings = [(target, sources) for sources, target in DIGITS_SETTINGS]
    else:
        settings = [(target, None) for target in DOMAINS]
    for target, sources in settings:
        name = target if sources is None else f"{sources} -> {target}"
        rows = []
        for seed in seeds:
            rows.append(
                run_target(
                    target,
                    args.features,
                    args.classifier,
                    seed,
                    args.deep,
                    sources,
                    args.m3sda_params,
                )
            )
            print(f"{name} seed {seed}: {rows[-1]}", flush=True)
        table[name] = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    columns = list(next(iter(table.values())))
    print(
        f"features={args.features} classifier={args.classifier} seeds={seeds} deep={args.deep}"
        f" m3sda_params={args.m3sda_params}"
    )
    print("| target | " + " | ".join(columns) + " |")
    print("| --- " * (len(columns) + 1) + "|")
    for target, row in table.items():
        print(f"| {target} | " + " | ".join(f"{row[c]:.1f}" for c in columns) + " |")
    means = {c: np.mean([row[c] for row in table.values()]) for c in columns}
    print("| **mean** | " + " | ".join(f"{means[c]:.1f}" for c in columns) + " |")
    print(f"wall time {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
