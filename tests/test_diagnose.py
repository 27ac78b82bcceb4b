"""diagnose(): each planted scenario raises its own flag and no other; raw matrices, reports, advice."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

from transferkit.diagnose import FLAGS, diagnose, recommend
from transferkit.diagnose.calibration import calibrate, make_planted_problem
from transferkit.exceptions import InvalidParameterError

FAST = {"n_permutations": 100, "n_bootstrap": 50}


def _raised(diagnosis):
    return {flag for flag, value in diagnosis.flags.items() if value}


@pytest.mark.parametrize(
    "scenario, expected",
    [
        ("none", set()),
        ("covariate", {"covariate_shift"}),
        ("label", {"label_shift"}),
        ("conditional", {"conditional_shift"}),
    ],
)
def test_each_planted_scenario_raises_exactly_its_flag(scenario, expected):
    planted = make_planted_problem(scenario, random_state=5)
    diagnosis = planted.diagnose(random_state=5, **FAST)
    assert _raised(diagnosis) == expected
    assert set(diagnosis.flags) == set(FLAGS)


def test_label_shift_is_not_mistaken_for_covariate_shift():
    planted = make_planted_problem("label", effect=0.3, random_state=4)
    diagnosis = planted.diagnose(random_state=4, **FAST)
    marginal = diagnosis.details["marginal"]
    assert marginal["p_value_raw"] < 0.05  # P(X) does move under label shift ...
    assert marginal["residual"]["p_value"] > 0.05  # ... but not beyond the class balance
    assert diagnosis.flags["covariate_shift"] is False
    assert "explained by label shift" in diagnosis.verdicts["covariate_shift"].summary
    labels = diagnosis.details["labels"]
    truth = np.array([0.45 + 0.55 / 3, 0.55 / 3, 0.55 / 3])  # tau = 0.3 puts a = 0.45 on class 0
    for method in ("bbse", "em"):
        estimate = np.array(labels[method]["target_priors"])
        assert np.abs(estimate - truth).max() < 0.06
        assert all(
            lo <= p <= hi
            for lo, p, hi in zip(
                labels[method]["ci_low"], estimate, labels[method]["ci_high"], strict=True
            )
        )


def test_dimension_mismatch_on_raw_matrices_is_scenario_one():
    planted = make_planted_problem("feature_space", random_state=0)
    assert planted.problem is None
    diagnosis = planted.diagnose(**FAST)
    assert diagnosis.flags["feature_space"] is True
    assert diagnosis.flags["covariate_shift"] is None  # nothing shared to compare
    assert "10 source vs 12 target" in diagnosis.verdicts["feature_space"].summary
    first = diagnosis.recommendations[0]
    assert first.family == "heterogeneous transfer"
    assert first.methods[0] == "hda_cca" and "multilingual encoder" in first.reason


def test_feature_names_give_a_shared_space_when_dimensions_differ():
    rng = np.random.default_rng(0)
    Xs = rng.normal(size=(300, 4))
    Xt = np.column_stack([rng.normal(size=(300, 3)), rng.normal(size=300)])
    diagnosis = diagnose(
        Xs,
        np.column_stack([Xt[:, [2, 0, 1]], rng.normal(size=300), rng.normal(size=300)]),
        source_feature_names=["a", "b", "c", "d"],
        target_feature_names=["c", "a", "b", "e", "f"],
        **FAST,
    )
    fs = diagnosis.details["feature_space"]
    assert diagnosis.flags["feature_space"] is True
    assert fs["names_only_source"] == ["d"] and fs["names_only_target"] == ["e", "f"]
    # the three shared features are compared, reordered by name: no marginal shift
    assert diagnosis.flags["covariate_shift"] is False
    assert diagnosis.details["marginal"]["drift"]["n_tested"] == 3


def test_words_used_in_one_domain_only_are_a_vocabulary_shift_not_scenario_one():
    """Bug 9: one shared vocabulary with words missing from the target is the same feature space;
    the missing words are a change of P(X), reported under covariate shift."""
    planted = make_planted_problem("vocabulary", family="sparse", random_state=1)
    diagnosis = planted.diagnose(random_state=1, **FAST)
    specific = diagnosis.details["feature_space"]["domain_specific"]
    assert specific["n_only_source"] == 5 and specific["n_only_target"] == 0
    assert diagnosis.flags["feature_space"] is False
    summary = diagnosis.verdicts["feature_space"].summary
    assert summary.startswith("Same feature space (same dimension and names); 5 features are used")
    assert "vocabulary shift" in summary
    assert diagnosis.flags["covariate_shift"] is True
    assert "Vocabulary shift: 5 features" in diagnosis.verdicts["covariate_shift"].summary
    assert "feature spaces differ" in diagnosis.format_table()  # the check's name, answered "no"
    assert "shared representation" in [r.family for r in diagnosis.recommendations]
    assert diagnosis.summary["sparse"] is True


def test_amazon_domains_share_one_feature_space_when_the_data_is_there():
    """Bug 9 on real data: two Amazon domains share one 5,000-word vocabulary."""
    from transferkit.datasets import load_pair
    from transferkit.exceptions import DatasetError

    try:
        problem = load_pair("amazon-reviews", "books", "kitchen", random_state=0)
    except DatasetError:
        pytest.skip("Amazon review files are not in the data home")
    diagnosis = diagnose(problem, max_samples=600, **FAST)
    n_specific = diagnosis.details["feature_space"]["domain_specific"]
    n_specific = n_specific["n_only_source"] + n_specific["n_only_target"]
    assert n_specific > 0
    assert diagnosis.flags["feature_space"] is False
    assert (
        f"{n_specific} features are used only in one domain (vocabulary shift"
        in diagnosis.verdicts["feature_space"].summary
    )
    assert diagnosis.flags["covariate_shift"] is True


def test_sparse_three_class_problem_from_svmlight_files(tmp_path):
    """Bug 1: a multiclass svmlight problem (real digits 0-2, pixels as sparse counts) through the
    library entry point; the label classifier's liblinear solver refused three classes."""
    from sklearn.datasets import dump_svmlight_file, load_digits

    from transferkit.datasets import problem_from_files

    X, y = load_digits(return_X_y=True)
    keep = y < 3
    X, y = X[keep], y[keep]
    dump_svmlight_file(X[::2], y[::2], str(tmp_path / "source.svmlight"))
    dump_svmlight_file(X[1::2], y[1::2], str(tmp_path / "target.svmlight"))
    problem = problem_from_files(tmp_path / "source.svmlight", tmp_path / "target.svmlight")
    assert sp.issparse(problem.X_source)
    diagnosis = diagnose(problem, **FAST)
    assert diagnosis.summary["sparse"] is True
    assert diagnosis.details["labels"]["classes"] == [0, 1, 2]
    assert diagnosis.details["labels"]["holdout_accuracy"] > 0.9
    assert diagnosis.flags["label_shift"] is False  # both halves of one collection


