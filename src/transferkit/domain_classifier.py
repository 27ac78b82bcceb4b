"""The domain classifier: a classifier told to separate target rows from source rows.

One idea serves three purposes in transfer learning, and this module is its one home:

* :func:`domain_scores` — out-of-fold scores of the classifier (higher = more target-like), the
  raw material of the diagnosis's two-sample test and of the domain-score histograms;
* :func:`density_ratio` — importance weights ``p_t(x) / p_s(x)`` of the source rows (Bickel,
  Brückner & Scheffer, 2007, eq. 3), used by re-weighting and by importance-weighted validation;
* :func:`proxy_a_distance` — the proxy A-distance ``2 (1 - 2 err)`` of Ben-David, Blitzer,
  Crammer & Pereira (2007, "Analysis of representations for domain adaptation", §4).

:func:`default_domain_classifier` is the classifier all three use unless given another:
logistic regression (C = 1) with balanced class weights on standardised features (max-abs
scaled, so sparse input stays sparse). With balanced class weights its decision value estimates
``log p_t(x) / p_s(x)`` whatever the two domains' sizes.

Every fold split is stratified by domain and seeded by ``random_state``; a row's score, weight
or decision always comes from a classifier that did not see it.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> Xs, Xt = rng.normal(size=(200, 2)), rng.normal(3.0, size=(200, 2))
>>> proxy_a_distance(Xs, Xt, random_state=0) > 1.5
True
>>> weights = density_ratio(Xs, Xt, random_state=0)
>>> weights.shape, round(float(weights.mean()), 6)
((200,), 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MaxAbsScaler, StandardScaler

from transferkit.base import stack_rows
from transferkit.exceptions import InvalidParameterError

__all__ = [
    "DomainScores",
    "centred_separately",
    "default_domain_classifier",
    "density_ratio",
    "domain_scores",
    "means_matched",
    "proxy_a_distance",
    "proxy_a_distance_from_error",
]


def default_domain_classifier(sparse: bool, random_state: int | None = None) -> Pipeline:
    """The linear domain classifier used unless one is given.

    Logistic regression (C = 1, balanced class weights) after standardisation (dense input) or
    max-abs scaling with liblinear (sparse input, which it keeps sparse). Balanced class weights
    make the decision value an estimate of the log density ratio ``log p_t(x) / p_s(x)``.

    Parameters
    ----------
    sparse : bool
        Whether the rows are a scipy sparse matrix.
    random_state : int or None, default None
        Seed of liblinear's coordinate descent (sparse input).

    Examples
    --------
    >>> default_domain_classifier(sparse=False).steps[-1][1].class_weight
    'balanced'
    """
    if sparse:
        return make_pipeline(
            MaxAbsScaler(),
            LogisticRegression(
                C=1.0, solver="liblinear", class_weight="balanced", random_state=random_state
            ),
        )
    return make_pipeline(
        StandardScaler(),
        LogisticRegression(C=1.0, max_iter=1000, class_weight="balanced"),
    )


@dataclass
class DomainScores:
    """Out-of-fold scores of a domain classifier, one per row (source rows first).

    ``scores`` are decision values when the classifier has ``decision_function`` (for the default
    classifier: estimated log density ratios), else its P(target); ``threshold`` is the score
    above which a row is called target (0 or 0.5); ``domain`` is 0 for source rows and 1 for
    target rows; ``fold`` is the index of the fold in which each row was held out.
    """

    scores: np.ndarray = field(repr=False)
    domain: np.ndarray = field(repr=False)
    fold: np.ndarray = field(repr=False)
    n_folds: int
    threshold: float

    @property
    def decisions(self) -> np.ndarray:
        """1 where the held-out classifier calls the row a target row, else 0."""
        return (self.scores > self.threshold).astype(int)

    @property
    def balanced_error(self) -> float:
        """Mean of the source and target error rates of the held-out decisions."""
        decisions = self.decisions
        return 0.5 * (
            float(np.mean(decisions[self.domain == 0] != 0))
            + float(np.mean(decisions[self.domain == 1] != 1))
        )

    @property
    def auc(self) -> float:
        """Area under the ROC curve of the held-out scores (0.5: the domains look alike)."""
        from sklearn.metrics import roc_auc_score

        return float(roc_auc_score(self.domain, self.scores))

    @property
    def below_chance(self) -> bool:
        """Whether the held-out scores rank the domains the wrong way round, more than three
        standard errors of an uninformative AUC below 0.5 (Hanley & McNeil 1982, under the null).

        Held-out rows then look like the *other* domain, and the scores do not measure how far
        the domains overlap. Domains centred separately cause it (leaving rows out moves the
        rest of their domain away from them; see :func:`centred_separately`), and so can far
        more features than rows.
        """
        n_source, n_target = int(np.sum(self.domain == 0)), int(np.sum(self.domain == 1))
        null_se = np.sqrt((n_source + n_target + 1) / (12.0 * n_source * n_target))
        return self.auc < 0.5 - 3.0 * null_se

    def probabilities(self) -> np.ndarray:
        """P(target) per row (the logistic of decision values; probabilities are kept as is)."""
        if self.threshold == 0.0:
            return 1.0 / (1.0 + np.exp(-np.clip(self.scores, -500, 500)))
        return self.scores


def _column_moments(X: Any) -> tuple[np.ndarray, np.ndarray]:
    """Every column's mean and standard deviation (sparse rows stay sparse)."""
    X = X if sp.issparse(X) else np.asarray(X, dtype=float)
    mean = np.asarray(X.mean(axis=0), dtype=float).ravel()
    squares = np.asarray(X.multiply(X).mean(axis=0) if sp.issparse(X) else (X * X).mean(0))
    return mean, np.sqrt(np.maximum(squares.ravel() - mean**2, 0.0))


