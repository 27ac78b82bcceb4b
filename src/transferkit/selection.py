"""Choosing a method and its hyper-parameters without target labels.

The target has no labels, so ordinary cross-validation cannot score a domain-adaptation model. The
*validators* here score a fitted model from what is available — labelled source rows held out from
training and the unlabelled target:

================  ==============================================================  ===========
name              what it measures                                                 paper
================  ==============================================================  ===========
``iwcv``          source-validation accuracy weighted by p_t(x)/p_s(x), the        Sugiyama et
                  density ratio of a domain classifier on the inputs               al. 2007
``dev``           importance-weighted validation loss on the model's own           You et al.
                  representation, with a control variate that cuts its variance    2019
``reverse``       train the same method back from the pseudo-labelled target to    Zhong et
                  the source, score it on the held-out source labels               al. 2010
``entropy``       minus the mean entropy of the target predictions                 (Grandvalet
                                                                                   & Bengio 2005)
``im``            information maximisation: H(mean p) - mean H(p) on the target    Shi & Sha
                                                                                   2012
``snd``           soft neighbourhood density of the target predictions            Saito et al.
                                                                                   2021
``mixval``        do mixtures of two target rows keep the dominant row's label?    Hu et al.
                  (same-label and different-label pairs)                           2023
``ensv``          agreement with the ensemble of all candidates (search only)      Hu et al.
                                                                                   2024
``ensv_dedup``    EnsV with near-duplicate candidates counted once in the          —
                  consensus (search only)
``ensv_graph``    ``ensv_dedup`` with the consensus, and each candidate, propagated  —
                  over the target's nearest-neighbour graph (search only)
``guarded_mixval`` MixVal among the candidates within 5 points of the best         —
                  held-out source accuracy, wider on a small source (search only)
``guarded_ensv_dedup`` ``ensv_dedup`` among the same candidates (search only)      —
``guarded_ensv_graph`` ``ensv_graph`` among the same candidates (search only; the   —
                  default: closest to the oracle's pick in docs/benchmarks.md)
``source_accuracy`` plain accuracy on held-out source rows (the naive baseline)    —
================  ==============================================================  ===========

Every validator is a scikit-learn scorer: ``validator(estimator, X, y)`` on *stacked* rows, where
``y == -1`` marks unlabelled target rows and the other rows are held-out labelled source rows (the
layout :class:`SourceFolds` produces for ``GridSearchCV``); ``validator.score(estimator,
X_source_val, y_source_val, X_target)`` is the explicit form. Higher is better for all of them.

:class:`DomainAwareSearchCV` searches over registered methods and their parameters in the style of
``GridSearchCV``: each candidate is trained on source folds plus the whole unlabelled target, scored
by one or more validators, and the best one (by ``refit``) is trained again on everything.

Example
-------
>>> from transferkit.datasets import make_shifted_blobs
>>> problem = make_shifted_blobs(covariate_shift=1.5, random_state=0)
>>> search = DomainAwareSearchCV(
...     {"source_only": {}, "coral": {"regularization": [0.1, 10.0]}},
...     scoring=["im", "iwcv"], cv=2, random_state=0).fit(problem)
>>> search.best_method_ in {"source_only", "coral"}
True
>>> len(search.cv_results_["mean_im"])
3
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import ParameterGrid, StratifiedKFold, train_test_split
from sklearn.utils.validation import check_is_fitted

from transferkit.base import collapsed_prediction, stack_rows
from transferkit.exceptions import (
    DegenerateResultWarning,
    InvalidParameterError,
    NotApplicableError,
    TransferKitError,
)
from transferkit.kernels import check_positive_int
from transferkit.problem import (
    SOURCE,
    TARGET,
    UNLABELED,
    ImageCollection,
    TransferProblem,
    as_problem,
)
from transferkit.registry import make_method

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- model access
def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _n_rows(X: Any) -> int:
    return X.shape[0] if hasattr(X, "shape") else len(X)


def _adapter(estimator: Any) -> Any:
    """The fitted feature adapter inside an AdaptedClassifier (None for re-weighters / none)."""
    from transferkit.base import BaseAdapter

    adapter = getattr(estimator, "adapter_", None)
    return adapter if isinstance(adapter, BaseAdapter) else None


def _inner(estimator: Any) -> Any:
    """Unwrap meta-estimators that hold the fitted method in ``method_``."""
    while hasattr(estimator, "method_") and not hasattr(estimator, "adapter_"):
        estimator = estimator.method_
    return estimator


def predict_proba_rows(estimator: Any, X: Any, domain: int = TARGET) -> np.ndarray:
    """Class probabilities of rows of one domain.

    Source rows go through an adapter's *source* mapping; models without ``predict_proba`` give a
    softmax of ``decision_function``, else one-hot predictions.
    """
    model = _inner(estimator)
    adapter = _adapter(model)
    if domain == SOURCE and adapter is not None and hasattr(model, "estimator_"):
        Z = adapter.transform(X, np.full(_n_rows(X), SOURCE))
        final = model.estimator_
    else:
        Z, final = X, (model if domain == SOURCE else estimator)
    for method in ("predict_proba", "decision_function"):
        if hasattr(final, method):
            try:
                out = np.asarray(getattr(final, method)(Z), dtype=float)
            except (AttributeError, NotImplementedError):
                continue
            if method == "predict_proba":
                return out
            if out.ndim == 1:
                out = np.column_stack([-out, out]) / 2.0
            return _softmax(out)
    predicted = final.predict(Z)
    classes = np.asarray(getattr(final, "classes_", np.unique(predicted)))
    return (predicted[:, None] == classes[None, :]).astype(float)


def predict_rows(estimator: Any, X: Any, domain: int = TARGET) -> np.ndarray:
    """Predicted labels of rows of one domain (source rows through the source mapping)."""
    model = _inner(estimator)
    adapter = _adapter(model)
    if domain == SOURCE and adapter is not None and hasattr(model, "estimator_"):
        return model.estimator_.predict(adapter.transform(X, np.full(_n_rows(X), SOURCE)))
    return (model if domain == SOURCE else estimator).predict(X)


def representation(estimator: Any, X: Any, domain: int) -> Any:
    """The model's own representation of rows: an adapter's output, a deep encoder's, else X."""
    model = _inner(estimator)
    adapter = _adapter(model)
    if adapter is not None:
        return adapter.transform(X, np.full(_n_rows(X), domain))
    transform = getattr(model, "transform", None)
    if transform is not None:
        try:
            if "domain" in inspect.signature(transform).parameters:
                return transform(X, np.full(_n_rows(X), domain))
        except (TypeError, ValueError, AttributeError, NotImplementedError):
            pass
    return X


def _classes(estimator: Any) -> np.ndarray:
    return np.asarray(getattr(estimator, "classes_", []))


def _entropy(p: np.ndarray, axis: int = -1) -> np.ndarray:
    p = np.clip(p, 1e-12, 1.0)
    return -np.sum(p * np.log(p), axis=axis)


def _fingerprint(*arrays: Any) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for X in arrays:
        if sp.issparse(X):
            X = sp.csr_matrix(X)
            for part in (X.data, X.indices, X.indptr):
                digest.update(np.ascontiguousarray(part).tobytes())
        else:
            digest.update(np.ascontiguousarray(np.asarray(X)).tobytes())
        digest.update(str(X.shape if hasattr(X, "shape") else (len(X),)).encode())
    return digest.hexdigest()


def density_ratio(
    X_source: Any,
    X_target: Any,
    classifier: Any = None,
    n_folds: int = 5,
    max_weight: float | None = None,
    random_state: int | None = None,
) -> np.ndarray:
    """Weights ``p_t(x) / p_s(x)`` of source rows from a cross-fitted domain classifier, mean 1.

    Bickel, Brückner & Scheffer (2007): ``w(x) = P(target | x) / P(source | x) · n_s / n_t``;
    each source row's weight comes from a classifier that did not see it.
    """
    from transferkit.diagnose.statistics import default_domain_classifier

    X = stack_rows(X_source, X_target, dtype=None)
    ns = _n_rows(X_source)
    domain = np.repeat([0, 1], [ns, _n_rows(X_target)])
    base = (
        default_domain_classifier(sp.issparse(X), random_state)
        if classifier is None
        else classifier
    )
    n_folds = max(2, min(n_folds, ns, _n_rows(X_target)))
    folds = StratifiedKFold(n_folds, shuffle=True, random_state=random_state)
    weights = np.ones(ns)
    for train, test in folds.split(np.zeros(len(domain)), domain):
        model = clone(base).fit(X[train], domain[train])
        source_test = test[test < ns]
        if len(source_test) == 0:
            continue
        if hasattr(model, "decision_function"):
            # balanced class weights: the decision value is the log density ratio
            weights[source_test] = np.exp(np.clip(model.decision_function(X[source_test]), -20, 20))
        else:
            p = np.clip(model.predict_proba(X[source_test])[:, 1], 1e-6, 1 - 1e-6)
            weights[source_test] = p / (1 - p)
    weights = weights / weights.mean()
    if max_weight is not None:
        weights = np.minimum(weights, max_weight)
        weights = weights / weights.mean()
    return weights


