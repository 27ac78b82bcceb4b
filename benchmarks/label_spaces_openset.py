"""OS, OS*, unknown accuracy and HOS of the open-set methods on the office-caltech-openset suite's
data (the suite itself stores HOS only): the table of docs/benchmarks.md, "Different label spaces".

Usage: python benchmarks/label_spaces_openset.py [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
from itertools import permutations

import numpy as np

from transferkit.datasets import load_pair
from transferkit.evaluation import open_set_scores
from transferkit.registry import make_method

DOMAINS = ("amazon", "caltech10", "dslr", "webcam")
OPTIONS = {
    "features": "efficientnet_lite0",
    "source_per_class": "harness",
    "known_classes": [0, 1, 2, 3, 4, 5],
    "unknown_classes": [6, 7, 8, 9],
}
METHODS = {
    "source_only_threshold": {"threshold": "source_quantile", "quantile": 0.05},
    "open_set_mixture": {"threshold": "target_mixture"},
    "open_set_entropy": {"confidence": "entropy", "threshold": "target_mixture"},
    "coral_open_set": {"method": "coral", "params": {"regularization": 1.0}},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", default="0,1,2")
    seeds = [int(s) for s in parser.parse_args().seeds.split(",")]
    scores: dict[str, list[dict[str, float]]] = {name: [] for name in METHODS}
    for source, target in permutations(DOMAINS, 2):
        for seed in seeds:
            problem = load_pair(
                "office-caltech-images", source, target, random_state=seed, **OPTIONS
            )
            for name, params in METHODS.items():
                model = make_method("open_set", params, "logreg", random_state=seed).fit(problem)
                scores[name].append(
                    open_set_scores(problem.y_target, model.predict(problem.X_target))
                )
    print(f"12 pairs x seeds {seeds}: means in %")
    print("| method | OS | OS* | unknown | HOS |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, rows in scores.items():
        mean = {key: 100 * np.mean([row[key] for row in rows]) for key in rows[0]}
        print(
            f"| {name} | {mean['os']:.1f} | {mean['os_star']:.1f} | {mean['unknown']:.1f} "
            f"| {mean['hos']:.1f} |"
        )


if __name__ == "__main__":
    main()