def test_target_classes_the_source_never_saw_are_reported_from_hidden_labels(tmp_path):
    """Bug 6: labels in the target file are hidden from methods but still show a new class."""
    from transferkit.datasets import problem_from_files

    rng = np.random.default_rng(3)
    ys, yt = np.arange(300) % 2, np.arange(240) % 3
    np.savez(tmp_path / "s.npz", X=rng.normal(size=(300, 4)) + ys[:, None], y=ys)
    np.savez(tmp_path / "t.npz", X=rng.normal(size=(240, 4)) + yt[:, None], y=yt)
    problem = problem_from_files(tmp_path / "s.npz", tmp_path / "t.npz")
    assert problem.n_target_labeled == 0
    diagnosis = diagnose(problem, **FAST)
    assert diagnosis.flags["label_space"] is True
    summary = diagnosis.verdicts["label_space"].summary
    assert "include classes the source never saw: [2]" in summary
    assert diagnosis.details["label_space"]["target_only_classes_in_hidden_labels"] == [2]
    assert "partial / open-set transfer" in [r.family for r in diagnosis.recommendations]
    # without the extra class the same pair is not flagged on that ground
    np.savez(tmp_path / "t2.npz", X=rng.normal(size=(240, 4)), y=np.arange(240) % 2)
    same = diagnose(problem_from_files(tmp_path / "s.npz", tmp_path / "t2.npz"), **FAST)
    assert same.flags["label_space"] is not True


def test_value_types_that_differ_are_flagged():
    rng = np.random.default_rng(0)
    Xs = rng.integers(0, 5, size=(200, 3)).astype(float)
    Xt = Xs + rng.uniform(-0.4, 0.4, size=Xs.shape)
    diagnosis = diagnose(Xs, Xt, **FAST)
    assert diagnosis.details["feature_space"]["n_type_mismatches"] == 3
    assert diagnosis.flags["feature_space"] is True


