"""Helpers shared by several alignment families: column means, covariances, default sizes.

Kept apart so that CORAL (:mod:`~transferkit.alignment.coral`), subspace alignment
(:mod:`~transferkit.alignment.subspace`) and the kernel methods
(:mod:`~transferkit.alignment.kernel_components`) use one definition of each.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from transferkit.problem import DataMatrix


def column_mean(X: DataMatrix) -> np.ndarray:
    """Mean of each column (a dense 1-D array) of dense or sparse ``X``."""
    return np.asarray(X.mean(axis=0)).ravel()


def covariance(X: DataMatrix) -> np.ndarray:
    """Sample covariance (d x d, dense) of dense or sparse ``X`` without densifying ``X``."""
    n = X.shape[0]
    mean = column_mean(X)
    scatter = X.T @ X
    scatter = scatter.toarray() if sp.issparse(scatter) else np.asarray(scatter, dtype=float)
    C = (scatter - n * np.outer(mean, mean)) / max(n - 1, 1)
    return (C + C.T) / 2


def default_components(value: int | None, default: int, available: int) -> int:
    """``value``, or when it is None the smaller of ``default`` and ``available``."""
    return min(default, available) if value is None else value
