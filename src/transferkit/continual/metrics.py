"""Metrics of a continual learner from its accuracy matrix.

``R[i, j]`` is the test accuracy on task ``j`` after training on tasks ``0 .. i`` (Lopez-Paz &
Ranzato 2017, Section 3): the last row is the final state, the diagonal the accuracy of each task
just after learning it, the cells above the diagonal the accuracy on tasks not trained yet.

Examples
--------
>>> import numpy as np
>>> from transferkit.continual import average_accuracy, backward_transfer, forgetting
>>> R = np.array([[0.9, 0.1], [0.6, 0.8]])
>>> float(average_accuracy(R)), round(float(backward_transfer(R)), 3), round(float(forgetting(R)), 3)
(0.7, -0.3, 0.3)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from transferkit.exceptions import InvalidParameterError

__all__ = [
    "average_accuracy",
    "backward_transfer",
    "check_accuracy_matrix",
    "continual_metrics",
    "forgetting",
    "forward_transfer",
]


def check_accuracy_matrix(R: Any) -> np.ndarray:
    """``R`` as a square float array of accuracies in [0, 1] for two tasks or more, else
    :class:`~transferkit.exceptions.InvalidParameterError` saying what is wrong."""
    R = np.asarray(R, dtype=float)
    if R.ndim != 2 or R.shape[0] != R.shape[1]:
        raise InvalidParameterError(
            f"An accuracy matrix is square (row i: after training task i, column j: tested on "
            f"task j); got shape {R.shape}."
        )
    if R.shape[0] < 2:
        raise InvalidParameterError(
            f"Continual metrics need at least two tasks; got a {R.shape[0]}x{R.shape[1]} matrix."
        )
    if not np.all(np.isfinite(R)) or R.min() < 0 or R.max() > 1:
        raise InvalidParameterError(
            "Accuracies must be finite fractions in [0, 1] (divide percentages by 100); got "
            f"values from {np.nanmin(R)} to {np.nanmax(R)}."
        )
    return R


def average_accuracy(R: Any) -> float:
    """Mean accuracy over every task after the last one: ``mean_j R[T-1, j]``."""
    R = check_accuracy_matrix(R)
    return float(R[-1].mean())


def backward_transfer(R: Any) -> float:
    """BWT (Lopez-Paz & Ranzato 2017, Eq. 3): ``mean_{j<T-1} R[T-1, j] - R[j, j]``.

    Negative when later tasks made the learner forget earlier ones.
    """
    R = check_accuracy_matrix(R)
    T = R.shape[0]
    return float(np.mean([R[T - 1, j] - R[j, j] for j in range(T - 1)]))


def forgetting(R: Any) -> float:
    """Average forgetting (Chaudhry et al. 2018, Eq. 2): for each task but the last, the drop
    from its best accuracy before the final task to its final accuracy, averaged."""
    R = check_accuracy_matrix(R)
    T = R.shape[0]
    return float(np.mean([R[j : T - 1, j].max() - R[T - 1, j] for j in range(T - 1)]))


def forward_transfer(R: Any, baseline: Any) -> float:
    """FWT (Lopez-Paz & Ranzato 2017, Eq. 4): ``mean_{j>0} R[j-1, j] - b_j``.

    ``baseline[j]`` (``b_j``) is the accuracy on task ``j`` of the model at initialisation:
    positive values mean that learning earlier tasks helped a task before it was seen.
    """
    R = check_accuracy_matrix(R)
    baseline = np.asarray(baseline, dtype=float)
    if baseline.shape != (R.shape[0],):
        raise InvalidParameterError(
            f"The forward-transfer baseline holds one accuracy per task ({R.shape[0]}); got shape "
            f"{baseline.shape}."
        )
    return float(np.mean([R[j - 1, j] - baseline[j] for j in range(1, R.shape[0])]))


def continual_metrics(R: Any, baseline: Any | None = None) -> dict[str, Any]:
    """Every metric of ``R`` in one JSON-serialisable dict.

    Keys: ``accuracy_matrix`` (list of rows), ``average_accuracy``, ``bwt``, ``forgetting``,
    ``final_accuracies`` (the last row) and, with a ``baseline``, ``fwt`` and
    ``initial_accuracies``.

    Examples
    --------
    >>> from transferkit.continual import continual_metrics
    >>> metrics = continual_metrics([[0.9, 0.5], [0.6, 0.8]], baseline=[0.5, 0.5])
    >>> metrics["average_accuracy"], metrics["fwt"]
    (0.7, 0.0)
    """
    R = check_accuracy_matrix(R)
    metrics: dict[str, Any] = {
        "accuracy_matrix": R.tolist(),
        "average_accuracy": average_accuracy(R),
        "bwt": backward_transfer(R),
        "forgetting": forgetting(R),
        "final_accuracies": R[-1].tolist(),
    }
    if baseline is not None:
        metrics["fwt"] = forward_transfer(R, baseline)
        metrics["initial_accuracies"] = np.asarray(baseline, dtype=float).tolist()
    return metrics