def test_unknown_verdicts_without_labels():
    rng = np.random.default_rng(0)
    diagnosis = diagnose(rng.normal(size=(200, 3)), rng.normal(0.5, size=(200, 3)), **FAST)
    assert diagnosis.flags["covariate_shift"] is True
    assert diagnosis.flags["label_shift"] is None
    assert diagnosis.flags["conditional_shift"] is None
    assert diagnosis.scenarios["conditional"] is None


def test_source_imbalance_and_a_new_target_class_are_reported():
    rng = np.random.default_rng(1)
    ys = np.repeat([0, 1], [300, 60])
    Xs = rng.normal(size=(360, 3)) + ys[:, None]
    yt = np.repeat([0, 1, 2], [100, 100, 30])
    Xt = rng.normal(size=(230, 3)) + yt[:, None]
    diagnosis = diagnose(Xs, Xt, y_source=ys, y_target=yt, **FAST)
    assert diagnosis.flags["source_imbalance"] is True
    assert diagnosis.details["source_imbalance"]["ratio"] == pytest.approx(5.0)
    assert diagnosis.flags["label_space"] is True
    assert diagnosis.details["label_space"]["target_only_classes"] == [2]
    families = [r.family for r in diagnosis.recommendations]
    assert "partial / open-set transfer" in families and "resampling / class weights" in families


def test_bad_inputs_name_the_problem():
    rng = np.random.default_rng(0)
    with pytest.raises(InvalidParameterError, match="X_target"):
        diagnose(rng.normal(size=(10, 2)))
    with pytest.raises(InvalidParameterError, match="alpha"):
        diagnose(rng.normal(size=(10, 2)), rng.normal(size=(10, 2)), alpha=2)
    with pytest.raises(InvalidParameterError, match="y_source has 3 labels"):
        diagnose(rng.normal(size=(10, 2)), rng.normal(size=(10, 2)), y_source=[0, 1, 0])
    with pytest.raises(InvalidParameterError, match="NaN"):
        diagnose(np.full((10, 2), np.nan), rng.normal(size=(10, 2)))


def test_outputs_json_table_and_html_report(tmp_path):
    diagnosis = make_planted_problem("label", random_state=0).diagnose(**FAST)
    data = json.loads(diagnosis.to_json())
    assert data["flags"]["label_shift"] is True
    assert set(data["verdicts"]) == set(FLAGS)
    assert data["details"]["labels"]["bbse"]["ci_low"]
    text = diagnosis.format_table()
    assert "P(Y) differs (label shift)" in text and "YES" in text and "Recommendation" in text
    html = diagnosis.to_html(tmp_path / "report.html")
    assert (tmp_path / "report.html").read_text(encoding="utf-8") == html
    assert html.count("<img") == 4  # embedding, scores, labels, drifting features
    assert "label-shift correction" in html
    assert recommend(diagnosis)[0].family == "label-shift correction"


def test_covariate_shift_recommendation_depends_on_overlap():
    near = make_planted_problem("covariate", effect=0.6, random_state=0).diagnose(**FAST)
    assert near.recommendations[0].family == "importance re-weighting"
    rng = np.random.default_rng(0)
    far = diagnose(rng.normal(size=(200, 3)), rng.normal(3.0, size=(200, 3)), **FAST)
    assert far.recommendations[0].family == "representation alignment"


def test_texts_in_two_languages_are_sent_to_cross_lingual_transfer_not_alignment():
    from dataclasses import replace

    from transferkit.crosslingual import with_parallel_corpus
    from transferkit.problem import TransferProblem

    rng = np.random.default_rng(0)
    # two languages through one encoder: the same classes, the target's rows moved as a whole
    y = np.arange(200) % 2
    X_source = rng.normal(size=(200, 6)) + 3.0 * y[:, None]
    X_target = rng.normal(size=(200, 6)) + 3.0 * y[:, None] + 0.5
    problem = TransferProblem(
        X_source, y, X_target, metadata={"languages": {"source": "en", "target": "es"}}
    )
    advice = diagnose(problem, **FAST).recommendations
    assert advice[0].family == "cross-lingual transfer"
    assert advice[0].methods == ["parallel_distillation", "source_only"]
    assert "(en -> es)" in advice[0].reason and "--parallel pairs.tsv" in advice[0].reason
    align = next(r for r in advice if r.family == "representation alignment")
    assert "Between two languages" in align.reason and align.priority == 2

    with_pairs = with_parallel_corpus(problem, X_source[:50], X_target[:50])
    diagnosis = diagnose(with_pairs, **FAST)
    assert diagnosis.summary["parallel_pairs"] == 50
    assert "carries 50 translation pairs" in diagnosis.recommendations[0].reason
    for languages in ({"source": "en", "target": "en"}, {"source": "en", "target": None}):
        same = replace(problem, metadata={"languages": languages})
        families = {r.family for r in diagnose(same, **FAST).recommendations}
        assert (
            "cross-lingual transfer" not in families
            and "languages" not in diagnose(same, **FAST).summary
        )


