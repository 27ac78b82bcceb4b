"""Kernel embeddings where the domains' MMD is small: TCA (Pan et al. 2011), JDA (Long et al. 2013).

Both solve one trace problem (:func:`transfer_components`) on an explicit feature map ``Phi``
with ``K = Phi Phi^T`` (:mod:`transferkit.kernels`): exact below ``exact_threshold`` samples,
Nyström above, so their cost is ``O(n r^2)`` for ``r`` landmarks instead of ``O(n^3)``. The
solvers (in the span of ``Phi``, or in the sample space when there are fewer samples than
feature-map columns) live here beside the :class:`TCA` and :class:`JDA` adapters, registered as
``tca`` and ``jda``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.neighbors import KNeighborsClassifier

from transferkit.alignment.common import default_components
from transferkit.base import AdaptedClassifier, BaseAdapter, stack_rows
from transferkit.checks import check_choice, check_nonnegative, check_positive_int
from transferkit.exceptions import InvalidParameterError, NonFiniteDataError
from transferkit.kernels import (
    KernelFeatureMap,
    check_kernel,
    choose_approximation,
    column_sums,
    gram,
)
from transferkit.problem import DataMatrix, TransferProblem
from transferkit.registry import register_method

logger = logging.getLogger(__name__)


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
        with np.errstate(over="ignore", invalid="ignore"):
            A = np.diag(diagonal) - np.outer(centre, centre) / n
        if not (np.isfinite(A).all() and np.isfinite(factor).all()):
            raise NonFiniteDataError(
                "The kernel of these features overflows float64 (squared kernel eigenvalues "
                f"beyond 1e308; the largest is {float(s2.max()):.3g}): rescale the features "
                "first, e.g. with sklearn.preprocessing.StandardScaler."
            )
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
    >>> from transferkit.datasets import make_shifted_blobs
    >>> problem = make_shifted_blobs(n_samples=60, n_features=5, covariate_shift=1, random_state=0)
    >>> TCA(n_components=2).fit(problem).transform(problem.X_target).shape
    (60, 2)
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
        n_components = default_components(self.n_components, 30, basis.rank)
        mmd = _mmd_vectors(problem.n_source, problem.n_target)
        self.projection_ = basis.solve(Psi, mmd, n_components, mu, "dual", self.scaling)
        self.n_components_ = n_components


@register_method("tca", "alignment", "Transfer component analysis (Pan et al. 2011)")
def _tca(estimator: Any, random_state: int | None, **params: Any) -> Any:
    return AdaptedClassifier(TCA(random_state=random_state, **params), estimator)


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
        n_components = default_components(self.n_components, self._default_n_components, basis.rank)
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


@register_method(
    "jda", "alignment", "Joint distribution adaptation, iterated pseudo-labels (Long et al. 2013)"
)
def _jda(estimator: Any, random_state: int | None, **params: Any) -> Any:
    return AdaptedClassifier(JDA(random_state=random_state, **params), estimator)
