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


def test_registered_sda_builds_an_adapted_classifier(pivot_problem):
    model = make_method(
        "sda", {"hidden_sizes": (8,), "epochs": 1}, classifier="logreg", random_state=0
    )
    assert isinstance(model, AdaptedClassifier)
    assert isinstance(model.adapter, StackedDenoisingAutoencoder)
    adapter = model.adapter.get_params()
    assert (adapter["hidden_sizes"], adapter["epochs"], adapter["random_state"]) == ((8,), 1, 0)
    assert isinstance(model.estimator, LogisticRegression)
    # the registered method is the adapter + classifier built by hand: same predictions
    problem = pivot_problem(n=100)
    by_hand = AdaptedClassifier(
        StackedDenoisingAutoencoder(hidden_sizes=(8,), epochs=1, random_state=0),
        LogisticRegression(max_iter=2000),
    )
    np.testing.assert_array_equal(
        model.fit(problem).predict_proba(problem.X_target),
        by_hand.fit(problem).predict_proba(problem.X_target),
    )


def test_an_interrupted_fit_resumes_layer_by_layer(pivot_problem, tmp_path, interrupt_after):
    problem = pivot_problem(n=120)
    params = {"hidden_sizes": (12, 6), "epochs": 4, "random_state": 0}
    reference = StackedDenoisingAutoencoder(**params).fit(problem).transform(problem.X_target)

    with pytest.raises(interrupt_after.Interrupted):  # in the second layer's second epoch
        StackedDenoisingAutoencoder(
            **params, checkpoint=tmp_path, progress=interrupt_after(2, run=2)
        ).fit(problem)
    assert {p.name for p in tmp_path.iterdir()} >= {"layer1.pt", "layer2.pt"}
    resumed = StackedDenoisingAutoencoder(**params, checkpoint=tmp_path).fit(problem)
    assert resumed.histories_[1].resumed_from == 2
    assert np.allclose(resumed.transform(problem.X_target), reference, atol=1e-6)


def test_early_stopping_keeps_the_best_held_out_reconstruction(pivot_problem):
    problem = pivot_problem(n=120)
    sda = StackedDenoisingAutoencoder(
        hidden_sizes=(12,), epochs=40, learning_rate=0.05, patience=2, random_state=0
    ).fit(problem)
    history = sda.histories_[0]
    scores = [epoch["validation"] for epoch in history.epochs]
    assert len(scores) < 40  # stopped early
    assert history.best_score == max(scores)
    with pytest.raises(InvalidParameterError, match="validation_fraction"):
        StackedDenoisingAutoencoder(patience=2, validation_fraction=1.5).fit(problem)
