"""CORAL, SA, TCA, JDA, feature augmentation and OT mapping: math, behaviour, errors, plumbing."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from transferkit.alignment import (
    CORAL,
    JDA,
    TCA,
    FeatureAugmentation,
    OTMapping,
    SubspaceAlignment,
    augment_features,
    coral_align,
    jda_components,
    ot_map,
    principal_axes,
    subspace_alignment,
    tca_components,
    transfer_components,
)
from transferkit.base import AdaptedClassifier
from transferkit.datasets import get_data_home, load_pair
from transferkit.exceptions import InvalidParameterError, NonFiniteDataError, NotApplicableError
from transferkit.problem import TransferProblem
from transferkit.registry import make_method


def accuracy(adapter, problem, estimator=None) -> float:
    estimator = KNeighborsClassifier(n_neighbors=1) if estimator is None else estimator
    model = AdaptedClassifier(adapter, estimator).fit(problem)
    X, y = problem.evaluation_split()
    return float(np.mean(model.predict(X) == y))


def covariance_shift_problem(seed: int = 0, n: int = 300) -> TransferProblem:
    """Two Gaussian classes; the target is the source rescaled per feature and moved."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    centers = np.array([[-1.5, -1.5, 0.0, 0.0], [1.5, 1.5, 0.0, 0.0]])
    Xs = centers[y] + rng.normal(size=(n, 4))
    yt = rng.permutation(y)
    Xt = (centers[yt] + rng.normal(size=(n, 4))) * [0.3, 0.3, 3.0, 1.0] + [3.0, 3.0, 0.0, 1.0]
    return TransferProblem(Xs, y, Xt, y_target=yt)


def mean_shift_problem(seed: int = 0, n: int = 200, shift: float = 4.0) -> TransferProblem:
    """Three Gaussian classes in 3-D; the target is the source moved by ``shift``."""
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 0.0, 0.0], [3.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    y = np.arange(n) % 3
    yt = rng.permutation(y)
    Xs = centers[y] + rng.normal(size=(n, 3))
    Xt = centers[yt] + rng.normal(size=(n, 3)) + [shift, shift / 2, 0.0]
    return TransferProblem(Xs, y, Xt, y_target=yt)


SURF = [f"office_caltech10/surf/{d}.mat" for d in ("webcam", "dslr")]
needs_surf = pytest.mark.skipif(
    not all((get_data_home() / f).is_file() for f in SURF),
    reason="data home lacks the Office-Caltech SURF files (set TRANSFERKIT_DATA)",
)


@pytest.fixture(scope="module")
def webcam_dslr() -> TransferProblem:
    return load_pair(
        "office-caltech-surf",
        "webcam",
        "dslr",
        random_state=0,
        preprocess="harness",
        source_per_class="harness",
    )


# ---------------------------------------------------------------------------- CORAL
def test_coral_align_matches_target_covariance():
    problem = covariance_shift_problem()
    aligned = coral_align(problem.X_source, problem.X_target, regularization=0.0)
    np.testing.assert_allclose(
        np.cov(aligned, rowvar=False), np.cov(problem.X_target, rowvar=False), atol=1e-8
    )
    np.testing.assert_allclose(aligned.mean(axis=0), problem.X_target.mean(axis=0), atol=1e-10)


def test_coral_beats_source_only_on_a_covariance_shift():
    problem = covariance_shift_problem()
    estimator = LogisticRegression()
    source_only = accuracy(None, problem, estimator)
    assert accuracy(CORAL(regularization=1.0), problem, estimator) > source_only + 0.3


def test_coral_sparse_input_warns_and_matches_dense():
    problem = covariance_shift_problem(n=80)
    sparse = TransferProblem(
        sp.csr_matrix(problem.X_source), problem.y_source, sp.csr_matrix(problem.X_target)
    )
    with pytest.warns(UserWarning, match="dense"):
        adapter = CORAL().fit(sparse)
    dense = CORAL().fit(problem)
    np.testing.assert_allclose(
        adapter.transform(sparse.X_source, np.zeros(80)),
        dense.transform(problem.X_source, np.zeros(80)),
    )


def test_coral_rejects_negative_regularization():
    with pytest.raises(InvalidParameterError, match="regularization=-1"):
        CORAL(regularization=-1).fit(covariance_shift_problem(n=40))


# ---------------------------------------------------------------------------- SA
def test_principal_axes_are_orthonormal_and_sparse_agrees_with_dense():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 30)) * np.linspace(3, 0.1, 30)
    mean, axes = principal_axes(X, 5)
    np.testing.assert_allclose(axes.T @ axes, np.eye(5), atol=1e-10)
    # the wide/sparse path (ARPACK on the implicit covariance) finds the same subspace
    _, sparse_axes = principal_axes(sp.csr_matrix(X), 5, random_state=0)
    np.testing.assert_allclose(np.abs(axes.T @ sparse_axes), np.eye(5), atol=1e-6)


