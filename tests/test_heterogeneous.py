"""Heterogeneous transfer: problems whose domains have different features, and the methods for them.

The real-data tests use Office-Caltech10 (SURF histograms, and EfficientNet-Lite0 features from
the on-disk cache); they skip when the files are absent.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from transferkit.alignment import CORAL
from transferkit.exceptions import (
    DegenerateResultWarning,
    FeatureSpaceMismatchError,
    InvalidParameterError,
    InvalidProblemError,
    NonFiniteDataError,
    NotApplicableError,
    ParameterValueError,
)
from transferkit.heterogeneous import (
    CCAHDA,
    ClusterMatchingHDA,
    CoOptimalTransportHDA,
    GromovWassersteinHDA,
    class_paired_rows,
    gromov_wasserstein_coupling,
    match_structures,
    propagate_labels,
    regularized_cca,
)
from transferkit.problem import HETEROGENEOUS_METHODS, TransferProblem
from transferkit.registry import available_methods, make_method


def small_problem(seed: int = 0, labels: int | None = None) -> TransferProblem:
    rng = np.random.default_rng(seed)
    y_s, y_t = np.arange(60) % 3, np.arange(90) % 3
    problem = TransferProblem(
        X_source=rng.normal(size=(60, 8)) + 2 * y_s[:, None],
        y_source=y_s,
        X_target=rng.normal(size=(90, 5)) - 2 * y_t[:, None],
        y_target=y_t,
        feature_spaces="different",
    )
    return problem if labels is None else problem.with_target_labels(labels, random_state=seed)


# ---------------------------------------------------------------------------- the problem
def test_default_problem_refuses_different_widths_and_points_to_the_heterogeneous_way():
    rng = np.random.default_rng(0)
    with pytest.raises(FeatureSpaceMismatchError, match="feature_spaces='different'.*hda_gw"):
        TransferProblem(rng.normal(size=(10, 4)), np.arange(10) % 2, rng.normal(size=(8, 6)))


def test_heterogeneous_problem_accepts_different_widths_and_checks_the_test_split():
    problem = small_problem()
    assert problem.heterogeneous
    assert (problem.n_source_features, problem.n_target_features, problem.n_features) == (8, 5, 5)
    rng = np.random.default_rng(0)
    with pytest.raises(FeatureSpaceMismatchError, match="X_test has features .* X_target"):
        TransferProblem(
            problem.X_source, problem.y_source, problem.X_target,
            X_test=rng.normal(size=(4, 8)), y_test=np.arange(4) % 3, feature_spaces="different",
        )  # fmt: skip
    with pytest.raises(InvalidProblemError, match="feature_spaces must be 'same'"):
        TransferProblem(problem.X_source, problem.y_source, problem.X_source, feature_spaces="x")


def test_nan_in_a_heterogeneous_problem_is_named():
    problem = small_problem()
    X_target = problem.X_target.copy()
    X_target[3, 2] = np.nan
    with pytest.raises(NonFiniteDataError, match="X_target holds 1 NaN"):
        TransferProblem(problem.X_source, problem.y_source, X_target, feature_spaces="different")


def test_same_space_methods_refuse_a_heterogeneous_problem_naming_the_right_methods():
    problem = small_problem()
    with pytest.raises(
        NotApplicableError, match="different features.*hda_cluster, hda_gw, hda_coot, hda_cca"
    ):
        CORAL().fit(problem)
    with pytest.raises(NotApplicableError, match="hda_cca"):
        make_method("source_only", random_state=0).fit(problem)
    with pytest.raises(NotApplicableError, match="stacked"):
        problem.stacked()


def test_the_registered_heterogeneous_family_is_the_one_errors_name():
    family = {n for n, spec in available_methods(False).items() if spec.family == "heterogeneous"}
    assert family == set(HETEROGENEOUS_METHODS)
    for name in HETEROGENEOUS_METHODS:
        model = make_method(name, random_state=0)
        assert model.handles_different_feature_spaces


# ---------------------------------------------------------------------------- the math
def test_propagated_labels_are_class_balanced():
    # class 0 has three source rows, class 1 one: every target row gets the same mass from
    # each row, so without balancing class 0 would win everywhere
    coupling = np.full((4, 2), 1 / 8)
    coupling[3, 1] = 0.25
    coupling[3, 0] = 0.0
    scores = propagate_labels(coupling, np.array([0, 0, 0, 1]), np.array([0, 1]))
    assert scores.argmax(axis=1).tolist() == [0, 1]
    assert np.allclose(scores.sum(axis=1), 1.0)


def test_regularized_cca_finds_the_shared_direction():
    rng = np.random.default_rng(0)
    shared = rng.normal(size=(200, 1))
    A = np.hstack([shared, rng.normal(size=(200, 3))])
    B = np.hstack([rng.normal(size=(200, 2)), -shared])
    W_a, W_b, correlations = regularized_cca(A, B, 1, regularization=1e-3)
    assert correlations[0] > 0.95
    assert abs(W_a[0, 0]) > 5 * np.abs(W_a[1:, 0]).max()
    assert abs(W_b[2, 0]) > 5 * np.abs(W_b[:2, 0]).max()


def test_gromov_wasserstein_recovers_an_isometry_and_reports_progress():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 10.0]])
    y = np.repeat([0, 1, 2], 20)
    X = centres[y] + rng.normal(scale=0.5, size=(60, 2))
    rotation = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    Y = np.hstack([X, np.zeros((60, 1))]) @ rotation  # the same cloud, rotated into 3-d
    calls = []
    coupling = gromov_wasserstein_coupling(
        X, Y, epsilon=5e-3, max_iter=50, progress=lambda d, t: calls.append((d, t))
    )
    predicted = propagate_labels(coupling, y, np.array([0, 1, 2])).argmax(axis=1)
    assert np.mean(predicted == y) > 0.9
    assert calls[-1] == (50, 50)


def test_matching_structures_finds_a_hidden_permutation_of_noisy_distances():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(8, 4))
    A = np.linalg.norm(points[:, None] - points[None], axis=2)
    hidden = rng.permutation(8)
    B = np.empty_like(A)
    B[np.ix_(hidden, hidden)] = A + rng.normal(scale=0.05, size=A.shape)
    B = (B + B.T) / 2
    np.fill_diagonal(B, 0.0)
    matching, correlation = match_structures(A, B, restarts=10, random_state=0)
    assert matching.tolist() == hidden.tolist()
    assert correlation > 0.95


def test_class_paired_rows_pair_only_equal_classes():
    pairs = class_paired_rows(np.array([0, 1, 0]), np.array([1, 0]))
    assert sorted(map(tuple, pairs.tolist())) == [(0, 1), (1, 0), (2, 1)]


# ---------------------------------------------------------------------------- bad input
def test_hda_cca_needs_target_labels_of_every_class():
    with pytest.raises(NotApplicableError, match="has none.*hda_cluster, hda_gw or hda_coot"):
        CCAHDA().fit(small_problem())
    problem = small_problem(labels=2)
    mask = problem.target_labeled & (problem.y_target != 2)
    problem = TransferProblem(
        problem.X_source, problem.y_source, problem.X_target, problem.y_target,
        target_labeled=mask, feature_spaces="different",
    )  # fmt: skip
    with pytest.raises(NotApplicableError, match=r"class\(es\) \[2\] have no labelled target row"):
        CCAHDA(n_components=2, pca_components=4).fit(problem)


def test_hda_cluster_needs_three_classes_to_match_by_structure():
    rng = np.random.default_rng(0)
    problem = TransferProblem(
        X_source=rng.normal(size=(20, 3)), y_source=np.arange(20) % 2,
        X_target=rng.normal(size=(30, 4)), feature_spaces="different",
    )  # fmt: skip
    with pytest.raises(NotApplicableError, match="the source has 2 classes.*hda_cca"):
        ClusterMatchingHDA().fit(problem)
    with pytest.raises(ParameterValueError, match="n_clusterings"):
        ClusterMatchingHDA(n_clusterings=0).fit(small_problem())


def test_bad_parameters_are_named():
    with pytest.raises(ParameterValueError, match="epsilon"):
        GromovWassersteinHDA(epsilon=0).fit(small_problem())
    with pytest.raises(ParameterValueError, match="n_components"):
        CCAHDA(n_components=0).fit(small_problem(labels=2))
    with pytest.raises(ParameterValueError, match="hda_cca self_training_rounds"):
        CCAHDA(self_training_rounds=-1).fit(small_problem(labels=2))
    with pytest.raises(ParameterValueError, match="hda_cca self_training_share"):
        CCAHDA(self_training_rounds=1, self_training_share=1.5).fit(small_problem(labels=2))
    with pytest.raises(InvalidParameterError, match="self_training_share=0 pseudo-labels no"):
        CCAHDA(self_training_rounds=1, self_training_share=0).fit(small_problem(labels=2))


# ---------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def office():
    from transferkit.datasets import load_pair

    try:
        return load_pair(
            "office-caltech-hetero", "amazon", "webcam", random_state=0, source_per_class=10
        )
    except Exception as error:  # noqa: BLE001 - missing files or torch: skip with the reason
        pytest.skip(f"Office-Caltech10 SURF or cached CNN features unavailable: {error}")


def test_office_hetero_pair_has_two_feature_spaces(office):
    assert (office.n_source_features, office.n_target_features) == (800, 1280)
    assert office.n_source == 100 and office.n_target == 295


def test_hda_cca_on_office_is_never_much_worse_than_target_only(office):
    """SURF -> EfficientNet with 3 target labels per class: the target's CNN features are
    strong (target-only about 0.93), so the cross-validated source weight must keep hda_cca
    close to the target-only classifier; a fixed full weight lets SURF drag it down."""
    gaps = []
    for seed in (0, 1):
        problem = office.with_target_labels(3, random_state=seed)
        X_eval, y_eval = problem.evaluation_split()
        target_only = LogisticRegression(max_iter=1000).fit(*problem.labeled_target())
        baseline = np.mean(target_only.predict(X_eval) == y_eval)
        model = CCAHDA(random_state=seed).fit(problem)
        gaps.append(np.mean(model.predict(X_eval) == y_eval) - baseline)
    assert min(gaps) > -0.05, gaps


def test_hda_cca_self_training_reads_the_unlabelled_target_rows_and_beats_target_only(office):
    """SURF -> EfficientNet, 3 target labels per class: pseudo-labelling the confident
    unlabelled target rows (3 rounds, the default) lifts hda_cca above the target-only classifier
    on the same 30 labels on each seed, more than hda_cca gains without them."""
    gains, plain_gains = [], []
    for seed in (0, 1):
        problem = office.with_target_labels(3, random_state=seed)
        X_eval, y_eval = problem.evaluation_split()
        target_only = LogisticRegression(max_iter=1000).fit(*problem.labeled_target())
        baseline = np.mean(target_only.predict(X_eval) == y_eval)
        plain = CCAHDA(self_training_rounds=0, random_state=seed).fit(problem)
        model = CCAHDA(random_state=seed).fit(problem)
        gains.append(np.mean(model.predict(X_eval) == y_eval) - baseline)
        plain_gains.append(np.mean(plain.predict(X_eval) == y_eval) - baseline)
        assert model.pseudo_label_share_ == pytest.approx(0.8, abs=0.03)
        assert model.source_weight_ == plain.source_weight_  # chosen on the true labels
    assert min(gains) > 0.005 and sum(gains) > sum(plain_gains), (gains, plain_gains)


def test_unsupervised_methods_warn_when_the_labelled_target_rows_score_at_chance(office):
    """SURF -> EfficientNet: the two class structures barely agree, and the couplings label the
    target at chance (about 0.1). The 30 labelled target rows, which these methods do not read,
    show it: the fit warns instead of returning a silent chance-level model."""
    problem = office.with_target_labels(3, random_state=0)
    for model in (GromovWassersteinHDA(random_state=0), CoOptimalTransportHDA(random_state=0)):
        with pytest.warns(DegenerateResultWarning, match="hda_cca or target_only"):
            model.fit(problem)
        assert model.labeled_target_accuracy_ < 0.2


def test_hda_cca_self_trains_a_classifier_without_probabilities_by_its_decision_scores():
    problem = small_problem(labels=2)
    X_eval, y_eval = problem.evaluation_split()
    model = CCAHDA(n_components=2, pca_components=4, estimator=LinearSVC()).fit(problem)
    assert model.pseudo_label_share_ == pytest.approx(0.8, abs=0.05)
    assert np.mean(model.predict(X_eval) == y_eval) > 0.75  # chance 1 in 3
    two = TransferProblem(
        problem.X_source[problem.y_source < 2], problem.y_source[problem.y_source < 2],
        problem.X_target[problem.y_target < 2], problem.y_target[problem.y_target < 2],
        target_labeled=problem.target_labeled[problem.y_target < 2], feature_spaces="different",
    )  # fmt: skip
    binary = CCAHDA(n_components=1, pca_components=3, estimator=LinearSVC()).fit(two)
    assert set(binary.predict(two.X_target)) == {0, 1}


def test_methods_follow_the_estimator_contract():
    model = CCAHDA(n_components=3, pca_components=6, regularization=0.5, source_weight=0.3)
    assert clone(model).get_params() == model.get_params()
    fitted = clone(model).fit(small_problem(labels=2))
    assert fitted.source_weight_ == 0.3 and len(fitted.correlations_) == 3


def test_hda_cluster_recovers_the_classes_between_two_cnns_where_gw_does_not():
    """MobileNetV2 source, EfficientNet-Lite0 target: different features whose classes are
    arranged alike. Matching the ten class centroids to ten target clusters labels most target
    images with no target label; the row-level Gromov-Wasserstein coupling does not."""
    from transferkit.datasets import load_pair

    try:
        problem = load_pair(
            "office-caltech-hetero", "webcam", "amazon", random_state=0, source_per_class=20,
            source_features="mobilenet_v2", target_features="efficientnet_lite0",
        )  # fmt: skip
    except Exception as error:  # noqa: BLE001 - missing cached features: skip with the reason
        pytest.skip(f"cached CNN features of Office-Caltech10 unavailable: {error}")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateResultWarning)
        model = ClusterMatchingHDA(random_state=0).fit(problem.with_target_labels(3, 0))
    assert model.labeled_target_accuracy_ > 0.8  # read after the fit, never by it
    accuracy = np.mean(model.predict(problem.X_target) == problem.y_target)
    gw = GromovWassersteinHDA(random_state=0).fit(problem)
    gw_accuracy = np.mean(gw.predict(problem.X_target) == problem.y_target)
    assert accuracy > 0.8, accuracy  # chance: 0.1
    assert accuracy > gw_accuracy + 0.2, (accuracy, gw_accuracy)
    assert model.structure_correlation_ > 0.7


def test_the_bench_names_a_method_that_cannot_take_different_features(office):
    from transferkit.bench.runner import execute_cell
    from transferkit.bench.suite import MethodEntry, load_suite

    suite = load_suite("office-caltech-hetero")
    suite = replace(
        suite,
        methods=(MethodEntry("coral", "coral"),),
        seeds=(0,),
        datasets=(replace(suite.datasets[0], pairs=(("amazon", "webcam"),)),),
    )
    (cell,) = suite.cells()
    row = execute_cell(cell, memory=False)
    assert row["status"] == "error"
    assert "Method 'coral' works in one feature space" in row["error"]
    assert "hda_cca" in row["error"]


def test_the_command_line_runs_heterogeneous_methods_on_your_own_files(office, tmp_path):
    """SURF rows in one file, EfficientNet rows in the other: --feature-spaces different reads
    them as such, --reveal 3 gives hda_cca and target_only their labelled target rows; select,
    which needs one feature space, says what to run instead."""
    import json

    from click.testing import CliRunner

    from transferkit.cli.main import main

    source, target = tmp_path / "surf.npz", tmp_path / "cnn.npz"
    np.savez(source, X=office.X_source, y=office.y_source)
    np.savez(target, X=office.X_target, y=office.y_target)
    files = ["--source", str(source), "--target", str(target)]
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["bench", "demo", *files, "--feature-spaces", "different", "--reveal", "3", "--seeds",
         "0,1", "--methods", "source_only,target_only,hda_cca", "--db",
         str(tmp_path / "r.sqlite"), "--json", "-q"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    means = json.loads(result.output)["means"]
    assert means["target_only"] > 80  # three CNN-feature rows per class (chance: 10)
    assert means["hda_cca"] > means["target_only"] - 5
    assert means["source_only"] is None  # an error, stored: one feature space only
    result = runner.invoke(main, ["select", *files, "--feature-spaces", "different"])
    assert result.exit_code == 2
    assert "--feature-spaces different --reveal 3 --methods target_only,hda_cca" in result.output
    result = runner.invoke(main, ["select", *files])
    assert result.exit_code == 2 and "800 features" in result.output
    assert "--feature-spaces different" in result.output
    result = runner.invoke(main, ["bench", "demo", "--reveal", "3"])
    assert result.exit_code == 2 and "apply to --source/--target files" in result.output
    result = runner.invoke(main, ["diagnose", *files, "--feature-spaces", "different"])
    assert result.exit_code == 0, result.output
    assert "800 source vs 1280 target features" in result.output
    assert "heterogeneous transfer [hda_cca" in result.output
    result = runner.invoke(
        main, ["diagnose", "--dataset", "moons", "--pair", "source:rotated", "--feature-spaces",
               "different"],
    )  # fmt: skip
    assert result.exit_code == 2 and "applies to --source/--target files" in result.output