# --------------------------------------------------------------------------- validators
class BaseValidator:
    """Scores a fitted model without target labels; higher is better.

    Subclasses implement :meth:`score`. ``needs_source_validation`` says whether held-out
    labelled source rows are used (a search must then hold some out).
    """

    name: str = "validator"
    needs_source_validation: bool = True
    uses_target_labels: bool = False

    def score(
        self,
        estimator: Any,
        X_source_val: Any,
        y_source_val: np.ndarray,
        X_target: Any,
        y_target: np.ndarray | None = None,
    ) -> float:
        raise NotImplementedError

    def __call__(self, estimator: Any, X: Any, y: Any = None, **_: Any) -> float:
        """scikit-learn scorer on stacked rows: ``y == -1`` marks target rows, others source."""
        if y is None:
            if self.needs_source_validation:
                raise InvalidParameterError(
                    f"The {self.name} validator needs held-out labelled source rows: call it on "
                    "stacked rows with y = -1 for target rows (see SourceFolds)."
                )
            return self.score(estimator, X[:0], np.empty(0), X)
        y = np.asarray(y)
        target = y == UNLABELED
        if not target.any():
            raise InvalidParameterError(
                f"The {self.name} validator got no target rows (y == -1); it scores a model on "
                "unlabelled target data. Use SourceFolds as cv so validation folds carry them."
            )
        source = np.flatnonzero(~target)
        return float(self.score(estimator, X[source], y[source], X[np.flatnonzero(target)]))

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({params})"


def _check_source(validator: BaseValidator, y_source_val: np.ndarray) -> None:
    if len(y_source_val) == 0:
        raise NotApplicableError(
            f"The {validator.name} validator needs held-out labelled source rows; the search must "
            "hold some out (cv >= 2 or a fraction)."
        )


class ImportanceWeightedValidator(BaseValidator):
    """Importance-weighted validation accuracy (IWCV; Sugiyama, Krauledat & Müller, 2007, eq. 9).

    Source validation errors are weighted by ``p_t(x) / p_s(x)`` from a domain classifier on the
    *inputs* (cross-fitted, mean 1), so the weighted error estimates the target error under
    covariate shift.

    Parameters
    ----------
    classifier : sklearn classifier or None
        Domain classifier (default: standardised logistic regression, balanced).
    max_weight : float or None, default 20.0
        Weights are clipped here (and renormalised) to bound the variance.
    random_state : int or None
    """

    name = "iwcv"

    def __init__(
        self, classifier: Any = None, max_weight: float | None = 20.0, random_state: int | None = 0
    ):
        self.classifier = classifier
        self.max_weight = max_weight
        self.random_state = random_state
        self._cache: dict[str, np.ndarray] = {}

    def weights(self, X_source_val: Any, X_target: Any) -> np.ndarray:
        key = _fingerprint(X_source_val, X_target)
        if key not in self._cache:
            if len(self._cache) > 32:
                self._cache.clear()
            self._cache[key] = density_ratio(
                X_source_val,
                X_target,
                self.classifier,
                max_weight=self.max_weight,
                random_state=self.random_state,
            )
        return self._cache[key]

    def score(self, estimator, X_source_val, y_source_val, X_target, y_target=None) -> float:
        _check_source(self, y_source_val)
        w = self.weights(X_source_val, X_target)
        correct = predict_rows(estimator, X_source_val, SOURCE) == np.asarray(y_source_val)
        return float(np.sum(w * correct) / np.sum(w))


class DeepEmbeddedValidator(BaseValidator):
    """Deep embedded validation (DEV; You, Wang, Long & Jordan, 2019, ICML, Algorithm 1).

    Importance weights come from a domain classifier on the model's *own representation* (an
    adapter's output, a deep encoder's features); the weighted validation loss gets a control
    variate, ``risk = mean(w·l) + η·mean(w) - η`` with ``η = -Cov(w·l, w) / Var(w)``, which keeps
    the estimate unbiased and lowers its variance. The score is ``-risk``.

    Parameters
    ----------
    loss : {"zero_one", "log"}, default "zero_one"
    classifier : sklearn classifier or None
    max_weight : float or None, default 20.0
    random_state : int or None
    """

    name = "dev"

    def __init__(
        self,
        loss: str = "zero_one",
        classifier: Any = None,
        max_weight: float | None = 20.0,
        random_state: int | None = 0,
    ):
        self.loss = loss
        self.classifier = classifier
        self.max_weight = max_weight
        self.random_state = random_state

    def score(self, estimator, X_source_val, y_source_val, X_target, y_target=None) -> float:
        _check_source(self, y_source_val)
        if self.loss not in ("zero_one", "log"):
            raise InvalidParameterError(f"DEV loss must be 'zero_one' or 'log'; got {self.loss!r}.")
        Fs = representation(estimator, X_source_val, SOURCE)
        Ft = representation(estimator, X_target, TARGET)
        w = density_ratio(
            Fs, Ft, self.classifier, max_weight=self.max_weight, random_state=self.random_state
        )
        y = np.asarray(y_source_val)
        if self.loss == "zero_one":
            losses = (predict_rows(estimator, X_source_val, SOURCE) != y).astype(float)
        else:
            proba = predict_proba_rows(estimator, X_source_val, SOURCE)
            index = np.searchsorted(_classes(_inner(estimator)), y)
            index = np.clip(index, 0, proba.shape[1] - 1)
            losses = -np.log(np.clip(proba[np.arange(len(y)), index], 1e-12, 1.0))
        weighted = w * losses
        variance = np.var(w, ddof=1) if len(w) > 1 else 0.0
        eta = -np.cov(weighted, w, ddof=1)[0, 1] / variance if variance > 0 else 0.0
        risk = weighted.mean() + eta * w.mean() - eta
        return float(-risk)


class ReverseValidator(BaseValidator):
    """Reverse validation (Zhong, Fan, Yang, Verscheure & Ren, 2010, ECML PKDD, §3).

    The fitted model pseudo-labels the target; a fresh copy of the same method (same
    hyper-parameters, ``sklearn.clone``) is trained the other way — the pseudo-labelled target as
    source, the held-out source rows as unlabelled target — and its accuracy on those rows' true
    labels is the score. A good adaptation survives the round trip.
    """

    name = "reverse"

    def score(self, estimator, X_source_val, y_source_val, X_target, y_target=None) -> float:
        _check_source(self, y_source_val)
        pseudo = predict_rows(estimator, X_target, TARGET)
        if len(np.unique(pseudo)) < 2:
            return 0.0
        try:
            reverse = clone(estimator)
        except (TypeError, RuntimeError) as error:
            raise NotApplicableError(
                f"reverse validation re-trains the method, and {type(estimator).__name__} cannot "
                f"be cloned: {error}"
            ) from error
        problem = TransferProblem(X_target, pseudo, X_source_val)
        reverse.fit(problem)
        return float(np.mean(predict_rows(reverse, X_source_val, TARGET) == y_source_val))


class EntropyValidator(BaseValidator):
    """Minus the mean entropy of the target predictions (confident predictions score high).

    Known to favour over-confident models; kept as the simplest baseline.
    """

    name = "entropy"
    needs_source_validation = False

    def score(self, estimator, X_source_val, y_source_val, X_target, y_target=None) -> float:
        return float(-_entropy(predict_proba_rows(estimator, X_target, TARGET)).mean())


