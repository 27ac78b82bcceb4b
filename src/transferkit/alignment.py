"""Making representations similar: CORAL, SA, TCA, JDA, feature augmentation and OT mapping.

Each method is a pure function doing the math on arrays (:func:`coral_align`,
:func:`subspace_alignment`, :func:`tca_components`, :func:`jda_components`,
:func:`augment_features`, :func:`ot_map`) and a thin :class:`~transferkit.base.BaseAdapter` around it
that follows scikit-learn's estimator contract and composes with any classifier through
:class:`~transferkit.base.AdaptedClassifier`. Each is registered for suites and the CLI
(``transferkit bench SUITE --methods coral,sa,tca,jda,ot``).

The kernel methods (TCA, JDA) solve their eigenproblem on an explicit feature map ``Phi`` with
``K = Phi Phi^T`` (:mod:`transferkit.kernels`): exact below ``exact_threshold`` samples, Nyström
above, so their cost is ``O(n r^2)`` for ``r`` landmarks instead of ``O(n^3)``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import replace
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg
from sklearn.base import clone
from sklearn.metrics import pairwise_distances_argmin
from sklearn.neighbors import KNeighborsClassifier
from sklearn.utils import check_random_state

from transferkit.base import AdaptedClassifier, BaseAdapter, stack_rows
from transferkit.checks import (
    check_choice,
    check_nonnegative,
    check_positive_int,
    densify,
    warn_densify,
)
from transferkit.exceptions import InvalidParameterError, NotApplicableError
from transferkit.kernels import (
    KernelFeatureMap,
    check_kernel,
    choose_approximation,
    column_sums,
    gram,
)
from transferkit.problem import FEATURE_LAYOUT_METADATA, SOURCE, DataMatrix, TransferProblem
from transferkit.registry import register_method

logger = logging.getLogger(__name__)

__all__ = [
    "AdapterChain",
    "CORAL",
    "FeatureAugmentation",
    "JDA",
    "OTMapping",
    "SubspaceAlignment",
    "TCA",
    "augment_features",
    "coral_align",
    "coral_transform_matrix",
    "jda_components",
    "ot_map",
    "principal_axes",
    "subspace_alignment",
    "tca_components",
    "transfer_components",
]


# ====================================================================== shared helpers


def _mean(X: DataMatrix) -> np.ndarray:
    return np.asarray(X.mean(axis=0)).ravel()


def covariance(X: DataMatrix) -> np.ndarray:
    """Sample covariance (d x d, dense) of dense or sparse ``X`` without densifying ``X``."""
    n = X.shape[0]
    mean = _mean(X)
    scatter = X.T @ X
    scatter = scatter.toarray() if sp.issparse(scatter) else np.asarray(scatter, dtype=float)
    C = (scatter - n * np.outer(mean, mean)) / max(n - 1, 1)
    return (C + C.T) / 2


def _symmetric_power(C: np.ndarray, power: float) -> np.ndarray:
    """``C ** power`` for a symmetric positive semi-definite ``C``, through ``eigh``.

    Eigenvalues are floored at ``1e-10`` of the largest so inverse powers stay finite.
    """
    eigenvalues, eigenvectors = np.linalg.eigh((C + C.T) / 2)
    floor = max(float(eigenvalues[-1]), 1e-300) * 1e-10
    eigenvalues = np.clip(eigenvalues, floor, None)
    return (eigenvectors * eigenvalues**power) @ eigenvectors.T


def _default_components(value: int | None, default: int, available: int) -> int:
    return min(default, available) if value is None else value


# ====================================================================== CORAL
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
            mean = _mean(X)
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
    return recolour.apply(whiten.apply(Xs - Xs.mean(axis=0))) + _mean(Xt)


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
        self.source_mean_ = _mean(problem.X_source)
        self.target_mean_ = _mean(problem.X_target)

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
    mean = _mean(X)
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
    >>> import numpy as np
    >>> from transferkit.problem import TransferProblem
    >>> rng = np.random.default_rng(0)
    >>> problem = TransferProblem(rng.normal(size=(60, 8)), np.arange(60) % 2,
    ...                           rng.normal(size=(40, 8)))
    >>> SubspaceAlignment(n_components=3).fit(problem).transform(problem.X_target).shape
    (40, 3)
    """

    accepts_sparse = True

    def __init__(self, n_components: int | None = None, random_state: int | None = None):
        self.n_components = n_components
        self.random_state = random_state

    def _fit(self, problem: TransferProblem) -> None:
        d = problem.n_features
        n_components = _check_sa_components(
            _default_components(self.n_components, 80, d), d, "SubspaceAlignment"
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


# ====================================================================== TCA / JDA
class _SpanBasis:
    """The SVD of the feature map ``Phi = U S V^T`` that TCA/JDA solve in, computed once per fit.

    From the ``width x width`` Gram matrix ``Phi^T Phi``, or from the ``n x n`` matrix ``Phi Phi^T``
    when there are fewer samples than features (cost ``O(n w min(n, w))``).
    """

    def __init__(self, Psi: DataMatrix, right: np.ndarray | None = None):
        # the feature map is Phi = Psi @ right (right None: Phi = Psi); with Nyström, Psi is the
        # n x m kernel against the landmarks and right the m x r normalisation, so Phi is never
        # formed: Phi^T Phi = right^T (Psi^T Psi) right
        self.right = right
        self.n = Psi.shape[0]
        self.width = Psi.shape[1] if right is None else right.shape[1]
        if right is None and self.n < self.width:
            K = Psi @ Psi.T
            K = K.toarray() if sp.issparse(K) else np.asarray(K, dtype=float)
            s2, U = np.linalg.eigh((K + K.T) / 2)
            keep = s2 > max(float(s2[-1]), 1e-300) * 1e-10
            s2, U = s2[keep], U[:, keep]
            V = np.asarray(Psi.T @ (U / np.sqrt(s2)))
        else:
            G = gram(Psi) if right is None else right.T @ gram(Psi) @ right
            s2, V = np.linalg.eigh((G + G.T) / 2)
            keep = s2 > max(float(s2[-1]), 1e-300) * 1e-10
            s2, V = s2[keep], V[:, keep]
        self.s2, self.V = s2, V
        self.rank = len(s2)
        self.ones = self._phi_sums(Psi, np.ones(self.n)) @ V  # V^T Phi^T 1

    def _phi_sums(self, Psi: DataMatrix, weights: np.ndarray) -> np.ndarray:
        """``Phi^T weights``."""
        sums = column_sums(Psi, weights)
        return sums if self.right is None else self.right.T @ sums

    def solve(
        self,
        Psi: DataMatrix,
        mmd_vectors: np.ndarray,
        n_components: int,
        regularization: float,
        form: str,
        scaling: str = "unit",
    ) -> np.ndarray:
        if n_components > self.rank:
            _too_many_components(n_components, self.rank, self.n, self.width)
        n, s2, ones = self.n, self.s2, self.ones
        mmd = self._phi_sums(Psi, mmd_vectors).reshape(self.width, -1).T @ self.V  # (V^T Phi^T e)^T
        s = np.sqrt(s2)
        if form == "dual":
            # variables C with W = U C (U = Phi V S^-1): maximise C^T S^2 U^T H U S^2 C
            # over C^T (S^2 U^T M U S^2 + mu I) C
            diagonal, centre = s2**2, s * ones
            factor = (mmd * s).T
        else:
            diagonal, centre = s2, ones
            factor = mmd.T
        A = np.diag(diagonal) - np.outer(centre, centre) / n
        vectors, values = _leading_generalized(A, factor, regularization, n_components)
        vectors = _scale_components(vectors, values, scaling, self.n, A)
        projection = self.V @ (vectors * s[:, None]) if form == "dual" else self.V @ vectors
        # a projection of Psi (the caller's matrix) rather than of Phi
        return projection if self.right is None else self.right @ projection


def _leading_generalized(A: np.ndarray, factor: np.ndarray, ridge: float, k: int) -> np.ndarray:
    """Leading ``k`` eigenvectors of ``A x = nu B x`` with ``B = F F^T + ridge I`` (the TCA/JDA
    pencil), ``A`` symmetric.

    ``B^(-1/2)`` has a closed form from the thin SVD of the low-rank ``F`` (one column per MMD
    term), so the pencil reduces to a standard symmetric eigenproblem of which only the top ``k``
    pairs are computed; without a ridge it falls back to LAPACK's generalised solver.
    Returns the eigenvectors (columns) and their eigenvalues, largest first.
    """
    r = A.shape[0]
    scale = max(float(np.abs(np.diag(A)).max()), 1e-300)
    if ridge <= 1e-12 * scale:
        B = factor @ factor.T
        B += np.eye(r) * (ridge + 1e-12 * max(np.trace(B) / r, scale))
        values, vectors = scipy.linalg.eigh(A, B, subset_by_index=[r - k, r - 1])
        return vectors[:, ::-1], values[::-1]
    Q, sigma, _ = np.linalg.svd(factor, full_matrices=False)
    shrink = (sigma**2 + ridge) ** -0.5 - ridge**-0.5
    # W = B^(-1/2) = ridge^(-1/2) I + Q diag(shrink) Q^T
    AW = ridge**-0.5 * A + ((A @ Q) * shrink) @ Q.T
    whitened = ridge**-0.5 * AW + Q @ (shrink[:, None] * (Q.T @ AW))
    whitened = (whitened + whitened.T) / 2
    values, vectors = scipy.linalg.eigh(whitened, subset_by_index=[r - k, r - 1], driver="evr")
    vectors = vectors[:, ::-1]
    return ridge**-0.5 * vectors + Q @ (shrink[:, None] * (Q.T @ vectors)), values[::-1]


class _SampleSpaceSolver:
    """The dual (TCA, kernel JDA) problem solved directly in the n-dimensional sample space.

    Used when there are fewer samples than feature-map columns: with ``K = Psi Psi^T`` the pencil
    is ``(K H K, K M K + mu I)``, and since ``K M K`` has rank ``|MMD terms|`` the whitening is
    closed-form, so one partial symmetric eigen-decomposition of an ``n x n`` matrix solves it
    (the span route would first need a full one). ``K H K`` is computed once per fit.
    """

    def __init__(self, Psi: DataMatrix):
        K = Psi @ Psi.T
        K = K.toarray() if sp.issparse(K) else np.asarray(K, dtype=float)
        self.K = (K + K.T) / 2
        self.n = K.shape[0]
        self.width = Psi.shape[1]
        self.rank = min(self.n, self.width)  # an upper bound; solve() checks the real one
        row_sums = self.K.sum(axis=1)
        self.KHK = self.K @ self.K - np.outer(row_sums, row_sums) / self.n

    def solve(
        self,
        Psi: DataMatrix,
        mmd_vectors: np.ndarray,
        n_components: int,
        regularization: float,
        form: str,
        scaling: str = "unit",
    ) -> np.ndarray:
        if n_components > self.n:
            _too_many_components(n_components, self.n, self.n, self.width)
        vectors, values = _leading_generalized(
            self.KHK, self.K @ mmd_vectors.reshape(self.n, -1), regularization, n_components
        )
        if values[-1] <= max(float(values[0]), 1e-300) * 1e-10:
            rank = int(np.linalg.matrix_rank(self.K))
            _too_many_components(n_components, rank, self.n, self.width)
        vectors = _scale_components(vectors, values, scaling, self.n, self.KHK)
        return np.asarray(Psi.T @ vectors)


def _scale_components(
    vectors: np.ndarray, values: np.ndarray, scaling: str, n: int, centred: np.ndarray
) -> np.ndarray:
    """Scale generalised eigenvectors (returned ``B``-normalised, ``x^T B x = 1``).

    ``centred`` is the pencil's left matrix, the centred scatter of the embedding (``x^T A x`` is
    n times the variance of component x). "unit": unit Euclidean norm, the paper's "leading
    eigenvectors" as most implementations (and the harness) return them, then one global factor
    making the components' mean variance 1; a common factor changes no distance ranking (1-NN is
    unaffected) but keeps the embedding's numbers near 1 for solvers with a fixed regularisation.
    "whiten": the trace problem's constraint up to the factor n, ``x^T A x = n`` (TCA:
    ``W^T K H K W = n I``), i.e. every component has unit variance.
    """
    if scaling == "whiten":
        return vectors * np.sqrt(n / np.maximum(values, 1e-300))
    vectors = vectors / np.linalg.norm(vectors, axis=0, keepdims=True)
    variances = np.einsum("ij,ij->j", vectors, centred @ vectors) / n
    return vectors / np.sqrt(max(float(np.mean(variances)), 1e-300))


def _too_many_components(n_components: int, rank: int, n: int, width: int) -> None:
    raise InvalidParameterError(
        f"n_components={n_components} is more than the {rank} dimensions the data spans "
        f"({n} samples, feature map of width {width}); choose at most {rank}."
    )


def _solver(Psi: DataMatrix, right: np.ndarray | None, form: str) -> Any:
    """The cheaper exact route: the sample space for the dual form with n < width, else the span."""
    if form == "dual" and right is None and Psi.shape[0] < Psi.shape[1]:
        return _SampleSpaceSolver(Psi)
    return _SpanBasis(Psi, right)


def transfer_components(
    Phi: DataMatrix,
    mmd_vectors: np.ndarray,
    n_components: int,
    regularization: float,
    form: str = "dual",
) -> np.ndarray:
    """Solve the TCA/JDA trace problem on a feature map; returns ``P`` with embedding ``Phi @ P``.

    With ``K = Phi Phi^T``, ``M = E E^T`` (``E`` = ``mmd_vectors``, one MMD coefficient vector per
    column) and the centring matrix ``H``:

    * ``form="dual"`` (TCA, Pan et al. 2011, the trace problem of Sec. IV-B; kernel JDA):
      ``min_W tr(W^T K M K W) + mu tr(W^T W)`` s.t. ``W^T K H K W = I``, i.e. the leading
      eigenvectors of ``(K M K + mu I)^(-1) K H K``;
    * ``form="primal"`` (JDA, Long et al. 2013, Eq. 10 with the linear kernel):
      ``min_A tr(A^T Phi^T M Phi A) + lambda tr(A^T A)`` s.t. ``A^T Phi^T H Phi A = I``.

    Both are solved in the r-dimensional span of ``Phi`` (r = rank), via the eigen-decomposition of
    ``Phi^T Phi``, which is exact and costs ``O(n r^2 + r^3)`` instead of ``O(n^3)``. Eigenvectors
    are scaled to unit norm (the paper's "m leading eigenvectors").
    """
    check_choice(form, "form", "transfer_components", ("dual", "primal"))
    return _solver(Phi, None, form).solve(Phi, mmd_vectors, n_components, regularization, form)


def _mmd_vectors(
    n_source: int,
    n_target: int,
    source_labels: np.ndarray | None = None,
    target_labels: np.ndarray | None = None,
) -> np.ndarray:
    """Columns ``e`` with ``M = sum e e^T``: marginal MMD, plus one column per class (JDA Eq. 6)."""
    n = n_source + n_target
    columns = [
        np.concatenate([np.full(n_source, 1.0 / n_source), np.full(n_target, -1.0 / n_target)])
    ]
    if source_labels is not None and target_labels is not None:
        for label in np.unique(source_labels):
            in_source = source_labels == label
            in_target = target_labels == label
            if not in_target.any():
                continue
            column = np.zeros(n)
            column[:n_source][in_source] = 1.0 / in_source.sum()
            column[n_source:][in_target] = -1.0 / in_target.sum()
            columns.append(column)
    return np.column_stack(columns)


_KERNEL_FORMS = ("auto", "exact", "nystroem", "rff")


class _KernelAdapter(BaseAdapter):
    """Shared fit of the feature map for TCA and JDA."""

    accepts_sparse = True

    def _feature_map(self, X: DataMatrix, method: str) -> KernelFeatureMap:
        check_kernel(self.kernel, self.gamma, self.degree, self.coef0)
        check_choice(self.approximation, "approximation", method, _KERNEL_FORMS)
        n_landmarks = check_positive_int(self.n_landmarks, "n_landmarks", method)
        threshold = check_positive_int(self.exact_threshold, "exact_threshold", method)
        form = choose_approximation(
            self.approximation, X.shape[0], threshold, self.kernel, X.shape[1]
        )
        if form != "linear" and form != "exact":
            logger.info("%s: %d samples, using the %s form", method, X.shape[0], form)
        self.approximation_ = form
        return KernelFeatureMap(
            kernel=self.kernel,
            gamma=self.gamma,
            degree=self.degree,
            coef0=self.coef0,
            approximation=form,
            n_components=n_landmarks,
            random_state=self.random_state,
        ).fit(X)

    def _transform(self, X: DataMatrix, domain: int) -> np.ndarray:
        Z = np.asarray(self.feature_map_.raw_transform(X) @ self.projection_)
        return _row_normalize(Z) if getattr(self, "normalize_embedding_", False) else Z


def _row_normalize(Z: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(Z, axis=1, keepdims=True)
    return Z / np.where(norms > 0, norms, 1.0)


def tca_components(
    Xs: DataMatrix,
    Xt: DataMatrix,
    n_components: int = 30,
    mu: float = 1.0,
    kernel: str = "linear",
    gamma: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Source and target embedded on the transfer components (exact kernel TCA).

    Pan, Tsang, Kwok & Yang (2011), "Domain adaptation via transfer component analysis", IEEE TNN
    22(2), Sec. IV-B: the ``n_components`` leading eigenvectors ``W`` of
    ``(K L K + mu I)^(-1) K H K``; the embedding is ``K W``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Zs, Zt = tca_components(rng.normal(size=(40, 5)), rng.normal(1, size=(30, 5)), 2)
    >>> Zs.shape, Zt.shape
    ((40, 2), (30, 2))
    """
    n_components = check_positive_int(n_components, "n_components", "tca")
    mu = check_nonnegative(mu, "mu", "tca")
    X = stack_rows(Xs, Xt)
    form = "linear" if kernel == "linear" else "exact"
    feature_map = KernelFeatureMap(kernel, gamma, approximation=form).fit(X)
    Phi = feature_map.transform(X)
    P = transfer_components(Phi, _mmd_vectors(Xs.shape[0], Xt.shape[0]), n_components, mu)
    Z = np.asarray(Phi @ P)
    return Z[: Xs.shape[0]], Z[Xs.shape[0] :]


class TCA(_KernelAdapter):
    """Transfer Component Analysis: a kernel embedding where the domains' MMD is small.

    Pan, Tsang, Kwok & Yang (2011), "Domain adaptation via transfer component analysis", IEEE TNN
    22(2), Sec. IV-B (unsupervised TCA): minimise ``tr(W^T K L K W) + mu tr(W^T W)`` subject to
    ``W^T K H K W = I``; the solution is the leading eigenvectors of ``(K L K + mu I)^(-1) K H K``.
    Solved in the span of an explicit feature map (see :func:`transfer_components`), exact up to
    ``exact_threshold`` samples and Nyström above, so 100,000 samples per domain fit in memory.

    Parameters
    ----------
    n_components : int or None, default None
        Number of transfer components ``m``; None uses ``min(30, rank)``.
    mu : float, default 1.0
        Trade-off ``mu`` of the paper (weight of ``tr(W^T W)``), >= 0.
    kernel : {"linear", "rbf", "poly", "laplacian"}, default "linear"
    gamma : float, "median" or None, default None
        Kernel width (None: median heuristic).
    degree, coef0 : polynomial kernel parameters, defaults 3 and 1.0.
    approximation : {"auto", "exact", "nystroem", "rff"}, default "auto"
    n_landmarks : int, default 500
        Nyström landmarks (or random features) in the low-rank form.
    exact_threshold : int, default 2000
        "auto" stays exact up to this many samples (features, for the linear kernel).
    scaling : {"unit", "whiten"}, default "unit"
        "unit": unit-norm eigenvectors (as the paper's solution is usually returned, and as the
        published harness numbers used), all components then scaled by one common factor to
        mean variance 1; "whiten": each component to unit variance (the trace problem's
        constraint ``W^T K H K W = I`` up to n), which weighs weak components as much as strong
        ones (worse for 1-NN on Office-Caltech: 27 % against 38 %).
    random_state : int or None

    Notes
    -----
    Sparse input stays sparse (the kernel is computed from it directly).

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.problem import TransferProblem
    >>> rng = np.random.default_rng(0)
    >>> problem = TransferProblem(rng.normal(size=(60, 5)), np.arange(60) % 2,
    ...                           rng.normal(1.0, size=(40, 5)))
    >>> TCA(n_components=2).fit(problem).transform(problem.X_target).shape
    (40, 2)
    """

    def __init__(
        self,
        n_components: int | None = None,
        mu: float = 1.0,
        kernel: str = "linear",
        gamma: Any = None,
        degree: int = 3,
        coef0: float = 1.0,
        approximation: str = "auto",
        n_landmarks: int = 500,
        exact_threshold: int = 2000,
        scaling: str = "unit",
        random_state: int | None = None,
    ):
        self.n_components = n_components
        self.mu = mu
        self.scaling = scaling
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.approximation = approximation
        self.n_landmarks = n_landmarks
        self.exact_threshold = exact_threshold
        self.random_state = random_state

    def _fit(self, problem: TransferProblem) -> None:
        mu = check_nonnegative(self.mu, "mu", "TCA")
        check_choice(self.scaling, "scaling", "TCA", ("unit", "whiten"))
        if self.n_components is not None:
            check_positive_int(self.n_components, "n_components", "TCA")
        X = stack_rows(problem.X_source, problem.X_target)
        self.feature_map_ = self._feature_map(X, "TCA")
        Psi = self.feature_map_.raw_transform(X)
        basis = _solver(Psi, self.feature_map_.right_factor_, "dual")
        n_components = _default_components(self.n_components, 30, basis.rank)
        mmd = _mmd_vectors(problem.n_source, problem.n_target)
        self.projection_ = basis.solve(Psi, mmd, n_components, mu, "dual", self.scaling)
        self.n_components_ = n_components


def jda_components(
    Xs: DataMatrix,
    ys: np.ndarray,
    Xt: DataMatrix,
    n_components: int = 100,
    regularization: float = 1.0,
    n_iterations: int = 10,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Joint Distribution Adaptation with the linear kernel and 1-NN pseudo-labels.

    Long, Wang, Ding, Sun & Yu (2013), "Transfer feature learning with joint distribution
    adaptation", ICCV, Eq. 10 and Algorithm 1. Returns the embedded source, target and the final
    target pseudo-labels. See :class:`JDA` for the kernel and low-rank forms.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> ys = np.arange(60) % 2
    >>> Xs = rng.normal(size=(60, 5)) + ys[:, None]
    >>> Zs, Zt, pseudo = jda_components(Xs, ys, Xs + 0.5, n_components=2, n_iterations=3)
    >>> Zs.shape, Zt.shape, pseudo.shape
    ((60, 2), (60, 2), (60,))
    """
    jda = JDA(
        n_components=n_components,
        regularization=regularization,
        n_iterations=n_iterations,
        kernel="linear",
    )
    jda.fit(TransferProblem(Xs, ys, Xt))
    return (
        jda.transform(Xs, np.zeros(Xs.shape[0], dtype=int)),
        jda.transform(Xt),
        jda.pseudo_labels_,
    )


class JDA(_KernelAdapter):
    """Joint Distribution Adaptation: TCA plus class-conditional MMD on iterated pseudo-labels.

    Long, Wang, Ding, Sun & Yu (2013), "Transfer feature learning with joint distribution
    adaptation", ICCV: minimise ``tr(A^T X (M_0 + sum_c M_c) X^T A) + lambda ||A||_F^2`` subject to
    ``A^T X H X^T A = I`` (Eq. 10; ``M_0`` Eq. 3, ``M_c`` Eq. 6), re-estimating target labels
    with a classifier trained on the embedded source after each solve (Algorithm 1). With
    ``kernel="linear"`` this is the paper's primal form; other kernels use the kernelised form
    (the paper's "kernelization" paragraph), low-rank above ``exact_threshold`` samples. Visible
    target labels, if any, replace pseudo-labels for their samples.

    Parameters
    ----------
    n_components : int or None, default None
        Subspace dimension ``k``; None uses ``min(100, rank)`` (the paper's k = 100).
    regularization : float, default 1.0
        ``lambda`` of Eq. 10, >= 0 (the paper uses 1.0 on Office+Caltech).
    n_iterations : int, default 10
        Pseudo-label refinements ``T`` (the paper's 10); stops early when labels no longer change.
    kernel, gamma, degree, coef0, approximation, n_landmarks, exact_threshold : see :class:`TCA`.
    normalize : bool, default True
        Scale each input row and each embedded row to unit L2 norm (the paper's released code
        does both; it makes 1-NN pseudo-labels use angles).
    pseudo_label_estimator : sklearn classifier or None, default None
        Classifier giving pseudo-labels; None is 1-nearest-neighbour, as in the paper.
    random_state : int or None

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.problem import TransferProblem
    >>> rng = np.random.default_rng(0)
    >>> y = np.arange(80) % 2
    >>> problem = TransferProblem(rng.normal(size=(80, 5)) + y[:, None], y,
    ...                           rng.normal(size=(80, 5)) + y[:, None] + 0.5)
    >>> jda = JDA(n_components=2, n_iterations=3).fit(problem)
    >>> jda.transform(problem.X_target).shape, jda.pseudo_labels_.shape
    ((80, 2), (80,))
    """

    #: Components used when ``n_components`` is None (capped by the rank of the data).
    _default_n_components = 100

    def __init__(
        self,
        n_components: int | None = None,
        regularization: float = 1.0,
        n_iterations: int = 10,
        kernel: str = "linear",
        gamma: Any = None,
        degree: int = 3,
        coef0: float = 1.0,
        approximation: str = "auto",
        n_landmarks: int = 500,
        exact_threshold: int = 2000,
        normalize: bool = True,
        pseudo_label_estimator: Any = None,
        random_state: int | None = None,
    ):
        self.n_components = n_components
        self.regularization = regularization
        self.n_iterations = n_iterations
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.approximation = approximation
        self.n_landmarks = n_landmarks
        self.exact_threshold = exact_threshold
        self.normalize = normalize
        self.pseudo_label_estimator = pseudo_label_estimator
        self.random_state = random_state

    def _fit(self, problem: TransferProblem) -> None:
        regularization = check_nonnegative(self.regularization, "regularization", "JDA")
        n_iterations = check_positive_int(self.n_iterations, "n_iterations", "JDA")
        if self.n_components is not None:
            check_positive_int(self.n_components, "n_components", "JDA")
        if not isinstance(self.normalize, bool | np.bool_):
            raise InvalidParameterError(f"JDA: normalize={self.normalize!r} must be True or False.")
        self.normalize_input_ = bool(self.normalize)
        X = stack_rows(problem.X_source, problem.X_target)
        X = self._normalize_input(X)
        self.feature_map_ = self._feature_map(X, "JDA")
        Psi = self.feature_map_.raw_transform(X)
        form = "primal" if self.approximation_ == "linear" else "dual"
        basis = _solver(Psi, self.feature_map_.right_factor_, form)
        n_components = _default_components(
            self.n_components, self._default_n_components, basis.rank
        )
        self.normalize_embedding_ = False
        # integer codes into problem.classes (-1: unlabelled), which _mmd_vectors and the
        # pseudo-labels below index with; stacked() keeps the user's labels, so code them here
        ns, nt = problem.n_source, problem.n_target
        y_source = problem.encode_labels(problem.y_source)
        visible = problem.target_labeled
        y_stacked = np.concatenate([y_source, np.full(nt, -1, dtype=y_source.dtype)])
        if visible.any():
            y_stacked[ns + np.flatnonzero(visible)] = problem.encode_labels(
                problem.y_target[visible]
            )
        estimator = (
            KNeighborsClassifier(n_neighbors=1)
            if self.pseudo_label_estimator is None
            else self.pseudo_label_estimator
        )
        pseudo = None
        self.n_iterations_ = 0
        for _ in range(n_iterations):
            E = _mmd_vectors(ns, nt, y_source, pseudo)
            # scale M to unit Frobenius norm so lambda does not depend on the sample sizes
            E = E / np.sqrt(np.linalg.norm(E.T @ E))
            self.projection_ = basis.solve(Psi, E, n_components, regularization, form)
            Z = np.asarray(Psi @ self.projection_)
            if self.normalize:
                Z = _row_normalize(Z)
            train = np.concatenate([np.arange(ns), ns + np.flatnonzero(visible)])
            model = clone(estimator).fit(Z[train], y_stacked[train])
            new = model.predict(Z[ns:])
            new[visible] = y_stacked[ns:][visible]
            self.n_iterations_ += 1
            if pseudo is not None and np.array_equal(new, pseudo):
                break
            pseudo = new
        self.normalize_embedding_ = bool(self.normalize)
        self.pseudo_labels_ = problem.classes[new]
        self.n_components_ = n_components

    def _normalize_input(self, X: DataMatrix) -> DataMatrix:
        if not self.normalize_input_:
            return X
        if sp.issparse(X):
            norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
            return sp.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ X
        return _row_normalize(np.asarray(X, dtype=float))

    def _transform(self, X: DataMatrix, domain: int) -> np.ndarray:
        return super()._transform(self._normalize_input(X), domain)


# ====================================================================== feature augmentation
def augment_features(X: DataMatrix, domain: int) -> DataMatrix:
    """Daumé's augmented features: source ``<x, x, 0>``, target ``<x, 0, x>``.

    Daumé III (2007), "Frustratingly easy domain adaptation", ACL, Sec. 2 (the maps
    ``Phi^s`` and ``Phi^t``). Sparse input stays sparse.

    Examples
    --------
    >>> import numpy as np
    >>> augment_features(np.array([[1.0, 2.0]]), domain=1)
    array([[1., 2., 0., 0., 1., 2.]])
    """
    if sp.issparse(X):
        zeros = sp.csr_matrix(X.shape, dtype=X.dtype)
        blocks = [X, X, zeros] if domain == SOURCE else [X, zeros, X]
        return sp.hstack(blocks).tocsr()
    X = np.asarray(X, dtype=float)
    zeros = np.zeros_like(X)
    return np.hstack([X, X, zeros] if domain == SOURCE else [X, zeros, X])


class FeatureAugmentation(BaseAdapter):
    """ "Frustratingly easy" domain adaptation: shared, source-only and target-only copies.

    Daumé III (2007), ACL, Sec. 2: a classifier trained on the augmented source and the few
    labelled target samples learns which features mean the same in both domains. Needs some
    labelled target samples (raises :class:`~transferkit.exceptions.NotApplicableError` without).
    Sparse input stays sparse.

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.problem import TransferProblem
    >>> rng = np.random.default_rng(0)
    >>> problem = TransferProblem(rng.normal(size=(20, 2)), np.arange(20) % 2,
    ...     rng.normal(size=(10, 2)), y_target=np.arange(10) % 2, target_labeled=np.arange(10) < 4)
    >>> FeatureAugmentation().fit(problem).transform(problem.X_target).shape
    (10, 6)
    """

    needs_target_labels = True
    accepts_sparse = True

    def _fit(self, problem: TransferProblem) -> None:
        return None

    def _transform(self, X: DataMatrix, domain: int) -> DataMatrix:
        return augment_features(X, domain)


# ====================================================================== optimal transport
_OT_METHODS = ("emd", "sinkhorn", "lpl1")


def class_regularized_plan(
    M: np.ndarray,
    labels: np.ndarray,
    reg_e: float,
    reg_cl: float,
    n_outer: int = 10,
    n_inner: int = 200,
    tol: float = 1e-9,
    source_mass: np.ndarray | None = None,
) -> np.ndarray:
    """Entropic OT plan with the class (group-lasso, l_1/2-l_1) regulariser.

    The target marginal is uniform; the source one is ``source_mass`` (default uniform).

    Courty, Flamary, Tuia & Rakotomamonjy (2017), IEEE TPAMI 39(9), Eq. 5 with the l_p-l_1
    regulariser (p = 1/2) solved by majorisation-minimisation: each outer step linearises the
    regulariser at the current plan, ``W[i, j] = p (m[c(i), j] + 1e-3)^(p-1)`` where
    ``m[c, j]`` is the mass target ``j`` receives from source class ``c``, and solves the
    entropic problem with cost ``M + reg_cl W`` by POT's Sinkhorn (``ot.sinkhorn``). This is the
    problem ``ot.da.sinkhorn_lpl1_mm`` solves; here each Sinkhorn solve starts from the previous
    step's scalings (the costs change little between steps) and the class masses are one
    ``C x n_s`` by ``n_s x n_t`` product, where POT's loop builds an ``n_t x n_s x C`` array.

    Examples
    --------
    >>> import numpy as np
    >>> M = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> plan = class_regularized_plan(M, np.array([0, 1]), reg_e=0.1, reg_cl=1.0)
    >>> bool(plan[0, 0] > 0.49 and plan[1, 1] > 0.49)
    True
    """
    import ot

    n_source, n_target = M.shape
    a = np.full(n_source, 1.0 / n_source) if source_mass is None else source_mass
    b = np.full(n_target, 1.0 / n_target)
    _, class_of = np.unique(labels, return_inverse=True)
    members = np.zeros((class_of.max() + 1, n_source))
    members[class_of, np.arange(n_source)] = 1.0
    cost, warm = M, None
    for _ in range(n_outer):
        plan, log = ot.sinkhorn(
            a,
            b,
            cost,
            reg_e,
            numItermax=n_inner,
            stopThr=tol,
            log=True,
            warn=False,
            warmstart=warm,
        )
        if not np.all(np.isfinite(log["u"])) or not np.all(np.isfinite(log["v"])):
            break
        warm = (np.log(log["u"]), np.log(log["v"]))
        weight = 0.5 * (members @ plan + 1e-3) ** -0.5  # p (m + eps)^(p-1), p = 1/2; C x n_t
        cost = M + reg_cl * weight[class_of]
    return plan


def _ot_cost(Xs: np.ndarray, Xt: np.ndarray, metric: str, norm: str | None) -> np.ndarray:
    import ot

    return ot.utils.cost_normalization(ot.dist(Xs, Xt, metric=metric), norm)


def _ot_plan(
    Xs: np.ndarray,
    ys: np.ndarray | None,
    Xt: np.ndarray,
    method: str,
    reg_e: float,
    reg_cl: float,
    metric: str = "sqeuclidean",
    norm: str | None = "median",
    max_iter: int | None = None,
    source_mass: np.ndarray | None = None,
) -> np.ndarray:
    """The transport plan of ``method``: POT's exact solver, POT's Sinkhorn, or the
    class-regularised plan above (built on POT's Sinkhorn). ``source_mass``: the source
    marginal (default uniform); the target one is uniform."""
    import ot

    M = _ot_cost(Xs, Xt, metric, norm)
    a = np.full(len(Xs), 1.0 / len(Xs)) if source_mass is None else source_mass
    b = np.full(len(Xt), 1.0 / len(Xt))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if method == "emd":
            return np.asarray(ot.emd(a, b, M, numItermax=max_iter or 100000))
        if method == "sinkhorn":
            return np.asarray(ot.sinkhorn(a, b, M, reg_e, numItermax=max_iter or 1000))
    return class_regularized_plan(
        M, ys, reg_e, reg_cl, n_outer=max_iter or 10, source_mass=source_mass
    )


def _barycentric(plan: np.ndarray, Xt: np.ndarray) -> np.ndarray:
    """Courty et al. (2017) Eq. 13: each source row moves to the plan-weighted mean of the target
    rows it is coupled with (rows of the plan with no mass stay at zero, as in POT)."""
    mass = plan.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        weights = np.where(mass > 0, plan / mass, 0.0)
    return weights @ Xt


def ot_map(
    Xs: DataMatrix,
    ys: np.ndarray | None,
    Xt: DataMatrix,
    method: str = "sinkhorn",
    reg_e: float = 1.0,
    reg_cl: float = 1.0,
    norm: str | None = "median",
) -> np.ndarray:
    """Source rows transported onto the target by the barycentric map of an OT plan (POT).

    Courty, Flamary, Tuia & Rakotomamonjy (2017), "Optimal transport for domain adaptation", IEEE
    TPAMI 39(9): the plan ``gamma`` of Eq. 2 (exact, ``method="emd"``, POT's ``ot.emd``), Eq. 3
    (entropic, ``"sinkhorn"``, POT's ``ot.sinkhorn``) or Eq. 5 with the group-lasso class
    regulariser (``"lpl1"``, :func:`class_regularized_plan` on POT's Sinkhorn), then the
    barycentric mapping ``X_s' = diag(gamma 1)^(-1) gamma X_t`` (Eq. 13). The ground cost is
    POT's ``ot.dist`` normalised by ``ot.utils.cost_normalization``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Xs, Xt = rng.normal(size=(30, 2)), rng.normal(5.0, size=(40, 2))
    >>> bool(ot_map(Xs, None, Xt, method="emd").mean() > 4)
    True
    """
    check_choice(method, "method", "ot", _OT_METHODS)
    if method == "lpl1" and ys is None:
        raise NotApplicableError("ot: method='lpl1' needs the source labels ys.")
    Xs = densify(Xs, "ot", "POT works on dense arrays")
    Xt = densify(Xt, "ot", "POT works on dense arrays")
    return _barycentric(_ot_plan(Xs, ys, Xt, method, reg_e, reg_cl, norm=norm), Xt)


class OTMapping(BaseAdapter):
    """Optimal-transport mapping of the source onto the target (Courty et al. 2017), via POT.

    Courty, Flamary, Tuia & Rakotomamonjy (2017), "Optimal transport for domain adaptation", IEEE
    TPAMI 39(9): an exact (Eq. 2), entropic (Eq. 3) or class-regularised (Eq. 5, group lasso)
    transport plan, then the barycentric mapping of the source (Eq. 13). New source rows are
    mapped out of sample as POT's ``ot.da`` classes do: the displacement of their nearest fitted
    source row is added to them. Target rows pass through. The plans come from POT's ``ot.emd``
    and ``ot.sinkhorn`` (see :func:`class_regularized_plan` for ``lpl1``).

    Parameters
    ----------
    method : {"emd", "sinkhorn", "lpl1"}, default "sinkhorn"
    reg_e : float, default 1.0
        Entropic regularisation (sinkhorn, lpl1), > 0.
    reg_cl : float, default 1.0
        Class regularisation (lpl1), >= 0.
    metric : str, default "sqeuclidean"
        Ground cost (any metric ``ot.dist`` takes).
    norm : {"median", "max", "log", "loglog", None}, default "median"
        Cost normalisation; "median" makes ``reg_e`` independent of the feature scale.
    max_iter : int or None, default None
        Iteration cap: network-simplex iterations (emd, default 100,000), Sinkhorn iterations
        (sinkhorn, default 1,000) or majorisation steps (lpl1, default 10).
    source_mass : {"uniform", "target_priors"}, default "uniform"
        The source marginal of the plan. "uniform" gives every source row the same mass, so each
        class sends its source share of the mass, whatever the target's class balance. Under
        label shift that forces source rows of a class onto target rows of others.
        "target_priors" gives each source class the target's share instead (as JCPOT does, Redko
        et al. 2019), without target labels: the uniform plan maps the source onto the target; a
        logistic regression fitted on the mapped source gives target probabilities, from which EM
        (Saerens et al. 2002) estimates the target's class priors; each class keeps at least a
        tenth of a uniform share and its mass is split equally among its rows (``class_mass_``);
        the plan is solved once more with these masses. The estimate is made once: repeating it
        on the new mapping drifts (each class's mass enlarges the region it maps onto, hence its
        next estimate), which on Office-Caltech collapsed the priors and cost jda_ot 6.8 points
        (docs/benchmarks.md). Where the target's balance is close to the source's, keep
        "uniform".

    Notes
    -----
    Sparse input is densified with a warning (POT needs dense arrays).

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.problem import TransferProblem
    >>> rng = np.random.default_rng(0)
    >>> problem = TransferProblem(rng.normal(size=(30, 2)), np.arange(30) % 2,
    ...                           rng.normal(3.0, size=(30, 2)))
    >>> ot_adapter = OTMapping(method="lpl1", reg_e=1.0, reg_cl=0.5).fit(problem)
    >>> bool(ot_adapter.transform(problem.X_source, np.zeros(30)).mean() > 2)
    True
    """

    def __init__(
        self,
        method: str = "sinkhorn",
        reg_e: float = 1.0,
        reg_cl: float = 1.0,
        metric: str = "sqeuclidean",
        norm: str | None = "median",
        max_iter: int | None = None,
        source_mass: str = "uniform",
    ):
        self.method = method
        self.reg_e = reg_e
        self.reg_cl = reg_cl
        self.metric = metric
        self.norm = norm
        self.max_iter = max_iter
        self.source_mass = source_mass

    def _fit(self, problem: TransferProblem) -> None:
        check_choice(self.method, "method", "OTMapping", _OT_METHODS)
        if self.method != "emd":
            check_nonnegative(self.reg_e, "reg_e", "OTMapping", strict=True)
        check_nonnegative(self.reg_cl, "reg_cl", "OTMapping")
        check_choice(self.norm, "norm", "OTMapping", ("median", "max", "log", "loglog", None))
        if self.max_iter is not None:
            check_positive_int(self.max_iter, "max_iter", "OTMapping")
        check_choice(self.source_mass, "source_mass", "OTMapping", ("uniform", "target_priors"))
        Xs = densify(problem.X_source, "OTMapping", "POT works on dense arrays")
        Xt = densify(problem.X_target, "OTMapping", "POT works on dense arrays")
        settings = (self.method, self.reg_e, self.reg_cl, self.metric, self.norm, self.max_iter)
        plan = _ot_plan(Xs, problem.y_source, Xt, *settings)
        if self.source_mass == "target_priors" and np.all(np.isfinite(plan)) and plan.sum() > 0:
            # priors read off the aligned source, then the plan again with those class masses;
            # once only: repeating it feeds each estimate back into the next and drifts
            mass = self._target_prior_mass(_barycentric(plan, Xt), problem.y_source, Xt)
            plan = _ot_plan(Xs, problem.y_source, Xt, *settings, source_mass=mass)
        if not np.all(np.isfinite(plan)) or plan.sum() <= 0:
            raise NotApplicableError(
                f"OTMapping(method={self.method!r}, reg_e={self.reg_e}) gave a non-finite or "
                "empty transport plan; increase reg_e or keep norm='median'."
            )
        self.coupling_ = plan
        self.source_ = Xs
        self.mapped_source_ = _barycentric(plan, Xt)

    def _target_prior_mass(self, Xs: np.ndarray, ys: np.ndarray, Xt: np.ndarray) -> np.ndarray:
        """Masses of the (mapped) source rows ``Xs`` that give each class its estimated target
        share (EM priors of a logistic regression fitted on ``Xs``, applied to ``Xt``)."""
        from sklearn.linear_model import LogisticRegression

        from transferkit.label_shift import em_priors

        classes, class_of, counts = np.unique(ys, return_inverse=True, return_counts=True)
        if len(classes) < 2:
            raise NotApplicableError(
                "OTMapping(source_mass='target_priors') needs at least two source classes."
            )
        model = LogisticRegression(max_iter=1000).fit(Xs, class_of)
        priors = em_priors(model.predict_proba(Xt), counts / counts.sum())
        priors = np.maximum(priors, 0.1 / len(classes))
        self.class_mass_ = priors / priors.sum()
        return self.class_mass_[class_of] / counts[class_of]

    def _transform(self, X: DataMatrix, domain: int) -> np.ndarray:
        X = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=float)
        if domain != SOURCE:
            return X
        if X.shape == self.source_.shape and np.array_equal(X, self.source_):
            return self.mapped_source_.copy()
        nearest = pairwise_distances_argmin(X, self.source_)  # chunked: bounded memory
        return X + self.mapped_source_[nearest] - self.source_[nearest]


# ====================================================================== composition
class AdapterChain(BaseAdapter):
    """Adapters applied one after another: each is fitted on the previous one's output.

    Both domains go through every step with their own domain code, so a feature-space method
    (e.g. :class:`JDA`) can be followed by a mapping of the source onto the target inside that
    space (e.g. :class:`OTMapping`). Labels and the target label mask travel unchanged.

    Parameters
    ----------
    steps : list of BaseAdapter
        The adapters, in order (at least one).

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.problem import TransferProblem
    >>> rng = np.random.default_rng(0)
    >>> y = np.arange(60) % 2
    >>> problem = TransferProblem(rng.normal(size=(60, 4)) + y[:, None], y,
    ...                           rng.normal(size=(50, 4)) + 1.0)
    >>> chain = AdapterChain([JDA(n_components=3, n_iterations=2), OTMapping("sinkhorn")])
    >>> chain.fit(problem).transform(problem.X_target).shape
    (50, 3)
    """

    accepts_sparse = True

    def __init__(self, steps: list[Any] | None = None):
        self.steps = steps

    def _fit(self, problem: TransferProblem) -> None:
        if not self.steps or not all(isinstance(step, BaseAdapter) for step in self.steps):
            raise InvalidParameterError(
                f"AdapterChain: steps={self.steps!r} must be a non-empty list of adapters "
                "(BaseAdapter instances such as JDA() or OTMapping())."
            )
        fitted = []
        current = problem
        for index, step in enumerate(self.steps):
            step = clone(step).fit(current)
            fitted.append(step)
            if index < len(self.steps) - 1:
                current = replace(
                    current,
                    X_source=step.transform(current.X_source, np.zeros(current.n_source, int)),
                    X_target=step.transform(current.X_target),
                    X_test=None,
                    y_test=None,
                    feature_names=None,
                    metadata={
                        key: value
                        for key, value in current.metadata.items()
                        if key not in FEATURE_LAYOUT_METADATA
                    },
                )
        self.steps_ = fitted

    def _transform(self, X: DataMatrix, domain: int) -> DataMatrix:
        codes = np.full(X.shape[0], domain)
        for step in self.steps_:
            X = step.transform(X, codes)
        return X


# ====================================================================== registrations
@register_method("coral", "alignment", "CORAL: re-colour the source covariance (Sun et al. 2016)")
def _coral(estimator: Any, random_state: int | None, regularization: float = 1.0) -> Any:
    return AdaptedClassifier(CORAL(regularization=regularization), estimator)


@register_method("sa", "alignment", "Subspace alignment of PCA bases (Fernando et al. 2013)")
def _sa(estimator: Any, random_state: int | None, n_components: int | None = None) -> Any:
    return AdaptedClassifier(SubspaceAlignment(n_components, random_state), estimator)


@register_method("tca", "alignment", "Transfer component analysis (Pan et al. 2011)")
def _tca(estimator: Any, random_state: int | None, **params: Any) -> Any:
    return AdaptedClassifier(TCA(random_state=random_state, **params), estimator)


@register_method(
    "jda", "alignment", "Joint distribution adaptation, iterated pseudo-labels (Long et al. 2013)"
)
def _jda(estimator: Any, random_state: int | None, **params: Any) -> Any:
    return AdaptedClassifier(JDA(random_state=random_state, **params), estimator)


@register_method(
    "feature_augmentation",
    "alignment",
    "Frustratingly easy feature augmentation, needs a few target labels (Daume 2007)",
    needs_target_labels=True,
)
def _feature_augmentation(estimator: Any, random_state: int | None) -> Any:
    return AdaptedClassifier(FeatureAugmentation(), estimator)


@register_method(
    "ot", "alignment", "Optimal-transport mapping: emd, sinkhorn or lpl1 (Courty et al. 2017)"
)
def _ot(estimator: Any, random_state: int | None, **params: Any) -> Any:
    return AdaptedClassifier(OTMapping(**params), estimator)


class _CompactJDA(JDA):
    """JDA whose default subspace is 20-dimensional (the setting of ``jda_ot``)."""

    _default_n_components = 20


@register_method(
    "jda_ot",
    "alignment",
    "JDA, then class-regularised OT of the source inside the JDA space (JDA + Courty et al.)",
)
def _jda_ot(
    estimator: Any,
    random_state: int | None,
    n_components: int | None = None,
    regularization: float = 1.0,
    n_iterations: int = 10,
    pseudo_labels: str = "logreg",
    reg_e: float = 0.5,
    reg_cl: float = 1.0,
    source_mass: str = "uniform",
) -> Any:
    """JDA's embedding with its pseudo-labels, then the source mapped onto the target in it.

    JDA aligns marginal and class-conditional means but leaves each source sample where the
    projection puts it; the class-regularised transport (``lpl1``) then moves every source sample
    onto the barycentre of target samples it is coupled with, so a nearest-neighbour classifier
    compares target samples with target-like prototypes. ``pseudo_labels`` is "logreg" (a
    logistic regression on the embedded source gives JDA's pseudo-labels) or "1nn" (the paper's).
    ``source_mass`` is :class:`OTMapping`'s ("target_priors": each source class carries its
    estimated target share of the mass).
    """
    check_choice(pseudo_labels, "pseudo_labels", "jda_ot", ("logreg", "1nn"))
    labeler = None
    if pseudo_labels == "logreg":
        from sklearn.linear_model import LogisticRegression

        labeler = LogisticRegression(max_iter=1000)
    jda = _CompactJDA(
        n_components=n_components,
        regularization=regularization,
        n_iterations=n_iterations,
        pseudo_label_estimator=labeler,
        random_state=random_state,
    )
    transport = OTMapping(method="lpl1", reg_e=reg_e, reg_cl=reg_cl, source_mass=source_mass)
    return AdaptedClassifier(AdapterChain([jda, transport]), estimator)
