"""mSDA: the closed form is the expected-loss minimiser; sparse input; high-dim blocks; transfer."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from transferkit.base import AdaptedClassifier
from transferkit.exceptions import InvalidParameterError
from transferkit.invariant import MSDA, _mda_map, _scatter, msda_fit, msda_layer, msda_transform
from transferkit.problem import TransferProblem
from transferkit.registry import make_method


def test_closed_form_equals_the_expectation_over_every_corruption():
    """Enumerate all 2^d dropout masks: W = E[x xt^T] E[xt xt^T]^-1 must equal Chen et al.'s W."""
    rng = np.random.default_rng(0)
    X = rng.random((30, 4))
    noise = 0.3
    n, d = X.shape
    P = np.zeros((d, d + 1))
    Q = np.zeros((d + 1, d + 1))
    for mask in itertools.product([0, 1], repeat=d):
        mask = np.array(mask)
        probability = np.prod(np.where(mask == 1, 1 - noise, noise))
        corrupted = np.hstack([X * mask, np.ones((n, 1))])
        P += probability * X.T @ corrupted
        Q += probability * corrupted.T @ corrupted
    expected = P @ np.linalg.inv(Q)
    S, sums, count = _scatter(X)
    W = _mda_map(S, sums, count, np.arange(d), np.arange(d), noise, ridge=0.0)
    np.testing.assert_allclose(W, expected, rtol=1e-8, atol=1e-10)


def test_sparse_input_stays_sparse_and_matches_dense():
    rng = np.random.default_rng(1)
    X = (rng.random((80, 40)) > 0.85).astype(float)
    dense_layers = msda_fit(X, noise=0.5, n_layers=2)
    sparse_layers = msda_fit(sp.csr_matrix(X), noise=0.5, n_layers=2)
    dense = msda_transform(X, dense_layers)
    sparse = msda_transform(sp.csr_matrix(X), sparse_layers)
    assert sp.issparse(sparse) and sparse.shape == (80, 120)
    np.testing.assert_allclose(sparse.toarray(), dense, atol=1e-10)


def test_high_dimensional_extension_reconstructs_pivots_from_random_blocks():
    rng = np.random.default_rng(2)
    X = sp.random(100, 300, density=0.05, random_state=3, format="csr")
    layer = msda_layer(X, noise=0.5, n_pivots=40, block_size=100, random_state=0)
    assert len(layer.blocks) == 3 and all(len(block) <= 100 for block in layer.blocks)
    assert np.array_equal(np.sort(np.concatenate(layer.blocks)), np.arange(300))
    hidden = layer.transform(X)
    assert hidden.shape == (100, 40) and np.isfinite(hidden).all()
    again = msda_layer(X, noise=0.5, n_pivots=40, block_size=100, random_state=0)
    np.testing.assert_array_equal(again.transform(X), hidden)
    del rng


def text_like_problem(seed: int = 0, n: int = 600) -> TransferProblem:
    """Bag-of-words reviews: a few shared sentiment words, and domain-specific ones per domain.

    Source reviews use source words, target reviews target words, both use the shared words
    sparsely; a classifier trained on source words alone learns little about target words, but
    mSDA learns from unlabelled data that target words co-occur with the shared ones.
    """
    rng = np.random.default_rng(seed)
    n_shared, n_specific, n_noise = 10, 20, 50

    def draw(y: np.ndarray, offset: int) -> sp.csr_matrix:
        d = 2 * n_shared + 4 * n_specific + n_noise
        X = np.zeros((len(y), d))
        for i, label in enumerate(y):
            shared = np.arange(n_shared) + label * n_shared
            specific = 2 * n_shared + offset + label * n_specific + np.arange(n_specific)
            X[i, shared] = rng.random(n_shared) < 0.15
            X[i, specific] = rng.random(n_specific) < 0.3
            X[i, 2 * n_shared + 4 * n_specific :] = rng.random(n_noise) < 0.1
        return sp.csr_matrix(X)

    ys, yt = rng.integers(0, 2, n), rng.integers(0, 2, n)
    test = rng.integers(0, 2, n)
    return TransferProblem(
        draw(ys, 0),
        ys,
        draw(yt, 2 * n_specific),
        y_target=yt,
        X_test=draw(test, 2 * n_specific),
        y_test=test,
    )


def test_msda_beats_source_only_on_text_like_domains():
    problem = text_like_problem()
    estimator = LogisticRegression(C=1.0, max_iter=1000)
    scores = {}
    for name, adapter in (("source_only", None), ("msda", MSDA(noise=0.6, n_layers=2))):
        model = AdaptedClassifier(adapter, estimator).fit(problem)
        scores[name] = np.mean(model.predict(problem.X_test) == problem.y_test)
    assert scores["msda"] > scores["source_only"] + 0.05


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"noise": 1.0}, "noise=1.0 must be below 1"),
        ({"noise": -0.1}, "noise=-0.1"),
        ({"n_layers": 0}, "n_layers=0"),
        ({"n_pivots": 0}, "n_pivots=0"),
        ({"block_size": 0}, "block_size=0"),
        ({"nonlinearity": "relu"}, "nonlinearity='relu'"),
    ],
)
def test_bad_parameters_raise(params, message):
    with pytest.raises(InvalidParameterError, match=message):
        MSDA(**params).fit(text_like_problem(n=40))


def test_registered_msda_runs_with_defaults_on_dense_input():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 6))
    problem = TransferProblem(X[:60], (X[:60, 0] > 0).astype(int), X[60:] + 0.5)
    model = make_method("msda", random_state=0).fit(problem)
    assert model.adapter_.transform(problem.X_target).shape == (60, 6 * 4)
    assert len(np.unique(model.predict(problem.X_target))) == 2
