"""The transfer losses: the math on tensors, and the modules' gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from transferkit.deep.losses import (  # noqa: E402
    ADDALoss,
    CORALLoss,
    DomainAdversarialLoss,
    DomainConfusionLoss,
    GradientReversal,
    L2SPPenalty,
    MMDLoss,
    coral_distance,
    dann_lambda,
    dann_learning_rate,
    mmd2,
    reverse_gradient,
)
from transferkit.exceptions import InvalidParameterError  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _gaussian_batches(shift: float, n: int = 200, d: int = 5, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    source = torch.randn(n, d, generator=generator)
    target = torch.randn(n, d, generator=generator) + shift
    return source, target


def test_mmd_grows_with_the_shift_and_vanishes_for_identical_batches():
    values = [float(mmd2(*_gaussian_batches(shift))) for shift in (0.0, 0.5, 1.0, 2.0)]
    assert values == sorted(values)
    assert values[0] < 0.05 < values[-1]
    source, _ = _gaussian_batches(0.0)
    assert float(mmd2(source, source)) == pytest.approx(0.0, abs=1e-6)


def test_mmd_matches_a_numpy_computation_with_a_fixed_bandwidth():
    source, target = _gaussian_batches(1.0, n=20, d=3)
    xs, xt = source.double().numpy(), target.double().numpy()

    def kernel(a, b, bandwidth):
        d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        return np.exp(-d2 / bandwidth)

    expected = (
        kernel(xs, xs, 2.0).mean() + kernel(xt, xt, 2.0).mean() - 2 * kernel(xs, xt, 2.0).mean()
    )
    got = float(mmd2(source.double(), target.double(), n_kernels=1, bandwidth=2.0))
    assert got == pytest.approx(expected, rel=1e-6)


def test_mmd_rejects_zero_kernels():
    source, target = _gaussian_batches(1.0)
    with pytest.raises(InvalidParameterError, match="n_kernels"):
        mmd2(source, target, n_kernels=0)


def test_minimising_mmd_moves_target_features_onto_the_source():
    source, target = _gaussian_batches(3.0)
    offset = torch.zeros(5, requires_grad=True)
    optimiser = torch.optim.Adam([offset], lr=0.1)
    loss_fn = MMDLoss(n_kernels=5)
    for _ in range(200):
        optimiser.zero_grad()
        loss = loss_fn(source, target + offset)
        loss.backward()
        optimiser.step()
    assert torch.allclose(offset, torch.full((5,), -3.0), atol=0.3)


def test_coral_distance_is_the_scaled_frobenius_distance_of_covariances():
    source, target = _gaussian_batches(0.0, n=50, d=4)
    target = target * 2.0
    cs = np.cov(source.numpy(), rowvar=False)
    ct = np.cov(target.numpy(), rowvar=False)
    expected = ((cs - ct) ** 2).sum() / (4 * 16)
    assert float(coral_distance(source, target)) == pytest.approx(expected, rel=1e-4)
    assert float(CORALLoss()(source, source + 5.0)) == pytest.approx(0.0, abs=1e-6)


def test_gradient_reversal_is_identity_forward_and_negates_scaled_gradient():
    x = torch.randn(4, 3, requires_grad=True)
    layer = GradientReversal(0.5)
    y = layer(x)
    assert torch.equal(y, x)
    y.sum().backward()
    assert torch.allclose(x.grad, torch.full_like(x, -0.5))
    z = torch.randn(2, requires_grad=True)
    (reverse_gradient(z, 2.0) * 3).sum().backward()
    assert torch.allclose(z.grad, torch.full_like(z, -6.0))


def test_dann_schedules_follow_the_paper():
    assert dann_lambda(0.0) == 0.0
    assert dann_lambda(1.0) == pytest.approx(2 / (1 + math.exp(-10)) - 1)
    assert dann_lambda(0.5, maximum=0.1) == pytest.approx(0.1 * (2 / (1 + math.exp(-5)) - 1))
    assert dann_learning_rate(0.0) == 1.0
    assert dann_learning_rate(1.0) == pytest.approx(1 / 11**0.75)


def test_domain_adversarial_loss_trains_its_classifier_and_reverses_for_the_features():
    torch.manual_seed(0)
    source, target = _gaussian_batches(2.0, n=64, d=2)
    loss_fn = DomainAdversarialLoss(2, hidden=(16,), gamma=0.0, maximum=1.0)
    optimiser = torch.optim.Adam(loss_fn.parameters(), lr=0.05)
    for _ in range(100):
        optimiser.zero_grad()
        loss_fn(source, target).backward()
        optimiser.step()
    assert loss_fn.last_accuracy > 0.9  # the domains are separable, the classifier finds it
    features = target.clone().requires_grad_(True)
    loss_fn(source, features).backward()
    # descending the reversed gradient moves the target features towards the source (x < 0)
    assert float(features.grad.sum()) > 0
    loss_fn.set_progress(0.0)
    assert loss_fn.reversal.coefficient == 1.0  # gamma = 0 keeps λ at its maximum


def test_domain_adversarial_loss_follows_the_lambda_schedule():
    loss_fn = DomainAdversarialLoss(2, gamma=10.0, maximum=0.3)
    loss_fn.set_progress(0.0)
    assert loss_fn.reversal.coefficient == 0.0
    loss_fn.set_progress(1.0)
    assert loss_fn.reversal.coefficient == pytest.approx(dann_lambda(1.0, 10.0, 0.3))


@pytest.mark.parametrize("loss_class", [DomainConfusionLoss, ADDALoss])
def test_confusion_losses_keep_discriminator_and_feature_gradients_apart(loss_class):
    torch.manual_seed(0)
    source, target = _gaussian_batches(2.0, n=32, d=3)
    source = source.requires_grad_(True)
    target = target.requires_grad_(True)
    loss_fn = loss_class(3, hidden=(8,))
    loss_fn(source, target).backward()
    # the discriminator's gradient comes from the domain-classification term only: recompute it
    expected = [p.grad.clone() for p in loss_fn.discriminator.parameters()]
    for p in loss_fn.discriminator.parameters():
        p.grad = None
    logits = loss_fn.discriminator(torch.cat([source, target]).detach())
    labels = torch.cat([torch.zeros(32), torch.ones(32)])
    torch.nn.functional.binary_cross_entropy_with_logits(logits, labels).backward()
    for got, want in zip(expected, loss_fn.discriminator.parameters(), strict=True):
        assert torch.allclose(got, want.grad, atol=1e-6)
    assert target.grad is not None and float(target.grad.abs().sum()) > 0
    if loss_class is ADDALoss:
        assert source.grad is None  # ADDA never moves the source features


def test_l2sp_is_zero_at_the_start_and_grows_away_from_it():
    net = torch.nn.Linear(3, 2)
    penalty = L2SPPenalty(net, alpha=0.1)
    assert float(penalty(net).detach()) == 0.0
    with torch.no_grad():
        net.weight += 1.0
    assert float(penalty(net).detach()) == pytest.approx(0.5 * 0.1 * 6.0)
