"""Stacked denoising autoencoders (Glorot et al. 2011) on a pivot-word problem."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.linear_model import LogisticRegression  # noqa: E402

from transferkit.base import AdaptedClassifier  # noqa: E402
from transferkit.deep.sda import StackedDenoisingAutoencoder, mask_noise  # noqa: E402
from transferkit.exceptions import InvalidParameterError  # noqa: E402
from transferkit.registry import make_method  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_sda_representation_transfers_where_raw_words_do_not(pivot_problem):
    problem = pivot_problem()
    raw = AdaptedClassifier(None, LogisticRegression(C=0.1)).fit(problem)
    raw_accuracy = np.mean(raw.predict(problem.X_target) == problem.y_target)
    sda = StackedDenoisingAutoencoder(hidden_sizes=(30,), noise=0.5, epochs=30, random_state=0)
    adapted = AdaptedClassifier(sda, LogisticRegression(C=0.1)).fit(problem)
    adapted_accuracy = np.mean(adapted.predict(problem.X_target) == problem.y_target)
    assert adapted_accuracy > raw_accuracy + 0.05


def test_stacking_concat_and_errors(pivot_problem):
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