def test_partial_advice_under_covariate_shift_says_its_estimates_are_indicative():
    from transferkit.problem import TransferProblem

    rng = np.random.default_rng(0)
    centers = np.eye(6)[:3] * 4
    y_source, y_target = np.arange(300) % 3, np.arange(200) % 2  # class 2 absent from the target
    X_source = rng.normal(size=(300, 6)) + centers[y_source]
    moved = TransferProblem(X_source, y_source, rng.normal(size=(200, 6)) + centers[y_target] + 0.5)
    diagnosis = diagnose(moved, **FAST)
    assert diagnosis.flags["covariate_shift"]
    partial = diagnosis.recommendations[0]
    assert partial.family == "partial transfer" and "indicative only" in partial.reason
    same = TransferProblem(X_source, y_source, rng.normal(size=(200, 6)) + centers[y_target])
    partial = diagnose(same, **FAST).recommendations[0]
    assert partial.family == "partial transfer" and "indicative" not in partial.reason


def test_texts_of_two_languages_in_two_feature_spaces_get_the_heterogeneous_advice_only():
    from transferkit.problem import TransferProblem

    rng = np.random.default_rng(0)
    problem = TransferProblem(
        rng.normal(size=(100, 5)),
        np.arange(100) % 2,
        rng.normal(size=(100, 8)),
        feature_spaces="different",
        metadata={"languages": {"source": "en", "target": "fr"}},
    )
    families = [r.family for r in diagnose(problem, **FAST).recommendations]
    assert families[0] == "heterogeneous transfer" and "cross-lingual transfer" not in families


def test_same_seed_same_diagnosis():
    planted = make_planted_problem("covariate", random_state=2)
    a = planted.diagnose(random_state=5, **FAST).to_dict()
    b = planted.diagnose(random_state=5, **FAST).to_dict()
    assert a == b


def test_calibration_counts_flags_over_draws():
    rows = calibrate([("dense", "label", 0.3)], draws=2, random_state=0)
    assert rows[0].rates["label_shift"] == 1.0 and rows[0].power == 1.0
    assert rows[0].worst_false_positive <= 0.5


def test_sparse_problems_and_subsampling():
    planted = make_planted_problem("none", family="sparse", random_state=0)
    diagnosis = planted.diagnose(max_samples=200, **FAST)
    assert diagnosis.summary["n_source_tested"] == 200
    assert sp.issparse(planted.problem.X_source)
    assert _raised(diagnosis) == set()


def test_images_are_diagnosed_as_thumbnails(tmp_path):
    from PIL import Image

    from transferkit.problem import ImageCollection, TransferProblem

    rng = np.random.default_rng(0)
    paths = {"s": [], "t": []}
    for domain, brightness in (("s", 60), ("t", 180)):
        for i in range(30):
            pixels = rng.integers(0, 40, size=(12, 12, 3)) + brightness + 20 * (i % 2)
            path = tmp_path / f"{domain}{i}.png"
            Image.fromarray(pixels.astype(np.uint8)).save(path)
            paths[domain].append(path)
    problem = TransferProblem(
        ImageCollection(paths["s"]), np.arange(30) % 2, ImageCollection(paths["t"])
    )
    diagnosis = diagnose(problem, image_size=(8, 8), **FAST)
    assert diagnosis.summary["n_features_source"] == 8 * 8 * 3
    assert "thumbnails" in diagnosis.summary["note"]
    assert diagnosis.flags["covariate_shift"] is True  # brighter target images


def test_a_real_pair_when_the_data_is_there():
    from transferkit.datasets import load_pair
    from transferkit.exceptions import DatasetError

    try:
        problem = load_pair("office-caltech-surf", "dslr", "webcam", random_state=0)
    except DatasetError:
        pytest.skip("Office-Caltech SURF files are not in the data home")
    diagnosis = diagnose(problem.with_target_labels(3, random_state=0), **FAST)
    assert diagnosis.flags["covariate_shift"] is True
    assert diagnosis.flags["conditional_shift"] is not None  # 30 target labels visible
    # the harness standardises each domain on its own: the classifier falls below chance,
    # and the diagnosis says so instead of reading it as "no shift"
    assert diagnosis.details["marginal"]["domain_classifier_below_chance"] is True
    assert diagnosis.details["marginal"]["domains_centred_separately"] is True
    assert "a domain was centred on its own mean" in diagnosis.verdicts["covariate_shift"].summary
    assert diagnosis.recommendations[0].family == "representation alignment"


