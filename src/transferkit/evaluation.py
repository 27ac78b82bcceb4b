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
"""

from __future__ import annotations

from typing import Any

import numpy as np

from transferkit.exceptions import NotApplicableError
from transferkit.problem import TARGET
from transferkit.selection.access import predict_rows
from transferkit.selection.validators import BaseValidator

__all__ = ["TargetAccuracy"]


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
