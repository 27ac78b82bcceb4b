"""Adversarial attacks on any differentiable classifier of inputs in [0, 1]: FGSM and PGD.

* :func:`fgsm` — the fast gradient sign method (Goodfellow, Shlens & Szegedy 2015, eq. 3):
  one step of size ε along the sign of the loss gradient (L∞), or along the gradient scaled
  to length ε (L2, the "fast gradient method");
* :func:`pgd` — projected gradient descent on the negative loss (Madry et al. 2018, eq. 2 and
  Section 2.1): from a random start in the ε-ball, ``steps`` signed (L∞) or normalised (L2)
  gradient steps, each followed by the projection back onto the ball and onto [0, 1]; with
  several ``restarts`` a row keeps the first perturbation that fools the model;
* :func:`robust_accuracy` — the share of rows still classified correctly under an attack,
  computed in batches, with a progress callback.

The attacks only need gradients with respect to the *inputs*: a model whose parameters are
frozen (``requires_grad_(False)``) is attacked as well as a trainable one. A model whose output
does not depend differentiably on its input (its forward runs under ``torch.no_grad``, or it
detaches or leaves torch) cannot be attacked by gradients and raises
:class:`~transferkit.exceptions.NotApplicableError`.

Examples
--------
>>> import torch
>>> from torch import nn
>>> from transferkit.robustness import pgd
>>> model = nn.Sequential(nn.Linear(4, 2)).eval()
>>> X, y = torch.rand(8, 4), torch.zeros(8, dtype=torch.long)
>>> X_adv = pgd(model, X, y, eps=0.1, steps=5, random_state=0)
>>> bool((X_adv - X).abs().max() <= 0.1 + 1e-6), bool(X_adv.min() >= 0), bool(X_adv.max() <= 1)
(True, True, True)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from transferkit.checks import check_choice, check_positive_int, is_number
from transferkit.deep.progress import ProgressCallback
from transferkit.deep.training import eval_mode, resolve_device
from transferkit.exceptions import InvalidParameterError, NotApplicableError, ParameterValueError

__all__ = [
    "ATTACKS",
    "NORMS",
    "check_epsilon",
    "check_images",
    "fgsm",
    "pgd",
    "project",
    "robust_accuracy",
]

#: Threat models: the norm that bounds the perturbation.
NORMS = ("linf", "l2")
#: Attacks :func:`robust_accuracy` knows by name.
ATTACKS = ("fgsm", "pgd")
#: Tolerance of the [0, 1] check (images stored as float32 may overshoot by rounding).
_RANGE_TOLERANCE = 1e-6


# ----------------------------------------------------------------------------- checks
def check_epsilon(eps: Any, norm: str = "linf", name: str = "eps") -> float:
    """The attack budget ``eps`` as a float, or :class:`ParameterValueError` saying what is wrong.

    ``eps`` must be a finite number >= 0; under L∞ it is a change of pixel value, so it may not
    exceed 1 (inputs live in [0, 1]). ``norm`` must be one of :data:`NORMS`.

    Examples
    --------
    >>> check_epsilon(0.3)
    0.3
    """
    check_choice(norm, "norm", "attack", NORMS)
    if isinstance(eps, bool) or not is_number(eps) or eps < 0:
        raise ParameterValueError(
            f"{name}={eps!r} must be a finite number >= 0 (the size of the perturbation)."
        )
    if norm == "linf" and eps > 1:
        raise ParameterValueError(
            f"{name}={eps!r} is above 1: under the L-infinity norm eps is a change of pixel value "
            "and inputs live in [0, 1], so eps must be in [0, 1] (MNIST's usual values: 0.1 to 0.3)."
        )
    return float(eps)


def check_images(X: Any, name: str = "X") -> Tensor:
    """``X`` as a float32 tensor whose values lie in [0, 1], or an error naming the problem.

    Examples
    --------
    >>> check_images([[0.0, 0.5, 1.0]]).dtype
    torch.float32
    """
    tensor = torch.as_tensor(np.asarray(X) if not isinstance(X, Tensor) else X)
    if not tensor.is_floating_point():
        tensor = tensor.float()
    tensor = tensor.float()
    if tensor.ndim == 0 or tensor.shape[0] == 0:
        raise InvalidParameterError(f"{name} holds no rows; give at least one input.")
    if not bool(torch.isfinite(tensor).all()):
        raise InvalidParameterError(f"{name} holds NaN or infinite values; attacks need pixels.")
    low, high = float(tensor.min()), float(tensor.max())
    if low < -_RANGE_TOLERANCE or high > 1 + _RANGE_TOLERANCE:
        raise InvalidParameterError(
            f"{name} has values in [{low:.4g}, {high:.4g}], outside [0, 1]: the attacks clip "
            "adversarial inputs to [0, 1] and measure eps in that scale. Scale the inputs to "
            "[0, 1] (e.g. divide 8-bit pixels by 255) and put any normalisation inside the model."
        )
    return tensor.clamp(0.0, 1.0)


def _check_labels(y: Any, n: int) -> Tensor:
    labels = torch.as_tensor(np.asarray(y) if not isinstance(y, Tensor) else y)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise InvalidParameterError(
            f"y must be one integer label per input row ({n}); got shape {tuple(labels.shape)}."
        )
    return labels.long()


def _input_gradient(model: nn.Module, x: Tensor, loss_of_logits: Any) -> tuple[Tensor, Tensor]:
    """The gradient of ``loss_of_logits(model(x))`` with respect to ``x``, and the logits."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        if not isinstance(logits, Tensor) or not logits.requires_grad:
            raise NotApplicableError(
                f"{type(model).__name__}'s output does not depend differentiably on its input "
                "(its forward runs under torch.no_grad, detaches, or leaves torch), so gradient "
                "attacks cannot run on it. Give a model whose forward keeps the autograd graph."
            )
        loss = loss_of_logits(logits)
        (gradient,) = torch.autograd.grad(loss, x)
    return gradient, logits.detach()