def test_subspace_alignment_function_and_estimator_agree():
    problem = mean_shift_problem()
    Zs, Zt = subspace_alignment(problem.X_source, problem.X_target, 2)
    sa = SubspaceAlignment(n_components=2).fit(problem)
    np.testing.assert_allclose(sa.transform(problem.X_source, np.zeros(problem.n_source)), Zs)
    np.testing.assert_allclose(sa.transform(problem.X_target), Zt)


def test_sa_rejects_more_components_than_features():
    with pytest.raises(InvalidParameterError, match="more than the 3 features"):
        SubspaceAlignment(n_components=4).fit(mean_shift_problem())
    with pytest.raises(InvalidParameterError, match="positive integer"):
        SubspaceAlignment(n_components=0).fit(mean_shift_problem())


# ---------------------------------------------------------------------------- TCA / JDA
def naive_tca(X: np.ndarray, n_source: int, n_components: int, mu: float) -> np.ndarray:
    """TCA as written in the paper: eigenvectors of (K L K + mu I)^-1 K H K (O(n^3))."""
    n = len(X)
    e = np.concatenate(
        [np.full(n_source, 1 / n_source), np.full(n - n_source, -1 / (n - n_source))]
    )
    K = X @ X.T
    H = np.eye(n) - 1 / n
    values, vectors = np.linalg.eig(
        np.linalg.solve(K @ np.outer(e, e) @ K + mu * np.eye(n), K @ H @ K)
    )
    W = vectors[:, np.argsort(-values.real)[:n_components]].real
    Z = K @ (W / np.linalg.norm(W, axis=0))
    # ours rescales all components by one factor (mean variance 1), which no distance notices
    return Z / np.sqrt(np.mean(np.var(Z, axis=0)))


def test_transfer_components_equals_the_papers_eigenproblem():
    problem = mean_shift_problem(n=40)
    X = np.concatenate([problem.X_source, problem.X_target])
    expected = naive_tca(X, 40, 2, mu=1.0)
    e = np.concatenate([np.full(40, 1 / 40), np.full(40, -1 / 40)])[:, None]
    Z = X @ transfer_components(X, e, 2, 1.0)
    np.testing.assert_allclose(np.abs(Z), np.abs(expected), rtol=1e-6, atol=1e-8)
    Zs, Zt = tca_components(problem.X_source, problem.X_target, 2, mu=1.0)
    np.testing.assert_allclose(np.abs(np.vstack([Zs, Zt])), np.abs(expected), rtol=1e-6, atol=1e-8)


def test_sample_space_route_equals_the_papers_eigenproblem_when_n_is_below_d():
    rng = np.random.default_rng(3)
    Xs, Xt = rng.normal(size=(20, 50)), rng.normal(0.5, size=(15, 50))
    X = np.concatenate([Xs, Xt])
    expected = naive_tca(X, 20, 3, mu=1.0)
    Zs, Zt = tca_components(Xs, Xt, 3, mu=1.0)
    np.testing.assert_allclose(np.abs(np.vstack([Zs, Zt])), np.abs(expected), rtol=1e-6, atol=1e-8)
    with pytest.raises(InvalidParameterError, match="more than the 35 dimensions"):
        tca_components(Xs, Xt, 36)


def test_tca_rbf_exact_and_full_nystroem_agree_and_seeds_repeat():
    problem = mean_shift_problem(n=60)
    exact = TCA(n_components=3, kernel="rbf", gamma=0.1, approximation="exact").fit(problem)
    full = TCA(
        n_components=3, kernel="rbf", gamma=0.1, approximation="nystroem", n_landmarks=120
    ).fit(problem)
    np.testing.assert_allclose(
        np.abs(exact.transform(problem.X_target)),
        np.abs(full.transform(problem.X_target)),
        atol=1e-6,
    )
    for form in ("nystroem", "rff"):
        a = TCA(3, kernel="rbf", approximation=form, n_landmarks=30, random_state=1).fit(problem)
        b = TCA(3, kernel="rbf", approximation=form, n_landmarks=30, random_state=1).fit(problem)
        np.testing.assert_array_equal(a.transform(problem.X_target), b.transform(problem.X_target))


