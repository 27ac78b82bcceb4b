"""Single-model validators score an adapted model without target labels."""

import numpy as np
import pytest

from transferkit.exceptions import InvalidParameterError, NotApplicableError
from transferkit.selection import (
    ImportanceWeightedValidator,
    ReverseValidator,
    SourceAccuracyValidator,
    make_validator,
)


def test_the_fixtures_hold_what_they_promise(moons, band):
    assert moons[3]["ot"] > moons[3]["source_only"] + 0.05
    assert band[4] < 0.45


@pytest.mark.parametrize("name", ["iwcv", "dev"])
def test_importance_weighted_validators_estimate_target_accuracy_under_covariate_shift(band, name):
    problem, model, Xv, yv, target_accuracy = band
    estimate = make_validator(name).score(model, Xv, yv, problem.X_target)
    accuracy = 1 + estimate if name == "dev" else estimate  # DEV scores minus the risk
    source_accuracy = make_validator("source_accuracy").score(model, Xv, yv, problem.X_target)
    assert abs(accuracy - target_accuracy) < 0.1
    assert abs(source_accuracy - target_accuracy) > 0.25


@pytest.mark.parametrize("name", ["reverse", "im", "entropy", "mixval"])
def test_target_side_validators_prefer_the_adapted_model(moons, name):
    problem, val, models, _ = moons
    validator = make_validator(name)
    Xv, yv = problem.X_source[val], problem.y_source[val]
    scores = {k: validator.score(m, Xv, yv, problem.X_target) for k, m in models.items()}
    assert scores["ot"] > scores["source_only"], scores


def test_snd_is_the_neighbourhood_entropy_of_the_predictions():
    class Fixed:
        classes_ = np.array([0, 1])

        def __init__(self, proba):
            self.proba = proba

        def predict_proba(self, X):
            return self.proba

    two_groups = np.repeat(np.eye(2), 10, axis=0)  # two tight groups of 10
    snd = make_validator("snd").score(Fixed(two_groups), None, None, np.zeros((20, 1)))
    # each row spreads its softmax over its 9 look-alikes (the other group gets e^-20)
    assert snd == pytest.approx(np.log(9), abs=1e-3)
    scattered = np.random.default_rng(0).dirichlet([1, 1], 20)
    assert make_validator("snd").score(Fixed(scattered), None, None, np.zeros((20, 1))) < snd


def test_mixval_probes_the_boundary_and_refuses_bad_ratios(moons):
    problem, _, models, _ = moons

    class Constant:
        classes_ = np.array([0, 1])

        def predict(self, X):
            return np.zeros(X.shape[0], dtype=int)

    validator = make_validator("mixval")
    assert validator.score(Constant(), None, None, problem.X_target) == 0.0
    score = validator.score(models["ot"], None, None, problem.X_target)
    assert 0.5 < score <= 1.0
    assert score == validator.score(models["ot"], None, None, problem.X_target)  # seeded
    with pytest.raises(InvalidParameterError, match="ratio=0.4"):
        make_validator("mixval", ratio=0.4).score(models["ot"], None, None, problem.X_target)


def test_validators_are_sklearn_scorers_on_stacked_rows(moons):
    problem, val, models, _ = moons
    X = np.concatenate([problem.X_source[val], problem.X_target])
    y = np.concatenate([problem.y_source[val], np.full(problem.n_target, -1)])
    for name in ("iwcv", "entropy", "source_accuracy"):
        validator = make_validator(name)
        direct = validator.score(
            models["ot"], problem.X_source[val], problem.y_source[val], problem.X_target
        )
        assert validator(models["ot"], X, y) == pytest.approx(direct)
    assert make_validator("im")(models["ot"], problem.X_target) > 0  # target rows only
    with pytest.raises(InvalidParameterError, match="held-out labelled source"):
        make_validator("iwcv")(models["ot"], problem.X_target)
    with pytest.raises(InvalidParameterError, match="no target rows"):
        make_validator("iwcv")(models["ot"], problem.X_source[val], problem.y_source[val])


def test_source_side_validators_refuse_an_empty_source_fold(moons):
    problem, _, models, _ = moons
    empty = problem.X_source[:0], problem.y_source[:0]
    for validator in (ImportanceWeightedValidator(), ReverseValidator(), SourceAccuracyValidator()):
        with pytest.raises(NotApplicableError, match="held-out labelled source rows"):
            validator.score(models["ot"], *empty, problem.X_target)
    with pytest.raises(InvalidParameterError, match="DEV loss"):
        make_validator("dev", loss="hinge").score(
            models["ot"], problem.X_source[:50], problem.y_source[:50], problem.X_target
        )
