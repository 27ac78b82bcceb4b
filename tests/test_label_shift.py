"""Label-shift estimation and correction, and imbalanced-learn resampling in front of any method."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.svm import LinearSVC

from transferkit.diagnose.calibration import make_planted_problem
from transferkit.exceptions import InvalidParameterError, NotApplicableError
from transferkit.label_shift import (
    SAMPLER_NAMES,
    LabelShiftCorrector,
    ResampledMethod,
    adjust_proba,
    apply_temperature,
    bbse_weights,
    em_priors,
    estimate_target_priors,
    fit_temperature,
    make_sampler,
    resampling_pipeline,
    target_prior_strategy,
)
from transferkit.problem import TransferProblem
from transferkit.registry import make_classifier, make_method


def _gaussian_posteriors(rng, priors, n):
    """Two unit-variance Gaussians at -1 and +1: exact posteriors under equal priors."""
    y = rng.choice(2, n, p=priors)
    x = rng.normal(np.where(y == 1, 1.0, -1.0))
    p1 = 1 / (1 + np.exp(-2 * x))
    return np.column_stack([1 - p1, p1]), y


def test_bbse_and_em_recover_planted_priors_from_exact_posteriors():
    rng = np.random.default_rng(0)
    proba_h, y_h = _gaussian_posteriors(rng, [0.5, 0.5], 4000)
    proba_t, _ = _gaussian_posteriors(rng, [0.8, 0.2], 4000)
    w = bbse_weights(y_h, proba_h, proba_t)
    assert w == pytest.approx([1.6, 0.4], abs=0.08)
    assert em_priors(proba_t, np.array([0.5, 0.5])) == pytest.approx([0.8, 0.2], abs=0.03)
    estimate = estimate_target_priors(
        y_h, proba_h, proba_t, np.array([0, 1]), method="bbse_hard", n_bootstrap=100, random_state=0
    )
    assert estimate.ci_low[0] < 0.8 < estimate.ci_high[0]
    assert estimate.total_variation == pytest.approx(0.3, abs=0.05)


def test_adjusting_posteriors_follows_bayes_rule():
    proba = np.array([[0.5, 0.5], [0.9, 0.1]])
    adjusted = adjust_proba(proba, np.array([0.5, 0.5]), np.array([0.2, 0.8]))
    assert adjusted[0] == pytest.approx([0.2, 0.8])
    assert adjusted.sum(axis=1) == pytest.approx([1, 1])


def test_temperature_scaling_fixes_overconfidence():
    rng = np.random.default_rng(1)
    proba, y = _gaussian_posteriors(rng, [0.5, 0.5], 3000)
    overconfident = apply_temperature(np.log(proba), 0.3, np.zeros(2))  # sharpened

    def nll(p):
        return -np.mean(np.log(p[np.arange(len(y)), y]))

    temperature, bias = fit_temperature(np.log(overconfident), y, bias=True)
    assert temperature == pytest.approx(1 / 0.3, rel=0.15)
    recalibrated = apply_temperature(np.log(overconfident), temperature, bias)
    assert nll(recalibrated) < nll(overconfident) - 0.05


@pytest.mark.parametrize("method", ["em", "bbse", "bbse_hard"])
def test_corrector_beats_the_plain_classifier_on_planted_label_shift(method):
    planted = make_planted_problem("label", effect=0.4, random_state=2)
    problem = planted.problem
    plain = LogisticRegression(max_iter=1000).fit(problem.X_source, problem.y_source)
    corrected = LabelShiftCorrector(
        LogisticRegression(max_iter=1000), method=method, random_state=0
    )
    corrected.fit(problem)
    truth = np.array([0.6 + 0.4 / 3, 0.4 / 3, 0.4 / 3])  # tau = 0.4 puts a = 0.6 on class 0
    assert np.abs(corrected.target_priors_ - truth).max() < 0.08
    gain = corrected.score(problem.X_test, problem.y_test) - plain.score(
        problem.X_test, problem.y_test
    )
    assert gain > 0.02


def test_corrector_is_a_proper_estimator_and_takes_stacked_rows():
    problem = make_planted_problem("label", random_state=0).problem
    estimator = LabelShiftCorrector(LogisticRegression(), calibration="ts", random_state=0)
    assert repr(clone(estimator).get_params()) == repr(estimator.get_params())
    X, y, domain = problem.stacked()
    a = clone(estimator).fit(X, y, domain=domain).predict_proba(problem.X_test)
    b = clone(estimator).fit(problem).predict_proba(problem.X_test)
    assert np.allclose(a, b)
    assert a.shape == (len(problem.y_test), 3) and np.allclose(a.sum(axis=1), 1)


def test_corrector_refuses_models_without_probabilities_and_bad_options():
    problem = make_planted_problem("label", random_state=0).problem
    with pytest.raises(NotApplicableError, match="predict_proba"):
        LabelShiftCorrector(LinearSVC()).fit(problem)
    with pytest.raises(InvalidParameterError, match="method"):
        LabelShiftCorrector(method="mle").fit(problem)
    with pytest.raises(InvalidParameterError, match="calibration"):
        LabelShiftCorrector(calibration="platt").fit(problem)


def test_corrector_gains_on_real_digits_with_the_target_balance_altered():
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline

    X, y = load_digits(return_X_y=True)
    gains = []
    for seed in (0, 1, 2):  # three splits: one split's gain moves by a point between CPUs
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(y))
        source, rest = order[:900], order[900:]
        # target: the easily confused 3, 5 and 8 kept, every other class thinned to 10 %
        keep = np.array([i for i in rest if y[i] in (3, 5, 8) or rng.random() < 0.1])
        problem = TransferProblem(X[source], y[source], X[keep], y[keep])
        model = make_pipeline(PCA(8, random_state=0), LogisticRegression(max_iter=3000))
        plain = clone(model).fit(X[source], y[source]).score(X[keep], y[keep])
        corrected = LabelShiftCorrector(model, random_state=0).fit(problem)
        assert corrected.target_priors_[[3, 5, 8]].sum() > 0.7  # about 0.3 in the source
        gains.append(corrected.score(X[keep], y[keep]) - plain)
    # +0.9, +2.8 and +5.1 points on a 2-core x86 machine
    assert min(gains) > 0 and np.mean(gains) > 0.02


def test_label_shift_method_is_registered():
    problem = make_planted_problem("label", random_state=0).problem
    model = make_method("label_shift", {"method": "bbse"}, "logreg", random_state=0)
    direct = LabelShiftCorrector(make_classifier("logreg", 0), method="bbse", random_state=0)
    X_eval, _ = problem.evaluation_split()
    np.testing.assert_allclose(
        model.fit(problem).predict_proba(X_eval), direct.fit(problem).predict_proba(X_eval)
    )


# ---------------------------------------------------------------------------- resampling
def test_make_sampler_names_imbalanced_learn_samplers():
    from imblearn.over_sampling import SMOTE

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 2)), np.repeat([0, 1], [50, 10])
    _, y_res = make_sampler("smote", random_state=0).fit_resample(X, y)
    assert np.bincount(y_res).tolist() == [50, 50]  # SMOTE balances the classes
    assert make_sampler("random_under", random_state=3).random_state == 3
    # Tomek links take no random_state; they clean the majority class and keep the minority
    _, y_tomek = make_sampler("tomek", random_state=0).fit_resample(X, y)
    assert np.bincount(y_tomek)[1] == 10 and len(y_tomek) <= len(y)
    sampler = SMOTE(k_neighbors=3)
    assert make_sampler(sampler) is sampler
    with pytest.raises(InvalidParameterError, match="smote"):
        make_sampler("smoot")
    assert len(SAMPLER_NAMES) >= 8


def _imbalanced(rng, n_major=600, n_minor=40):
    X = np.vstack([rng.normal(0, 1, (n_major, 2)), rng.normal(1.5, 1, (n_minor, 2))])
    y = np.repeat([0, 1], [n_major, n_minor])
    return X, y


def test_resampling_pipeline_raises_minority_recall():
    rng = np.random.default_rng(0)
    X, y = _imbalanced(rng)
    X_test, y_test = _imbalanced(rng, 500, 500)
    plain = LogisticRegression().fit(X, y)
    for name in ("random_over", "smote", "adasyn", "random_under"):
        pipe = resampling_pipeline(name, LogisticRegression(), random_state=0).fit(X, y)
        assert (
            balanced_accuracy_score(y_test, pipe.predict(X_test))
            > balanced_accuracy_score(y_test, plain.predict(X_test)) + 0.05
        )


def test_resampled_method_balances_the_source_in_front_of_any_method():
    rng = np.random.default_rng(0)
    Xs, ys = _imbalanced(rng)
    Xt, yt = _imbalanced(rng, 300, 300)
    problem = TransferProblem(Xs, ys, Xt + 0.3, yt)
    model = ResampledMethod("coral", "smote", random_state=0).fit(problem)
    assert np.bincount(model.resampled_y_).tolist() == [600, 600]
    plain = make_method("coral", classifier="logreg", random_state=0).fit(problem)
    assert balanced_accuracy_score(yt, model.predict(Xt + 0.3)) > balanced_accuracy_score(
        yt, plain.predict(Xt + 0.3)
    )


def test_resampling_to_estimated_target_priors_improves_accuracy_under_label_shift():
    planted = make_planted_problem("label", effect=0.4, random_state=1)
    problem = planted.problem
    model = ResampledMethod("source_only", "random_under", target="target_priors", random_state=0)
    model.fit(problem)
    shares = np.bincount(model.resampled_y_) / len(model.resampled_y_)
    assert shares == pytest.approx(model.estimated_target_priors_, abs=0.02)
    plain = make_method("source_only", random_state=0).fit(problem)
    accuracy = np.mean(model.predict(problem.X_test) == problem.y_test)
    assert accuracy > np.mean(plain.predict(problem.X_test) == problem.y_test)


def test_target_prior_strategy_never_removes_when_oversampling():
    counts = np.array([100, 50, 50])
    over = target_prior_strategy(counts, np.array([0.2, 0.4, 0.4]), np.array([0, 1, 2]), "over")
    assert over == {0: 100, 1: 200, 2: 200}
    under = target_prior_strategy(counts, np.array([0.2, 0.4, 0.4]), np.array([0, 1, 2]), "under")
    assert under == {0: 25, 1: 50, 2: 50}


def test_resampled_method_errors_name_the_problem():
    problem = make_planted_problem("label", random_state=0).problem
    with pytest.raises(InvalidParameterError, match="cleans"):
        ResampledMethod(sampler="tomek", target="target_priors").fit(problem)
    with pytest.raises(InvalidParameterError, match="target"):
        ResampledMethod(target="uniform").fit(problem)
    with pytest.raises(InvalidParameterError, match="Unknown method"):
        ResampledMethod("no_such_method").fit(problem)
    resampled = make_method("resampled", {"sampler": "smote"}, random_state=0).fit(problem)
    _, counts = np.unique(resampled.resampled_y_, return_counts=True)
    assert counts.min() == counts.max() == np.bincount(problem.y_source).max()
