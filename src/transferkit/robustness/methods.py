"""Classifiers trained for robustness: standard, PGD adversarial (Madry), fast and TRADES training.

Each is a scikit-learn-style estimator over a LeNet-size network (the project's
:class:`~transferkit.deep.backbones.LeNet` and a linear head) trained by the project's one loop
(:func:`~transferkit.deep.training.train`); the classes differ only in the loss they plug in
(:mod:`transferkit.robustness.losses`):

* :class:`StandardTraining` (``standard_training``): the clean cross-entropy, the floor;
* :class:`PGDTraining` (``pgd_training``): the cross-entropy on PGD adversaries (Madry et al.
  2018);
* :class:`FastAdversarialTraining` (``fast_adversarial_training``): the cross-entropy on one-step
  FGSM adversaries from a random start (Wong, Rice & Kolter 2020), with a cyclic learning rate and
  an :class:`OverfittingGuard` that stops training when a PGD check of training digits collapses;
* :class:`TRADES` (``trades``): the clean cross-entropy + β · KL to the adversary (Zhang et al.
  2019).

``score_problem(task)`` trains on a :class:`~transferkit.robustness.tasks.RobustnessTask` and
returns the robust accuracy at the task's primary ε; ``details_`` then holds the clean accuracy,
the robust accuracy at each ε, the accuracy under each corruption, and the timings.

Examples
--------
>>> import numpy as np
>>> from transferkit.robustness import StandardTraining
>>> rng = np.random.default_rng(0)
>>> X = rng.random((64, 784), dtype=np.float32); y = np.arange(64) % 2
>>> model = StandardTraining(epochs=1, random_state=0).fit(X, y)
>>> model.predict(X[:3]).shape
(3,)
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted
from torch import Tensor, nn

from transferkit.checks import (
    check_choice,
    check_nonnegative,
    check_positive_int,
    is_number,
)
from transferkit.datasets.corruptions import corrupt_images
from transferkit.deep.backbones import LeNet
from transferkit.deep.progress import as_progress
from transferkit.deep.training import apply_in_batches, resolve_device, seed_everything, train
from transferkit.exceptions import NotApplicableError, ParameterValueError
from transferkit.registry import register_estimator_class
from transferkit.robustness.attacks import NORMS, check_epsilon, check_images, robust_accuracy
from transferkit.robustness.losses import (
    FastAdversarialLoss,
    MadryLoss,
    TRADESLoss,
    adversarial_step,
)

__all__ = [
    "LEARNING_RATE_SCHEDULES",
    "TRADES",
    "FastAdversarialTraining",
    "OverfittingGuard",
    "PGDTraining",
    "RobustClassifier",
    "StandardTraining",
    "learning_rate_factor",
]

logger = logging.getLogger(__name__)

#: Learning-rate schedules of the robustness methods (:func:`learning_rate_factor`).
LEARNING_RATE_SCHEDULES = ("step", "cyclic")
#: Where the cyclic schedule peaks, as a share of training (Wong et al.'s MNIST schedule).
_CYCLE_PEAK = 0.4


def learning_rate_factor(schedule: str, progress: float) -> float:
    """Multiplier of the initial learning rate at ``progress`` (share of training done, in [0, 1]).

    ``"step"``: 1, then 0.1 for the last quarter of training. ``"cyclic"``: one cycle, rising
    linearly from 0 to 1 over the first 40 % of training and falling back to 0 at the end (the
    schedule Wong, Rice & Kolter 2020 train MNIST with).

    Examples
    --------
    >>> learning_rate_factor("step", 0.8), learning_rate_factor("cyclic", 0.2)
    (0.1, 0.5)
    """
    check_choice(
        schedule, "learning_rate_schedule", "learning_rate_factor", LEARNING_RATE_SCHEDULES
    )
    if schedule == "step":
        return 1.0 if progress < 0.75 else 0.1
    if progress < _CYCLE_PEAK:
        return progress / _CYCLE_PEAK
    return max(0.0, (1.0 - progress) / (1.0 - _CYCLE_PEAK))


class OverfittingGuard:
    """Detects catastrophic overfitting: a PGD check of fixed training rows after each epoch.

    Single-step adversarial training can suddenly learn to defeat its own one-step adversary
    while becoming defenceless against multi-step attacks (Wong, Rice & Kolter 2020,
    "catastrophic overfitting"); their remedy is early stopping on a PGD attack of a training
    minibatch. Passed as ``validate`` to :func:`~transferkit.deep.training.train` with
    ``patience=1``, the guard returns a score that grows with every healthy epoch, so the loop
    keeps the latest weights; once the robust accuracy of the check rows falls more than ``drop``
    below the best seen, it returns -1 and the loop stops and restores the last healthy epoch.

    Parameters
    ----------
    model : nn.Module
        The network being trained (checked in eval mode, as the loop leaves it).
    X, y : Tensor
        The check rows (inputs in [0, 1]) and their integer labels.
    eps : float
        Budget of the check attack.
    norm : {"linf", "l2"}, default "linf"
    steps : int, default 10
        PGD steps of the check (step 2.5 · eps / steps, one random start).
    drop : float, default 0.2
        Fall of robust accuracy, below the best check so far, that counts as a collapse.
    device : torch.device or str, default "cpu"
    random_state : int, default 0
        Seed of the check attack's random starts (the same every epoch).

    Attributes
    ----------
    accuracies : list of float
        Robust accuracy of the check rows after each epoch.
    collapsed_at : int or None
        Index of the epoch whose check collapsed (its weights are discarded), or None.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Linear(4, 2)
    >>> guard = OverfittingGuard(model, torch.rand(16, 4), torch.zeros(16, dtype=torch.long), 0.1)
    >>> guard() >= 0, len(guard.accuracies), guard.collapsed_at
    (True, 1, None)
    """

    def __init__(
        self,
        model: nn.Module,
        X: Tensor,
        y: Tensor,
        eps: float,
        *,
        norm: str = "linf",
        steps: int = 10,
        drop: float = 0.2,
        device: torch.device | str = "cpu",
        random_state: int = 0,
    ):
        self.model = model
        self.X, self.y = X, y
        self.eps, self.norm, self.steps = eps, norm, steps
        self.drop = check_nonnegative(drop, "drop", "OverfittingGuard", strict=True)
        self.device = device
        self.random_state = random_state
        self.accuracies: list[float] = []
        self.collapsed_at: int | None = None

    def __call__(self) -> float:
        """Check once (after an epoch); the score the training loop maximises."""
        if self.collapsed_at is not None:
            return -1.0
        accuracy = robust_accuracy(
            self.model,
            self.X,
            self.y,
            eps=self.eps,
            norm=self.norm,
            steps=self.steps,
            device=self.device,
            random_state=self.random_state,
        )
        self.accuracies.append(accuracy)
        if accuracy < max(self.accuracies) - self.drop:
            self.collapsed_at = len(self.accuracies) - 1
            logger.warning(
                "Catastrophic overfitting after epoch %d: PGD-%d accuracy of the check rows "
                "fell from %.3f to %.3f; training stops and keeps the previous epoch's weights.",
                self.collapsed_at + 1,
                self.steps,
                max(self.accuracies),
                accuracy,
            )
            return -1.0
        return float(len(self.accuracies))


class RobustClassifier(ClassifierMixin, BaseEstimator):
    """Base of the robustness methods: a LeNet + linear head trained on ``loss`` by the one loop.

    Subclasses only say which loss to use (:meth:`_make_loss`); this base trains on the clean
    cross-entropy.

    Parameters
    ----------
    epsilon : float, default 0.3
        Training budget of the adversary (ignored by standard training).
    norm : {"linf", "l2"}, default "linf"
    attack_steps : int, default 7
        PGD steps of the training adversary (Madry et al. use 40; fewer are cheaper).
    step_size : float or None, default None
        PGD step of the training adversary; None: ``2.5 · epsilon / attack_steps``.
    epsilon_warmup : float, default 0.2
        Share of training during which the budget grows linearly from 0 to ``epsilon``.
    image_shape : tuple of int, default (28, 28)
        Shape of one image; inputs are flattened rows or images of this shape.
    hidden_dim : int, default 128
        Width of the LeNet's fully connected layer.
    epochs : int, default 5
    batch_size : int, default 50
        Madry et al.'s batch size; small batches give more steps per pass over the data.
    learning_rate : float, default 1e-3
        Adam's (peak) learning rate.
    learning_rate_schedule : {"step", "cyclic"}, default "step"
        ``"step"``: divided by 10 for the last quarter of training; ``"cyclic"``: one cycle from
        0 up to ``learning_rate`` at 40 % of training and back to 0 (:func:`learning_rate_factor`).
    weight_decay : float, default 0.0
    device : str, default "auto"
    random_state : int or None, default None
    progress : bool or callback, default False
        True draws a tqdm bar for training and for each evaluation attack.
    """

    #: The kind of benchmark task :meth:`score_problem` takes.
    task_kind = "robustness"

    def __init__(
        self,
        epsilon: float = 0.3,
        norm: str = "linf",
        attack_steps: int = 7,
        step_size: float | None = None,
        epsilon_warmup: float = 0.2,
        image_shape: tuple[int, ...] = (28, 28),
        hidden_dim: int = 128,
        epochs: int = 5,
        batch_size: int = 50,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        device: str = "auto",
        random_state: int | None = None,
        progress: Any = False,
        learning_rate_schedule: str = "step",
    ):
        self.epsilon = epsilon
        self.norm = norm
        self.attack_steps = attack_steps
        self.step_size = step_size
        self.epsilon_warmup = epsilon_warmup
        self.image_shape = image_shape
        self.hidden_dim = hidden_dim
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.device = device
        self.random_state = random_state
        self.progress = progress
        self.learning_rate_schedule = learning_rate_schedule

    # -- pieces subclasses change
    def _make_loss(self) -> MadryLoss | None:
        return None

    def _make_guard(self, X_rows: Tensor, codes: Tensor) -> OverfittingGuard | None:
        """The per-epoch check passed to the loop as ``validate`` (None: no check)."""
        return None

    def check_params(self) -> None:
        """Raise :class:`~transferkit.exceptions.ParameterValueError` naming a bad value."""
        name = type(self).__name__
        check_choice(self.norm, "norm", name, NORMS)
        check_choice(
            self.learning_rate_schedule, "learning_rate_schedule", name, LEARNING_RATE_SCHEDULES
        )
        check_epsilon(self.epsilon, self.norm, "epsilon")
        for count in ("attack_steps", "hidden_dim", "epochs", "batch_size"):
            check_positive_int(getattr(self, count), count, name)
        check_nonnegative(self.learning_rate, "learning_rate", name, strict=True)
        check_nonnegative(self.weight_decay, "weight_decay", name)
        if self.step_size is not None:
            check_nonnegative(self.step_size, "step_size", name, strict=True)
        if not is_number(self.epsilon_warmup) or not 0 <= self.epsilon_warmup < 1:
            raise ParameterValueError(
                f"{name}: epsilon_warmup={self.epsilon_warmup!r} must be in [0, 1)."
            )

    # -- fitting
    def _rows(self, X: Any) -> Tensor:
        rows = check_images(X)
        return rows.reshape(rows.shape[0], -1)

    def fit(self, X: Any, y: Any) -> RobustClassifier:
        """Train on images ``X`` in [0, 1] (rows or ``(n, *image_shape)``) and labels ``y``."""
        self.check_params()
        seed_everything(self.random_state)
        X_rows = self._rows(X)
        y = np.asarray(y)
        if len(y) != X_rows.shape[0]:
            raise ParameterValueError(
                f"X has {X_rows.shape[0]} rows but y has {len(y)} labels; give one label per row."
            )
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise NotApplicableError(
                f"y holds the single class {self.classes_[0]!r}; a classifier needs two or more."
            )
        self.device_ = resolve_device(self.device)
        self.network_ = nn.Sequential(
            LeNet(tuple(self.image_shape), out_features=self.hidden_dim),
            nn.Linear(self.hidden_dim, len(self.classes_)),
        ).to(self.device_)
        loss = self._make_loss()
        step = adversarial_step(self.network_, loss, epsilon_warmup=self.epsilon_warmup)
        optimizer = torch.optim.Adam(
            self.network_.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )
        labels = torch.from_numpy(codes).long()
        self.guard_ = self._make_guard(X_rows, labels)
        schedule = self.learning_rate_schedule
        self.history_ = train(
            {"network": self.network_},
            step,
            optimizer,
            X_rows,
            labels,
            validate=self.guard_,
            epochs=self.epochs,
            batch_size=self.batch_size,
            # with a guard: stop at the first collapsed check, back at the last healthy epoch
            patience=None if self.guard_ is None else 1,
            learning_rate_schedule=lambda progress: learning_rate_factor(schedule, progress),
            device=self.device_,
            random_state=self.random_state,
            progress=as_progress(self.progress, f"{type(self).__name__}"),
        )
        self.network_.eval()
        return self

    # -- using
    def decision_function(self, X: Any) -> np.ndarray:
        """Class logits of images ``X``."""
        check_is_fitted(self, "network_")
        return apply_in_batches(self.network_, self._rows(X), self.device_).numpy()

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels of images ``X``."""
        return self.classes_[self.decision_function(X).argmax(axis=1)]

    def score_problem(self, task: Any) -> float:
        """Train on a robustness task; the robust accuracy at its primary ε, in [0, 1].

        ``details_`` then holds ``clean_accuracy``, ``robust_accuracy_<ε>`` for each of the
        task's budgets, ``corrupted_accuracy_<corruption>`` for each of its corruptions,
        ``train_seconds``, ``seconds_per_epoch`` and ``attack_seconds``, plus the protocol
        (``norm``, ``attack_steps``, ``restarts``, ``n_test``).
        """
        if getattr(task, "kind", None) != self.task_kind:
            raise NotApplicableError(
                f"{type(self).__name__} scores robustness tasks (kind 'robustness'); got a "
                f"{getattr(task, 'kind', type(task).__name__)!r} task. Use a dataset such as "
                "'adversarial-mnist'."
            )
        if task.norm != self.norm:
            raise NotApplicableError(
                f"{type(self).__name__} trains against the {self.norm} threat model but the task "
                f"evaluates {task.norm}; set norm={task.norm!r} (and an epsilon of that norm)."
            )
        if tuple(task.image_shape) != tuple(self.image_shape):
            self.set_params(image_shape=tuple(task.image_shape))
        self.fit(task.X_train, task.y_train)
        codes = np.searchsorted(self.classes_, task.y_test)
        X_test = torch.from_numpy(np.asarray(task.X_test, dtype=np.float32))
        y_test = torch.from_numpy(codes).long()
        details: dict[str, Any] = {
            "train_seconds": self.history_.seconds,
            "seconds_per_epoch": self.history_.seconds / max(self.history_.n_epochs, 1),
            "n_epochs": self.history_.n_epochs,
            "norm": task.norm,
            "attack_steps": task.attack_steps,
            "restarts": task.restarts,
            "n_test": len(codes),
            "clean_accuracy": robust_accuracy(
                self.network_, X_test, y_test, eps=0.0, device=self.device_
            ),
        }
        started = time.perf_counter()
        for index, eps in enumerate(sorted(set(task.epsilons) | {task.epsilon})):
            details[f"robust_accuracy_{eps:g}"] = robust_accuracy(
                self.network_,
                X_test,
                y_test,
                attack="pgd",
                eps=eps,
                norm=task.norm,
                steps=task.attack_steps,
                restarts=task.restarts,
                device=self.device_,
                random_state=None if task.random_state is None else task.random_state + index,
                progress=as_progress(self.progress, f"PGD-{task.attack_steps} eps={eps:g}"),
            )
        details["attack_seconds"] = time.perf_counter() - started
        images = np.asarray(task.X_test).reshape(len(codes), *task.image_shape[:2])
        for corruption in task.corruptions:
            corrupted = corrupt_images(images, corruption, task.severity, task.random_state)
            predicted = self.predict(corrupted.reshape(len(codes), -1))
            details[f"corrupted_accuracy_{corruption}"] = float(np.mean(predicted == task.y_test))
        if self.guard_ is not None:
            details["overfitting_checks"] = list(self.guard_.accuracies)
            details["overfitting_stopped_after"] = self.guard_.collapsed_at
        self.details_ = details
        return float(details[f"robust_accuracy_{task.epsilon:g}"])


