"""Searching over methods and hyper-parameters with validators instead of target labels.

:class:`DomainAwareSearchCV` searches over registered methods and their parameters in the style of
``GridSearchCV``: each candidate is trained on source folds plus the whole unlabelled target, scored
by one or more validators, and the best one (by ``refit``) is trained again on everything.
:class:`SourceFolds` and :class:`RegisteredMethod` let scikit-learn's own ``GridSearchCV`` do the
same with the validators as scorers; :func:`default_candidates` gives every shallow method with a
small grid.

Examples
--------
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

import logging
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
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
from transferkit.multisource import select_source_rows
from transferkit.problem import (
    SOURCE,
    TARGET,
    UNLABELED,
    TransferProblem,
    as_problem,
    refuse_different_feature_spaces,
)
from transferkit.registry import available_methods, make_method, method_spec
from transferkit.selection.access import (
    model_classes,
    predict_proba_rows,
    predict_rows,
    representation,
    unwrap_method,
)
from transferkit.selection.catalogue import make_validator
from transferkit.selection.safety import SOURCE_ONLY, SourceOnlyFloor
from transferkit.selection.validators import BaseValidator

__all__ = [
    "BUDGETS",
    "DEFAULT_GRIDS",
    "DomainAwareSearchCV",
    "RegisteredMethod",
    "SourceFolds",
    "default_candidates",
    "expand_candidates",
]

logger = logging.getLogger(__name__)


class SourceFolds:
    """A CV splitter for stacked rows: folds of the source, every target row in every split.

    Pass ``groups=domain`` (0 source, 1 target) to ``split`` — ``GridSearchCV.fit(X, y,
    groups=domain, domain=domain)`` does. Each training set is the source minus one fold plus all
    target rows (unlabelled); each validation set is that source fold plus all target rows, so the
    validators see both.

    Examples
    --------
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
def expand_candidates(candidates: Any) -> list[tuple[Any, dict[str, Any]]]:
    """(method name or estimator, params) for every grid point of every candidate, in the order
    :class:`DomainAwareSearchCV` trains and reports them.

    Parameters
    ----------
    candidates : dict, list or str
        As ``DomainAwareSearchCV(candidates=...)``.

    Examples
    --------
    >>> expand_candidates({"source_only": {}, "coral": {"regularization": [0.1, 10.0]}})
    [('source_only', {}), ('coral', {'regularization': 0.1}), ('coral', {'regularization': 10.0})]
    """
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
    """A candidate's name in ``cv_results_``: the method's name, or the estimator's class."""
    return method if isinstance(method, str) else type(method).__name__


