"""Adapters in scikit-learn pipelines: the unlabelled target rows never reach a classifier."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from transferkit.alignment import CORAL
from transferkit.base import AdaptedClassifier, DAPipeline, make_da_pipeline
from transferkit.exceptions import InvalidParameterError, NotApplicableError
from transferkit.problem import UNLABELED, TransferProblem
from transferkit.reweighting import KMM


def _problem(labels=None, seed=0):
    """Two classes split by x0 > 0; the target is stretched and moved along x1."""
    rng = np.random.default_rng(seed)
    X_source = rng.normal(size=(150, 3))
    X_target = rng.normal(size=(120, 3)) * [1.0, 3.0, 1.0] + [0.0, 2.0, 0.0]
    y_source = (X_source[:, 0] > 0).astype(int)
    y_target = (X_target[:, 0] > 0).astype(int)
    if labels is not None:
        y_source, y_target = np.asarray(labels)[y_source], np.asarray(labels)[y_target]
    return TransferProblem(X_source, y_source, X_target, y_target=y_target)


def test_plain_pipeline_refuses_instead_of_learning_the_unlabelled_class():
    # it used to train LogisticRegression on the target rows as a class -1
    X, y, domain = _problem().stacked()
    plain = make_pipeline(StandardScaler(), CORAL(), LogisticRegression())
    with pytest.raises(NotApplicableError, match="make_da_pipeline"):
        plain.fit(X, y, coral__domain=domain)
    # the features alone are still one call away
    features = CORAL().fit(X, y, domain=domain).transform(X, domain)
    assert features.shape == X.shape


def test_da_pipeline_trains_on_labelled_rows_like_adapted_classifier():
    problem = _problem()
    X, y, domain = problem.stacked()
    pipeline = make_da_pipeline(CORAL(), LogisticRegression()).fit(X, y, domain=domain)
    reference = AdaptedClassifier(CORAL(), LogisticRegression()).fit(problem)
    assert pipeline.classes_.tolist() == [0, 1]
    np.testing.assert_allclose(
        pipeline.predict_proba(problem.X_target), reference.predict_proba(problem.X_target)
    )
    # the domain inferred from y == -1 gives the same model
    inferred = make_da_pipeline(CORAL(), LogisticRegression()).fit(X, y)
    np.testing.assert_allclose(
        inferred.predict_proba(problem.X_target), pipeline.predict_proba(problem.X_target)
    )


def test_da_pipeline_with_a_scaler_adapts_and_scores_on_target_rows():
    problem = _problem()
    X, y, domain = problem.stacked()
    pipeline = make_da_pipeline(StandardScaler(), CORAL(), LogisticRegression())
    pipeline.fit(X, y, domain=domain)
    scaler = pipeline.named_steps["standardscaler"]
    np.testing.assert_allclose(scaler.mean_, X.mean(axis=0))  # fitted on every row
    source_only = LogisticRegression().fit(problem.X_source, problem.y_source)
    accuracy = pipeline.score(problem.X_target, problem.y_target)
    assert accuracy > source_only.score(problem.X_target, problem.y_target) - 0.02
    assert accuracy > 0.85


def test_user_labels_survive_every_route():
    # 'cat'/'dog' used to come back as 0/1 through the stacked form
    problem = _problem(labels=["cat", "dog"])
    X, y, domain = problem.stacked()
    assert set(y[domain == 1]) == {UNLABELED}
    for model in (
        AdaptedClassifier(CORAL(), LogisticRegression()).fit(X, y, domain=domain),
        make_da_pipeline(CORAL(), LogisticRegression()).fit(X, y),
        make_da_pipeline(CORAL(), LogisticRegression()).fit(problem),
    ):
        assert model.classes_.tolist() == ["cat", "dog"]
        predicted = model.predict(problem.X_target)
        assert set(predicted) <= {"cat", "dog"}
        assert np.mean(predicted == problem.y_target) > 0.8


def test_reweighter_weights_reach_the_final_classifier():
    problem = _problem()
    X, y, domain = problem.stacked()
    pipeline = make_da_pipeline(KMM(), LogisticRegression()).fit(X, y, domain=domain)
    reference = AdaptedClassifier(KMM(), LogisticRegression()).fit(problem)
    np.testing.assert_allclose(
        pipeline.predict_proba(problem.X_target), reference.predict_proba(problem.X_target)
    )
    unweighted = LogisticRegression().fit(problem.X_source, problem.y_source)
    assert not np.allclose(
        pipeline.predict_proba(problem.X_target), unweighted.predict_proba(problem.X_target)
    )
    with pytest.raises(NotApplicableError, match="drop the weights"):
        KMM().fit_transform(X, np.where(domain == 1, 0, y), domain=domain)


def test_da_pipeline_composes_with_sklearn_tools():
    problem = _problem()
    X, y, domain = problem.stacked()
    pipeline = make_da_pipeline(CORAL(), LogisticRegression())
    assert isinstance(clone(pipeline), DAPipeline)
    pipeline.set_params(coral__regularization=5.0)
    pipeline.fit(X, y, domain=domain)
    assert pipeline.named_steps["coral"].regularization == 5.0
    weak = make_da_pipeline(CORAL(regularization=5.0), LogisticRegression()).fit(X, y)
    np.testing.assert_allclose(
        pipeline.predict_proba(problem.X_target), weak.predict_proba(problem.X_target)
    )
    with pytest.raises(InvalidParameterError, match="pass domain= to fit itself"):
        make_da_pipeline(CORAL(), LogisticRegression()).fit(X, y, coral__domain=domain)
    with pytest.raises(InvalidParameterError, match="needs labels y"):
        make_da_pipeline(CORAL(), LogisticRegression()).fit(X)
