"""Reading a fitted model's internals the way the validators need them.

A validator sees a fitted estimator: a registered method (an
:class:`~transferkit.base.AdaptedClassifier`, a deep method, a baseline), perhaps wrapped in a
:class:`~transferkit.selection.RegisteredMethod` or a search. These functions give its class
probabilities and labels for rows of either domain (source rows through an adapter's *source*
mapping) and its own representation of the rows.

Examples
--------
>>> from transferkit.datasets import make_shifted_blobs
>>> from transferkit.registry import make_method
>>> problem = make_shifted_blobs(covariate_shift=1.0, random_state=0)
>>> model = make_method("coral", random_state=0).fit(problem)
>>> predict_proba_rows(model, problem.X_target, TARGET).shape[0] == problem.n_target
True
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from transferkit.base import BaseAdapter
from transferkit.problem import SOURCE, TARGET

__all__ = [
    "model_classes",
    "count_rows",
    "predict_proba_rows",
    "predict_rows",
    "predictions_with_confidence",
    "representation",
    "softmax",
    "unwrap_method",
]


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of scores (each row shifted by its maximum, so exp cannot overflow)."""
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def count_rows(X: Any) -> int:
    """The number of rows of a matrix, sparse matrix, image collection or list."""
    return X.shape[0] if hasattr(X, "shape") else len(X)


def _adapter(estimator: Any) -> Any:
    """The fitted feature adapter inside an AdaptedClassifier (None for re-weighters / none)."""
    adapter = getattr(estimator, "adapter_", None)
    return adapter if isinstance(adapter, BaseAdapter) else None


def unwrap_method(estimator: Any) -> Any:
    """Unwrap meta-estimators that hold the fitted method in ``method_``."""
    while hasattr(estimator, "method_") and not hasattr(estimator, "adapter_"):
        estimator = estimator.method_
    return estimator


def predict_proba_rows(estimator: Any, X: Any, domain: int = TARGET) -> np.ndarray:
    """Class probabilities of rows of one domain.

    Source rows go through an adapter's *source* mapping; models without ``predict_proba`` give a
    softmax of ``decision_function``, else one-hot predictions.
    """
    model = unwrap_method(estimator)
    adapter = _adapter(model)
    if domain == SOURCE and adapter is not None and hasattr(model, "estimator_"):
        Z = adapter.transform(X, np.full(count_rows(X), SOURCE))
        final = model.estimator_
    else:
        Z, final = X, (model if domain == SOURCE else estimator)
    for method in ("predict_proba", "decision_function"):
        if hasattr(final, method):
            try:
                out = np.asarray(getattr(final, method)(Z), dtype=float)
            except (AttributeError, NotImplementedError):
                continue
            if method == "predict_proba":
                return out
            if out.ndim == 1:
                out = np.column_stack([-out, out]) / 2.0
            return softmax(out)
    predicted = final.predict(Z)
    classes = np.asarray(getattr(final, "classes_", np.unique(predicted)))
    return (predicted[:, None] == classes[None, :]).astype(float)


def predict_rows(estimator: Any, X: Any, domain: int = TARGET) -> np.ndarray:
    """Predicted labels of rows of one domain (source rows through the source mapping)."""
    model = unwrap_method(estimator)
    adapter = _adapter(model)
    if domain == SOURCE and adapter is not None and hasattr(model, "estimator_"):
        return model.estimator_.predict(adapter.transform(X, np.full(count_rows(X), SOURCE)))
    return (model if domain == SOURCE else estimator).predict(X)


def predictions_with_confidence(estimator: Any, X: Any) -> tuple[np.ndarray, np.ndarray]:
    """A fitted model's labels of target rows ``X`` and each label's probability under it
    (:func:`predict_proba_rows`: a softmax of the decision scores for a classifier without
    probabilities), for the files of predictions the commands write."""
    predicted = np.asarray(estimator.predict(X))
    column = {label: i for i, label in enumerate(np.asarray(estimator.classes_).tolist())}
    index = [column[label] for label in predicted.tolist()]
    return predicted, predict_proba_rows(estimator, X)[np.arange(len(predicted)), index]


def representation(estimator: Any, X: Any, domain: int) -> Any:
    """The model's own representation of rows: an adapter's output, a deep encoder's, else X."""
    model = unwrap_method(estimator)
    adapter = _adapter(model)
    if adapter is not None:
        return adapter.transform(X, np.full(count_rows(X), domain))
    transform = getattr(model, "transform", None)
    if transform is not None:
        try:
            if "domain" in inspect.signature(transform).parameters:
                return transform(X, np.full(count_rows(X), domain))
        except (TypeError, ValueError, AttributeError, NotImplementedError):
            pass
    return X


def model_classes(estimator: Any) -> np.ndarray:
    """The estimator's ``classes_`` as an array (empty when it has none)."""
    return np.asarray(getattr(estimator, "classes_", []))