class InformationMaximizationValidator(BaseValidator):
    """Mutual information between target inputs and predictions: ``H(mean p) - mean H(p)``.

    Shi & Sha (2012, ICML); the objective SHOT optimises (Liang, Hu & Feng, 2020). Unlike entropy
    alone it penalises collapsing every target sample into one class.
    """

    name = "im"
    needs_source_validation = False

    def score(self, estimator, X_source_val, y_source_val, X_target, y_target=None) -> float:
        p = predict_proba_rows(estimator, X_target, TARGET)
        return float(_entropy(p.mean(axis=0)) - _entropy(p).mean())


class SoftNeighborhoodDensityValidator(BaseValidator):
    """Soft neighbourhood density (SND; Saito, Kim, Teterwak, Sclaroff, Darrell & Saenko, 2021).

    L2-normalised target prediction vectors, pairwise similarities divided by a temperature,
    self-similarity masked, softmax per row; the score is the mean entropy of those rows — high
    when target samples form dense neighbourhoods of consistent predictions.

    Parameters
    ----------
    temperature : float, default 0.05
    max_samples : int, default 3000
        Target rows used (drawn at random beyond this), bounding the n² similarity matrix.
    random_state : int or None
    """

    name = "snd"
    needs_source_validation = False

    def __init__(
        self, temperature: float = 0.05, max_samples: int = 3000, random_state: int | None = 0
    ):
        self.temperature = temperature
        self.max_samples = max_samples
        self.random_state = random_state

    def score(self, estimator, X_source_val, y_source_val, X_target, y_target=None) -> float:
        p = predict_proba_rows(estimator, X_target, TARGET)
        if len(p) > self.max_samples:
            rng = np.random.default_rng(self.random_state)
            p = p[rng.choice(len(p), self.max_samples, replace=False)]
        if len(p) < 2:
            return 0.0
        f = p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12)
        similarity = f @ f.T / self.temperature
        np.fill_diagonal(similarity, -np.inf)
        return float(_entropy(_softmax(similarity)).mean())


class MixValValidator(BaseValidator):
    """Mixed target samples as probes (MixVal; Hu, Liang, Liew, Xue, Bai & Wang, 2023, NeurIPS).

    Each target row is mixed with a randomly paired one, ``ratio * x_a + (1 - ratio) * x_b``
    (``ratio`` in (0.5, 1), so ``x_a`` dominates), and the mixture should keep ``x_a``'s
    predicted label. Pairs with the same predicted label probe the density of the model's target
    clusters, pairs with different labels probe where its boundary lies; the score is the mean of
    the two agreement rates. Target-only and computed in input space, so it scores any model that
    predicts target rows (an adapter maps the mixtures as target rows). A model that predicts one
    class for every target row scores 0 (it has no boundary to probe).

    Parameters
    ----------
    ratio : float, default 0.55
        Weight of the dominant sample, in (0.5, 1).
    n_rounds : int, default 3
        Random pairings averaged.
    random_state : int or None, default 0
    """

    name = "mixval"
    needs_source_validation = False

    def __init__(self, ratio: float = 0.55, n_rounds: int = 3, random_state: int | None = 0):
        self.ratio = ratio
        self.n_rounds = n_rounds
        self.random_state = random_state

    def score(self, estimator, X_source_val, y_source_val, X_target, y_target=None) -> float:
        if not 0.5 < float(self.ratio) < 1.0:
            raise InvalidParameterError(
                f"MixValValidator: ratio={self.ratio!r} must lie strictly between 0.5 and 1 "
                "(the first sample of each pair dominates the mixture)."
            )
        check_positive_int(self.n_rounds, "n_rounds", "MixValValidator")
        predicted = np.asarray(predict_rows(estimator, X_target, TARGET))
        if len(np.unique(predicted)) < 2:
            return 0.0
        rng = np.random.default_rng(self.random_state)
        rates = []
        for _ in range(self.n_rounds):
            partner = rng.permutation(len(predicted))
            mixed = self.ratio * X_target + (1.0 - self.ratio) * X_target[partner]
            kept = np.asarray(predict_rows(estimator, mixed, TARGET)) == predicted
            same = predicted == predicted[partner]
            rates.extend(float(kept[group].mean()) for group in (same, ~same) if group.any())
        return float(np.mean(rates))


class SourceAccuracyValidator(BaseValidator):
    """Plain accuracy on held-out source rows: what you would do ignoring the shift."""

    name = "source_accuracy"

    def score(self, estimator, X_source_val, y_source_val, X_target, y_target=None) -> float:
        _check_source(self, y_source_val)
        return float(np.mean(predict_rows(estimator, X_source_val, SOURCE) == y_source_val))


class TargetAccuracy(BaseValidator):
    """Target accuracy from the target labels: the *oracle*, for evaluating validators only."""

    name = "oracle"
    needs_source_validation = False
    uses_target_labels = True

    def score(self, estimator, X_source_val, y_source_val, X_target, y_target=None) -> float:
        if y_target is None:
            raise NotApplicableError("The oracle needs the target labels; this problem has none.")
        return float(np.mean(predict_rows(estimator, X_target, TARGET) == y_target))


class EnsembleValidator(BaseValidator):
    """Agreement with the ensemble of all candidates (EnsV; Hu, Luo, Liang & Foo, 2024, NeurIPS).

    The mean of every candidate's target probabilities serves as pseudo-labels; a candidate scores
    the share of target rows on which it agrees with them. It needs the whole pool, so it works
    inside :class:`DomainAwareSearchCV` (or on a list of probability matrices with
    :meth:`score_pool`), not as a per-model scorer. The ensemble is rarely worse than its members,
    so the pick avoids the pool's worst cases.
    """

    name = "ensv"
    needs_source_validation = False
    pool = True

    def score_pool(self, probas: Sequence[np.ndarray | None]) -> list[float]:
        """Scores of candidates from their target probabilities (None: failed candidate)."""
        valid = [p for p in probas if p is not None]
        if not valid:
            return [float("nan")] * len(probas)
        consensus = np.mean(valid, axis=0).argmax(axis=1)
        return [
            float("nan") if p is None else float(np.mean(p.argmax(axis=1) == consensus))
            for p in probas
        ]

    def score(self, estimator, X_source_val, y_source_val, X_target, y_target=None) -> float:
        raise NotApplicableError(
            "EnsV scores a candidate against the ensemble of all candidates: use it in "
            "DomainAwareSearchCV(scoring='ensv'), or score_pool on their target probabilities."
        )


class DedupEnsembleValidator(EnsembleValidator):
    """EnsV whose consensus counts near-duplicate candidates as one voter.

    EnsV's consensus is a plain mean over the pool, so the pool's make-up decides it: a grid
    holds several methods that barely move the source classifier (instance weighting, strongly
    regularised alignments, the source-only baseline itself), they agree with each other, and
    together they outvote the candidates that adapt. The consensus then sits near the source
    model and favours its near copies. Here each candidate's weight in the consensus is one over
    the number of candidates (itself included) whose target predictions agree with its own on
    at least ``threshold`` of the rows, so a group of near duplicates weighs about as much as one
    distinct candidate. Scores are, as in EnsV, the share of target rows on which a candidate
    agrees with the weighted consensus.

    Parameters
    ----------
    threshold : float, default 0.8
        Agreement (share of target rows with the same predicted class) from which two candidates
        count as duplicates. 1.0 counts only identical predictions as duplicates (near EnsV).

    Example
    -------
    >>> import numpy as np
    >>> a = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.2, 0.8]])
    >>> b = np.array([[0.9, 0.1], [0.05, 0.95], [0.05, 0.95], [0.2, 0.8]])
    >>> EnsembleValidator().score_pool([a, a, a, b])  # three copies of a outvote b
    [1.0, 1.0, 1.0, 0.5]
    >>> DedupEnsembleValidator().score_pool([a, a, a, b])  # a counted once: b is surer
    [0.5, 0.5, 0.5, 1.0]
    """

    name = "ensv_dedup"

    def __init__(self, threshold: float = 0.8):
        self.threshold = threshold

    def weights(self, probas: Sequence[np.ndarray]) -> np.ndarray:
        """Consensus weights of candidates from their target probabilities (sum to 1)."""
        if not 0.0 < float(self.threshold) <= 1.0:
            raise InvalidParameterError(
                f"DedupEnsembleValidator: threshold={self.threshold!r} must lie in (0, 1] "
                "(a share of target rows on which two candidates predict the same class)."
            )
        predicted = np.stack([p.argmax(axis=1) for p in probas])
        agreement = np.stack([np.mean(predicted == row, axis=1) for row in predicted])
        weights = 1.0 / np.sum(agreement >= float(self.threshold), axis=1)
        return weights / weights.sum()

    def score_pool(self, probas: Sequence[np.ndarray | None]) -> list[float]:
        """Scores of candidates from their target probabilities (None: failed candidate)."""
        valid = [p for p in probas if p is not None]
        if not valid:
            return [float("nan")] * len(probas)
        consensus = np.tensordot(self.weights(valid), np.stack(valid), axes=1).argmax(axis=1)
        return [
            float("nan") if p is None else float(np.mean(p.argmax(axis=1) == consensus))
            for p in probas
        ]