def _flat_norm(x: Tensor) -> Tensor:
    """L2 norm of each row of ``x`` (any shape), broadcastable back to ``x``."""
    norms = x.flatten(1).norm(dim=1)
    return norms.view(-1, *([1] * (x.ndim - 1)))


def project(delta: Tensor, eps: float, norm: str = "linf") -> Tensor:
    """``delta`` projected onto the ε-ball of ``norm`` (row by row).

    Examples
    --------
    >>> import torch
    >>> project(torch.tensor([[3.0, 4.0]]), 1.0, "l2")
    tensor([[0.6000, 0.8000]])
    """
    if norm == "linf":
        return delta.clamp(-eps, eps)
    norms = _flat_norm(delta)
    return delta * torch.clamp(eps / (norms + 1e-12), max=1.0)


def _ascent_direction(gradient: Tensor, norm: str) -> Tensor:
    if norm == "linf":
        return gradient.sign()
    return gradient / (_flat_norm(gradient) + 1e-12)


def _cross_entropy_sum(y: Tensor) -> Any:
    # summed, not averaged: each row's gradient is then independent of the batch size
    return lambda logits: F.cross_entropy(logits, y, reduction="sum")


# ----------------------------------------------------------------------------- attacks
def fgsm(model: nn.Module, X: Tensor, y: Tensor, eps: float, *, norm: str = "linf") -> Tensor:
    """Fast gradient sign method (Goodfellow, Shlens & Szegedy 2015, eq. 3).

    ``x + ε · sign(∇ₓ L(f(x), y))`` under L∞, ``x + ε · ∇ₓL / ‖∇ₓL‖₂`` under L2, clipped to
    [0, 1]. Run the model in eval mode (batch-norm statistics and dropout fixed).

    Parameters
    ----------
    model : nn.Module
        Maps a batch of inputs to class logits.
    X : Tensor
        Inputs in [0, 1], any shape the model takes (rows first).
    y : Tensor
        True labels, one per row.
    eps : float
        Size of the perturbation: in [0, 1] under L∞, >= 0 under L2.
    norm : {"linf", "l2"}, default "linf"

    Returns
    -------
    Tensor
        The adversarial inputs, of ``X``'s shape, on ``X``'s device, in [0, 1].

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Linear(3, 2).eval()
    >>> X = torch.full((2, 3), 0.5)
    >>> delta = fgsm(model, X, torch.tensor([0, 1]), eps=0.1) - X
    >>> bool(torch.allclose(delta.abs(), torch.full_like(delta, 0.1)))
    True
    """
    eps = check_epsilon(eps, norm)
    X = check_images(X)
    y = _check_labels(y, X.shape[0]).to(X.device)
    if eps == 0:
        return X.clone()
    gradient, _ = _input_gradient(model, X, _cross_entropy_sum(y))
    return (X + eps * _ascent_direction(gradient, norm)).clamp(0.0, 1.0).detach()


