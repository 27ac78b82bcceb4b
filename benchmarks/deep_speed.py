"""Speed on CPU: seconds per epoch of the LeNet on synthetic→MNIST, ours vs a bare reference loop.

Usage: nice -n 10 python benchmarks/deep_speed.py [--n 2000] [--epochs 2] [--threads 1]
Times, on the same data and the same LeNet (batch 64, Adam 1e-3): source-only and DANN epochs
through transferkit's training loop, and one DANN epoch written as a bare PyTorch loop in the style
of Transfer-Learning-Library's examples (iterate source batches, draw a target batch, gradient
reversal, domain discriminator, one optimiser step) with no checkpointing, validation or logging;
and, when the `peers` extra is installed (skada with skorch), one epoch of skada's ``skada.deep.DANN``
on the same data with the same LeNet and linear head (its own domain classifier and sampler,
batch 64, Adam 1e-3).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from transferkit.datasets import load_pair
from transferkit.deep.backbones import LeNet
from transferkit.deep.losses import DomainClassifier, dann_lambda, reverse_gradient
from transferkit.deep.methods import DANN, DeepSourceOnly


def bare_dann_epoch(Xs, ys, Xt, seed: int = 0) -> float:
    """One DANN epoch as a plain loop: the peer-style reference."""
    torch.manual_seed(seed)
    encoder = LeNet((28, 28), 128)
    head = nn.Linear(128, 10)
    discriminator = DomainClassifier(128, (100,))
    params = [*encoder.parameters(), *head.parameters(), *discriminator.parameters()]
    optimiser = torch.optim.Adam(params, lr=1e-3, weight_decay=5e-4)
    rng = np.random.default_rng(seed)
    order, target_order = rng.permutation(len(Xs)), rng.permutation(len(Xt))
    steps = len(Xs) // 64
    started = time.perf_counter()
    for step in range(steps):
        index = order[step * 64 : (step + 1) * 64]
        target_index = target_order[(step * 64) % len(Xt) :][:64]
        xs, y, xt = Xs[index], ys[index], Xt[target_index]
        zs, zt = encoder(xs), encoder(xt)
        classification = F.cross_entropy(head(zs), y)
        features = reverse_gradient(torch.cat([zs, zt]), dann_lambda(step / steps))
        labels = torch.cat([torch.zeros(len(xs)), torch.ones(len(xt))])
        domain = F.binary_cross_entropy_with_logits(discriminator(features), labels)
        optimiser.zero_grad()
        (classification + domain).backward()
        optimiser.step()
    return time.perf_counter() - started


def skada_dann_epoch(Xs: np.ndarray, ys: np.ndarray, Xt: np.ndarray, seed: int = 0) -> float:
    """One epoch of skada's deep DANN (skorch-based) on the same LeNet: the library peer."""
    from collections import OrderedDict

    from skada.deep import DANN as SkadaDANN

    torch.manual_seed(seed)
    module = nn.Sequential(OrderedDict(encoder=LeNet((28, 28), 128), head=nn.Linear(128, 10)))
    model = SkadaDANN(
        module,
        layer_name="encoder",
        reg=1.0,
        num_features=128,
        batch_size=64,
        max_epochs=1,
        train_split=False,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        verbose=0,
    )
    X = np.concatenate([Xs, Xt]).astype(np.float32)
    y = np.concatenate([ys, np.full(len(Xt), -1)])
    domain = np.concatenate([np.ones(len(Xs), dtype=int), np.full(len(Xt), -2)])
    started = time.perf_counter()
    model.fit(X, y, sample_domain=domain)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    problem = load_pair(
        "digits",
        "synthetic",
        "mnist",
        random_state=0,
        n_source=args.n,
        n_target=args.n,
        n_test=1000,
    )
    Xs = torch.from_numpy(problem.X_source)
    ys = torch.from_numpy(problem.y_source).long()
    Xt = torch.from_numpy(problem.X_target)
    common = {
        "epochs": args.epochs,
        "patience": None,
        "validation_fraction": 0.0,
        "random_state": 0,
    }
    rows = []
    for label, cls in (("transferkit source-only", DeepSourceOnly), ("transferkit DANN", DANN)):
        model = cls(**common).fit(problem)
        rows.append((label, model.history_.seconds / args.epochs))
    rows.append(
        (
            "bare reference DANN loop",
            np.mean([bare_dann_epoch(Xs, ys, Xt, s) for s in range(args.epochs)]),
        )
    )
    try:
        seconds = [
            skada_dann_epoch(problem.X_source, problem.y_source, problem.X_target, s)
            for s in range(args.epochs)
        ]
        rows.append(("skada.deep.DANN (skorch)", float(np.mean(seconds))))
    except ImportError as error:
        print(f"# skada's deep DANN skipped: {error} (pip install 'transferkit[peers]')")
    print(
        f"synthetic→mnist, {args.n} source + {args.n} target images, LeNet, batch 64, "
        f"{args.threads} torch thread(s), mean of {args.epochs} epochs"
    )
    print("| loop | seconds / epoch | source images / s |")
    print("| --- | --- | --- |")
    for label, seconds in rows:
        print(f"| {label} | {seconds:.2f} | {args.n / seconds:.0f} |")


if __name__ == "__main__":
    main()
