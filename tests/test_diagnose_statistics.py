"""The two-sample statistics behind the diagnosis: they find planted differences and keep their level."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from transferkit.diagnose import statistics as st
from transferkit.exceptions import InvalidParameterError, NotApplicableError


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_domain_classifier_separates_shifted_domains_and_not_equal_ones(rng):
    Xs = rng.normal(size=(300, 5))
    shifted = st.domain_classifier_test(Xs, rng.normal(0.6, size=(300, 5)), random_state=0)
    same = st.domain_classifier_test(Xs, rng.normal(size=(300, 5)), random_state=0)
    assert shifted.auc > 0.75 and shifted.p_value < 1e-6
    assert shifted.auc_ci[0] < shifted.auc < shifted.auc_ci[1]
    assert shifted.proxy_a_distance > same.proxy_a_distance
    assert same.p_value > 0.05 and same.auc_ci[0] < 0.5 + 0.05
    assert 0 <= same.proxy_a_distance <= 2
    assert shifted.scores.shape == (600,) and set(shifted.domain) == {0, 1}


def test_domain_classifier_p_value_keeps_its_level_without_shift():
    """Bug 8: two samples of one 12-d Gaussian must be called different at most ~alpha of the time.

    One Mann-Whitney test on the out-of-fold scores of all folds pooled treated scores of five
    different classifiers as one sample; its null spread is wider than Mann-Whitney's, and it
    rejected 15 of 80 such pairs at 5 % (19 %). Per-fold tests combined by Bonferroni are exact.
    """
    draws, alpha = 60, 0.05
    p_values = []
    for seed in range(draws):
        draw = np.random.default_rng(seed)
        result = st.domain_classifier_test(
            draw.normal(size=(400, 12)), draw.normal(size=(400, 12)), random_state=seed
        )
        p_values.append(result.p_value)
    rejected = int(np.sum(np.array(p_values) < alpha))
    # at level 5 % the count is Binomial(60, <= 0.05): more than 6 has probability < 4 %
    assert rejected <= 6, f"{rejected} of {draws} no-shift pairs rejected at alpha={alpha}"
    assert len(result.fold_p_values) == result.n_folds == 5


def test_delong_interval_matches_a_known_auc():
    auc, variance = st.delong_auc(np.array([0.1, 0.2, 0.3, 0.6]), np.array([0.4, 0.5, 0.7, 0.8]))
    # positives beat negatives in 14 of 16 pairs
    assert auc == pytest.approx(14 / 16)
    assert variance > 0


def test_proxy_a_distance_grows_with_the_shift(rng):
    Xs = rng.normal(size=(200, 2))
    near = st.proxy_a_distance(Xs, rng.normal(0.3, size=(200, 2)), random_state=0)
    far = st.proxy_a_distance(Xs, rng.normal(3.0, size=(200, 2)), random_state=0)
    assert far > 1.6 > near


@pytest.mark.parametrize("method", ["quadratic", "linear", "rff"])
def test_mmd_detects_a_variance_change_a_linear_classifier_misses(rng, method):
    Xs = rng.normal(size=(400, 3))
    Xt = rng.normal(scale=1.8, size=(400, 3))
    result = st.mmd_test(Xs, Xt, method=method, n_permutations=100, random_state=0)
    assert result.p_value < 0.01
    assert result.method == method
    null = st.mmd_test(
        Xs, rng.normal(size=(400, 3)), method=method, n_permutations=100, random_state=0
    )
    assert null.p_value > 0.05
    # a linear domain classifier sees no mean difference
    assert st.domain_classifier_test(Xs, Xt, random_state=0).auc < 0.6


def test_mmd_auto_switches_to_random_features_for_large_samples(rng):
    result = st.mmd_test(
        rng.normal(size=(700, 2)), rng.normal(size=(700, 2)), max_quadratic=1000, random_state=0
    )
    assert result.method == "rff"


def test_mmd_is_reproducible_and_takes_sparse_input(rng):
    Xs = sp.random(200, 30, density=0.1, random_state=1, format="csr")
    Xt = sp.random(200, 30, density=0.1, random_state=2, format="csr")
    first = st.mmd_test(Xs, Xt, random_state=3)
    second = st.mmd_test(Xs, Xt, random_state=3)
    assert first.p_value == second.p_value and first.statistic == second.statistic


def test_mmd_refuses_unknown_method_and_mismatched_widths(rng):
    with pytest.raises(InvalidParameterError, match="method"):
        st.mmd_test(rng.normal(size=(10, 2)), rng.normal(size=(10, 2)), method="cubic")
    with pytest.raises(NotApplicableError, match="scenario 1"):
        st.mmd_test(rng.normal(size=(10, 2)), rng.normal(size=(10, 3)))


def test_permutation_p_values_are_uniform_enough_under_the_null():
    rng = np.random.default_rng(5)
    p = [
        st.mmd_test(
            rng.normal(size=(60, 2)), rng.normal(size=(60, 2)), n_permutations=50, random_state=i
        ).p_value
        for i in range(40)
    ]
    assert np.mean(np.array(p) < 0.05) <= 0.15  # 40 draws: expected 2, generous bound


def test_feature_drift_ranks_the_shifted_feature_first_with_every_test_kind(rng):
    n = 400
    Xs = np.column_stack(
        [
            rng.normal(size=n),  # continuous, no drift
            rng.normal(size=n),  # continuous, drifts
            rng.integers(0, 2, n),  # binary, no drift
            rng.integers(0, 4, n),  # categorical, drifts
            np.ones(n),  # constant
        ]
    ).astype(float)
    Xt = Xs.copy()
    Xt[:, 0] = rng.permutation(Xs[:, 0])  # same values, other rows: no drift
    Xt[:, 1] = rng.normal(1.0, size=n)
    Xt[:, 2] = rng.permutation(Xs[:, 2])
    Xt[:, 3] = rng.choice(4, n, p=[0.55, 0.15, 0.15, 0.15])
    drift = st.feature_drift(Xs, Xt, feature_names=list("abcde"))
    top = drift.top(5)
    assert {row["feature"] for row in top[:2]} == {"b", "d"}
    assert {row["test"] for row in top} == {"ks", "exact", "chi2"}
    assert drift.n_tested == 4  # the constant column is not tested
    assert drift.n_drifting == 2


def test_feature_drift_on_sparse_counts_uses_presence(rng):
    Xs = sp.csr_matrix(rng.poisson(0.3, size=(300, 20)).astype(float))
    dense_t = rng.poisson(0.3, size=(300, 20)).astype(float)
    dense_t[:, 7] = rng.poisson(1.5, size=300)
    drift = st.feature_drift(Xs, sp.csr_matrix(dense_t))
    assert drift.top(1)[0]["feature"] == "x7"
    assert drift.top(1)[0]["test"] == "presence"


def test_p_value_adjustments():
    p = np.array([0.01, 0.04, 0.03, 0.5])
    assert np.allclose(st.adjust_p_values(p, "bonferroni"), [0.04, 0.16, 0.12, 1.0])
    assert np.allclose(st.adjust_p_values(p, "holm"), [0.04, 0.09, 0.09, 0.5])
    bh = st.adjust_p_values(p, "fdr_bh")
    assert np.all(bh >= p) and bh[0] == pytest.approx(0.04)
    with pytest.raises(InvalidParameterError, match="correction"):
        st.adjust_p_values(p, "sidak")
    assert st.combine_bonferroni([0.01, 0.2, None]) == pytest.approx(0.02)


def test_domain_specific_features_find_vanished_words_and_nothing_on_the_null(rng):
    Xs = sp.csr_matrix(rng.poisson(0.2, size=(500, 50)).astype(float))
    dense_t = rng.poisson(0.2, size=(500, 50)).astype(float)
    same = st.domain_specific_features(Xs, sp.csr_matrix(dense_t))
    assert same.count == 0
    dense_t[:, [3, 9]] = 0
    found = st.domain_specific_features(Xs, sp.csr_matrix(dense_t), [f"w{j}" for j in range(50)])
    assert sorted(f["feature"] for f in found.only_source) == ["w3", "w9"]
    assert found.only_target == [] and found.indices == [3, 9]


def test_label_based_tests():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 3, 300)
    b = rng.choice(3, 300, p=[0.6, 0.2, 0.2])
    assert st.predicted_label_shift_test(a, b, 3, random_state=0).p_value < 0.01
    assert st.categorical_homogeneity_test(a, rng.permutation(a), 3, random_state=0).p_value > 0.5
    # a calibrated posterior and labels drawn from it: consistent; flipped labels: not
    proba = rng.dirichlet([1, 1], size=400)
    y = (rng.random(400) < proba[:, 1]).astype(int)
    y_lab = (rng.random(60) < proba[:60, 1]).astype(int)
    assert st.posterior_consistency_test(proba, y, proba[:60], y_lab).p_value > 0.05
    assert st.posterior_consistency_test(proba, y, proba[:60], 1 - y_lab).p_value < 0.01


def test_images_are_refused_with_advice(tmp_path):
    from transferkit.problem import ImageCollection

    with pytest.raises(NotApplicableError, match="Extract"):
        st.as_matrix(ImageCollection([tmp_path / "a.png"]), "X_source")