def _describe(method: Any, params: dict[str, Any]) -> str:
    """A candidate for messages: ``"sa (n_components=40)"``, ``"coral (defaults)"``."""
    settings = ", ".join(f"{k}={v}" for k, v in params.items()) or "defaults"
    return f"{_label(method)} ({settings})"


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
        Validator names (see :data:`~transferkit.selection.VALIDATORS`) or objects; a list
        scores with all of them. The default,
        :class:`~transferkit.selection.GraphEnsembleValidator` among the candidates within 5
        points of the best held-out source accuracy (more on a small source, see
        :class:`~transferkit.selection.SourceGuardedValidator`), came
        closest to the oracle's pick on average in ``docs/benchmarks.md`` (on runs it was not
        chosen on, too); it needs source folds. ``"ensv"`` is the fastest
        good choice: it needs none (``cv=None``), so each candidate is trained once.
    refit : bool or str, default True
        Which validator picks the best candidate (True: the first); False keeps only the scores.
    cv : "auto", int, float or None, default "auto"
        Source folds (int >= 2), the held-out share of one stratified split (float), or None to
        train on the whole source (target-only validators: entropy, im, snd, mixval, ensv and
        the other unguarded pool validators). ``auto``: None when every validator is
        target-only, else 3 folds.
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
    safety : "auto", SourceOnlyFloor or None, default "auto"
        The safety floor (:class:`~transferkit.selection.SourceOnlyFloor`): the pick is an
        adapted candidate only when it passes the floor's checks against the ``source_only``
        candidate (held-out source accuracy not below source-only's, agreement with source-only
        on its most confident target rows); otherwise the best-ranked candidate that passes, or
        source-only. ``"auto"``: ``SourceOnlyFloor()`` when the candidates hold ``source_only``
        with its defaults, none otherwise. None switches the floor off (the validator's pick
        alone).
    scheduler : str or None, default None
        Train the candidates on a Dask cluster instead (``pip install
        'transferkit[distributed]'``): ``"local:N"`` starts N worker processes here, an address
        such as ``"tcp://host:8786"`` uses a running scheduler (see
        :mod:`transferkit.bench.distributed`). The problem is sent to the cluster once; the
        scores are the same as here. Give it or ``n_jobs``, not both.

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
    safety_ : dict
        What the safety floor decided: ``applied``, ``reason`` (a sentence: why the pick, or why
        source-only was kept), ``kept_source_only``, ``set_aside`` (better-ranked candidates that
        failed a check, each with why) and the floor's settings; with the floor,
        ``cv_results_`` also has ``safety_agreement`` (each candidate's agreement with
        source-only on its confident target rows) and ``safety_source_accuracy``.
    best_index_, best_method_, best_params_, best_score_, best_estimator_

    Examples
    --------
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
        safety: Any = "auto",
        scheduler: str | None = None,
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
        self.safety = safety
        self.scheduler = scheduler

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

    def make_candidate(self, method: Any, params: dict[str, Any]) -> Any:
        """A fresh, unfitted candidate as the search trains it: a registered method name with
        the search's classifier and seed, or a clone of an estimator with ``params`` set.

        Use it to train a row of ``cv_results_`` (``method``, ``params``) on the whole problem.
        """
        if isinstance(method, str):
            classifier = (
                clone(self.classifier) if hasattr(self.classifier, "fit") else self.classifier
            )
            return make_method(method, params, classifier, self.random_state)
        return clone(method).set_params(**params)

    def _floor(self, configs: list[tuple[Any, dict[str, Any]]]) -> tuple[Any, int | None]:
        """The safety floor and the index of the ``source_only`` candidate it falls back to."""
        reference = next(
            (i for i, (m, p) in enumerate(configs) if m == SOURCE_ONLY and not p), None
        )
        if self.safety is None or self.safety is False or not self.refit:
            return None, reference
        if isinstance(self.safety, str) and self.safety == "auto":
            return (SourceOnlyFloor() if reference is not None else None), reference
        floor = SourceOnlyFloor() if self.safety is True else self.safety
        if not isinstance(floor, SourceOnlyFloor):
            raise InvalidParameterError(
                f"safety must be 'auto', a SourceOnlyFloor or None; got {self.safety!r}."
            )
        if reference is None:
            raise InvalidParameterError(
                "The safety floor falls back to source-only, and the candidates hold no "
                "'source_only' with its defaults: add 'source_only' to the candidates, or pass "
                "safety=None."
            )
        floor.check()
        return floor, reference

    def _evaluate(
        self,
        method: Any,
        params: dict[str, Any],
        problem: TransferProblem,
        splits,
        validators,
        need_probas: bool = False,
        need_source_accuracy: bool = False,
    ):
        scores = {name: [] for name in validators}
        fit_times = []
        error = ""
        y_eval = problem.y_target
        pooled = need_probas or any(getattr(v, "pool", False) for v in validators.values())
        guarded = need_source_accuracy or any(
            getattr(v, "source_guard", False) for v in validators.values()
        )
        probas: list[np.ndarray | None] = []
        source_accuracy: list[float] = []  # per fold, for source-guarded validators
        for train, val in splits:
            fold_problem = (
                problem
                if len(val) == 0 and len(train) == problem.n_source
                else select_source_rows(problem, train)
            )
            start = time.perf_counter()
            try:
                with warnings.catch_warnings():  # recorded below as the candidate's error
                    warnings.simplefilter("ignore", DegenerateResultWarning)
                    model = self.make_candidate(method, params).fit(fold_problem)
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
            if guarded and len(val) == 0:  # cv=None: no held-out source rows to score
                source_accuracy.append(float("nan"))
            elif guarded:
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
    def _agreement(
        floor: SourceOnlyFloor, outcomes: list, reference: int | None, n_folds: int
    ) -> np.ndarray:
        """Each candidate's mean agreement, over folds, with the source-only model of the same
        fold on that model's confident target rows (nan where either has no probabilities)."""
        out = np.full(len(outcomes), np.nan)
        if reference is None:
            return out
        base = outcomes[reference][3]
        for i, outcome in enumerate(outcomes):
            values = []
            for fold in range(n_folds):
                ref = base[fold] if fold < len(base) else None
                own = outcome[3][fold] if fold < len(outcome[3]) else None
                if ref is None or own is None:
                    values = []
                    break
                values.append(floor.agreement(ref, own))
            if values:
                out[i] = float(np.mean(values))
        return out

    @staticmethod
    def _collapse(model: Any, problem: TransferProblem) -> str | None:
        """Why the candidate's target predictions are degenerate (see
        :func:`transferkit.base.collapsed_prediction`), or None; the verdict the model recorded
        at fit time (``collapse_``) when it has one."""
        inner = unwrap_method(model)
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
        fitted_classes = model_classes(unwrap_method(model))
        if len(fitted_classes) == proba.shape[1] and not np.array_equal(fitted_classes, classes):
            out = np.zeros((proba.shape[0], len(classes)))
            index = np.searchsorted(classes, fitted_classes)
            ok = (index < len(classes)) & (
                classes[np.minimum(index, len(classes) - 1)] == fitted_classes
            )
            out[:, index[ok]] = proba[:, ok]
            return out
        return proba if proba.shape[1] == len(classes) else None

    # -- fit
    def fit(self, X: Any, y: Any = None, domain: Any = None) -> DomainAwareSearchCV:
        problem = as_problem(X, y, domain, feature_spaces="different")
        # its validators score source and target rows with one model: one feature space
        refuse_different_feature_spaces(problem, "Label-free model selection")
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
        configs = expand_candidates(self.candidates)
        for name in {m for m, _ in configs if isinstance(m, str)}:
            method_spec(name)  # unknown names fail now, not once per candidate
        splits = self._splits(problem, cv)
        floor, reference = self._floor(configs)
        need = {"need_probas": floor is not None, "need_source_accuracy": floor is not None}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            if self.scheduler is not None:
                if self.n_jobs not in (None, 1):
                    raise InvalidParameterError(
                        f"n_jobs={self.n_jobs} and scheduler={self.scheduler!r}: give one of "
                        "them (scheduler='local:N' trains N candidates at once on Dask)."
                    )
                from transferkit.bench.distributed import map_on_cluster

                evaluator = clone(self).set_params(progress=None)  # nothing to draw out there
                outcomes = map_on_cluster(
                    evaluate_candidate,
                    configs,
                    scheduler=self.scheduler,
                    progress=self.progress,
                    search=evaluator,
                    problem=problem,
                    splits=splits,
                    validators=validators,
                    **need,
                )
            elif self.n_jobs not in (None, 1):
                from joblib import Parallel, delayed

                outcomes = Parallel(n_jobs=self.n_jobs)(
                    delayed(self._evaluate)(m, p, problem, splits, validators, **need)
                    for m, p in configs
                )
                if self.progress is not None:
                    self.progress(len(configs), len(configs))
            else:
                outcomes = []
                for i, (m, p) in enumerate(configs):
                    outcomes.append(self._evaluate(m, p, problem, splits, validators, **need))
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
        # the held-out accuracies rest on every distinct held-out source row
        held_out = int(np.unique(np.concatenate([val for _, val in splits])).size)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=RuntimeWarning)
            guard_accuracy = np.array(
                [np.nanmean(o[4]) if o[4] else np.nan for o in outcomes], dtype=float
            )
        if guards:
            results["guard_source_accuracy"] = guard_accuracy.tolist()
        agreement = None
        if floor is not None:
            agreement = self._agreement(floor, outcomes, reference, len(splits))
            results["safety_agreement"] = agreement.tolist()
            results["safety_source_accuracy"] = guard_accuracy.tolist()
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
        if floor is None:
            self.safety_ = {
                "applied": False,
                "reason": "no safety floor: "
                + (
                    "switched off (safety=None)"
                    if reference is not None
                    else "the candidates hold no source_only to fall back to"
                ),
            }
        elif agreement is None or not np.isfinite(agreement[reference]):
            self.safety_ = {
                "applied": False,
                "reason": "no safety floor: the source_only candidate failed ("
                + (results["error"][reference] or "no target probabilities")
                + "), so there is nothing to compare with",
            }
        else:
            labels = [_describe(m, p) for m, p in configs]
            decision = floor.decide(
                labels,
                mean,
                agreement,
                guard_accuracy,
                reference,
                held_out if held_out else None,
                refit_name,
            )
            self.best_index_ = int(decision["index"])
            for item in decision["set_aside"]:
                item["method"], item["params"] = (
                    _label(configs[item["index"]][0]),
                    dict(configs[item["index"]][1]),
                )
            self.safety_ = {"applied": True, **decision}
        method, params = configs[self.best_index_]
        self.best_method_ = _label(method)
        self.best_params_ = params
        self.best_score_ = float(mean[self.best_index_])
        self.best_estimator_ = self.make_candidate(method, params).fit(problem)
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