def test_tca_auto_switches_to_nystroem_above_the_threshold():
    problem = mean_shift_problem(n=90)
    tca = TCA(n_components=2, kernel="rbf", exact_threshold=100, n_landmarks=20, random_state=0)
    tca.fit(problem)
    assert tca.approximation_ == "nystroem"
    assert tca.feature_map_.landmarks_.shape[0] == 20
    assert TCA(n_components=2).fit(problem).approximation_ == "linear"


def test_tca_sparse_input_matches_dense():
    problem = mean_shift_problem(n=50)
    sparse = TransferProblem(
        sp.csr_matrix(problem.X_source), problem.y_source, sp.csr_matrix(problem.X_target)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # TCA keeps sparse input: no densifying warning
        Z_sparse = TCA(n_components=2).fit(sparse).transform(sparse.X_target)
    Z_dense = TCA(n_components=2).fit(problem).transform(problem.X_target)
    np.testing.assert_allclose(Z_sparse, Z_dense, atol=1e-8)


@pytest.mark.parametrize(
    ("adapter", "message"),
    [
        (TCA(n_components=5), "n_components=5 is more than the 3 dimensions"),
        (TCA(mu=-1.0), "mu=-1.0 must be a non-negative"),
        (TCA(kernel="cosine"), "kernel='cosine' is not supported"),
        (TCA(kernel="rbf", gamma=-2.0), "gamma=-2.0 must be a positive"),
        (TCA(approximation="fast"), "approximation='fast' is not supported"),
        (TCA(kernel="linear", approximation="rff"), "needs kernel='rbf'"),
        (TCA(n_landmarks=0), "n_landmarks=0 must be a positive integer"),
        (TCA(scaling="std"), "scaling='std' is not supported"),
        (JDA(regularization=-0.1), "regularization=-0.1"),
        (JDA(n_iterations=0), "n_iterations=0"),
        (JDA(n_components=10), "n_components=10 is more than the 3 dimensions"),
        (JDA(normalize="yes"), "normalize='yes'"),
    ],
)
def test_kernel_adapters_reject_bad_parameters(adapter, message):
    with pytest.raises(InvalidParameterError, match=message):
        adapter.fit(mean_shift_problem(n=30))


def test_jda_iterates_pseudo_labels_and_is_deterministic():
    problem = mean_shift_problem(shift=2.0)
    jda = JDA(n_components=2, n_iterations=5).fit(problem)
    assert 1 <= jda.n_iterations_ <= 5
    assert set(np.unique(jda.pseudo_labels_)) <= set(problem.classes)
    again = JDA(n_components=2, n_iterations=5).fit(problem)
    np.testing.assert_array_equal(
        jda.transform(problem.X_target), again.transform(problem.X_target)
    )
    Zs, Zt, pseudo = jda_components(problem.X_source, problem.y_source, problem.X_target, 2, 1.0, 5)
    np.testing.assert_allclose(Zt, jda.transform(problem.X_target))
    np.testing.assert_array_equal(pseudo, jda.pseudo_labels_)


def test_jda_uses_visible_target_labels():
    problem = mean_shift_problem(shift=2.0).with_target_labels(5, random_state=0)
    jda = JDA(n_components=2, n_iterations=3).fit(problem)
    visible = problem.target_labeled
    np.testing.assert_array_equal(jda.pseudo_labels_[visible], problem.y_target[visible])


# ---------------------------------------------------------------------------- real data
@needs_surf
@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("coral", {}),
        ("sa", {"n_components": 80}),
        ("tca", {"n_components": 80}),
        ("jda", {}),
        ("ot", {"method": "lpl1", "reg_e": 2.0, "reg_cl": 1.0}),
        ("ot", {"method": "emd"}),
    ],
)
def test_each_method_beats_source_only_on_webcam_to_dslr(webcam_dslr, name, params):
    X, y = webcam_dslr.evaluation_split()
    baseline = make_method("source_only", classifier="1nn").fit(webcam_dslr)
    source_only = np.mean(baseline.predict(X) == y)
    model = make_method(name, params, "1nn", random_state=0).fit(webcam_dslr)
    assert np.mean(model.predict(X) == y) > source_only + 0.1


