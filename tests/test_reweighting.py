"""KMM, KLIEP and domain-classifier weights: constraints, solver, behaviour under covariate shift."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import minimize
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from transferkit.base import AdaptedClassifier
from transferkit.exceptions import InvalidParameterError, NotApplicableError
from transferkit.kernels import kernel_matrix
from transferkit.problem import TransferProblem
from transferkit.registry import make_method
from transferkit.reweighting import (
    KLIEP,
    KMM,
    DomainClassifierWeights,
    _project_box_sum,
    density_ratio_weights,
    kliep_weights,
    kmm_weights,
)


def covariate_shift_problem(seed: int = 0, n: int = 400) -> TransferProblem:
    """P(y|x) fixed (a curved boundary), P(x) moves: a linear model must fit the target region."""
    rng = np.random.default_rng(seed)
    Xs = rng.normal(0.0, 1.0, size=(n, 2))
    Xt = rng.normal([1.5, 0.0], 0.5, size=(n, 2))

    def rule(X: np.ndarray) -> np.ndarray:
        return (X[:, 1] > np.sin(2 * X[:, 0])).astype(int)

    return TransferProblem(Xs, rule(Xs), Xt, y_target=rule(Xt))


def accuracy(reweighter, problem) -> float:
    model = AdaptedClassifier(reweighter, LogisticRegression()).fit(problem)
    return float(np.mean(model.predict(problem.X_target) == problem.y_target))


# ---------------------------------------------------------------------------- KMM
def test_box_sum_projection_is_the_closest_feasible_point():
    rng = np.random.default_rng(0)
    v = rng.normal(2.0, 3.0, size=50)
    p = _project_box_sum(v, upper=4.0, low_sum=40.0, high_sum=60.0)
    assert p.min() >= 0 and p.max() <= 4.0 and 40.0 - 1e-6 <= p.sum() <= 60.0 + 1e-6
    for _ in range(200):  # no random feasible point is closer
        q = _project_box_sum(rng.uniform(0, 4, size=50), 4.0, 40.0, 60.0)
        assert np.linalg.norm(v - p) <= np.linalg.norm(v - q) + 1e-9


def test_kmm_solves_the_papers_quadratic_programme():
    rng = np.random.default_rng(1)
    Xs, Xt = rng.normal(size=(25, 2)), rng.normal(0.7, 0.6, size=(30, 2))
    gamma, B, epsilon = 0.5, 5.0, 0.2
    weights = kmm_weights(Xs, Xt, gamma=gamma, B=B, epsilon=epsilon, max_iter=5000, tol=1e-10)
    K = kernel_matrix(Xs, kernel="rbf", gamma=gamma)
    kappa = 25 / 30 * kernel_matrix(Xs, Xt, kernel="rbf", gamma=gamma).sum(axis=1)

    def objective(b):
        return 0.5 * b @ K @ b - kappa @ b

    reference = minimize(
        objective,
        np.ones(25),
        jac=lambda b: K @ b - kappa,
        bounds=[(0, B)] * 25,
        constraints=[
            {"type": "ineq", "fun": lambda b: 25 * (1 + epsilon) - b.sum()},
            {"type": "ineq", "fun": lambda b: b.sum() - 25 * (1 - epsilon)},
        ],
        method="SLSQP",
        options={"maxiter": 1000, "ftol": 1e-12},
    )
    assert weights.min() >= 0 and weights.max() <= B + 1e-9
    assert abs(weights.mean() - 1) <= epsilon + 1e-9
    assert objective(weights) <= reference.fun + 1e-6 * abs(reference.fun)


def test_kmm_low_rank_with_every_landmark_reaches_the_exact_optimum():
    rng = np.random.default_rng(2)
    Xs, Xt = rng.normal(size=(80, 3)), rng.normal(0.5, size=(60, 3))
    K = kernel_matrix(Xs, kernel="rbf", gamma=0.3)
    kappa = 80 / 60 * kernel_matrix(Xs, Xt, kernel="rbf", gamma=0.3).sum(axis=1)

    def objective(b):
        return 0.5 * b @ K @ b - kappa @ b

    exact = kmm_weights(Xs, Xt, gamma=0.3, approximation="exact", tol=1e-9, max_iter=3000)
    low_rank = kmm_weights(
        Xs, Xt, gamma=0.3, approximation="nystroem", n_landmarks=140, tol=1e-9, max_iter=3000
    )
    assert objective(low_rank) == pytest.approx(objective(exact), rel=1e-4)
    assert np.corrcoef(low_rank, exact)[0, 1] > 0.95


def test_kmm_switches_to_low_rank_above_the_threshold_and_repeats_with_a_seed():
    problem = covariate_shift_problem(n=300)
    a = KMM(exact_threshold=100, n_landmarks=50, random_state=3).fit(problem).weights_
    b = KMM(exact_threshold=100, n_landmarks=50, random_state=3).fit(problem).weights_
    np.testing.assert_array_equal(a, b)
    rff = KMM(approximation="rff", n_landmarks=200, random_state=0).fit(problem).weights_
    assert np.isfinite(rff).all() and rff.std() > 0


@pytest.mark.parametrize(
    "reweighter",
    [KMM(random_state=0), KLIEP(random_state=0), DomainClassifierWeights(random_state=0)],
    ids=["kmm", "kliep", "density_ratio"],
)
def test_weights_beat_source_only_under_covariate_shift(reweighter):
    problem = covariate_shift_problem()
    assert accuracy(reweighter, problem) > accuracy(None, problem) + 0.2


@pytest.mark.parametrize(
    "reweighter",
    [
        KMM(random_state=0),
        KLIEP(random_state=0),
        # the default domain classifier max-abs scales sparse input (standardising would densify
        # it), so sparse and dense rows meet the same classifier only when one is given
        DomainClassifierWeights(estimator=LogisticRegression(max_iter=1000), random_state=0),
    ],
    ids=["kmm", "kliep", "density_ratio"],
)
def test_sparse_input_gives_the_dense_weights(reweighter):
    problem = covariate_shift_problem(n=120)
    sparse = TransferProblem(
        sp.csr_matrix(problem.X_source), problem.y_source, sp.csr_matrix(problem.X_target)
    )
    dense_weights = clone(reweighter).fit(problem).weights_
    np.testing.assert_allclose(reweighter.fit(sparse).weights_, dense_weights, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    ("reweighter", "message"),
    [
        (KMM(B=0), "B=0 must be a positive"),
        (KMM(B=0.5, epsilon=0.1), "B=0.5 is too small"),
        (KMM(epsilon=-1), "epsilon=-1"),
        (KMM(kernel="sigmoid"), "kernel='sigmoid' is not supported"),
        (KMM(approximation="rff", kernel="linear"), "needs kernel='rbf'"),
        (KMM(max_iter=0), "max_iter=0"),
        (KLIEP(n_centers=0), "n_centers=0"),
        (KLIEP(gamma=-1.0), "gamma=-1.0"),
        (DomainClassifierWeights(n_folds=1), "n_folds=1 must be at least 2"),
        (DomainClassifierWeights(max_weight=0.5), "max_weight=0.5 must be at least 1"),
        (DomainClassifierWeights(estimator=LinearSVC()), "no predict_proba"),
    ],
)
def test_bad_parameters_raise_clear_errors(reweighter, message):
    with pytest.raises(InvalidParameterError, match=message):
        reweighter.fit(covariate_shift_problem(n=40))


# ---------------------------------------------------------------------------- KLIEP
def test_kliep_weights_follow_the_density_ratio():
    rng = np.random.default_rng(0)
    Xs, Xt = rng.normal(size=(500, 1)), rng.normal(1.0, 0.5, size=(500, 1))
    weights = kliep_weights(Xs, Xt, random_state=0)
    true_ratio = np.exp(-2 * (Xs[:, 0] - 1) ** 2 + Xs[:, 0] ** 2 / 2) * 2
    # the paper's normalisation: the weights average one on the source
    assert abs(weights.mean() - 1) < 0.05
    assert np.corrcoef(weights, true_ratio)[0, 1] > 0.9


def test_kliep_fixed_gamma_and_seeded_centres_repeat():
    problem = covariate_shift_problem(n=200)
    a = KLIEP(gamma=0.5, n_centers=30, random_state=4).fit(problem).weights_
    b = KLIEP(gamma=0.5, n_centers=30, random_state=4).fit(problem).weights_
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------- density ratio
def test_the_reweighting_family_uses_the_one_density_ratio():
    """The re-weighter's default classifier is plain logistic regression on the raw features."""
    from sklearn.linear_model import LogisticRegression

    from transferkit import domain_classifier

    assert density_ratio_weights is domain_classifier.density_ratio
    problem = covariate_shift_problem(n=150)
    fitted = DomainClassifierWeights(n_folds=4, random_state=2).fit(problem).weights_
    direct = domain_classifier.density_ratio(
        problem.X_source,
        problem.X_target,
        classifier=LogisticRegression(C=1.0, max_iter=1000),
        n_folds=4,
        random_state=2,
    )
    np.testing.assert_allclose(fitted, direct * (len(direct) / direct.sum()), rtol=1e-12)


