"""Adversarial training losses: PGD training, fast (FGSM) training and TRADES, for any classifier.

Each loss is a plain function of ``(model, x, y)`` and a tiny :class:`~torch.nn.Module` holding its
settings, so it plugs into the project's one training loop (:func:`transferkit.deep.training.train`)
through :func:`adversarial_step`, like the transfer losses of :mod:`transferkit.deep.losses`:

* :func:`madry_loss` — the robust objective of Madry et al. (2018, eq. 2.1): the cross-entropy on
  the worst-case input inside the ε-ball, found by PGD from a random start;
* :func:`trades_loss` — TRADES (Zhang, Yu, Jiao, Xing, El Ghaoui & Jordan 2019, eq. 5 and
  Algorithm 1): the clean cross-entropy plus β times the KL divergence between the predictions
  on the clean input and on the input inside the ball that maximises that divergence.

The inner attack runs with the model in eval mode (batch-norm statistics fixed, as the TRADES
reference code does); the outer loss runs in the mode the loop set.

Examples
--------
>>> import torch
>>> from torch import nn
>>> from transferkit.robustness import MadryLoss
>>> model = nn.Sequential(nn.Linear(4, 3))
>>> loss = MadryLoss(eps=0.1, steps=2)(model, torch.rand(8, 4), torch.randint(0, 3, (8,)))
>>> loss.ndim, bool(loss.requires_grad)
(0, True)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from transferkit.checks import check_nonnegative, check_positive_int
from transferkit.deep.training import eval_mode
from transferkit.exceptions import NotApplicableError
from transferkit.robustness.attacks import check_epsilon, pgd

__all__ = [
    "MadryLoss",
    "TRADESLoss",
    "FastAdversarialLoss",
    "adversarial_step",
    "check_trainable",
    "fast_adversarial_loss",
    "madry_loss",
    "trades_loss",
]


def check_trainable(model: nn.Module) -> nn.Module:
    """``model`` if it has parameters that require gradients, else
    :class:`~transferkit.exceptions.NotApplicableError` (training would change nothing)."""
    if not any(p.requires_grad for p in model.parameters()):
        raise NotApplicableError(
            f"{type(model).__name__} has no parameter that requires gradients, so adversarial "
            "training cannot change it. Unfreeze its parameters (model.requires_grad_(True))."
        )
    return model


def _attack_in_eval_mode(model: nn.Module, attack: Callable[[], Tensor]) -> Tensor:
    with eval_mode(model):
        return attack()


def madry_loss(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    *,
    norm: str = "linf",
    steps: int = 10,
    step_size: float | None = None,
    random_state: int | None = None,
) -> Tensor:
    """Cross-entropy on the PGD adversary of each row (Madry et al. 2018, eq. 2.1).

    Parameters
    ----------
    model : nn.Module
        Maps inputs in [0, 1] to logits.
    x, y : Tensor
        A batch and its labels.
    eps : float
        Radius of the threat model's ball.
    norm : {"linf", "l2"}, default "linf"
    steps : int, default 10
        PGD steps of the inner maximisation (Madry et al. use 40 on MNIST; fewer trade a weaker
        adversary for speed).
    step_size : float or None, default None
        None: ``2.5 · eps / steps``.
    random_state : int or None, default None
        Seed of the random start; None draws it from torch's global generator.

    Returns
    -------
    Tensor
        The mean cross-entropy on the adversarial batch, differentiable in the model's weights.
    """
    if eps == 0:
        return F.cross_entropy(model(x), y)
    x_adv = _attack_in_eval_mode(
        model,
        lambda: pgd(
            model, x, y, eps, norm=norm, steps=steps, step_size=step_size, random_state=random_state
        ),
    )
    return F.cross_entropy(model(x_adv), y)


#: Wong, Rice & Kolter's (2020) FGSM step, as a multiple of ε: long enough to reach past the
#: ball's surface from most random starts (before the projection), short enough to avoid the
#: catastrophic overfitting they see with larger steps.
FAST_STEP_RATIO = 1.25


def fast_adversarial_loss(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    *,
    norm: str = "linf",
    step_size: float | None = None,
    random_state: int | None = None,
) -> Tensor:
    """Cross-entropy on a one-step FGSM adversary from a random start (Wong et al. 2020, Alg. 3).

    The adversary starts at a uniform draw ``δ`` in the ε-ball, takes one step
    ``δ ← δ + α · sign(∇δ L(f(x + δ), y))`` (L∞; the gradient scaled to length α under L2) and is
    projected back onto the ball and onto [0, 1]: :func:`~transferkit.robustness.pgd` with one
    step. Without the random start this is plain FGSM training, which multi-step attacks break;
    with it, Wong et al. match PGD training at a fraction of its cost.

    Parameters
    ----------
    model : nn.Module
        Maps inputs in [0, 1] to logits.
    x, y : Tensor
        A batch and its labels.
    eps : float
        Radius of the threat model's ball.
    norm : {"linf", "l2"}, default "linf"
    step_size : float or None, default None
        α; None: ``1.25 · eps`` (the paper's choice; 0.375 at MNIST's ε = 0.3).
    random_state : int or None, default None
        Seed of the random start; None draws it from torch's global generator.

    Returns
    -------
    Tensor
        The mean cross-entropy on the adversarial batch, differentiable in the model's weights.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Linear(4, 3)
    >>> loss = fast_adversarial_loss(model, torch.rand(8, 4), torch.randint(0, 3, (8,)), 0.1)
    >>> loss.ndim, bool(loss.requires_grad)
    (0, True)
    """
    alpha = FAST_STEP_RATIO * eps if step_size is None else step_size
    return madry_loss(
        model, x, y, eps, norm=norm, steps=1, step_size=alpha, random_state=random_state
    )


def trades_loss(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    *,
    beta: float = 6.0,
    norm: str = "linf",
    steps: int = 10,
    step_size: float | None = None,
    random_state: int | None = None,
) -> Tensor:
    """TRADES: clean cross-entropy + β · KL(f(x) ‖ f(x')) (Zhang et al. 2019, eq. 5, Algorithm 1).

    ``x'`` maximises the KL divergence inside the ε-ball by PGD from ``x + 0.001 · N(0, I)``
    (the paper's start: at ``x`` itself the divergence has no gradient).

    Parameters
    ----------
    model : nn.Module
    x, y : Tensor
    eps : float
    beta : float, default 6.0
        Weight of the robustness term (the paper's 1/λ; 6 on MNIST and CIFAR-10).
    norm : {"linf", "l2"}, default "linf"
    steps : int, default 10
    step_size : float or None, default None
        None: ``2.5 · eps / steps``.
    random_state : int or None, default None
        Seed of the start's noise; None draws it from torch's global generator.

    Returns
    -------
    Tensor
    """
    clean_logits = model(x)
    natural = F.cross_entropy(clean_logits, y)
    if eps == 0:
        return natural

    def attack() -> Tensor:
        with torch.no_grad():
            clean_probabilities = F.softmax(model(x), dim=1)
        generator = None if random_state is None else torch.Generator().manual_seed(random_state)
        start = x + 0.001 * torch.randn(x.shape, generator=generator).to(x.device)

        def divergence(logits: Tensor) -> Tensor:
            return F.kl_div(F.log_softmax(logits, dim=1), clean_probabilities, reduction="sum")

        return pgd(
            model,
            x,
            y,
            eps,
            norm=norm,
            steps=steps,
            step_size=step_size,
            loss=divergence,
            start=start.clamp(0.0, 1.0),
        )

    x_adv = _attack_in_eval_mode(model, attack)
    robust = F.kl_div(
        F.log_softmax(model(x_adv), dim=1), F.softmax(clean_logits, dim=1), reduction="batchmean"
    )
    return natural + beta * robust


class MadryLoss(nn.Module):
    """:func:`madry_loss` with its settings; ``loss(model, x, y, eps=None)``.

    Parameters
    ----------
    eps : float, default 0.3
    norm : {"linf", "l2"}, default "linf"
    steps : int, default 10
    step_size : float or None, default None
    """

    def __init__(
        self, eps: float = 0.3, norm: str = "linf", steps: int = 10, step_size: float | None = None
    ):
        super().__init__()
        self.eps = check_epsilon(eps, norm)
        self.norm = norm
        self.steps = check_positive_int(steps, "steps", "MadryLoss")
        self.step_size = step_size

    #: The loss function this module holds the settings of (a subclass names its own).
    _objective = staticmethod(madry_loss)

    def _settings(self) -> dict[str, Any]:
        """The keyword settings passed to :attr:`_objective` (a subclass adds its own)."""
        return {"norm": self.norm, "steps": self.steps, "step_size": self.step_size}

    def forward(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        eps: float | None = None,
        random_state: int | None = None,
    ) -> Tensor:
        return self._objective(
            model,
            x,
            y,
            self.eps if eps is None else eps,
            random_state=random_state,
            **self._settings(),
        )


class FastAdversarialLoss(MadryLoss):
    """:func:`fast_adversarial_loss` with its settings; ``loss(model, x, y, eps=None)``.

    Parameters
    ----------
    eps : float, default 0.3
    norm : {"linf", "l2"}, default "linf"
    step_size : float or None, default None
        α of the FGSM step; None: ``1.25 · eps`` of the batch (so it follows an ε warm-up).
    """

    def __init__(self, eps: float = 0.3, norm: str = "linf", step_size: float | None = None):
        super().__init__(eps, norm, 1, step_size)

    _objective = staticmethod(fast_adversarial_loss)

    def _settings(self) -> dict[str, Any]:
        return {"norm": self.norm, "step_size": self.step_size}


class TRADESLoss(MadryLoss):
    """:func:`trades_loss` with its settings; ``loss(model, x, y, eps=None)``.

    Parameters
    ----------
    eps : float, default 0.3
    beta : float, default 6.0
    norm : {"linf", "l2"}, default "linf"
    steps : int, default 10
    step_size : float or None, default None
    """

    def __init__(
        self,
        eps: float = 0.3,
        beta: float = 6.0,
        norm: str = "linf",
        steps: int = 10,
        step_size: float | None = None,
    ):
        super().__init__(eps, norm, steps, step_size)
        self.beta = check_nonnegative(beta, "beta", "TRADESLoss")

    _objective = staticmethod(trades_loss)

    def _settings(self) -> dict[str, Any]:
        return {**super()._settings(), "beta": self.beta}


def adversarial_step(
    model: nn.Module,
    loss: MadryLoss | None,
    *,
    epsilon_warmup: float = 0.0,
) -> Callable[[Tensor, Tensor, Tensor | None, float], tuple[Tensor, dict[str, float]]]:
    """A ``step`` for :func:`transferkit.deep.training.train` that minimises ``loss``.

    ``loss`` None gives standard training (the clean cross-entropy). ``epsilon_warmup`` is the
    share of training during which ε grows linearly from 0 to ``loss.eps`` (a curriculum that
    keeps a short run from stalling at ε = 0.3 on MNIST); the target batch is not used. The
    attacks' random starts come from torch's global generator, which :func:`train` seeds per
    epoch, so a run (and a resumed run) is reproducible.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from transferkit.deep.training import train
    >>> model = nn.Linear(4, 2)
    >>> step = adversarial_step(model, MadryLoss(eps=0.1, steps=2))
    >>> history = train({"model": model}, step, torch.optim.SGD(model.parameters(), lr=0.1),
    ...                 torch.rand(32, 4), torch.randint(0, 2, (32,)), epochs=1, patience=None)
    >>> history.n_epochs
    1
    """
    check_trainable(model)
    warmup = float(epsilon_warmup)

    def step(
        xs: Tensor, ys: Tensor, xt: Tensor | None, progress: float
    ) -> tuple[Tensor, dict[str, float]]:
        if loss is None:
            return F.cross_entropy(model(xs), ys), {}
        eps = loss.eps * (min(progress / warmup, 1.0) if warmup > 0 else 1.0)
        return loss(model, xs, ys, eps=eps), {"eps": eps}

    return step
