"""CORAL: re-colour the source with the target covariance (Sun, Feng & Saenko 2016).

The closed form as plain functions (:func:`coral_transform_matrix`, :func:`coral_align`) and the
:class:`CORAL` adapter over it, registered as ``coral``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from transferkit.alignment.common import column_mean, covariance
from transferkit.base import AdaptedClassifier, BaseAdapter
from transferkit.checks import check_nonnegative, densify, warn_densify
from transferkit.problem import SOURCE, DataMatrix, TransferProblem
from transferkit.registry import register_method


def _symmetric_power(C: np.ndarray, power: float) -> np.ndarray:
    """``C ** power`` for a symmetric positive semi-definite ``C``, through ``eigh``.

    Eigenvalues are floored at ``1e-10`` of the largest so inverse powers stay finite.
    """
    eigenvalues, eigenvectors = np.linalg.eigh((C + C.T) / 2)
    floor = max(float(eigenvalues[-1]), 1e-300) * 1e-10
    eigenvalues = np.clip(eigenvalues, floor, None)
    return (eigenvectors * eigenvalues**power) @ eigenvectors.T


class _CovariancePower:
    """``(C + lambda I)^power`` for the sample covariance ``C`` of ``X``, applied to rows.

    With fewer samples than features and ``lambda > 0`` it is kept in the low-rank form
    ``lambda^p I + V diag((s^2 + lambda)^p - lambda^p) V^T`` from the ``n x n`` Gram matrix
    (``O(n^2 d)``, no ``d x d`` eigen-decomposition; sparse ``X`` is never densified); otherwise
    it is the dense ``d x d`` power from ``eigh``.
    """

    def __init__(self, X: DataMatrix, regularization: float, power: float):
        n, d = X.shape
        self.power = power
        self.regularization = regularization
        self.full: np.ndarray | None = None
        if n < d and regularization > 0:
            mean = column_mean(X)
            product = X @ X.T
            product = product.toarray() if sp.issparse(product) else np.asarray(product, float)
            row_dots = np.asarray(X @ mean).ravel()
            gram_centred = product - row_dots[:, None] - row_dots[None, :] + mean @ mean
            eigenvalues, U = np.linalg.eigh((gram_centred + gram_centred.T) / 2)
            keep = eigenvalues > max(float(eigenvalues[-1]), 1e-300) * 1e-10
            eigenvalues, U = eigenvalues[keep], U[:, keep]
            scaled = U / np.sqrt(eigenvalues)
            self.V = np.asarray(X.T @ scaled) - np.outer(mean, scaled.sum(axis=0))
            s2 = eigenvalues / max(n - 1, 1)
            self.diagonal = (s2 + regularization) ** power - regularization**power
        else:
            self.full = _symmetric_power(covariance(X) + regularization * np.eye(d), power)

    def apply(self, Y: np.ndarray) -> np.ndarray:
        """``Y @ (C + lambda I)^power`` for dense rows ``Y``."""
        if self.full is not None:
            return Y @ self.full
        return self.regularization**self.power * Y + ((Y @ self.V) * self.diagonal) @ self.V.T

    def matrix(self, d: int) -> np.ndarray:
        return self.full if self.full is not None else self.apply(np.eye(d))


def coral_transform_matrix(
    Xs: DataMatrix, Xt: DataMatrix, regularization: float = 1.0
) -> np.ndarray:
    """The d x d CORAL map ``A = (C_s + lambda I)^(-1/2) (C_t + lambda I)^(1/2)``.

    Sun, Feng & Saenko (2016), "Return of frustratingly easy domain adaptation", AAAI,
    Algorithm 1 (the closed form of Eq. 1): whiten the source with its regularised covariance, then
    re-colour it with the target's. Covariances are computed without densifying sparse input.
    """
    check_nonnegative(regularization, "regularization", "coral")
    whiten = _CovariancePower(Xs, regularization, -0.5)
    recolour = _CovariancePower(Xt, regularization, 0.5)
    return whiten.apply(recolour.matrix(Xs.shape[1])).T


def coral_align(Xs: DataMatrix, Xt: DataMatrix, regularization: float = 1.0) -> np.ndarray:
    """Source rows re-coloured to the target covariance (CORAL; Sun et al. 2016, Algorithm 1).

    The source is also moved onto the target mean, so first and second moments match; with the
    paper's standardised inputs this is a no-op.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Xs, Xt = rng.normal(size=(500, 3)), rng.normal(size=(500, 3)) * [1.0, 3.0, 0.5]
    >>> aligned = coral_align(Xs, Xt, regularization=0.0)
    >>> np.round(aligned.std(axis=0), 1)
    array([1. , 2.9, 0.5])
    """
    check_nonnegative(regularization, "regularization", "coral")
    whiten = _CovariancePower(Xs, regularization, -0.5)
    recolour = _CovariancePower(Xt, regularization, 0.5)
    Xs = densify(Xs, "coral", "the re-coloured source is dense")
    return recolour.apply(whiten.apply(Xs - Xs.mean(axis=0))) + column_mean(Xt)


class CORAL(BaseAdapter):
    """CORrelation ALignment: re-colour the source with the target covariance.

    Sun, Feng & Saenko (2016), "Return of frustratingly easy domain adaptation", AAAI, Eq. 1 and
    Algorithm 1: ``D_s = X_s (C_s + lambda I)^(-1/2) (C_t + lambda I)^(1/2)``. Target rows pass
    through unchanged; source rows are re-coloured (and moved onto the target mean). With fewer
    samples than features the two matrix powers stay in low-rank form (see the class notes).

    Parameters
    ----------
    regularization : float, default 1.0
        ``lambda`` added to both covariances' diagonals (the paper's "+ eye(size)").

    Notes
    -----
    Sparse input: the covariances are computed without densifying, but the re-coloured source is
    dense, so the adapter returns dense arrays (with a warning).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from transferkit.base import AdaptedClassifier
    >>> from transferkit.problem import TransferProblem
    >>> rng = np.random.default_rng(0)
    >>> problem = TransferProblem(rng.normal(size=(100, 4)), np.arange(100) % 2,
    ...                           rng.normal(size=(80, 4)) * 2)
    >>> clf = AdaptedClassifier(CORAL(regularization=1.0), KNeighborsClassifier(1)).fit(problem)
    >>> clf.predict(problem.X_target).shape
    (80,)
    """

    def __init__(self, regularization: float = 1.0):
        self.regularization = regularization

    def _fit(self, problem: TransferProblem) -> None:
        check_nonnegative(self.regularization, "regularization", "CORAL")
        if problem.is_sparse:
            warn_densify(problem.X_source, "CORAL", "the re-coloured source is dense")
        self.whiten_ = _CovariancePower(problem.X_source, self.regularization, -0.5)
        self.recolour_ = _CovariancePower(problem.X_target, self.regularization, 0.5)
        self.source_mean_ = column_mean(problem.X_source)
        self.target_mean_ = column_mean(problem.X_target)

    @property
    def transform_matrix_(self) -> np.ndarray:
        """The d x d map ``(C_s + lambda I)^(-1/2) (C_t + lambda I)^(1/2)``."""
        d = len(self.source_mean_)
        return self.whiten_.apply(self.recolour_.matrix(d)).T

    def _transform(self, X: DataMatrix, domain: int) -> np.ndarray:
        X = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=float)
        if domain == SOURCE:
            return (
                self.recolour_.apply(self.whiten_.apply(X - self.source_mean_)) + self.target_mean_
            )
        return X


@register_method("coral", "alignment", "CORAL: re-colour the source covariance (Sun et al. 2016)")
def _coral(estimator: Any, random_state: int | None, regularization: float = 1.0) -> Any:
    return AdaptedClassifier(CORAL(regularization=regularization), estimator)
