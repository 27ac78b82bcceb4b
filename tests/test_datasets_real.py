"""Loaders of the real benchmarks in the data home: Amazon reviews, Office-Caltech10, MNIST, UCI.

Tests that need a data-home file skip, naming it, when ``TRANSFERKIT_DATA`` lacks it.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.neighbors import KNeighborsClassifier

from transferkit.datasets import (
    get_data_home,
    load_amazon_reviews,
    load_mnist,
    load_office_caltech_images,
    load_office_caltech_surf,
    load_pair,
    load_uci_digits,
    resize_digits,
    standard_pairs,
)
from transferkit.datasets.office import OFFICE_CLASSES
from transferkit.exceptions import (
    ChecksumMismatchError,
    DatasetNotFoundError,
    InvalidParameterError,
    UnknownDatasetError,
)
from transferkit.problem import ImageCollection, TransferProblem


def needs(*relative: str):
    """Skip unless every file is in the data home."""
    home = get_data_home()
    missing = [name for name in relative if not (home / name).is_file()]
    return pytest.mark.skipif(
        bool(missing),
        reason=f"data home {home} lacks {', '.join(missing)} (set TRANSFERKIT_DATA)",
    )


AMAZON = [
    f"amazon_reviews/{d}_{s}.svmlight"
    for d in ("books", "dvd", "electronics", "kitchen")
    for s in ("train", "test")
]
SURF = [f"office_caltech10/surf/{d}.mat" for d in ("amazon", "caltech10", "dslr", "webcam")]
MNIST = ["mnist/mnist.pkl.gz"]
AMAZON_TEST_SIZES = {"books": 4465, "dvd": 3586, "electronics": 5681, "kitchen": 5945}
OFFICE_SIZES = {"amazon": 958, "caltech10": 1123, "dslr": 157, "webcam": 295}


def assert_hidden_target(problem: TransferProblem) -> None:
    assert problem.y_target is not None
    assert problem.n_target_labeled == 0 and problem.target_classes is None
    _, y, domain = problem.stacked() if not problem.is_images else (None, None, None)
    if y is not None:
        assert (y[domain == 1] == -1).all()


# ---------------------------------------------------------------------------- Amazon reviews
@needs(*AMAZON)
@pytest.mark.parametrize("domain", ["books", "dvd", "electronics", "kitchen"])
def test_amazon_reviews_shapes_and_labels(domain):
    X, y = load_amazon_reviews(domain, "train")
    assert sp.isspmatrix_csr(X) and X.dtype == np.float64 and X.shape == (2000, 5000)
    assert y.dtype == np.int64 and np.bincount(y).tolist() == [1000, 1000]
    X_test, y_test = load_amazon_reviews(domain, "test")
    assert X_test.shape == (AMAZON_TEST_SIZES[domain], 5000) and set(y_test) == {0, 1}
    assert (X.data > 0).all() and np.all(X.data == np.round(X.data))  # counts
    X.data[:] = -1  # the loader hands out copies: the cache stays intact
    assert (load_amazon_reviews(domain, "train")[0].data > 0).all()


@needs(*AMAZON)
def test_amazon_pairs_follow_the_dann_protocol():
    pairs = standard_pairs("amazon-reviews")
    assert len(pairs) == 12 and len(set(pairs)) == 12
    for source, target in pairs:
        problem = load_pair("amazon-reviews", source, target)
        assert (problem.source_name, problem.target_name) == (source, target)
        assert problem.n_source == problem.n_target == 2000
        assert problem.X_test.shape == (AMAZON_TEST_SIZES[target], 5000)
        assert problem.is_sparse and problem.feature_names is None
        assert_hidden_target(problem)
    # the target is the target's training file, labels kept for evaluation only
    X, y = load_amazon_reviews(pairs[-1][1], "train")
    assert (problem.X_target != X).nnz == 0 and (problem.y_target == y).all()


@needs(*AMAZON)
def test_amazon_unknown_domain_and_split():
    with pytest.raises(UnknownDatasetError, match="books, dvd, electronics, kitchen"):
        load_amazon_reviews("music")
    with pytest.raises(InvalidParameterError, match="split"):
        load_amazon_reviews("books", "valid")


def test_amazon_missing_file_names_file_sha_and_source(tmp_path):
    with pytest.raises(DatasetNotFoundError) as caught:
        load_pair("amazon-reviews", "books", "dvd", data_home=tmp_path)
    message = str(caught.value)
    assert "amazon_reviews/books_train.svmlight" in message
    assert "317f9a2ec34b81de770b63a84d8c5cc2dc16bd0be6e079d2ff5b5bad5213ea19" in message
    assert (
        "GRAAL-Research/domain_adversarial_neural_network" in message and str(tmp_path) in message
    )


# ---------------------------------------------------------------------------- Office-Caltech SURF
@needs(*SURF)
@pytest.mark.parametrize("domain", list(OFFICE_SIZES))
def test_surf_shapes_and_labels(domain):
    X, y = load_office_caltech_surf(domain)
    assert X.shape == (OFFICE_SIZES[domain], 800) and X.dtype == np.float64
    assert np.all(X == np.round(X)) and X.min() >= 0  # raw counts
    assert y.dtype == np.int64 and set(y) == set(range(10))


@needs(*SURF)
def test_surf_pairs_harness_preprocessing_and_sampling():
    assert len(standard_pairs("office-caltech-surf")) == 12
    problem = load_pair("office-caltech-surf", "amazon", "webcam")
    assert problem.n_source == 958 and problem.n_target == 295 and problem.X_test is None
    assert_hidden_target(problem)
    for X in (problem.X_source, problem.X_target):  # each domain standardised on its own
        np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-10)
        np.testing.assert_allclose(X.std(axis=0), 1, atol=1e-10)
    raw = load_pair("office-caltech-surf", "amazon", "webcam", preprocess="none")
    np.testing.assert_array_equal(raw.X_source, load_office_caltech_surf("amazon")[0])

    # standardised before sampling: sampled rows are rows of the whole standardised domain
    sampled = load_pair(
        "office-caltech-surf", "amazon", "webcam", source_per_class="harness", random_state=3
    )
    assert sampled.n_source == 200 and np.bincount(sampled.y_source).tolist() == [20] * 10
    rows = {row.tobytes() for row in problem.X_source}
    assert all(row.tobytes() in rows for row in sampled.X_source)
    again = load_pair(
        "office-caltech-surf", "amazon", "webcam", source_per_class="harness", random_state=3
    )
    np.testing.assert_array_equal(sampled.X_source, again.X_source)
    other = load_pair(
        "office-caltech-surf", "amazon", "webcam", source_per_class="harness", random_state=4
    )
    assert not np.array_equal(sampled.X_source, other.X_source)

    dslr = load_pair(
        "office-caltech-surf", "dslr", "amazon", source_per_class="harness", random_state=0
    )
    assert np.bincount(dslr.y_source).tolist() == [8] * 10
    five = load_pair("office-caltech-surf", "webcam", "dslr", source_per_class=5, random_state=0)
    assert five.n_source == 50
    with pytest.raises(InvalidParameterError, match="preprocess"):
        load_pair("office-caltech-surf", "amazon", "dslr", preprocess="zscore")
    with pytest.raises(InvalidParameterError, match="source_per_class"):
        load_pair("office-caltech-surf", "amazon", "dslr", source_per_class="all")


@needs(*SURF)
def test_surf_harness_source_only_matches_the_published_floor():
    # docs/protocols.md: 1-NN, no adaptation, mean over the 12 pairs 27.7 % (10 draws); 2 draws here
    means = []
    for source, target in standard_pairs("office-caltech-surf"):
        accuracies = []
        for seed in range(2):
            problem = load_pair(
                "office-caltech-surf", source, target, source_per_class="harness", random_state=seed
            )
            model = KNeighborsClassifier(n_neighbors=1).fit(problem.X_source, problem.y_source)
            X_eval, y_eval = problem.evaluation_split()
            accuracies.append(model.score(X_eval, y_eval))
        means.append(np.mean(accuracies))
    assert 0.245 < np.mean(means) < 0.31


# ---------------------------------------------------------------------------- Office-Caltech images
@needs("office_caltech10/images/dslr/mug/frame_0001.jpg")
def test_images_are_lazy_collections_with_sorted_class_order():
    images, y = load_office_caltech_images("dslr")
    assert isinstance(images, ImageCollection) and len(images) == 157
    assert y.dtype == np.int64 and set(y) == set(range(10))
    assert np.bincount(y)[OFFICE_CLASSES.index("mug")] == 8
    assert all(
        OFFICE_CLASSES[label] == path.parent.name
        for label, path in zip(y, images.paths, strict=True)
    )
    first = images[0]
    assert first.dtype == np.uint8 and first.ndim == 3 and first.shape[2] == 3
    surf_counts = np.bincount(load_office_caltech_surf("dslr")[1])
    np.testing.assert_array_equal(np.bincount(y), surf_counts)  # same images, same classes


@needs(
    "office_caltech10/images/webcam/mug/frame_0001.jpg",
    "office_caltech10/images/dslr/mug/frame_0001.jpg",
)
def test_image_pairs():
    assert len(standard_pairs("office-caltech-images")) == 12
    problem = load_pair("office-caltech-images", "webcam", "dslr")
    assert problem.is_images and problem.n_source == 295 and problem.n_target == 157
    assert_hidden_target(problem)
    assert problem.X_test is None
    assert problem.metadata["class_names"] == list(OFFICE_CLASSES)


@needs("office_caltech10/images/dslr/mug/frame_0001.jpg")
def test_images_corrupt_or_missing_file_is_named(tmp_path):
    source = get_data_home() / "office_caltech10" / "images" / "dslr"
    shutil.copytree(source, tmp_path / "office_caltech10" / "images" / "dslr")
    victim = tmp_path / "office_caltech10" / "images" / "dslr" / "mug" / "frame_0001.jpg"
    data = bytearray(victim.read_bytes())
    data[100] ^= 0x01
    victim.write_bytes(bytes(data))
    with pytest.raises(ChecksumMismatchError, match="dslr/mug/frame_0001.jpg"):
        load_office_caltech_images("dslr", data_home=tmp_path)
    victim.unlink()
    with pytest.raises(DatasetNotFoundError, match="1 of the 157") as caught:
        load_office_caltech_images("dslr", data_home=tmp_path)
    assert "frame_0001.jpg" in str(caught.value) and "redhat12345" in str(caught.value)


# ---------------------------------------------------------------------------- MNIST and UCI
@needs(*MNIST)
def test_mnist_splits():
    sizes = {"train": 50000, "valid": 10000, "test": 10000}
    for split, n in sizes.items():
        X, y = load_mnist(split)
        assert X.shape == (n, 28, 28) and X.dtype == np.float32
        assert 0 <= X.min() and X.max() <= 1 and set(y) == set(range(10))
        X[0, 0, 0] = 5.0  # copies: writable, and the cached arrays stay intact
    assert load_mnist("valid")[0][0, 0, 0] == 0.0
    with pytest.raises(InvalidParameterError, match="split"):
        load_mnist("training")


def test_uci_digits_in_both_sizes():
    X8, y = load_uci_digits(8)
    assert X8.shape == (1797, 8, 8) and X8.dtype == np.float32
    assert X8.min() == 0.0 and X8.max() == 1.0 and set(y) == set(range(10))
    X28, y28 = load_uci_digits(28)
    assert X28.shape == (1797, 28, 28) and X28.dtype == np.float32 and (y28 == y).all()
    assert 0.0 <= X28.min() and X28.max() <= 1.0
    # MNIST-like placement: a blank border, centre of mass near the middle
    assert X28[:, :2, :].max() == 0 and X28[:, :, :2].max() == 0
    mass = X28.sum(axis=0)
    centre = (mass * np.arange(28)[:, None]).sum() / mass.sum()
    assert abs(centre - 14) < 1


def test_resize_digits_keeps_range_and_channels():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(5, 28, 28, 3))
    small = resize_digits(X, 8)
    assert small.shape == (5, 8, 8, 3) and small.dtype == np.float32
    assert X.min() <= small.min() and small.max() <= X.max()
    np.testing.assert_allclose(small.mean(), X.mean(), atol=1e-5)  # area averaging keeps mass
    np.testing.assert_allclose(resize_digits(np.ones((2, 8, 8)), 28), 1.0, atol=1e-6)
    with pytest.raises(InvalidParameterError, match="shape"):
        resize_digits(np.ones((8, 8)), 28)


@needs(*MNIST)
@pytest.mark.parametrize("source, target", [("mnist", "uci"), ("uci", "mnist")])
def test_digit_pairs_with_uci(source, target):
    problem = load_pair(
        "digits", source, target, random_state=0, n_source=500, n_target=400, n_test=300
    )
    assert problem.metadata["image_shape"] == (28, 28)
    assert problem.X_source.dtype == np.float32 and problem.X_source.shape == (500, 784)
    assert problem.n_target == 400 and problem.X_test.shape == (300, 784)
    assert_hidden_target(problem)
    again = load_pair(
        "digits", source, target, random_state=0, n_source=500, n_target=400, n_test=300
    )
    np.testing.assert_array_equal(problem.X_target, again.X_target)


def test_uci_target_is_capped_and_its_test_split_held_out():
    problem = load_pair("digits", "uci", "synthetic", random_state=0, n_source=5000)
    assert problem.n_source == 1797  # as a source, every UCI digit may be used
    problem = load_pair("digits", "synthetic", "uci", random_state=0, n_source=200)
    assert problem.n_target == 1198 and len(problem.y_test) == 599
    target_rows = {row.tobytes() for row in problem.X_target}
    assert not any(row.tobytes() in target_rows for row in problem.X_test)
