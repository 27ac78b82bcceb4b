"""Kernels, the median heuristic and the low-rank feature maps (exact, Nyström, random Fourier)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from transferkit.exceptions import InvalidParameterError
from transferkit.kernels import (
    KernelFeatureMap,
    choose_approximation,
    kernel_matrix,
    median_heuristic,
    squared_norms,
)


@pytest.fixture
def X() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(150, 4))


def test_median_heuristic_gives_half_inverse_median_squared_distance(X):
    distances = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)[np.triu_indices(150, 1)]
    assert median_heuristic(X) == pytest.approx(1 / (2 * np.median(distances)))
    # sub-sampling is seeded; sparse input gives the same number
    assert median_heuristic(X, max_samples=50, random_state=1) == median_heuristic(
        sp.csr_matrix(X), max_samples=50, random_state=1
    )


def test_kernel_matrix_dense_and_sparse_agree(X):
    for kernel in ("linear", "rbf", "poly", "laplacian"):
        dense = kernel_matrix(X[:20], X[20:40], kernel=kernel, gamma=0.3)
        sparse = kernel_matrix(
            sp.csr_matrix(X[:20]), sp.csr_matrix(X[20:40]), kernel=kernel, gamma=0.3
        )
        np.testing.assert_allclose(dense, sparse, atol=1e-10)
    rbf = kernel_matrix(X[:3], kernel="rbf", gamma=0.3)
    expected = np.exp(-0.3 * ((X[:3, None] - X[None, :3]) ** 2).sum(-1))
    np.testing.assert_allclose(rbf, expected)


def test_exact_feature_map_reproduces_the_kernel_and_extends_to_new_rows(X):
    feature_map = KernelFeatureMap("rbf", gamma=0.2, approximation="exact").fit(X[:100])
    Phi = feature_map.transform(X[:100])
    np.testing.assert_allclose(
        Phi @ Phi.T, kernel_matrix(X[:100], kernel="rbf", gamma=0.2), atol=1e-6
    )
    # new rows: phi(x) . phi(y) is the projection of k(x, .) on the span of the fitted rows
    new = feature_map.transform(X[100:])
    assert new.shape == (50, Phi.shape[1])


@pytest.mark.parametrize("form", ["nystroem", "rff"])
def test_low_rank_maps_approximate_the_kernel_better_with_more_components(X, form):
    K = kernel_matrix(X, kernel="rbf", gamma=0.2)
    errors = []
    for size in (20, 400):
        Phi = KernelFeatureMap("rbf", 0.2, approximation=form, n_components=size, random_state=0)
        Phi = Phi.fit_transform(X)
        errors.append(np.abs(Phi @ Phi.T - K).max())
    assert errors[1] < errors[0]
    assert errors[1] < 0.2


def test_feature_maps_are_deterministic_with_a_seed(X):
    for form in ("nystroem", "rff"):
        a = KernelFeatureMap("rbf", approximation=form, n_components=30, random_state=5).fit(X)
        b = KernelFeatureMap("rbf", approximation=form, n_components=30, random_state=5).fit(X)
        np.testing.assert_array_equal(a.transform(X), b.transform(X))


def test_choose_approximation():
    assert choose_approximation("auto", 10**5, 2000, "linear", 100) == "linear"
    assert choose_approximation("auto", 10**5, 2000, "linear", 5000) == "nystroem"
    assert choose_approximation("auto", 1000, 2000, "rbf", 800) == "exact"
    assert choose_approximation("auto", 3000, 2000, "rbf", 800) == "nystroem"
    assert choose_approximation("rff", 10, 2000, "rbf", 2) == "rff"
    with pytest.raises(InvalidParameterError, match="approximation='svd'"):
        choose_approximation("svd", 10, 10, "rbf", 2)
    with pytest.raises(InvalidParameterError, match="needs kernel='rbf'"):
        choose_approximation("rff", 10, 10, "poly", 2)


def test_bad_kernel_parameters_raise(X):
    with pytest.raises(InvalidParameterError, match="kernel='cos'"):
        KernelFeatureMap("cos").fit(X)
    with pytest.raises(InvalidParameterError, match="gamma=0"):
        KernelFeatureMap("rbf", gamma=0).fit(X)
    with pytest.raises(InvalidParameterError, match="n_components=0"):
        KernelFeatureMap("rbf", n_components=0).fit(X)
    with pytest.raises(InvalidParameterError, match="degree=0"):
        kernel_matrix(X, kernel="poly", degree=0)
    with pytest.raises(InvalidParameterError, match="coef0=nan must be a number"):
        kernel_matrix(X, kernel="poly", coef0=float("nan"))


def test_squared_norms_of_dense_and_sparse_rows(X):
    expected = (X**2).sum(axis=1)
    np.testing.assert_allclose(squared_norms(X), expected)
    np.testing.assert_allclose(squared_norms(sp.csr_matrix(X)), expected)
    assert squared_norms(sp.csr_matrix(X)).shape == (150,)
