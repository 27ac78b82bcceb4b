"""Checks of method parameters and inputs, shared by the method modules.

Each check returns the value in its usable form or raises
:class:`~transferkit.exceptions.ParameterValueError` (an
:class:`~transferkit.exceptions.InvalidParameterError`) with a message naming the method, the
parameter and what it must be (:func:`check_probabilistic`, for a classifier without
probabilities, raises :class:`~transferkit.exceptions.NotApplicableError`). Kept apart from the
math modules (kernels, alignment, invariant, reweighting, selection) so that any of them can use
the checks without importing another's math.

Examples
--------
>>> from transferkit.checks import check_positive_int
>>> check_positive_int(3, "n_components", "tca")
3
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp

from transferkit.exceptions import NotApplicableError, ParameterValueError
from transferkit.problem import DataMatrix

__all__ = [
    "check_choice",
    "check_count",
    "check_nonnegative",
    "check_number",
    "check_positive_int",
    "check_probabilistic",
    "densify",
    "is_number",
    "warn_densify",
]


def is_number(value: Any) -> bool:
    """Whether ``value`` is a finite real number (Python or numpy int/float; bool counts as int)."""
    return isinstance(value, int | float | np.integer | np.floating) and bool(np.isfinite(value))


def check_positive_int(value: Any, name: str, method: str) -> int:
    """``value`` as an int >= 1, else :class:`ParameterValueError` naming ``method``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ParameterValueError(f"{method}: {name}={value!r} must be a positive integer.")
    return int(value)


def check_nonnegative(value: Any, name: str, method: str, strict: bool = False) -> float:
    """``value`` as a float >= 0 (> 0 when ``strict``), else :class:`ParameterValueError`."""
    if isinstance(value, bool) or not is_number(value) or value < 0 or (strict and value == 0):
        bound = "positive" if strict else "non-negative"
        raise ParameterValueError(f"{method}: {name}={value!r} must be a {bound} number.")
    return float(value)


def check_choice(value: Any, name: str, method: str, choices: tuple[Any, ...]) -> Any:
    """``value`` if it is one of ``choices``, else :class:`ParameterValueError`."""
    if value not in choices:
        raise ParameterValueError(
            f"{method}: {name}={value!r} is not supported; use one of {choices}."
        )
    return value


def check_probabilistic(
    estimator: Any,
    why: str,
    fix: str = "use LogisticRegression, or wrap the model in "
    "sklearn.calibration.CalibratedClassifierCV",
) -> Any:
    """``estimator`` if it has ``predict_proba``, else
    :class:`~transferkit.exceptions.NotApplicableError` saying ``why`` the method needs
    probabilities and how to ``fix`` it."""
    if not hasattr(estimator, "predict_proba"):
        raise NotApplicableError(f"{type(estimator).__name__} has no predict_proba; {why} ({fix}).")
    return estimator


# The two checks below name only the parameter (the dataset loaders' messages); the ones above
# also name the method, for estimators whose parameters reach them through a suite or the CLI.


def check_count(value: Any, name: str, minimum: int = 1) -> int:
    """An integer count of at least ``minimum`` or an InvalidParameterError naming it."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ParameterValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def check_number(
    value: Any, name: str, low: float | None = None, high: float | None = None
) -> float:
    """A finite real number within [low, high] or an InvalidParameterError naming it."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ParameterValueError(f"{name} must be a number; got {value!r}.") from None
    if (
        not np.isfinite(number)
        or (low is not None and number < low)
        or (high is not None and number > high)
    ):
        bounds = f" in [{low}, {high}]" if low is not None or high is not None else ""
        raise ParameterValueError(f"{name} must be a finite number{bounds}; got {value!r}.")
    return number


def warn_densify(X: DataMatrix, method: str, why: str) -> None:
    """Warn that ``method`` turns the sparse ``X`` into dense data (and how much that takes)."""
    message = (
        f"{method} converts the sparse {X.shape[0]}x{X.shape[1]} input to a dense array "
        f"({why}); this takes {X.shape[0] * X.shape[1] * 8 / 1e6:.0f} MB."
    )
    warnings.warn(message, UserWarning, stacklevel=4)


def densify(X: DataMatrix, method: str, why: str) -> np.ndarray:
    """``X`` as a dense float array; sparse input is converted with a warning saying why."""
    if sp.issparse(X):
        warn_densify(X, method, why)
        return X.toarray().astype(float, copy=False)
    return np.asarray(X, dtype=float)