def _random_start(X: Tensor, eps: float, norm: str, generator: torch.Generator | None) -> Tensor:
    if norm == "linf":
        noise = torch.rand(X.shape, generator=generator, device="cpu") * 2 - 1
        return (noise.to(X.device) * eps).to(X.dtype)
    # a random direction at a radius drawn uniformly in [0, eps]. Not uniform in the ball's
    # volume: in hundreds of dimensions that puts every start on the surface, and the random part
    # of such a start survives the projections of 40 steps and weakens the attack (2 points of
    # robust accuracy on MNIST at eps 1.5 against torchattacks, which draws the radius this way)
    direction = torch.randn(X.shape, generator=generator, device="cpu").to(X.device)
    direction = direction / (_flat_norm(direction) + 1e-12)
    radius = torch.rand(X.shape[0], generator=generator, device="cpu")
    return (direction * eps * radius.to(X.device).view(-1, *([1] * (X.ndim - 1)))).to(X.dtype)


def pgd(
    model: nn.Module,
    X: Tensor,
    y: Tensor,
    eps: float,
    *,
    norm: str = "linf",
    steps: int = 40,
    step_size: float | None = None,
    random_start: bool = True,
    restarts: int = 1,
    random_state: int | None = None,
    loss: Any = None,
    start: Tensor | None = None,
) -> Tensor:
    """Projected gradient descent attack (Madry, Makelov, Schmidt, Tsipras & Vladu 2018, eq. 2).

    Starts from ``x`` plus a uniform draw in the ε-ball (``random_start``), then repeats
    ``x ← Π(x + α · d)`` where ``d`` is the sign of the loss gradient (L∞) or the gradient scaled
    to unit length (L2) and ``Π`` projects onto the ε-ball around the clean input and onto
    [0, 1]. With ``restarts > 1`` each row keeps the perturbation of the first restart that fools
    the model (else the last one). Run the model in eval mode.

    Parameters
    ----------
    model : nn.Module
        Maps a batch of inputs to class logits.
    X : Tensor
        Inputs in [0, 1], any shape the model takes (rows first).
    y : Tensor
        True labels, one per row.
    eps : float
        Radius of the ball: in [0, 1] under L∞, >= 0 under L2.
    norm : {"linf", "l2"}, default "linf"
    steps : int, default 40
        Gradient steps per restart (Madry et al. evaluate MNIST with 40 and 100).
    step_size : float or None, default None
        α; None takes ``2.5 · eps / steps``, enough for a path from any start to cross the ball.
    random_start : bool, default True
    restarts : int, default 1
    random_state : int or None, default None
        Seed of the random starts, drawn from a private generator (torch's global one is
        untouched); None draws them from torch's global generator (what the training loop
        seeds per epoch).
    loss : callable or None, default None
        ``loss(logits) -> scalar`` to *maximise*; None: the summed cross-entropy with ``y``
        (TRADES passes its KL term here).
    start : Tensor or None, default None
        Where the first restart begins instead of a random draw (projected onto the ball; TRADES
        starts next to ``x``, where its KL term has a gradient).

    Returns
    -------
    Tensor
        The adversarial inputs, of ``X``'s shape and device, within ε of ``X`` and in [0, 1].

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Linear(3, 2).eval()
    >>> X = torch.rand(4, 3)
    >>> X_adv = pgd(model, X, torch.zeros(4, dtype=torch.long), eps=0.5, norm="l2", steps=3)
    >>> bool(((X_adv - X).norm(dim=1) <= 0.5 + 1e-5).all())
    True
    """
    eps = check_epsilon(eps, norm)
    steps = check_positive_int(steps, "steps", "pgd")
    restarts = check_positive_int(restarts, "restarts", "pgd")
    if step_size is None:
        step_size = 2.5 * eps / steps
    elif isinstance(step_size, bool) or not is_number(step_size) or step_size <= 0:
        raise ParameterValueError(f"pgd: step_size={step_size!r} must be a positive number.")
    X = check_images(X)
    y = _check_labels(y, X.shape[0]).to(X.device)
    if eps == 0:
        return X.clone()
    objective = _cross_entropy_sum(y) if loss is None else loss
    generator = None if random_state is None else torch.Generator().manual_seed(int(random_state))
    best = X.clone()
    still_correct = torch.ones(X.shape[0], dtype=torch.bool, device=X.device)
    for restart in range(restarts):
        if restart == 0 and start is not None:
            delta = project(start.to(X.device) - X, eps, norm)
        elif random_start:
            delta = _random_start(X, eps, norm, generator)
        else:
            delta = torch.zeros_like(X)
        x_adv = (X + delta).clamp(0.0, 1.0)
        for _ in range(steps):
            gradient, _ = _input_gradient(model, x_adv, objective)
            x_adv = x_adv + step_size * _ascent_direction(gradient, norm)
            x_adv = (X + project(x_adv - X, eps, norm)).clamp(0.0, 1.0).detach()
        if restarts == 1:
            return x_adv
        with torch.no_grad():
            fooled = model(x_adv).argmax(1) != y
        best[still_correct] = x_adv[still_correct]
        still_correct &= ~fooled
        if not bool(still_correct.any()):
            break
    return best


