"""The target-label oracle: the yardstick for validators, reported beside them by a search."""

import numpy as np
import pytest

from transferkit.datasets import make_rotated_moons
from transferkit.evaluation import TargetAccuracy
from transferkit.exceptions import NotApplicableError
from transferkit.problem import TARGET
from transferkit.selection import DomainAwareSearchCV, predict_rows


def test_the_oracle_is_the_accuracy_on_the_target_labels(moons):
    problem, _, models, _ = moons
    for model in models.values():
        expected = np.mean(predict_rows(model, problem.X_target, TARGET) == problem.y_target)
        score = TargetAccuracy().score(model, None, None, problem.X_target, problem.y_target)
        assert score == pytest.approx(expected)
    with pytest.raises(NotApplicableError, match="needs the target labels"):
        TargetAccuracy().score(models["ot"], None, None, problem.X_target)


def test_a_search_reports_the_oracle_beside_the_validators():
    problem = make_rotated_moons(n_samples=200, angle=35, random_state=0)
    search = DomainAwareSearchCV(
        {"source_only": {}, "coral": {"regularization": [1.0, 10.0]}},
        scoring=["im", TargetAccuracy()],
        cv=2,
        random_state=0,
    ).fit(problem)
    oracle = search.cv_results_["mean_oracle"]
    assert len(oracle) == 3 and all(0.0 <= value <= 1.0 for value in oracle)
    # each fold's candidate is scored on all the target labels
    for i, (method, params) in enumerate(
        zip(search.cv_results_["method"], search.cv_results_["params"], strict=True)
    ):
        if method == "source_only":  # its fit ignores the target, so fold models are close
            full = search.make_candidate(method, params).fit(problem)
            assert (
                abs(oracle[i] - np.mean(full.predict(problem.X_target) == problem.y_target)) < 0.1
            )
