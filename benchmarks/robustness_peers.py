"""transferkit's attacks beside torchattacks' on the same MNIST models, in the same run.

Protocol
--------
Two LeNet-size networks (``transferkit.robustness``: two 5x5 convolutions with batch norm, 128
units, a linear head) are trained on ``--n-train`` MNIST training images (seed 0, batch 32, ``--epochs`` epochs): one on clean images (``StandardTraining``), one
by PGD adversarial training (``PGDTraining``, ε = 0.3, ``--train-steps`` PGD steps). The models
only need to be the same for both libraries, not the best ones. Each is attacked on the same fixed
``--n-test`` MNIST test images (the robustness task's subset) by transferkit and by torchattacks
3.5.1 with the same settings: FGSM at ε = 0.1 (standard model) and 0.3 (PGD model); PGD L∞ with
a random start, 40 steps of α = 2.5 ε / 40, at ε = 0.1 (standard model) and 0.3 (PGD model);
PGD L2 (random start, 40 steps of α = 2.5 ε / 40) at ε = 1.5 (standard model). A row is robust when the attacked image is still classified
correctly (both libraries' adversarial images go through the same model and the same accuracy
count). Seconds are the CPU time of the attack alone (``time.process_time``, one thread:
``torch.set_num_threads(1)``), which a loaded machine disturbs less than wall time; the two
libraries take turns batch by batch.
Random starts differ between the libraries, so PGD accuracies may differ by a few rows.

torchattacks is installed without its dependencies (it would pull torchvision and an old
requests; neither is needed for these attacks)::

    pip install --no-deps torchattacks==3.5.1

Run (about 10 minutes of one core with the defaults)::

    TRANSFERKIT_DATA=../shared/datasets PYTHONPATH=src nice python benchmarks/robustness_peers.py

It prints a Markdown table and writes ``benchmarks/results/robustness/peers.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from transferkit.robustness import (
    PGDTraining,
    StandardTraining,
    fgsm,
    load_robustness_task,
    pgd,
)


def side_by_side(model: torch.nn.Module, attacks: dict, X: torch.Tensor, y: torch.Tensor) -> dict:
    """Robust accuracy and CPU seconds of each of ``attacks`` (``attack(xb, yb) -> images``) on
    the same batches of 250 rows, counted like ``transferkit.robustness.robust_accuracy`` (robust
    = correct clean and attacked). The libraries take turns batch by batch, in alternating order,
    so that the load of a shared machine falls on both alike."""
    model.eval()
    correct = dict.fromkeys(attacks, 0)
    seconds = dict.fromkeys(attacks, 0.0)
    names = list(attacks)
    for index, start in enumerate(range(0, len(y), 250)):
        xb, yb = X[start : start + 250], y[start : start + 250]
        with torch.no_grad():
            clean_ok = model(xb).argmax(1) == yb
        for name in names if index % 2 == 0 else names[::-1]:
            torch.manual_seed(index)
            began = time.process_time()
            adversarial = attacks[name](xb, yb)
            seconds[name] += time.process_time() - began
            with torch.no_grad():
                correct[name] += int((clean_ok & (model(adversarial).argmax(1) == yb)).sum())
    return {name: (correct[name] / len(y), seconds[name]) for name in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--n-test", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-steps", type=int, default=5)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--out", default="benchmarks/results/robustness/peers.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    import torchattacks

    task = load_robustness_task(
        "mnist", "linf", n_train=args.n_train, n_test=args.n_test, random_state=0
    )
    # torchattacks' L2 attack needs (n, channels, height, width) images: both libraries attack
    # the same network behind a flattening layer, on the same image tensors
    X = torch.from_numpy(task.X_test).reshape(-1, 1, 28, 28)
    y = torch.from_numpy(task.y_test).long()
    models = {}
    for name, cls, params in (
        ("standard", StandardTraining, {}),
        ("pgd", PGDTraining, {"attack_steps": args.train_steps}),
    ):
        params.update(epochs=args.epochs, batch_size=32)
        began = time.perf_counter()
        estimator = cls(random_state=0, device="cpu", **params).fit(task.X_train, task.y_train)
        models[name] = torch.nn.Sequential(torch.nn.Flatten(), estimator.network_).eval()
        print(f"trained {name} in {time.perf_counter() - began:.0f} s", flush=True)

    steps = args.steps
    cases = [
        ("standard", "FGSM L∞", 0.1),
        ("standard", "PGD L∞", 0.1),
        ("standard", "PGD L2", 1.5),
        ("pgd", "FGSM L∞", 0.3),
        ("pgd", "PGD L∞", 0.3),
    ]
    rows = []
    for model_name, attack_name, eps in cases:
        model = models[model_name]
        alpha = 2.5 * eps / steps
        if attack_name.startswith("FGSM"):
            ours = lambda xb, yb, m=model, e=eps: fgsm(m, xb, yb, e)  # noqa: E731
            peer = torchattacks.FGSM(model, eps=eps)
        else:
            norm = "linf" if "L∞" in attack_name else "l2"
            ours = lambda xb, yb, m=model, e=eps, n=norm, a=alpha: pgd(  # noqa: E731
                m, xb, yb, e, norm=n, steps=steps, step_size=a, random_state=0
            )
            peer_class = torchattacks.PGD if norm == "linf" else torchattacks.PGDL2
            peer = peer_class(model, eps=eps, alpha=alpha, steps=steps, random_start=True)
        results = side_by_side(model, {"transferkit": ours, "torchattacks": peer}, X, y)
        (ours_accuracy, ours_seconds), (peer_accuracy, peer_seconds) = results.values()
        row = {
            "model": model_name,
            "attack": attack_name,
            "eps": eps,
            "transferkit": ours_accuracy,
            "torchattacks": peer_accuracy,
            "transferkit_seconds": ours_seconds,
            "torchattacks_seconds": peer_seconds,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)

    print()
    print("| model | attack | ε | transferkit | torchattacks | difference | seconds (tk / ta) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        difference = 100 * (r["transferkit"] - r["torchattacks"])
        print(
            f"| {r['model']} | {r['attack']} | {r['eps']:g} | {100 * r['transferkit']:.1f} | "
            f"{100 * r['torchattacks']:.1f} | {difference:+.1f} | "
            f"{r['transferkit_seconds']:.1f} / {r['torchattacks_seconds']:.1f} |"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "args": vars(args),
                "machine": platform.platform(),
                "torch": torch.__version__,
                "torchattacks": torchattacks.__version__,
                "numpy": np.__version__,
                "rows": rows,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