def centred_cosine_neighbors(X: Any, n_neighbors: int, chunk: int = 1024) -> np.ndarray:
    """Indices of each row's ``n_neighbors`` nearest other rows by the cosine of centred rows.

    Rows are centred on their mean before the cosine, so a feature every row shares does not make
    all rows look alike. Sparse input stays sparse: the centred products come from
    ``x.y - x.m - y.m + m.m``. Memory is ``chunk x n_rows`` at a time.

    Example
    -------
    >>> X = np.array([[0.0, 1.0], [0.1, 1.0], [5.0, 0.0], [5.0, 0.2]])
    >>> centred_cosine_neighbors(X, 1).ravel().tolist()
    [1, 0, 3, 2]
    """
    n = _n_rows(X)
    if not 1 <= int(n_neighbors) < n:
        raise InvalidParameterError(
            f"centred_cosine_neighbors: n_neighbors={n_neighbors!r} must lie in [1, {n - 1}] "
            f"(the number of other rows)."
        )
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=float)
        mean = np.asarray(X.mean(axis=0)).ravel()
        along = X @ mean
        squares = np.asarray(X.multiply(X).sum(axis=1)).ravel()
    else:
        X = np.asarray(X, dtype=float)
        mean = X.mean(axis=0)
        along = X @ mean
        squares = np.einsum("ij,ij->i", X, X)
    centre = float(mean @ mean)
    norms = np.sqrt(np.maximum(squares - 2.0 * along + centre, 1e-24))
    out = np.empty((n, int(n_neighbors)), dtype=np.intp)
    for start in range(0, n, chunk):
        rows = slice(start, min(start + chunk, n))
        products = X[rows] @ X.T
        products = products.toarray() if sp.issparse(products) else np.asarray(products)
        cosine = (products - along[rows, None] - along[None, :] + centre) / (
            norms[rows, None] * norms[None, :]
        )
        cosine[np.arange(cosine.shape[0]), np.arange(rows.start, rows.stop)] = -np.inf
        top = np.argpartition(-cosine, int(n_neighbors) - 1, axis=1)[:, : int(n_neighbors)]
        order = np.argsort(-np.take_along_axis(cosine, top, axis=1), axis=1, kind="stable")
        out[rows] = np.take_along_axis(top, order, axis=1)
    return out


