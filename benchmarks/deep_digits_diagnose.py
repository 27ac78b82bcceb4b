"""Why do the alignment methods barely help on digits? Label-free training logs per method.

Usage: nice -n 10 python benchmarks/deep_digits_diagnose.py [--pair synthetic:mnist]
       [--methods deep_source_only,dann,...] [--n 2000] [--epochs 10] [--threads 1]
       [--params '{"name": {"param": value}}']
Trains each method as benchmarks/deep_digits.py does and prints, per epoch, the logs the training
loop keeps (losses, domain classifier accuracy, share of confident target predictions, source
validation accuracy): signals a user has without target labels. The final target test accuracy is
printed last, for the record only; nothing here picks a setting from it.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from transferkit.datasets import load_pair
from transferkit.registry import make_method


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pair", default="synthetic:mnist")
    parser.add_argument("--methods", default="deep_source_only,dann,dan")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--params", default="{}", help="JSON: {label: {param: value}}; a label "
                        "is a method name or name@anything to run one method twice")  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    extra = json.loads(args.params)
    source, target = args.pair.split(":")
    problem = load_pair(
        "digits", source, target, random_state=args.seed, n_source=args.n, n_target=args.n,
        n_test=1000,
    )  # fmt: skip
    labels = args.methods.split(",")
    labels += [label for label in extra if label not in labels]
    for label in labels:
        name = label.split("@")[0]
        params = {"epochs": args.epochs, "patience": None, **extra.get(label, {})}
        model = make_method(name, params, random_state=args.seed)
        started = time.perf_counter()
        model.fit(problem)
        seconds = time.perf_counter() - started
        print(f"\n{label} {extra.get(label, {})} ({seconds:.0f} s)")
        for epoch, logs in enumerate(model.history_.epochs):
            print(f"  epoch {epoch + 1}: " + ", ".join(f"{k} {v:.3f}" for k, v in logs.items()))
        accuracy = float(np.mean(model.predict(problem.X_test) == problem.y_test))
        print(f"  target test accuracy (record only): {100 * accuracy:.1f}", flush=True)


if __name__ == "__main__":
    main()