# ---------------------------------------------------------------------------- feature augmentation
def test_augment_features_layout_dense_and_sparse():
    X = np.array([[1.0, 2.0]])
    np.testing.assert_array_equal(augment_features(X, 0), [[1, 2, 1, 2, 0, 0]])
    np.testing.assert_array_equal(augment_features(X, 1), [[1, 2, 0, 0, 1, 2]])
    out = augment_features(sp.csr_matrix(X), 0)
    assert sp.issparse(out)
    np.testing.assert_array_equal(out.toarray(), [[1, 2, 1, 2, 0, 0]])


def rule_change_problem(seed: int = 0) -> TransferProblem:
    """Source labels follow x0; target labels follow x0 + 2 x1: a few target labels must tell."""
    rng = np.random.default_rng(seed)
    Xs, Xt = rng.normal(size=(400, 2)), rng.normal(size=(400, 2))
    ys = (Xs[:, 0] > 0).astype(int)
    yt = (Xt[:, 0] + 2 * Xt[:, 1] > 0).astype(int)
    return TransferProblem(Xs, ys, Xt, y_target=yt).with_target_labels(10, random_state=seed)


def test_feature_augmentation_beats_source_plus_target_labels():
    problem = rule_change_problem()
    estimator = LogisticRegression(C=10.0, max_iter=1000)
    pooled = accuracy(None, problem, estimator)  # source + the 20 target labels, no augmentation
    assert accuracy(FeatureAugmentation(), problem, estimator) > pooled + 0.1


def test_feature_augmentation_needs_target_labels():
    with pytest.raises(NotApplicableError, match="labelled target"):
        make_method("feature_augmentation").fit(mean_shift_problem())


# ---------------------------------------------------------------------------- OT
@pytest.mark.parametrize("method", ["emd", "sinkhorn", "lpl1"])
def test_ot_mapping_beats_source_only_on_a_mean_shift(method):
    problem = mean_shift_problem()
    assert accuracy(OTMapping(method=method), problem) > accuracy(None, problem) + 0.2


def test_ot_map_function_matches_estimator_and_new_rows_map_out_of_sample():
    problem = mean_shift_problem(n=60)
    mapped = ot_map(problem.X_source, problem.y_source, problem.X_target, method="sinkhorn")
    adapter = OTMapping(method="sinkhorn").fit(problem)
    np.testing.assert_allclose(adapter.transform(problem.X_source, np.zeros(60)), mapped)
    moved = adapter.transform(problem.X_source[:5] + 1e-3, np.zeros(5))
    np.testing.assert_allclose(moved, mapped[:5], atol=0.05)


def test_ot_rejects_bad_parameters_and_warns_on_sparse():
    problem = mean_shift_problem(n=30)
    with pytest.raises(InvalidParameterError, match="method='exact'"):
        OTMapping(method="exact").fit(problem)
    with pytest.raises(InvalidParameterError, match="reg_e=0"):
        OTMapping(method="sinkhorn", reg_e=0).fit(problem)
    sparse = TransferProblem(
        sp.csr_matrix(problem.X_source), problem.y_source, sp.csr_matrix(problem.X_target)
    )
    with pytest.warns(UserWarning, match="dense"):
        OTMapping().fit(sparse)


