"""The robustness benchmark task: train on MNIST, score clean, attacked and corrupted test digits.

A :class:`RobustnessTask` is what the catalogue's ``adversarial-mnist`` dataset gives
(:func:`transferkit.datasets.load_task`): its "pair" is ``(data, threat model)``, e.g.
``("mnist", "linf")``. It holds the training rows, a *fixed* test subset (the same for every
seed, so numbers of different seeds and methods are on the same digits) and the evaluation
protocol: the attack's norm, the budgets ε to report, the primary budget, PGD's steps and
restarts, and the corruptions to report.

Examples
--------
>>> from transferkit.robustness import load_robustness_task
>>> task = load_robustness_task("mnist", "linf", n_train=500, n_test=100, random_state=0)
... # doctest: +SKIP
>>> task.kind, task.X_train.shape, task.epsilons  # doctest: +SKIP
('robustness', (500, 784), (0.1, 0.2, 0.3))
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from transferkit.checks import check_count
from transferkit.datasets.corruptions import CORRUPTIONS
from transferkit.datasets.digits import load_mnist
from transferkit.exceptions import InvalidParameterError, UnknownDatasetError
from transferkit.robustness.attacks import NORMS, check_epsilon

__all__ = [
    "DEFAULT_EPSILONS",
    "ROBUSTNESS_DATA",
    "RobustnessTask",
    "load_robustness_task",
]

#: Data a robustness task can be built from (the "source" of its pair).
ROBUSTNESS_DATA = ("mnist",)
#: Budgets reported by default for each threat model (MNIST's usual ones; Madry et al. 2018).
DEFAULT_EPSILONS: dict[str, tuple[float, ...]] = {
    "linf": (0.1, 0.2, 0.3),
    "l2": (1.0, 1.5, 2.0),
}
#: Seed of the fixed test subset, the same for every run.
_TEST_SUBSET_SEED = 0


@dataclass
class RobustnessTask:
    """Training rows, a fixed test subset and the evaluation protocol of a robustness benchmark.

    Attributes
    ----------
    X_train, y_train : arrays
        Flattened float32 images in [0, 1] and their labels.
    X_test, y_test : arrays
        The fixed test subset.
    norm : {"linf", "l2"}
        The threat model.
    epsilons : tuple of float
        Budgets whose robust accuracy is reported.
    epsilon : float
        The budget of the primary score.
    attack_steps : int
        PGD steps of the evaluation attack.
    restarts : int
        PGD random restarts of the evaluation attack.
    corruptions : tuple of str
        Corruptions (:mod:`transferkit.datasets.corruptions`) whose accuracy is reported.
    severity : int
        Their severity.
    image_shape : tuple of int
    random_state : int or None
        Seed of the draw; the evaluation attacks' random starts derive from it.
    name : str
    kind : str
        ``"robustness"``: what benchmark methods of this kind score.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    norm: str = "linf"
    epsilons: tuple[float, ...] = DEFAULT_EPSILONS["linf"]
    epsilon: float = 0.3
    attack_steps: int = 40
    restarts: int = 1
    corruptions: tuple[str, ...] = CORRUPTIONS
    severity: int = 3
    image_shape: tuple[int, ...] = (28, 28)
    random_state: int | None = None
    name: str = "adversarial-mnist"
    metadata: dict[str, Any] = field(default_factory=dict)
    kind: str = "robustness"

    @property
    def n_eval(self) -> int:
        """Number of test images every score is measured on."""
        return len(self.y_test)


