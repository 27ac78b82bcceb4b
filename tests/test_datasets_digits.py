"""Synthetic font-rendered digits, MNIST-M-style digits, and the digit pairs built from them."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn.linear_model import RidgeClassifier

from transferkit.datasets import (
    get_data_home,
    load_pair,
    load_uci_digits,
    make_mnistm,
    make_synthetic_digits,
)
from transferkit.datasets.synthetic import font_files, glyph_bank
from transferkit.exceptions import InvalidParameterError

needs_mnist = pytest.mark.skipif(
    not (get_data_home() / "mnist" / "mnist.pkl.gz").is_file(),
    reason=f"data home {get_data_home()} lacks mnist/mnist.pkl.gz (set TRANSFERKIT_DATA)",
)


def test_synthetic_digits_shape_range_balance_and_speed():
    glyph_bank()  # fonts are rendered once per process; time the per-sample work
    start = time.perf_counter()
    X, y = make_synthetic_digits(2000, random_state=0)
    elapsed = time.perf_counter() - start
    assert X.shape == (2000, 28, 28) and X.dtype == np.float32
    assert X.min() >= 0.0 and X.max() <= 1.0
    assert y.dtype == np.int64 and np.bincount(y).tolist() == [200] * 10
    assert elapsed < 10, f"2,000 synthetic digits took {elapsed:.1f} s"
    # varied appearance: images differ in brightness and contrast, not one template per class
    assert X.mean(axis=(1, 2)).std() > 0.1
    assert np.corrcoef(X[y == 3].reshape(-1, 784))[np.triu_indices(200, 1)].mean() < 0.5


def test_synthetic_digits_are_deterministic_per_seed():
    a, ya = make_synthetic_digits(50, random_state=11)
    b, yb = make_synthetic_digits(50, random_state=11)
    c, _ = make_synthetic_digits(50, random_state=12)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ya, yb)
    assert not np.allclose(a, c)
    small, _ = make_synthetic_digits(10, size=16, random_state=0)
    assert small.shape == (10, 16, 16)


def test_synthetic_digits_use_many_matplotlib_fonts():
    bank = glyph_bank()
    assert bank.shape[0] >= 15 and bank.shape[1:3] == (3, 10)
    names = {path.name for path in font_files()}
    assert {"DejaVuSans.ttf", "STIXGeneral.ttf", "cmr10.ttf"} <= names
    assert not any(name.startswith(("cmex", "cmsy", "LastResort")) for name in names)
    # every glyph is a digit-shaped blob of ink, and the stroke variants get thicker
    ink = bank.sum(axis=(3, 4))
    assert (ink > 5).all()
    assert (ink[:, 1] > ink[:, 0]).all() and (ink[:, 2] > ink[:, 1]).all()


def test_synthetic_digits_are_learnable_and_related_to_handwriting():
    # a linear model on raw pixels (fast and deterministic; chance is 0.1)
    X, y = make_synthetic_digits(1500, random_state=0)
    model = RidgeClassifier(alpha=10.0).fit(X[:1000].reshape(1000, -1), y[:1000])
    assert model.score(X[1000:].reshape(500, -1), y[1000:]) > 0.45
    X_uci, y_uci = load_uci_digits(28)
    assert model.score(X_uci.reshape(len(X_uci), -1), y_uci) > 0.3


def test_mnistm_recipe_is_absolute_difference_with_photo_patches():
    zeros = np.zeros((64, 28, 28), dtype=np.float32)
    ones = np.ones((64, 28, 28), dtype=np.float32)
    patches = make_mnistm(zeros, random_state=5)
    inverted = make_mnistm(ones, random_state=5)
    assert patches.shape == (64, 28, 28, 3) and patches.dtype == np.float32
    np.testing.assert_allclose(patches + inverted, 1.0, atol=1e-6)  # |p - 0| + |p - 1| = 1
    # natural patches: textured and coloured, and different images get different patches
    assert patches.std(axis=(1, 2)).mean() > 0.02
    assert np.abs(patches[..., 0] - patches[..., 1]).mean() > 0.02
    assert len({patch.tobytes() for patch in patches}) == 64
    np.testing.assert_array_equal(patches, make_mnistm(zeros, random_state=5))


def test_mnistm_validates_input():
    with pytest.raises(InvalidParameterError, match="grey images"):
        make_mnistm(np.zeros((2, 28, 28, 3)))
    with pytest.raises(InvalidParameterError, match="255"):
        make_mnistm(np.full((2, 28, 28), 255.0))


@needs_mnist
def test_synthetic_to_mnist_pair():
    problem = load_pair(
        "digits", "synthetic", "mnist", random_state=0, n_source=600, n_target=500, n_test=400
    )
    assert problem.X_source.shape == (600, 784) and problem.X_source.dtype == np.float32
    assert problem.X_target.shape == (500, 784) and problem.X_test.shape == (400, 784)
    assert problem.metadata["image_shape"] == (28, 28)
    assert problem.n_target_labeled == 0 and problem.y_target is not None
    model = RidgeClassifier(alpha=10.0).fit(problem.X_source, problem.y_source)
    oracle = RidgeClassifier(alpha=10.0).fit(problem.X_target, problem.y_target)
    source_only = model.score(problem.X_test, problem.y_test)
    assert oracle.score(problem.X_test, problem.y_test) - source_only > 0.2
    again = load_pair(
        "digits", "synthetic", "mnist", random_state=0, n_source=600, n_target=500, n_test=400
    )
    np.testing.assert_array_equal(problem.X_source, again.X_source)


@needs_mnist
@pytest.mark.parametrize("source, target", [("mnist", "mnistm"), ("mnistm", "mnist")])
def test_pairs_with_mnistm_are_rgb(source, target):
    problem = load_pair(
        "digits", source, target, random_state=1, n_source=300, n_target=200, n_test=100
    )
    assert problem.metadata["image_shape"] == (28, 28, 3)
    assert problem.X_source.shape == (300, 28 * 28 * 3) and problem.X_test.shape == (100, 2352)
    grey_side = problem.X_source if source == "mnist" else problem.X_target
    images = grey_side.reshape(-1, 28, 28, 3)
    np.testing.assert_array_equal(images[..., 0], images[..., 2])  # grey repeated to 3 channels
    colour_side = problem.X_target if source == "mnist" else problem.X_source
    colour = colour_side.reshape(-1, 28, 28, 3)
    assert np.abs(colour[..., 0] - colour[..., 2]).mean() > 0.02
    assert problem.n_target_labeled == 0


@needs_mnist
def test_default_digit_pair_sizes():
    problem = load_pair("digits", "mnist", "mnistm", random_state=0)
    assert (problem.n_source, problem.n_target, len(problem.y_test)) == (2000, 2000, 1000)
