"""Quick accuracy loop for the shallow methods, printing each pair as it finishes.

A developer's tool for iterating on methods and choosing hyper-parameters once for all pairs;
the tables in docs/benchmarks.md come from ``transferkit bench`` (commands shown there).

    TRANSFERKIT_DATA=../shared/datasets python benchmarks/shallow_eval.py office-caltech-surf \
        --methods source_only,sa,tca --params "{'sa': {'n_components': 80}}"

A method may appear several times as ``name@tag`` with its own parameters in ``--params``.
"""

from __future__ import annotations

import argparse
import ast
import time

import numpy as np

OPTIONS = {
    "office-caltech-surf": {"preprocess": "harness", "source_per_class": "harness"},
    "amazon-reviews": {},
    "digits": {"n_source": 2000, "n_target": 2000, "n_test": 1000},
}


def main() -> None:
    from transferkit.datasets import dataset_info, load_pair
    from transferkit.registry import make_method

    parser = argparse.ArgumentParser()
    parser.add_argument("dataset", choices=sorted(OPTIONS))
    parser.add_argument("--methods", default="source_only,coral,sa,tca,ot,jda")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--classifier", default="1nn")
    parser.add_argument("--pairs", default=None, help="src:tgt,... (default: all standard pairs)")
    parser.add_argument("--params", default="{}", help="dict literal: method[@tag] -> params")
    args = parser.parse_args()
    params = ast.literal_eval(args.params)
    methods = args.methods.split(",")
    classifier = (
        ast.literal_eval(args.classifier) if args.classifier.startswith("{") else args.classifier
    )
    pairs = (
        [tuple(p.split(":")) for p in args.pairs.split(",")]
        if args.pairs
        else dataset_info(args.dataset).pairs
    )
    means: dict[str, list[float]] = {m: [] for m in methods}
    times = {m: 0.0 for m in methods}
    print(f"{'pair':24} " + " ".join(f"{m[:12]:>12}" for m in methods), flush=True)
    for source, target in pairs:
        scores: dict[str, list[float]] = {m: [] for m in methods}
        for seed in range(args.seeds):
            problem = load_pair(
                args.dataset, source, target, random_state=seed, **OPTIONS[args.dataset]
            )
            X_eval, y_eval = problem.evaluation_split()
            for name in methods:
                model = make_method(
                    name.split("@")[0], params.get(name, {}), classifier, random_state=seed
                )
                start = time.perf_counter()
                model.fit(problem)
                scores[name].append(100 * np.mean(model.predict(X_eval) == y_eval))
                times[name] += time.perf_counter() - start
        for name in methods:
            means[name].append(float(np.mean(scores[name])))
        print(
            f"{source + '->' + target:24} " + " ".join(f"{means[m][-1]:12.1f}" for m in methods),
            flush=True,
        )
    print(f"{'mean':24} " + " ".join(f"{np.mean(means[m]):12.2f}" for m in methods))
    print(f"{'time (s)':24} " + " ".join(f"{times[m]:12.1f}" for m in methods))


if __name__ == "__main__":
    main()
