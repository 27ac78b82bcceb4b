"""MultiMNIST on every MNIST training digit: the run closest to Sener & Koltun's (2018) protocol
that a 2-core CPU allows, beside the ``multitask-multimnist`` suite (10,000 training images).

Usage: nice -n 10 python benchmarks/multitask_multimnist_full.py [--epochs 10] [--seed 0]
       [--methods single_task,mtl_hard,mtl_uncertainty,mtl_pcgrad,mtl_soft]

The training images are made from all 50,000 MNIST training digits of the data home (Sener &
Koltun: the 60,000 of the original split), the evaluation images from the 10,000 test digits;
every method trains Sener & Koltun's encoder (``network="small_lenet"``, 50 units, a linear head
per task) with Adam 1e-3, batch 64, weight decay 5e-4, ``--epochs`` epochs (theirs: 100), one
torch thread. Prints the left and right accuracies (%), their mean, and the training time.
"""

from __future__ import annotations

import argparse
import time

import torch

from transferkit.datasets.multitask import load_multimnist
from transferkit.registry import make_method


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--methods", default="single_task,mtl_hard,mtl_uncertainty,mtl_pcgrad,mtl_soft"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    task = load_multimnist(n_train=None, random_state=args.seed)
    print(f"{task.n_train} training images, {task.n_test} test images, {args.epochs} epochs")
    print("| method | left | right | mean | training s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in args.methods.split(","):
        params = {"network": "small_lenet", "hidden_dim": 50, "epochs": args.epochs}
        method = make_method(name, params, random_state=args.seed)
        started = time.perf_counter()
        mean = method.score_problem(task)
        seconds = time.perf_counter() - started
        details = method.details_
        print(
            f"| {name} | {100 * details['accuracy_left']:.1f} | "
            f"{100 * details['accuracy_right']:.1f} | {100 * mean:.1f} | {seconds:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
