"""Instance re-weighting for covariate shift: KMM, KLIEP and domain-classifier density ratios.

Under covariate shift ``P_s(y|x) = P_t(y|x)`` while ``P_s(x) != P_t(x)``; weighting each source sample
by ``w(x) = p_t(x) / p_s(x)`` makes the weighted source risk an unbiased estimate of the target
risk (Shimodaira, 2000). Each method estimates ``w`` on the source samples without estimating the
two densities: a pure function returns the weights (:func:`kmm_weights`, :func:`kliep_weights`,
:func:`density_ratio_weights`), a :class:`~transferkit.base.BaseReweighter` wraps it, and
:class:`~transferkit.base.AdaptedClassifier` feeds ``weights_`` to any classifier that takes
``sample_weight``.

KMM and KLIEP scale to 100,000 samples per domain: KMM solves its quadratic programme with an
accelerated projected gradient on a Nyström or random-Fourier feature map above
``exact_threshold`` samples; KLIEP's model is a combination of kernels at ``n_centers`` target
points, so it costs ``O(n * n_centers)`` by construction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state

from transferkit.base import AdaptedClassifier, BaseReweighter, stack_rows
from transferkit.checks import check_nonnegative, check_positive_int
from transferkit.domain_classifier import density_ratio
from transferkit.exceptions import InvalidParameterError
from transferkit.kernels import (
    KernelFeatureMap,
    check_kernel,
    choose_approximation,
    gram,
    kernel_matrix,
    median_heuristic,
    resolve_gamma,
)
from transferkit.problem import DataMatrix, TransferProblem
from transferkit.registry import register_method

logger = logging.getLogger(__name__)

__all__ = [
    "KMM",
    "KLIEP",
    "DomainClassifierWeights",
    "density_ratio_weights",
    "kliep_weights",
    "kmm_weights",
]


def _weights_with_params(
    weight_function: Callable[..., np.ndarray], reweighter: BaseReweighter, problem: TransferProblem
) -> np.ndarray:
    """``weight_function(X_source, X_target, **params)`` with the re-weighter's parameters.

    Each re-weighter here is the estimator face of one weight function: its constructor takes
    exactly that function's keyword arguments, so they are forwarded by name, all of them.
    """
    return weight_function(problem.X_source, problem.X_target, **reweighter.get_params(deep=False))


# ====================================================================== KMM
def _project_box_sum(v: np.ndarray, upper: float, low_sum: float, high_sum: float) -> np.ndarray:
    """Euclidean projection of ``v`` on ``{0 <= b <= upper, low_sum <= sum(b) <= high_sum}``.

    The projection is ``clip(v - tau, 0, upper)`` for the scalar ``tau`` that brings the sum into
    range (0 when it already is), found by bisection on the monotone sum.
    """
    clipped = np.clip(v, 0.0, upper)
    total = clipped.sum()
    if low_sum <= total <= high_sum:
        return clipped
    goal = high_sum if total > high_sum else low_sum
    low, high = float(v.min() - upper), float(v.max())
    for _ in range(100):
        tau = (low + high) / 2
        if np.clip(v - tau, 0.0, upper).sum() > goal:
            low = tau
        else:
            high = tau
        if high - low < 1e-12 * max(1.0, abs(tau)):
            break
    return np.clip(v - (low + high) / 2, 0.0, upper)


def _kmm_solve(
    apply_K: Any,
    kappa: np.ndarray,
    lipschitz: float,
    upper: float,
    epsilon: float,
    max_iter: int,
    tol: float,
) -> tuple[np.ndarray, int]:
    """FISTA (Beck & Teboulle 2009) on ``1/2 b^T K b - kappa^T b`` over the KMM constraint set.

    With the gradient-based adaptive restart of O'Donoghue & Candès (2015): momentum is reset
    whenever it points against the projected-gradient step, which removes FISTA's oscillations.
    """
    n = len(kappa)
    low_sum, high_sum = n * (1 - epsilon), n * (1 + epsilon)
    beta = _project_box_sum(np.ones(n), upper, low_sum, high_sum)
    momentum_point, t = beta.copy(), 1.0
    step = 1.0 / max(lipschitz, 1e-12)
    previous_objective = np.inf
    for iteration in range(1, max_iter + 1):
        gradient = apply_K(momentum_point) - kappa
        new = _project_box_sum(momentum_point - step * gradient, upper, low_sum, high_sum)
        difference = new - beta
        change = np.sqrt(difference @ difference / max(beta @ beta, 1e-24))
        if (momentum_point - new) @ difference > 0:  # restart
            momentum_point, t = new, 1.0
        else:
            t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
            momentum_point = new + ((t - 1) / t_new) * difference
            t = t_new
        beta = new
        if change < tol:
            return beta, iteration
        if iteration % 10 == 0:
            # with many more samples than kernel directions the minimiser is not unique and the
            # weights may drift along flat directions: also stop when the objective settles
            objective = 0.5 * beta @ apply_K(beta) - kappa @ beta
            if previous_objective - objective <= tol * max(abs(objective), 1e-12):
                return beta, iteration
            previous_objective = objective
    return beta, max_iter


def kmm_weights(
    Xs: DataMatrix,
    Xt: DataMatrix,
    kernel: str = "rbf",
    gamma: Any = None,
    B: float = 1000.0,
    epsilon: float | None = None,
    approximation: str = "auto",
    n_landmarks: int = 500,
    exact_threshold: int = 5000,
    max_iter: int = 1000,
    tol: float = 1e-6,
    random_state: int | None = None,
) -> np.ndarray:
    """Kernel mean matching weights for the source samples.

    Huang, Smola, Gretton, Borgwardt & Schölkopf (2007), "Correcting sample selection bias by
    unlabeled data", NIPS, Eq. 6: ``min_b 1/2 b^T K b - kappa^T b`` subject to ``0 <= b_i <= B``
    and ``|sum_i b_i - n_s| <= n_s epsilon``, with ``K_ij = k(x_i, x_j)`` on the source and
    ``kappa_i = (n_s / n_t) sum_j k(x_i, x'_j)``. Solved by FISTA with an exact projection on the
    constraint set; above ``exact_threshold`` source samples ``K`` is replaced by ``Phi Phi^T`` for a
    Nyström (or random Fourier) feature map, so memory is ``O(n r)``.

    Parameters
    ----------
    kernel : {"rbf", "linear", "poly", "laplacian"}, default "rbf"
    gamma : float, "median" or None, default None (median heuristic on the pooled data)
    B : float, default 1000.0
        Upper bound on each weight (the paper's ``B``).
    epsilon : float or None, default None
        Slack on the mean weight; None uses the paper's ``(sqrt(n_s) - 1) / sqrt(n_s)``.
    approximation : {"auto", "exact", "nystroem", "rff"}, default "auto"
    n_landmarks : int, default 500
    exact_threshold : int, default 5000
    max_iter : int, default 1000
    tol : float, default 1e-6
        Stop when the relative change of the weights, or the relative decrease of the objective
        over 10 iterations, falls below ``tol``.
    random_state : int or None

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Xs, Xt = rng.normal(size=(200, 1)), rng.normal(1.0, 0.5, size=(200, 1))
    >>> w = kmm_weights(Xs, Xt, random_state=0)
    >>> bool(w[Xs[:, 0] > 1].mean() > w[Xs[:, 0] < -1].mean())
    True
    """
    check_kernel(kernel, gamma)
    B = check_nonnegative(B, "B", "kmm", strict=True)
    max_iter = check_positive_int(max_iter, "max_iter", "kmm")
    tol = check_nonnegative(tol, "tol", "kmm")
    n_landmarks = check_positive_int(n_landmarks, "n_landmarks", "kmm")
    exact_threshold = check_positive_int(exact_threshold, "exact_threshold", "kmm")
    ns, nt = Xs.shape[0], Xt.shape[0]
    if epsilon is None:
        epsilon = (np.sqrt(ns) - 1) / np.sqrt(ns)
    epsilon = check_nonnegative(epsilon, "epsilon", "kmm")
    if B * ns < ns * (1 - epsilon):
        raise InvalidParameterError(
            f"kmm: B={B} is too small for the weights to average 1 within epsilon={epsilon:.3g}; "
            "use B >= 1."
        )
    if gamma is None or gamma == "median":
        gamma = resolve_gamma(kernel, None, stack_rows(Xs, Xt), random_state)
    form = choose_approximation(approximation, ns, exact_threshold, kernel, Xs.shape[1])
    if form == "exact":
        K = kernel_matrix(Xs, None, kernel, gamma)
        kappa = (ns / nt) * _kernel_row_sums(Xs, Xt, kernel, gamma)
        lipschitz = float(np.linalg.eigvalsh((K + K.T) / 2)[-1])

        def apply_K(b: np.ndarray) -> np.ndarray:
            return K @ b

    else:
        feature_map = KernelFeatureMap(
            kernel, gamma, approximation=form, n_components=n_landmarks, random_state=random_state
        ).fit(stack_rows(Xs, Xt) if form != "linear" else Xs)
        Phi_s = feature_map.transform(Xs)
        target_sum = np.asarray(feature_map.transform(Xt).sum(axis=0)).ravel()
        lipschitz = float(np.linalg.eigvalsh(gram(Phi_s))[-1])
        kappa = (ns / nt) * np.asarray(Phi_s @ target_sum).ravel()
        # the iterations only multiply by Phi_s: single precision halves their memory traffic,
        # which bounds their speed at scale (Phi's entries are O(1), so nothing is amplified)
        Phi_32 = Phi_s if sp.issparse(Phi_s) else Phi_s.astype(np.float32)
        del Phi_s

        def apply_K(b: np.ndarray) -> np.ndarray:
            projected = np.asarray(Phi_32.T @ b.astype(np.float32)).ravel()
            return np.asarray(Phi_32 @ projected, dtype=float).ravel()

    weights, n_iter = _kmm_solve(apply_K, kappa, lipschitz, B, epsilon, max_iter, tol)
    logger.info("kmm: %s form, %d iterations", form, n_iter)
    return weights


def _kernel_row_sums(X: DataMatrix, Y: DataMatrix, kernel: str, gamma: Any) -> np.ndarray:
    """``sum_j k(x_i, y_j)`` for every row of ``X``, in blocks of ``Y`` to bound memory."""
    out = np.zeros(X.shape[0])
    for start in range(0, Y.shape[0], 4096):
        out += kernel_matrix(X, Y[start : start + 4096], kernel, gamma).sum(axis=1)
    return out


class KMM(BaseReweighter):
    """Kernel Mean Matching: source weights whose kernel mean matches the target's.

    Huang, Smola, Gretton, Borgwardt & Schölkopf (2007), "Correcting sample selection bias by
    unlabeled data", NIPS, Eq. 6 (see :func:`kmm_weights`). Low-rank above ``exact_threshold``
    source samples (Nyström; or random Fourier features with ``approximation="rff"``).

    Parameters
    ----------
    kernel, gamma, B, epsilon, approximation, n_landmarks, exact_threshold, max_iter, tol,
    random_state : see :func:`kmm_weights`.

    Notes
    -----
    Sparse input stays sparse (kernels are computed from it directly).

    Examples
    --------
    >>> from transferkit.datasets import make_shifted_blobs
    >>> problem = make_shifted_blobs(n_samples=100, covariate_shift=1.0, random_state=0)
    >>> KMM(random_state=0).fit(problem).weights_.shape
    (100,)
    """

    accepts_sparse = True

    def __init__(
        self,
        kernel: str = "rbf",
        gamma: Any = None,
        B: float = 1000.0,
        epsilon: float | None = None,
        approximation: str = "auto",
        n_landmarks: int = 500,
        exact_threshold: int = 5000,
        max_iter: int = 1000,
        tol: float = 1e-6,
        random_state: int | None = None,
    ):
        self.kernel = kernel
        self.gamma = gamma
        self.B = B
        self.epsilon = epsilon
        self.approximation = approximation
        self.n_landmarks = n_landmarks
        self.exact_threshold = exact_threshold
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def _fit_weights(self, problem: TransferProblem) -> np.ndarray:
        return _weights_with_params(kmm_weights, self, problem)


# ====================================================================== KLIEP
def _kliep_fit(A: np.ndarray, b: np.ndarray, max_iter: int, tol: float) -> tuple[np.ndarray, float]:
    """Maximise ``mean(log(A alpha))`` s.t. ``b^T alpha = 1``, ``alpha >= 0`` (KLIEP, Fig. 2).

    Projected gradient ascent with decreasing step sizes; a step that lowers the objective is
    undone and the step size shrinks.
    """
    n_basis = A.shape[1]
    b_norm2 = float(b @ b)

    def project(alpha: np.ndarray) -> np.ndarray:
        alpha = alpha + (1 - b @ alpha) * b / b_norm2
        alpha = np.maximum(alpha, 0.0)
        return alpha / max(float(b @ alpha), 1e-300)

    def objective(alpha: np.ndarray) -> float:
        return float(np.mean(np.log(np.maximum(A @ alpha, 1e-300))))

    alpha = project(np.ones(n_basis))
    score = objective(alpha)
    step = 1e3 / max(float(np.abs(A).max()), 1e-300)
    iterations = 0
    while iterations < max_iter and step > 1e-12:
        iterations += 1
        gradient = A.T @ (1.0 / np.maximum(A @ alpha, 1e-300)) / A.shape[0]
        candidate = project(alpha + step * gradient)
        candidate_score = objective(candidate)
        if candidate_score > score:
            gain = candidate_score - score
            alpha, score = candidate, candidate_score
            if gain < tol:
                break
        else:
            step /= 10
    return alpha, score


def kliep_weights(
    Xs: DataMatrix,
    Xt: DataMatrix,
    gamma: Any = None,
    n_centers: int = 100,
    n_folds: int = 5,
    max_iter: int = 2000,
    tol: float = 1e-7,
    random_state: int | None = None,
) -> np.ndarray:
    """KLIEP importance weights ``w(x) = sum_l alpha_l exp(-gamma ||x - c_l||^2)`` on the source.

    Sugiyama, Suzuki, Nakajima, Kashima, von Bünau & Kawanabe (2008), "Direct importance
    estimation for covariate shift adaptation", AISM 60(4): maximise the target log-likelihood
    ``sum_j log w(x'_j)`` subject to ``(1/n_s) sum_i w(x_i) = 1`` and ``alpha >= 0`` (Eq. 6-7),
    with Gaussian kernels at ``n_centers`` target points (the paper's ``b = 100``) and the width
    chosen by likelihood cross-validation over a grid around the median heuristic (Sec. 2.4)
    when ``gamma`` is None. The model is low-rank by construction: cost ``O((n_s + n_t) b)``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Xs, Xt = rng.normal(size=(300, 1)), rng.normal(1.0, 0.5, size=(300, 1))
    >>> w = kliep_weights(Xs, Xt, random_state=0)
    >>> bool(w[Xs[:, 0] > 1].mean() > 5 * w[Xs[:, 0] < -1].mean())
    True
    """
    if gamma is not None and gamma != "median":
        check_nonnegative(gamma, "gamma", "kliep", strict=True)
    n_centers = check_positive_int(n_centers, "n_centers", "kliep")
    n_folds = check_positive_int(n_folds, "n_folds", "kliep")
    max_iter = check_positive_int(max_iter, "max_iter", "kliep")
    rng = check_random_state(random_state)
    nt = Xt.shape[0]
    centers = Xt[np.sort(rng.choice(nt, min(n_centers, nt), replace=False))]
    if gamma is None:
        base = median_heuristic(stack_rows(Xs, Xt), random_state=random_state)
        candidates = base * np.array([1 / 16, 1 / 4, 1 / 2, 1.0, 2.0, 4.0, 16.0])
        gamma = _kliep_select_gamma(Xs, Xt, centers, candidates, n_folds, max_iter, tol, rng)
    elif gamma == "median":
        gamma = median_heuristic(stack_rows(Xs, Xt), random_state=random_state)
    A = kernel_matrix(Xt, centers, "rbf", float(gamma))
    b = kernel_matrix(Xs, centers, "rbf", float(gamma)).mean(axis=0)
    if not np.all(b > 0):
        b = np.maximum(b, 1e-300)
    alpha, _ = _kliep_fit(A, b, max_iter, tol)
    return _kernel_weights(Xs, centers, alpha, float(gamma))


def _kernel_weights(
    X: DataMatrix, centers: DataMatrix, alpha: np.ndarray, gamma: float
) -> np.ndarray:
    out = np.empty(X.shape[0])
    for start in range(0, X.shape[0], 8192):
        out[start : start + 8192] = (
            kernel_matrix(X[start : start + 8192], centers, "rbf", gamma) @ alpha
        )
    return out


def _kliep_select_gamma(
    Xs: DataMatrix,
    Xt: DataMatrix,
    centers: DataMatrix,
    candidates: np.ndarray,
    n_folds: int,
    max_iter: int,
    tol: float,
    rng: np.random.RandomState,
) -> float:
    """Likelihood cross-validation of the kernel width (Sugiyama et al. 2008, Sec. 2.4)."""
    nt = Xt.shape[0]
    folds = rng.permutation(nt) % max(2, min(n_folds, nt))
    best_gamma, best_score = float(candidates[0]), -np.inf
    for gamma in candidates:
        A_all = kernel_matrix(Xt, centers, "rbf", float(gamma))
        b = np.maximum(kernel_matrix(Xs, centers, "rbf", float(gamma)).mean(axis=0), 1e-300)
        scores = []
        for fold in np.unique(folds):
            alpha, _ = _kliep_fit(A_all[folds != fold], b, max_iter, tol)
            held_out = A_all[folds == fold] @ alpha
            scores.append(np.mean(np.log(np.maximum(held_out, 1e-300))))
        score = float(np.mean(scores))
        logger.debug("kliep: gamma=%.4g held-out log-likelihood %.4f", gamma, score)
        if score > best_score:
            best_gamma, best_score = float(gamma), score
    return best_gamma


class KLIEP(BaseReweighter):
    """Kullback-Leibler Importance Estimation Procedure (Sugiyama et al. 2008).

    Fits ``w(x) = sum_l alpha_l exp(-gamma ||x - c_l||^2)`` by maximising the target
    log-likelihood under the source normalisation (see :func:`kliep_weights`).

    Parameters
    ----------
    gamma : float, "median" or None, default None
        Kernel width; None selects it by likelihood cross-validation.
    n_centers : int, default 100
        Kernel centres drawn from the target (the paper's ``b``); sets the cost, ``O(n b)``.
    n_folds : int, default 5
        Folds of the likelihood cross-validation.
    max_iter : int, default 2000
    tol : float, default 1e-7
    random_state : int or None

    Notes
    -----
    Sparse input stays sparse.

    Examples
    --------
    >>> from transferkit.datasets import make_shifted_blobs
    >>> problem = make_shifted_blobs(n_samples=100, covariate_shift=1.0, random_state=0)
    >>> KLIEP(random_state=0).fit(problem).weights_.shape
    (100,)
    """

    accepts_sparse = True

    def __init__(
        self,
        gamma: Any = None,
        n_centers: int = 100,
        n_folds: int = 5,
        max_iter: int = 2000,
        tol: float = 1e-7,
        random_state: int | None = None,
    ):
        self.gamma = gamma
        self.n_centers = n_centers
        self.n_folds = n_folds
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def _fit_weights(self, problem: TransferProblem) -> np.ndarray:
        return _weights_with_params(kliep_weights, self, problem)


# ====================================================================== domain classifier
#: Density-ratio weights of the source rows from a domain classifier: the one implementation lives
#: in :mod:`transferkit.domain_classifier` (its argument ``classifier`` is this module's
#: ``estimator``); the name is kept here for the re-weighting family.
density_ratio_weights = density_ratio


class DomainClassifierWeights(BaseReweighter):
    """Density-ratio weights from a domain classifier (Bickel et al. 2007).

    Parameters
    ----------
    estimator : sklearn classifier with predict_proba or None, default None
        None: ``LogisticRegression(C=1.0, max_iter=1000)`` on the raw features, the classifier the
        re-weighting benchmarks were measured with. Pass
        :func:`~transferkit.domain_classifier.default_domain_classifier` (the diagnosis's
        standardised, class-balanced one) to share its scaling.
    n_folds : int, default 5
        Cross-fitting folds for the source probabilities.
    max_weight : float or None, default 20.0
        Cap on a weight relative to the mean weight (1); None for no cap.
    random_state : int or None

    Notes
    -----
    Sparse input stays sparse (when the classifier accepts it, as logistic regression does).

    Examples
    --------
    >>> from transferkit.datasets import make_shifted_blobs
    >>> problem = make_shifted_blobs(n_samples=100, covariate_shift=1.0, random_state=0)
    >>> DomainClassifierWeights(random_state=0).fit(problem).weights_.shape
    (100,)
    """

    accepts_sparse = True

    def __init__(
        self,
        estimator: Any = None,
        n_folds: int = 5,
        max_weight: float | None = 20.0,
        random_state: int | None = None,
    ):
        self.estimator = estimator
        self.n_folds = n_folds
        self.max_weight = max_weight
        self.random_state = random_state

    def _fit_weights(self, problem: TransferProblem) -> np.ndarray:
        from sklearn.linear_model import LogisticRegression

        estimator = (
            LogisticRegression(C=1.0, max_iter=1000) if self.estimator is None else self.estimator
        )
        return density_ratio(
            problem.X_source,
            problem.X_target,
            classifier=estimator,
            n_folds=self.n_folds,
            max_weight=self.max_weight,
            random_state=self.random_state,
        )


# ====================================================================== registrations
@register_method("kmm", "reweighting", "Kernel mean matching weights (Huang et al. 2007)")
def _kmm(estimator: Any, random_state: int | None, **params: Any) -> Any:
    return AdaptedClassifier(KMM(random_state=random_state, **params), estimator)


@register_method("kliep", "reweighting", "KLIEP importance weights (Sugiyama et al. 2008)")
def _kliep(estimator: Any, random_state: int | None, **params: Any) -> Any:
    return AdaptedClassifier(KLIEP(random_state=random_state, **params), estimator)


@register_method(
    "density_ratio", "reweighting", "Domain-classifier density-ratio weights (Bickel et al. 2007)"
)
def _density_ratio(estimator: Any, random_state: int | None, **params: Any) -> Any:
    return AdaptedClassifier(
        DomainClassifierWeights(random_state=random_state, **params), estimator
    )
