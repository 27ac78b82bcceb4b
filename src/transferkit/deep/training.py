"""The one training loop every deep method uses.

:func:`train` runs mini-batch SGD over a labelled source and an unlabelled target, calling a
method-specific ``step`` for the loss of each pair of batches. It gives every method, for free:

* **early stopping** on a source validation split (the method passes ``validate``), with the best
  weights restored at the end;
* **checkpoints**: after every epoch the modules, the optimiser and the early-stopping state are
  written atomically to ``checkpoint``; calling :func:`train` again with the same file resumes
  after the last finished epoch (and returns at once if the run had finished);
* **deterministic seeds**: the batch order and torch's generator are seeded from
  ``(random_state, epoch)``, so a resumed run continues exactly as an uninterrupted one;
* a **progress** callback (:class:`TqdmProgress` draws a tqdm bar; the CLI turns it on);
* ``device="auto"``: CUDA when present, else Apple's MPS, else the CPU.

Methods differ only in the networks and loss modules they plug in (see
:mod:`transferkit.deep.methods`).
"""

from __future__ import annotations

import copy
import logging
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch import Tensor, nn

from transferkit.deep.progress import ProgressCallback, TqdmProgress, as_progress
from transferkit.exceptions import InvalidParameterError

logger = logging.getLogger(__name__)

__all__ = [
    "ProgressCallback",
    "StepFunction",
    "TqdmProgress",
    "TrainingHistory",
    "apply_in_batches",
    "as_progress",
    "batch_norm_layers",
    "recalibrate_batch_norm",
    "resolve_device",
    "seed_everything",
    "split_validation",
    "train",
]

#: ``step(x_source, y_source, x_target, progress) -> (loss, logs)``; ``progress`` runs 0 → 1.
StepFunction = Callable[[Tensor, Tensor, Tensor | None, float], tuple[Tensor, dict[str, float]]]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → ``cuda`` if available, else ``mps`` if available, else ``cpu``."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        return torch.device(device)
    except RuntimeError as error:
        raise InvalidParameterError(
            f"Unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'."
        ) from error


def seed_everything(random_state: int | None) -> None:
    """Seed torch's generators (CPU and CUDA) from ``random_state`` when it is given."""
    if random_state is not None:
        torch.manual_seed(int(random_state))


