"""The safety floor: source-only unless an adapted candidate shows it is not worse."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from transferkit.datasets import make_shifted_blobs
from transferkit.exceptions import InvalidParameterError
from transferkit.selection import (
    DomainAwareSearchCV,
    SourceOnlyFloor,
    default_candidates,
    expand_candidates,
)


class ConfidentlyWrong(ClassifierMixin, BaseEstimator):
    """A harmful 'adaptation': source-only's classes rotated by one, with sharp probabilities.

    Its target predictions are as confident as can be (so entropy ranks it first) and every
    one of source-only's sure rows is flipped."""

    def __init__(self, sharpness: float = 50.0):
        self.sharpness = sharpness

    def fit(self, problem):
        self.model_ = LogisticRegression(max_iter=1000).fit(problem.X_source, problem.y_source)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        proba = np.roll(self.model_.predict_proba(X), 1, axis=1) ** self.sharpness
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


@pytest.fixture(scope="module")
def shifted():
    return make_shifted_blobs(covariate_shift=1.0, random_state=0)


def test_agreement_is_measured_on_source_only_s_surest_rows():
    floor = SourceOnlyFloor(confident_share=0.5)
    reference = np.array([[0.99, 0.01], [0.02, 0.98], [0.55, 0.45], [0.45, 0.55]])
    assert floor.confident_rows(reference).tolist() == [0, 1]
    # disagreeing on the two unsure rows costs nothing, on one sure row half
    assert floor.agreement(reference, np.eye(2)[[0, 1, 1, 0]]) == 1.0
    assert floor.agreement(reference, np.eye(2)[[1, 1, 0, 1]]) == 0.5


def test_the_floor_refuses_bad_settings_and_a_pool_without_source_only(shifted):
    for bad in ({"confident_share": 0.0}, {"min_agreement": 1.5}, {"confidence": 1.0}):
        with pytest.raises(InvalidParameterError, match=next(iter(bad))):
            SourceOnlyFloor(**bad).check()
    with pytest.raises(InvalidParameterError, match="no 'source_only'"):
        DomainAwareSearchCV({"coral": {}}, cv=2, safety=SourceOnlyFloor()).fit(shifted)
    # "auto" without source_only: no floor, and the search says so
    search = DomainAwareSearchCV({"coral": {}}, cv=2, random_state=0).fit(shifted)
    assert not search.safety_["applied"] and "no source_only" in search.safety_["reason"]


def test_a_confident_harmful_candidate_is_set_aside_for_source_only(shifted):
    candidates = [("source_only", {}), (ConfidentlyWrong(), {})]
    X, y = shifted.evaluation_split()
    unsafe = DomainAwareSearchCV(
        candidates, scoring="entropy", cv=2, random_state=0, safety=None
    ).fit(shifted)
    assert unsafe.best_method_ == "ConfidentlyWrong"  # the validator alone is fooled
    assert not unsafe.safety_["applied"]
    # the target-side check alone (source check off) keeps source-only, and says why
    floor = SourceOnlyFloor(source_tolerance=1.0)
    search = DomainAwareSearchCV(
        candidates, scoring="entropy", cv=2, random_state=0, safety=floor
    ).fit(shifted)
    assert search.best_method_ == "source_only" and search.safety_["kept_source_only"]
    assert search.score(X, y) > unsafe.score(X, y) + 0.3
    reason = search.safety_["reason"]
    assert reason.startswith("kept source-only: the best-scored candidate ConfidentlyWrong")
    assert "agrees with source-only on only 0 %" in reason and "threshold 85 %" in reason
    assert search.cv_results_["safety_agreement"] == [1.0, 0.0]
    assert search.safety_["set_aside"][0]["method"] == "ConfidentlyWrong"
    # the default floor: its source-side check fails it too (first check that fails is named)
    default = DomainAwareSearchCV(candidates, scoring="entropy", cv=2, random_state=0).fit(shifted)
    assert default.best_method_ == "source_only" and "kept source-only" in default.safety_["reason"]


def test_a_helpful_candidate_passes_the_floor(shifted):
    search = DomainAwareSearchCV(
        {"source_only": {}, "coral": {"regularization": [0.1, 10.0]}},
        scoring="im",
        cv=2,
        random_state=0,
    ).fit(shifted)
    agreement = np.asarray(search.cv_results_["safety_agreement"])
    assert agreement[0] == 1.0 and (agreement[1:] > 0.85).all()
    if search.best_method_ == "coral":
        assert search.safety_["reason"].startswith("picked coral")
        assert "% of its 30 % most confident target rows" in search.safety_["reason"]
    # without a floor the same validator picks the same candidate (it passed)
    unsafe = DomainAwareSearchCV(
        {"source_only": {}, "coral": {"regularization": [0.1, 10.0]}},
        scoring="im",
        cv=2,
        random_state=0,
        safety=None,
    ).fit(shifted)
    assert unsafe.best_index_ == search.best_index_


def test_budgets_trade_candidates_for_time():
    wide_large = {"n_features": 5000, "sparse": True, "n_rows": (4000, 4000)}
    thorough = expand_candidates(default_candidates(budget="thorough", **wide_large))
    default = expand_candidates(default_candidates(budget="default", **wide_large))
    fast = expand_candidates(default_candidates(budget="fast", **wide_large))
    assert len(fast) < len(default) < len(thorough)
    names = {m for m, _ in default}
    assert "source_only" in names and not names & {"coral", "msda", "kmm"}
    assert [p for m, p in default if m == "ot"] == [{}]  # OT with its defaults only
    assert all(p == {} for _, p in fast) and {m for m, _ in fast} <= names
    # a small dense problem keeps every grid under the default budget
    small = {"n_features": 800, "n_rows": (958, 295)}
    assert expand_candidates(default_candidates(budget="default", **small)) == expand_candidates(
        default_candidates(budget="thorough", **small)
    )
    # methods a user names stay, whatever the budget
    assert [m for m, _ in default_candidates(["coral"], budget="fast", **wide_large)] == ["coral"]
    with pytest.raises(InvalidParameterError, match="budget must be one of"):
        default_candidates(budget="quick")