def load_robustness_task(
    source: str,
    target: str,
    *,
    data_home: str | os.PathLike[str] | None = None,
    random_state: int | np.random.Generator | None = None,
    n_train: int = 10000,
    n_test: int = 1000,
    epsilons: Sequence[float] | None = None,
    epsilon: float | None = None,
    attack_steps: int = 40,
    restarts: int = 1,
    corruptions: Sequence[str] = CORRUPTIONS,
    severity: int = 3,
) -> RobustnessTask:
    """The robustness task ``(source, target)`` = (data, threat model), e.g. ``("mnist", "linf")``.

    Parameters
    ----------
    source : {"mnist"}
        The images: MNIST from the data home (training rows from its 50,000 training images).
    target : {"linf", "l2"}
        The threat model of the evaluation attack.
    data_home : str, Path or None, default None
    random_state : int, Generator or None, default None
        Seed of the training subset and of the evaluation attacks' random starts.
    n_train : int, default 10000
        Training images drawn (without replacement) from the 50,000.
    n_test : int, default 1000
        Size of the fixed test subset (the same images for every seed) of MNIST's 10,000 test
        images.
    epsilons : sequence of float or None, default None
        Budgets to report; None: 0.1, 0.2, 0.3 (L∞) or 1.0, 1.5, 2.0 (L2).
    epsilon : float or None, default None
        Budget of the primary score; None: the largest of ``epsilons``.
    attack_steps : int, default 40
        PGD steps of the evaluation attack (PGD-40, Madry et al. 2018).
    restarts : int, default 1
    corruptions : sequence of str, default every corruption
        Corruptions whose accuracy is also reported (empty: none).
    severity : int, default 3

    Returns
    -------
    RobustnessTask
    """
    if source not in ROBUSTNESS_DATA:
        raise UnknownDatasetError(
            f"Unknown data {source!r} for a robustness task; choose one of "
            f"{', '.join(ROBUSTNESS_DATA)}."
        )
    if target not in NORMS:
        raise UnknownDatasetError(
            f"Unknown threat model {target!r} for a robustness task; choose one of "
            f"{', '.join(NORMS)}."
        )
    n_train = check_count(n_train, "n_train", 2)
    n_test = check_count(n_test, "n_test", 1)
    attack_steps = check_count(attack_steps, "attack_steps", 1)
    restarts = check_count(restarts, "restarts", 1)
    budgets = DEFAULT_EPSILONS[target] if epsilons is None else tuple(epsilons)
    if not budgets:
        raise InvalidParameterError("epsilons is empty; give at least one budget to report.")
    budgets = tuple(check_epsilon(eps, target, "epsilons") for eps in budgets)
    primary = max(budgets) if epsilon is None else check_epsilon(epsilon, target, "epsilon")
    for corruption in corruptions:
        if corruption not in CORRUPTIONS:
            raise InvalidParameterError(
                f"Unknown corruption {corruption!r}; choose among {', '.join(CORRUPTIONS)}."
            )
    X_train, y_train = load_mnist("train", data_home)
    X_test, y_test = load_mnist("test", data_home)
    if n_train > len(y_train):
        raise InvalidParameterError(
            f"n_train={n_train} exceeds the {len(y_train):,} MNIST training images; ask for fewer."
        )
    if n_test > len(y_test):
        raise InvalidParameterError(
            f"n_test={n_test} exceeds the {len(y_test):,} MNIST test images; ask for fewer."
        )
    rng = np.random.default_rng(random_state)
    train_index = np.sort(rng.choice(len(y_train), size=n_train, replace=False))
    test_index = np.sort(np.random.default_rng(_TEST_SUBSET_SEED).permutation(len(y_test))[:n_test])
    seed = random_state if isinstance(random_state, int | np.integer) else None
    return RobustnessTask(
        X_train=X_train[train_index].reshape(n_train, -1),
        y_train=y_train[train_index].copy(),
        X_test=X_test[test_index].reshape(n_test, -1),
        y_test=y_test[test_index].copy(),
        norm=target,
        epsilons=budgets,
        epsilon=primary,
        attack_steps=attack_steps,
        restarts=restarts,
        corruptions=tuple(corruptions),
        severity=int(severity),
        random_state=None if seed is None else int(seed),
        name="adversarial-mnist",
        metadata={"dataset": "adversarial-mnist", "source": source, "target": target},
    )