def label_shift_problem(seed=0, shares=(0.7, 0.2, 0.1), n=300):
    """Three balanced source blobs; the target moved by (2, 2), with class shares ``shares``."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]])
    ys = np.repeat(np.arange(3), 40)
    yt = rng.choice(3, size=n, p=shares)
    Xs = centres[ys] + rng.normal(scale=0.8, size=(len(ys), 2))
    Xt = centres[yt] + rng.normal(scale=0.8, size=(n, 2)) + 2.0
    return TransferProblem(Xs, ys, Xt, y_target=yt)


def _mapped_1nn(adapter, problem):
    mapped = adapter.fit(problem).transform(problem.X_source, np.zeros(problem.n_source))
    predicted = KNeighborsClassifier(n_neighbors=1).fit(mapped, problem.y_source)
    return float(np.mean(predicted.predict(problem.X_target) == problem.y_target))


@pytest.mark.parametrize("seed", [0, 1])
def test_ot_with_target_prior_masses_fixes_a_label_shift(seed):
    """Uniform source masses push a third of the mass onto a class that holds 10 % of the target;
    masses from the estimated target priors push less."""
    problem = label_shift_problem(seed)
    settings = {"method": "lpl1", "reg_e": 0.5, "reg_cl": 1.0}
    uniform = _mapped_1nn(OTMapping(**settings), problem)
    adapter = OTMapping(**settings, source_mass="target_priors")
    weighted = _mapped_1nn(adapter, problem)
    assert uniform < 0.75
    assert weighted > uniform + 0.04
    # one estimate on the uniform mapping: the largest class is found, its share underestimated
    assert np.argmax(adapter.class_mass_) == 0 and adapter.class_mass_[0] > 0.38


def test_ot_target_prior_masses_cost_nothing_without_label_shift():
    settings = {"method": "lpl1", "reg_e": 0.5, "reg_cl": 1.0}
    for seed in (0, 1):
        problem = label_shift_problem(seed, shares=(1 / 3, 1 / 3, 1 / 3))
        uniform = _mapped_1nn(OTMapping(**settings), problem)
        weighted = _mapped_1nn(OTMapping(**settings, source_mass="target_priors"), problem)
        assert weighted > uniform - 0.03


def test_jda_ot_takes_target_prior_masses_and_rejects_unknown_ones():
    problem = label_shift_problem(0)
    model = make_method("jda_ot", {"n_components": 2, "source_mass": "target_priors"}).fit(problem)
    transport = model.adapter_.steps_[-1]
    assert transport.source_mass == "target_priors"
    assert transport.class_mass_.shape == (3,) and transport.class_mass_.sum() == pytest.approx(1)
    with pytest.raises(InvalidParameterError, match="source_mass='balanced'"):
        OTMapping(source_mass="balanced").fit(problem)


# ---------------------------------------------------------------------------- plumbing
@pytest.mark.parametrize(
    "adapter",
    [
        CORAL(2.0),
        SubspaceAlignment(2),
        TCA(2, mu=0.5),
        JDA(2),
        OTMapping("emd"),
        FeatureAugmentation(),
    ],
)
def test_estimators_clone_and_take_stacked_input(adapter):
    twin = clone(adapter)
    assert twin.get_params() == adapter.get_params()
    problem = mean_shift_problem(n=45).with_target_labels(3, random_state=0)
    X, y, domain = problem.stacked()
    stacked = clone(adapter).fit(X, y, domain=domain).transform(X, domain)
    from_problem = clone(adapter).fit(problem).transform(X, domain)
    np.testing.assert_allclose(stacked, from_problem, atol=1e-8)


def test_adapter_chain_rejects_empty_steps_and_composes():
    from transferkit.alignment import AdapterChain

    with pytest.raises(InvalidParameterError, match="non-empty list of adapters"):
        AdapterChain([]).fit(mean_shift_problem(n=30))
    problem = mean_shift_problem(n=60)
    chain = AdapterChain([SubspaceAlignment(2), CORAL()]).fit(problem)
    sa = SubspaceAlignment(2).fit(problem)
    expected = CORAL().fit(
        TransferProblem(
            sa.transform(problem.X_source, np.zeros(60)),
            problem.y_source,
            sa.transform(problem.X_target),
        )
    )
    np.testing.assert_allclose(
        chain.transform(problem.X_source, np.zeros(60)),
        expected.transform(sa.transform(problem.X_source, np.zeros(60)), np.zeros(60)),
    )


@pytest.mark.parametrize("name", ["coral", "sa", "tca", "jda", "jda_ot", "ot"])
def test_registered_methods_run_with_defaults(name):
    problem = mean_shift_problem(n=60)
    model = make_method(name, random_state=0).fit(problem)
    X, y = problem.evaluation_split()
    assert np.isfinite(model.predict_proba(X)).all()
    assert len(np.unique(model.predict(X))) > 1


def test_tca_names_a_kernel_that_overflows_instead_of_a_raw_numpy_error():
    # values near 1e100 pass the problem's own check (their squares fit float64) but TCA's
    # squared kernel eigenvalues do not: the error says so and how to fix it
    rng = np.random.default_rng(0)
    Xs, Xt = rng.normal(size=(60, 5)) * 1e100, rng.normal(size=(50, 5)) * 1e100
    problem = TransferProblem(Xs, np.arange(60) % 2, Xt)
    with pytest.raises(NonFiniteDataError, match="overflows float64.*rescale"):
        make_method("tca").fit(problem)
    make_method("tca").fit(TransferProblem(Xs / 1e100, np.arange(60) % 2, Xt / 1e100))
