"""The two reference points of every transfer experiment: source-only and the target oracle.

``source_only`` trains on the labelled source and predicts the target: the floor an adaptation
method must beat. ``target_oracle`` trains on the target's own labels: the ceiling, which needs
labels a real user does not have, so it exists only for evaluation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from transferkit.base import AdaptedClassifier, check_rows, default_estimator
from transferkit.exceptions import NotApplicableError
from transferkit.problem import TransferProblem, as_problem
from transferkit.registry import register_method


class SourceOnly(AdaptedClassifier):
    """Train ``estimator`` on the source (plus any visible target labels); no adaptation."""

    def __init__(self, estimator: Any = None):
        super().__init__(adapter=None, estimator=estimator)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"estimator": self.estimator}


class TargetOracle(ClassifierMixin, BaseEstimator):
    """Train ``estimator`` on the target's labels: the ceiling for every method.

    With a separate test split it trains on all target training labels. In a transductive
    protocol (the target is also the test set) it reports ``n_folds``-fold cross-validated
    accuracy on the target, so it never scores samples it was trained on.

    Parameters
    ----------
    estimator : sklearn classifier
    n_folds : int, default 5
    random_state : int or None
    """

    def __init__(self, estimator: Any = None, n_folds: int = 5, random_state: int | None = None):
        self.estimator = estimator
        self.n_folds = n_folds
        self.random_state = random_state

    def _check(self, problem: TransferProblem) -> None:
        if problem.y_target is None:
            raise NotApplicableError(
                "target_oracle needs the target labels (y_target); this problem has none."
            )

    def fit(self, X: Any, y: Any = None, domain: Any = None) -> TargetOracle:
        problem = as_problem(X, y, domain)
        self._check(problem)
        estimator = default_estimator() if self.estimator is None else clone(self.estimator)
        self.estimator_ = estimator.fit(problem.X_target, problem.y_target)
        self.classes_ = self.estimator_.classes_
        self.n_features_in_ = problem.n_features
        return self

    def predict(self, X: Any) -> np.ndarray:
        X = check_rows(self, X)
        return self.estimator_.predict(X)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # handed as they are to the estimator
        return tags

    def score_problem(self, problem: TransferProblem) -> float:
        """Accuracy on the problem's evaluation split, cross-validated when transductive."""
        self._check(problem)
        if problem.X_test is not None:
            self.fit(problem)
            return float(np.mean(self.predict(problem.X_test) == problem.y_test))
        estimator = default_estimator() if self.estimator is None else clone(self.estimator)
        smallest = int(np.min(np.unique(problem.y_target, return_counts=True)[1]))
        folds = StratifiedKFold(
            n_splits=max(2, min(self.n_folds, smallest)),
            shuffle=True,
            random_state=self.random_state,
        )
        predicted = cross_val_predict(estimator, problem.X_target, problem.y_target, cv=folds)
        return float(np.mean(predicted == problem.y_target))


class TargetOnly(AdaptedClassifier):
    """Train ``estimator`` on the visible target labels alone (a semi-supervised baseline: what a
    few target labels give without the source)."""

    #: It reads the target rows only, so the source may have other features.
    handles_different_feature_spaces = True

    def __init__(self, estimator: Any = None):
        super().__init__(adapter=None, estimator=estimator)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"estimator": self.estimator}

    def fit(self, X: Any, y: Any = None, domain: Any = None) -> TargetOnly:
        problem = as_problem(X, y, domain, feature_spaces="different")
        if problem.n_target_labeled == 0:
            raise NotApplicableError(
                "target_only trains on the visible target labels and this problem has none; "
                "mark some with TransferProblem(target_labeled=...) or a suite's "
                "target_labels = N."
            )
        X_labeled, y_labeled = problem.labeled_target()
        estimator = default_estimator() if self.estimator is None else clone(self.estimator)
        if len(np.unique(y_labeled)) < 2:
            raise NotApplicableError(
                "target_only needs visible target labels of at least two classes."
            )
        self.adapter_ = None
        self.estimator_ = estimator.fit(X_labeled, y_labeled)
        self.classes_ = self.estimator_.classes_
        self.n_features_in_ = problem.n_features
        return self


@register_method("source_only", "baseline", "Train on the source only; no adaptation (the floor).")
def _source_only(estimator: Any, random_state: int | None) -> SourceOnly:
    return SourceOnly(estimator)


@register_method(
    "target_oracle",
    "baseline",
    "Train on the target labels (the ceiling; uses labels a user does not have).",
)
def _target_oracle(estimator: Any, random_state: int | None, n_folds: int = 5) -> TargetOracle:
    return TargetOracle(estimator, n_folds=n_folds, random_state=random_state)


@register_method(
    "target_only",
    "baseline",
    "Train on the visible target labels only (semi-supervised baseline; needs a few target labels).",
    needs_target_labels=True,
)
def _target_only(estimator: Any, random_state: int | None) -> TargetOnly:
    return TargetOnly(estimator)
