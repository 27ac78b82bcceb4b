"""Remedies for scenario 4 (class imbalance and label shift): estimate target priors, correct
a classifier's probabilities, and resample the source with imbalanced-learn.

*Label shift* (prior shift): P(y) changes between domains while P(x | y) stays the same. Then the
target posterior is the source posterior re-weighted by ``w(y) = π_t(y) / π_s(y)`` and
renormalised (Saerens, Latinne & Decaestecker, 2002, eq. 2.4), so a classifier trained on the source
can be corrected once the target priors ``π_t`` are known. They are estimated from unlabelled target
data in two ways:

* **BBSE**, black-box shift estimation (Lipton, Wang & Smola, 2018, eq. 3): with the joint confusion
  matrix ``C[i, j] = P_s(ŷ = i, y = j)`` measured on held-out source data and the distribution of
  predictions on the target ``q[i] = P_t(ŷ = i)``, solve ``C w = q``. Consistent for any fixed
  classifier whose confusion matrix is invertible; needs no calibration.
* **EM** (Saerens et al., 2002, §2.3): alternate re-weighting the posteriors and re-estimating the
  priors as their mean; maximum likelihood, best with calibrated probabilities, which the
  bias-corrected temperature scaling of Alexandari, Kundaje & Shrikumar (2020) provides.

:class:`LabelShiftCorrector` wraps any scikit-learn classifier as a meta-estimator that does all of
it. Resampling (random over/under-sampling, SMOTE, ADASYN, ...) comes from imbalanced-learn, not
re-implemented: :func:`make_sampler` names its samplers, :func:`resampling_pipeline` puts one in front
of a scikit-learn classifier, and :class:`ResampledMethod` in front of any transferkit method, either
balancing the source classes or matching the estimated target priors.

Examples
--------
>>> from sklearn.linear_model import LogisticRegression
>>> from transferkit.diagnose.calibration import make_planted_problem
>>> problem = make_planted_problem("label", random_state=0).problem
>>> model = LabelShiftCorrector(LogisticRegression(), method="em", random_state=0).fit(problem)
>>> model.target_priors_.round(1)  # planted: [0.53, 0.23, 0.23]
array([0.5, 0.2, 0.2])
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy import optimize, special
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import StratifiedKFold

from transferkit.base import check_rows, default_estimator
from transferkit.checks import check_probabilistic
from transferkit.exceptions import InvalidParameterError, NotApplicableError
from transferkit.problem import TransferProblem, as_problem, plain_label
from transferkit.registry import make_classifier, make_method, register_method

logger = logging.getLogger(__name__)

PRIOR_METHODS = ("bbse", "bbse_hard", "em")
CALIBRATIONS = ("none", "ts", "bcts")


# --------------------------------------------------------------------------- plain functions
def class_priors(y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Share of each of ``classes`` in ``y``."""
    y = np.asarray(y)
    return np.array([np.mean(y == c) for c in classes], dtype=float)