def centred_separately(X_source: Any, X_target: Any) -> bool:
    """Whether a domain was centred on its own mean: every column's mean is zero, to rounding,
    in the source or in the target (as in data standardised per domain, such as the
    Office-Caltech10 SURF files, whose source may then be a draw of the centred domain), while
    the rows are not all zero.

    Rows held out of such a domain lie on the far side of its mean from the rows that stay in,
    so a cross-validated domain classifier scores them as the other domain: below chance.
    """
    (mean_s, spread_s), (mean_t, spread_t) = _column_moments(X_source), _column_moments(X_target)
    scale = max(float(np.max(spread_s)), float(np.max(spread_t)))
    return scale > 0 and min(float(np.max(np.abs(mean_s))), float(np.max(np.abs(mean_t)))) <= (
        1e-9 * scale
    )


def means_matched(X_source: Any, X_target: Any, level: float = 1e-3) -> bool:
    """Whether the source and the target means are closer than two independent samples' would
    be: what a map that moves the source onto the target's mean leaves (CORAL, optimal
    transport's barycentric mapping, both domains centred, or a user's own such step).

    The statistic is ``sum_j (m_s,j - m_t,j)^2 / (v_s,j / n_s + v_t,j / n_t)`` over the columns
    that vary; for two independent samples of one distribution it follows a chi-square law with
    one degree of freedom per column, and the means count as matched when it falls below that
    law's ``level`` quantile. (Means that truly differ make it larger still.)

    As with :func:`centred_separately`, rows held out of either domain then lie on the far side
    of the shared mean from the rows of their domain that stay in, and a cross-validated domain
    classifier scores them below chance.
    """
    from scipy.stats import chi2

    (mean_s, spread_s), (mean_t, spread_t) = _column_moments(X_source), _column_moments(X_target)
    scale = max(float(np.max(spread_s)), float(np.max(spread_t)))
    n_source, n_target = _n_rows(X_source), _n_rows(X_target)
    error = spread_s**2 / n_source + spread_t**2 / n_target
    varying = error > (1e-12 * scale) ** 2
    if scale == 0 or not varying.any() or min(n_source, n_target) < 2:
        return False
    statistic = float(np.sum((mean_s - mean_t)[varying] ** 2 / error[varying]))
    return statistic < float(chi2.ppf(level, int(varying.sum())))


def _n_rows(X: Any) -> int:
    return int(X.shape[0]) if hasattr(X, "shape") else len(X)