def test_density_ratio_weights_are_capped_and_average_one():
    rng = np.random.default_rng(0)
    Xs, Xt = rng.normal(size=(300, 1)), rng.normal(2.5, 0.3, size=(300, 1))
    weights = density_ratio_weights(Xs, Xt, max_weight=5.0, random_state=0)
    assert weights.max() <= 5.0 + 1e-9
    assert abs(weights.mean() - 1) < 1e-9
    assert weights[Xs[:, 0] > 2].mean() > weights[Xs[:, 0] < 0].mean()


# ---------------------------------------------------------------------------- plumbing
@pytest.mark.parametrize("name", ["kmm", "kliep", "density_ratio"])
def test_registered_reweighters_run_with_defaults_and_refuse_1nn(name):
    problem = covariate_shift_problem(n=150)
    model = make_method(name, random_state=0).fit(problem)
    assert model.adapter_.weights_.shape == (150,)
    assert len(np.unique(model.predict(problem.X_target))) == 2
    with pytest.raises(NotApplicableError, match="sample_weight"):
        make_method(name, classifier="1nn", random_state=0).fit(problem)


@pytest.mark.parametrize(
    "reweighter, weight_function, params",
    [
        (KMM, kmm_weights, {"kernel": "rbf", "gamma": 0.7, "B": 5.0, "tol": 1e-5}),
        (KLIEP, kliep_weights, {"gamma": 0.5, "n_centers": 30, "max_iter": 500}),
        (
            DomainClassifierWeights,
            density_ratio_weights,
            {"n_folds": 3, "max_weight": 5.0, "estimator": LogisticRegression(C=0.5)},
        ),
    ],
)
def test_each_reweighter_forwards_every_parameter_to_its_weight_function(
    reweighter, weight_function, params
):
    """The estimators hand their parameters to the pure function by name: both lists must match.

    The one renamed argument: DomainClassifierWeights' ``estimator`` is the ``classifier`` of
    :func:`transferkit.domain_classifier.density_ratio`.
    """
    renamed = {"estimator": "classifier"}
    keywords = list(inspect.signature(weight_function).parameters)[2:]
    params_given = reweighter().get_params(deep=False)
    assert sorted(renamed.get(name, name) for name in params_given) == sorted(keywords)
    problem = covariate_shift_problem(n=150)
    fitted = reweighter(random_state=3, **params).fit(problem).weights_
    direct = weight_function(
        problem.X_source,
        problem.X_target,
        random_state=3,
        **{renamed.get(name, name): value for name, value in params.items()},
    )
    direct = np.clip(direct, 0.0, None)
    np.testing.assert_allclose(fitted, direct * (len(direct) / direct.sum()), rtol=1e-12)