# ----------------------------------------------------------------------------- evaluation
def robust_accuracy(
    model: nn.Module,
    X: Any,
    y: Any,
    *,
    attack: str = "pgd",
    eps: float = 0.3,
    norm: str = "linf",
    steps: int = 40,
    step_size: float | None = None,
    restarts: int = 1,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    random_state: int | None = 0,
    progress: ProgressCallback | None = None,
) -> float:
    """Share of rows the model still classifies correctly under an attack, in [0, 1].

    The model runs in eval mode (its mode is restored afterwards); rows go through in batches
    on ``device``; ``eps = 0`` gives the clean accuracy. A row already misclassified counts as
    an error without being attacked.

    Parameters
    ----------
    model : nn.Module
        Maps a batch of inputs to class logits.
    X : Tensor or array
        Inputs in [0, 1] (rows first).
    y : Tensor or array
        True labels.
    attack : {"pgd", "fgsm"}, default "pgd"
    eps : float, default 0.3
    norm : {"linf", "l2"}, default "linf"
    steps, step_size, restarts :
        PGD's settings (see :func:`pgd`); ignored by FGSM.
    batch_size : int, default 256
    device : str, torch.device or None, default None
        Where batches go; None: the device of the model's parameters (the CPU for a model
        without any).
    random_state : int or None, default 0
        Seed of PGD's random starts; batch ``b`` uses ``random_state + b``.
    progress : ProgressCallback or None
        Told of one "epoch" with one step per batch (``TqdmProgress`` draws a bar).

    Returns
    -------
    float

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Linear(2, 2)
    >>> X, y = torch.rand(10, 2), torch.randint(0, 2, (10,))
    >>> 0.0 <= robust_accuracy(model, X, y, eps=0.1, steps=3) <= 1.0
    True
    """
    check_choice(attack, "attack", "robust_accuracy", ATTACKS)
    eps = check_epsilon(eps, norm)
    batch_size = check_positive_int(batch_size, "batch_size", "robust_accuracy")
    X = check_images(X)
    y = _check_labels(y, X.shape[0])
    if device is None:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
    device = resolve_device(device)
    n_batches = math.ceil(X.shape[0] / batch_size)
    correct = 0
    if progress is not None:
        progress.on_start(1, n_batches, 0)
    try:
        with eval_mode(model):
            for index, start in enumerate(range(0, X.shape[0], batch_size)):
                xb = X[start : start + batch_size].to(device)
                yb = y[start : start + batch_size].to(device)
                with torch.no_grad():
                    clean_correct = model(xb).argmax(1) == yb
                if eps > 0 and attack == "pgd":
                    seed = None if random_state is None else int(random_state) + index
                    xb = pgd(
                        model,
                        xb,
                        yb,
                        eps,
                        norm=norm,
                        steps=steps,
                        step_size=step_size,
                        restarts=restarts,
                        random_state=seed,
                    )
                elif eps > 0:
                    xb = fgsm(model, xb, yb, eps, norm=norm)
                with torch.no_grad():
                    correct += int((clean_correct & (model(xb).argmax(1) == yb)).sum())
                if progress is not None:
                    progress.on_step({"accuracy": correct / min(start + batch_size, X.shape[0])})
        if progress is not None:
            progress.on_epoch_end(0, {"accuracy": correct / X.shape[0]})
    finally:
        if progress is not None:
            progress.on_end()
    return correct / X.shape[0]
