"""The one domain classifier: default, out-of-fold scores, density ratio, proxy A-distance."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.svm import LinearSVC

from transferkit.diagnose import statistics as st
from transferkit.domain_classifier import (
    default_domain_classifier,
    density_ratio,
    domain_scores,
    proxy_a_distance,
    proxy_a_distance_from_error,
)
from transferkit.exceptions import InvalidParameterError


def test_density_ratio_follows_the_true_ratio_of_two_gaussians():
    rng = np.random.default_rng(0)
    Xs, Xt = rng.normal(size=(600, 1)), rng.normal(0.7, size=(600, 1))
    weights = density_ratio(Xs, Xt, max_weight=None, random_state=0)
    # N(0.7, 1) / N(0, 1) = exp(0.7 x - 0.245): log-linear, as the logistic model assumes
    true_ratio = np.exp(0.7 * Xs[:, 0] - 0.245)
    assert abs(weights.mean() - 1) < 1e-9
    assert np.corrcoef(np.log(weights), np.log(true_ratio))[0, 1] > 0.99


def test_density_ratio_cap_keeps_the_mean_and_sparse_rows_work():
    rng = np.random.default_rng(1)
    Xs, Xt = rng.normal(size=(300, 2)), rng.normal(2.5, 0.5, size=(300, 2))
    capped = density_ratio(Xs, Xt, max_weight=4.0, random_state=0)
    assert capped.max() <= 4.0 + 1e-9 and abs(capped.mean() - 1) < 1e-9
    counts = sp.csr_matrix(rng.poisson(0.3, size=(200, 30)).astype(float))
    shifted = sp.csr_matrix(rng.poisson(0.6, size=(150, 30)).astype(float))
    weights = density_ratio(counts, shifted, random_state=0)
    assert weights.shape == (200,) and np.isfinite(weights).all()
    # source rows with more words look more like the (wordier) target
    words = np.asarray(counts.sum(axis=1)).ravel()
    assert weights[words > np.median(words)].mean() > weights[words < np.median(words)].mean()


def test_scores_are_out_of_fold():
    """A 1-nearest-neighbour classifier memorises its training rows: scored in-sample it would
    separate two samples of one distribution perfectly; held out, it is at chance."""
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(2)
    Xs, Xt = rng.normal(size=(200, 3)), rng.normal(size=(200, 3))
    result = domain_scores(Xs, Xt, KNeighborsClassifier(1), n_folds=4, random_state=0)
    assert result.n_folds == 4 and set(np.bincount(result.fold)) == {100}
    for k in range(4):  # each fold holds both domains in equal numbers (stratified)
        assert np.sum((result.fold == k) & (result.domain == 1)) == 50
    assert result.threshold == 0.5  # no decision_function: P(target) is the score
    assert 0.4 < result.balanced_error < 0.6


def test_one_proxy_a_distance_shared_by_the_diagnosis():
    rng = np.random.default_rng(3)
    Xs, Xt = rng.normal(size=(200, 2)), rng.normal(1.5, size=(200, 2))
    pad = proxy_a_distance(Xs, Xt, random_state=0)
    assert pad == pytest.approx(st.domain_classifier_test(Xs, Xt, random_state=0).proxy_a_distance)
    assert st.proxy_a_distance is proxy_a_distance
    assert st.default_domain_classifier is default_domain_classifier
    assert proxy_a_distance_from_error(0.25) == pytest.approx(1.0)
    assert proxy_a_distance_from_error(0.5) == 0.0 == proxy_a_distance_from_error(0.9)


def test_default_classifier_is_balanced_and_keeps_sparse_rows_sparse():
    dense, sparse = default_domain_classifier(False), default_domain_classifier(True, 0)
    assert dense.steps[-1][1].class_weight == sparse.steps[-1][1].class_weight == "balanced"
    assert type(sparse.steps[0][1]).__name__ == "MaxAbsScaler"


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda X: density_ratio(X, X, n_folds=1), "n_folds=1 must be at least 2"),
        (lambda X: density_ratio(X, X, max_weight=0.5), "max_weight=0.5 must be at least 1"),
        (lambda X: density_ratio(X, X, classifier=LinearSVC()), "no predict_proba"),
        (lambda X: domain_scores(X[:1], X), "at least 2 rows per domain"),
    ],
)
def test_bad_arguments_name_the_problem(call, message):
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(InvalidParameterError, match=message):
        call(X)