class StandardTraining(RobustClassifier):
    """The same network trained on clean images only: the floor of every robustness table."""


class PGDTraining(RobustClassifier):
    """PGD adversarial training (Madry, Makelov, Schmidt, Tsipras & Vladu 2018, eq. 2.1).

    Minimises the cross-entropy on PGD adversaries of each batch; parameters as
    :class:`RobustClassifier`.
    """

    def _make_loss(self) -> MadryLoss:
        return MadryLoss(self.epsilon, self.norm, self.attack_steps, self.step_size)


class FastAdversarialTraining(RobustClassifier):
    """Fast adversarial training: FGSM from a random start (Wong, Rice & Kolter 2020, Alg. 3).

    Minimises the cross-entropy on one-step adversaries (:func:`fast_adversarial_loss`): two
    passes of the network per batch where PGD-K training takes K + 1, so the same time buys
    several times the images or epochs. Trained with Wong et al.'s cyclic learning rate, and
    guarded against catastrophic overfitting by an :class:`OverfittingGuard`: after each epoch a
    PGD-10 attack on ``check_size`` fixed training digits; if their robust accuracy falls more
    than ``overfitting_drop`` below its best, training stops and keeps the previous epoch's
    weights (``guard_.collapsed_at`` says when; ``details_["overfitting_stopped_after"]`` in a
    benchmark).

    Parameters
    ----------
    overfitting_drop : float or None, default 0.2
        Fall of the check's robust accuracy that stops training; None: no check.
    check_size : int, default 256
        Training digits the check attacks (drawn once with ``random_state``).
    attack_steps : int, default 1
        Must be 1 (one FGSM step); use ``pgd_training`` for a multi-step adversary.
    learning_rate_schedule : {"step", "cyclic"}, default "cyclic"
    **params
        The rest as :class:`RobustClassifier`; its ``step_size`` is α of the FGSM step, None
        giving ``1.25 · epsilon`` (0.375 at ε = 0.3, the paper's MNIST value).

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.robustness import FastAdversarialTraining
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((64, 784), dtype=np.float32); y = np.arange(64) % 2
    >>> model = FastAdversarialTraining(epochs=2, check_size=16, random_state=0).fit(X, y)
    >>> len(model.guard_.accuracies)
    2
    """

    def __init__(
        self,
        overfitting_drop: float | None = 0.2,
        check_size: int = 256,
        attack_steps: int = 1,
        learning_rate_schedule: str = "cyclic",
        **params: Any,
    ):
        super().__init__(
            attack_steps=attack_steps, learning_rate_schedule=learning_rate_schedule, **params
        )
        self.overfitting_drop = overfitting_drop
        self.check_size = check_size

    @classmethod
    def _get_param_names(cls) -> list[str]:
        return sorted({"overfitting_drop", "check_size", *RobustClassifier._get_param_names()})

    def check_params(self) -> None:
        super().check_params()
        name = type(self).__name__
        if self.attack_steps != 1:
            raise ParameterValueError(
                f"{name}: attack_steps={self.attack_steps!r}, but fast adversarial training "
                "takes one FGSM step; leave attack_steps at 1, or use PGDTraining "
                "('pgd_training') for a multi-step training adversary."
            )
        if self.overfitting_drop is not None:
            check_nonnegative(self.overfitting_drop, "overfitting_drop", name, strict=True)
        check_positive_int(self.check_size, "check_size", name)

    def _make_loss(self) -> FastAdversarialLoss:
        return FastAdversarialLoss(self.epsilon, self.norm, self.step_size)

    def _make_guard(self, X_rows: Tensor, codes: Tensor) -> OverfittingGuard | None:
        if self.overfitting_drop is None or self.epsilon == 0:
            return None
        rows = np.random.default_rng(self.random_state).permutation(len(codes))
        rows = np.sort(rows[: min(self.check_size, len(codes))])
        return OverfittingGuard(
            self.network_,
            X_rows[rows],
            codes[rows],
            self.epsilon,
            norm=self.norm,
            drop=self.overfitting_drop,
            device=self.device_,
            random_state=0 if self.random_state is None else int(self.random_state),
        )


