"""Stacked denoising autoencoders (Glorot et al. 2011) on a pivot-word problem."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.linear_model import LogisticRegression  # noqa: E402

from transferkit.base import AdaptedClassifier  # noqa: E402
from transferkit.deep.sda import StackedDenoisingAutoencoder, mask_noise  # noqa: E402
from transferkit.exceptions import InvalidParameterError  # noqa: E402
from transferkit.problem import TransferProblem  # noqa: E402
from transferkit.registry import make_method  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def pivot_problem(seed=0, n=400, words=20):
    """Bag-of-words reviews: pivot words (both domains) and domain-specific words, all tied to
    the sentiment. Source reviews use source words, target reviews target words; only the pivots
    co-occur with both, which is what a denoising autoencoder on both domains picks up."""
    rng = np.random.default_rng(seed)

    def draw(specific):
        y = rng.integers(0, 2, n)
        X = np.zeros((n, 3 * words))
        for i, label in enumerate(y):
            sign = slice(0, words // 2) if label else slice(words // 2, words)
            for offset, rate in ((0, 0.25), (specific, 0.6)):
                block = X[i, offset : offset + words]
                block[sign] = rng.random(words // 2) < rate
        X += rng.random(X.shape) < 0.02
        return np.minimum(X, 1.0), y

    Xs, ys = draw(words)
    Xt, yt = draw(2 * words)
    return TransferProblem(Xs, ys, Xt, y_target=yt)


def test_sda_representation_transfers_where_raw_words_do_not():
    problem = pivot_problem()
    raw = AdaptedClassifier(None, LogisticRegression(C=0.1)).fit(problem)
    raw_accuracy = np.mean(raw.predict(problem.X_target) == problem.y_target)
    sda = StackedDenoisingAutoencoder(hidden_sizes=(30,), noise=0.5, epochs=30, random_state=0)
    adapted = AdaptedClassifier(sda, LogisticRegression(C=0.1)).fit(problem)
    adapted_accuracy = np.mean(adapted.predict(problem.X_target) == problem.y_target)
    assert adapted_accuracy > raw_accuracy + 0.05


def test_stacking_concat_and_errors():
    problem = pivot_problem(n=100)
    sda = StackedDenoisingAutoencoder(
        hidden_sizes=(12, 6), output="concat", epochs=2, random_state=0
    ).fit(problem)
    assert sda.transform(problem.X_target).shape == (100, 18)
    assert len(sda.histories_) == 2
    with pytest.raises(InvalidParameterError, match="noise"):
        StackedDenoisingAutoencoder(noise=1.5).fit(problem)
    x = torch.ones(1000)
    assert 0.25 < float((mask_noise(x, 0.3) == 0).float().mean()) < 0.35


def test_registered_sda_builds_an_adapted_classifier():
    model = make_method(
        "sda", {"hidden_sizes": (8,), "epochs": 1}, classifier="logreg", random_state=0
    )
    assert isinstance(model, AdaptedClassifier)
    assert isinstance(model.adapter, StackedDenoisingAutoencoder)