def _codes(y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    codes = np.searchsorted(classes, y)
    codes = np.clip(codes, 0, len(classes) - 1)
    if not np.array_equal(classes[codes], y):
        unknown = np.setdiff1d(y, classes)
        raise InvalidParameterError(f"labels {unknown[:5].tolist()} are not among {classes}.")
    return codes


def joint_confusion(y_codes: np.ndarray, proba: np.ndarray, soft: bool = True) -> np.ndarray:
    """``C[i, j] = P(ŷ = i, y = j)`` on labelled data; soft uses probabilities, hard argmax."""
    n, k = proba.shape
    pred = proba if soft else np.eye(k)[np.argmax(proba, axis=1)]
    onehot = np.eye(k)[y_codes]
    return pred.T @ onehot / n


def bbse_weights(
    y_codes: np.ndarray, proba_holdout: np.ndarray, proba_target: np.ndarray, soft: bool = True
) -> np.ndarray:
    """Importance weights ``w = π_t / π_s`` by black-box shift estimation (Lipton et al., 2018).

    Solves ``C w = q`` in the least-squares sense (the system is square; least squares copes with
    an ill-conditioned confusion matrix) and clips negative weights to 0.
    """
    k = proba_holdout.shape[1]
    C = joint_confusion(y_codes, proba_holdout, soft)
    pred_t = proba_target if soft else np.eye(k)[np.argmax(proba_target, axis=1)]
    q = pred_t.mean(axis=0)
    w, *_ = np.linalg.lstsq(C, q, rcond=None)
    return np.clip(w, 0.0, None)


def weights_to_priors(weights: np.ndarray, source_priors: np.ndarray) -> np.ndarray:
    """Target priors ``π_t ∝ w · π_s`` (normalised)."""
    priors = np.clip(weights, 0, None) * source_priors
    total = priors.sum()
    return source_priors.copy() if total <= 0 else priors / total


def em_priors(
    proba_target: np.ndarray,
    source_priors: np.ndarray,
    max_iter: int = 200,
    tol: float = 1e-8,
) -> np.ndarray:
    """Maximum-likelihood target priors by the EM procedure of Saerens et al. (2002, eqs. 2.9–2.10).

    Examples
    --------
    >>> proba = np.array([[0.9, 0.1]] * 6 + [[0.2, 0.8]] * 4)
    >>> em_priors(proba, np.array([0.5, 0.5])).round(2)
    array([0.75, 0.25])
    """
    source_priors = np.asarray(source_priors, dtype=float)
    priors = source_priors.copy()
    for _ in range(max_iter):
        posterior = adjust_proba(proba_target, source_priors, priors)
        new = posterior.mean(axis=0)
        if np.max(np.abs(new - priors)) < tol:
            priors = new
            break
        priors = new
    return priors


def adjust_proba(
    proba: np.ndarray, source_priors: np.ndarray, target_priors: np.ndarray
) -> np.ndarray:
    """Re-weight posteriors by ``π_t / π_s`` and renormalise (Saerens et al., 2002, eq. 2.4)."""
    ratio = np.asarray(target_priors, float) / np.maximum(np.asarray(source_priors, float), 1e-12)
    adjusted = np.asarray(proba, dtype=float) * ratio
    total = adjusted.sum(axis=1, keepdims=True)
    total[total == 0] = 1.0
    return adjusted / total


def fit_temperature(
    log_proba: np.ndarray, y_codes: np.ndarray, bias: bool = True
) -> tuple[float, np.ndarray]:
    """Temperature (and per-class bias) minimising held-out log loss.

    Bias-corrected temperature scaling (``bias=True``) of Alexandari et al. (2020, "Maximum
    likelihood with bias-corrected calibration is hard-to-beat at label shift adaptation", ICML):
    calibrated ``p ∝ exp(log p / T + b)``. Plain temperature scaling (Guo et al., 2017) when
    ``bias=False``.
    """
    k = log_proba.shape[1]
    onehot = np.eye(k)[y_codes]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        inv_t = np.exp(theta[0])
        b = theta[1:] if bias else np.zeros(k)
        logits = log_proba * inv_t + b
        log_p = logits - special.logsumexp(logits, axis=1, keepdims=True)
        p = np.exp(log_p)
        value = -np.mean(np.sum(onehot * log_p, axis=1))
        residual = (p - onehot) / len(y_codes)
        grad_inv_t = np.sum(residual * log_proba)
        grad = [grad_inv_t * inv_t]
        if bias:
            grad.extend(residual.sum(axis=0))
        return float(value), np.asarray(grad)

    theta0 = np.zeros(1 + (k if bias else 0))
    result = optimize.minimize(loss, theta0, jac=True, method="L-BFGS-B")
    theta = result.x
    return float(np.exp(-theta[0])), (theta[1:] if bias else np.zeros(k))


def apply_temperature(log_proba: np.ndarray, temperature: float, bias: np.ndarray) -> np.ndarray:
    """Probabilities ``∝ exp(log p / T + b)``."""
    logits = log_proba / temperature + bias
    return special.softmax(logits, axis=1)


def log_proba(proba: np.ndarray) -> np.ndarray:
    return np.log(np.clip(proba, 1e-12, 1.0))


@dataclass
class PriorEstimate:
    """Estimated target class priors with a bootstrap interval."""

    classes: np.ndarray
    priors: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    source_priors: np.ndarray
    method: str
    n_bootstrap: int

    @property
    def weights(self) -> np.ndarray:
        """``π_t / π_s`` per class."""
        return self.priors / np.maximum(self.source_priors, 1e-12)

    @property
    def total_variation(self) -> float:
        """Total variation distance between the source and the estimated target priors."""
        return float(0.5 * np.abs(self.priors - self.source_priors).sum())

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "classes": [plain_label(c) for c in self.classes],
            "source_priors": self.source_priors.tolist(),
            "target_priors": self.priors.tolist(),
            "ci_low": self.ci_low.tolist(),
            "ci_high": self.ci_high.tolist(),
            "total_variation": self.total_variation,
            "n_bootstrap": self.n_bootstrap,
        }