class GraphEnsembleValidator(DedupEnsembleValidator):
    """``ensv_dedup`` whose consensus is smoothed over the target's nearest-neighbour graph.

    Target rows close to each other usually share a class (the cluster assumption that
    self-training and label propagation rest on). The de-duplicated consensus of
    :class:`DedupEnsembleValidator` gives pseudo-labels row by row; here they are propagated over
    the graph of each target row's ``n_neighbors`` nearest rows (cosine of centred rows), as in
    Zhou et al. (2004), "Learning with local and global consistency", NIPS:
    ``F <- alpha * mean of the neighbours' F + (1 - alpha) * consensus``, ``n_iter`` times. A
    candidate's own probabilities are propagated in the same way (``propagate_candidates``), and
    it scores the share of target rows on which its propagated label agrees with ``argmax F``. It
    needs the target's features, which :class:`DomainAwareSearchCV` hands to it.

    Parameters
    ----------
    threshold : float, default 0.8
        As in :class:`DedupEnsembleValidator`.
    n_neighbors : int, default 10
    alpha : float, default 0.5
        Weight of the neighbours against the row's own consensus, in [0, 1).
    n_iter : int, default 20
    max_rows : int, default 5000
        Larger targets are scored on this many rows drawn at random (seed 0), which bounds the
        graph's cost.
    propagate_candidates : bool, default True
        Propagate each candidate's own probabilities over the same graph, as the consensus is,
        before comparing its labels with the consensus's. A candidate whose predictions are
        already smooth over the graph (self-training methods such as JDA, whose pseudo-labels
        follow the target's clusters) otherwise agrees with the propagated consensus for that
        smoothness alone; propagated, every candidate is compared on the same footing. False
        compares each candidate's own labels, as this validator did before (docs/benchmarks.md,
        "Propagating each candidate too").

    Example
    -------
    >>> import numpy as np
    >>> X = np.array([[0.0, 1.0], [0.1, 1.0], [0.2, 1.0], [5.0, 0.0], [5.0, 0.2], [5.0, 0.4]])
    >>> def probas(labels):
    ...     return np.where(np.eye(2)[labels] == 1, 0.9, 0.1)
    >>> a = probas([0, 0, 0, 1, 1, 1])  # follows the two clusters of X
    >>> b = probas([0, 1, 0, 1, 1, 1])
    >>> c = probas([0, 1, 0, 1, 0, 1])
    >>> DedupEnsembleValidator(threshold=1.0).score_pool([a, b, c])  # b is the consensus
    [0.8333333333333334, 1.0, 0.8333333333333334]
    >>> GraphEnsembleValidator(threshold=1.0, n_neighbors=2).score_pool([a, b, c], X_target=X)
    [1.0, 0.8333333333333334, 0.6666666666666666]
    """

    name = "ensv_graph"
    uses_target_features = True

    def __init__(
        self,
        threshold: float = 0.8,
        n_neighbors: int = 10,
        alpha: float = 0.5,
        n_iter: int = 20,
        max_rows: int = 5000,
        propagate_candidates: bool = True,
    ):
        super().__init__(threshold)
        self.n_neighbors = n_neighbors
        self.alpha = alpha
        self.n_iter = n_iter
        self.max_rows = max_rows
        self.propagate_candidates = propagate_candidates

    def _check(self, n_rows: int) -> None:
        if not 0.0 <= float(self.alpha) < 1.0:
            raise InvalidParameterError(
                f"GraphEnsembleValidator: alpha={self.alpha!r} must lie in [0, 1) (the weight of "
                "a row's neighbours against its own consensus)."
            )
        for name in ("n_neighbors", "n_iter", "max_rows"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise InvalidParameterError(
                    f"GraphEnsembleValidator: {name}={value!r} must be a positive integer."
                )
        if not isinstance(self.propagate_candidates, bool | np.bool_):
            raise InvalidParameterError(
                f"GraphEnsembleValidator: propagate_candidates={self.propagate_candidates!r} must "
                "be True or False."
            )
        if n_rows < 2:
            raise NotApplicableError(
                f"GraphEnsembleValidator needs at least 2 target rows for a neighbour graph; got "
                f"{n_rows}."
            )

    def score_pool(self, probas: Sequence[np.ndarray | None], X_target: Any = None) -> list[float]:
        """Scores of candidates from their target probabilities (None: failed candidate) and
        the target rows they were computed on."""
        if X_target is None:
            raise InvalidParameterError(
                "GraphEnsembleValidator needs the target's features: score_pool(probas, "
                "X_target=...), or use it in DomainAwareSearchCV(scoring='ensv_graph')."
            )
        valid = [p for p in probas if p is not None]
        if not valid:
            return [float("nan")] * len(probas)
        n_rows = _n_rows(X_target)
        if valid[0].shape[0] != n_rows:
            raise InvalidParameterError(
                f"GraphEnsembleValidator: the probabilities cover {valid[0].shape[0]} rows but "
                f"X_target has {n_rows}."
            )
        self._check(n_rows)
        if not sp.issparse(X_target):
            X_target = None if isinstance(X_target, ImageCollection) else np.asarray(X_target)
            if X_target is None or X_target.dtype.kind not in "biuf":
                warnings.warn(
                    "GraphEnsembleValidator: the target rows are not a numeric feature matrix "
                    f"({'images on disk' if X_target is None else X_target.dtype}), so there is "
                    "no neighbour graph; scoring with the de-duplicated consensus alone, as "
                    "ensv_dedup does.",
                    UserWarning,
                    stacklevel=2,
                )
                return super().score_pool(probas)
            X_target = X_target.reshape(n_rows, -1)  # image arrays: their pixels
        rows = np.arange(n_rows)
        if n_rows > self.max_rows:
            rows = np.sort(np.random.default_rng(0).choice(n_rows, self.max_rows, replace=False))
            X_target = X_target[rows]
        stacked = np.stack(valid)[:, rows]
        consensus = np.tensordot(self.weights(list(stacked)), stacked, axes=1)
        neighbors = centred_cosine_neighbors(X_target, min(self.n_neighbors, len(rows) - 1))
        labels = self._propagate(consensus, neighbors).argmax(axis=1)

        def predicted(p: np.ndarray) -> np.ndarray:
            if self.propagate_candidates:
                return self._propagate(p[rows], neighbors).argmax(axis=1)
            return p[rows].argmax(axis=1)

        return [
            float("nan") if p is None else float(np.mean(predicted(p) == labels)) for p in probas
        ]

    def _propagate(self, probas: np.ndarray, neighbors: np.ndarray) -> np.ndarray:
        """Zhou et al.'s iteration: ``F <- alpha * mean of the neighbours' F + (1 - alpha) *
        probas``, ``n_iter`` times from ``F = probas``."""
        smoothed = probas.copy()
        for _ in range(self.n_iter):
            smoothed = self.alpha * smoothed[neighbors].mean(axis=1) + (1 - self.alpha) * probas
        return smoothed


class SourceGuardedValidator(BaseValidator):
    """A validator that may only pick candidates which stay accurate on the held-out source.

    Target-only validators such as MixVal reward clean target clusters, and a mapping can
    produce those while it wrecks the classes: a 10-component SA on kitchen -> books scores well
    with MixVal and is 49.5 % accurate. Target risk is bounded by source risk plus a divergence
    (Ben-David et al. 2010), so a candidate much worse on the source than the best one is a poor
    bet whatever its target score. Inside :class:`DomainAwareSearchCV` this validator scores each
    candidate with ``base``, then drops the candidates whose held-out source accuracy is more
    than ``tolerance`` below the best candidate's; they get the search's ``error_score``.

    It needs the whole pool, so it works inside :class:`DomainAwareSearchCV` (with source folds),
    not as a per-model scorer. The base may itself score the pool (EnsV, ``ensv_dedup``,
    ``ensv_graph``): its consensus is then formed from every candidate, and only the pick is
    guarded.

    OT mappings (:class:`~transferkit.alignment.OTMapping`) rarely pass: a held-out source row
    moves by its nearest fitted row's displacement, so their held-out source accuracy reflects
    the source's nearest-neighbour structure more than the mapping, and is well below the
    others'. Letting them pass anyway made the picks worse on Amazon reviews and Office
    (docs/benchmarks.md, ``ensv_graph``).

    A small source makes the held-out source accuracies noisy: with 157 source rows (Office
    dslr) at 75 %, a candidate as accurate as the best one falls more than 5 points below it
    about one time in six (independent errors). The guard then widens to the drop that held-out
    accuracies on ``n`` rows cannot tell from noise at the ``confidence`` level,
    ``z * sqrt(2 * p * (1 - p) / n)`` with ``p`` the best candidate's source accuracy and ``z``
    the two-sided normal quantile (1.96 at 0.95), when that is larger than ``tolerance``. From
    768 held-out rows on, the fixed 5 points are the larger. This was a 0.46-point gain on fresh
    Office harness draws (80-200 source rows) in ``docs/benchmarks.md``.

    Parameters
    ----------
    base : str or validator, default "mixval"
        Any validator but another guarded one.
    tolerance : float, default 0.05
        Largest drop in held-out source accuracy below the best candidate's (0.05 = 5 points).
    confidence : float or None, default 0.95
        Widen the tolerance to the noise of the held-out source accuracies at this level (see
        above); None keeps ``tolerance`` whatever the source's size.

    Example
    -------
    >>> guard = SourceGuardedValidator("ensv_graph")
    >>> round(guard.tolerance_for(0.75, 157), 3)  # 157 held-out source rows: 9.6 points
    0.096
    >>> guard.tolerance_for(0.75, 2000)  # 2,000 rows: the fixed 5 points
    0.05
    """

    needs_source_validation = True
    source_guard = True

    def __init__(
        self,
        base: str | BaseValidator = "mixval",
        tolerance: float = 0.05,
        confidence: float | None = 0.95,
    ):
        self.base = base
        self.tolerance = tolerance
        self.confidence = confidence

    @property
    def base_(self) -> BaseValidator:
        base = make_validator(self.base)
        if getattr(base, "source_guard", False):
            raise InvalidParameterError(
                f"SourceGuardedValidator needs a base validator that is not itself guarded; got "
                f"{base!r}."
            )
        return base

    @property
    def pool(self) -> bool:  # type: ignore[override]
        """Whether the base scores the whole pool (then the search calls :meth:`score_pool`)."""
        return bool(getattr(self.base_, "pool", False))

    @property
    def uses_target_features(self) -> bool:
        """Whether the base's pool scores need the target's features."""
        return bool(getattr(self.base_, "uses_target_features", False))

    def score_pool(self, probas: Sequence[np.ndarray | None], X_target: Any = None) -> list[float]:
        """The base's pool scores; the search applies the guard once every candidate is in."""
        if self.uses_target_features:
            return self.base_.score_pool(probas, X_target=X_target)
        return self.base_.score_pool(probas)

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"guarded_{getattr(make_validator(self.base), 'name', 'score')}"

    def check(self) -> None:
        """Raise on a bad base, tolerance or confidence (called once by the search)."""
        _ = self.base_
        self._check_levels()

    def _check_levels(self) -> None:
        if not 0.0 <= float(self.tolerance) <= 1.0:
            raise InvalidParameterError(
                f"SourceGuardedValidator: tolerance={self.tolerance!r} must lie in [0, 1] "
                "(a drop in source accuracy, 0.05 = 5 points)."
            )
        if self.confidence is not None and not 0.0 < float(self.confidence) < 1.0:
            raise InvalidParameterError(
                f"SourceGuardedValidator: confidence={self.confidence!r} must lie in (0, 1) "
                "(e.g. 0.95), or be None for the fixed tolerance."
            )

    def tolerance_for(self, best_accuracy: float, n_rows: int | None) -> float:
        """The drop allowed below ``best_accuracy``, a held-out accuracy on ``n_rows`` source
        rows (None: unknown, the fixed ``tolerance``)."""
        self._check_levels()
        tolerance = float(self.tolerance)
        if self.confidence is None or not n_rows:
            return tolerance
        from scipy.stats import norm

        z = float(norm.ppf(0.5 + float(self.confidence) / 2.0))
        p = min(max(float(best_accuracy), 0.0), 1.0)
        return max(tolerance, z * float(np.sqrt(2.0 * p * (1.0 - p) / int(n_rows))))

    def eligible(
        self, source_accuracy: np.ndarray, scored: np.ndarray, n_rows: int | None = None
    ) -> np.ndarray:
        """Candidates within :meth:`tolerance_for` of the best source accuracy among the
        ``scored``; ``n_rows``: the number of held-out source rows behind the accuracies."""
        source_accuracy = np.asarray(source_accuracy, dtype=float)
        usable = np.asarray(scored, dtype=bool) & np.isfinite(source_accuracy)
        if not usable.any():
            return usable
        best = source_accuracy[usable].max()
        return usable & (source_accuracy >= best - self.tolerance_for(best, n_rows))

    def score(self, estimator, X_source_val, y_source_val, X_target, y_target=None) -> float:
        raise NotApplicableError(
            f"{self.name} compares each candidate's source accuracy with the best candidate's: "
            "use it in DomainAwareSearchCV(scoring=...) with source folds (cv >= 2)."
        )


VALIDATORS: dict[str, Callable[..., BaseValidator]] = {
    "iwcv": ImportanceWeightedValidator,
    "dev": DeepEmbeddedValidator,
    "reverse": ReverseValidator,
    "entropy": EntropyValidator,
    "im": InformationMaximizationValidator,
    "snd": SoftNeighborhoodDensityValidator,
    "mixval": MixValValidator,
    "ensv": EnsembleValidator,
    "ensv_dedup": DedupEnsembleValidator,
    "guarded_mixval": SourceGuardedValidator,
    "guarded_ensv_dedup": functools.partial(SourceGuardedValidator, "ensv_dedup"),
    "ensv_graph": GraphEnsembleValidator,
    "guarded_ensv_graph": functools.partial(SourceGuardedValidator, "ensv_graph"),
    "source_accuracy": SourceAccuracyValidator,
    "oracle": TargetAccuracy,
}

#: Validators a user can run without target labels.
UNSUPERVISED_VALIDATORS = (
    "iwcv",
    "dev",
    "reverse",
    "entropy",
    "im",
    "snd",
    "mixval",
    "ensv",
    "ensv_dedup",
    "guarded_mixval",
    "guarded_ensv_dedup",
    "ensv_graph",
    "guarded_ensv_graph",
    "source_accuracy",
)


def make_validator(validator: str | BaseValidator | Callable[..., float], **params: Any) -> Any:
    """A validator from its name (``"iwcv"``, ``"dev"``, ``"reverse"``, ``"entropy"``, ``"im"``,
    ``"snd"``, ``"source_accuracy"``, or ``"oracle"`` for evaluation); objects pass through.

    Example
    -------
    >>> make_validator("snd", temperature=0.1).temperature
    0.1
    """
    if not isinstance(validator, str):
        return validator
    if validator not in VALIDATORS:
        raise InvalidParameterError(
            f"Unknown validator {validator!r}. Known validators: {', '.join(VALIDATORS)}."
        )
    try:
        return VALIDATORS[validator](**params)
    except TypeError as error:
        raise InvalidParameterError(
            f"Bad parameters for validator {validator!r}: {error}"
        ) from error


# --------------------------------------------------------------------------- scikit-learn glue
class SourceFolds:
    """A CV splitter for stacked rows: folds of the source, every target row in every split.

    Pass ``groups=domain`` (0 source, 1 target) to ``split`` — ``GridSearchCV.fit(X, y,
    groups=domain, domain=domain)`` does. Each training set is the source minus one fold plus all
    target rows (unlabelled); each validation set is that source fold plus all target rows, so the
    validators see both.

    Example
    -------
    >>> domain = np.array([0, 0, 0, 0, 1, 1])
    >>> splits = SourceFolds(2, random_state=0).split(np.zeros(6), None, domain)
    >>> [(a.tolist(), b.tolist()) for a, b in splits]
    [([1, 3, 4, 5], [0, 2, 4, 5]), ([0, 2, 4, 5], [1, 3, 4, 5])]
    """

    def __init__(self, n_splits: int = 3, shuffle: bool = True, random_state: int | None = None):
        self.n_splits = n_splits
        self.shuffle = shuffle
        self.random_state = random_state

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return self.n_splits

    def split(self, X: Any, y: Any = None, groups: Any = None):
        if groups is None:
            raise InvalidParameterError(
                "SourceFolds needs groups=domain (0 for source rows, 1 for target rows)."
            )
        domain = np.asarray(groups)
        source = np.flatnonzero(domain == SOURCE)
        target = np.flatnonzero(domain == TARGET)
        rng = np.random.default_rng(self.random_state)
        order = rng.permutation(source) if self.shuffle else source
        for fold in np.array_split(order, self.n_splits):
            train = np.sort(np.concatenate([np.setdiff1d(source, fold), target]))
            test = np.sort(np.concatenate([fold, target]))
            yield train, test


class RegisteredMethod(ClassifierMixin, BaseEstimator):
    """A registered method as a plain scikit-learn estimator, so ``GridSearchCV`` can search
    over method names: ``param_grid = [{"method": ["coral"], "params": [{"regularization": 1}]}]``.

    Parameters
    ----------
    method : str, default "source_only"
    params : dict or None
    classifier : str, dict or estimator, default "logreg"
    random_state : int or None
    """

    def __init__(
        self,
        method: str = "source_only",
        params: dict[str, Any] | None = None,
        classifier: Any = "logreg",
        random_state: int | None = None,
    ):
        self.method = method
        self.params = params
        self.classifier = classifier
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None, domain: Any = None) -> RegisteredMethod:
        problem = as_problem(X, y, domain)
        classifier = self.classifier
        if hasattr(classifier, "fit"):
            classifier = clone(classifier)
        self.method_ = make_method(self.method, self.params, classifier, self.random_state)
        self.method_.fit(problem)
        self.classes_ = getattr(self.method_, "classes_", problem.source_classes)
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "method_")
        return self.method_.predict(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "method_")
        return predict_proba_rows(self.method_, X, TARGET)

    def transform(self, X: Any, domain: Any = None) -> Any:
        check_is_fitted(self, "method_")
        code = TARGET if domain is None else int(np.asarray(domain).flat[0])
        return representation(self.method_, X, code)


