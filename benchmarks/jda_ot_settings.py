"""Choose ``jda_ot``'s settings for the Office-Caltech SURF harness without target labels.

Every setting of a small grid (JDA subspace size, pseudo-labeller, OT's entropic and class
regularisation) is fitted on each of the 12 pairs for a few source draws, exactly as the suite
runs it (harness protocol, transductive, 1-NN). Each setting gets two label-free scores per
problem:

* **EnsV** (transferkit's default validator): agreement of its target predictions with the
  majority vote of all settings on that problem;
* **reverse validation** (Zhong et al. 2010): a 1-NN trained on the target with the setting's
  predicted labels, scored on the (adapted) labelled source.

The setting with the best mean EnsV score over all pairs and draws is the one the suite uses, fixed
once for all pairs. The target accuracy of every setting is printed too (it uses the target labels)
only to show how far the label-free pick lies from the best setting in hindsight.

    TRANSFERKIT_DATA=../shared/datasets python benchmarks/jda_ot_settings.py --seeds 0,1
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from peers import problems as harness_problems  # noqa: E402  (benchmarks/peers.py)
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402

from transferkit.alignment import JDA, OTMapping  # noqa: E402
from transferkit.datasets import dataset_info  # noqa: E402
from transferkit.problem import TransferProblem  # noqa: E402

GRID = {
    "n_components": [20, 30],
    "pseudo_labels": ["logreg", "1nn"],
    "reg_e": [0.2, 0.5, 1.0, 2.0],
    "reg_cl": [0.5, 1.0, 2.0],
}


def settings() -> list[dict]:
    keys = list(GRID)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*GRID.values())]


def predictions(problem: TransferProblem, grid: list[dict]) -> dict[int, tuple]:
    """Target predictions and reverse-validation accuracy of every setting on one problem; the
    JDA embedding is shared by the settings that differ only in OT's parameters."""
    out = {}
    zeros = np.zeros(problem.n_source, dtype=int)
    embeddings = {}
    for index, setting in enumerate(grid):
        key = (setting["n_components"], setting["pseudo_labels"])
        if key not in embeddings:
            labeler = (
                LogisticRegression(max_iter=1000) if setting["pseudo_labels"] == "logreg" else None
            )
            jda = JDA(
                n_components=setting["n_components"],
                regularization=1.0,
                n_iterations=10,
                pseudo_label_estimator=labeler,
            ).fit(problem)
            embeddings[key] = (
                jda.transform(problem.X_source, zeros),
                jda.transform(problem.X_target),
            )
        Zs, Zt = embeddings[key]
        ot = OTMapping(method="lpl1", reg_e=setting["reg_e"], reg_cl=setting["reg_cl"])
        ot.fit(TransferProblem(Zs, problem.y_source, Zt))
        mapped = ot.transform(Zs, zeros)
        predicted = KNeighborsClassifier(1).fit(mapped, problem.y_source).predict(Zt)
        reverse = KNeighborsClassifier(1).fit(Zt, predicted).score(mapped, problem.y_source)
        out[index] = (predicted, reverse)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1", help="comma-separated source draws")
    parser.add_argument("--pairs", default=None, help="src:tgt,... (default: all 12)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    pairs = [tuple(p.split(":")) for p in args.pairs.split(",")] if args.pairs else None
    n_pairs = len(pairs) if pairs else len(dataset_info("office-caltech-surf").pairs)
    grid = settings()
    ensv, reverse, accuracy = (np.zeros((len(grid), 0)) for _ in range(3))
    start = time.perf_counter()
    for label, problem in harness_problems(seeds, pairs):  # the same draws as the suite's
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            runs = predictions(problem, grid)
        votes = np.stack([runs[i][0] for i in range(len(grid))])
        consensus = majority(votes)
        ensv = np.column_stack([ensv, (votes == consensus).mean(axis=1)])
        reverse = np.column_stack([reverse, [runs[i][1] for i in range(len(grid))]])
        accuracy = np.column_stack([accuracy, (votes == np.asarray(problem.y_target)).mean(axis=1)])
        print(f"done {label} ({time.perf_counter() - start:.0f} s)", flush=True)
    print(render(grid, ensv, reverse, accuracy, seeds, n_pairs, time.perf_counter() - start))


def majority(votes: np.ndarray) -> np.ndarray:
    """The most frequent label of each column of ``votes`` (a tie goes to the smallest)."""
    out = []
    for column in votes.T:
        values, counts = np.unique(column, return_counts=True)
        out.append(values[counts.argmax()])
    return np.array(out)


def render(grid, ensv, reverse, accuracy, seeds, n_pairs, seconds) -> str:
    order = np.argsort(-ensv.mean(axis=1), kind="stable")
    lines = [
        f"office-caltech-surf, harness protocol, {n_pairs} pairs x source draws {seeds}; "
        f"{len(grid)} settings; wall {seconds:.0f} s.",
        "",
        "| rank (EnsV) | k | pseudo-labels | reg_e | reg_cl | EnsV | reverse | target acc. % |",
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for rank, index in enumerate(order, 1):
        s = grid[index]
        lines.append(
            f"| {rank} | {s['n_components']} | {s['pseudo_labels']} | {s['reg_e']} | "
            f"{s['reg_cl']} | {ensv[index].mean():.3f} | {reverse[index].mean():.3f} | "
            f"{100 * accuracy[index].mean():.1f} |"
        )
    pick_ensv, pick_reverse = order[0], int(np.argmax(reverse.mean(axis=1)))
    best = int(np.argmax(accuracy.mean(axis=1)))
    lines += [
        "",
        f"EnsV's pick: {grid[pick_ensv]} -> {100 * accuracy[pick_ensv].mean():.1f} %",
        f"reverse validation's pick: {grid[pick_reverse]} -> "
        f"{100 * accuracy[pick_reverse].mean():.1f} %",
        f"best in hindsight (target labels): {grid[best]} -> {100 * accuracy[best].mean():.1f} %",
        f"mean over all settings: {100 * accuracy.mean():.1f} %",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
