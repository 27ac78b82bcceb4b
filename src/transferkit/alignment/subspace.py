"""Subspace alignment: align the source PCA basis to the target's (Fernando et al. 2013).

:func:`principal_axes` (PCA that never densifies sparse input), :func:`subspace_alignment` and the
:class:`SubspaceAlignment` adapter, registered as ``sa``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg
from sklearn.utils import check_random_state

from transferkit.alignment.common import column_mean, covariance, default_components
from transferkit.base import AdaptedClassifier, BaseAdapter
from transferkit.checks import check_positive_int
from transferkit.exceptions import InvalidParameterError
from transferkit.problem import SOURCE, DataMatrix, TransferProblem
from transferkit.registry import register_method


def _gram_axes(X: np.ndarray, mean: np.ndarray, n_components: int) -> np.ndarray:
    """Principal axes from the n x n Gram matrix (for n < d: ``O(n^2 d)``).

    When the centred data span only ``r < n_components`` directions (e.g. 80 samples asked for
    80 axes), the ``r`` data axes are completed by an orthonormal basis of part of their
    complement, drawn from a fixed seed: every sample projects to zero on those axes, so which
    completion is chosen does not change any embedding of the fitted data.
    """
    centred = np.asarray(X, dtype=float) - mean
    eigenvalues, eigenvectors = np.linalg.eigh(centred @ centred.T)
    eigenvalues, eigenvectors = eigenvalues[::-1], eigenvectors[:, ::-1]
    floor = max(eigenvalues[0], 1e-300) * 1e-10
    rank = min(int(np.sum(eigenvalues > floor)), n_components)
    axes = centred.T @ (eigenvectors[:, :rank] / np.sqrt(eigenvalues[:rank]))
    if rank < n_components:
        extra = np.random.default_rng(0).standard_normal((centred.shape[1], n_components - rank))
        for _ in range(2):  # twice, for orthogonality to working precision
            extra -= axes @ (axes.T @ extra)
        extra = np.linalg.qr(extra)[0]
        axes = np.hstack([axes, extra])
    return axes


def principal_axes(
    X: DataMatrix, n_components: int, random_state: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and the ``n_components`` leading principal axes (d x k, orthonormal columns) of ``X``.

    Dense input with fewer samples than features uses the eigenvectors of the Gram matrix; with up
    to 2,000 features, the leading eigenvectors of the covariance; larger or sparse input uses
    ARPACK on the implicitly centred covariance, so sparse ``X`` is never densified. Signs are
    fixed (largest entry of each axis positive) so results are deterministic.
    """
    n, d = X.shape
    mean = column_mean(X)
    axes = _gram_axes(X, mean, n_components) if not sp.issparse(X) and n < d else None
    if axes is None and (not sp.issparse(X) and d <= 2000 or n_components >= d - 1):
        # only the leading eigenpairs are computed (LAPACK ?syevr with an index range)
        _, eigenvectors = scipy.linalg.eigh(
            covariance(X), subset_by_index=[d - n_components, d - 1], driver="evr"
        )
        axes = eigenvectors[:, ::-1]
    elif axes is None:

        def covariance_times(v: np.ndarray) -> np.ndarray:
            v = np.asarray(v).reshape(d, -1)
            Xv = np.asarray(X @ v)
            out = np.asarray(X.T @ Xv) - n * np.outer(mean, mean @ v)
            return (out / max(n - 1, 1)).ravel() if out.shape[1] == 1 else out / max(n - 1, 1)

        operator = scipy.sparse.linalg.LinearOperator((d, d), matvec=covariance_times, dtype=float)
        v0 = check_random_state(random_state).uniform(-1, 1, size=d)
        eigenvalues, eigenvectors = scipy.sparse.linalg.eigsh(
            operator, k=n_components, which="LA", v0=v0
        )
        axes = eigenvectors[:, np.argsort(eigenvalues)[::-1]]
    signs = np.sign(axes[np.abs(axes).argmax(axis=0), np.arange(axes.shape[1])])
    signs[signs == 0] = 1
    return mean, axes * signs


