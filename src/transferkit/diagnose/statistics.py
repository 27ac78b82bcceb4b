"""Two-sample statistics that say whether, and where, two domains differ.

Everything here is a plain function on two data matrices (dense arrays or scipy sparse matrices,
rows are samples); :mod:`transferkit.diagnose.scenarios` turns the results into verdicts.

* :func:`domain_classifier_test` — a cross-validated classifier told to separate the domains: its
  ROC AUC with a DeLong confidence interval and a Mann–Whitney p-value, and the proxy A-distance
  of Ben-David et al. (2007), ``2 (1 - 2 err)``.
* :func:`mmd_test` — the kernel two-sample test of Gretton et al. (2012): the quadratic unbiased
  MMD² with a permutation null, the linear-time statistic with its Gaussian null (§6 of the
  paper), or MMD² on random Fourier features (Rahimi & Recht, 2007) with a cheap permutation null.
* :func:`feature_drift` — one test per feature (Kolmogorov–Smirnov for continuous features, χ²
  for categorical ones, an exact presence test for sparse counts) with a multiple-testing
  correction, ranked by effect size.
* :func:`domain_specific_features` — features present in one domain and (almost) never in the
  other, with an exact test per feature.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> Xs, Xt = rng.normal(size=(200, 3)), rng.normal(0.8, size=(200, 3))
>>> domain_classifier_test(Xs, Xt, random_state=0).auc > 0.6
True
>>> mmd_test(Xs, Xt, random_state=0).p_value < 0.05
True
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy import stats

from transferkit.domain_classifier import (
    default_domain_classifier,
    domain_scores,
    proxy_a_distance,
    proxy_a_distance_from_error,
)
from transferkit.exceptions import InvalidParameterError, NotApplicableError
from transferkit.problem import ImageCollection

logger = logging.getLogger(__name__)

# The domain classifier itself lives in transferkit.domain_classifier; its default and the proxy
# A-distance are re-exported here because this is where the diagnosis's users have found them.
__all__ = [
    "DomainClassifierResult",
    "default_domain_classifier",
    "domain_classifier_test",
    "domain_specific_features",
    "draw_rows",
    "feature_drift",
    "mmd_test",
    "proxy_a_distance",
    "stack_domains",
]

Matrix = np.ndarray | sp.spmatrix | sp.sparray


# --------------------------------------------------------------------------- input handling
def as_matrix(X: Any, what: str = "X") -> Matrix:
    """A float64 dense array or CSR matrix; images are refused (extract features first)."""
    if isinstance(X, ImageCollection):
        raise NotApplicableError(
            f"{what} is a collection of images; diagnostics need feature vectors. Extract "
            "features first (e.g. a pre-trained backbone from transferkit.deep) or pass arrays."
        )
    if sp.issparse(X):
        return sp.csr_matrix(X, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        X = X.reshape(len(X), -1)
    return X


def _check_two(X_source: Any, X_target: Any, same_width: bool = True) -> tuple[Matrix, Matrix]:
    Xs, Xt = as_matrix(X_source, "X_source"), as_matrix(X_target, "X_target")
    for what, X in (("X_source", Xs), ("X_target", Xt)):
        if X.shape[0] < 2:
            raise NotApplicableError(f"{what} has {X.shape[0]} rows; a two-sample test needs >= 2.")
    if same_width and Xs.shape[1] != Xt.shape[1]:
        raise NotApplicableError(
            f"X_source has {Xs.shape[1]} features and X_target {Xt.shape[1]}; two-sample tests "
            "need one feature space (scenario 1 holds: map the domains to shared features)."
        )
    return Xs, Xt


def stack_domains(Xs: Matrix, Xt: Matrix) -> Matrix:
    """Source rows then target rows, CSR when either is sparse."""
    if sp.issparse(Xs) or sp.issparse(Xt):
        return sp.vstack([sp.csr_matrix(Xs), sp.csr_matrix(Xt)]).tocsr()
    return np.concatenate([Xs, Xt])


# --------------------------------------------------------------------------- domain classifier
@dataclass
class DomainClassifierResult:
    """A cross-validated domain classifier: AUC with interval and p-value, and the PAD.

    ``scores`` are the out-of-fold decision values (higher = more target-like) and ``domain``
    the true domain of each row (0 source, 1 target), kept for histograms and density ratios.
    """

    auc: float
    auc_ci: tuple[float, float]
    p_value: float
    error: float
    error_ci: tuple[float, float]
    proxy_a_distance: float
    pad_ci: tuple[float, float]
    n_folds: int
    scores: np.ndarray = field(repr=False)
    domain: np.ndarray = field(repr=False)
    fold_p_values: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "auc": self.auc,
            "auc_ci": list(self.auc_ci),
            "p_value": self.p_value,
            "error": self.error,
            "error_ci": list(self.error_ci),
            "proxy_a_distance": self.proxy_a_distance,
            "pad_ci": list(self.pad_ci),
            "n_folds": self.n_folds,
            "fold_p_values": list(self.fold_p_values),
            "p_value_test": "one-sided Mann-Whitney within each fold, Bonferroni over the folds",
        }


def delong_auc(scores_negative: np.ndarray, scores_positive: np.ndarray) -> tuple[float, float]:
    """ROC AUC of positives over negatives and its DeLong variance (DeLong et al., 1988).

    Uses the midrank formulation (Sun & Xu, 2014), so it costs one sort.
    """
    x = np.asarray(scores_positive, dtype=float)
    y = np.asarray(scores_negative, dtype=float)
    m, n = len(x), len(y)
    combined = stats.rankdata(np.concatenate([x, y]))
    rank_x, rank_y = stats.rankdata(x), stats.rankdata(y)
    v10 = (combined[:m] - rank_x) / n  # per positive: share of negatives it beats
    v01 = 1.0 - (combined[m:] - rank_y) / m  # per negative: share of positives beating it
    auc = float(v10.mean())
    variance = float(np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / n) if m > 1 and n > 1 else 0.0
    return auc, variance


def domain_classifier_test(
    X_source: Any,
    X_target: Any,
    classifier: Any = None,
    n_folds: int = 5,
    alpha: float = 0.05,
    random_state: int | None = None,
) -> DomainClassifierResult:
    """Train a classifier to tell target rows from source rows, cross-validated.

    The AUC of its out-of-fold scores (:func:`transferkit.domain_classifier.domain_scores`)
    measures how separable the domains are (0.5: not at all, 1: completely), with a DeLong
    (1988) interval. The balanced error ``err`` of its hard decisions gives the proxy
    A-distance ``PAD = 2 (1 - 2 err)`` of Ben-David et al. (2007, "Analysis of representations
    for domain adaptation", §4), clipped to [0, 2], with a binomial interval.

    The p-value tests AUC > 0.5 within each fold: a fold's held-out rows were scored by a
    classifier that never saw them, so under "one distribution" their source and target scores
    are exchangeable and the one-sided Mann–Whitney test is exact. The folds' classifiers share
    most of their training rows, so the fold p-values are dependent; they are combined by
    Bonferroni (``n_folds`` × the smallest). One Mann–Whitney test on the scores of all folds
    pooled, as before, is not valid: each fold's scores come from a different classifier, and
    the pooled AUC's null spread is about 1.5 times the Mann–Whitney one (variance 2.2 times on
    two 1,200-row samples of one 12-d Gaussian), so it rejected 12 % of no-shift pairs at 5 %.

    Parameters
    ----------
    X_source, X_target : array or sparse matrix (n, d)
    classifier : sklearn classifier or None
        Default :func:`transferkit.domain_classifier.default_domain_classifier`: standardisation
        + L2 logistic regression with balanced class weights (max-abs scaling and liblinear for
        sparse input).
    n_folds : int, default 5
    alpha : float, default 0.05
        1 - confidence level of the intervals.
    random_state : int or None

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> result = domain_classifier_test(rng.normal(size=(100, 2)), rng.normal(size=(100, 2)))
    >>> bool(result.p_value > 0.01)
    True
    """
    Xs, Xt = _check_two(X_source, X_target)
    n_folds = int(max(2, min(n_folds, Xs.shape[0], Xt.shape[0])))
    result = domain_scores(Xs, Xt, classifier, n_folds, random_state)
    scores, domain = result.scores, result.domain

    auc, variance = delong_auc(scores[domain == 0], scores[domain == 1])
    z = stats.norm.ppf(1 - alpha / 2)
    half = z * np.sqrt(max(variance, 0.0))
    auc_ci = (float(max(0.0, auc - half)), float(min(1.0, auc + half)))
    fold_p_values = tuple(
        float(
            stats.mannwhitneyu(
                scores[(result.fold == k) & (domain == 1)],
                scores[(result.fold == k) & (domain == 0)],
                alternative="greater",
            ).pvalue
        )
        for k in range(result.n_folds)
    )
    p_value = float(min(1.0, result.n_folds * min(fold_p_values)))

    # balanced error: mean of the two per-domain error rates
    decisions = result.decisions
    err_source = float(np.mean(decisions[domain == 0] != 0))
    err_target = float(np.mean(decisions[domain == 1] != 1))
    error = 0.5 * (err_source + err_target)
    se = 0.5 * np.sqrt(
        err_source * (1 - err_source) / Xs.shape[0] + err_target * (1 - err_target) / Xt.shape[0]
    )
    error_ci = (float(max(0.0, error - z * se)), float(min(1.0, error + z * se)))

    return DomainClassifierResult(
        auc=auc,
        auc_ci=auc_ci,
        p_value=p_value,
        error=error,
        error_ci=error_ci,
        proxy_a_distance=proxy_a_distance_from_error(error),
        pad_ci=(proxy_a_distance_from_error(error_ci[1]), proxy_a_distance_from_error(error_ci[0])),
        n_folds=result.n_folds,
        scores=scores,
        domain=domain,
        fold_p_values=fold_p_values,
    )


# --------------------------------------------------------------------------- MMD
@dataclass
class MMDResult:
    """An MMD two-sample test: MMD² estimate, p-value, and how it was obtained."""

    statistic: float
    p_value: float
    method: str
    bandwidth: float
    n_permutations: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "mmd2": self.statistic,
            "p_value": self.p_value,
            "method": self.method,
            "bandwidth": self.bandwidth,
            "n_permutations": self.n_permutations,
        }


def _pooled_standardize(Xs: Matrix, Xt: Matrix) -> tuple[Matrix, Matrix]:
    """Scale features with statistics of the pooled sample (permutation invariant, so valid)."""
    X = stack_domains(Xs, Xt)
    if sp.issparse(X):
        scale = np.asarray(np.abs(X).max(axis=0).todense()).ravel()
        scale[scale == 0] = 1.0
        X = X @ sp.diags(1.0 / scale)
        X = sp.csr_matrix(X)
    else:
        mean, std = X.mean(axis=0), X.std(axis=0)
        std[std == 0] = 1.0
        X = (X - mean) / std
    return X[: Xs.shape[0]], X[Xs.shape[0] :]


def _sq_dists(A: Matrix, B: Matrix) -> np.ndarray:
    from sklearn.metrics.pairwise import euclidean_distances

    return np.maximum(euclidean_distances(A, B, squared=True), 0.0)


def draw_rows(n: int, n_max: int, rng: np.random.Generator) -> np.ndarray:
    """The sorted indices of at most ``n_max`` of ``n`` rows, drawn without replacement (all of
    them, without drawing, when ``n <= n_max``): the subsample every diagnosis test works on."""
    if n <= n_max:
        return np.arange(n)
    return np.sort(rng.choice(n, n_max, replace=False))


def median_bandwidth(X: Matrix, max_samples: int = 500, random_state: int | None = None) -> float:
    """Median pairwise Euclidean distance on (a subsample of) ``X``: the usual kernel width."""
    X = X[draw_rows(X.shape[0], max_samples, np.random.default_rng(random_state))]
    d2 = _sq_dists(X, X)
    upper = d2[np.triu_indices_from(d2, k=1)]
    positive = upper[upper > 0]
    return float(np.sqrt(np.median(positive))) if len(positive) else 1.0


def mmd2_unbiased(K: np.ndarray, n_source: int) -> float:
    """Unbiased MMD² (Gretton et al., 2012, eq. 3) from a pooled kernel matrix, source rows first."""
    m = n_source
    n = K.shape[0] - m
    Kss, Ktt, Kst = K[:m, :m], K[m:, m:], K[:m, m:]
    return float(
        (Kss.sum() - np.trace(Kss)) / (m * (m - 1))
        + (Ktt.sum() - np.trace(Ktt)) / (n * (n - 1))
        - 2.0 * Kst.mean()
    )


def _quadratic_mmd_test(
    X: Matrix, n_source: int, bandwidth: float, n_permutations: int, rng: np.random.Generator
) -> tuple[float, float]:
    K = np.exp(-_sq_dists(X, X) / (2.0 * bandwidth**2))
    N = K.shape[0]
    m, n = n_source, N - n_source
    diag = np.diag(K).copy()
    total = K.sum()
    trace = diag.sum()

    def statistics(Z: np.ndarray) -> np.ndarray:
        # Z: (N, B) indicators of source membership; every quantity from one product K @ Z
        KZ = K @ Z
        ss = np.einsum("ib,ib->b", Z, KZ)  # sum over source pairs
        row = KZ.sum(axis=0)  # sum_i sum_{j in S} K_ij
        st = row - ss  # source-target block
        tt = total - 2 * st - ss
        trace_s = diag @ Z
        trace_t = trace - trace_s
        return (ss - trace_s) / (m * (m - 1)) + (tt - trace_t) / (n * (n - 1)) - 2.0 * st / (m * n)

    observed = np.zeros((N, 1))
    observed[:m] = 1.0
    value = float(statistics(observed)[0])
    exceed = 0
    for Z in _random_splits(N, m, n_permutations, rng):
        exceed += int(np.sum(statistics(Z) >= value))
    return value, (1 + exceed) / (1 + n_permutations)


def _random_splits(N: int, m: int, n_permutations: int, rng: np.random.Generator, batch: int = 64):
    """Yield (N, b) 0/1 matrices whose columns mark ``m`` rows drawn uniformly without replacement."""
    done = 0
    while done < n_permutations:
        b = min(batch, n_permutations - done)
        chosen = np.argpartition(rng.random((N, b)), m - 1, axis=0)[:m]
        Z = np.zeros((N, b))
        Z[chosen, np.arange(b)] = 1.0
        yield Z
        done += b


def random_fourier_features(
    X: Matrix, bandwidth: float, n_features: int = 256, random_state: int | None = None
) -> np.ndarray:
    """Random Fourier features of the Gaussian kernel ``exp(-|x-y|² / 2σ²)`` (Rahimi & Recht, 2007)."""
    rng = np.random.default_rng(random_state)
    W = rng.normal(scale=1.0 / bandwidth, size=(X.shape[1], n_features))
    b = rng.uniform(0, 2 * np.pi, size=n_features)
    projection = X @ W
    return np.sqrt(2.0 / n_features) * np.cos(np.asarray(projection) + b)


def _rff_mmd_test(
    X: Matrix,
    n_source: int,
    bandwidth: float,
    n_permutations: int,
    n_features: int,
    rng: np.random.Generator,
) -> tuple[float, float]:
    Phi = random_fourier_features(X, bandwidth, n_features, int(rng.integers(2**31)))
    N = Phi.shape[0]
    m, n = n_source, N - n_source
    total = Phi.sum(axis=0)

    def statistic(source_sum: np.ndarray) -> np.ndarray:
        diff = source_sum / m - (total - source_sum) / n
        return np.sum(diff * diff, axis=-1)

    value = float(statistic(Phi[:m].sum(axis=0)))
    exceed = 0
    for Z in _random_splits(N, m, n_permutations, rng):
        exceed += int(np.sum(statistic(Z.T @ Phi) >= value))
    return value, (1 + exceed) / (1 + n_permutations)


def _linear_mmd_test(
    Xs: Matrix, Xt: Matrix, bandwidth: float, rng: np.random.Generator
) -> tuple[float, float]:
    half = min(Xs.shape[0], Xt.shape[0]) // 2
    if half < 2:
        raise NotApplicableError("linear-time MMD needs at least 4 samples per domain.")
    s = Xs[rng.permutation(Xs.shape[0])[: 2 * half]]
    t = Xt[rng.permutation(Xt.shape[0])[: 2 * half]]
    x1, x2, y1, y2 = s[:half], s[half:], t[:half], t[half:]

    def k(a: Matrix, b: Matrix) -> np.ndarray:
        if sp.issparse(a):
            d2 = np.asarray((a - b).multiply(a - b).sum(axis=1)).ravel()
        else:
            d2 = np.sum((a - b) ** 2, axis=1)
        return np.exp(-d2 / (2.0 * bandwidth**2))

    h = k(x1, x2) + k(y1, y2) - k(x1, y2) - k(x2, y1)
    value = float(h.mean())
    sd = float(h.std(ddof=1))
    if sd == 0:
        return value, 1.0 if value <= 0 else 0.0
    return value, float(stats.norm.sf(value / (sd / np.sqrt(half))))


def mmd_test(
    X_source: Any,
    X_target: Any,
    method: str = "auto",
    n_permutations: int = 200,
    bandwidth: float | None = None,
    n_features: int = 256,
    max_quadratic: int = 2000,
    standardize: bool = True,
    random_state: int | None = None,
) -> MMDResult:
    """Kernel two-sample test of P_source(X) = P_target(X) with a Gaussian kernel.

    Gretton, Borgwardt, Rasch, Schölkopf & Smola (2012), "A kernel two-sample test", JMLR 13.

    Parameters
    ----------
    X_source, X_target : array or sparse matrix (n, d)
    method : {"auto", "quadratic", "linear", "rff"}, default "auto"
        ``quadratic``: unbiased MMD² (eq. 3) with a permutation null, O(n²) memory and time;
        ``linear``: the linear-time statistic (§6) with its Gaussian null, no permutations;
        ``rff``: MMD² between mean random-Fourier-feature embeddings with a permutation null,
        O(n · n_features) per permutation. ``auto`` takes ``quadratic`` up to ``max_quadratic``
        pooled rows, else ``rff``.
    n_permutations : int, default 200
        Permutations of the pooled sample; the p-value ``(1 + #exceed) / (1 + B)`` is exact in
        level for any B.
    bandwidth : float or None
        Kernel width σ; default the median pairwise distance of the pooled (standardised) data.
    n_features : int, default 256
        Random features for ``rff``.
    standardize : bool, default True
        Scale features by pooled statistics first (z-scores; max-abs for sparse input).
    random_state : int or None

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> mmd_test(rng.normal(size=(150, 2)), rng.normal(size=(150, 2)), random_state=0).p_value > 0.05
    True
    """
    Xs, Xt = _check_two(X_source, X_target)
    if method not in {"auto", "quadratic", "linear", "rff"}:
        raise InvalidParameterError(
            f"mmd_test method must be 'auto', 'quadratic', 'linear' or 'rff'; got {method!r}."
        )
    if n_permutations < 1 and method != "linear":
        raise InvalidParameterError(f"n_permutations must be >= 1, got {n_permutations}.")
    rng = np.random.default_rng(random_state)
    if standardize:
        Xs, Xt = _pooled_standardize(Xs, Xt)
    X = stack_domains(Xs, Xt)
    if bandwidth is None:
        bandwidth = median_bandwidth(X, random_state=int(rng.integers(2**31)))
    if bandwidth <= 0:
        raise InvalidParameterError(f"bandwidth must be positive, got {bandwidth}.")
    N = X.shape[0]
    if method == "auto":
        method = "quadratic" if N <= max_quadratic else "rff"
    if method == "quadratic":
        value, p = _quadratic_mmd_test(X, Xs.shape[0], bandwidth, n_permutations, rng)
    elif method == "rff":
        value, p = _rff_mmd_test(X, Xs.shape[0], bandwidth, n_permutations, n_features, rng)
    else:
        value, p = _linear_mmd_test(Xs, Xt, bandwidth, rng)
        n_permutations = 0
    return MMDResult(float(value), float(p), method, float(bandwidth), int(n_permutations))


# --------------------------------------------------------------------------- per-feature drift
def adjust_p_values(p_values: np.ndarray, method: str = "fdr_bh") -> np.ndarray:
    """Multiple-testing adjusted p-values: Benjamini–Hochberg (``fdr_bh``), ``holm`` or ``bonferroni``.

    Under the global null each controls the chance of any rejection at the level used, so the
    smallest adjusted p-value is a valid p-value for "some feature drifts".
    """
    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return p
    if method == "fdr_bh":
        return stats.false_discovery_control(p, method="bh")
    if method == "bonferroni":
        return np.minimum(1.0, p * p.size)
    if method == "holm":
        order = np.argsort(p)
        adjusted = np.maximum.accumulate((p.size - np.arange(p.size)) * p[order])
        out = np.empty_like(p)
        out[order] = np.minimum(1.0, adjusted)
        return out
    raise InvalidParameterError(
        f"correction must be 'fdr_bh', 'holm' or 'bonferroni'; got {method!r}."
    )


@dataclass
class FeatureDrift:
    """Per-feature two-sample tests, ranked: most drifting first."""

    names: list[str]
    tests: list[str]
    statistics: np.ndarray
    effects: np.ndarray
    p_values: np.ndarray
    p_adjusted: np.ndarray
    source_summary: np.ndarray
    target_summary: np.ndarray
    correction: str
    alpha: float

    @property
    def n_tested(self) -> int:
        return len(self.names)

    @property
    def n_drifting(self) -> int:
        return int(np.sum(self.p_adjusted < self.alpha))

    @property
    def min_p_adjusted(self) -> float:
        return float(self.p_adjusted.min()) if self.n_tested else 1.0

    def top(self, k: int = 10) -> list[dict[str, Any]]:
        """The ``k`` features with the smallest adjusted p-values (ties: largest effect)."""
        order = np.lexsort((-self.effects, self.p_adjusted))[:k]
        return [
            {
                "feature": self.names[i],
                "test": self.tests[i],
                "statistic": float(self.statistics[i]),
                "effect": float(self.effects[i]),
                "p_value": float(self.p_values[i]),
                "p_adjusted": float(self.p_adjusted[i]),
                "source": float(self.source_summary[i]),
                "target": float(self.target_summary[i]),
            }
            for i in order
        ]

    def to_dict(self, k: int = 10) -> dict[str, Any]:
        return {
            "n_tested": self.n_tested,
            "n_drifting": self.n_drifting,
            "min_p_adjusted": self.min_p_adjusted,
            "correction": self.correction,
            "top": self.top(k),
        }


def _presence_counts(X: Matrix) -> np.ndarray:
    if sp.issparse(X):
        return np.asarray((X != 0).sum(axis=0)).ravel().astype(float)
    return np.sum(X != 0, axis=0).astype(float)


def presence_test(
    count_source: np.ndarray, n_source: int, count_target: np.ndarray, n_target: int
) -> np.ndarray:
    """Two-sided exact test (Fisher's, via the hypergeometric law) of equal presence rates.

    ``count_*`` say in how many rows of each domain a feature is non-zero. Conditional on the
    total, the target count is hypergeometric under the null; the p-value doubles the smaller
    tail, capped at 1.
    """
    total = count_source + count_target
    N = n_source + n_target
    lower = stats.hypergeom.cdf(count_target, N, total, n_target)
    upper = stats.hypergeom.sf(count_target - 1, N, total, n_target)
    return np.minimum(1.0, 2.0 * np.minimum(lower, upper))


def _column_kinds(Xs: np.ndarray, Xt: np.ndarray, max_categories: int) -> list[str]:
    kinds = []
    for j in range(Xs.shape[1]):
        values = np.unique(np.concatenate([Xs[:, j], Xt[:, j]]))
        if len(values) <= 1:
            kinds.append("constant")
        elif len(values) == 2:
            kinds.append("binary")
        elif len(values) <= max_categories and np.all(np.mod(values, 1) == 0):
            kinds.append("categorical")
        else:
            kinds.append("continuous")
    return kinds


def feature_drift(
    X_source: Any,
    X_target: Any,
    feature_names: Sequence[str] | None = None,
    alpha: float = 0.05,
    correction: str = "fdr_bh",
    max_categories: int = 10,
) -> FeatureDrift:
    """Test every feature for a change of its marginal distribution, and rank them.

    Continuous features: two-sample Kolmogorov–Smirnov (effect = KS distance D). Integer
    features with at most ``max_categories`` levels: χ² test of homogeneity (effect = Cramér's V);
    binary features and every column of a sparse matrix: an exact test of equal presence rates
    (effect = |rate difference|). P-values are adjusted for the number of features tested.

    Parameters
    ----------
    X_source, X_target : array or sparse matrix (n, d)
    feature_names : sequence of str or None
    alpha : float, default 0.05
    correction : {"fdr_bh", "holm", "bonferroni"}, default "fdr_bh"
    max_categories : int, default 10

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(300, 4)); Xt = rng.normal(size=(300, 4)); Xt[:, 2] += 1.0
    >>> feature_drift(Xs, Xt).top(1)[0]["feature"]
    'x2'
    """
    Xs, Xt = _check_two(X_source, X_target)
    d = Xs.shape[1]
    names = (
        [f"x{j}" for j in range(d)] if feature_names is None else [str(n) for n in feature_names]
    )
    if len(names) != d:
        raise InvalidParameterError(f"feature_names has {len(names)} names for {d} features.")
    ns, nt = Xs.shape[0], Xt.shape[0]
    statistic = np.zeros(d)
    effect = np.zeros(d)
    p = np.ones(d)
    src = np.zeros(d)
    tgt = np.zeros(d)
    tests = ["presence"] * d

    if sp.issparse(Xs) or sp.issparse(Xt):
        cs, ct = _presence_counts(Xs), _presence_counts(Xt)
        src, tgt = cs / ns, ct / nt
        tested = (cs + ct) > 0
        p[tested] = presence_test(cs[tested], ns, ct[tested], nt)
        effect = np.abs(src - tgt)
        statistic = effect.copy()
        keep = np.flatnonzero(tested)
    else:
        kinds = _column_kinds(Xs, Xt, max_categories)
        keep_list = []
        continuous = [j for j, k in enumerate(kinds) if k == "continuous"]
        if continuous:
            ks = stats.ks_2samp(Xs[:, continuous], Xt[:, continuous], axis=0)
            statistic[continuous] = ks.statistic
            effect[continuous] = ks.statistic
            p[continuous] = ks.pvalue
            src[continuous] = Xs[:, continuous].mean(axis=0)
            tgt[continuous] = Xt[:, continuous].mean(axis=0)
        for j, kind in enumerate(kinds):
            if kind == "constant":
                tests[j] = "constant"
                continue
            keep_list.append(j)
            if kind == "continuous":
                tests[j] = "ks"
            elif kind == "binary":
                high = max(np.max(Xs[:, j]), np.max(Xt[:, j]))
                cs, ct = float(np.sum(Xs[:, j] == high)), float(np.sum(Xt[:, j] == high))
                p[j] = presence_test(np.array([cs]), ns, np.array([ct]), nt)[0]
                src[j], tgt[j] = cs / ns, ct / nt
                effect[j] = statistic[j] = abs(src[j] - tgt[j])
                tests[j] = "exact"
            else:
                levels = np.unique(np.concatenate([Xs[:, j], Xt[:, j]]))
                table = np.array(
                    [[np.sum(X[:, j] == v) for v in levels] for X in (Xs, Xt)], dtype=float
                )
                chi2, p[j], _, _ = stats.chi2_contingency(table, correction=False)
                statistic[j] = chi2
                effect[j] = np.sqrt(chi2 / (table.sum() * (min(table.shape) - 1)))
                src[j], tgt[j] = Xs[:, j].mean(), Xt[:, j].mean()
                tests[j] = "chi2"
        keep = np.asarray(keep_list, dtype=int)

    adjusted = np.ones(d)
    if len(keep):
        adjusted[keep] = adjust_p_values(p[keep], correction)
    return FeatureDrift(
        names=[names[j] for j in keep],
        tests=[tests[j] for j in keep],
        statistics=statistic[keep],
        effects=effect[keep],
        p_values=p[keep],
        p_adjusted=adjusted[keep],
        source_summary=src[keep],
        target_summary=tgt[keep],
        correction=correction,
        alpha=alpha,
    )


# --------------------------------------------------------------------------- presence-only features
@dataclass
class DomainSpecificFeatures:
    """Features present in one domain and (almost) never in the other."""

    only_source: list[dict[str, Any]]
    only_target: list[dict[str, Any]]
    n_tested: int
    alpha: float
    max_rate_ratio: float
    indices: list[int] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.only_source) + len(self.only_target)

    def to_dict(self, k: int = 20) -> dict[str, Any]:
        return {
            "n_only_source": len(self.only_source),
            "n_only_target": len(self.only_target),
            "only_source": self.only_source[:k],
            "only_target": self.only_target[:k],
            "n_tested": self.n_tested,
            "max_rate_ratio": self.max_rate_ratio,
        }


def domain_specific_features(
    X_source: Any,
    X_target: Any,
    feature_names: Sequence[str] | None = None,
    alpha: float = 0.05,
    max_rate_ratio: float = 0.1,
) -> DomainSpecificFeatures:
    """Find features used in one domain that (almost) never occur in the other.

    A feature is *present* in a row where it is non-zero. Feature j is reported as source-only
    when its target presence rate is at most ``max_rate_ratio`` × its source rate and an exact
    one-sided hypergeometric test rejects equal rates at level ``alpha`` / (number of features
    tested) — Bonferroni, so on two samples of one distribution the chance of reporting any
    feature is at most ``alpha``. Target-only features are found the same way. Typical case:
    sparse vocabularies (a word of the book reviews never used for kitchen appliances).

    Parameters
    ----------
    X_source, X_target : array or sparse matrix (n, d)
    feature_names : sequence of str or None
    alpha : float, default 0.05
    max_rate_ratio : float, default 0.1
        How rare "almost never" is, relative to the other domain.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> Xs = (rng.random((400, 5)) < 0.3).astype(float); Xt = (rng.random((400, 5)) < 0.3) * 1.0
    >>> Xt[:, 4] = 0
    >>> [f["feature"] for f in domain_specific_features(Xs, Xt).only_source]
    ['x4']
    """
    Xs, Xt = _check_two(X_source, X_target)
    d = Xs.shape[1]
    names = (
        [f"x{j}" for j in range(d)] if feature_names is None else [str(n) for n in feature_names]
    )
    ns, nt = Xs.shape[0], Xt.shape[0]
    cs, ct = _presence_counts(Xs), _presence_counts(Xt)
    tested = np.flatnonzero((cs + ct) > 0)
    N = ns + nt
    total = cs + ct
    n_tested = max(len(tested), 1)
    level = alpha / n_tested
    # P(target count <= observed) and P(source count <= observed) under equal rates
    p_low_target = stats.hypergeom.cdf(ct, N, total, nt)
    p_low_source = stats.hypergeom.cdf(cs, N, total, ns)
    rate_s, rate_t = cs / ns, ct / nt

    def collect(p_low: np.ndarray, rare: np.ndarray, common: np.ndarray, key: str) -> list:
        hits = [
            j
            for j in tested
            if p_low[j] < level and rare[j] <= max_rate_ratio * common[j] and common[j] > 0
        ]
        hits.sort(key=lambda j: (p_low[j], -common[j]))
        return [
            {
                "feature": names[j],
                "index": int(j),
                "source_rate": float(rate_s[j]),
                "target_rate": float(rate_t[j]),
                "p_value": float(min(1.0, p_low[j] * n_tested)),
                "present_in": key,
            }
            for j in hits
        ]

    only_source = collect(p_low_target, rate_t, rate_s, "source")
    only_target = collect(p_low_source, rate_s, rate_t, "target")
    return DomainSpecificFeatures(
        only_source=only_source,
        only_target=only_target,
        n_tested=len(tested),
        alpha=alpha,
        max_rate_ratio=max_rate_ratio,
        indices=sorted(f["index"] for f in only_source + only_target),
    )


def combine_bonferroni(p_values: Sequence[float]) -> float:
    """A valid p-value for "at least one of these tests rejects": ``min(1, k · min p)``."""
    values = [float(v) for v in p_values if v is not None and np.isfinite(v)]
    if not values:
        return 1.0
    return float(min(1.0, len(values) * min(values)))


# --------------------------------------------------------------------------- label-based tests
@dataclass
class SimpleTest:
    """A named test statistic with its p-value."""

    name: str
    statistic: float
    p_value: float
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "test": self.name,
            "statistic": self.statistic,
            "p_value": self.p_value,
            **self.details,
        }


def _chi2_homogeneity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """χ² statistic of 2×k tables given row counts ``a`` and ``b`` (last axis = categories)."""
    total = a + b
    na = a.sum(axis=-1, keepdims=True)
    nb = b.sum(axis=-1, keepdims=True)
    n = na + nb
    with np.errstate(invalid="ignore", divide="ignore"):
        ea, eb = total * na / n, total * nb / n
        terms = np.where(total > 0, (a - ea) ** 2 / ea + (b - eb) ** 2 / eb, 0.0)
    return terms.sum(axis=-1)


def categorical_homogeneity_test(
    codes_a: np.ndarray,
    codes_b: np.ndarray,
    n_categories: int,
    n_permutations: int = 500,
    random_state: int | None = None,
    name: str = "chi2 homogeneity (permutation)",
) -> SimpleTest:
    """Two-sample test that two samples of category codes share one distribution.

    The χ² statistic of homogeneity of the 2 × k table with a permutation null: exact level
    whatever the counts (no small-expected-count trouble). ``codes_*`` are integers in
    ``[0, n_categories)``.
    """
    codes_a = np.asarray(codes_a, dtype=int)
    codes_b = np.asarray(codes_b, dtype=int)
    counts_a = np.bincount(codes_a, minlength=n_categories).astype(float)
    counts_b = np.bincount(codes_b, minlength=n_categories).astype(float)
    observed = float(_chi2_homogeneity(counts_a, counts_b))
    pooled = np.concatenate([codes_a, codes_b])
    na = len(codes_a)
    rng = np.random.default_rng(random_state)
    exceed = 0
    onehot = np.eye(n_categories)[pooled]
    for Z in _random_splits(len(pooled), na, n_permutations, rng):
        a = Z.T @ onehot
        b = counts_a + counts_b - a
        exceed += int(np.sum(_chi2_homogeneity(a, b) >= observed - 1e-12))
    p = (1 + exceed) / (1 + n_permutations)
    return SimpleTest(
        name,
        observed,
        float(p),
        {
            "shares_a": (counts_a / max(na, 1)).tolist(),
            "shares_b": (counts_b / max(len(codes_b), 1)).tolist(),
            "n_a": int(na),
            "n_b": int(len(codes_b)),
            "n_permutations": int(n_permutations),
        },
    )


def predicted_label_shift_test(
    pred_holdout: np.ndarray,
    pred_target: np.ndarray,
    n_classes: int,
    n_permutations: int = 500,
    random_state: int | None = None,
) -> SimpleTest:
    """Test whether a fixed classifier's predicted classes are distributed alike in two samples.

    Black-box shift detection (Lipton et al., 2018, §5; Rabanser, Günnemann & Lipton, 2019):
    under label shift with an informative classifier the target's distribution of predicted
    classes moves; with no shift at all, held-out source and target predictions are two samples
    of one distribution (:func:`categorical_homogeneity_test`). Only a test of label shift when
    P(X|Y) is unchanged: covariate shift moves the predictions too.

    ``pred_*`` are integer class codes from one classifier that was trained on neither sample.
    """
    return categorical_homogeneity_test(
        pred_holdout,
        pred_target,
        n_classes,
        n_permutations,
        random_state,
        name="chi2 on predicted classes (permutation)",
    )


def posterior_consistency_test(
    proba_reference: np.ndarray,
    y_reference: np.ndarray,
    proba_labeled: np.ndarray,
    y_labeled: np.ndarray,
) -> SimpleTest:
    """Test whether labelled target samples follow the source posterior P(y | x).

    For a probabilistic classifier, ``s = log p(y|x) + H(p(·|x))`` has mean 0 given ``x`` when
    ``p`` is the true posterior, whatever the distribution of ``x`` (a score test of
    calibration). Its mean on held-out source rows (``reference``) absorbs the classifier's own
    miscalibration; a lower mean on the labelled target rows means their labels disagree with the
    source posterior — P(y | x) differs (conditional shift, or concept drift). One-sided Welch
    t-test. Give target probabilities already corrected for label shift to test "beyond a change
    of class balance".

    ``y_*`` are integer class codes indexing the probability columns.
    """

    def scores(proba: np.ndarray, y: np.ndarray) -> np.ndarray:
        p = np.clip(proba, 1e-12, 1.0)
        entropy = -np.sum(p * np.log(p), axis=1)
        return np.log(p[np.arange(len(y)), y]) + entropy

    s_ref = scores(proba_reference, np.asarray(y_reference, dtype=int))
    s_lab = scores(proba_labeled, np.asarray(y_labeled, dtype=int))
    if len(s_lab) < 2 or len(s_ref) < 2:
        return SimpleTest("posterior consistency (Welch t)", 0.0, 1.0, {"n_labeled": len(s_lab)})
    result = stats.ttest_ind(s_lab, s_ref, equal_var=False, alternative="less")
    statistic = float(result.statistic) if np.isfinite(result.statistic) else 0.0
    p_value = float(result.pvalue) if np.isfinite(result.pvalue) else 1.0
    return SimpleTest(
        "posterior consistency (Welch t)",
        statistic,
        p_value,
        {
            "mean_score_target": float(s_lab.mean()),
            "mean_score_source": float(s_ref.mean()),
            "n_labeled": int(len(s_lab)),
            "target_accuracy_of_source_model": float(
                np.mean(np.argmax(proba_labeled, axis=1) == y_labeled)
            ),
        },
    )
