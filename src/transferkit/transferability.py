"""Which pre-trained model to transfer from: transferability scores, computed without fine-tuning.

Each score reads what a pre-trained model gives on the *labelled target* data — its features, or
its softmax over its own source classes — and says how well a head trained on it should do:

* :func:`logme_score` — LogME (You et al. 2021): the log marginal evidence of a Bayesian linear
  model from the features to each one-hot class, per sample, averaged over classes;
* :func:`h_score` — H-score (Bao et al. 2019): ``tr(cov(f)^-1 cov(E[f|y]))``, with a Ledoit–Wolf
  shrinkage covariance so that wide features stay well conditioned;
* :func:`leep_score` — LEEP (Nguyen et al. 2020): the log expected empirical prediction of the
  source model's softmax outputs through the empirical ``P(y | z)``;
* :func:`nce_score` — NCE (Tran et al. 2019): the negative conditional entropy ``-H(Y | Z)`` of
  the target labels given the source model's predicted labels.

Higher is better for all four. :func:`rank_models` scores a set of candidates (backbones × layers,
from :func:`backbone_candidates`) and checks every score against the accuracy of actually training
a head on each candidate (:func:`head_accuracy`) with Kendall's τ.

Examples
--------
>>> import numpy as np
>>> from transferkit.transferability import logme_score
>>> rng = np.random.default_rng(0)
>>> y = np.repeat([0, 1, 2], 40)
>>> informative = np.eye(3)[y] + 0.3 * rng.normal(size=(120, 3))
>>> noise = rng.normal(size=(120, 3))
>>> bool(logme_score(informative, y) > logme_score(noise, y))
True
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from transferkit.checks import check_count, check_positive_int
from transferkit.exceptions import (
    InvalidParameterError,
    InvalidProblemError,
    NonFiniteDataError,
    SingleClassError,
    missing_dependency,
)

__all__ = [
    "SCORES",
    "TransferabilityRanking",
    "backbone_candidates",
    "h_score",
    "head_accuracy",
    "leep_score",
    "logme_score",
    "nce_score",
    "rank_models",
]

#: Scores computed from features (one value per backbone × layer) and from a source model's
#: probabilities over its own classes (one value per backbone: its ImageNet softmax).
FEATURE_SCORES = ("logme", "hscore")
PROBABILITY_SCORES = ("leep", "nce")
SCORES = FEATURE_SCORES + PROBABILITY_SCORES


# ----------------------------------------------------------------------------- input checks


def _check_labels(y: ArrayLike, n: int | None, score: str) -> tuple[np.ndarray, np.ndarray]:
    """Target labels as class indices 0..C-1 and the classes; at least two classes."""
    labels = np.asarray(y)
    if labels.ndim != 1:
        raise InvalidProblemError(
            f"{score}: target labels must be one label per sample (a 1-D array); got shape "
            f"{labels.shape}."
        )
    if n is not None and labels.shape[0] != n:
        raise InvalidProblemError(
            f"{score}: {labels.shape[0]} target labels for {n} samples; give one label per row "
            "of the features / probabilities, in the same order."
        )
    if labels.dtype.kind == "f" and not np.all(np.isfinite(labels)):
        raise NonFiniteDataError(
            f"{score}: the target labels hold NaN or infinite values; drop the unlabelled rows."
        )
    classes, codes = np.unique(labels, return_inverse=True)
    if classes.size < 2:
        raise SingleClassError(
            f"{score}: the target labels hold a single class ({classes[0]!r} if any); a "
            "transferability score compares classes, so give samples of at least two classes."
            if classes.size
            else f"{score}: no target labels were given; give at least two classes."
        )
    return codes, classes


def _check_features(features: ArrayLike, score: str) -> np.ndarray:
    X = np.asarray(features, dtype=float)
    if X.ndim != 2:
        raise InvalidProblemError(
            f"{score}: features must be a 2-D array (samples × features); got shape {X.shape}. "
            "Pool convolutional maps first (e.g. extract_features(..., layer='penultimate'))."
        )
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise InvalidProblemError(f"{score}: the features are empty (shape {X.shape}).")
    if not np.all(np.isfinite(X)):
        bad = int(np.count_nonzero(~np.isfinite(X).all(axis=1)))
        raise NonFiniteDataError(
            f"{score}: the features hold NaN or infinite values in {bad} of {X.shape[0]} rows; "
            "drop or impute those rows."
        )
    return X


def _check_probabilities(probabilities: ArrayLike, score: str) -> np.ndarray:
    P = _check_features(probabilities, score)
    if np.any(P < 0) or np.any(P > 1):
        raise InvalidProblemError(
            f"{score}: source-model probabilities must lie in [0, 1]; got values in "
            f"[{P.min():.3g}, {P.max():.3g}]. Pass softmax(logits), not the logits."
        )
    sums = P.sum(axis=1)
    worst = int(np.argmax(np.abs(sums - 1.0)))
    if abs(sums[worst] - 1.0) > 1e-3:
        raise InvalidProblemError(
            f"{score}: each row of source-model probabilities must sum to 1 (a softmax over the "
            f"source classes); row {worst} sums to {sums[worst]:.4g}. Pass softmax(logits)."
        )
    return P


# ----------------------------------------------------------------------------- the scores


def _logme_fixed_point(
    singular_values: np.ndarray,
    projections: np.ndarray,
    target_norms: np.ndarray,
    n: int,
    max_iter: int,
    tol: float,
) -> np.ndarray:
    """Evidence per target column at LogME's fixed point of ``alpha, beta`` (You et al. 2021,
    Algorithm 1), with every column iterated at once.

    ``projections`` are ``U^T y`` per column (shape (C, k)); in the basis of the singular vectors
    ``A = alpha I + beta F^T F`` is diagonal, so every quantity is a sum over the ``k`` singular
    values.
    """
    sigma = singular_values**2  # eigenvalues of F^T F (and of F F^T)
    k = sigma.size
    residual_outside = np.maximum(target_norms - (projections**2).sum(axis=1), 0.0)
    tiny = np.finfo(float).tiny
    alpha = np.ones(projections.shape[0])
    beta = np.ones(projections.shape[0])

    def evidence(alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
        # log N(y; 0, F F^T / alpha + I / beta) in the basis of U: the paper's evidence
        # rearranged so that no two large terms cancel when the fit is near-exact (beta large)
        variance = sigma[None, :] / alpha[:, None] + 1 / beta[:, None]
        return -0.5 * (
            n * np.log(2 * np.pi)
            + np.log(variance).sum(axis=1)
            - (n - k) * np.log(beta)
            + (projections**2 / variance).sum(axis=1)
            + beta * residual_outside
        )

    for _ in range(max_iter):
        denominator = alpha[:, None] + beta[:, None] * sigma[None, :]
        gamma = (beta[:, None] * sigma[None, :] / denominator).sum(axis=1)
        # n - gamma summed directly: as a difference it loses every digit when gamma is near n
        rest = (n - k) + (alpha[:, None] / denominator).sum(axis=1)
        # the posterior mean m = beta A^-1 F^T y has coordinates beta s z / (alpha + beta s^2);
        # F m - y has coordinates -alpha z / (alpha + beta s^2) inside the span of F
        mean_norm = ((beta[:, None] * singular_values * projections / denominator) ** 2).sum(1)
        residual = ((alpha[:, None] * projections / denominator) ** 2).sum(1) + residual_outside
        new_alpha = gamma / np.maximum(mean_norm, tiny)
        new_beta = np.maximum(rest, tiny) / np.maximum(residual, tiny)
        change = max(
            np.max(np.abs(new_alpha - alpha) / alpha), np.max(np.abs(new_beta - beta) / beta)
        )
        alpha, beta = new_alpha, new_beta
        if change < tol:
            break
    return evidence(alpha, beta)


def logme_score(
    features: ArrayLike, y: ArrayLike, *, max_iter: int = 100, tol: float = 1e-4
) -> float:
    """LogME: log marginal evidence per sample of a Bayesian linear model on the features.

    You et al. (2021), "LogME: Practical Assessment of Pre-trained Models for Transfer Learning",
    ICML (the evidence and Algorithm 1's fixed point). For each class ``c`` the one-vs-rest target
    ``y_c ∈ {0, 1}^n`` is modelled as ``y_c = F w + ε`` with prior ``w ~ N(0, I / alpha)`` and
    noise ``ε ~ N(0, I / beta)``; ``alpha`` and ``beta`` are set by the paper's fixed-point
    iteration to maximise the evidence ``log p(y_c | F, alpha, beta)``, and the score is that
    evidence divided by ``n``, averaged over the classes.

    Parameters
    ----------
    features : array-like of shape (n_samples, n_features)
        The pre-trained model's features of the labelled target samples, used as given.
    y : array-like of shape (n_samples,)
        Target labels (any type), at least two classes.
    max_iter : int, default 100
        Most fixed-point iterations (the paper's converge in about ten).
    tol : float, default 1e-4
        Stop when ``alpha`` and ``beta`` change by less than this, relatively.

    Returns
    -------
    float
        Higher means the features should transfer better.

    Notes
    -----
    One SVD ``F = U S V^T`` makes every iteration cost ``O(C k)`` for ``C`` classes and
    ``k = min(n, d)`` singular values: in the basis of ``V`` the posterior precision
    ``A = alpha I + beta F^T F`` is diagonal, so ``gamma``, ``m^T m``, ``||F m - y||^2`` and
    ``log |A|`` are sums over the singular values. The evidence is the Gaussian marginal
    likelihood ``log N(y_c; 0, F F^T / alpha + I / beta)``, which the tests check directly.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 50)
    >>> good = y[:, None] + 0.2 * rng.normal(size=(100, 4))
    >>> bad = rng.normal(size=(100, 4))
    >>> bool(logme_score(good, y) > logme_score(bad, y))
    True
    """
    X = _check_features(features, "logme_score")
    codes, classes = _check_labels(y, X.shape[0], "logme_score")
    check_positive_int(max_iter, "max_iter", "logme_score")
    n = X.shape[0]
    targets = np.eye(classes.size)[codes]  # (n, C) one-hot
    U, singular_values, _ = np.linalg.svd(X, full_matrices=False)
    projections = (U.T @ targets).T  # (C, k)
    evidence = _logme_fixed_point(
        singular_values, projections, (targets**2).sum(axis=0), n, max_iter, tol
    )
    return float(np.mean(evidence) / n)


def h_score(features: ArrayLike, y: ArrayLike, *, shrinkage: bool = True) -> float:
    """H-score: how much of the features' variance the class means explain.

    Bao et al. (2019), "An Information-Theoretic Approach to Transferability in Task Transfer
    Learning", ICIP: ``H(f) = tr(cov(f)^-1 cov(E[f | y]))``. ``cov(f)`` is the
    Ledoit–Wolf shrinkage estimate (Ibrahim et al. 2022, "Newer is not always better", showed the
    plain estimate makes the score unstable when features are wide and samples few).

    Parameters
    ----------
    features : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Target labels, at least two classes.
    shrinkage : bool, default True
        Ledoit–Wolf covariance; False uses the sample covariance (pseudo-inverse), as the paper.

    Returns
    -------
    float
        Higher means the features should transfer better (at most ``n_classes - 1`` with
        ``shrinkage=False``; shrinkage can exceed it slightly).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 50)
    >>> good = y[:, None] + 0.2 * rng.normal(size=(100, 4))
    >>> bad = rng.normal(size=(100, 4))
    >>> bool(h_score(good, y) > h_score(bad, y))
    True
    """
    X = _check_features(features, "h_score")
    codes, classes = _check_labels(y, X.shape[0], "h_score")
    centred = X - X.mean(axis=0)
    if shrinkage:
        from sklearn.covariance import ledoit_wolf

        covariance = ledoit_wolf(centred, assume_centered=True)[0]
    else:
        covariance = centred.T @ centred / X.shape[0]
    counts = np.bincount(codes, minlength=classes.size)
    class_means = np.zeros((classes.size, X.shape[1]))
    np.add.at(class_means, codes, centred)
    class_means /= counts[:, None]
    # tr(cov^-1 sum_c p_c g_c g_c^T) = sum_c p_c g_c^T cov^-1 g_c
    if shrinkage:
        solved = np.linalg.solve(covariance, class_means.T)
    else:
        solved = np.linalg.pinv(covariance, hermitian=True) @ class_means.T
    weights = counts / X.shape[0]
    return float(np.sum(weights * np.einsum("cd,dc->c", class_means, solved)))


def _source_joint(
    codes: np.ndarray, n_classes: int, source_probabilities: np.ndarray
) -> np.ndarray:
    """The empirical joint ``P(y, z)`` of target labels and source classes, shape (C, Z)."""
    joint = np.zeros((n_classes, source_probabilities.shape[1]))
    np.add.at(joint, codes, source_probabilities)
    return joint / codes.size


def leep_score(source_probabilities: ArrayLike, y: ArrayLike) -> float:
    """LEEP: log expected empirical prediction of a source classifier on the target labels.

    Nguyen et al. (2020), "LEEP: A New Measure to Evaluate Transferability of Learned
    Representations", ICML: with ``θ(x)`` the source model's softmax over its
    ``Z`` source classes, ``P(y, z) = 1/n Σ_{i: y_i = y} θ(x_i)_z``, ``P(y | z) = P(y, z) / P(z)``
    and ``LEEP = 1/n Σ_i log Σ_z P(y_i | z) θ(x_i)_z``.

    Parameters
    ----------
    source_probabilities : array-like of shape (n_samples, n_source_classes)
        Rows sum to 1 (a softmax; e.g. the ImageNet-1k outputs of a pre-trained CNN).
    y : array-like of shape (n_samples,)
        Target labels, at least two classes.

    Returns
    -------
    float
        A log-likelihood per sample, at most 0; higher means better transfer.

    Examples
    --------
    >>> import numpy as np
    >>> bool(np.isclose(leep_score([[0.5, 0.5], [1.0, 0.0]], [0, 1]), np.log(2 / 3)))
    True
    """
    P = _check_probabilities(source_probabilities, "leep_score")
    codes, classes = _check_labels(y, P.shape[0], "leep_score")
    joint = _source_joint(codes, classes.size, P)
    marginal = joint.sum(axis=0)
    conditional = np.divide(joint, marginal, out=np.zeros_like(joint), where=marginal > 0)
    expected = np.einsum("nz,nz->n", P, conditional[codes])
    return float(np.mean(np.log(np.maximum(expected, np.finfo(float).tiny))))


def nce_score(source_labels: ArrayLike, y: ArrayLike) -> float:
    """NCE: negative conditional entropy ``-H(Y | Z)`` of target labels given source labels.

    Tran et al. (2019), "Transferability and Hardness of Supervised Classification Tasks", ICCV.
    ``Z`` is the label the source model predicts for each target sample (the argmax of its
    softmax), and ``-H(Y | Z) = Σ_{y, z} P(y, z) log P(y | z)`` from the empirical joint.

    Parameters
    ----------
    source_labels : array-like of shape (n_samples,)
        The source model's predicted (source-class) label of each target sample.
    y : array-like of shape (n_samples,)
        Target labels, at least two classes.

    Returns
    -------
    float
        At most 0 (0 when the source label determines the target label).

    Examples
    --------
    >>> import numpy as np
    >>> float(np.round(nce_score([0, 0, 1, 0], [0, 0, 1, 1]), 6))  # ½ log ⅔ + ¼ log ⅓
    -0.477386
    """
    z = np.asarray(source_labels)
    if z.ndim != 1:
        raise InvalidProblemError(
            f"nce_score: source_labels must be one predicted label per sample (1-D); got shape "
            f"{z.shape}. For probabilities pass their argmax, or use leep_score."
        )
    codes, classes = _check_labels(y, z.shape[0], "nce_score")
    if z.dtype.kind == "f" and not np.all(np.isfinite(z)):
        raise NonFiniteDataError("nce_score: the source labels hold NaN or infinite values.")
    _, source_codes = np.unique(z, return_inverse=True)
    joint = np.zeros((classes.size, source_codes.max() + 1))
    np.add.at(joint, (codes, source_codes), 1.0)
    joint /= codes.size
    marginal = joint.sum(axis=0)
    nonzero = joint > 0
    conditional = joint[nonzero] / np.broadcast_to(marginal, joint.shape)[nonzero]
    return float(np.sum(joint[nonzero] * np.log(conditional)))


# ----------------------------------------------------------------------------- the check


def head_accuracy(
    features: ArrayLike,
    y: ArrayLike,
    *,
    classifier: Any = "logreg",
    n_folds: int = 5,
    random_state: int | None = 0,
) -> tuple[float, float]:
    """Accuracy of actually training a head on the features: stratified k-fold cross-validation.

    The ground truth the scores are checked against: features standardised (fitted on each
    training fold), then ``classifier`` (default the project's logistic regression, C = 1).

    Parameters
    ----------
    features : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    classifier : str, dict or estimator, default "logreg"
        Anything :func:`transferkit.registry.make_classifier` accepts.
    n_folds : int, default 5
        Folds of ``StratifiedKFold(shuffle=True)``; every class needs at least this many samples.
    random_state : int or None, default 0
        Seeds the fold split.

    Returns
    -------
    (mean, std) : tuple of float
        Accuracy over the folds, in [0, 1].
    """
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from transferkit.registry import make_classifier

    X = _check_features(features, "head_accuracy")
    codes, classes = _check_labels(y, X.shape[0], "head_accuracy")
    n_folds = check_count(n_folds, "n_folds", minimum=2)
    counts = np.bincount(codes)
    if counts.min() < n_folds:
        rare = classes[int(np.argmin(counts))]
        raise InvalidProblemError(
            f"head_accuracy: class {rare!r} has {counts.min()} samples, fewer than n_folds="
            f"{n_folds}; lower n_folds or give more labelled samples of that class."
        )
    model = make_pipeline(StandardScaler(), clone(make_classifier(classifier, random_state)))
    folds = StratifiedKFold(n_folds, shuffle=True, random_state=random_state)
    scores = cross_val_score(model, X, codes, cv=folds)
    return float(scores.mean()), float(scores.std())


def _number(value: float) -> float | None:
    """A float for JSON, None for NaN (a score that does not apply, a τ of tied values)."""
    return None if np.isnan(value) else float(value)


@dataclass
class TransferabilityRanking:
    """Scores and trained-head accuracy of each candidate, and how well each score ranks them.

    Attributes
    ----------
    candidates : list of str
        Candidate names (``"backbone/layer"`` for :func:`backbone_candidates`).
    scores : dict of str to ndarray
        Score name → one value per candidate (NaN where a score does not apply).
    accuracy, accuracy_std : ndarray or None
        Cross-validated accuracy of a trained head per candidate (None when not computed).
    kendall : dict of str to (tau, p-value)
        Kendall's τ-b between each score and ``accuracy`` over the candidates it applies to.
    protocol : dict
        How the accuracy was measured (classifier, folds, seed) and the sample count.
    """

    candidates: list[str]
    scores: dict[str, np.ndarray]
    accuracy: np.ndarray | None = None
    accuracy_std: np.ndarray | None = None
    kendall: dict[str, tuple[float, float]] = field(default_factory=dict)
    protocol: dict[str, Any] = field(default_factory=dict)

    def ranked(self, score: str) -> list[str]:
        """Candidates from the best to the worst by ``score`` (those it does not apply to last)."""
        if score not in self.scores:
            raise InvalidParameterError(
                f"No score {score!r} in this ranking; it holds {', '.join(self.scores)}."
            )
        values = np.where(np.isnan(self.scores[score]), -np.inf, self.scores[score])
        return [self.candidates[i] for i in np.argsort(-values, kind="stable")]

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and numbers, ready for ``json.dump`` (NaN becomes None)."""

        def plain(values: np.ndarray | None) -> list[float | None] | None:
            return None if values is None else [_number(v) for v in values]

        return {
            "candidates": list(self.candidates),
            "scores": {name: plain(values) for name, values in self.scores.items()},
            "accuracy": plain(self.accuracy),
            "accuracy_std": plain(self.accuracy_std),
            "kendall_tau": {
                name: {"tau": _number(tau), "p_value": _number(p)}
                for name, (tau, p) in self.kendall.items()
            },
            "protocol": dict(self.protocol),
        }


def rank_models(
    features: Mapping[str, ArrayLike],
    y: ArrayLike,
    *,
    source_probabilities: Mapping[str, ArrayLike] | None = None,
    scores: Sequence[str] = SCORES,
    check_accuracy: bool = True,
    classifier: Any = "logreg",
    n_folds: int = 5,
    random_state: int | None = 0,
    progress: Callable[[int, int], None] | None = None,
) -> TransferabilityRanking:
    """Score every candidate representation of the labelled target data, and check the scores.

    Feature scores (``"logme"``, ``"hscore"``) read each candidate's features; probability scores
    (``"leep"``, ``"nce"``) read the source model's softmax of the candidates given in
    ``source_probabilities`` (NaN for the others). With ``check_accuracy``, a head is trained on
    each candidate (:func:`head_accuracy`) and Kendall's τ-b (``scipy.stats.kendalltau``)
    measures how well each score orders the candidates as that accuracy does.

    Parameters
    ----------
    features : mapping of str to array-like (n_samples, d)
        Candidate name → features of the same target samples, in the same order.
    y : array-like of shape (n_samples,)
        Target labels.
    source_probabilities : mapping of str to array-like (n_samples, n_source_classes), optional
        Candidate name → its source model's softmax outputs (for LEEP and NCE). Layers of one
        backbone share its classifier, so they share these scores.
    scores : sequence of str, default all of :data:`SCORES`
    check_accuracy : bool, default True
        Train a head on each candidate and compute Kendall's τ of each score against it.
    classifier, n_folds, random_state
        The head protocol (see :func:`head_accuracy`).
    progress : callable or None
        ``progress(done, total)`` after each candidate (the CLI shows a bar).

    Returns
    -------
    TransferabilityRanking

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1, 2], 30)
    >>> candidates = {
    ...     f"noise {level}": np.eye(3)[y] + level * rng.normal(size=(90, 3))
    ...     for level in (0.5, 1.5, 4.0)
    ... }
    >>> ranking = rank_models(candidates, y, scores=("logme", "hscore"))
    >>> ranking.ranked("logme")
    ['noise 0.5', 'noise 1.5', 'noise 4.0']
    >>> ranking.kendall["logme"][0]
    1.0
    """
    from scipy.stats import kendalltau

    unknown = [name for name in scores if name not in SCORES]
    if unknown or not scores:
        raise InvalidParameterError(
            f"rank_models: unknown score(s) {unknown or list(scores)}; use some of "
            f"{', '.join(SCORES)}."
        )
    if not features:
        raise InvalidParameterError("rank_models: no candidate features were given.")
    probabilities = dict(source_probabilities or {})
    stray = sorted(set(probabilities) - set(features))
    if stray:
        raise InvalidParameterError(
            f"rank_models: source_probabilities names {stray}, which are not candidates "
            f"({', '.join(features)}); key them by the candidate names of features."
        )
    if any(name in PROBABILITY_SCORES for name in scores) and not probabilities:
        raise InvalidParameterError(
            "rank_models: LEEP and NCE need the source model's probabilities; pass "
            "source_probabilities={candidate: softmax outputs} or scores=('logme', 'hscore')."
        )
    names = list(features)
    n_samples = len(y) if hasattr(y, "__len__") else np.asarray(y).shape[0]
    values = {name: np.full(len(names), np.nan) for name in scores}
    accuracy = np.full(len(names), np.nan) if check_accuracy else None
    accuracy_std = np.full(len(names), np.nan) if check_accuracy else None
    probability_cache: dict[int, dict[str, float]] = {}
    for index, name in enumerate(names):
        X = _check_features(features[name], f"rank_models (candidate {name!r})")
        if X.shape[0] != n_samples:
            raise InvalidProblemError(
                f"rank_models: candidate {name!r} has {X.shape[0]} rows for {n_samples} labels; "
                "every candidate must describe the same target samples, in the same order."
            )
        if "logme" in values:
            values["logme"][index] = logme_score(X, y)
        if "hscore" in values:
            values["hscore"][index] = h_score(X, y)
        if name in probabilities:
            # layers of one backbone pass the same array: score it once
            key = id(probabilities[name])
            if key not in probability_cache:
                P = np.asarray(probabilities[name], dtype=float)
                probability_cache[key] = {
                    "leep": leep_score(P, y) if "leep" in values else np.nan,
                    "nce": nce_score(np.argmax(P, axis=1), y) if "nce" in values else np.nan,
                }
            for score in PROBABILITY_SCORES:
                if score in values:
                    values[score][index] = probability_cache[key][score]
        if accuracy is not None and accuracy_std is not None:
            accuracy[index], accuracy_std[index] = head_accuracy(
                X, y, classifier=classifier, n_folds=n_folds, random_state=random_state
            )
        if progress is not None:
            progress(index + 1, len(names))
    kendall: dict[str, tuple[float, float]] = {}
    if accuracy is not None:
        for score, column in values.items():
            known = ~np.isnan(column)
            if known.sum() >= 2:
                result = kendalltau(column[known], accuracy[known])
                kendall[score] = (float(result.statistic), float(result.pvalue))
    protocol = {
        "n_samples": int(n_samples),
        "n_classes": int(np.unique(np.asarray(y)).size),
        "head": str(classifier) if isinstance(classifier, str | dict) else repr(classifier),
        "n_folds": n_folds,
        "random_state": random_state,
    }
    return TransferabilityRanking(names, values, accuracy, accuracy_std, kendall, protocol)


# ----------------------------------------------------------------------------- the candidates

_STAGE = re.compile(r"stage(\d+)$")


def backbone_candidates(
    images: Any,
    backbones: Sequence[str] = ("mobilenet_v2", "efficientnet_lite0"),
    layers: Sequence[str] = ("penultimate", "last_block", "logits"),
    *,
    cache_dir: Any = None,
    device: str = "auto",
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Features of the images from every backbone × layer, and each backbone's ImageNet softmax.

    Needs PyTorch (the deep extra). Features come from
    :func:`transferkit.deep.backbones.extract_features` and its on-disk cache.

    Parameters
    ----------
    images : ImageCollection or sequence of (H, W, 3) uint8 arrays
    backbones : sequence of str, default ("mobilenet_v2", "efficientnet_lite0")
        Names :func:`transferkit.deep.backbones.load_backbone` knows.
    layers : sequence of str, default ("penultimate", "last_block", "logits")
        Layers of :data:`transferkit.deep.backbones.LAYERS`, or ``"stage<k>"``: the output of the
        backbone's first ``k`` stages (stem and blocks), average-pooled.
    cache_dir : str or Path or None
        The feature cache (default that of ``extract_features``).
    device : str, default "auto"
        Where the backbones run (``"auto"``: CUDA when present, else the CPU).
    progress : callable or None
        ``progress(done, total)`` after each backbone × layer extraction.

    Returns
    -------
    features : dict
        ``"backbone/layer"`` → (n, d) float32 features.
    source_probabilities : dict
        ``"backbone/layer"`` → the backbone's (n, 1000) ImageNet softmax (one array per backbone,
        shared by its layers), for :func:`rank_models`'s LEEP and NCE.
    """
    try:
        import torch

        from transferkit.deep.backbones import LAYERS, extract_features, load_backbone, pool
    except ModuleNotFoundError as error:
        if error.name != "torch":
            raise
        raise missing_dependency(
            "torch", "deep", "backbone_candidates (pre-trained CNN features)"
        ) from error

    if not backbones or not layers:
        raise InvalidParameterError("backbone_candidates: give at least one backbone and layer.")
    for layer in layers:
        if layer not in LAYERS and not _STAGE.match(layer):
            raise InvalidParameterError(
                f"backbone_candidates: unknown layer {layer!r}; use {', '.join(LAYERS)} or "
                "'stage<k>' (the pooled output of the first k stages, e.g. 'stage11')."
            )
    features: dict[str, np.ndarray] = {}
    probabilities: dict[str, np.ndarray] = {}
    total = len(backbones) * (len(layers) + ("logits" not in layers))
    done = 0
    for name in backbones:
        model = load_backbone(name)
        wanted = list(layers) + ([] if "logits" in layers else ["logits"])
        logits = np.zeros((0, 0))
        for layer in wanted:
            match = _STAGE.match(layer)
            if match:
                stop = int(match.group(1))
                if not 1 <= stop < model.n_stages:
                    raise InvalidParameterError(
                        f"backbone_candidates: {name} has {model.n_stages} stages, so "
                        f"{layer!r} must be stage1 … stage{model.n_stages - 1}."
                    )
                maps = extract_features(
                    images, model, stop_stage=stop, cache_dir=cache_dir, device=device
                )
                array = pool(torch.from_numpy(maps)).numpy()
            else:
                array = extract_features(images, model, layer, cache_dir=cache_dir, device=device)
            if layer == "logits":
                logits = array.astype(float)
            if layer in layers:
                features[f"{name}/{layer}"] = array
            done += 1
            if progress is not None:
                progress(done, total)
        shifted = logits - logits.max(axis=1, keepdims=True)
        softmax = np.exp(shifted)
        softmax /= softmax.sum(axis=1, keepdims=True)
        for layer in layers:
            probabilities[f"{name}/{layer}"] = softmax
    return features, probabilities