# --------------------------------------------------------------------------- the search
def _expand(candidates: Any) -> list[tuple[Any, dict[str, Any]]]:
    """(method name or estimator, params) for every grid point of every candidate."""
    if isinstance(candidates, Mapping):
        items: Iterable = candidates.items()
    elif isinstance(candidates, str):
        items = [(candidates, {})]
    else:
        items = [
            (c, {}) if isinstance(c, str) or hasattr(c, "fit") else tuple(c) for c in candidates
        ]
    out = []
    for method, grid in items:
        if not (isinstance(method, str) or hasattr(method, "fit")):
            raise InvalidParameterError(
                f"A candidate must be a registered method name or an estimator; got {method!r}."
            )
        grids = grid if isinstance(grid, list) else [grid or {}]
        for g in grids:
            g = {k: (v if isinstance(v, list | tuple | np.ndarray) else [v]) for k, v in g.items()}
            for params in ParameterGrid(g) if g else [{}]:
                out.append((method, dict(params)))
    if not out:
        raise InvalidParameterError("DomainAwareSearchCV got no candidates.")
    return out


def _label(method: Any) -> str:
    return method if isinstance(method, str) else type(method).__name__


class DomainAwareSearchCV(ClassifierMixin, BaseEstimator):
    """Search over methods and hyper-parameters, scored without target labels.

    For each candidate (a registered method name with a parameter grid, or an estimator with
    one), the method is trained on each source fold *plus the whole unlabelled target* (and any
    visible target labels), and scored by each validator on the held-out source fold and the
    target. The candidate with the best mean score of the ``refit`` validator is trained again on
    the whole problem.

    Parameters
    ----------
    candidates : dict or list
        ``{"coral": {"regularization": [0.1, 1, 10]}, "sa": {...}, "source_only": {}}``, or a list
        of names, of ``(name or estimator, grid)`` pairs; a grid is a dict of lists or a list of
        such dicts (as in ``GridSearchCV``). Parameters of an estimator candidate are set with
        ``set_params``.
    scoring : str, validator, or list / dict of them, default "guarded_ensv_graph"
        Validators (see :data:`VALIDATORS`); a list scores with all of them. The default,
        :class:`GraphEnsembleValidator` among the candidates within 5 points of the best held-out
        source accuracy (more on a small source, see :class:`SourceGuardedValidator`), came
        closest to the oracle's pick on average in ``docs/benchmarks.md`` (on runs it was not
        chosen on, too); it needs source folds. ``"ensv"`` is the fastest
        good choice: it needs none (``cv=None``), so each candidate is trained once.
    refit : bool or str, default True
        Which validator picks the best candidate (True: the first); False keeps only the scores.
    cv : "auto", int, float or None, default "auto"
        Source folds (int >= 2), the held-out share of one stratified split (float), or None to
        train on the whole source (target-only validators: entropy, im, snd, mixval, ensv,
        ensv_dedup, ensv_graph). ``auto``: None when every validator is target-only, else 3 folds.
    classifier : str, dict or estimator, default "logreg"
        The classifier behind each registered method (see ``transferkit.registry``).
    error_score : float, default nan
        Score of a candidate that fails to fit or score (the error is kept in ``cv_results_``).
        A candidate whose target predictions collapse (see
        :func:`transferkit.base.collapsed_prediction`: 90 % of the target rows in one or a few
        classes that make at most half of the source labels) gets it too, with an ``error`` that
        starts with "degenerate:": no validator can pick it.
    n_jobs : int or None
        Candidates trained in parallel (joblib).
    random_state : int or None
    progress : callable(done, total) or None
        Called after each candidate (the CLI passes a progress bar).

    Attributes
    ----------
    cv_results_ : dict of lists
        ``method``, ``params``, ``mean_<validator>``, ``std_<validator>``, ``rank_<validator>``,
        ``mean_fit_time``, ``error``; with a source-guarded validator also
        ``guard_source_accuracy`` (each candidate's mean held-out source accuracy).
    guards_ : dict
        For each source-guarded validator, what it let through: ``tolerance`` (the drop it
        allowed, wider on a small source), ``best_source_accuracy``, ``held_out_source_rows``
        (the distinct source rows behind ``guard_source_accuracy``) and ``kept`` (candidates);
        empty without a guard.
    best_index_, best_method_, best_params_, best_score_, best_estimator_

    Example
    -------
    >>> from transferkit.datasets import make_shifted_blobs
    >>> problem = make_shifted_blobs(covariate_shift=1.0, random_state=0)
    >>> search = DomainAwareSearchCV({"coral": {"regularization": [0.1, 1.0]}}, cv=2)
    >>> sorted(search.fit(problem).best_params_)
    ['regularization']
    """

    def __init__(
        self,
        candidates: Any,
        scoring: Any = "guarded_ensv_graph",
        refit: bool | str = True,
        cv: int | float | str | None = "auto",
        classifier: Any = "logreg",
        error_score: float = np.nan,
        n_jobs: int | None = None,
        random_state: int | None = None,
        progress: Callable[[int, int], None] | None = None,
    ):
        self.candidates = candidates
        self.scoring = scoring
        self.refit = refit
        self.cv = cv
        self.classifier = classifier
        self.error_score = error_score
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.progress = progress

    # -- helpers
    def _validators(self) -> dict[str, Any]:
        scoring = self.scoring
        if not isinstance(scoring, Mapping | list | tuple):
            scoring = [scoring]
        if isinstance(scoring, Mapping):
            return {str(k): make_validator(v) for k, v in scoring.items()}
        out = {}
        for v in scoring:
            validator = make_validator(v)
            out[getattr(validator, "name", None) or getattr(v, "__name__", "score")] = validator
        return out

    def _cv(self, validators: dict[str, Any]) -> int | float | None:
        if self.cv != "auto":
            return self.cv
        needs = any(getattr(v, "needs_source_validation", True) for v in validators.values())
        return 3 if needs else None

    def _splits(
        self, problem: TransferProblem, cv: int | float | None
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        n = problem.n_source
        codes = problem.encode_labels(problem.y_source)
        if cv is None:
            return [(np.arange(n), np.arange(0))]
        if isinstance(cv, float):
            if not 0 < cv < 1:
                raise InvalidParameterError(f"cv as a fraction must be in (0, 1); got {cv}.")
            stratify = codes if np.bincount(codes).min() >= 2 else None
            train, val = train_test_split(
                np.arange(n), test_size=cv, random_state=self.random_state, stratify=stratify
            )
            return [(np.sort(train), np.sort(val))]
        if not isinstance(cv, int | np.integer) or int(cv) < 2:
            raise InvalidParameterError(
                f"cv must be 'auto', an int >= 2, a fraction, or None; got {cv!r}."
            )
        smallest = int(np.bincount(codes).min())
        folds = StratifiedKFold(
            max(2, min(int(cv), smallest)), shuffle=True, random_state=self.random_state
        )
        return [(np.sort(a), np.sort(b)) for a, b in folds.split(np.zeros(n), codes)]

    def _build(self, method: Any, params: dict[str, Any]) -> Any:
        if isinstance(method, str):
            classifier = (
                clone(self.classifier) if hasattr(self.classifier, "fit") else self.classifier
            )
            return make_method(method, params, classifier, self.random_state)
        return clone(method).set_params(**params)

    def _evaluate(
        self, method: Any, params: dict[str, Any], problem: TransferProblem, splits, validators
    ):
        scores = {name: [] for name in validators}
        fit_times = []
        error = ""
        y_eval = problem.y_target
        pooled = any(getattr(v, "pool", False) for v in validators.values())
        guarded = any(getattr(v, "source_guard", False) for v in validators.values())
        probas: list[np.ndarray | None] = []
        source_accuracy: list[float] = []  # per fold, for source-guarded validators
        for train, val in splits:
            fold_problem = (
                problem
                if len(val) == 0 and len(train) == problem.n_source
                else replace(
                    problem, X_source=problem.X_source[train], y_source=problem.y_source[train]
                )
            )
            start = time.perf_counter()
            try:
                with warnings.catch_warnings():  # recorded below as the candidate's error
                    warnings.simplefilter("ignore", DegenerateResultWarning)
                    model = self._build(method, params).fit(fold_problem)
            except (
                TransferKitError,
                ValueError,
                np.linalg.LinAlgError,
                RuntimeError,
                MemoryError,
            ) as exc:
                error = f"fit failed: {type(exc).__name__}: {exc}"
                logger.info("candidate %s %s failed: %s", _label(method), params, error)
                for name in validators:
                    scores[name].append(self.error_score)
                probas.append(None)
                source_accuracy.append(float("nan"))
                continue
            fit_times.append(time.perf_counter() - start)
            collapse = self._collapse(model, problem)
            if collapse is not None:  # a degenerate candidate is never picked, by any validator
                error = f"degenerate: {collapse}"
                for name in validators:
                    scores[name].append(self.error_score)
                probas.append(None)
                source_accuracy.append(float("nan"))
                continue
            Xv, yv = problem.X_source[val], problem.y_source[val]
            if pooled:
                probas.append(self._aligned_target_proba(model, problem))
            if guarded:
                try:
                    source_accuracy.append(float(np.mean(predict_rows(model, Xv, SOURCE) == yv)))
                except (TransferKitError, ValueError, RuntimeError) as exc:
                    error = error or f"source accuracy failed: {type(exc).__name__}: {exc}"
                    source_accuracy.append(float("nan"))
            for name, validator in validators.items():
                if getattr(validator, "pool", False):
                    scores[name].append(float("nan"))  # filled in once every candidate is fitted
                    continue
                if getattr(validator, "source_guard", False):
                    validator = validator.base_  # its guard is applied once all are scored
                try:
                    if isinstance(validator, BaseValidator):
                        value = validator.score(
                            model,
                            Xv,
                            yv,
                            problem.X_target,
                            y_eval if getattr(validator, "uses_target_labels", False) else None,
                        )
                    else:  # a plain sklearn-style scorer on stacked rows
                        X = stack_rows(Xv, problem.X_target, dtype=None)
                        y = np.concatenate([yv, np.full(problem.n_target, UNLABELED)])
                        value = validator(model, X, y)
                except (TransferKitError, ValueError, np.linalg.LinAlgError, RuntimeError) as exc:
                    error = error or f"{name} failed: {type(exc).__name__}: {exc}"
                    value = self.error_score
                scores[name].append(float(value))
        fit_time = float(np.mean(fit_times)) if fit_times else float("nan")
        return scores, fit_time, error, probas, source_accuracy

    @staticmethod
    def _collapse(model: Any, problem: TransferProblem) -> str | None:
        """Why the candidate's target predictions are degenerate (see
        :func:`transferkit.base.collapsed_prediction`), or None; the verdict the model recorded
        at fit time (``collapse_``) when it has one."""
        inner = _inner(model)
        if hasattr(inner, "collapse_"):
            return inner.collapse_
        try:
            predicted = predict_rows(model, problem.X_target, TARGET)
        except (TransferKitError, ValueError, AttributeError, RuntimeError):
            return None
        return collapsed_prediction(predicted, problem.y_source)

    @staticmethod
    def _aligned_target_proba(model: Any, problem: TransferProblem) -> np.ndarray | None:
        try:
            proba = predict_proba_rows(model, problem.X_target, TARGET)
        except (TransferKitError, ValueError, AttributeError, RuntimeError):
            return None
        classes = problem.source_classes
        model_classes = _classes(_inner(model))
        if len(model_classes) == proba.shape[1] and not np.array_equal(model_classes, classes):
            out = np.zeros((proba.shape[0], len(classes)))
            index = np.searchsorted(classes, model_classes)
            ok = (index < len(classes)) & (
                classes[np.minimum(index, len(classes) - 1)] == model_classes
            )
            out[:, index[ok]] = proba[:, ok]
            return out
        return proba if proba.shape[1] == len(classes) else None

    # -- fit
    def fit(self, X: Any, y: Any = None, domain: Any = None) -> DomainAwareSearchCV:
        problem = as_problem(X, y, domain)
        validators = self._validators()
        cv = self._cv(validators)
        if cv is None:
            needing = [
                n for n, v in validators.items() if getattr(v, "needs_source_validation", False)
            ]
            if needing:
                raise InvalidParameterError(
                    f"Validators {needing} score held-out source rows; give cv (folds or a "
                    "fraction) instead of None."
                )
        for validator in validators.values():
            if getattr(validator, "source_guard", False):
                validator.check()
        refit_name = None
        if self.refit:
            refit_name = next(iter(validators)) if self.refit is True else self.refit
            if refit_name not in validators:
                raise InvalidParameterError(
                    f"refit={self.refit!r} names no validator; scoring has {list(validators)}."
                )
        configs = _expand(self.candidates)
        from transferkit.registry import method_spec

        for name in {m for m, _ in configs if isinstance(m, str)}:
            method_spec(name)  # unknown names fail now, not once per candidate
        splits = self._splits(problem, cv)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            if self.n_jobs not in (None, 1):
                from joblib import Parallel, delayed

                outcomes = Parallel(n_jobs=self.n_jobs)(
                    delayed(self._evaluate)(m, p, problem, splits, validators) for m, p in configs
                )
                if self.progress is not None:
                    self.progress(len(configs), len(configs))
            else:
                outcomes = []
                for i, (m, p) in enumerate(configs):
                    outcomes.append(self._evaluate(m, p, problem, splits, validators))
                    if self.progress is not None:
                        self.progress(i + 1, len(configs))
        for name, validator in validators.items():
            if getattr(validator, "pool", False):
                for fold in range(len(splits)):
                    pool = [o[3][fold] for o in outcomes]
                    if getattr(validator, "uses_target_features", False):
                        pool_scores = validator.score_pool(pool, X_target=problem.X_target)
                    else:
                        pool_scores = validator.score_pool(pool)
                    for o, value in zip(outcomes, pool_scores, strict=True):
                        o[0][name][fold] = value if np.isfinite(value) else self.error_score
        results: dict[str, list[Any]] = {
            "method": [_label(m) for m, _ in configs],
            "params": [p for _, p in configs],
            "mean_fit_time": [o[1] for o in outcomes],
            "error": [o[2] for o in outcomes],
        }
        guards = [v for v in validators.values() if getattr(v, "source_guard", False)]
        if guards:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", category=RuntimeWarning)
                guard_accuracy = np.array([np.nanmean(o[4]) for o in outcomes], dtype=float)
            results["guard_source_accuracy"] = guard_accuracy.tolist()
            # the guard's accuracies rest on every distinct held-out source row
            held_out = int(np.unique(np.concatenate([val for _, val in splits])).size)
        guard_reports: dict[str, dict[str, Any]] = {}
        for name, validator in validators.items():
            per_fold = np.array([o[0][name] for o in outcomes], dtype=float)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", category=RuntimeWarning)
                mean = np.nanmean(np.where(np.isfinite(per_fold), per_fold, np.nan), axis=1)
                std = np.nanstd(np.where(np.isfinite(per_fold), per_fold, np.nan), axis=1)
            # a candidate failing on any fold keeps error_score (nan ranks last)
            failed = ~np.isfinite(per_fold).all(axis=1)
            mean = np.where(failed, self.error_score, mean)
            if getattr(validator, "source_guard", False):
                keep = validator.eligible(guard_accuracy, ~failed & np.isfinite(mean), held_out)
                mean = np.where(keep, mean, self.error_score)
                best = float(guard_accuracy[keep].max()) if keep.any() else float("nan")
                guard_reports[name] = {
                    "tolerance": validator.tolerance_for(best, held_out) if keep.any() else None,
                    "best_source_accuracy": best if keep.any() else None,
                    "held_out_source_rows": held_out,
                    "kept": int(keep.sum()),
                }
            results[f"mean_{name}"] = mean.tolist()
            results[f"std_{name}"] = std.tolist()
            order = np.argsort(-np.where(np.isfinite(mean), mean, -np.inf), kind="stable")
            rank = np.empty(len(mean), dtype=int)
            rank[order] = np.arange(1, len(mean) + 1)
            results[f"rank_{name}"] = rank.tolist()
        self.cv_results_ = results
        self.n_splits_ = len(splits)
        self.guards_ = guard_reports
        self.validators_ = validators
        if refit_name is None:
            return self
        mean = np.asarray(results[f"mean_{refit_name}"], dtype=float)
        if not np.isfinite(mean).any():
            errors = "; ".join(e for e in results["error"] if e)[:500]
            raise NotApplicableError(
                f"Every candidate failed to fit or score with {refit_name!r}: {errors}"
            )
        self.best_index_ = int(np.nanargmax(np.where(np.isfinite(mean), mean, -np.inf)))
        method, params = configs[self.best_index_]
        self.best_method_ = _label(method)
        self.best_params_ = params
        self.best_score_ = float(mean[self.best_index_])
        self.best_estimator_ = self._build(method, params).fit(problem)
        self.classes_ = getattr(self.best_estimator_, "classes_", problem.source_classes)
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "best_estimator_")
        return predict_proba_rows(self.best_estimator_, X, TARGET)

    def results_table(self, k: int | None = None) -> list[dict[str, Any]]:
        """cv_results_ as rows sorted by the refit validator (or the first), best first."""
        check_is_fitted(self, "cv_results_")
        key = next(iter(self.validators_)) if self.refit in (True, False) else self.refit
        rows = [
            {
                "method": self.cv_results_["method"][i],
                "params": self.cv_results_["params"][i],
                **{name: self.cv_results_[f"mean_{name}"][i] for name in self.validators_},
                "fit_time": self.cv_results_["mean_fit_time"][i],
                "error": self.cv_results_["error"][i],
            }
            for i in range(len(self.cv_results_["method"]))
        ]
        rows.sort(key=lambda r: -r[key] if np.isfinite(r[key]) else np.inf)
        return rows[:k] if k else rows


