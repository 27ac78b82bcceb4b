"""Digits (learning from simulation): deep methods vs source-only and the target oracle.

Usage: nice -n 10 python benchmarks/deep_digits.py [--pairs synthetic:mnist,...] [--methods ...]
       [--n 2000] [--epochs 10] [--seed 0] [--threads 1] [--params '{"dann": {"trade_off": 0.3}}']
Each method trains the same LeNet (128-d representation, Adam 1e-3, batch 64, no early stopping,
domain-specific batch norm) on n labelled source and n unlabelled target images, and is scored on
1,000 target test images. Prints a markdown table: accuracy, share of the source-only → oracle gap
closed, and seconds per method.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from transferkit.datasets import load_pair
from transferkit.registry import make_method

METHODS = ("deep_source_only", "deep_oracle", "ddc", "dan", "deep_coral", "dann",
           "domain_confusion", "adda", "mcc", "self_ensembling")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", default="synthetic:mnist")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--params", default="{}", help="JSON: {method: {param: value}}")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    extra = json.loads(args.params)
    methods = args.methods.split(",")
    print(
        f"n_source = n_target = {args.n}, n_test = 1000, epochs = {args.epochs}, "
        f"seed = {args.seed}, torch threads = {args.threads}, extra params = {extra}"
    )
    for pair in args.pairs.split(","):
        source, target = pair.split(":")
        problem = load_pair(
            "digits",
            source,
            target,
            random_state=args.seed,
            n_source=args.n,
            n_target=args.n,
            n_test=1000,
        )
        rows = []
        for name in methods:
            params = {"epochs": args.epochs, "patience": None, **extra.get(name, {})}
            model = make_method(name, params, random_state=args.seed)
            started = time.perf_counter()
            if name == "deep_oracle":
                accuracy = model.score_problem(problem)
            else:
                model.fit(problem)
                accuracy = float(np.mean(model.predict(problem.X_test) == problem.y_test))
            seconds = time.perf_counter() - started
            rows.append((name, 100 * accuracy, seconds))
            print(f"  {source}→{target} {name}: {100 * accuracy:.1f} ({seconds:.0f} s)", flush=True)
        scores = {name: accuracy for name, accuracy, _ in rows}
        floor = scores.get("deep_source_only")
        ceiling = scores.get("deep_oracle")
        print(f"\n{source} → {target}\n")
        print("| method | target accuracy | gap closed | seconds | s/epoch |")
        print("| --- | --- | --- | --- | --- |")
        for name, accuracy, seconds in rows:
            gap = ""
            if floor is not None and ceiling is not None and ceiling > floor:
                gap = f"{100 * (accuracy - floor) / (ceiling - floor):.0f} %"
            print(
                f"| {name} | {accuracy:.1f} | {gap} | {seconds:.0f} | {seconds / args.epochs:.1f} |"
            )


if __name__ == "__main__":
    main()
