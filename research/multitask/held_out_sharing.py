"""Where hard sharing should split on MultiMNIST with few right-digit labels, judged on held-out
training images (never the test images the suite scores on).

Usage: nice python research/multitask/held_out_sharing.py [--seeds 3 4 5 6 7]

For each seed, 12,000 MultiMNIST images are made from MNIST training digits; the first 10,000
train (the right digit keeps 50 labels per class, 500 in all, as in the suite's
``multimnist-low``), the last 2,000 are held out with both labels. Three networks train with the
suite's settings (Adam 1e-3, batch 64, 10 epochs, one torch thread): one network per digit
(``single_task``), hard sharing of the whole encoder with balanced batches
(``mtl_hard_balanced``), and hard sharing of the convolutions only, each head with its own
50-unit layer (``mtl_hard_conv_balanced``). Prints the held-out left and right accuracies (%).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from transferkit.datasets.multitask import load_multimnist
from transferkit.multitask import MultiTaskClassifier, SingleTaskClassifiers

N_TRAIN, N_HELD_OUT, RIGHT_LABELS_PER_CLASS = 10_000, 2_000, 50


def split(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    data = load_multimnist(n_train=N_TRAIN + N_HELD_OUT, n_test=100, random_state=seed)
    X, Y = data.X[:N_TRAIN], data.Y[:N_TRAIN].copy()
    rng = np.random.default_rng(seed)
    keep = np.concatenate(
        [
            rng.choice(np.flatnonzero(Y[:, 1] == c), RIGHT_LABELS_PER_CLASS, replace=False)
            for c in range(10)
        ]
    )
    hidden = np.ones(len(Y), dtype=bool)
    hidden[keep] = False
    Y[hidden, 1] = -1
    return X, Y, data.X[N_TRAIN:], data.Y[N_TRAIN:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 4, 5, 6, 7])
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| seed | method | left | right |")
    print("| ---: | --- | ---: | ---: |")
    totals: dict[str, list[np.ndarray]] = {}
    for seed in args.seeds:
        X, Y, X_held, Y_held = split(seed)
        common = dict(image_shape=(28, 28), epochs=10, random_state=seed)
        models = {
            "single_task": SingleTaskClassifiers(network="small_lenet", hidden_dim=50, **common),
            "mtl_hard_balanced": MultiTaskClassifier(
                network="small_lenet", hidden_dim=50, task_sampling="balanced", **common
            ),
            "mtl_hard_conv_balanced": MultiTaskClassifier(
                network="small_lenet_conv", head_hidden=50, task_sampling="balanced", **common
            ),
        }
        for name, model in models.items():
            scores = 100 * model.fit(X, Y).task_scores(X_held, Y_held)
            totals.setdefault(name, []).append(scores)
            print(f"| {seed} | {name} | {scores[0]:.1f} | {scores[1]:.1f} |", flush=True)
    for name, scores in totals.items():
        mean = np.mean(scores, axis=0)
        print(f"| mean | {name} | {mean[0]:.1f} | {mean[1]:.1f} |")


if __name__ == "__main__":
    main()