def subspace_alignment(
    Xs: DataMatrix, Xt: DataMatrix, n_components: int
) -> tuple[np.ndarray, np.ndarray]:
    """Source and target in the aligned subspaces: ``(Xs P_s M, Xt P_t)`` with ``M = P_s^T P_t``.

    Fernando, Habrard, Sebban & Tuytelaars (2013), "Unsupervised visual domain adaptation using
    subspace alignment", ICCV, Eq. 2-4 and Algorithm 1: the source PCA basis ``P_s`` is aligned to
    the target basis ``P_t`` by ``M* = P_s^T P_t``. Each domain is centred on its own mean.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Zs, Zt = subspace_alignment(rng.normal(size=(60, 10)), rng.normal(size=(50, 10)), 3)
    >>> Zs.shape, Zt.shape
    ((60, 3), (50, 3))
    """
    _check_sa_components(n_components, Xs.shape[1])
    mean_s, axes_s = principal_axes(Xs, n_components)
    mean_t, axes_t = principal_axes(Xt, n_components)
    alignment = axes_s.T @ axes_t
    Zs = (np.asarray(Xs @ axes_s) - mean_s @ axes_s) @ alignment
    Zt = np.asarray(Xt @ axes_t) - mean_t @ axes_t
    return Zs, Zt


def _check_sa_components(n_components: Any, n_features: int, method: str = "sa") -> int:
    n_components = check_positive_int(n_components, "n_components", method)
    if n_components > n_features:
        raise InvalidParameterError(
            f"{method}: n_components={n_components} is more than the {n_features} features; "
            f"choose at most {n_features}."
        )
    return n_components


class SubspaceAlignment(BaseAdapter):
    """Subspace Alignment: align the source PCA basis to the target's (Fernando et al. 2013).

    Fernando, Habrard, Sebban & Tuytelaars (2013), ICCV, Eq. 2-4: ``M* = P_s^T P_t``; source rows
    map to ``(x - mu_s) P_s M*``, target rows to ``(x - mu_t) P_t``.

    Parameters
    ----------
    n_components : int or None, default None
        Subspace dimension ``d``; None uses ``min(80, n_features)`` (80 is the harness' value).
    random_state : int or None, default None
        Seeds the ARPACK start vector used for sparse or very wide input.

    Notes
    -----
    Sparse input stays sparse (the principal axes are found without densifying).

    Examples
    --------
    >>> from transferkit.datasets import make_shifted_blobs
    >>> problem = make_shifted_blobs(n_samples=60, n_features=8, covariate_shift=1, random_state=0)
    >>> SubspaceAlignment(n_components=3).fit(problem).transform(problem.X_target).shape
    (60, 3)
    """

    accepts_sparse = True

    def __init__(self, n_components: int | None = None, random_state: int | None = None):
        self.n_components = n_components
        self.random_state = random_state

    def _fit(self, problem: TransferProblem) -> None:
        d = problem.n_features
        n_components = _check_sa_components(
            default_components(self.n_components, 80, d), d, "SubspaceAlignment"
        )
        self.source_mean_, self.source_axes_ = principal_axes(
            problem.X_source, n_components, self.random_state
        )
        self.target_mean_, self.target_axes_ = principal_axes(
            problem.X_target, n_components, self.random_state
        )
        self.alignment_ = self.source_axes_.T @ self.target_axes_
        self.n_components_ = n_components

    def _transform(self, X: DataMatrix, domain: int) -> np.ndarray:
        if domain == SOURCE:
            projected = np.asarray(X @ self.source_axes_) - self.source_mean_ @ self.source_axes_
            return projected @ self.alignment_
        return np.asarray(X @ self.target_axes_) - self.target_mean_ @ self.target_axes_


@register_method("sa", "alignment", "Subspace alignment of PCA bases (Fernando et al. 2013)")
def _sa(estimator: Any, random_state: int | None, n_components: int | None = None) -> Any:
    return AdaptedClassifier(SubspaceAlignment(n_components, random_state), estimator)