def test_a_below_chance_classifier_is_put_down_to_the_cause_the_columns_show():
    from transferkit.domain_classifier import means_matched

    # the source moved onto the target's mean, as CORAL or an OT map leaves it: no domain is
    # centred, but held-out rows still sit on the far side of the shared mean
    rng = np.random.default_rng(0)
    X_target = rng.normal(1.0, size=(300, 60))
    X_source = rng.normal(size=(150, 60)) * 1.5
    X_source += X_target.mean(axis=0) - X_source.mean(axis=0)
    y_source = (X_source[:, 0] > 1).astype(int)
    for shift in (0.0, 0.05):  # nearer than two independent samples' means: still the cause
        diagnosis = diagnose(X_source + shift, X_target, y_source=y_source, **FAST)
        marginal = diagnosis.details["marginal"]
        summary = diagnosis.verdicts["covariate_shift"].summary
        assert marginal["domain_classifier_below_chance"] is True
        assert marginal["domains_centred_separately"] is False
        assert marginal["domain_means_matched"] is True
        assert "closer than two independent samples'" in summary
        assert "the verdict rests on the MMD" in summary
    # independent samples of one distribution: their means are not matched (1 in 1,000 by chance)
    matched = [
        means_matched(draw.normal(size=(100, 20)), draw.normal(size=(80, 20)))
        for draw in map(np.random.default_rng, range(50))
    ]
    assert sum(matched) <= 1
    assert not means_matched(X_source + 0.3, X_target)
    assert not means_matched(np.ones((5, 3)), np.ones((4, 3)))  # nothing varies: no evidence


def test_each_source_of_a_multi_source_problem_is_compared_with_the_target(tmp_path):
    from transferkit.multisource import combine_sources

    rng = np.random.default_rng(0)
    target = rng.normal(size=(201, 4)) + (np.arange(201) % 3)[:, None]
    y = np.arange(150) % 3
    near = (rng.normal(size=(150, 4)) + y[:, None], y)
    far = (rng.normal(size=(150, 4)) * [4.0, 0.3, 3.0, 1.0] + y[:, None] + [3, 0, 0, 0], y)
    y_lacking = np.where(y == 2, 1, y)  # this source has no class 2
    lacking = (rng.normal(size=(150, 4)) * 2.0 + y_lacking[:, None], y_lacking)
    problem = combine_sources([near, far, lacking], target, source_names=["near", "far", "lacking"])
    diagnosis = diagnose(problem, **FAST)
    rows = {row["name"]: row for row in diagnosis.details["sources"]}
    assert list(rows) == ["near", "far", "lacking"]
    assert rows["near"]["n_rows"] == 150 and rows["near"]["missing_classes"] == []
    assert rows["lacking"]["missing_classes"] == [2] and rows["lacking"]["n_classes"] == 2
    assert rows["near"]["covariance_distance"] < rows["lacking"]["covariance_distance"]
    assert rows["near"]["covariance_distance"] < rows["far"]["covariance_distance"]
    assert rows["far"]["domain_auc"] > rows["near"]["domain_auc"]
    advice = next(r for r in diagnosis.recommendations if r.family == "multi-source adaptation")
    assert "(near is the nearest by covariance)" in advice.reason
    assert "lacking lacks classes the other sources have" in advice.reason
    table = diagnosis.format_table()
    assert "Sources, each against the target:" in table
    assert "lacking     150 rows" in table and "lacks 1 class (2)" in table
    assert "Sources, each against the target" in diagnosis.to_html()
    assert json.loads(diagnosis.to_json())["details"]["sources"][2]["missing_classes"] == [2]
    # a single source has no such rows
    assert "sources" not in diagnose(near[0], target, y_source=near[1], **FAST).details
    # a source too small to compare is shown as such, not a crash
    one = (rng.normal(size=(1, 4)), np.array([0]))
    small = diagnose(combine_sources([near, one], target, source_names=["near", "one"]), **FAST)
    rows = {row["name"]: row for row in small.details["sources"]}
    assert rows["one"]["domain_auc"] is None and rows["one"]["covariance_distance"] is None
    assert (
        "one        1 row, too few rows to compare, lacks 2 classes (1, 2)" in small.format_table()
    )
