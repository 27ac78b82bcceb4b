"""Evaluation with the target's labels: the yardstick for methods and validators, never a choice.

A user without target labels picks a method with the validators of :mod:`transferkit.selection`.
To check how good such a pick is, experiments score candidates on the target's labels; the
scorer here does it in the validators' form, so a search can report it beside them
(``DomainAwareSearchCV(scoring=["ensv", TargetAccuracy()])`` adds ``mean_oracle``).

Examples
--------
>>> from transferkit.datasets import make_shifted_blobs
>>> from transferkit.registry import make_method
>>> problem = make_shifted_blobs(covariate_shift=1.0, random_state=0)
>>> model = make_method("source_only", random_state=0).fit(problem)
>>> accuracy = TargetAccuracy().score(model, None, None, problem.X_target, problem.y_target)
>>> 0.0 <= accuracy <= 1.0
True

Open-set problems (the target holds classes the source never saw, all labelled unknown) are
scored by :func:`open_set_scores`: OS, OS* and their harmonic mean with the unknown class, HOS;
:func:`problem_score` picks the score a problem's metadata asks for (the benchmark runner's).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from transferkit.exceptions import InvalidParameterError, NotApplicableError
from transferkit.problem import TARGET
from transferkit.selection.access import predict_rows
from transferkit.selection.validators import BaseValidator

__all__ = ["TargetAccuracy", "open_set_scores", "problem_score"]


class TargetAccuracy(BaseValidator):
    """Target accuracy from the target labels: the *oracle*, for evaluating validators only.

    It reads the target labels, so it is no validator a user can pick with; it has the
    validators' interface so that a search reports it beside them (as ``oracle``).
    """

    name = "oracle"
    needs_source_validation = False
    uses_target_labels = True

    def score(
        self,
        estimator: Any,
        X_source_val: Any,
        y_source_val: np.ndarray,
        X_target: Any,
        y_target: np.ndarray | None = None,
    ) -> float:
        if y_target is None:
            raise NotApplicableError("The oracle needs the target labels; this problem has none.")
        return float(np.mean(predict_rows(estimator, X_target, TARGET) == y_target))


def open_set_scores(y_true: Any, y_pred: Any, unknown: Any = None) -> dict[str, float]:
    """Open-set scores of predictions: per-class accuracies over the known classes and unknown.

    * ``os``: mean per-class accuracy over the known classes and the unknown class (OS, Saito,
      Yamamoto, Ushiku & Harada 2018, "Open set domain adaptation by backpropagation", ECCV);
    * ``os_star``: the same over the known classes only (OS*);
    * ``unknown``: accuracy on the rows of unknown classes (the share predicted unknown);
    * ``hos``: the harmonic mean of OS* and unknown (Bucci, Loghmani & Tommasi 2020, ECCV), high
      only when both known classes and unknowns are recognised.

    Parameters
    ----------
    y_true, y_pred : arrays (n,)
        True and predicted labels; the unknown rows carry ``unknown`` in both.
    unknown : int or str or None, default None
        The unknown label; default :func:`transferkit.label_spaces.unknown_label` of ``y_true``
        (-2 for integer labels, ``"unknown"`` for strings).

    Returns
    -------
    dict
        ``{"os", "os_star", "unknown", "hos", "accuracy"}`` in [0, 1]; ``accuracy`` is the plain
        share of correct rows.

    Examples
    --------
    >>> scores = open_set_scores([0, 0, 1, 1, -2, -2], [0, 1, 1, 1, -2, 0])
    >>> {k: round(v, 3) for k, v in scores.items()}
    {'os': 0.667, 'os_star': 0.75, 'unknown': 0.5, 'hos': 0.6, 'accuracy': 0.667}
    """
    from transferkit.label_spaces import unknown_label

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise InvalidParameterError(
            f"y_true and y_pred must be 1-D and of the same length; got shapes {y_true.shape} "
            f"and {y_pred.shape}."
        )
    unknown = unknown_label(y_true) if unknown is None else unknown
    is_unknown = y_true == unknown
    known_classes = np.unique(y_true[~is_unknown])
    if len(known_classes) == 0:
        raise InvalidParameterError(
            f"y_true holds only the unknown label {unknown!r}; open-set scores need rows of "
            "known classes too."
        )
    if not is_unknown.any():
        raise InvalidParameterError(
            f"y_true holds no row labelled unknown ({unknown!r}); for a closed label space use "
            "plain accuracy, or check that the unknown label is the one open_set gave."
        )
    per_class = [float(np.mean(y_pred[y_true == c] == c)) for c in known_classes]
    unknown_accuracy = float(np.mean(y_pred[is_unknown] == unknown))
    os_star = float(np.mean(per_class))
    total = os_star + unknown_accuracy
    return {
        "os": float(np.mean(per_class + [unknown_accuracy])),
        "os_star": os_star,
        "unknown": unknown_accuracy,
        "hos": 0.0 if total == 0 else 2 * os_star * unknown_accuracy / total,
        "accuracy": float(np.mean(y_true == y_pred)),
    }


def problem_score(metadata: dict[str, Any], y_true: Any, y_pred: Any) -> float:
    """The score a problem is benchmarked by: HOS (:func:`open_set_scores`) when its
    ``metadata["label_space"]`` is ``"open_set"``, else accuracy.

    Examples
    --------
    >>> problem_score({"label_space": "open_set"}, [0, 1, -2], [0, 1, 0])
    0.0
    >>> round(problem_score({}, [0, 1, 1], [0, 1, 0]), 3)
    0.667
    """
    y_true, y_pred = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    if metadata.get("label_space") == "open_set":
        return open_set_scores(y_true, y_pred, metadata.get("unknown_label"))["hos"]
    return float(np.mean(y_true == y_pred))
