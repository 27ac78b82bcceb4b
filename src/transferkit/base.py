"""The shapes every shallow method takes: adapters, re-weighters, and the classifier that joins them.

Two calling conventions work everywhere:

* ``method.fit(problem)`` with a :class:`~transferkit.problem.TransferProblem`;
* ``method.fit(X, y, domain=domain)`` with source and target rows stacked, ``y`` = -1 for unlabelled
  rows and ``domain`` = 0 (source) / 1 (target) per row, as ``TransferProblem.stacked()`` returns.
  Without ``domain``, rows with ``y == -1`` are the target (the one convention, documented in
  :mod:`transferkit.problem`). ``y`` keeps the user's labels, so ``classes_`` do too.

An *adapter* maps both domains into a space where they look alike (CORAL, SA, TCA, ...). At
``transform`` time rows are taken as **target** rows unless ``domain`` says otherwise, because after
fitting one predicts on target data. A *re-weighter* learns a weight per source sample
(``weights_``), fed to any classifier that accepts ``sample_weight``.
:class:`AdaptedClassifier` puts an adapter or a re-weighter in front of any scikit-learn classifier;
:func:`make_da_pipeline` builds a scikit-learn ``Pipeline`` of any steps (scalers, adapters, a
re-weighter, a classifier) that routes ``domain`` to every step and trains the classifier on the
labelled rows only. A plain ``sklearn.pipeline.Pipeline`` cannot drop the unlabelled rows, so an
adapter's ``fit_transform`` refuses them there rather than let a classifier learn -1 as a class.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.utils.validation import check_is_fitted

from transferkit.exceptions import (
    DegenerateResultWarning,
    FeatureSpaceMismatchError,
    InvalidParameterError,
    NotApplicableError,
)
from transferkit.problem import (
    SOURCE,
    TARGET,
    DataMatrix,
    ImageCollection,
    TransferProblem,
    as_problem,
    check_data_matrix,
    infer_domain,
    unlabeled_rows,
)


def check_features(problem: TransferProblem, who: str) -> None:
    """Raise a clear error when a method that needs feature matrices is given images."""
    shape = problem.feature_shape
    if problem.is_images or len(shape) > 1:
        kind = "an ImageCollection" if problem.is_images else f"an array of {shape} images"
        raise NotApplicableError(
            f"{who} works on feature matrices, and this problem's rows are images "
            f"({kind}). Use a deep method (transferkit.deep: finetune, dann, ...), or "
            "extract features first (the office-caltech-cnn suite, transferkit.deep's feature "
            "extractors; folders of images on the command line: a --backbone other than none)."
        )


def check_rows(estimator: Any, X: Any) -> DataMatrix:
    """The rows given to a fitted ``estimator``'s ``transform``/``predict``, validated: fitted
    first (sklearn's ``NotFittedError``), then 2-D finite numbers with the number of features
    it was fitted on. Sparse rows stay sparse; image collections pass as they are."""
    check_is_fitted(estimator, "n_features_in_")
    if isinstance(X, ImageCollection):
        return X
    X = check_data_matrix(X, "X")
    n_features = int(np.prod(X.shape[1:]))
    expected = estimator.n_features_in_
    if expected is not None and n_features != expected:
        raise FeatureSpaceMismatchError(
            f"X has {n_features} features, but {type(estimator).__name__} is expecting "
            f"{expected} features as input (the number it was fitted with). Give rows of the "
            "fitted feature space (the same columns, after the same preprocessing)."
        )
    return X


class BaseAdapter(TransformerMixin, BaseEstimator):
    """Base class of feature-space adapters. Subclasses implement ``_fit`` and ``_transform``."""

    #: Whether the adapter needs some labelled target samples (e.g. feature augmentation).
    needs_target_labels: bool = False
    #: Whether the adapter's math keeps scipy sparse input sparse (else it is densified).
    accepts_sparse: bool = False

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # sparse rows are kept sparse, or densified with a warning
        return tags

    def fit(self, X: Any, y: Any = None, domain: Any = None) -> BaseAdapter:
        """Learn the adaptation from a problem, or from stacked ``(X, y, domain)``."""
        problem = as_problem(X, y, domain)
        check_features(problem, type(self).__name__)
        if self.needs_target_labels and problem.n_target_labeled == 0:
            raise NotApplicableError(
                f"{type(self).__name__} needs a few labelled target samples and the problem has "
                "none; mark some with TransferProblem(target_labeled=...) or "
                "problem.with_target_labels(n_per_class)."
            )
        self.n_features_in_ = problem.n_features
        self.classes_ = problem.classes
        self._fit(problem)
        return self

    def transform(self, X: DataMatrix, domain: Any = None) -> DataMatrix:
        """Map rows into the adapted space; rows are target rows unless ``domain`` says source."""
        X = check_rows(self, X)
        if domain is None:
            return self._transform(X, TARGET)
        domain = np.asarray(domain)
        if np.all(domain == domain.flat[0]):
            return self._transform(X, int(domain.flat[0]))
        parts = {}
        for code in (SOURCE, TARGET):
            index = np.flatnonzero(domain == code)
            if len(index):
                parts[code] = (index, self._transform(X[index], code))
        return _reassemble(parts, len(domain))

    def fit_transform(self, X: Any, y: Any = None, domain: Any = None, **_: Any) -> DataMatrix:
        """Fit, then map the same rows (each with its own domain).

        Refused when ``y`` marks unlabelled rows (-1): whatever comes next gets the rows with
        their -1 labels, and in a scikit-learn ``Pipeline`` the classifier would learn -1 as a
        class. Compose with :func:`make_da_pipeline` or :class:`AdaptedClassifier`, or call
        ``fit(X, y, domain).transform(X, domain)`` for the features alone.
        """
        if isinstance(X, TransferProblem):
            self.fit(X)
            X, _, domain = X.stacked()
            return self.transform(X, domain)
        refuse_passing_unlabelled_rows(self, y)
        return self.fit(X, y, domain).transform(X, domain)

    # -- to override
    def _fit(self, problem: TransferProblem) -> None:
        raise NotImplementedError

    def _transform(self, X: DataMatrix, domain: int) -> DataMatrix:
        raise NotImplementedError


class BaseReweighter(TransformerMixin, BaseEstimator):
    """Base class of instance re-weighting methods for covariate shift.

    After ``fit``, ``weights_`` holds one non-negative weight per source sample, mean 1.
    Subclasses implement ``_fit_weights(problem) -> array``.
    """

    needs_target_labels: bool = False
    accepts_sparse: bool = False

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # sparse rows are kept sparse, or densified with a warning
        return tags

    def fit(self, X: Any, y: Any = None, domain: Any = None) -> BaseReweighter:
        problem = as_problem(X, y, domain)
        check_features(problem, type(self).__name__)
        weights = np.asarray(self._fit_weights(problem), dtype=float)
        weights = np.clip(weights, 0.0, None)
        total = weights.sum()
        if not np.isfinite(total) or total <= 0:
            raise NotApplicableError(
                f"{type(self).__name__} produced degenerate weights (all zero or not finite); "
                "the domains may not overlap at all. Try a wider kernel or a plain adapter."
            )
        self.weights_ = weights * (len(weights) / total)
        self.n_features_in_ = problem.n_features
        return self

    def transform(self, X: DataMatrix, domain: Any = None) -> DataMatrix:
        """The rows unchanged: a re-weighter changes how much source rows count, not features.

        It lets a re-weighter sit in :func:`make_da_pipeline`, which hands ``weights_`` to the
        final classifier as ``sample_weight``.
        """
        return check_rows(self, X)

    def fit_transform(self, X: Any, y: Any = None, domain: Any = None, **_: Any) -> DataMatrix:
        """Fit, then return the rows unchanged.

        Refused when there are target rows: the weights are the whole result and nothing after
        this call would see them (a classifier in a scikit-learn ``Pipeline`` would train
        unweighted, on the target rows too). Use :func:`make_da_pipeline` or
        :class:`AdaptedClassifier`.
        """
        refuse_passing_unlabelled_rows(self, y)
        if domain is not None and np.any(np.asarray(domain) == TARGET):
            raise NotApplicableError(
                f"{type(self).__name__}.fit_transform would drop the weights it learns: nothing "
                "after it sees weights_, so a classifier in a scikit-learn Pipeline would train "
                "unweighted. Compose with transferkit.base.make_da_pipeline(..., classifier) or "
                "AdaptedClassifier(re-weighter, classifier), which pass the weights on."
            )
        return self.fit(X, y, domain).transform(X)

    def _fit_weights(self, problem: TransferProblem) -> np.ndarray:
        raise NotImplementedError


def refuse_passing_unlabelled_rows(step: Any, y: Any) -> None:
    """Raise when ``step.fit_transform`` would hand rows labelled -1 to the next step."""
    if y is None or isinstance(y, TransferProblem) or not unlabeled_rows(y).any():
        return
    raise NotApplicableError(
        f"{type(step).__name__}.fit_transform got {int(unlabeled_rows(y).sum())} unlabelled "
        "rows (y == -1) and would hand them on with their -1 labels: in a scikit-learn Pipeline "
        "the classifier would learn -1 as a class. Compose with "
        "transferkit.base.make_da_pipeline(..., classifier) (which trains the classifier on "
        "labelled rows only) or AdaptedClassifier(adapter, classifier); for the features alone "
        "call fit(X, y, domain=domain).transform(X, domain)."
    )


def _reassemble(parts: dict[int, tuple[np.ndarray, DataMatrix]], n: int) -> DataMatrix:
    blocks = list(parts.values())
    first = blocks[0][1]
    if sp.issparse(first):
        order = np.concatenate([index for index, _ in blocks])
        stacked = sp.vstack([block for _, block in blocks]).tocsr()
        return stacked[np.argsort(order)]
    out = np.empty(
        (n,) + np.asarray(first).shape[1:], dtype=np.result_type(*[b for _, b in blocks])
    )
    for index, block in blocks:
        out[index] = block
    return out


def _accepts_sample_weight(estimator: Any) -> bool:
    try:
        return "sample_weight" in inspect.signature(estimator.fit).parameters
    except (TypeError, ValueError):  # pragma: no cover - exotic estimators
        return False


class AdaptedClassifier(ClassifierMixin, BaseEstimator):
    """An adapter or a re-weighter followed by any scikit-learn classifier.

    ``fit`` learns the adaptation on source and target, then trains ``estimator`` on the adapted
    labelled data (source, plus visible target labels); ``predict`` takes target rows.

    Parameters
    ----------
    adapter : BaseAdapter or BaseReweighter or None
        The adaptation step; None gives the plain source-only classifier.
    estimator : sklearn classifier
        Any classifier; it receives ``sample_weight`` from a re-weighter when it accepts it.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from transferkit.datasets import make_shifted_blobs
    >>> problem = make_shifted_blobs(covariate_shift=1.0, random_state=0)
    >>> clf = AdaptedClassifier(None, LogisticRegression()).fit(problem)
    >>> clf.predict(problem.X_test).shape[0] == len(problem.y_test)
    True
    """

    def __init__(self, adapter: Any = None, estimator: Any = None):
        self.adapter = adapter
        self.estimator = estimator

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # sparse rows are kept sparse, or densified with a warning
        return tags

    def fit(self, X: Any, y: Any = None, domain: Any = None) -> AdaptedClassifier:
        problem = as_problem(X, y, domain)
        if self.estimator is None:  # the default logistic regression (an adapter checks itself)
            check_features(problem, type(self).__name__)
        estimator = default_estimator() if self.estimator is None else clone(self.estimator)
        X_train, y_train = problem.X_source, problem.y_source
        sample_weight = None
        if self.adapter is None:
            self.adapter_ = None
        else:
            self.adapter_ = clone(self.adapter).fit(problem)
            if isinstance(self.adapter_, BaseReweighter):
                sample_weight = self.adapter_.weights_
            else:
                X_train = self.adapter_.transform(X_train, np.full(problem.n_source, SOURCE))
        if problem.n_target_labeled:
            X_labeled, y_labeled = problem.labeled_target()
            if self.adapter_ is not None and not isinstance(self.adapter_, BaseReweighter):
                X_labeled = self.adapter_.transform(X_labeled)
            X_train = stack_rows(X_train, X_labeled, dtype=None)
            y_train = np.concatenate([y_train, y_labeled])
            if sample_weight is not None:
                sample_weight = np.concatenate([sample_weight, np.ones(len(y_labeled))])
        if sample_weight is not None:
            if not _accepts_sample_weight(estimator):
                raise NotApplicableError(
                    f"{type(self.adapter).__name__} produces sample weights but "
                    f"{type(estimator).__name__}.fit takes no sample_weight; use a classifier "
                    "that does (e.g. LogisticRegression, SVC)."
                )
            estimator.fit(X_train, y_train, sample_weight=sample_weight)
        else:
            estimator.fit(X_train, y_train)
        self.estimator_ = estimator
        self.classes_ = estimator.classes_
        self.n_features_in_ = problem.n_features
        warn_if_collapsed(self, problem, type(self.adapter).__name__ if self.adapter else None)
        return self

    def _target_features(self, X: DataMatrix) -> DataMatrix:
        check_is_fitted(self, "estimator_")
        X = check_rows(self, X)
        if self.adapter_ is None or isinstance(self.adapter_, BaseReweighter):
            return X
        return self.adapter_.transform(X)

    def predict(self, X: DataMatrix) -> np.ndarray:
        features = self._target_features(X)
        return self.estimator_.predict(features)

    def predict_proba(self, X: DataMatrix) -> np.ndarray:
        features = self._target_features(X)
        return self.estimator_.predict_proba(features)

    def decision_function(self, X: DataMatrix) -> np.ndarray:
        features = self._target_features(X)
        return self.estimator_.decision_function(features)


def collapsed_prediction(
    predicted: np.ndarray, y_source: np.ndarray, reference: str = "the source labels"
) -> str | None:
    """Why ``predicted`` (a model's target predictions) is degenerate, or None.

    Degenerate: at least 90 % of the rows fall in a few classes (one class when there are fewer
    than 8, at most a quarter of the classes otherwise) that together make at most half of the
    source labels; e.g. 95 % of the rows in one of two balanced classes, or 95 % in 2 of 10.
    ``reference`` names ``y_source`` in the message (e.g. "the unadapted model's predictions").
    """
    predicted = np.asarray(predicted)
    if len(predicted) < 20:
        return None
    n_classes = len(np.unique(y_source))
    values, counts = np.unique(predicted, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    covered = np.cumsum(counts[order]) / len(predicted)
    k = int(np.searchsorted(covered, 0.9) + 1)  # fewest classes holding 90 % of the rows
    if k > max(1, n_classes // 4):
        return None
    top = values[order[:k]]
    source_share = float(np.mean(np.isin(np.asarray(y_source), top)))
    if source_share > 0.5:
        return None
    classes = ", ".join(repr(v) for v in top.tolist())
    return (
        f"{100 * covered[k - 1]:.0f} % of the {len(predicted)} target rows are predicted as "
        f"class{'es' if k > 1 else ''} {classes}, which {'are' if k > 1 else 'is'} "
        f"{100 * source_share:.0f} % of {reference}"
    )


def warn_if_collapsed(model: Any, problem: TransferProblem, name: str | None = None) -> None:
    """Warn (:class:`DegenerateResultWarning`) when a fitted ``model``'s predictions on the
    problem's target rows collapse (:func:`collapsed_prediction`): a collapsed representation or
    a shift the model does not handle, not a credible prediction (e.g. mSDA's saturated layers on
    coloured digits, an unstable adversarial run). Checked on the unlabelled target rows the model
    was fitted with; lazily loaded images are not checked. The verdict is kept on the model as
    ``collapse_`` (the reason, or None) when the check ran, so a search need not predict again."""
    X_target = problem.X_target
    if problem.n_target < 20 or not (isinstance(X_target, np.ndarray) or sp.issparse(X_target)):
        return
    reason = collapsed_prediction(model.predict(X_target), problem.y_source)
    model.collapse_ = reason
    if reason is not None:
        warnings.warn(
            DegenerateResultWarning(
                f"{name or 'source-only'}: {reason}: the predictions have collapsed onto one "
                "class (a collapsed representation, or a shift this model does not handle). "
                "Check the method's parameters (or use another method) before trusting them."
            ),
            stacklevel=3,
        )


def stack_rows(A: DataMatrix, B: DataMatrix, dtype: Any = float) -> DataMatrix:
    """Rows of ``A`` then ``B``, sparse (CSR) if either is sparse; dense rows as ``dtype``
    (float64 by default; None keeps NumPy's common type, e.g. float32 features stay float32)."""
    if sp.issparse(A) or sp.issparse(B):
        return sp.vstack([sp.csr_matrix(A), sp.csr_matrix(B)]).tocsr()
    return np.concatenate([np.asarray(A, dtype=dtype), np.asarray(B, dtype=dtype)])


def default_estimator() -> Any:
    """The classifier a method uses when it is given none: a fresh
    ``LogisticRegression(max_iter=1000)`` (the lbfgs default rarely converges on raw features
    in 100 iterations)."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000)


def make_adapted_classifier(adapter: Any, estimator: Any = None) -> AdaptedClassifier:
    """One-line factory: ``make_adapted_classifier(CORAL(), SVC())``."""
    return AdaptedClassifier(adapter, estimator)


class DAPipeline(Pipeline):
    """A scikit-learn ``Pipeline`` that knows which rows are source and which are target.

    ``fit(X, y, domain=domain)`` takes the stacked form (see :mod:`transferkit.problem`; without
    ``domain``, rows with ``y == -1`` are the target) or a :class:`TransferProblem`, and:

    * hands ``domain`` to every adapter (each maps source rows as source, target rows as target);
    * fits plain transformers (``StandardScaler``, ``PCA``, ...) on every row, without labels;
    * gives a re-weighter's ``weights_`` to the final classifier as ``sample_weight``;
    * fits the final classifier on the labelled rows only, with the user's labels, so the
      unlabelled target rows never reach it and ``classes_`` are the user's classes.

    ``predict``, ``predict_proba``, ``score``, ... take target rows, as every adapter's
    ``transform`` does by default. Build one with :func:`make_da_pipeline`; the parameters are
    those of :class:`sklearn.pipeline.Pipeline` (``steps``, ``memory`` unused), so ``clone``,
    ``GridSearchCV`` (``coral__regularization``) and ``set_params`` work as usual.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.preprocessing import StandardScaler
    >>> from transferkit.alignment import CORAL
    >>> from transferkit.datasets import make_shifted_blobs
    >>> problem = make_shifted_blobs(covariate_shift=1.0, random_state=0)
    >>> X, y, domain = problem.stacked()
    >>> model = make_da_pipeline(StandardScaler(), CORAL(), LogisticRegression())
    >>> model.fit(X, y, domain=domain).classes_.tolist() == problem.classes.tolist()
    True
    """

    def fit(self, X: Any, y: Any = None, domain: Any = None, **params: Any) -> DAPipeline:
        """Fit every step on the stacked rows, the final classifier on the labelled ones."""
        if isinstance(X, TransferProblem):
            X, y, domain = X.stacked()
        if y is None:
            raise InvalidParameterError(
                "DAPipeline.fit needs labels y (with -1 on unlabelled target rows) or a "
                "TransferProblem; its final step is a classifier trained on the labelled rows."
            )
        y = np.asarray(y)
        if domain is None and unlabeled_rows(y).any():
            domain = infer_domain(y)
        step_params = self._split_params(params)
        Xt, sample_weight = X, None
        for index, (name, step) in enumerate(self.steps[:-1]):
            if step is None or step == "passthrough":
                continue
            step = clone(step)
            if isinstance(step, BaseReweighter):
                step.fit(Xt, y, domain=domain, **step_params[name])
                sample_weight = _row_weights(step.weights_, y, domain)
            elif isinstance(step, BaseAdapter):
                step.fit(Xt, y, domain=domain, **step_params[name])
                Xt = step.transform(Xt, domain)
            else:
                Xt = step.fit(Xt, **step_params[name]).transform(Xt)
            self.steps[index] = (name, step)
        name, final = self.steps[-1]
        if final is None or final == "passthrough":
            raise InvalidParameterError(
                "DAPipeline's last step must be a classifier (it is trained on the labelled "
                "rows); for features alone use the adapters' fit(...).transform(...)."
            )
        labelled = np.flatnonzero(~unlabeled_rows(y))
        final_params = dict(step_params[name])
        if sample_weight is not None:
            if "sample_weight" in final_params:
                raise InvalidParameterError(
                    f"{name}__sample_weight was given and a re-weighter also makes weights; "
                    "give one or the other."
                )
            if not _accepts_sample_weight(final):
                raise NotApplicableError(
                    f"The pipeline's re-weighter produces sample weights but "
                    f"{type(final).__name__}.fit takes no sample_weight; use a classifier that "
                    "does (e.g. LogisticRegression, SVC)."
                )
            final_params["sample_weight"] = sample_weight[labelled]
        labels = y[labelled]
        labels = np.asarray(labels.tolist()) if labels.dtype == object else labels
        final = clone(final).fit(_take_rows(Xt, labelled), labels, **final_params)
        self.steps[-1] = (name, final)
        return self

    def fit_predict(self, X: Any, y: Any = None, domain: Any = None, **params: Any) -> np.ndarray:
        """``fit``, then predict every given row as a target row."""
        X_rows = X.stacked()[0] if isinstance(X, TransferProblem) else X
        return self.fit(X, y, domain, **params).predict(X_rows)

    def _split_params(self, params: dict[str, Any]) -> dict[str, dict[str, Any]]:
        names = [name for name, _ in self.steps]
        routed: dict[str, dict[str, Any]] = {name: {} for name in names}
        for key, value in params.items():
            name, _, param = key.partition("__")
            if name not in routed or not param:
                raise InvalidParameterError(
                    f"DAPipeline.fit got {key}={value!r}; fit parameters are <step>__<name> with "
                    f"a step among {names} (domain= is given once, to fit itself)."
                )
            if param == "domain":
                raise InvalidParameterError(
                    f"DAPipeline.fit got {key}; pass domain= to fit itself, it reaches every step."
                )
            routed[name][param] = value
        return routed


def _row_weights(weights: np.ndarray, y: np.ndarray, domain: Any) -> np.ndarray:
    """A weight per stacked row: the re-weighter's on source rows, 1 on the others."""
    if domain is None:  # no target rows: every row is a source row
        return np.asarray(weights, dtype=float)
    out = np.ones(len(y))
    out[np.asarray(domain) == SOURCE] = weights
    return out


def _take_rows(X: DataMatrix, index: np.ndarray) -> DataMatrix:
    return X[index] if hasattr(X, "shape") else [X[i] for i in index]


def make_da_pipeline(*steps: Any) -> DAPipeline:
    """A :class:`DAPipeline` of ``steps`` named as :func:`sklearn.pipeline.make_pipeline` names
    them: ``make_da_pipeline(StandardScaler(), CORAL(), LogisticRegression())``."""
    return DAPipeline(make_pipeline(*steps).steps)