#: What ``default_candidates(budget=...)`` offers: ``fast`` each cheap method with its defaults,
#: ``default`` the grids less the points that are slow on a large problem, ``thorough`` every
#: grid point of :data:`DEFAULT_GRIDS`.
BUDGETS: tuple[str, ...] = ("fast", "default", "thorough")

#: Methods whose defaults are cheap at any size measured (under 4 s per fit on 4,000 + 4,000
#: Amazon reviews with 5,000 features, one core): the ``fast`` budget's pool.
FAST_METHODS: tuple[str, ...] = ("source_only", "coral", "sa", "tca", "jda", "density_ratio")
#: What ``default_candidates(multi_source=True)`` adds, at every budget, with their defaults.
MULTI_SOURCE_METHODS: tuple[str, ...] = ("ms_weighted", "ms_moments", "ms_jcpot", "ms_refined")

#: Above this many features, CORAL (dense d x d covariance powers: 52-61 s per fit on 5,000
#: sparse features) and mSDA (8.8 GB at 8,000 x 5,000) leave the ``default``/``fast`` pools.
WIDE_FEATURES = 2000

#: Above this many source x target row pairs, OT keeps only its defaults in the ``default``
#: pool (Sinkhorn with reg_e=0.1: 31 s per fit on 4,000 x 4,000 rows) and KMM leaves it
#: (a quadratic programme over the source rows: 10-12 s per fit there).
LARGE_PAIRS = 4_000_000


