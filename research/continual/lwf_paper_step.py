"""LwF on Permuted MNIST by a plain torch loop of van de Ven & Tolias's training step, written
apart from transferkit's ``LwF``, on the stream the ``continual-permuted-mnist-paper-data`` suite
builds: does a second implementation learn the new tasks better?

Usage: nice python research/continual/lwf_paper_step.py [--balance tasks|constant] [--seed 0]

Data: ``permuted_mnist("domain", pad=2, permute_first=True, with_validation=True)``, MNIST's
60,000 training and 10,000 test images at 32x32, every task its own order of the 1,024 pixels
(the same rows and orders as the suite's cells with the same seed). Network: an MLP
1024-1000-1000-10 with ReLU. One Adam (learning rate 1e-4, betas 0.9/0.999) for the whole stream,
never reset; 5,000 iterations a task on batches of 128, the training rows reshuffled whenever
fewer than a batch remain. From the second task on, the t-th task's loss is
``(1/t) * cross-entropy + (1 - 1/t) * T^2 * soft cross-entropy`` between the model's outputs at
temperature T = 2 and the previous model's on the same batch (``--balance constant``: the two
weighed alike). transferkit's counterpart is the suite's ``lwf (1/t weighting)`` cell (11 epochs:
5,159 iterations).

Prints, after each task, the test accuracies (%) on every task and, from the second task on, the
previous model's mean highest probability on the task's training images and the share of them
whose label it already predicts (what ``LwF.teacher_confidence_`` and ``teacher_accuracy_``
report); then the average accuracy after the last task. One torch thread.
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from transferkit.continual import ContinualStream, permuted_mnist

BATCH, ITERATIONS, LEARNING_RATE, TEMPERATURE, WIDTH = 128, 5000, 1e-4, 2.0, 1000


def report(t: int, row: list[float], confidence: float, agreement: float) -> None:
    teacher = "" if np.isnan(confidence) else f"  teacher {confidence:.3f} / {agreement:.3f}"
    print(f"task {t + 1}:", " ".join(f"{a:5.1f}" for a in row), teacher, flush=True)


def train_stream(stream: ContinualStream, balance: str, seed: int) -> np.ndarray:
    torch.manual_seed(seed)
    n_features = stream.n_features
    model = nn.Sequential(
        nn.Linear(n_features, WIDTH),
        nn.ReLU(),
        nn.Linear(WIDTH, WIDTH),
        nn.ReLU(),
        nn.Linear(WIDTH, 10),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, betas=(0.9, 0.999))
    experiences = stream.experiences
    tests = [(torch.as_tensor(e.X_test), torch.as_tensor(e.y_test)) for e in experiences]
    previous, R = None, np.zeros((len(experiences), len(experiences)))
    for t, experience in enumerate(experiences):
        X, y = torch.as_tensor(experience.X_train), torch.as_tensor(experience.y_train)
        confidence = agreement = float("nan")
        if previous is not None:
            with torch.no_grad():
                probabilities = previous(X).softmax(dim=1)
            confidence = float(probabilities.max(dim=1).values.mean())
            agreement = float((probabilities.argmax(dim=1) == y).float().mean())
        order, position = torch.randperm(len(X)), 0
        for _ in range(ITERATIONS):
            if position + BATCH > len(X):
                order, position = torch.randperm(len(X)), 0
            rows = order[position : position + BATCH]
            position += BATCH
            outputs = model(X[rows])
            loss = F.cross_entropy(outputs, y[rows])
            if previous is not None:
                with torch.no_grad():
                    targets = (previous(X[rows]) / TEMPERATURE).softmax(dim=1)
                log_p = F.log_softmax(outputs / TEMPERATURE, dim=1)
                distill = -(targets * log_p).sum(dim=1).mean() * TEMPERATURE**2
                share = 1.0 / (t + 1) if balance == "tasks" else 0.5
                loss = share * loss + (1 - share) * distill
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            R[t] = [float((model(Xj).argmax(dim=1) == yj).float().mean()) for Xj, yj in tests]
        report(t, list(R[t] * 100), confidence, agreement)
        previous = copy.deepcopy(model).eval()
    return R


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--balance", choices=("tasks", "constant"), default="tasks")
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    stream = permuted_mnist(
        "domain",
        n_tasks=args.tasks,
        pad=2,
        permute_first=True,
        with_validation=True,
        random_state=args.seed,
    )
    R = train_stream(stream, args.balance, args.seed)
    print(
        f"balance {args.balance}, seed {args.seed}: average accuracy {R[-1].mean() * 100:.1f} %, "
        f"{time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
