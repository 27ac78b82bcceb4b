"""Validators that score one fitted model without target labels; higher is better.

================== ============================================================== ==============
name               what it measures                                               paper
================== ============================================================== ==============
``iwcv``           source-validation accuracy weighted by p_t(x)/p_s(x), the      Sugiyama et al.
                   density ratio of a domain classifier on the inputs             2007
``dev``            importance-weighted validation loss on the model's own         You et al. 2019
                   representation, with a control variate that cuts its variance
``reverse``        train the same method back from the pseudo-labelled target to  Zhong et al.
                   the source, score it on the held-out source labels             2010
``entropy``        minus the mean entropy of the target predictions               Grandvalet &
                                                                                  Bengio 2005
``im``             information maximisation: H(mean p) - mean H(p) on the target  Shi & Sha 2012
``snd``            soft neighbourhood density of the target predictions           Saito et al.
                                                                                  2021
``mixval``         do mixtures of two target rows keep the dominant row's label?  Hu et al. 2023
``source_accuracy`` plain accuracy on held-out source rows (the naive baseline)   —
================== ============================================================== ==============

Every validator is a scikit-learn scorer: ``validator(estimator, X, y)`` on *stacked* rows, where
``y == -1`` marks unlabelled target rows and the other rows are held-out labelled source rows (the
layout :class:`~transferkit.selection.SourceFolds` produces for ``GridSearchCV``);
``validator.score(estimator, X_source_val, y_source_val, X_target)`` is the explicit form.

Examples
--------
>>> from transferkit.datasets import make_shifted_blobs
>>> from transferkit.registry import make_method
>>> problem = make_shifted_blobs(covariate_shift=1.0, random_state=0)
>>> model = make_method("coral", random_state=0).fit(problem)
>>> 0.0 <= InformationMaximizationValidator().score(model, None, None, problem.X_target)
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone

from transferkit.checks import check_positive_int
from transferkit.exceptions import InvalidParameterError, NotApplicableError
from transferkit.problem import SOURCE, TARGET, UNLABELED, TransferProblem
from transferkit.selection.access import (
    model_classes,
    predict_proba_rows,
    predict_rows,
    representation,
    softmax,
    unwrap_method,
)
from transferkit.selection.density import density_ratio

__all__ = [
    "SINGLE_MODEL_VALIDATORS",
    "BaseValidator",
    "DeepEmbeddedValidator",
    "EntropyValidator",
    "ImportanceWeightedValidator",
    "InformationMaximizationValidator",
    "MixValValidator",
    "ReverseValidator",
    "SoftNeighborhoodDensityValidator",
    "SourceAccuracyValidator",
    "validator_from",
]


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
            index = np.searchsorted(model_classes(unwrap_method(estimator)), y)
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
        return float(_entropy(softmax(similarity)).mean())


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


#: The validators above by name.
SINGLE_MODEL_VALIDATORS: dict[str, Callable[..., BaseValidator]] = {
    "iwcv": ImportanceWeightedValidator,
    "dev": DeepEmbeddedValidator,
    "reverse": ReverseValidator,
    "entropy": EntropyValidator,
    "im": InformationMaximizationValidator,
    "snd": SoftNeighborhoodDensityValidator,
    "mixval": MixValValidator,
    "source_accuracy": SourceAccuracyValidator,
}


def validator_from(
    validator: str | BaseValidator | Callable[..., float],
    names: Mapping[str, Callable[..., Any]],
    **params: Any,
) -> Any:
    """The validator ``names[validator](**params)``; a validator object passes through.

    Parameters
    ----------
    validator : str, validator or scorer
        A name in ``names``, or an object returned as it is.
    names : mapping of str to callable
        The names a caller accepts and the factories behind them.
    **params
        Passed to the factory.

    Examples
    --------
    >>> validator_from("snd", SINGLE_MODEL_VALIDATORS, temperature=0.1).temperature
    0.1
    """
    if not isinstance(validator, str):
        return validator
    if validator not in names:
        raise InvalidParameterError(
            f"Unknown validator {validator!r}. Known validators: {', '.join(names)}."
        )
    try:
        return names[validator](**params)
    except TypeError as error:
        raise InvalidParameterError(
            f"Bad parameters for validator {validator!r}: {error}"
        ) from error