def estimate_target_priors(
    y_holdout: np.ndarray,
    proba_holdout: np.ndarray,
    proba_target: np.ndarray,
    classes: np.ndarray,
    source_priors: np.ndarray | None = None,
    method: str = "bbse",
    n_bootstrap: int = 200,
    alpha: float = 0.05,
    random_state: int | None = None,
) -> PriorEstimate:
    """Target class priors from a classifier's held-out source and target probabilities.

    Parameters
    ----------
    y_holdout : array (n_h,)
        True labels of held-out source rows (not used to train the classifier).
    proba_holdout, proba_target : arrays (n_h, k), (n_t, k)
        The classifier's probabilities on held-out source rows and on target rows, columns in
        the order of ``classes``.
    classes : array (k,)
    source_priors : array (k,) or None
        Priors of the training source; default the class shares of ``y_holdout``.
    method : {"bbse", "bbse_hard", "em"}, default "bbse"
        BBSE with soft or hard (argmax) confusion matrix (Lipton et al., 2018), or EM (Saerens et
        al., 2002; give calibrated probabilities).
    n_bootstrap : int, default 200
        Bootstrap resamples of held-out and target rows (the classifier is kept fixed) for a
        percentile interval at level ``1 - alpha``; 0 for none.
    random_state : int or None

    Examples
    --------
    >>> y = np.array([0, 0, 1, 1]); P = np.array([[.9, .1], [.8, .2], [.2, .8], [.1, .9]])
    >>> estimate_target_priors(y, P, P[[0, 1, 1, 2]], np.array([0, 1]), n_bootstrap=0).priors
    array([0.75, 0.25])
    """
    if method not in PRIOR_METHODS:
        raise InvalidParameterError(f"method must be one of {PRIOR_METHODS}; got {method!r}.")
    classes = np.asarray(classes)
    y_codes = _codes(np.asarray(y_holdout), classes)
    if source_priors is None:
        source_priors = np.bincount(y_codes, minlength=len(classes)) / len(y_codes)
    source_priors = np.asarray(source_priors, dtype=float)

    def estimate(codes: np.ndarray, ph: np.ndarray, pt: np.ndarray) -> np.ndarray:
        if method == "em":
            return em_priors(pt, source_priors)
        return weights_to_priors(bbse_weights(codes, ph, pt, soft=method == "bbse"), source_priors)

    priors = estimate(y_codes, proba_holdout, proba_target)
    low, high = priors.copy(), priors.copy()
    if n_bootstrap > 0:
        rng = np.random.default_rng(random_state)
        draws = np.empty((n_bootstrap, len(classes)))
        nh, nt = len(y_codes), len(proba_target)
        for b in range(n_bootstrap):
            h = rng.integers(0, nh, nh)
            t = rng.integers(0, nt, nt)
            draws[b] = estimate(y_codes[h], proba_holdout[h], proba_target[t])
        low = np.quantile(draws, alpha / 2, axis=0)
        high = np.quantile(draws, 1 - alpha / 2, axis=0)
    return PriorEstimate(classes, priors, low, high, source_priors, method, int(n_bootstrap))


