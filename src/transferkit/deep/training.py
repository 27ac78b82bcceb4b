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
* ``device="auto"``: the device setting (:func:`~transferkit.deep.distributed.deep_settings`,
  ``--device``), else CUDA when present, else Apple's MPS, else the CPU;
* **mixed precision** (``amp``, ``torch.autocast``) as an option;
* **data-parallel training** when a ``torch.distributed`` group runs (``torchrun``,
  ``transferkit bench --ddp N``): see :mod:`transferkit.deep.distributed`.

Methods differ only in the networks and loss modules they plug in (see
:mod:`transferkit.deep.methods`).
"""

from __future__ import annotations

import copy
import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch import Tensor, nn

from transferkit.deep.distributed import (
    average_gradients,
    barrier,
    broadcast_buffers,
    broadcast_states,
    broadcast_value,
    local_rank,
    process_rank,
    reduce_mean,
    settings,
    shard,
    world_size,
)
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
    "autocast_dtype",
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
    """The device to run on.

    ``"auto"`` → the device setting (``TRANSFERKIT_DEVICE``, ``--device``) when it is set, else
    ``cuda`` if available, else ``mps`` if available, else ``cpu``. ``"cuda"`` in a data-parallel
    process means its own GPU, ``cuda:LOCAL_RANK``. Asking for CUDA (or MPS) where torch sees
    none raises :class:`~transferkit.exceptions.InvalidParameterError`.
    """
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        device = settings()["device"]
    if device == "auto":
        if torch.cuda.is_available():
            device = "cuda"
        else:
            mps = getattr(torch.backends, "mps", None)
            return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as error:
        raise InvalidParameterError(
            f"Unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'."
        ) from error
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise InvalidParameterError(
                f"device {device!r} asks for a GPU, but torch sees no CUDA device (this build "
                f"of torch {torch.__version__} or this machine has none); use device 'cpu' or "
                "'auto' (--device cpu on the command line)."
            )
        if resolved.index is None and world_size() > 1:
            resolved = torch.device("cuda", local_rank() % torch.cuda.device_count())
    if resolved.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise InvalidParameterError(
                f"device {device!r} asks for Apple's MPS, which this machine lacks; use 'cpu'."
            )
    return resolved


def autocast_dtype(device: torch.device) -> torch.dtype:
    """Mixed precision's low-precision type: float16 on CUDA, bfloat16 elsewhere."""
    return torch.float16 if device.type == "cuda" else torch.bfloat16


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


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """``module`` in eval mode inside the block; afterwards every submodule is back in its own
    mode (``module.train(was_training)`` would set them all alike: a frozen part in eval mode
    under a wrapper in training mode would leave in training mode)."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for submodule, mode in modes:
            submodule.train(mode)


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
    amp: bool | None = None,
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
    amp : bool or None, default None
        Mixed precision: ``step`` runs under ``torch.autocast`` (float16 with gradient scaling on
        CUDA, bfloat16 on the CPU). None: the ``amp`` setting (``--amp``), off by default.
    before_step : callable or None
        Called after the backward pass and before the optimiser step, when the gradients are in
        the parameters' ``.grad`` (a continual learner projects them there, A-GEM); averaged
        over the ranks already, and multiplied by the loss scale under float16 on CUDA.

    Notes
    -----
    In a ``torch.distributed`` group of several processes, every rank runs this function on the
    same data: each takes its slice of every global batch (the batches of a one-process run),
    gradients are averaged before each step, rank 0 alone writes ``checkpoint`` and every rank
    resumes from it; see :mod:`transferkit.deep.distributed`.

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
    amp = settings()["amp"] if amp is None else bool(amp)
    scaler = torch.amp.GradScaler("cuda", enabled=amp and device.type == "cuda")
    ranks, rank = world_size(), process_rank()
    seed = 0 if random_state is None else int(random_state)
    n_source = X_source.shape[0]
    if ranks > 1:
        for name, X in (("source", X_source), ("target", X_target)):
            if X is not None and X.shape[0] < 2 * ranks:
                raise InvalidParameterError(
                    f"{ranks} data-parallel processes need at least {2 * ranks} {name} rows "
                    f"(two per process), got {X.shape[0]}; use fewer processes."
                )
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
    broadcast_states(modules)  # every rank starts from rank 0's weights, as DDP does

    if progress is not None:
        progress.on_start(epochs, steps_per_epoch, first_epoch)
    started = time.perf_counter()
    finished = False
    try:
        for epoch in range(first_epoch, epochs):
            rng = np.random.default_rng([seed, epoch])
            # each rank its own dropout and augmentation draws (rank 0: a one-process run's)
            torch.manual_seed(seed * 100_003 + epoch + rank * 1_000_003)
            sampler = (
                None if X_target is None else _TargetSampler(X_target.shape[0], batch_size, rng)
            )
            for module in modules.values():
                module.eval()
            for module in train_modules:
                module.train()
            sums: dict[str, float] = {}
            for index, batch in enumerate(_batches(n_source, batch_size, rng)):
                if len(batch) < 2 * ranks and n_source >= 2 * ranks:
                    continue  # batch norm and covariance need two rows (on every rank)
                progress_value = (epoch * steps_per_epoch + index) / max(total_steps, 1)
                if learning_rate_schedule is not None:
                    factor = learning_rate_schedule(progress_value)
                    for group in optimizer.param_groups:
                        group["lr"] = group["initial_lr"] * factor
                target_batch = None if sampler is None else sampler.next()
                if ranks > 1:
                    batch = shard(batch)
                    target_batch = None if target_batch is None else shard(target_batch)
                xs = X_source[batch].to(device, non_blocking=True)
                ys = y_source[batch].to(device, non_blocking=True)
                xt = None if target_batch is None else X_target[target_batch].to(device)
                with torch.autocast(device.type, autocast_dtype(device), enabled=amp):
                    loss, logs = step(xs, ys, xt, progress_value)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                average_gradients(optimizer)
                if before_step is not None:
                    before_step()
                scaler.step(optimizer)
                scaler.update()
                broadcast_buffers(modules)
                if after_step is not None:
                    after_step()
                logs = {"loss": float(loss.detach()), **logs}
                for key, value in logs.items():
                    sums[key] = sums.get(key, 0.0) + value
                if progress is not None:
                    progress.on_step(logs)
            epoch_logs = reduce_mean({key: value / steps_per_epoch for key, value in sums.items()})
            for module in modules.values():
                module.eval()
            if validate is not None:
                with torch.no_grad():
                    # rank 0's score: every rank keeps the same best epoch and stops together
                    score = broadcast_value(float(validate()))
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
            if path is not None and rank == 0:
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
            barrier()  # rank 0's checkpoint is written before any rank goes on
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
