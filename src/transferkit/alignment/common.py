"""Helpers shared by several alignment families: column means, covariances, default sizes.

:func:`covariance_square_norm` estimates ``||Σ||_F^2`` without the bias of the sample
covariance, for the covariance distance of :func:`transferkit.multisource.domain_distance`.

Kept apart so that CORAL (:mod:`~transferkit.alignment.coral`), subspace alignment
(:mod:`~transferkit.alignment.subspace`) and the kernel methods
(:mod:`~transferkit.alignment.kernel_components`) use one definition of each.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from transferkit.exceptions import InvalidParameterError
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


def covariance_square_norm(X: DataMatrix) -> float:
    """The unbiased estimate of ``tr(Σ^2) = ||Σ||_F^2`` from the rows of ``X`` (dense or sparse),
    the mean unknown (Chen, Zhang & Zhong 2010, Eq. 2.1): with ``G = X X^T``,
    ``A / P(n,2) - 2 B / P(n,3) + C / P(n,4)`` over sums of ``G`` on distinct indices (``A``:
    ``G_ij^2``, ``B``: ``G_ij G_jk``, ``C``: ``G_ij G_kl``; ``P(n,k) = n! / (n-k)!``), each
    computed from ``X^T X``, the row norms and the column sums, without the n x n matrix."""
    n = X.shape[0]
    if n < 4:
        raise InvalidParameterError(
            f"The covariance distance needs at least 4 rows per domain; got {n}."
        )
    scatter = X.T @ X
    scatter = scatter.toarray() if sp.issparse(scatter) else np.asarray(scatter, dtype=float)
    norms = np.asarray(X.multiply(X).sum(axis=1) if sp.issparse(X) else (X * X).sum(axis=1))
    norms = norms.ravel().astype(float)
    total = np.asarray(X.sum(axis=0), dtype=float).ravel()
    off_rows = np.asarray(X @ total, dtype=float).ravel() - norms  # sum over i != j of G_ij
    pairs = float(np.sum(scatter * scatter) - np.sum(norms**2))  # A
    paths = float(np.sum(off_rows**2)) - pairs  # B
    offdiagonal = float(np.sum(total**2) - np.sum(norms))  # the sum of G_ij over i != j
    quadruples = offdiagonal**2 - 4.0 * paths - 2.0 * pairs  # C
    p2 = n * (n - 1.0)
    p3 = p2 * (n - 2.0)
    p4 = p3 * (n - 3.0)
    return pairs / p2 - 2.0 * paths / p3 + quadruples / p4


def default_components(value: int | None, default: int, available: int) -> int:
    """``value``, or when it is None the smaller of ``default`` and ``available``."""
    return min(default, available) if value is None else value
