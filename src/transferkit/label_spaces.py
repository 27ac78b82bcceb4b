"""Scenario 3, when the label spaces differ: partial and open-set adaptation, and a new head.

* **Partial** adaptation: the target holds only some of the source classes. Aligning the whole
  source onto the target then pulls the rows of absent classes onto target rows of other classes
  (negative transfer). The remedy (Cao, Long & Wang 2018, PADA, eq. 4) weights each source class
  by how much of it the target holds. Here the weights come from the target priors that
  :class:`~transferkit.label_shift.LabelShiftCorrector` estimates without target labels (EM,
  Saerens et al. 2002, or BBSE, Lipton et al. 2018): ``w(c) = π_t(c) / π_s(c)``, scaled so that
  the largest is 1, and classes below ``min_weight`` set to 0 (:func:`presence_weights`).
  :class:`ClassWeighting` turns them into source sample weights (a re-weighter, so any
  classifier that takes ``sample_weight`` uses them); :class:`PartialAdaptation` fits any
  registered method on the source classes the target holds, each row weighted by its class.
* **Open-set** adaptation: the target holds classes the source never saw. :class:`OpenSetClassifier`
  puts a calibrated rejection on top of any method: a target row whose confidence (the largest
  class probability, or one minus the normalised entropy) falls below a threshold is predicted
  :func:`unknown_label`. The threshold is chosen without target labels: ``"target_mixture"``
  splits the target's confidences in two with a two-component Gaussian mixture (on their
  logits), ``"source_quantile"`` takes a low quantile of the confidences of held-out source rows.
  The open-set scores OS, OS* and HOS are in :mod:`transferkit.evaluation`.
* **A new label space with a few labels**: :class:`NewLabelHead` trains a new classifier on the
  few labelled target rows only, on transferred features: the features as given (e.g. a
  pre-trained text encoder's embeddings) or the hidden layer of a network trained on the source
  labels (the tabular counterpart of a frozen CNN backbone with a new head,
  :mod:`transferkit.deep.finetune`).

Examples
--------
>>> from transferkit.datasets import make_shifted_blobs
>>> from transferkit.datasets.label_spaces import partial_target
>>> problem = partial_target(make_shifted_blobs(n_classes=4, random_state=0), [0, 1])
>>> model = ClassWeighting(random_state=0).fit(problem)
>>> model.class_weights_.round(1)  # classes 2 and 3 are estimated absent
array([1. , 0.9, 0. , 0. ])
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import check_is_fitted

from transferkit.base import AdaptedClassifier, BaseReweighter, check_rows, default_estimator
from transferkit.checks import check_choice, check_nonnegative, check_probabilistic
from transferkit.exceptions import InvalidParameterError, NotApplicableError
from transferkit.label_shift import PRIOR_METHODS, LabelShiftCorrector, aligned_proba
from transferkit.problem import TransferProblem, as_problem
from transferkit.registry import make_method, register_method

logger = logging.getLogger(__name__)

#: The label of "unknown" (a class the source never saw) for integer labels.
UNKNOWN_INTEGER = -2
#: The label of "unknown" for string labels.
UNKNOWN_STRING = "unknown"

CONFIDENCE_KINDS = ("probability", "entropy")
OPEN_SET_THRESHOLDS = ("target_mixture", "source_quantile")


def unknown_label(y: Any) -> Any:
    """The label that stands for "unknown" among labels like ``y``: -2 for integer labels
    (-1 marks unlabelled rows in the stacked form), ``"unknown"`` for string labels.

    Examples
    --------
    >>> unknown_label(np.array([0, 1])), unknown_label(np.array(["cat", "dog"]))
    (-2, 'unknown')
    """
    y = np.asarray(y)
    if y.dtype.kind in "iub" or (y.dtype.kind == "f" and np.all(np.mod(y, 1) == 0)):
        return UNKNOWN_INTEGER
    return UNKNOWN_STRING


# --------------------------------------------------------------------------- partial: weights
def presence_weights(
    target_priors: np.ndarray, source_priors: np.ndarray, min_weight: float = 0.1
) -> np.ndarray:
    """Class weights for partial adaptation: ``π_t / π_s`` scaled to a largest weight of 1,
    weights below ``min_weight`` set to 0 (classes estimated absent from the target).

    Cao, Long & Wang (2018), "Partial adversarial domain adaptation", ECCV, eq. 4, average the
    target predictions per class and scale by the largest; the ratio to the source priors makes
    the weight of a class independent of how many source rows it has.

    Examples
    --------
    >>> presence_weights(np.array([0.5, 0.48, 0.02]), np.array([0.3, 0.3, 0.4]))
    array([1.  , 0.96, 0.  ])
    """
    target_priors = np.asarray(target_priors, dtype=float)
    source_priors = np.asarray(source_priors, dtype=float)
    ratio = target_priors / np.maximum(source_priors, 1e-12)
    if not np.isfinite(ratio).all() or ratio.max() <= 0:
        raise NotApplicableError(
            "The estimated target priors are all zero or not finite; no source class seems "
            "present in the target. Check that source and target share classes."
        )
    weights = ratio / ratio.max()
    weights[weights < min_weight] = 0.0
    return weights


def estimate_presence(
    problem: TransferProblem,
    estimator: Any = None,
    prior_method: str = "em",
    min_weight: float = 0.1,
    random_state: int | None = None,
) -> tuple[np.ndarray, np.ndarray, LabelShiftCorrector]:
    """Estimate without target labels how much of each source class the target holds.

    Returns ``(classes, weights, corrector)``: the source classes, their
    :func:`presence_weights`, and the fitted
    :class:`~transferkit.label_shift.LabelShiftCorrector` whose target priors gave them.
    """
    check_choice(prior_method, "prior_method", "partial adaptation", PRIOR_METHODS)
    check_nonnegative(min_weight, "min_weight", "partial adaptation")
    if min_weight >= 1:
        raise InvalidParameterError(
            f"partial adaptation min_weight must be below 1 (the largest class weight); got "
            f"{min_weight}. 0.1 drops the classes estimated at under a tenth of the largest."
        )
    base = default_estimator() if estimator is None else estimator
    if not hasattr(base, "predict_proba"):
        base = default_estimator()  # priors need probabilities; the classifier itself may not
    corrector = LabelShiftCorrector(base, method=prior_method, random_state=random_state)
    corrector.fit(problem)
    weights = presence_weights(corrector.target_priors_, corrector.source_priors_, min_weight)
    return corrector.classes_, weights, corrector


class ClassWeighting(BaseReweighter):
    """Source rows weighted by how much of their class the target holds (partial adaptation).

    Each source row gets the weight of its class from :func:`estimate_presence` (target priors
    estimated by EM or BBSE, divided by the source priors and scaled to a largest weight of 1;
    classes under ``min_weight`` get 0). The classifier after it trains on the classes the
    target holds. Cao, Long & Wang (2018), PADA, eq. 4, with the class weights of the label-shift
    estimators instead of averaged predictions.

    Parameters
    ----------
    estimator : sklearn classifier or None, default None
        The classifier whose probabilities estimate the priors (default logistic regression).
    prior_method : {"em", "bbse", "bbse_hard"}, default "em"
        How the target priors are estimated (see :mod:`transferkit.label_shift`).
    min_weight : float, default 0.1
        Classes whose weight falls below it are estimated absent and weighted 0.
    random_state : int or None, default None

    Attributes
    ----------
    classes_ : array
        The source classes.
    class_weights_ : array
        Their weights (largest 1).
    weights_ : array
        One weight per source row (mean 1).

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from transferkit.datasets import make_shifted_blobs
    >>> from transferkit.datasets.label_spaces import partial_target
    >>> problem = partial_target(make_shifted_blobs(n_classes=4, random_state=0), [0, 1])
    >>> model = AdaptedClassifier(ClassWeighting(), LogisticRegression()).fit(problem)
    >>> sorted(set(model.predict(problem.X_target).tolist()))
    [0, 1]
    """

    def __init__(
        self,
        estimator: Any = None,
        prior_method: str = "em",
        min_weight: float = 0.1,
        random_state: int | None = None,
    ):
        self.estimator = estimator
        self.prior_method = prior_method
        self.min_weight = min_weight
        self.random_state = random_state

    def _fit_weights(self, problem: TransferProblem) -> np.ndarray:
        self.classes_, self.class_weights_, _ = estimate_presence(
            problem, self.estimator, self.prior_method, self.min_weight, self.random_state
        )
        return self.class_weights_[np.searchsorted(self.classes_, problem.y_source)]


def restrict_source(
    problem: TransferProblem, classes: np.ndarray, weights: np.ndarray
) -> TransferProblem:
    """The problem with the source rows of the classes whose weight is positive only; at least
    the two heaviest classes are kept (a classifier needs two)."""
    keep = weights > 0
    if keep.sum() < 2:
        keep = np.zeros(len(weights), dtype=bool)
        keep[np.argsort(weights)[-2:]] = True
    rows = np.flatnonzero(np.isin(problem.y_source, classes[keep]))
    return replace(problem, X_source=problem.X_source[rows], y_source=problem.y_source[rows])


class PartialAdaptation(ClassifierMixin, BaseEstimator):
    """Any registered method fitted on the source classes the target holds (partial adaptation).

    ``fit`` estimates the class weights (:func:`estimate_presence`), drops the source rows of the
    classes estimated absent (weight 0), and fits ``method`` on the rest. With OT and
    ``params={"source_mass": "target_priors"}`` the transport's source mass follows the
    estimated priors too: class-weighted OT. Aligning the whole source instead maps absent
    classes onto target rows of others, which is why plain alignment hurts on partial targets.

    Parameters
    ----------
    method : str, default "ot"
        A registered method name (``transferkit.registry.available_methods()``).
    params : dict or None, default None
        Its parameters.
    estimator : sklearn classifier or None, default None
        The classifier of the method, and the one whose probabilities estimate the priors.
    prior_method : {"em", "bbse", "bbse_hard"}, default "em"
    min_weight : float, default 0.1
        Classes under this weight are dropped from the source.
    random_state : int or None, default None

    Attributes
    ----------
    classes_, class_weights_, kept_classes_, model_

    Examples
    --------
    >>> from transferkit.datasets import make_shifted_blobs
    >>> from transferkit.datasets.label_spaces import partial_target
    >>> problem = partial_target(make_shifted_blobs(n_classes=4, random_state=0), [0, 1])
    >>> model = PartialAdaptation("coral", random_state=0).fit(problem)
    >>> model.kept_classes_
    array([0, 1])
    """

    def __init__(
        self,
        method: str = "ot",
        params: dict[str, Any] | None = None,
        estimator: Any = None,
        prior_method: str = "em",
        min_weight: float = 0.1,
        random_state: int | None = None,
    ):
        self.method = method
        self.params = params
        self.estimator = estimator
        self.prior_method = prior_method
        self.min_weight = min_weight
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None, domain: Any = None) -> PartialAdaptation:
        problem = as_problem(X, y, domain)
        classes, weights, _ = estimate_presence(
            problem, self.estimator, self.prior_method, self.min_weight, self.random_state
        )
        restricted = restrict_source(problem, classes, weights)
        self.class_weights_ = weights
        self.kept_classes_ = np.unique(restricted.y_source)
        estimator = default_estimator() if self.estimator is None else clone(self.estimator)
        self.model_ = make_method(self.method, self.params, estimator, self.random_state)
        self.model_.fit(restricted)
        self.classes_ = np.asarray(self.model_.classes_)
        self.n_features_in_ = problem.n_features
        return self

    def predict(self, X: Any) -> np.ndarray:
        X = check_rows(self, X)
        return self.model_.predict(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        X = check_rows(self, X)
        return self.model_.predict_proba(X)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # handed as they are to the method
        return tags


# --------------------------------------------------------------------------- open set
def confidence_scores(proba: np.ndarray, confidence: str = "probability") -> np.ndarray:
    """How sure a classifier is of each row, in [0, 1]: the largest probability
    (``"probability"``), or one minus the entropy divided by its largest value ``log k``
    (``"entropy"``). Rows of classes the classifier never saw tend to score low.

    Examples
    --------
    >>> confidence_scores(np.array([[0.9, 0.1], [0.5, 0.5]]), "entropy").round(2)
    array([0.53, 0.  ])
    """
    proba = np.clip(np.asarray(proba, dtype=float), 1e-12, 1.0)
    if confidence == "probability":
        return proba.max(axis=1)
    entropy = -(proba * np.log(proba)).sum(axis=1)
    return 1.0 - entropy / np.log(proba.shape[1])


def mixture_threshold(scores: np.ndarray, random_state: int | None = None) -> float:
    """A threshold between the low and the high mode of ``scores`` (in [0, 1]): where a
    two-component Gaussian mixture on their logits gives both components the same posterior.

    Returns ``nan`` when the two components do not separate (one mode only).

    Examples
    --------
    >>> scores = np.r_[np.full(50, 0.3), np.full(50, 0.95)] + np.linspace(0, 0.02, 100)
    >>> 0.3 < mixture_threshold(scores, random_state=0) < 0.95
    True
    """
    from sklearn.mixture import GaussianMixture

    scores = np.clip(np.asarray(scores, dtype=float), 1e-6, 1 - 1e-6)
    logits = np.log(scores / (1 - scores)).reshape(-1, 1)
    mixture = GaussianMixture(2, random_state=random_state).fit(logits)
    low, high = np.argsort(mixture.means_.ravel())
    grid = np.linspace(logits.min(), logits.max(), 512).reshape(-1, 1)
    posterior = mixture.predict_proba(grid)
    between = (grid.ravel() >= mixture.means_[low, 0]) & (grid.ravel() <= mixture.means_[high, 0])
    crossing = np.flatnonzero(between & (posterior[:, high] >= posterior[:, low]))
    if len(crossing) == 0:
        return float("nan")
    return float(1.0 / (1.0 + np.exp(-grid[crossing[0], 0])))


def source_quantile_threshold(
    problem: TransferProblem,
    estimator: Any,
    confidence: str = "probability",
    quantile: float = 0.05,
    n_folds: int = 5,
    random_state: int | None = None,
) -> float:
    """The ``quantile`` of the confidences of held-out source rows (out-of-fold predictions of
    ``estimator`` trained on the other source folds): a known-class row falls below it with
    probability about ``quantile`` on the source."""
    Xs, ys = problem.X_source, problem.y_source
    classes = np.unique(ys)
    counts = np.unique(ys, return_counts=True)[1]
    folds = StratifiedKFold(
        max(2, min(n_folds, int(counts.min()))), shuffle=True, random_state=random_state
    )
    oof = np.zeros((len(ys), len(classes)))
    for train, test in folds.split(np.zeros(len(ys)), ys):
        model = clone(estimator).fit(Xs[train], ys[train])
        oof[test] = aligned_proba(model, Xs[test], classes)
    return float(np.quantile(confidence_scores(oof, confidence), quantile))


class OpenSetClassifier(ClassifierMixin, BaseEstimator):
    """Any registered method with a rejection: low-confidence target rows are "unknown".

    Calibrated rejection for open-set adaptation: ``fit`` fits ``method`` on the problem (source
    classes are the known ones), scores each target row by :func:`confidence_scores`, and
    chooses a threshold without target labels; ``predict`` returns the method's class, or
    :func:`unknown_label` where the row scores below the threshold.

    Parameters
    ----------
    method : str, default "source_only"
        A registered method name.
    params : dict or None, default None
        Its parameters.
    estimator : sklearn classifier with predict_proba, or None, default None
        The method's classifier (default logistic regression).
    confidence : {"probability", "entropy"}, default "probability"
        How a row's confidence is scored: its largest class probability, or one minus the
        normalised entropy of its class probabilities.
    threshold : {"target_mixture", "source_quantile"} or float, default "target_mixture"
        ``"target_mixture"``: where a two-component Gaussian mixture on the target scores'
        logits splits them (:func:`mixture_threshold`; falls back to ``"source_quantile"`` when
        the scores have one mode). ``"source_quantile"``: the ``quantile`` of held-out source
        scores (:func:`source_quantile_threshold`), which rejects few target rows when the shift
        lowers every target score less than unknown classes do. A float is used as it is.
    quantile : float, default 0.05
        The quantile of ``"source_quantile"``.
    random_state : int or None, default None

    Attributes
    ----------
    threshold_ : float
        The confidence under which a row is unknown.
    unknown_label_ : int or str
        -2 for integer labels, ``"unknown"`` for string labels.
    classes_ : array
        The known classes, then the unknown label.
    model_ : the fitted method.

    Examples
    --------
    >>> from transferkit.datasets import make_shifted_blobs
    >>> from transferkit.datasets.label_spaces import open_set
    >>> problem = open_set(make_shifted_blobs(n_classes=4, random_state=0), [0, 1, 2], [3])
    >>> model = OpenSetClassifier("source_only", random_state=0).fit(problem)
    >>> bool(-2 in model.predict(problem.X_target))
    True
    """

    def __init__(
        self,
        method: str = "source_only",
        params: dict[str, Any] | None = None,
        estimator: Any = None,
        confidence: str = "probability",
        threshold: str | float = "target_mixture",
        quantile: float = 0.05,
        random_state: int | None = None,
    ):
        self.method = method
        self.params = params
        self.estimator = estimator
        self.confidence = confidence
        self.threshold = threshold
        self.quantile = quantile
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None, domain: Any = None) -> OpenSetClassifier:
        check_choice(self.confidence, "confidence", "OpenSetClassifier", CONFIDENCE_KINDS)
        if isinstance(self.threshold, str):
            check_choice(self.threshold, "threshold", "OpenSetClassifier", OPEN_SET_THRESHOLDS)
        elif not 0 <= float(self.threshold) <= 1:
            raise InvalidParameterError(
                f"OpenSetClassifier threshold must be {OPEN_SET_THRESHOLDS} or a confidence in "
                f"[0, 1]; got {self.threshold!r}."
            )
        if not 0 < self.quantile < 1:
            raise InvalidParameterError(
                f"OpenSetClassifier quantile must be in (0, 1); got {self.quantile!r}."
            )
        problem = as_problem(X, y, domain)
        estimator = default_estimator() if self.estimator is None else clone(self.estimator)
        check_probabilistic(
            estimator,
            "the rejection needs probabilities",
            "use classifier 'logreg', or an SVC with probability=True",
        )
        self.unknown_label_ = unknown_label(problem.y_source)
        self.model_ = make_method(self.method, self.params, estimator, self.random_state)
        self.model_.fit(problem)
        if not hasattr(self.model_, "predict_proba"):
            raise NotApplicableError(
                f"Method {self.method!r} gives no probabilities, so OpenSetClassifier cannot "
                "score its confidence; pick a method with predict_proba."
            )
        target_scores = confidence_scores(
            self.model_.predict_proba(problem.X_target), self.confidence
        )
        rule = self.threshold
        self.threshold_ = float("nan")
        if rule == "target_mixture":
            self.threshold_ = mixture_threshold(target_scores, self.random_state)
            if np.isnan(self.threshold_):
                logger.info("target scores have one mode; using the source quantile instead")
                rule = "source_quantile"
        if rule == "source_quantile":
            self.threshold_ = source_quantile_threshold(
                problem, estimator, self.confidence, self.quantile, random_state=self.random_state
            )
        elif not isinstance(rule, str):
            self.threshold_ = float(rule)
        known = np.asarray(self.model_.classes_)
        self.classes_ = np.append(known.astype(object), self.unknown_label_)
        if known.dtype.kind in "iu":
            self.classes_ = self.classes_.astype(known.dtype)
        self.n_features_in_ = problem.n_features
        return self

    def open_set_scores(self, X: Any) -> np.ndarray:
        """The confidence of each row (below ``threshold_``: unknown)."""
        X = check_rows(self, X)
        return confidence_scores(self.model_.predict_proba(X), self.confidence)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # handed as they are to the method
        return tags

    def predict(self, X: Any) -> np.ndarray:
        X = check_rows(self, X)
        predicted = np.asarray(self.model_.predict(X))
        unknown = self.open_set_scores(X) < self.threshold_
        out = predicted.astype(object) if isinstance(self.unknown_label_, str) else predicted
        out = out.copy()
        out[unknown] = self.unknown_label_
        return out


# --------------------------------------------------------------------------- new label space
class NewLabelHead(ClassifierMixin, BaseEstimator):
    """A new classifier trained on a few labelled target rows, on transferred features.

    For a target whose classes the source does not have: the source lends its representation,
    the few target labels train the head. ``representation="source_network"`` trains a one-layer
    network (scikit-learn's ``MLPClassifier``) on the source labels and uses its hidden layer
    (ReLU activations) as the features, the tabular counterpart of a frozen pre-trained backbone
    (Yosinski et al. 2014; :mod:`transferkit.deep.finetune` for images); ``"none"`` uses the
    features as given, for features that already carry the transfer (a pre-trained text
    encoder's embeddings, :mod:`transferkit.text`).

    Parameters
    ----------
    representation : {"source_network", "none"}, default "source_network"
    hidden_units : int, default 256
        Width of the source network's hidden layer.
    estimator : sklearn classifier or None, default None
        The new head (default logistic regression), trained on the labelled target rows only.
    random_state : int or None, default None

    Attributes
    ----------
    classes_ : array
        The classes of the labelled target rows (the new label space).
    network_ : MLPClassifier or None

    Examples
    --------
    >>> from transferkit.datasets import make_shifted_blobs
    >>> problem = make_shifted_blobs(n_classes=3, random_state=0).with_target_labels(5, 0)
    >>> NewLabelHead(hidden_units=16, random_state=0).fit(problem).classes_
    array([0, 1, 2])
    """

    def __init__(
        self,
        representation: str = "source_network",
        hidden_units: int = 256,
        estimator: Any = None,
        random_state: int | None = None,
    ):
        self.representation = representation
        self.hidden_units = hidden_units
        self.estimator = estimator
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None, domain: Any = None) -> NewLabelHead:
        check_choice(
            self.representation, "representation", "NewLabelHead", ("source_network", "none")
        )
        problem = as_problem(X, y, domain)
        X_labeled, y_labeled = problem.labeled_target()
        if len(np.unique(y_labeled)) < 2:
            raise NotApplicableError(
                f"NewLabelHead trains on the labelled target rows, and problem '{problem.name}' "
                f"has {problem.n_target_labeled} of {len(np.unique(y_labeled))} class(es); reveal "
                "a few labels of at least two target classes (target_labeled, or "
                "problem.with_target_labels(n_per_class))."
            )
        self.network_ = None
        if self.representation == "source_network":
            from sklearn.neural_network import MLPClassifier

            self.network_ = MLPClassifier(
                hidden_layer_sizes=(int(self.hidden_units),),
                early_stopping=True,
                max_iter=200,
                random_state=self.random_state,
            ).fit(problem.X_source, problem.y_source)
        self.n_features_in_ = problem.n_features
        self.head_ = default_estimator() if self.estimator is None else clone(self.estimator)
        self.head_.fit(self.transform(X_labeled), y_labeled)
        self.classes_ = self.head_.classes_
        return self

    def transform(self, X: Any) -> Any:
        """The transferred features of ``X`` (the source network's hidden layer, or ``X``)."""
        X = check_rows(self, X)
        if self.network_ is None:
            return X
        hidden = X @ self.network_.coefs_[0] + self.network_.intercepts_[0]
        return np.maximum(np.asarray(hidden), 0.0)

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "head_")
        return self.head_.predict(self.transform(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "head_")
        return self.head_.predict_proba(self.transform(X))


# --------------------------------------------------------------------------- registry
@register_method(
    "partial_reweighting",
    "label_spaces",
    "Partial target: source rows weighted by their class's estimated target share (PADA-style).",
)
def _partial_reweighting(
    estimator: Any,
    random_state: int | None,
    prior_method: str = "em",
    min_weight: float = 0.1,
) -> AdaptedClassifier:
    weighting = ClassWeighting(None, prior_method, min_weight, random_state)
    return AdaptedClassifier(weighting, estimator)


@register_method(
    "partial_ot",
    "label_spaces",
    "Partial target: OT from the source classes the target holds, masses at their priors.",
)
def _partial_ot(
    estimator: Any,
    random_state: int | None,
    prior_method: str = "em",
    min_weight: float = 0.1,
    **ot_params: Any,
) -> PartialAdaptation:
    params = {"source_mass": "target_priors", **ot_params}
    return PartialAdaptation("ot", params, estimator, prior_method, min_weight, random_state)


@register_method(
    "partial",
    "label_spaces",
    "Partial target: any method on the source classes estimated present in the target.",
)
def _partial(
    estimator: Any,
    random_state: int | None,
    method: str = "source_only",
    params: dict[str, Any] | None = None,
    prior_method: str = "em",
    min_weight: float = 0.1,
) -> PartialAdaptation:
    return PartialAdaptation(method, params, estimator, prior_method, min_weight, random_state)


@register_method(
    "open_set",
    "label_spaces",
    "Open-set target: any method, low-confidence rows predicted unknown (threshold w/o labels).",
)
def _open_set(
    estimator: Any,
    random_state: int | None,
    method: str = "source_only",
    params: dict[str, Any] | None = None,
    confidence: str = "probability",
    threshold: str | float = "target_mixture",
    quantile: float = 0.05,
) -> OpenSetClassifier:
    return OpenSetClassifier(
        method, params, estimator, confidence, threshold, quantile, random_state
    )


@register_method(
    "new_head",
    "label_spaces",
    "New label space: a new head on a few target labels over transferred (source) features.",
    needs_target_labels=True,
)
def _new_head(
    estimator: Any,
    random_state: int | None,
    representation: str = "source_network",
    hidden_units: int = 256,
) -> NewLabelHead:
    return NewLabelHead(representation, hidden_units, estimator, random_state)
