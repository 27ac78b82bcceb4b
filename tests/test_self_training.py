"""Self-training: class-balanced confident pseudo-labels, the estimator, its registration."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from transferkit.datasets import make_shifted_blobs
from transferkit.exceptions import NotApplicableError, ParameterValueError
from transferkit.registry import make_method
from transferkit.self_training import SelfTraining, confident_rows


def test_confident_rows_keeps_the_surest_share_of_each_predicted_class():
    proba = np.array([[0.9, 0.1], [0.6, 0.4], [0.7, 0.3], [0.45, 0.55], [0.2, 0.8]])
    # class 0 predicted for rows 0-2 (keep the surest 2 of 3, rounded up), class 1 for rows 3-4
    assert confident_rows(proba, 0.5).tolist() == [0, 2, 4]
    assert confident_rows(proba, 1.0).tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ParameterValueError, match="share"):
        confident_rows(proba, 1.5)


def test_the_estimator_is_the_loop_written_out():
    problem = make_shifted_blobs(conditional_shift=2.0, random_state=0)
    model = SelfTraining(LogisticRegression(), share=0.6, n_iter=2).fit(problem)
    Xs, ys, Xt = problem.X_source, problem.y_source, problem.X_target
    manual = LogisticRegression().fit(Xs, ys)
    for _ in range(2):
        rows = confident_rows(manual.predict_proba(Xt), 0.6)
        pseudo = manual.predict(Xt[rows])
        manual = LogisticRegression().fit(np.vstack([Xs, Xt[rows]]), np.r_[ys, pseudo])
    assert np.allclose(model.predict_proba(problem.X_test), manual.predict_proba(problem.X_test))
    assert model.pseudo_label_share_ == pytest.approx(len(rows) / len(Xt))
    factory = make_method("self_training", {"share": 0.6, "n_iter": 2}, "logreg", 0)
    assert (factory.share, factory.n_iter) == (0.6, 2)
    copy = clone(model)
    assert (copy.share, copy.n_iter, type(copy.estimator)) == (0.6, 2, LogisticRegression)


def test_bad_parameters_name_the_problem():
    problem = make_shifted_blobs(random_state=0)
    with pytest.raises(NotApplicableError, match="share=0"):
        SelfTraining(share=0.0).fit(problem)
    with pytest.raises(ParameterValueError, match="n_iter"):
        SelfTraining(n_iter=0).fit(problem)
    with pytest.raises(NotApplicableError, match="LinearSVC has no predict_proba"):
        SelfTraining(LinearSVC()).fit(problem)


def test_self_training_beats_source_only_under_conditional_shift():
    gains = []
    for seed in range(5):
        problem = make_shifted_blobs(conditional_shift=2.0, n_test=500, random_state=seed)
        source_only = make_method("source_only", {}, "logreg", seed).fit(problem)
        adapted = make_method("self_training", {}, "logreg", seed).fit(problem)
        gains.append(
            adapted.score(problem.X_test, problem.y_test)
            - source_only.score(problem.X_test, problem.y_test)
        )
    assert np.mean(gains) > 0.005 and sum(gain > 0 for gain in gains) >= 4, gains