# --------------------------------------------------------------------------- meta-estimator
def _source_data(X: Any, y: Any, domain: Any) -> tuple[TransferProblem, Any, np.ndarray, Any]:
    problem = as_problem(X, y, domain)
    if problem.is_images:
        raise NotApplicableError(
            "Label-shift correction needs feature matrices; extract features from the images first."
        )
    return problem, problem.X_source, problem.y_source, problem.X_target


class LabelShiftCorrector(ClassifierMixin, BaseEstimator):
    """A classifier whose probabilities are corrected for the target's class priors.

    ``fit`` trains ``estimator`` on the source, calibrates it on out-of-fold source probabilities,
    estimates the target priors from the unlabelled target (BBSE or EM), and ``predict_proba``
    returns the prior-corrected posteriors ``p_t(y|x) ∝ p_s(y|x) π_t(y) / π_s(y)`` (Saerens et al.,
    2002, eq. 2.4; Lipton et al., 2018).

    Parameters
    ----------
    estimator : sklearn classifier with ``predict_proba``, default LogisticRegression
    method : {"em", "bbse", "bbse_hard"}, default "em"
        How the target priors are estimated.
    calibration : {"bcts", "ts", "none"}, default "bcts"
        Calibration of the source probabilities before estimation and correction:
        bias-corrected temperature scaling, temperature scaling, or none.
    n_folds : int, default 5
        Folds of the out-of-fold source probabilities (for the confusion matrix and calibration).
    n_bootstrap : int, default 0
        Bootstrap resamples for an interval on the priors (``prior_estimate_``).
    random_state : int or None

    Attributes
    ----------
    classes_, source_priors_, target_priors_, prior_estimate_, estimator_,
    temperature_, bias_

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from transferkit.diagnose.calibration import make_planted_problem
    >>> problem = make_planted_problem("label", random_state=1).problem
    >>> corrected = LabelShiftCorrector(LogisticRegression(), random_state=0).fit(problem)
    >>> plain = LogisticRegression().fit(problem.X_source, problem.y_source)
    >>> X, y = problem.X_test, problem.y_test
    >>> bool(corrected.score(X, y) > plain.score(X, y))
    True
    """

    def __init__(
        self,
        estimator: Any = None,
        method: str = "em",
        calibration: str = "bcts",
        n_folds: int = 5,
        n_bootstrap: int = 0,
        random_state: int | None = None,
    ):
        self.estimator = estimator
        self.method = method
        self.calibration = calibration
        self.n_folds = n_folds
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state

    def _check_params(self) -> None:
        if self.method not in PRIOR_METHODS:
            raise InvalidParameterError(
                f"LabelShiftCorrector method must be one of {PRIOR_METHODS}; got {self.method!r}."
            )
        if self.calibration not in CALIBRATIONS:
            raise InvalidParameterError(
                f"LabelShiftCorrector calibration must be one of {CALIBRATIONS}; "
                f"got {self.calibration!r}."
            )

    def fit(self, X: Any, y: Any = None, domain: Any = None) -> LabelShiftCorrector:
        """Fit on a TransferProblem, or stacked rows with ``domain`` (0 source, 1 target)."""
        self._check_params()
        problem, Xs, ys, Xt = _source_data(X, y, domain)
        base = default_estimator() if self.estimator is None else self.estimator
        check_probabilistic(base, "label-shift correction needs probabilities")
        self.classes_ = np.unique(ys)
        codes = _codes(ys, self.classes_)
        smallest = int(np.bincount(codes).min())
        n_folds = max(2, min(self.n_folds, smallest))
        oof = np.zeros((len(codes), len(self.classes_)))
        folds = StratifiedKFold(n_folds, shuffle=True, random_state=self.random_state)
        for train, test in folds.split(np.zeros(len(codes)), codes):
            model = clone(base).fit(Xs[train], ys[train])
            oof[test] = aligned_proba(model, Xs[test], self.classes_)
        self.estimator_ = clone(base).fit(Xs, ys)
        if self.calibration == "none":
            self.temperature_, self.bias_ = 1.0, np.zeros(len(self.classes_))
        else:
            self.temperature_, self.bias_ = fit_temperature(
                log_proba(oof), codes, bias=self.calibration == "bcts"
            )
        oof_cal = self._calibrate(oof)
        target_cal = self._calibrate(aligned_proba(self.estimator_, Xt, self.classes_))
        self.source_priors_ = np.bincount(codes, minlength=len(self.classes_)) / len(codes)
        self.prior_estimate_ = estimate_target_priors(
            ys,
            oof_cal,
            target_cal,
            self.classes_,
            source_priors=self.source_priors_,
            method=self.method,
            n_bootstrap=self.n_bootstrap,
            random_state=self.random_state,
        )
        self.target_priors_ = self.prior_estimate_.priors
        self.n_features_in_ = problem.n_features
        return self

    def _calibrate(self, proba: np.ndarray) -> np.ndarray:
        if self.calibration == "none":
            return proba
        return apply_temperature(log_proba(proba), self.temperature_, self.bias_)

    def source_proba(self, X: Any) -> np.ndarray:
        """Calibrated source posteriors, before the prior correction."""
        X = check_rows(self, X)
        return self._calibrate(aligned_proba(self.estimator_, X, self.classes_))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Posteriors corrected to the estimated target priors."""
        return adjust_proba(self.source_proba(X), self.source_priors_, self.target_priors_)

    def predict(self, X: Any) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # handed as they are to the estimator
        return tags


def aligned_proba(model: Any, X: Any, classes: np.ndarray) -> np.ndarray:
    """``predict_proba`` with columns in the order of ``classes`` (absent classes get 0)."""
    proba = np.asarray(model.predict_proba(X), dtype=float)
    model_classes = np.asarray(model.classes_)
    if np.array_equal(model_classes, classes):
        return proba
    out = np.zeros((proba.shape[0], len(classes)))
    index = np.searchsorted(classes, model_classes)
    out[:, index] = proba
    return out


@register_method(
    "label_shift",
    "label_shift",
    "Correct source posteriors to target priors estimated by EM or BBSE (Saerens 2002; Lipton 2018).",
)
def _label_shift(
    estimator: Any,
    random_state: int | None,
    method: str = "em",
    calibration: str = "bcts",
) -> LabelShiftCorrector:
    return LabelShiftCorrector(
        estimator, method=method, calibration=calibration, random_state=random_state
    )


# --------------------------------------------------------------------------- resampling
def _samplers() -> dict[str, Any]:
    from imblearn import combine, over_sampling, under_sampling

    return {
        "random_over": over_sampling.RandomOverSampler,
        "smote": over_sampling.SMOTE,
        "adasyn": over_sampling.ADASYN,
        "borderline_smote": over_sampling.BorderlineSMOTE,
        "svm_smote": over_sampling.SVMSMOTE,
        "random_under": under_sampling.RandomUnderSampler,
        "nearmiss": under_sampling.NearMiss,
        "tomek": under_sampling.TomekLinks,
        "enn": under_sampling.EditedNearestNeighbours,
        "smote_tomek": combine.SMOTETomek,
        "smote_enn": combine.SMOTEENN,
    }


#: Names of the imbalanced-learn samplers :func:`make_sampler` knows.
SAMPLER_NAMES = (
    "random_over",
    "smote",
    "adasyn",
    "borderline_smote",
    "svm_smote",
    "random_under",
    "nearmiss",
    "tomek",
    "enn",
    "smote_tomek",
    "smote_enn",
)


def make_sampler(name: str | Any, random_state: int | None = None, **params: Any) -> Any:
    """An imbalanced-learn sampler from its name (``"smote"``, ``"random_under"``, ...).

    A sampler instance is returned unchanged. ``random_state`` is passed to samplers that take one.

    Examples
    --------
    >>> type(make_sampler("smote", random_state=0)).__name__
    'SMOTE'
    """
    if hasattr(name, "fit_resample"):
        return name
    samplers = _samplers()
    if name not in samplers:
        raise InvalidParameterError(
            f"Unknown sampler {name!r}. Known samplers: {', '.join(SAMPLER_NAMES)}."
        )
    cls = samplers[name]
    import inspect

    if "random_state" in inspect.signature(cls.__init__).parameters:
        params = {"random_state": random_state, **params}
    try:
        return cls(**params)
    except TypeError as error:
        raise InvalidParameterError(f"Bad parameters for sampler {name!r}: {error}") from error


def resampling_pipeline(sampler: str | Any, estimator: Any, random_state: int | None = None) -> Any:
    """An imbalanced-learn ``Pipeline``: resample the training data, then fit ``estimator``.

    Resampling happens in ``fit`` only, never at prediction time.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> pipe = resampling_pipeline("random_over", LogisticRegression(), random_state=0)
    >>> [name for name, _ in pipe.steps]
    ['randomoversampler', 'logisticregression']
    """
    from imblearn.pipeline import make_pipeline

    return make_pipeline(make_sampler(sampler, random_state), estimator)


def target_prior_strategy(
    counts: np.ndarray, priors: np.ndarray, classes: np.ndarray, kind: str
) -> dict[Any, int]:
    """Per-class sample counts with proportions ``priors``, reachable by over- or under-sampling.

    ``kind="over"`` never removes a sample (every count >= the current one); ``"under"`` never
    adds one.
    """
    priors = np.clip(np.asarray(priors, dtype=float), 1e-3, None)
    priors = priors / priors.sum()
    counts = np.asarray(counts, dtype=float)
    if kind == "over":
        total = np.max(counts / priors)
        wanted = np.maximum(np.round(priors * total), counts)
    else:
        total = np.min(counts / priors)
        wanted = np.clip(np.round(priors * total), 1, counts)
    return {plain_label(c): int(n) for c, n in zip(classes, wanted, strict=True)}


def _sampler_kind(sampler: Any) -> str:
    from imblearn.over_sampling.base import BaseOverSampler
    from imblearn.under_sampling.base import BaseUnderSampler

    if isinstance(sampler, BaseOverSampler):
        return "over"
    if isinstance(sampler, BaseUnderSampler):
        return "under"
    return "other"


class ResampledMethod(ClassifierMixin, BaseEstimator):
    """Any transferkit method trained on a resampled source (imbalanced-learn sampler in front).

    Parameters
    ----------
    method : str or estimator, default "source_only"
        A registry name (built with ``method_params`` and ``classifier``) or any object with
        ``fit(problem)`` and ``predict(X)`` (e.g. ``AdaptedClassifier(CORAL(), SVC())``).
    sampler : str or imblearn sampler, default "random_over"
        See :data:`SAMPLER_NAMES`.
    target : {"balanced", "target_priors"}, default "balanced"
        ``balanced``: the sampler's own strategy (equal classes). ``target_priors``: resample the
        source classes to the target priors estimated by :class:`LabelShiftCorrector` (``em``),
        so the classifier learns the target's class balance (over- or under-samplers only).
    method_params : dict or None
    classifier : str, dict or estimator, default "logreg"
    random_state : int or None

    Examples
    --------
    >>> from transferkit.diagnose.calibration import make_planted_problem
    >>> problem = make_planted_problem("label", random_state=0).problem
    >>> model = ResampledMethod("source_only", "random_under", target="target_priors",
    ...                         random_state=0).fit(problem)
    >>> int(np.argmax(np.bincount(model.resampled_y_)))
    0
    """

    def __init__(
        self,
        method: str | Any = "source_only",
        sampler: str | Any = "random_over",
        target: str = "balanced",
        method_params: dict[str, Any] | None = None,
        classifier: str | dict[str, Any] | Any = "logreg",
        random_state: int | None = None,
    ):
        self.method = method
        self.sampler = sampler
        self.target = target
        self.method_params = method_params
        self.classifier = classifier
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None, domain: Any = None) -> ResampledMethod:
        problem = as_problem(X, y, domain)
        if problem.is_images:
            raise NotApplicableError(
                "Resampling needs feature matrices; extract features from the images first."
            )
        if self.target not in ("balanced", "target_priors"):
            raise InvalidParameterError(
                f"ResampledMethod target must be 'balanced' or 'target_priors'; got {self.target!r}."
            )
        sampler = clone(make_sampler(self.sampler, self.random_state))
        if self.target == "target_priors":
            kind = _sampler_kind(sampler)
            if kind == "other" or not hasattr(sampler, "sampling_strategy"):
                raise InvalidParameterError(
                    f"target='target_priors' needs an over- or under-sampler; "
                    f"{type(sampler).__name__} only cleans. Use e.g. 'random_over' or 'smote'."
                )
            base = make_classifier(self.classifier, self.random_state)
            corrector = LabelShiftCorrector(
                base if hasattr(base, "predict_proba") else None, random_state=self.random_state
            ).fit(problem)
            counts = np.array([np.sum(problem.y_source == c) for c in corrector.classes_])
            strategy = target_prior_strategy(
                counts, corrector.target_priors_, corrector.classes_, kind
            )
            sampler.set_params(sampling_strategy=strategy)
            self.estimated_target_priors_ = corrector.target_priors_
        Xs = problem.X_source
        try:
            X_res, y_res = sampler.fit_resample(Xs, problem.y_source)
        except ValueError as error:
            raise NotApplicableError(
                f"{type(sampler).__name__} could not resample the source of '{problem.name}': "
                f"{error}"
            ) from error
        if sp.issparse(Xs):
            X_res = sp.csr_matrix(X_res)
        resampled = replace(problem, X_source=X_res, y_source=np.asarray(y_res))
        if isinstance(self.method, str):
            model = make_method(self.method, self.method_params, self.classifier, self.random_state)
        else:
            model = clone(self.method)
        self.method_ = model.fit(resampled)
        self.sampler_ = sampler
        self.resampled_y_ = np.asarray(y_res)
        self.classes_ = getattr(self.method_, "classes_", np.unique(y_res))
        self.n_features_in_ = problem.n_features
        return self

    def predict(self, X: Any) -> np.ndarray:
        X = check_rows(self, X)
        return self.method_.predict(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        X = check_rows(self, X)
        return self.method_.predict_proba(X)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # a sparse source is resampled and kept sparse
        return tags


@register_method(
    "resampled",
    "label_shift",
    "Resample the source with an imbalanced-learn sampler, then run a method (source_only).",
)
def _resampled(
    estimator: Any,
    random_state: int | None,
    sampler: str = "random_over",
    target: str = "balanced",
    method: str = "source_only",
    method_params: dict[str, Any] | None = None,
) -> ResampledMethod:
    return ResampledMethod(
        method,
        sampler,
        target=target,
        method_params=method_params,
        classifier=estimator,
        random_state=random_state,
    )