class TRADES(RobustClassifier):
    """TRADES (Zhang, Yu, Jiao, Xing, El Ghaoui & Jordan 2019, eq. 5): clean loss + β · KL.

    Parameters
    ----------
    beta : float, default 6.0
        Weight of the KL robustness term (the paper's 1/λ).
    **params
        As :class:`RobustClassifier`.
    """

    def __init__(self, beta: float = 6.0, **params: Any):
        super().__init__(**params)
        self.beta = beta

    @classmethod
    def _get_param_names(cls) -> list[str]:
        return sorted({"beta", *RobustClassifier._get_param_names()})

    def check_params(self) -> None:
        super().check_params()
        check_nonnegative(self.beta, "beta", type(self).__name__)

    def _make_loss(self) -> TRADESLoss:
        return TRADESLoss(self.epsilon, self.beta, self.norm, self.attack_steps, self.step_size)


# ----------------------------------------------------------------------------- registry
_METHOD_CLASSES: dict[str, tuple[type[RobustClassifier], str]] = {
    "standard_training": (
        StandardTraining,
        "Standard training on clean images (the floor of robustness tables).",
    ),
    "pgd_training": (
        PGDTraining,
        "PGD adversarial training (Madry et al. 2018).",
    ),
    "fast_adversarial_training": (
        FastAdversarialTraining,
        "Fast adversarial training: FGSM from a random start (Wong et al. 2020).",
    ),
    "trades": (
        TRADES,
        "TRADES: clean loss + beta KL to the PGD adversary (Zhang et al. 2019).",
    ),
}


for _name, (_cls, _description) in _METHOD_CLASSES.items():
    register_estimator_class(_name, "robustness", _cls, _description)