def _folds(n_source: int, n_target: int, n_folds: int, what: str) -> int:
    """The number of folds to use: at least 2 (else an error), at most the smaller domain."""
    if isinstance(n_folds, bool) or not isinstance(n_folds, int | np.integer) or n_folds < 2:
        raise InvalidParameterError(
            f"{what}: n_folds={n_folds!r} must be at least 2 (an integer: each row is scored by "
            "a classifier trained on the other folds)."
        )
    if min(n_source, n_target) < 2:
        raise InvalidParameterError(
            f"{what}: a domain classifier needs at least 2 rows per domain; got {n_source} source "
            f"and {n_target} target rows."
        )
    return int(min(n_folds, n_source, n_target))


def _cross_fitting(
    X_source: Any,
    X_target: Any,
    classifier: Any,
    n_folds: int,
    random_state: int | None,
    what: str,
) -> tuple[Any, np.ndarray, Any, StratifiedKFold]:
    """The stacked rows, their domain (0 source, 1 target), the classifier to clone (the default
    one when None) and the fold split stratified by domain, shared by every cross-fitted use."""
    ns, nt = _n_rows(X_source), _n_rows(X_target)
    n_folds = _folds(ns, nt, n_folds, what)
    X = stack_rows(X_source, X_target)
    domain = np.repeat([0, 1], [ns, nt])
    base = (
        default_domain_classifier(sp.issparse(X), random_state)
        if classifier is None
        else classifier
    )
    return (
        X,
        domain,
        base,
        StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=random_state),
    )


def domain_scores(
    X_source: Any,
    X_target: Any,
    classifier: Any = None,
    n_folds: int = 5,
    random_state: int | None = None,
) -> DomainScores:
    """Out-of-fold scores of a classifier trained to tell target rows from source rows.

    The rows of both domains are split into ``n_folds`` folds stratified by domain; each fold is
    scored by a clone of ``classifier`` fitted on the other folds.

    Parameters
    ----------
    X_source, X_target : array or sparse matrix (n, d)
    classifier : sklearn classifier or None, default None
        None: :func:`default_domain_classifier`.
    n_folds : int, default 5
        At least 2; lowered to the smaller domain's size when that is smaller.
    random_state : int or None, default None
        Seed of the fold split and of the default sparse classifier.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> result = domain_scores(rng.normal(size=(50, 2)), rng.normal(size=(40, 2)), random_state=0)
    >>> result.scores.shape, result.n_folds
    ((90,), 5)
    """
    X, domain, base, splits = _cross_fitting(
        X_source, X_target, classifier, n_folds, random_state, "domain_scores"
    )
    scores = np.empty(len(domain))
    fold = np.empty(len(domain), dtype=int)
    threshold = 0.0
    for index, (train, test) in enumerate(splits.split(np.zeros(len(domain)), domain)):
        model = clone(base).fit(X[train], domain[train])
        if hasattr(model, "decision_function"):
            scores[test] = np.asarray(model.decision_function(X[test]), dtype=float)
        else:
            column = list(model.classes_).index(1)
            scores[test] = np.asarray(model.predict_proba(X[test]), dtype=float)[:, column]
            threshold = 0.5
        fold[test] = index
    return DomainScores(scores, domain, fold, splits.get_n_splits(), threshold)


def proxy_a_distance_from_error(error: float) -> float:
    """``2 (1 - 2 err)`` for a domain classifier's (balanced) error ``err``, clipped to [0, 2].

    An error above 1/2 is no better than chance, so it gives 0 like an error of exactly 1/2.

    Examples
    --------
    >>> proxy_a_distance_from_error(0.1), proxy_a_distance_from_error(0.7)
    (1.6, 0.0)
    """
    return float(np.clip(2.0 * (1.0 - 2.0 * float(error)), 0.0, 2.0))