# --------------------------------------------------------------------------- default grids
#: Hyper-parameter grids for the shallow methods (each method's own defaults are added as ``{}``).
DEFAULT_GRIDS: dict[str, dict[str, list[Any]] | list[dict[str, list[Any]]]] = {
    "source_only": {},
    "coral": {"regularization": [0.1, 10.0]},
    "sa": {"n_components": [10, 40]},
    "tca": [{"n_components": [20]}, {"mu": [10.0]}],
    "jda": {"regularization": [0.1, 10.0]},
    "ot": [
        {"method": ["sinkhorn"], "reg_e": [0.1, 10.0]},
        {"method": ["lpl1"], "reg_e": [2.0], "reg_cl": [0.1, 1.0]},
    ],
    "density_ratio": {"max_weight": [5.0, 100.0]},
    "kmm": {"B": [10.0]},
    "kliep": {},
    "msda": {"noise": [0.3, 0.7]},
}


def default_candidates(
    methods: Sequence[str] | None = None, n_features: int | None = None, sparse: bool = False
) -> list[tuple[str, list[dict[str, list[Any]]]]]:
    """Candidates for :class:`DomainAwareSearchCV`: each method's defaults plus its grid.

    ``n_features`` drops subspace sizes that do not fit; mSDA is kept for sparse data only.
    """
    from transferkit.registry import available_methods

    known = available_methods()
    names = list(methods) if methods is not None else [m for m in DEFAULT_GRIDS if m in known]
    out = []
    for name in names:
        if name not in known:
            raise InvalidParameterError(
                f"Unknown method '{name}'. Known methods: {', '.join(known)}."
            )
        if name == "msda" and not sparse and methods is None:
            continue
        grid = DEFAULT_GRIDS.get(name, {})
        grids = grid if isinstance(grid, list) else [grid]
        cleaned = []
        for g in grids:
            g = dict(g)
            if n_features is not None and "n_components" in g:
                g["n_components"] = [c for c in g["n_components"] if c < n_features] or [
                    max(1, n_features // 2)
                ]
            if g:
                cleaned.append(g)
        out.append((name, [{}] + cleaned))
    return out
