"""Adversarial attacks, adversarial training and corruptions (transferkit.robustness,
transferkit.datasets.corruptions) on real MNIST rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from transferkit.datasets import load_pair, load_task  # noqa: E402
from transferkit.datasets.corruptions import (  # noqa: E402
    CORRUPTIONS,
    SEVERITIES,
    corrupt_images,
)
from transferkit.exceptions import (  # noqa: E402
    InvalidParameterError,
    NotApplicableError,
    ParameterValueError,
    UnknownDatasetError,
)
from transferkit.registry import make_method  # noqa: E402
from transferkit.robustness import (  # noqa: E402
    TRADES,
    FastAdversarialLoss,
    FastAdversarialTraining,
    MadryLoss,
    OverfittingGuard,
    PGDTraining,
    StandardTraining,
    adversarial_step,
    fast_adversarial_loss,
    fgsm,
    learning_rate_factor,
    pgd,
    robust_accuracy,
    trades_loss,
)


@pytest.fixture(scope="module")
def mnist():
    try:
        from transferkit.datasets import load_mnist

        X_train, y_train = load_mnist("train")
        X_test, y_test = load_mnist("test")
    except Exception as error:  # the data home lacks MNIST
        pytest.skip(f"MNIST is not in the data home: {error}")
    rng = np.random.default_rng(0)
    train = rng.choice(len(y_train), 1000, replace=False)
    test = rng.choice(len(y_test), 200, replace=False)
    return (
        X_train[train].reshape(-1, 784),
        y_train[train],
        torch.from_numpy(X_test[test].reshape(-1, 784)),
        torch.from_numpy(y_test[test]).long(),
    )


#: Settings of the tiny training runs (1,000 digits, 2 epochs: about 2 s standard, 4-5 s
#: adversarial on one thread); small batches, so that 2 epochs are enough steps.
TINY = dict(
    epsilon=0.2,
    attack_steps=2,
    epsilon_warmup=0.0,
    epochs=2,
    batch_size=32,
    learning_rate=2e-3,
    device="cpu",
    random_state=0,
)


@pytest.fixture(scope="module")
def trained(mnist):
    """A LeNet trained on clean digits."""
    torch.set_num_threads(1)
    X, y, _, _ = mnist
    return StandardTraining(**TINY).fit(X, y)


# ----------------------------------------------------------------------------- attacks
def test_fgsm_and_pgd_lower_accuracy_and_pgd_is_stronger(mnist, trained):
    _, _, X, y = mnist
    model = trained.network_
    clean = robust_accuracy(model, X, y, eps=0.0, device="cpu")
    fgsm_accuracy = robust_accuracy(model, X, y, attack="fgsm", eps=0.15, device="cpu")
    pgd_accuracy = robust_accuracy(model, X, y, eps=0.15, steps=10, device="cpu")
    assert clean > 0.85
    assert fgsm_accuracy < clean - 0.2
    assert pgd_accuracy <= fgsm_accuracy
    l2_accuracy = robust_accuracy(model, X, y, eps=2.0, norm="l2", steps=10, device="cpu")
    assert l2_accuracy < clean - 0.2


@pytest.mark.parametrize("norm, eps", [("linf", 0.1), ("l2", 1.5)])
def test_perturbations_stay_in_the_ball_and_in_the_unit_box(mnist, trained, norm, eps):
    _, _, X, y = mnist
    model = trained.network_.eval()
    for X_adv in (
        fgsm(model, X[:50], y[:50], eps, norm=norm),
        pgd(model, X[:50], y[:50], eps, norm=norm, steps=5, restarts=2, random_state=0),
    ):
        delta = (X_adv - X[:50]).flatten(1)
        size = delta.abs().max(1).values if norm == "linf" else delta.norm(dim=1)
        assert float(size.max()) <= eps + 1e-5
        assert float(size.max()) > 0.5 * eps  # the attack moved
        assert float(X_adv.min()) >= 0.0 and float(X_adv.max()) <= 1.0


def test_pgd_is_reproducible_with_a_seed(mnist, trained):
    _, _, X, y = mnist
    model = trained.network_.eval()
    first = pgd(model, X[:20], y[:20], 0.2, steps=3, random_state=1)
    again = pgd(model, X[:20], y[:20], 0.2, steps=3, random_state=1)
    other = pgd(model, X[:20], y[:20], 0.2, steps=3, random_state=2)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_robust_accuracy_leaves_every_layer_in_its_own_mode():
    # a wrapper in training mode around a trained network in eval mode (as a network reading
    # pixels is wrapped to standardise them): restoring the wrapper's mode to all of it would
    # put the batch norm inside in training mode, and later predictions would use batch statistics
    network = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.BatchNorm1d(3)).eval()
    wrapper = nn.Sequential(network)
    assert wrapper.training
    robust_accuracy(wrapper, torch.rand(8, 4), torch.zeros(8, dtype=torch.long), eps=0.1, steps=2)
    assert wrapper.training and not network.training and not network[2].training


def test_robust_accuracy_reports_progress(mnist, trained):
    _, _, X, y = mnist

    class Recorder:
        def __init__(self):
            self.steps = 0

        def on_start(self, total_epochs, steps_per_epoch, first_epoch):
            self.total = steps_per_epoch

        def on_step(self, logs):
            self.steps += 1

        def on_epoch_end(self, epoch, logs):
            self.final = logs["accuracy"]

        def on_end(self):
            self.ended = True

    recorder = Recorder()
    accuracy = robust_accuracy(
        trained.network_, X, y, eps=0.1, steps=2, batch_size=64, progress=recorder, device="cpu"
    )
    assert recorder.total == recorder.steps == 4 and recorder.ended
    assert recorder.final == accuracy


# ----------------------------------------------------------------------------- bad input
def test_bad_epsilon_inputs_and_models_are_refused(mnist, trained):
    _, _, X, y = mnist
    model = trained.network_
    with pytest.raises(ParameterValueError, match="must be a finite number >= 0"):
        pgd(model, X, y, eps=-0.1)
    with pytest.raises(ParameterValueError, match="eps must be in \\[0, 1\\]"):
        fgsm(model, X, y, eps=1.5)
    assert fgsm(model, X[:2], y[:2], eps=1.5, norm="l2").shape == (2, 784)  # fine under L2
    with pytest.raises(InvalidParameterError, match="outside \\[0, 1\\].*255"):
        robust_accuracy(model, X * 255, y)
    with pytest.raises(ParameterValueError, match="norm"):
        pgd(model, X, y, eps=0.1, norm="l1")

    class NoGradient(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Linear(784, 10)

        def forward(self, x):
            with torch.no_grad():
                return self.inner(x)

    with pytest.raises(NotApplicableError, match="does not depend differentiably"):
        pgd(NoGradient(), X, y, eps=0.1)
    frozen = nn.Linear(784, 10).requires_grad_(False)
    assert pgd(frozen, X[:4], y[:4], eps=0.1, steps=2).shape == (4, 784)  # input gradients suffice
    with pytest.raises(NotApplicableError, match="no parameter that requires gradients"):
        adversarial_step(frozen, MadryLoss(eps=0.1))


# ----------------------------------------------------------------------------- training
def test_adversarial_training_raises_robust_accuracy(mnist, trained):
    torch.set_num_threads(1)
    X, y, X_test, y_test = mnist
    robust = {"standard": robust_accuracy(trained.network_, X_test, y_test, eps=0.2, steps=5)}
    for name, cls in (("pgd", PGDTraining), ("trades", TRADES)):
        model = cls(**TINY).fit(X, y)
        robust[name] = robust_accuracy(model.network_, X_test, y_test, eps=0.2, steps=5)
        assert model.history_.epochs[-1]["eps"] == pytest.approx(0.2)
    # measured with these settings: 15.5 %, 45.5 % and 51.5 %
    assert robust["pgd"] > robust["standard"] + 0.15, robust
    assert robust["trades"] > robust["standard"] + 0.15, robust


@pytest.fixture(scope="module")
def fast(mnist):
    """A LeNet trained by fast adversarial training (FGSM from a random start)."""
    torch.set_num_threads(1)
    X, y, _, _ = mnist
    settings = {key: value for key, value in TINY.items() if key != "attack_steps"}
    return FastAdversarialTraining(check_size=64, **settings).fit(X, y)


def test_fast_adversarial_training_raises_robust_accuracy(mnist, trained, fast):
    _, _, X_test, y_test = mnist
    standard = robust_accuracy(trained.network_, X_test, y_test, eps=0.2, steps=5)
    robust = robust_accuracy(fast.network_, X_test, y_test, eps=0.2, steps=5)
    # measured with these settings: 15 % standard, 46 % fast (2 passes a batch against 3 of PGD-2)
    assert robust > standard + 0.15, (standard, robust)
    assert fast.history_.epochs[-1]["eps"] == pytest.approx(0.2)
    # the guard checked every epoch and saw no collapse on this short run
    assert len(fast.guard_.accuracies) == 2 and fast.guard_.collapsed_at is None
    assert fast.history_.n_epochs == 2 and not fast.history_.stopped_early


def test_fast_adversarial_loss_is_one_fgsm_step_from_a_random_start():
    torch.manual_seed(0)
    model = nn.Linear(6, 3)
    x, y = torch.rand(32, 6), torch.randint(0, 3, (32,))
    # one step of 1.25 eps from a seeded random start: PGD with one step, the same start
    expected = nn.functional.cross_entropy(
        model(pgd(model, x, y, 0.1, steps=1, step_size=0.125, random_state=3)), y
    )
    assert torch.allclose(fast_adversarial_loss(model, x, y, 0.1, random_state=3), expected)
    module = FastAdversarialLoss(eps=0.1)
    assert torch.allclose(module(model, x, y, random_state=3), expected)
    # the step follows a warmed-up eps: 1.25 * 0.05
    half = nn.functional.cross_entropy(
        model(pgd(model, x, y, 0.05, steps=1, step_size=0.0625, random_state=3)), y
    )
    assert torch.allclose(module(model, x, y, eps=0.05, random_state=3), half)
    assert fast_adversarial_loss(model, x, y, 0.1) > nn.functional.cross_entropy(model(x), y)


def test_the_overfitting_guard_stops_training_at_a_collapse(mnist, trained, fast):
    """A network that loses its robustness during an epoch (here: the normally trained weights
    are loaded into it mid-run, what catastrophic overfitting looks like to a PGD check) is
    stopped after that epoch and handed back with the weights of the epoch before."""
    import copy

    from transferkit.deep.training import train

    _, _, X_test, y_test = mnist
    network = copy.deepcopy(fast.network_)
    robust_weights = {k: v.clone() for k, v in network.state_dict().items()}
    guard = OverfittingGuard(network, X_test[:100], y_test[:100], 0.2, steps=5, drop=0.2)
    calls = []

    def collapse_in_second_epoch():
        calls.append(1)
        if len(calls) == 3:  # first step of epoch 2 (two steps an epoch)
            network.load_state_dict(trained.network_.state_dict())

    history = train(
        {"network": network},
        lambda xs, ys, xt, progress: (0.0 * network(xs).sum(), {}),
        torch.optim.SGD(network.parameters(), lr=0.0),
        X_test[:64],
        y_test[:64],
        validate=guard,
        epochs=4,
        batch_size=32,
        patience=1,
        after_step=collapse_in_second_epoch,
    )
    assert history.stopped_early and history.n_epochs == 2 and guard.collapsed_at == 1
    assert guard.accuracies[1] < guard.accuracies[0] - 0.2, guard.accuracies
    for key, value in network.named_parameters():  # back at epoch 1's robust weights
        assert torch.equal(value, robust_weights[key]), key
    again = robust_accuracy(network, X_test[:100], y_test[:100], eps=0.2, steps=5, random_state=0)
    assert again == guard.accuracies[0]  # the state checked after epoch 1, batch norm included


def test_fast_adversarial_training_refuses_bad_parameters():
    from sklearn.base import clone

    copy = clone(FastAdversarialTraining(overfitting_drop=0.3, check_size=100, epochs=2))
    assert (copy.overfitting_drop, copy.check_size, copy.epochs) == (0.3, 100, 2)
    assert copy.learning_rate_schedule == "cyclic" and copy.attack_steps == 1
    with pytest.raises(ParameterValueError, match="one FGSM step.*pgd_training"):
        FastAdversarialTraining(attack_steps=5).check_params()
    with pytest.raises(ParameterValueError, match="overfitting_drop"):
        FastAdversarialTraining(overfitting_drop=0.0).check_params()
    with pytest.raises(ParameterValueError, match="check_size"):
        FastAdversarialTraining(check_size=0).check_params()
    with pytest.raises(ParameterValueError, match="learning_rate_schedule.*cyclic"):
        PGDTraining(learning_rate_schedule="cosine").check_params()
    with pytest.raises(ParameterValueError, match="epsilon"):
        FastAdversarialTraining(epsilon=1.5).check_params()
    FastAdversarialTraining(overfitting_drop=None).check_params()  # no guard is allowed


def test_learning_rate_schedules():
    assert [learning_rate_factor("step", p) for p in (0.0, 0.74, 0.75, 1.0)] == [1, 1, 0.1, 0.1]
    cyclic = [learning_rate_factor("cyclic", p) for p in np.linspace(0, 1, 11)]
    assert cyclic[0] == 0 and cyclic[4] == pytest.approx(1) and cyclic[-1] == pytest.approx(0)
    assert all(a < b for a, b in zip(cyclic[:4], cyclic[1:5], strict=True))
    assert all(a > b for a, b in zip(cyclic[4:-1], cyclic[5:], strict=True))


def test_trades_without_robust_term_is_the_clean_loss():
    torch.manual_seed(0)
    model = nn.Linear(6, 3)
    x, y = torch.rand(10, 6), torch.randint(0, 3, (10,))
    clean = nn.functional.cross_entropy(model(x), y)
    assert torch.allclose(trades_loss(model, x, y, 0.1, beta=0.0, steps=2), clean)
    assert trades_loss(model, x, y, 0.1, beta=6.0, steps=2) >= clean
    from sklearn.base import clone

    copy = clone(TRADES(beta=3.0, epochs=2))
    assert (copy.beta, copy.epochs) == (3.0, 2)
    with pytest.raises(ParameterValueError, match="beta"):
        TRADES(beta=-1.0).check_params()


# ----------------------------------------------------------------------------- corruptions
def test_corruptions_are_deterministic_with_a_seed_and_grow_with_severity(mnist):
    X = mnist[0][:50].reshape(-1, 28, 28)
    for corruption in CORRUPTIONS:
        first = corrupt_images(X, corruption, 3, random_state=0)
        assert np.array_equal(first, corrupt_images(X, corruption, 3, random_state=0))
        assert first.shape == X.shape and first.min() >= 0 and first.max() <= 1
        distances = [
            np.abs(corrupt_images(X, corruption, s, random_state=0) - X).mean() for s in (1, 5)
        ]
        assert distances[1] > distances[0] > 0, corruption
    noisy = corrupt_images(X, "gaussian-noise", 3, random_state=1)
    assert not np.array_equal(noisy, corrupt_images(X, "gaussian-noise", 3, random_state=0))
    assert len(SEVERITIES["blur"]) == 5
    with pytest.raises(InvalidParameterError, match="severity"):
        corrupt_images(X, "blur", 6)
    with pytest.raises(UnknownDatasetError, match="gaussian-noise"):
        corrupt_images(X, "fog", 1)


def test_mnist_c_is_a_transfer_problem(mnist):
    problem = load_pair(
        "mnist-c", "clean", "rotation", random_state=0, n_source=300, n_target=200, n_test=100
    )
    assert problem.X_source.shape == (300, 784) and problem.X_test.shape == (100, 784)
    assert problem.metadata["image_shape"] == (28, 28) and problem.n_target_labeled == 0
    again = load_pair(
        "mnist-c", "clean", "rotation", random_state=0, n_source=300, n_target=200, n_test=100
    )
    assert np.array_equal(problem.X_target, again.X_target)


# ----------------------------------------------------------------------------- bench
def test_task_and_methods_plug_into_the_benchmark(mnist):
    torch.set_num_threads(1)
    task = load_task(
        "adversarial-mnist",
        "mnist",
        "linf",
        random_state=0,
        n_train=300,
        n_test=60,
        attack_steps=3,
        corruptions=["blur"],
    )
    assert task.kind == "robustness" and task.epsilons == (0.1, 0.2, 0.3)
    for name in ("standard_training", "pgd_training", "fast_adversarial_training", "trades"):
        assert make_method(name, random_state=0).task_kind == "robustness"
    method = make_method("standard_training", {"epochs": 1, "device": "cpu"}, random_state=0)
    score = method.score_problem(task)
    details = method.details_
    assert score == details["robust_accuracy_0.3"]
    assert details["robust_accuracy_0.3"] <= details["robust_accuracy_0.1"]
    assert details["robust_accuracy_0.1"] <= details["clean_accuracy"]
    assert 0 <= details["corrupted_accuracy_blur"] <= 1 and details["n_test"] == 60
    with pytest.raises(NotApplicableError, match="threat model"):
        make_method("pgd_training", {"norm": "l2", "epsilon": 1.0}).score_problem(task)
    with pytest.raises(UnknownDatasetError, match="l1"):
        load_task("adversarial-mnist", "mnist", "l1")
    with pytest.raises(ParameterValueError, match="epsilons"):
        load_task("adversarial-mnist", "mnist", "linf", epsilons=[0.1, 2.0])


def test_the_robustness_suite_runs_from_the_command_line(mnist, tmp_path):
    from click.testing import CliRunner

    from transferkit.bench import load_suite
    from transferkit.cli import main

    suite = load_suite("robustness-mnist")
    assert [m.name for m in suite.methods] == ["standard_training", "pgd_training", "trades"]
    assert suite.published["pgd_training"].mean == 89.3
    fast = load_suite("robustness-mnist-fast")
    assert [m.name for m in fast.methods] == ["fast_adversarial_training", "pgd_training"]
    assert fast.published["fast_adversarial_training"].mean == 89.3
    assert fast.datasets[0].options["n_train"] == 50000  # every training image of the data home
    for method in fast.methods:
        make_method(method.name, method.params).check_params()
    # the same cost: 2 passes a batch for 10 epochs, 4 for 5
    settings = [m.params for m in fast.methods]
    assert 2 * settings[0]["epochs"] == (settings[1]["attack_steps"] + 1) * settings[1]["epochs"]
    # the built-in suite, shrunk to a tiny run of one method
    import transferkit

    text = (
        (Path(transferkit.__file__).parent / "suites" / "robustness-mnist.toml")
        .read_text()
        .replace(
            "n_train = 8000, n_test = 500, attack_steps = 40",
            "n_train = 200, n_test = 40, attack_steps = 2, corruptions = []",
        )
    )
    path = tmp_path / "tiny-robustness.toml"
    path.write_text(text.replace('name = "robustness-mnist"', 'name = "tiny-robustness"'))
    db = str(tmp_path / "r.sqlite")
    arguments = ["bench", str(path), "--db", db, "-q", "--methods", "standard_training"]
    result = CliRunner().invoke(main, [*arguments, "--metric", "clean_accuracy"])
    assert result.exit_code == 0, result.output
    assert "clean_accuracy (%)" in result.output and "linf" in result.output
