"""Every shallow method with its default parameters on every built-in feature dataset.

Checks what the defaults promise: no crash, no NaN, no degenerate result (a constant prediction),
and prints accuracy and fit time per (dataset, method), with source-only beside it.

    TRANSFERKIT_DATA=../shared/datasets python benchmarks/shallow_defaults.py
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

DATASETS = {
    "moons": ("source", "rotated", {}),
    "blobs": ("source", "target", {}),
    "digits": ("mnist", "mnistm", {"n_source": 2000, "n_target": 2000, "n_test": 1000}),
    "office-caltech-surf": (
        "amazon",
        "webcam",
        {"preprocess": "harness", "source_per_class": "harness"},
    ),
    "amazon-reviews": ("books", "kitchen", {}),
}
METHODS = (
    "source_only",
    "coral",
    "sa",
    "tca",
    "jda",
    "jda_ot",
    "ot",
    "msda",
    "kmm",
    "kliep",
    "density_ratio",
)


def main() -> None:
    from transferkit.datasets import load_pair
    from transferkit.registry import make_method

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--methods", default=",".join(METHODS))
    args = parser.parse_args()
    print("| dataset | method | accuracy % | fit s | classes predicted | status |")
    print("| --- | --- | ---: | ---: | ---: | --- |")
    for name in args.datasets.split(","):
        source, target, options = DATASETS[name]
        problem = load_pair(name, source, target, random_state=0, **options)
        X, y = problem.evaluation_split()
        for method in args.methods.split(","):
            model = make_method(method, classifier="logreg", random_state=0)
            start = time.perf_counter()
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    model.fit(problem)
                    predicted = model.predict(X)
                    probabilities = model.predict_proba(X)
            except Exception as error:  # report, keep going
                print(f"| {name} | {method} | | | | {type(error).__name__}: {error} |", flush=True)
                continue
            seconds = time.perf_counter() - start
            n_classes = len(np.unique(predicted))
            status = "ok"
            if not np.isfinite(probabilities).all():
                status = "NaN in predict_proba"
            elif n_classes == 1:
                status = "constant prediction"
            elif caught:
                status = f"ok ({len(caught)} warnings: {str(caught[0].message)[:60]})"
            accuracy = 100 * np.mean(predicted == y)
            print(
                f"| {name} | {method} | {accuracy:.1f} | {seconds:.1f} | {n_classes} | {status} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
