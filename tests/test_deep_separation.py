"""Domain separation networks and soft labels (transferkit.deep.separation, deep.losses)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.base import clone  # noqa: E402

from transferkit.datasets import get_data_home, load_pair  # noqa: E402
from transferkit.deep.losses import (  # noqa: E402
    difference_loss,
    scale_invariant_mse,
    soft_label_loss,
    soft_labels,
)
from transferkit.deep.methods import DeepSourceOnly  # noqa: E402
from transferkit.deep.separation import (  # noqa: E402
    DomainConfusionSoftLabels,
    DomainSeparationNetwork,
)
from transferkit.exceptions import NotApplicableError, ParameterValueError  # noqa: E402
from transferkit.problem import TransferProblem  # noqa: E402
from transferkit.registry import make_method, method_spec  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

HAS_DIGITS = (get_data_home() / "mnist" / "mnist.pkl.gz").is_file()


# ----------------------------------------------------------------------------- the losses


def test_difference_loss_is_zero_for_orthogonal_codes_and_grows_with_overlap():
    generator = torch.Generator().manual_seed(0)
    basis, _ = torch.linalg.qr(torch.randn(32, 32, generator=generator))
    shared, private = basis[:, :8], basis[:, 8:20]  # columns orthogonal over the batch
    assert float(difference_loss(shared, private)) == pytest.approx(0.0, abs=1e-10)
    # the same code on both sides is as far from orthogonal as it gets
    assert float(difference_loss(shared, shared)) > 1e-3
    mixed = private.clone()
    mixed[:, 0] = shared[:, 0]
    assert 0 < float(difference_loss(shared, mixed)) < float(difference_loss(shared, shared))


def test_difference_loss_ignores_the_scale_of_the_codes():
    generator = torch.Generator().manual_seed(1)
    shared, private = (
        torch.randn(16, 6, generator=generator),
        torch.randn(16, 4, generator=generator),
    )
    base = float(difference_loss(shared, private))
    assert float(difference_loss(10 * shared, 0.1 * private)) == pytest.approx(base, rel=1e-5)


def test_scale_invariant_mse_ignores_a_constant_shift_but_not_a_change_of_shape():
    generator = torch.Generator().manual_seed(2)
    x = torch.rand(8, 50, generator=generator)
    shift = torch.linspace(-1, 1, 8)[:, None]  # one constant per row
    assert float(scale_invariant_mse(x, x + shift)) == pytest.approx(0.0, abs=1e-7)
    noisy = x + 0.3 * torch.randn(8, 50, generator=generator)
    plain_mse = float(((x - noisy) ** 2).mean())
    # Eq. 4: the MSE minus the squared mean difference
    difference = x - noisy
    expected = plain_mse - float((difference.mean(dim=1) ** 2).mean())
    assert float(scale_invariant_mse(x, noisy)) == pytest.approx(expected, rel=1e-5)
    assert expected > 0.05


def test_soft_labels_are_class_means_of_softened_probabilities():
    generator = torch.Generator().manual_seed(3)
    logits = torch.randn(30, 4, generator=generator)
    labels = torch.arange(30) % 3  # class 3 has no rows
    result = soft_labels(logits, labels, n_classes=4, temperature=2.0)
    softened = torch.softmax(logits / 2.0, dim=1)
    for c in range(3):
        assert torch.allclose(result[c], softened[labels == c].mean(dim=0))
    assert torch.allclose(result[3], torch.full((4,), 0.25))
    assert torch.allclose(result.sum(dim=1), torch.ones(4))
    # a higher temperature spreads the mass: the largest entry of each soft label falls
    hotter = soft_labels(logits, labels, n_classes=4, temperature=8.0)
    assert bool((hotter[:3].max(dim=1).values < result[:3].max(dim=1).values).all())


def test_soft_label_loss_is_the_cross_entropy_to_the_class_soft_label():
    targets = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
    labels = torch.tensor([0, 2])
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 3.0]])
    log_p = torch.log_softmax(logits / 2.0, dim=1)
    expected = -((targets[labels] * log_p).sum(dim=1)).mean()
    assert float(soft_label_loss(logits, labels, targets, 2.0)) == pytest.approx(float(expected))
    # the minimum is reached where the softened output equals the soft label
    matched = torch.log(targets[labels]) * 2.0
    assert float(soft_label_loss(matched, labels, targets, 2.0)) < float(expected)


# ----------------------------------------------------------------------------- the estimators


def _small_problem(seed=0):
    rng = np.random.default_rng(seed)
    Xs = rng.normal(size=(120, 5))
    Xt = Xs + 0.5
    return TransferProblem(Xs, Xs[:, 0] > 0, Xt, y_target=Xt[:, 0] > 0.5)


def test_registered_and_cloned_with_their_parameters():
    model = make_method("dsn", {"epochs": 3, "loss_params": {"similarity": "dann"}}, random_state=4)
    assert isinstance(model, DomainSeparationNetwork)
    assert clone(model).get_params() == model.get_params()
    assert method_spec("domain_confusion_soft").needs_target_labels
    assert not method_spec("dsn").needs_target_labels


def test_dsn_trains_its_private_encoders_and_is_reproducible():
    problem = _small_problem()
    first = DomainSeparationNetwork(epochs=2, random_state=0).fit(problem)
    second = DomainSeparationNetwork(epochs=2, random_state=0).fit(problem)
    np.testing.assert_array_equal(
        first.predict_proba(problem.X_target), second.predict_proba(problem.X_target)
    )
    logs = first.history_.epochs[-1]
    assert {
        "reconstruction",
        "difference",
        "similarity",
    } <= set(logs)
    private = first.private_target_encoder_
    assert private is not first.encoder_ and private is not first.private_source_encoder_


def test_soft_labels_without_target_labels_name_the_problem_and_the_fix():
    with pytest.raises(NotApplicableError, match="with_target_labels"):
        DomainConfusionSoftLabels(epochs=1, random_state=0).fit(_small_problem())


@pytest.mark.parametrize(
    ("model", "name"),
    [
        (DomainSeparationNetwork(loss_params={"similarity": "coral"}), "similarity"),
        (DomainSeparationNetwork(loss_params={"difference_weight": -1}), "difference_weight"),
        (DomainSeparationNetwork(loss_params={"alpha": 0.1}), "alpha"),
        (DomainConfusionSoftLabels(loss_params={"temperature": 0}), "temperature"),
    ],
)
def test_bad_loss_params_are_named(model, name):
    with pytest.raises(ParameterValueError, match=name):
        model.check_params()


def test_soft_labels_come_from_the_source_rows_of_each_class():
    problem = _small_problem().with_target_labels(3, random_state=0)
    model = DomainConfusionSoftLabels(
        epochs=10, learning_rate=1e-2, hidden_dim=16, random_state=0
    ).fit(problem)
    assert model.soft_labels_.shape == (2, 2)
    np.testing.assert_allclose(model.soft_labels_.sum(axis=1), 1.0, rtol=1e-5)
    # the first stage learned the source's classes: each class's soft label favours it
    assert (np.argmax(model.soft_labels_, axis=1) == [0, 1]).all()
    assert "soft_labels" in model.history_.epochs[-1]


# ----------------------------------------------------------------------------- on real digits


@pytest.mark.skipif(
    not HAS_DIGITS,
    reason=f"data home {get_data_home()} lacks mnist/mnist.pkl.gz (set TRANSFERKIT_DATA)",
)
def test_dsn_beats_source_only_on_real_digits():
    pair = load_pair(
        "digits", "mnist", "mnistm", random_state=0, n_source=600, n_target=600, n_test=500
    )
    settings = {"epochs": 4, "patience": 0, "random_state": 0}

    def accuracy(model):
        return float(np.mean(model.fit(pair).predict(pair.X_test) == pair.y_test))

    source_only = accuracy(DeepSourceOnly(**settings))
    separated = accuracy(DomainSeparationNetwork(**settings))
    assert separated > source_only + 0.05  # 67.0 against 55.8 when written