def evaluate_candidate(
    config: tuple[Any, dict[str, Any]],
    *,
    search: DomainAwareSearchCV,
    problem: TransferProblem,
    splits: list[tuple[np.ndarray, np.ndarray]],
    validators: dict[str, Any],
    need_probas: bool = False,
    need_source_accuracy: bool = False,
) -> tuple[Any, ...]:
    """One candidate ``(method, params)`` of ``search`` trained and scored on every split: the
    task a Dask worker runs (a module-level function, so that it travels by name)."""
    method, params = config
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        return search._evaluate(
            method, params, problem, splits, validators, need_probas, need_source_accuracy
        )


def default_candidates(
    methods: Sequence[str] | None = None,
    n_features: int | None = None,
    sparse: bool = False,
    budget: str = "thorough",
    n_rows: tuple[int, int] | None = None,
    multi_source: bool = False,
) -> list[tuple[str, list[dict[str, list[Any]]]]]:
    """Candidates for :class:`DomainAwareSearchCV`: each method's defaults plus its grid.

    ``n_features`` drops subspace sizes that do not fit; mSDA is kept for sparse data only.

    Parameters
    ----------
    methods : list of str or None
        Registered methods (None: every method of :data:`DEFAULT_GRIDS`).
    n_features : int or None
        The problem's width.
    sparse : bool, default False
        Whether the features are sparse (mSDA is offered on sparse data only).
    budget : {"fast", "default", "thorough"}, default "thorough"
        ``thorough``: every grid point; ``default``: without the points that are slow on a
        large problem (:data:`WIDE_FEATURES`, :data:`LARGE_PAIRS`); ``fast``: each cheap method
        (:data:`FAST_METHODS`) with its defaults only. Methods named in ``methods`` are kept
        whatever the budget (only their grids shrink).
    n_rows : (int, int) or None
        Source and target rows, for the ``default`` budget's size rules.
    multi_source : bool, default False
        The problem has several named source domains
        (:func:`transferkit.multisource.is_multi_source`): the multi-source methods
        (:data:`MULTI_SOURCE_METHODS`) join the default pool, each with its defaults.

    Examples
    --------
    >>> [m for m, _ in default_candidates(budget="fast", n_features=5000)]
    ['source_only', 'sa', 'tca', 'jda', 'density_ratio']
    """
    if budget not in BUDGETS:
        raise InvalidParameterError(f"budget must be one of {', '.join(BUDGETS)}; got {budget!r}.")
    known = available_methods()
    names = list(methods) if methods is not None else [m for m in DEFAULT_GRIDS if m in known]
    if methods is None and multi_source:
        names += [m for m in MULTI_SOURCE_METHODS if m in known]
    wide = n_features is not None and n_features > WIDE_FEATURES
    large = n_rows is not None and n_rows[0] * n_rows[1] > LARGE_PAIRS
    out = []
    for name in names:
        if name not in known:
            raise InvalidParameterError(
                f"Unknown method '{name}'. Known methods: {', '.join(known)}."
            )
        if name == "msda" and not sparse and methods is None:
            continue
        if methods is None and budget != "thorough":
            if budget == "fast" and name not in FAST_METHODS + MULTI_SOURCE_METHODS:
                continue
            if wide and name in ("coral", "msda"):
                continue
            if large and name == "kmm":
                continue
        grid = DEFAULT_GRIDS.get(name, {})
        grids = grid if isinstance(grid, list) else [grid]
        if budget == "fast" or (budget == "default" and large and name == "ot"):
            grids = []
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
