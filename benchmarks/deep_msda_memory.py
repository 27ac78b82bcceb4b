"""Where the memory of ``msda_shallow_dann`` goes on one Amazon pair (issue 17, bug 9).

Usage: nice -n 10 python benchmarks/deep_msda_memory.py [--source books] [--target dvd]
       [--layers 5] [--epochs 1]
Runs the suite's setting (amazon-dann.toml: mSDA with 5 layers, then the shallow DANN) stage by
stage and prints, per stage, the peak of traced numpy/scipy allocations (tracemalloc) and the
process's peak resident memory so far, next to transferkit's up-front estimate.

On books->dvd (4,000 rows fitted, 3,586 test rows; one core, 2026-12-05) it printed: mSDA fit
2.57 GB traced (estimate 2.92), transform of source, target and test 6.80 GB traced, 6.88 GB peak
RSS; the shallow DANN then stayed below that peak. For these sizes MSDA's warning (its peak
formula, finished after that run) says 7.8 GB.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

from transferkit.datasets import load_pair
from transferkit.deep.shallow_dann import ShallowDANN
from transferkit.invariant import MSDA, msda_memory_estimate


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kilobytes on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="books")
    parser.add_argument("--target", default="dvd")
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()

    problem = load_pair("amazon-reviews", args.source, args.target, random_state=0)
    n_fit = problem.n_source + problem.X_target.shape[0]
    estimate = msda_memory_estimate(n_fit, problem.X_source.shape[1], n_layers=args.layers)
    print(f"pair {args.source}->{args.target}: {n_fit} rows to fit, test {problem.X_test.shape}")
    print(f"estimate: {estimate}")
    print("| stage | traced peak (GB) | process peak RSS so far (GB) | seconds |")
    print("| --- | ---: | ---: | ---: |")
    tracemalloc.start()
    adapter = MSDA(n_layers=args.layers, random_state=0)

    def stage(name, function):
        tracemalloc.reset_peak()
        start = time.perf_counter()
        out = function()
        peak = tracemalloc.get_traced_memory()[1] / 1e9
        seconds = time.perf_counter() - start
        print(f"| {name} | {peak:.2f} | {_peak_rss_gb():.2f} | {seconds:.0f} |", flush=True)
        return out

    stage("mSDA fit (source + target)", lambda: adapter.fit(problem))
    adapted = stage("mSDA transform (all rows)", lambda: problem.map_features(adapter.transform))
    stage(
        "shallow DANN fit",
        lambda: ShallowDANN(epochs=args.epochs, learning_rate="auto", random_state=0).fit(adapted),
    )


if __name__ == "__main__":
    main()