def split_validation(
    y: np.ndarray, fraction: float, random_state: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train, validation) row indices of ``y`` for early stopping.

    ``fraction`` of the rows (at least one) go to validation, stratified by label when every class
    has two rows or more and there are enough validation rows for each; ``fraction <= 0`` keeps
    every row for training and returns an empty validation index.
    """
    index = np.arange(len(y))
    if fraction <= 0:
        return index, np.empty(0, dtype=int)
    n_validation = max(int(round(fraction * len(y))), 1)
    _, counts = np.unique(y, return_counts=True)
    stratify = y if counts.min() >= 2 and n_validation >= len(counts) else None
    train_index, validation_index = train_test_split(
        index, test_size=n_validation, random_state=random_state, stratify=stratify
    )
    return np.sort(train_index), np.sort(validation_index)


@torch.no_grad()
def apply_in_batches(
    function: Callable[[Tensor], Tensor], X: Tensor, device: torch.device, batch_size: int = 512
) -> Tensor:
    """``function`` over the rows of ``X`` in batches on ``device``, without gradients; the outputs
    are concatenated on the CPU (an empty tensor for no rows)."""
    outputs = [
        function(X[i : i + batch_size].to(device)).cpu() for i in range(0, X.shape[0], batch_size)
    ]
    return torch.cat(outputs) if outputs else torch.empty(0)


def batch_norm_layers(module: nn.Module) -> list[nn.Module]:
    """The batch-norm layers of ``module`` (1-D, 2-D, 3-D and synchronised ones), in order."""
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def recalibrate_batch_norm(
    module: nn.Module, X: Tensor, device: torch.device | str = "cpu", batch_size: int = 256
) -> nn.Module:
    """Re-estimate the running statistics of every batch-norm layer of ``module`` on ``X``, in place.

    AdaBN (Li et al. 2016, Algorithm 1): each layer's running mean and variance become the
    cumulative averages over the batches of ``X`` (the previous statistics are forgotten); the
    weights are untouched and only the batch-norm layers run in training mode, so dropout stays
    off. A last batch of one row is skipped (its variance is undefined) unless it is the only one.
    The module is returned in eval mode.
    """
    device = resolve_device(device)
    norms = batch_norm_layers(module)
    momenta = [norm.momentum for norm in norms]
    module.eval()
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over all batches
        norm.train()
    for start in range(0, X.shape[0], batch_size):
        batch = X[start : start + batch_size]
        if batch.shape[0] > 1 or start == 0:
            module(batch.to(device))
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum
    return module.eval()


@dataclass
class TrainingHistory:
    """What happened: per-epoch logs, the best epoch and its validation score."""

    epochs: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    best_score: float = -math.inf
    stopped_early: bool = False
    resumed_from: int | None = None
    seconds: float = 0.0

    @property
    def n_epochs(self) -> int:
        return len(self.epochs)


def _atomic_save(state: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _module_states(modules: dict[str, nn.Module]) -> dict[str, dict[str, Tensor]]:
    return {name: copy.deepcopy(module.state_dict()) for name, module in modules.items()}


def _batches(n: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


class _TargetSampler:
    """Cycles over shuffled target batches of the same size as the source batches."""

    def __init__(self, n: int, batch_size: int, rng: np.random.Generator):
        self.n, self.batch_size, self.rng = n, batch_size, rng
        self.order = rng.permutation(n)
        self.position = 0

    def next(self) -> np.ndarray:
        size = min(self.batch_size, self.n)
        if self.position + size > self.n:
            self.order = self.rng.permutation(self.n)
            self.position = 0
        index = self.order[self.position : self.position + size]
        self.position += size
        return index


def train(
    modules: dict[str, nn.Module],
    step: StepFunction,
    optimizer: torch.optim.Optimizer,
    X_source: Tensor,
    y_source: Tensor,
    X_target: Tensor | None = None,
    *,
    validate: Callable[[], float] | None = None,
    epochs: int = 20,
    batch_size: int = 64,
    patience: int | None = 5,
    min_epochs: int = 1,
    learning_rate_schedule: Callable[[float], float] | None = None,
    device: torch.device | str = "cpu",
    random_state: int | None = 0,
    checkpoint: str | Path | None = None,
    progress: ProgressCallback | None = None,
    trainable: Iterable[nn.Module] | None = None,
    after_step: Callable[[], None] | None = None,
    before_step: Callable[[], None] | None = None,
) -> TrainingHistory:
    """Train ``modules`` by minimising ``step``'s loss over source (and target) mini-batches.

    Parameters
    ----------
    modules : dict of str → nn.Module
        Everything whose weights the run learns (saved in checkpoints, restored at the best epoch).
    step : callable
        ``step(x_source, y_source, x_target, progress) -> (loss, logs)``; batches are already on
        ``device``; ``x_target`` is None when ``X_target`` is.
    optimizer : torch.optim.Optimizer
    X_source, y_source : Tensor
        Source training rows (on the CPU; batches are moved to ``device``).
    X_target : Tensor or None
        Unlabelled target rows; one target batch is drawn per source batch, cycling.
    validate : callable or None
        Returns a score to maximise (source validation accuracy), called after each epoch with the
        modules in eval mode; the weights of the best epoch (the latest among ties) are restored.
        None: no early stopping, the last epoch is kept.
    epochs : int, default 20
    batch_size : int, default 64
    patience : int or None, default 5
        Stop after this many epochs without a better validation score. None: never stop early
        and keep the last epoch (validation is still logged).
    min_epochs : int, default 1
        Never stop before this many epochs (adversarial methods need time to align).
    learning_rate_schedule : callable or None
        ``progress -> multiplier`` of every parameter group's initial learning rate.
    device : torch.device or str, default "cpu"
    random_state : int or None, default 0
    checkpoint : str, Path or None
        File to save after each epoch and to resume from.
    progress : ProgressCallback or None
    trainable : iterable of nn.Module or None
        Modules to put in train mode during training (default: all of ``modules``); the rest
        stay in eval mode (a frozen backbone keeps its batch-norm statistics).
    after_step : callable or None
        Called after every optimiser step (a mean teacher's moving average of the student's
        weights; the teacher belongs in ``modules`` so checkpoints and early stopping keep it).
    before_step : callable or None
        Called after the backward pass and before the optimiser step, when the gradients are in
        the parameters' ``.grad`` (a continual learner projects them there, A-GEM).

    Returns
    -------
    TrainingHistory
    """
    import time

    if epochs < 1:
        raise InvalidParameterError(f"epochs must be at least 1, got {epochs}.")
    if batch_size < 1:
        raise InvalidParameterError(f"batch_size must be at least 1, got {batch_size}.")
    device = resolve_device(device)
    seed = 0 if random_state is None else int(random_state)
    n_source = X_source.shape[0]
    steps_per_epoch = math.ceil(n_source / batch_size)
    total_steps = epochs * steps_per_epoch
    base_rates = [group.get("initial_lr", group["lr"]) for group in optimizer.param_groups]
    for group, rate in zip(optimizer.param_groups, base_rates, strict=True):
        group["initial_lr"] = rate
    train_modules = list(modules.values()) if trainable is None else list(trainable)

    history = TrainingHistory()
    best_state: dict[str, dict[str, Tensor]] | None = None
    bad_epochs = 0
    first_epoch = 0
    path = None if checkpoint is None else Path(checkpoint)
    if path is not None and path.exists():
        state = torch.load(path, map_location="cpu", weights_only=False)
        for name, module in modules.items():
            module.load_state_dict(state["modules"][name])
        optimizer.load_state_dict(state["optimizer"])
        history = state["history"]
        best_state = state["best_state"]
        bad_epochs = state["bad_epochs"]
        first_epoch = state["epoch"] + 1
        history.resumed_from = first_epoch
        logger.info("Resuming from %s after epoch %d", path, first_epoch)
        if state.get("finished"):
            if best_state is not None:
                for name, module in modules.items():
                    module.load_state_dict(best_state[name])
            return history

    if progress is not None:
        progress.on_start(epochs, steps_per_epoch, first_epoch)
    started = time.perf_counter()
    finished = False
    try:
        for epoch in range(first_epoch, epochs):
            rng = np.random.default_rng([seed, epoch])
            torch.manual_seed(seed * 100_003 + epoch)
            sampler = (
                None if X_target is None else _TargetSampler(X_target.shape[0], batch_size, rng)
            )
            for module in modules.values():
                module.eval()
            for module in train_modules:
                module.train()
            sums: dict[str, float] = {}
            for index, batch in enumerate(_batches(n_source, batch_size, rng)):
                if len(batch) < 2 and n_source >= 2:
                    continue  # batch norm and covariance need two rows
                progress_value = (epoch * steps_per_epoch + index) / max(total_steps, 1)
                if learning_rate_schedule is not None:
                    factor = learning_rate_schedule(progress_value)
                    for group in optimizer.param_groups:
                        group["lr"] = group["initial_lr"] * factor
                xs = X_source[batch].to(device, non_blocking=True)
                ys = y_source[batch].to(device, non_blocking=True)
                xt = None if sampler is None else X_target[sampler.next()].to(device)
                loss, logs = step(xs, ys, xt, progress_value)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if before_step is not None:
                    before_step()
                optimizer.step()
                if after_step is not None:
                    after_step()
                logs = {"loss": float(loss.detach()), **logs}
                for key, value in logs.items():
                    sums[key] = sums.get(key, 0.0) + value
                if progress is not None:
                    progress.on_step(logs)
            epoch_logs = {key: value / steps_per_epoch for key, value in sums.items()}
            for module in modules.values():
                module.eval()
            if validate is not None:
                with torch.no_grad():
                    score = float(validate())
                epoch_logs["validation"] = score
                # ties go to the later epoch: adaptation keeps working after the source
                # validation accuracy saturates
                if score >= history.best_score:
                    bad_epochs = 0 if score > history.best_score else bad_epochs + 1
                    history.best_score, history.best_epoch = score, epoch
                    if patience is not None:
                        best_state = _module_states(modules)
                else:
                    bad_epochs += 1
            else:
                history.best_epoch = epoch
            history.epochs.append(epoch_logs)
            logger.debug("epoch %d: %s", epoch, epoch_logs)
            stop = (
                validate is not None
                and patience is not None
                and bad_epochs >= patience
                and epoch + 1 >= min_epochs
            )
            history.stopped_early = stop
            finished = stop or epoch + 1 == epochs
            if path is not None:
                _atomic_save(
                    {
                        "modules": _module_states(modules),
                        "optimizer": optimizer.state_dict(),
                        "history": history,
                        "best_state": best_state,
                        "bad_epochs": bad_epochs,
                        "epoch": epoch,
                        "finished": finished,
                    },
                    path,
                )
            if progress is not None:
                progress.on_epoch_end(epoch, epoch_logs)
            if stop:
                break
    finally:
        if progress is not None:
            progress.on_end()
    history.seconds += time.perf_counter() - started
    if best_state is not None:
        for name, module in modules.items():
            module.load_state_dict(best_state[name])
    for module in modules.values():
        module.eval()
    return history
