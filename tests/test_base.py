"""Adapter plumbing, baselines and the registry, on a small problem with a planted shift."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from transferkit.base import AdaptedClassifier, BaseAdapter, BaseReweighter
from transferkit.baselines import SourceOnly, TargetOracle
from transferkit.exceptions import (
    DegenerateResultWarning,
    InvalidParameterError,
    NotApplicableError,
)
from transferkit.problem import TransferProblem
from transferkit.registry import available_methods, make_classifier, make_method


def _shifted_problem(seed=0, n=200, shift=3.0):
    """Two classes split by x0 > 0; the target is translated by ``shift`` along x1."""
    rng = np.random.default_rng(seed)
    X_source = rng.normal(size=(n, 2))
    X_target = rng.normal(size=(n, 2)) + [0.0, shift]
    X_test = rng.normal(size=(n, 2)) + [0.0, shift]
    return TransferProblem(
        X_source,
        (X_source[:, 0] > 0).astype(int),
        X_target,
        y_target=(X_target[:, 0] > 0).astype(int),
        X_test=X_test,
        y_test=(X_test[:, 0] > 0).astype(int),
    )


class MeanShift(BaseAdapter):
    """Centre each domain on its own mean: the simplest adapter, for plumbing tests."""

    def __init__(self, scale: float = 1.0):
        self.scale = scale

    def _fit(self, problem):
        self.source_mean_ = problem.X_source.mean(axis=0)
        self.target_mean_ = problem.X_target.mean(axis=0)

    def _transform(self, X, domain):
        return (X - (self.source_mean_ if domain == 0 else self.target_mean_)) * self.scale


class UniformWeights(BaseReweighter):
    def _fit_weights(self, problem):
        return np.full(problem.n_source, 3.0)


def _accuracy(model, problem):
    X, y = problem.evaluation_split()
    return np.mean(model.predict(X) == y)


def test_adapter_beats_source_only_with_a_nearest_neighbour():
    problem = _shifted_problem()
    source_only = SourceOnly(KNeighborsClassifier(1)).fit(problem)
    adapted = AdaptedClassifier(MeanShift(), KNeighborsClassifier(1)).fit(problem)
    assert _accuracy(adapted, problem) > _accuracy(source_only, problem) + 0.1


def test_stacked_calling_convention_matches_problem_convention():
    problem = _shifted_problem()
    X, y, domain = problem.stacked()
    a = AdaptedClassifier(MeanShift(), LogisticRegression()).fit(problem)
    b = AdaptedClassifier(MeanShift(), LogisticRegression()).fit(X, y, domain=domain)
    np.testing.assert_allclose(a.predict_proba(problem.X_test), b.predict_proba(problem.X_test))
    transformed = MeanShift().fit(X, y, domain).transform(X, domain)
    np.testing.assert_allclose(transformed[:200].mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(transformed[200:].mean(axis=0), 0, atol=1e-12)
    # fit_transform would hand the -1 rows to whatever comes next (a Pipeline's classifier)
    with pytest.raises(NotApplicableError, match="make_da_pipeline"):
        MeanShift().fit_transform(X, y, domain)


def test_adapter_is_cloneable_and_reweighter_weights_have_mean_one():
    assert clone(MeanShift(scale=2.0)).get_params() == {"scale": 2.0}
    weights = UniformWeights().fit(_shifted_problem()).weights_
    np.testing.assert_allclose(weights, 1.0)


def test_reweighter_with_a_classifier_without_sample_weight_says_so():
    with pytest.raises(NotApplicableError, match="sample_weight"):
        AdaptedClassifier(UniformWeights(), KNeighborsClassifier(1)).fit(_shifted_problem())


def test_visible_target_labels_join_the_training_set():
    problem = _shifted_problem().with_target_labels(20, random_state=0)
    model = SourceOnly(LogisticRegression()).fit(problem)
    assert _accuracy(model, problem) > 0.8


def test_target_oracle_is_the_ceiling_and_never_scores_its_training_data():
    problem = _shifted_problem()
    oracle = TargetOracle(LogisticRegression(), random_state=0).score_problem(problem)
    floor = _accuracy(SourceOnly(LogisticRegression()).fit(problem), problem)
    assert oracle > 0.9 and oracle >= floor
    transductive = TransferProblem(
        problem.X_source, problem.y_source, problem.X_target, y_target=problem.y_target
    )
    cv = TargetOracle(KNeighborsClassifier(1), random_state=0).score_problem(transductive)
    assert 0.8 < cv < 1.0  # cross-validated: a 1-NN scored on its own data would give 1.0
    no_labels = TransferProblem(problem.X_source, problem.y_source, problem.X_target)
    with pytest.raises(NotApplicableError, match="target labels"):
        TargetOracle().score_problem(no_labels)


def test_registry_builds_baselines_and_rejects_unknown_names():
    assert {"source_only", "target_oracle"} <= set(available_methods())
    problem = _shifted_problem()
    model = make_method("source_only", classifier="1nn").fit(problem)
    nearest = KNeighborsClassifier(1).fit(problem.X_source, problem.y_source)
    np.testing.assert_array_equal(model.predict(problem.X_test), nearest.predict(problem.X_test))
    assert make_classifier({"name": "logreg", "C": 0.5}).C == 0.5
    with pytest.raises(InvalidParameterError, match="Unknown method 'nope'"):
        make_method("nope")
    with pytest.raises(InvalidParameterError, match="Unknown classifier"):
        make_classifier("nope")
    with pytest.raises(InvalidParameterError, match="Bad parameters"):
        make_method("source_only", {"bogus": 1})


def test_target_only_trains_on_the_visible_target_labels_and_needs_some():
    from transferkit.exceptions import NotApplicableError
    from transferkit.registry import make_method

    rng = np.random.default_rng(0)
    y = np.arange(80) % 2
    problem = TransferProblem(
        rng.normal(size=(80, 2)) + 3 * y[:, None],
        y,
        rng.normal(size=(80, 2)) - 3 * y[:, None],
        y_target=y,
    )
    with pytest.raises(NotApplicableError, match="visible target labels"):
        make_method("target_only").fit(problem)
    semi = problem.with_target_labels(5, random_state=0)
    X_eval, y_eval = semi.evaluation_split()
    assert len(y_eval) == 70  # the 10 visible labels are not scored
    target_only = make_method("target_only").fit(semi)
    with pytest.warns(DegenerateResultWarning, match="source-only: 9"):
        source_only = make_method("source_only").fit(semi)  # the mirrored target fools it
    assert np.mean(target_only.predict(X_eval) == y_eval) > 0.95
    assert np.mean(target_only.predict(X_eval) == y_eval) > np.mean(
        source_only.predict(X_eval) == y_eval
    )


def test_a_collapsed_target_prediction_is_flagged_not_silent(squash_adapter):
    Squash = squash_adapter
    import warnings

    from transferkit.exceptions import DegenerateResultWarning

    rng = np.random.default_rng(0)
    y = np.arange(120) % 3
    Xs = rng.normal(size=(120, 2)) + 4 * np.eye(3)[y][:, :2]
    problem = TransferProblem(Xs, y, Xs + 0.1)
    with pytest.warns(DegenerateResultWarning, match="Squash: 100 % of the 120 target rows"):
        AdaptedClassifier(Squash(), LogisticRegression()).fit(problem)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateResultWarning)
        AdaptedClassifier(None, LogisticRegression()).fit(problem)  # healthy: no warning


def test_collapse_onto_a_few_of_many_classes_is_detected():
    from transferkit.base import collapsed_prediction

    y_source = np.arange(1000) % 10
    two_of_ten = np.r_[np.zeros(480, int), np.ones(480, int), np.arange(40) % 10]
    assert "97 % of the 1000 target rows are predicted as classes 0, 1" in collapsed_prediction(
        two_of_ten, y_source
    )
    spread = np.arange(1000) % 10
    assert collapsed_prediction(spread, y_source) is None
    # label shift onto 4 of 10 classes is not called a collapse (more than a quarter of them)
    assert collapsed_prediction(np.arange(1000) % 4, y_source) is None
    # two balanced classes: one class for 92 % of the rows is a collapse, 80 % is not
    y2 = np.arange(100) % 2
    assert collapsed_prediction(np.r_[np.zeros(92, int), np.ones(8, int)], y2) is not None
    assert collapsed_prediction(np.r_[np.zeros(80, int), np.ones(20, int)], y2) is None
