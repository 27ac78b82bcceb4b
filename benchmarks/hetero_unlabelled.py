"""What the source and the target's unlabelled rows each add to 3 target labels per class.

With 3 labelled target rows per class on strong target features (EfficientNet-Lite0), ``hda_cca``
reading only those rows ties ``target_only`` (the suite ``office-caltech-hetero``). This script
asks whether anything
beyond those 30 labels helps, and what: for every pair of the suite (SURF source and CNN target
by default; ``--source-features``/``--target-features`` for the suite's other directions) and
every seed, it scores on the target rows whose labels no method sees

* ``target_only``: logistic regression on the 30 labelled target rows;
* ``target_only + self-training``: the same, then :class:`transferkit.self_training.SelfTraining`
  (its defaults: 3 rounds, the 80 % most confident rows of each predicted class) with the
  labelled target rows as its "source" and the unlabelled target rows as its "target" — the
  target's own unlabelled rows, no source row;
* ``hda_cca, labelled rows only``: the source through the class-paired CCA subspace with
  ``self_training_rounds=0`` (the suite's ``hda_cca_labelled_only``);
* ``hda_cca``: its defaults, which also pseudo-label the unlabelled target rows as
  ``SelfTraining`` does (3 rounds), the source still read: does the source add anything once
  the target's unlabelled rows are read?

Data and protocol: the suite's (20 source rows per class, 3 labelled target rows per class drawn
with the seed, the harness pre-processing of each side).

    TRANSFERKIT_DATA=../shared/datasets python benchmarks/hetero_unlabelled.py [--seeds 0 1 2 3 4] \
        [--source-features efficientnet_lite0 --target-features surf]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.linear_model import LogisticRegression

from transferkit.datasets import load_pair, standard_pairs
from transferkit.heterogeneous import CCAHDA
from transferkit.problem import TransferProblem
from transferkit.self_training import SelfTraining


def scores(source: str, target: str, seed: int, features: dict[str, str]) -> dict[str, float]:
    problem = load_pair(
        "office-caltech-hetero", source, target, random_state=seed, source_per_class=20, **features
    ).with_target_labels(3, random_state=seed)
    X_eval, y_eval = problem.evaluation_split()
    X_labeled, y_labeled = problem.labeled_target()
    target_only = LogisticRegression(max_iter=1000).fit(X_labeled, y_labeled)
    within_target = TransferProblem(
        X_source=X_labeled, y_source=y_labeled, X_target=X_eval, name="target rows"
    )
    self_trained = SelfTraining().fit(within_target)
    labelled_only = CCAHDA(self_training_rounds=0, random_state=seed).fit(problem)
    cca = CCAHDA(random_state=seed).fit(problem)
    return {
        "target_only": np.mean(target_only.predict(X_eval) == y_eval),
        "target_only + self-training": np.mean(self_trained.predict(X_eval) == y_eval),
        "hda_cca, labelled rows only": np.mean(labelled_only.predict(X_eval) == y_eval),
        "hda_cca": np.mean(cca.predict(X_eval) == y_eval),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--source-features", default="surf", help="surf (default) or a CNN")
    parser.add_argument("--target-features", default="efficientnet_lite0")
    args = parser.parse_args()
    features = {"source_features": args.source_features, "target_features": args.target_features}
    started = time.perf_counter()
    rows = {}
    for source, target in standard_pairs("office-caltech-hetero"):
        runs = [scores(source, target, seed, features) for seed in args.seeds]
        rows[f"{source} → {target}"] = {k: np.mean([r[k] for r in runs]) for k in runs[0]}
    names = list(next(iter(rows.values())))
    print("| pair | " + " | ".join(names) + " |")
    print("| --- |" + " ---: |" * len(names))
    for pair, row in rows.items():
        print(f"| {pair} | " + " | ".join(f"{100 * row[n]:.1f}" for n in names) + " |")
    means = [100 * np.mean([row[n] for row in rows.values()]) for n in names]
    print("| **mean** | " + " | ".join(f"**{m:.1f}**" for m in means) + " |")
    print(f"\n{len(rows)} pairs x {len(args.seeds)} seeds in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