def proxy_a_distance(
    X_source: Any,
    X_target: Any,
    classifier: Any = None,
    *,
    n_folds: int = 5,
    random_state: int | None = None,
) -> float:
    """The proxy A-distance between two samples: 0 (indistinguishable) to 2 (separable).

    Ben-David, Blitzer, Crammer & Pereira (2007), §4: ``PAD = 2 (1 - 2 err)`` with ``err`` the
    error of a classifier trained to separate the domains; here the balanced error of the
    out-of-fold decisions of :func:`domain_scores` (so unequal domain sizes do not bias it),
    clipped to [0, 2]. For a PAD from an error you already have, use
    :func:`proxy_a_distance_from_error`.

    Parameters
    ----------
    X_source, X_target : array or sparse matrix (n, d)
    classifier : sklearn classifier or None, default None (:func:`default_domain_classifier`)
    n_folds : int, default 5 (keyword only)
    random_state : int or None, default None (keyword only: the diagnosis's former
        ``proxy_a_distance(X_source, X_target, classifier, random_state)`` took it fourth, so a
        positional fourth argument now fails loudly instead of being read as ``n_folds``)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> proxy_a_distance(rng.normal(size=(200, 2)), rng.normal(4, size=(200, 2))) > 1.5
    True
    """
    scores = domain_scores(X_source, X_target, classifier, n_folds, random_state)
    return proxy_a_distance_from_error(scores.balanced_error)


def density_ratio(
    X_source: Any,
    X_target: Any,
    classifier: Any = None,
    n_folds: int = 5,
    max_weight: float | None = 20.0,
    random_state: int | None = None,
) -> np.ndarray:
    """Importance weights ``p_t(x) / p_s(x)`` of the source rows from a domain classifier.

    Bickel, Brückner & Scheffer (2007), "Discriminative learning for differing training and test
    distributions", ICML, eq. 3: ``p_t(x) / p_s(x) ∝ P(target | x) / P(source | x)``. Each source
    row's probability comes from a classifier that did not see it (the folds of
    :func:`domain_scores`), clipped to [1e-6, 1 - 1e-6]. The weights are scaled to mean 1 (the
    constant ``n_s / n_t`` and the effect of class weighting cancel) and, with ``max_weight``,
    capped at it and rescaled so that the capped weights still average 1.

    Parameters
    ----------
    X_source, X_target : array or sparse matrix (n, d)
    classifier : sklearn classifier with ``predict_proba``, or None (default)
        None: :func:`default_domain_classifier`.
    n_folds : int, default 5
    max_weight : float or None, default 20.0
        Cap on a weight relative to the mean weight (at least 1); None: no cap.
    random_state : int or None, default None

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> Xs, Xt = rng.normal(size=(300, 1)), rng.normal(1.0, size=(300, 1))
    >>> w = density_ratio(Xs, Xt, random_state=0)
    >>> bool(w[Xs[:, 0] > 1].mean() > 2 * w[Xs[:, 0] < -1].mean())
    True
    """
    if max_weight is not None and not (np.isfinite(max_weight) and max_weight >= 1):
        raise InvalidParameterError(
            f"density_ratio: max_weight={max_weight} must be at least 1 (weights average 1), or "
            "None for no cap."
        )
    if classifier is not None and not hasattr(classifier, "predict_proba"):
        raise InvalidParameterError(
            f"density_ratio: {type(classifier).__name__} has no predict_proba; use a probabilistic "
            "classifier (e.g. LogisticRegression)."
        )
    X, domain, base, splits = _cross_fitting(
        X_source, X_target, classifier, n_folds, random_state, "density_ratio"
    )
    ns = int((domain == 0).sum())
    p_target = np.empty(ns)
    for train, test in splits.split(np.zeros(len(domain)), domain):
        held_out_source = test[test < ns]
        if len(held_out_source) == 0:
            continue
        model = clone(base).fit(X[train], domain[train])
        column = list(model.classes_).index(1)
        p_target[held_out_source] = model.predict_proba(X[held_out_source])[:, column]
    p_target = np.clip(p_target, 1e-6, 1 - 1e-6)
    weights = p_target / (1 - p_target)
    weights = weights / weights.mean()
    if max_weight is not None and weights.max() > max_weight:
        # the scale c with mean(min(c w, cap)) = 1: capped weights that still average one
        low, high = 1.0, max_weight / max(float(weights[weights > 0].min()), 1e-300)
        for _ in range(200):
            middle = (low + high) / 2
            if np.minimum(middle * weights, max_weight).mean() < 1:
                low = middle
            else:
                high = middle
        weights = np.minimum(high * weights, max_weight)
    return weights
