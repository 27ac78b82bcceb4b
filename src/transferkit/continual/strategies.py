"""Continual-learning strategies for any ``nn.Module``, on the project's one training loop.

Every strategy learns the experiences of a :class:`~transferkit.continual.ContinualStream` one
after the other with :func:`transferkit.deep.training.train` (a fresh Adam per experience by
default; ``reset_optimizer=False`` keeps one Adam for the stream), then tests on every task,
filling the accuracy matrix ``R[i, j]``. A strategy differs from naive fine-tuning only by the
hooks it overrides: which rows it trains on, a term added to the loss, a change of the gradient
before the optimiser step, bookkeeping after each step or after each experience.

- :class:`Naive` — fine-tuning on each task in turn (the floor).
- :class:`Joint` — trains on every task seen so far (the ceiling of the same budget).
- :class:`EWC` and :class:`OnlineEWC` — elastic weight consolidation (Kirkpatrick et al. 2017;
  the online form of Schwarz et al. 2018): a quadratic penalty weighted by the Fisher information.
- :class:`SI` — synaptic intelligence (Zenke et al. 2017): the same penalty with importances
  accumulated along the training path.
- :class:`LwF` — learning without forgetting (Li & Hoiem 2016): distillation of the previous
  model's outputs on the new task's inputs.
- :class:`Replay` — experience replay from a reservoir buffer (Vitter 1985; Chaudhry et al. 2019).
- :class:`AGEM` — averaged gradient episodic memory (Chaudhry et al. 2019): the gradient is
  projected so that the loss on a memory batch does not increase.

Scenarios: the masks of :meth:`ContinualStream.output_mask` restrict the logits, in training
and at test, to the units open to each row (its task's head in the task scenario, every class seen
so far in the class scenario).

Examples
--------
>>> from transferkit.continual import EWC, split_mnist
>>> stream = split_mnist("task", n_train_per_task=500, n_test_per_task=200)  # doctest: +SKIP
>>> ewc = EWC(epochs=2, random_state=0).fit(stream)  # doctest: +SKIP
>>> ewc.details_["average_accuracy"] > 0.9  # doctest: +SKIP
True
"""

from __future__ import annotations

import copy
import logging
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from transferkit.checks import check_choice, check_nonnegative, check_positive_int
from transferkit.continual.metrics import continual_metrics
from transferkit.continual.streams import ContinualStream
from transferkit.deep.backbones import MLPEncoder
from transferkit.deep.progress import ProgressCallback, as_progress
from transferkit.deep.training import apply_in_batches, resolve_device, seed_everything, train
from transferkit.exceptions import (
    DegenerateResultWarning,
    InvalidParameterError,
    NotApplicableError,
    NotFittedError,
)
from transferkit.registry import register_method

logger = logging.getLogger(__name__)

__all__ = [
    "AGEM",
    "EWC",
    "SI",
    "ContinualStrategy",
    "Joint",
    "LwF",
    "Naive",
    "OnlineEWC",
    "Replay",
    "ReservoirBuffer",
    "distillation_loss",
    "fisher_diagonal",
    "masked_cross_entropy",
    "merge_quadratic_penalties",
    "project_gradient",
    "quadratic_penalty",
]


# ---------------------------------------------------------------------------- the math
def masked_cross_entropy(logits: Tensor, y: Tensor, mask: Tensor) -> Tensor:
    """Cross-entropy among the open units only: closed units (``mask`` False) get ``-inf``."""
    return F.cross_entropy(logits.masked_fill(~mask, float("-inf")), y)


def distillation_loss(student: Tensor, teacher: Tensor, temperature: float = 2.0) -> Tensor:
    """Knowledge distillation (Hinton et al. 2015; LwF, Li & Hoiem 2016, Eq. 2): cross-entropy of
    the student's softened outputs against the teacher's, times ``temperature**2`` so that its
    gradients keep their scale."""
    soft_targets = F.softmax(teacher / temperature, dim=1)
    log_probs = F.log_softmax(student / temperature, dim=1)
    return -(soft_targets * log_probs).sum(dim=1).mean() * temperature**2


def quadratic_penalty(
    parameters: dict[str, Tensor], importance: dict[str, Tensor], anchor: dict[str, Tensor]
) -> Tensor:
    """``sum_k importance_k (theta_k - anchor_k)^2`` over the named parameters (EWC, Eq. 3 of
    Kirkpatrick et al. 2017 without its 1/2 and lambda; SI, Eq. 4 of Zenke et al. 2017)."""
    terms = [
        (importance[name] * (value - anchor[name]) ** 2).sum()
        for name, value in parameters.items()
        if name in importance
    ]
    return torch.stack(terms).sum()


def merge_quadratic_penalties(
    terms: Sequence[tuple[dict[str, Tensor], dict[str, Tensor]]],
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """One ``(importance, anchor)`` pair whose :func:`quadratic_penalty` has the gradient of the
    sum of the penalties of ``terms``.

    ``sum_t F_t (theta - a_t)^2 = A (theta - m)^2 + const`` with ``A = sum_t F_t`` and
    ``m = sum_t F_t a_t / A``: EWC's penalty over many tasks then costs one term a step.
    """
    importance = {k: sum(f[k] for f, _ in terms) for k in terms[0][0]}
    anchor = {
        k: sum(f[k] * a[k] for f, a in terms) / importance[k].clamp_min(1e-30) for k in importance
    }
    return importance, anchor


def project_gradient(gradient: Tensor, reference: Tensor) -> Tensor:
    """A-GEM's projection (Chaudhry et al. 2019, Eq. 11): when ``gradient`` points against the
    memory's ``reference`` gradient, remove its component along it; else keep it."""
    dot = torch.dot(gradient, reference)
    if dot >= 0:
        return gradient
    return gradient - dot / torch.dot(reference, reference).clamp_min(1e-12) * reference


def _linear_fisher(model: nn.Module, X: Tensor, mask: Tensor | None) -> dict[str, Tensor] | None:
    """:func:`fisher_diagonal` in closed form when every trainable parameter belongs to an
    ``nn.Linear`` called once on 2-D rows; None otherwise."""
    owners = {}  # parameter name -> (its Linear, "weight" or "bias")
    for module_name, module in model.named_modules():
        for kind, parameter in module.named_parameters(recurse=False):
            if not parameter.requires_grad:
                continue
            if not isinstance(module, nn.Linear):
                return None
            owners[f"{module_name}.{kind}" if module_name else kind] = (module, kind)
    if not owners or len(X) == 0:
        return None
    layers = {id(module): module for module, _ in owners.values()}
    seen: dict[int, list[tuple[Tensor, Tensor]]] = {id_: [] for id_ in layers}

    def keep(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        seen[id(module)].append((inputs[0].detach(), output))

    hooks = [module.register_forward_hook(keep) for module in layers.values()]
    try:
        with torch.enable_grad():
            logits = model(X)
    finally:
        for hook in hooks:
            hook.remove()
    calls = [seen[id_] for id_ in layers]
    if any(len(c) != 1 or c[0][0].dim() != 2 or not c[0][1].requires_grad for c in calls):
        return None  # a layer shared, skipped or applied to sequences: use the general path
    if mask is not None:
        logits = logits.masked_fill(~mask, float("-inf"))
    # rows do not interact, so the gradient of the summed loss at a layer's output is, row by
    # row, the gradient of that row's own loss
    loss = F.cross_entropy(logits, logits.argmax(dim=1), reduction="sum")
    deltas = torch.autograd.grad(loss, [c[0][1] for c in calls], allow_unused=True)
    squares = {}
    for id_, call, delta in zip(layers, calls, deltas, strict=True):
        inputs = call[0][0]
        delta = torch.zeros_like(call[0][1]) if delta is None else delta.detach()
        delta2 = delta.square()
        squares[id_] = {"weight": delta2.T @ inputs.square(), "bias": delta2.sum(dim=0)}
    return {name: squares[id(module)][kind] / len(X) for name, (module, kind) in owners.items()}


def fisher_diagonal(
    model: nn.Module, X: Tensor, mask: Tensor | None = None, chunk_size: int | None = None
) -> dict[str, Tensor]:
    """The diagonal of the Fisher information of ``model``'s trainable parameters on rows ``X``
    (Kirkpatrick et al. 2017; van de Ven & Tolias 2019, Eq. 4): the mean over the rows of the
    squared gradient of ``-log p(y_hat | x)``, ``y_hat`` the model's own prediction among the
    open units of ``mask``.

    A batch gradient cannot stand in for the per-row ones (the mean of squares is not the square
    of the mean). When every trainable parameter belongs to an ``nn.Linear`` applied once to
    rows of features (an MLP), the squares have a closed form from one batched backward pass:
    the gradient of row ``n`` for a weight is ``delta_n a_n^T`` (``a_n`` the layer's input,
    ``delta_n`` the gradient at its output), so the sum of squares over the rows is
    ``(delta**2)^T (a**2)``, one matrix product per layer. Any other model gets the per-row
    gradients from one vectorised pass (``torch.func``: ``vmap`` of ``grad`` over a
    ``functional_call``), in chunks of ``chunk_size`` rows so that at most that many gradients
    of the whole model are held at once. Both give the numbers of a loop over the rows.

    Parameters
    ----------
    model : nn.Module
        Used as it is (call ``model.eval()`` first to switch off dropout); rows must not
        interact (no batch norm in training mode).
    X : Tensor (n, ...)
        The rows, on the model's device.
    mask : bool Tensor (n_outputs,) or None, default None
        The output units open to the prediction; None: all of them.
    chunk_size : int or None, default None
        Rows per vectorised pass; None: as many as fit in 32 MiB of gradients (at least one).

    Returns
    -------
    dict of str to Tensor
        One tensor per trainable parameter, by name, of its shape.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    >>> fisher = fisher_diagonal(model, torch.randn(10, 3))
    >>> sorted(fisher), tuple(fisher["0.weight"].shape)
    (['0.bias', '0.weight', '2.bias', '2.weight'], (4, 3))
    """
    from torch.func import functional_call, grad, vmap

    closed_form = _linear_fisher(model, X, mask)
    if closed_form is not None:
        return closed_form
    trainable = {name: p.detach() for name, p in model.named_parameters() if p.requires_grad}
    fixed = {name: p.detach() for name, p in model.named_parameters() if not p.requires_grad}
    fixed.update(model.named_buffers())

    def row_loss(parameters: dict[str, Tensor], x: Tensor) -> Tensor:
        logits = functional_call(model, {**parameters, **fixed}, (x.unsqueeze(0),))
        if mask is not None:
            logits = logits.masked_fill(~mask, float("-inf"))
        return F.cross_entropy(logits, logits.argmax(dim=1))

    row_gradients = vmap(grad(row_loss), in_dims=(None, 0))
    if chunk_size is None:
        size = 4 * sum(p.numel() for p in trainable.values())
        chunk_size = max(1, (32 << 20) // max(size, 1))
    names = list(trainable)
    totals = [torch.zeros_like(trainable[name]) for name in names]
    for start in range(0, len(X), chunk_size):
        gradients = row_gradients(trainable, X[start : start + chunk_size])
        torch._foreach_add_(totals, [gradients[name].square_().sum(dim=0) for name in names])
    return {name: total / max(len(X), 1) for name, total in zip(names, totals, strict=True)}


class ReservoirBuffer:
    """A fixed-size uniform sample of every row offered so far (Vitter 1985, Algorithm R).

    Parameters
    ----------
    capacity : int
    random_state : int or None, default 0

    Examples
    --------
    >>> import numpy as np
    >>> buffer = ReservoirBuffer(5, random_state=0)
    >>> buffer.add(np.zeros((20, 3), np.float32), np.arange(20), np.zeros(20, int))
    >>> len(buffer), buffer.seen
    (5, 20)
    """

    def __init__(self, capacity: int, random_state: int | None = 0):
        self.capacity = check_positive_int(capacity, "capacity", "ReservoirBuffer")
        self.rng = np.random.default_rng(random_state)
        self.X: np.ndarray | None = None
        self.y = np.empty(0, dtype=np.int64)
        self.tasks = np.empty(0, dtype=np.int64)
        self.seen = 0

    def __len__(self) -> int:
        return len(self.y)

    def add(self, X: np.ndarray, y: np.ndarray, tasks: np.ndarray) -> None:
        """Offer rows one by one: the first ``capacity`` are kept, then row ``n`` (0-based)
        replaces a random slot with probability ``capacity / (n + 1)``."""
        if self.X is None:
            self.X = np.empty((0, X.shape[1]), dtype=np.float32)
        slots: list[int] = []  # slot of each offered row, -1 when it is dropped
        fill = len(self.y)
        for _ in range(len(X)):
            if fill < self.capacity:
                slots.append(fill)
                fill += 1
            else:
                j = int(self.rng.integers(0, self.seen + 1))
                slots.append(j if j < self.capacity else -1)
            self.seen += 1
        slots_array = np.asarray(slots)
        n_new = fill - len(self.y)
        if n_new:
            self.X = np.concatenate([self.X, np.zeros((n_new, X.shape[1]), np.float32)])
            self.y = np.concatenate([self.y, np.zeros(n_new, np.int64)])
            self.tasks = np.concatenate([self.tasks, np.zeros(n_new, np.int64)])
        # later rows overwrite earlier ones that drew the same slot, as in the sequential algorithm
        for row in np.flatnonzero(slots_array >= 0):
            slot = slots_array[row]
            self.X[slot], self.y[slot], self.tasks[slot] = X[row], y[row], tasks[row]

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Indices of ``n`` stored rows drawn with replacement."""
        return rng.integers(0, len(self.y), size=n)


# ---------------------------------------------------------------------------- the base strategy
class ContinualStrategy:
    """Naive fine-tuning, and the base every strategy extends through its hooks.

    Parameters
    ----------
    model : nn.Module or None, default None
        Any module mapping rows of ``stream.n_features`` values to ``stream.n_outputs`` logits; it
        is copied, never trained in place. None: an MLP with ``hidden`` ReLU layers and a linear
        output layer (van de Ven & Tolias 2019: two layers of 400 units).
    hidden : sequence of int, default (400, 400)
        Widths of the default MLP's hidden layers.
    epochs : int, default 2
        Passes over each experience's training rows.
    batch_size : int, default 128
    learning_rate : float, default 1e-3
        Adam's step size (betas (0.9, 0.999)).
    device : str, default "cpu"
        ``"auto"``: CUDA, else MPS, else the CPU.
    random_state : int or None, default 0
        Seeds the initial weights, the batch order and every random choice of the strategy.
    progress : bool, ProgressCallback or None, default None
        True draws a progress bar per experience; a callback object receives the training loop's
        reports (see :mod:`transferkit.deep.progress`).
    all_units : bool, default False
        Class scenario only: train every output unit from the first task on (avalanche's way)
        instead of the units of the classes seen so far (van de Ven & Tolias's). Testing always
        uses the classes seen so far.
    reset_optimizer : bool, default True
        Start each experience with a fresh Adam. False keeps Adam's moment estimates from one
        experience to the next, as van de Ven & Tolias's code and avalanche 0.6 do by default:
        each new task then starts with the step sizes the last one ended with, which on Permuted
        MNIST at a learning rate of 1e-4 forgets much less than a fresh start.

    Attributes
    ----------
    model_ : nn.Module
        The trained model (eval mode).
    accuracy_matrix_ : ndarray (T, T)
        ``R[i, j]``: test accuracy on task ``j`` after training task ``i``.
    initial_accuracies_ : ndarray (T,)
        Accuracy of the untrained model on each task (the forward-transfer baseline).
    seconds_per_epoch_ : float
        Training wall time (consolidation after each experience included, testing excluded)
        divided by the number of epochs run.
    details_ : dict
        After :meth:`score_problem`: every metric (:func:`continual_metrics`) and the timings.
    """

    task_kind = "continual"
    #: Name in the registry and in messages.
    name = "naive"

    def __init__(
        self,
        model: nn.Module | None = None,
        hidden: Sequence[int] = (400, 400),
        epochs: int = 2,
        batch_size: int = 128,
        learning_rate: float = 1e-3,
        device: str = "cpu",
        random_state: int | None = 0,
        progress: bool | ProgressCallback | None = None,
        all_units: bool = False,
        reset_optimizer: bool = True,
    ):
        self.model = model
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.device = device
        self.random_state = random_state
        self.progress = progress
        self.all_units = all_units
        self.reset_optimizer = reset_optimizer

    # ------------------------------------------------------------------ sklearn-style params
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        import inspect

        names = [
            name
            for cls in type(self).__mro__
            if cls is not object
            for name, parameter in list(inspect.signature(cls.__init__).parameters.items())[1:]
            if parameter.kind is not inspect.Parameter.VAR_KEYWORD
        ]
        return {name: getattr(self, name) for name in dict.fromkeys(names)}

    def set_params(self, **params: Any) -> ContinualStrategy:
        for key, value in params.items():
            if key not in self.get_params():
                raise InvalidParameterError(
                    f"{type(self).__name__} has no parameter {key!r}; it has "
                    f"{', '.join(self.get_params())}."
                )
            setattr(self, key, value)
        return self

    # ------------------------------------------------------------------ hooks
    def _check_parameters(self) -> None:
        """Strategy-specific parameter checks (raise our errors)."""

    def _begin(self, stream: ContinualStream) -> None:
        """Called once before the first experience."""

    def _training_rows(
        self, stream: ContinualStream, i: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows, output units and task ids to train on for experience ``i``."""
        experience = stream.experiences[i]
        tasks = np.full(len(experience.y_train), i, dtype=np.int64)
        return experience.X_train, experience.y_train, tasks

    def _epochs(self, stream: ContinualStream, i: int) -> int:
        return self.epochs

    def _before_experience(self, stream: ContinualStream, i: int) -> None:
        """Called before training on experience ``i``."""

    def _loss(self, x: Tensor, y: Tensor, tasks: Tensor, i: int) -> tuple[Tensor, dict[str, float]]:
        """The training loss of one batch of experience ``i`` (and what to log)."""
        logits = self.model_(x)
        return masked_cross_entropy(logits, y, self._masks[tasks]), {}

    def _before_step(self) -> None:
        """Called between the backward pass and the optimiser step."""

    def _after_step(self) -> None:
        """Called after every optimiser step."""

    def _after_experience(self, stream: ContinualStream, i: int) -> None:
        """Called after training on experience ``i``, before testing."""

    def _details(self) -> dict[str, Any]:
        """Strategy-specific entries of ``details_`` (JSON-ready)."""
        return {}

    # ------------------------------------------------------------------ the loop
    def _build_model(self, stream: ContinualStream) -> nn.Module:
        if self.model is None:
            encoder = MLPEncoder(stream.n_features, hidden=tuple(self.hidden))
            return nn.Sequential(encoder, nn.Linear(encoder.out_features, stream.n_outputs))
        if not isinstance(self.model, nn.Module):
            raise InvalidParameterError(
                f"{self.name}: model must be a torch nn.Module; got {type(self.model).__name__}."
            )
        model = copy.deepcopy(self.model)
        if not any(p.requires_grad for p in model.parameters()):
            raise InvalidParameterError(
                f"{self.name}: the model has no parameter that requires gradients, so it cannot "
                "learn; unfreeze some parameters (p.requires_grad_(True))."
            )
        with torch.no_grad():
            model.eval()
            probe = torch.as_tensor(stream.experiences[0].X_test[:2])
            shape = tuple(model(probe).shape)
        if shape != (len(probe), stream.n_outputs):
            raise InvalidParameterError(
                f"{self.name}: the model maps {len(probe)} rows of {stream.n_features} features to "
                f"an output of shape {shape}; the stream needs ({len(probe)}, "
                f"{stream.n_outputs}) logits (n_outputs in the {stream.scenario} scenario)."
            )
        return model

    def _check(self, stream: Any) -> ContinualStream:
        if getattr(stream, "kind", None) != "continual" or not isinstance(stream, ContinualStream):
            raise NotApplicableError(
                f"{self.name} learns a continual stream (kind 'continual'); got "
                f"{type(stream).__name__} of kind {getattr(stream, 'kind', None)!r}. Load one with "
                "transferkit.continual.load_stream or the 'continual' dataset."
            )
        check_positive_int(self.epochs, "epochs", self.name)
        check_positive_int(self.batch_size, "batch_size", self.name)
        check_nonnegative(self.learning_rate, "learning_rate", self.name, strict=True)
        check_choice(self.reset_optimizer, "reset_optimizer", self.name, (True, False))
        if self.model is None and (
            isinstance(self.hidden, str | bytes)
            or not isinstance(self.hidden, Sequence)
            or not all(
                isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in self.hidden
            )
        ):
            raise InvalidParameterError(
                f"{self.name}: hidden must list the default MLP's hidden layer widths, positive "
                f"integers such as (400, 400) (command line: hidden=[400,400]); got "
                f"{self.hidden!r}."
            )
        self._check_parameters()
        return stream

    def _seed(self, offset: int = 0) -> int:
        return (0 if self.random_state is None else int(self.random_state)) * 1000 + offset

    def fit(self, stream: ContinualStream) -> ContinualStrategy:
        """Learn the experiences of ``stream`` in order, testing on every task after each one."""
        stream = self._check(stream)
        seed_everything(self._seed())
        self.device_ = resolve_device(self.device)
        self.model_ = self._build_model(stream).to(self.device_)
        self.stream_ = stream
        self.rng_ = np.random.default_rng(self._seed())
        T = stream.n_tasks
        self.initial_accuracies_ = np.array([self._accuracy(stream, j, j) for j in range(T)])
        R = np.zeros((T, T))
        seconds, epochs_run = 0.0, 0
        optimizer = None
        self._begin(stream)
        for i in range(T):
            started = time.perf_counter()
            seen = T - 1 if self.all_units and stream.scenario == "class" else i
            self._masks = torch.as_tensor(stream.output_mask(np.arange(T), seen=seen)).to(
                self.device_
            )
            X, y, tasks = self._training_rows(stream, i)
            self._before_experience(stream, i)
            epochs = self._epochs(stream, i)
            if optimizer is None or self.reset_optimizer:
                optimizer = torch.optim.Adam(
                    [p for p in self.model_.parameters() if p.requires_grad], lr=self.learning_rate
                )
            labels = torch.as_tensor(np.column_stack([y, tasks]), dtype=torch.long)

            def step(xs: Tensor, ys: Tensor, xt: Tensor | None, progress: float, i: int = i):
                return self._loss(xs, ys[:, 0], ys[:, 1], i)

            train(
                {"model": self.model_},
                step,
                optimizer,
                torch.as_tensor(X),
                labels,
                epochs=epochs,
                batch_size=self.batch_size,
                patience=None,
                device=self.device_,
                random_state=self._seed(i),
                progress=as_progress(self.progress, f"{self.name} experience {i + 1}/{T}"),
                before_step=self._before_step,
                after_step=self._after_step,
            )
            self._after_experience(stream, i)
            seconds += time.perf_counter() - started
            epochs_run += epochs
            R[i] = [self._accuracy(stream, i, j) for j in range(T)]
            logger.info("%s after experience %d: %s", self.name, i, np.round(R[i], 4))
        self.accuracy_matrix_ = R
        self.seconds_per_epoch_ = seconds / max(epochs_run, 1)
        self.model_.eval()
        return self

    @torch.no_grad()
    def _logits(self, X: np.ndarray) -> Tensor:
        self.model_.eval()
        return apply_in_batches(self.model_, torch.as_tensor(X), self.device_, batch_size=1024)

    def _accuracy(self, stream: ContinualStream, seen: int, j: int) -> float:
        experience = stream.experiences[j]
        logits = self._logits(experience.X_test)
        mask = torch.as_tensor(stream.output_mask([j], seen=seen))
        predicted = logits.masked_fill(~mask, float("-inf")).argmax(dim=1).numpy()
        return float(np.mean(predicted == experience.y_test))

    def predict(self, X: Any, task_ids: Any = None) -> np.ndarray:
        """Output units predicted for rows ``X`` (labels as in the stream's experiences).

        In the task scenario ``task_ids`` (one per row) is required and picks each row's head;
        in the class scenario every class seen is open; in the domain scenario every unit.
        """
        if not hasattr(self, "model_"):
            raise NotFittedError(f"{self.name} is not fitted; call fit(stream) first.")
        X = np.asarray(X, dtype=np.float32).reshape(len(X), -1)
        stream = self.stream_
        if task_ids is None:
            if stream.scenario == "task":
                raise InvalidParameterError(
                    "In the task-incremental scenario the task label is given at test time: pass "
                    "task_ids, one per row."
                )
            task_ids = np.full(len(X), stream.n_tasks - 1)
        mask = torch.as_tensor(stream.output_mask(np.asarray(task_ids), seen=stream.n_tasks - 1))
        logits = self._logits(X)
        return logits.masked_fill(~mask, float("-inf")).argmax(dim=1).numpy()

    def score_problem(self, stream: ContinualStream) -> float:
        """Fit on ``stream``; the average accuracy over every task after the last one, in [0, 1].

        ``details_`` then holds the accuracy matrix, BWT, forgetting, FWT, the final and
        initial accuracies per task, the seconds per epoch (``epoch_seconds``) and what the
        strategy reports of itself (LwF: ``teacher_confidence`` and ``teacher_accuracy``).
        """
        self.fit(stream)
        details = continual_metrics(self.accuracy_matrix_, baseline=self.initial_accuracies_)
        details.update(
            epoch_seconds=self.seconds_per_epoch_,
            scenario=stream.scenario,
            stream=stream.name,
            n_tasks=stream.n_tasks,
            **self._details(),
        )
        self.details_ = details
        return float(details["average_accuracy"])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(epochs={self.epochs}, random_state={self.random_state})"


class Naive(ContinualStrategy):
    """Fine-tuning on each experience in turn, nothing against forgetting: the floor.

    Parameters: those of :class:`ContinualStrategy`.

    Examples
    --------
    >>> from transferkit.continual import Naive
    >>> Naive(epochs=1).task_kind
    'continual'
    """


class Joint(ContinualStrategy):
    """Training on the union of every experience seen so far: the ceiling.

    For experience ``i`` the model (not reset) trains ``epochs`` passes over tasks ``0 .. i``
    together, as the "joint" upper bound of van de Ven & Tolias (2019) and avalanche's
    ``Cumulative``; it costs ``(i + 1)`` times the steps of the other strategies.

    Parameters: those of :class:`ContinualStrategy`.
    """

    name = "joint"

    def _training_rows(
        self, stream: ContinualStream, i: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        parts = [super(Joint, self)._training_rows(stream, k) for k in range(i + 1)]
        return tuple(np.concatenate(arrays) for arrays in zip(*parts, strict=True))  # type: ignore[return-value]


# ---------------------------------------------------------------------------- regularisation
def _trainable(model: nn.Module) -> dict[str, Tensor]:
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


#: EWC warns when its weighted penalty summed over the training steps after the first task stays
#: under this share of the task loss summed over the same steps (on Office-Caltech SURF, 10 epochs
#: a task, 1 % left every accuracy as naive fine-tuning had it; Split MNIST gives 22 to 39 %).
IDLE_SHARE = 0.02


class EWC(ContinualStrategy):
    """Elastic weight consolidation (Kirkpatrick et al. 2017, Eq. 3).

    After each experience the diagonal Fisher information ``F`` of the parameters is estimated on
    ``fisher_samples`` of its training rows by :func:`fisher_diagonal` (per-row gradients of the
    log-likelihood of the model's own prediction, among the task's open units, in one batched
    pass); later experiences add
    ``ewc_lambda / 2 * sum_t sum_k F_t,k (theta_k - theta*_t,k)^2``, one term per earlier task
    (summed into a single quadratic with the same gradient, so a step costs the same after ten
    tasks as after one).

    Parameters
    ----------
    ewc_lambda : float, default 5000.0
    fisher_samples : int, default 500
    **kwargs
        Those of :class:`ContinualStrategy`.
    """

    name = "ewc"

    def __init__(self, ewc_lambda: float = 5000.0, fisher_samples: int = 500, **kwargs: Any):
        super().__init__(**kwargs)
        self.ewc_lambda = ewc_lambda
        self.fisher_samples = fisher_samples

    def _check_parameters(self) -> None:
        check_nonnegative(self.ewc_lambda, "ewc_lambda", self.name)
        check_positive_int(self.fisher_samples, "fisher_samples", self.name)

    def _begin(self, stream: ContinualStream) -> None:
        self.anchors_: list[tuple[dict[str, Tensor], dict[str, Tensor]]] = []
        self.penalty_share_ = 0.0
        # the weighted penalty and the task loss summed over every step after the first task
        # (the loss as a tensor, so that the sum costs no device synchronisation per step)
        self._penalty_sum: float = 0.0
        self._loss_sum: Tensor | float = 0.0

    def _loss(self, x: Tensor, y: Tensor, tasks: Tensor, i: int) -> tuple[Tensor, dict[str, float]]:
        loss, logs = super()._loss(x, y, tasks, i)
        if not self.anchors_:
            return loss, logs
        penalty = quadratic_penalty(_trainable(self.model_), *self._merged)
        value = float(penalty.detach())  # logged at every step anyway
        self._penalty_sum += self.ewc_lambda / 2 * value
        self._loss_sum = self._loss_sum + loss.detach()
        return loss + self.ewc_lambda / 2 * penalty, {"penalty": value}

    def _details(self) -> dict[str, Any]:
        return {"penalty_share": self.penalty_share_}

    def _warn_if_idle(self, stream: ContinualStream, i: int) -> None:
        """After the last experience: warn when the penalty hardly weighed in the loss, so the
        strategy trained as naive fine-tuning would (the Fisher of rows a model fits with
        certainty is near zero, and ``ewc_lambda`` must then be far larger). Sets
        ``penalty_share_`` after every experience."""
        self.penalty_share_ = self._penalty_sum / max(float(self._loss_sum), 1e-12)
        if i < stream.n_tasks - 1 or self.ewc_lambda == 0 or self.penalty_share_ >= IDLE_SHARE:
            return
        mean_fisher = float(
            torch.cat([f.reshape(-1) for f in self.anchors_[-1][0].values()]).mean()
        )
        warnings.warn(
            f"{self.name}: over the training after the first task the penalty weighed "
            f"{100 * self.penalty_share_:.2g} % of the task loss (under {100 * IDLE_SHARE:g} %), "
            "so the weights moved as in naive fine-tuning. The Fisher information is near zero "
            f"(mean {mean_fisher:.1e}) where the model fits its training rows with certainty; "
            "raise ewc_lambda (van de Ven & Tolias's code uses up to 1e8 on Split MNIST) or "
            "train fewer epochs.",
            DegenerateResultWarning,
            stacklevel=4,
        )

    def _merge_anchors(self) -> None:
        self._merged = merge_quadratic_penalties(self.anchors_)

    def _fisher(self, stream: ContinualStream, i: int) -> dict[str, Tensor]:
        experience = stream.experiences[i]
        n = min(self.fisher_samples, len(experience.y_train))
        rows = self.rng_.choice(len(experience.y_train), size=n, replace=False)
        X = torch.as_tensor(experience.X_train[rows]).to(self.device_)
        return fisher_diagonal(self.model_.eval(), X, self._masks[i])

    def _after_experience(self, stream: ContinualStream, i: int) -> None:
        fisher = self._fisher(stream, i)
        anchor = {k: v.detach().clone() for k, v in _trainable(self.model_).items()}
        self.anchors_.append((fisher, anchor))
        self._merge_anchors()
        self._warn_if_idle(stream, i)


class OnlineEWC(EWC):
    """Online EWC (Schwarz et al. 2018, Eq. 8; van de Ven & Tolias 2019): one running Fisher,
    ``F <- decay * F + F_new``, anchored at the latest parameters.

    Parameters
    ----------
    decay : float, default 1.0
        gamma, how much of the previous Fisher is kept.
    **kwargs
        Those of :class:`EWC` (``ewc_lambda``, ``fisher_samples``, ...).
    """

    name = "online_ewc"

    def __init__(self, decay: float = 1.0, **kwargs: Any):
        super().__init__(**kwargs)
        self.decay = decay

    def _check_parameters(self) -> None:
        super()._check_parameters()
        check_nonnegative(self.decay, "decay", self.name)

    def _after_experience(self, stream: ContinualStream, i: int) -> None:
        fisher = self._fisher(stream, i)
        if self.anchors_:
            previous, _ = self.anchors_[0]
            fisher = {k: self.decay * previous[k] + v for k, v in fisher.items()}
        anchor = {k: v.detach().clone() for k, v in _trainable(self.model_).items()}
        self.anchors_ = [(fisher, anchor)]
        self._merge_anchors()
        self._warn_if_idle(stream, i)


class SI(ContinualStrategy):
    """Synaptic intelligence (Zenke et al. 2017, Eqs. 3-5).

    Each step adds ``-g_k * delta_theta_k`` to the running importance ``w_k`` of each parameter
    (``g`` the gradient of the loss that step took); after an experience
    ``Omega_k += w_k / (Delta_k^2 + damping)`` with ``Delta_k`` its total change over the
    experience, and later losses add ``c * sum_k Omega_k (theta_k - theta*_k)^2``.

    Parameters
    ----------
    c : float, default 10.0
        Strength of the penalty.
    damping : float, default 1e-3
        xi, which keeps the importances finite for parameters that barely moved (Zenke et al.'s
        value; with van de Ven & Tolias's 0.1 the importances of an MLP trained for a few epochs
        nearly vanish).
    **kwargs
        Those of :class:`ContinualStrategy`.
    """

    name = "si"

    def __init__(self, c: float = 10.0, damping: float = 1e-3, **kwargs: Any):
        super().__init__(**kwargs)
        self.c = c
        self.damping = damping

    def _check_parameters(self) -> None:
        check_nonnegative(self.c, "c", self.name)
        check_nonnegative(self.damping, "damping", self.name, strict=True)

    def _begin(self, stream: ContinualStream) -> None:
        parameters = _trainable(self.model_)
        self.omega_ = {k: torch.zeros_like(v) for k, v in parameters.items()}
        self.anchor_ = {k: v.detach().clone() for k, v in parameters.items()}

    def _before_experience(self, stream: ContinualStream, i: int) -> None:
        parameters = _trainable(self.model_)
        self._start = {k: v.detach().clone() for k, v in parameters.items()}
        self._previous = {k: v.detach().clone() for k, v in parameters.items()}
        self._path = {k: torch.zeros_like(v) for k, v in parameters.items()}

    def _loss(self, x: Tensor, y: Tensor, tasks: Tensor, i: int) -> tuple[Tensor, dict[str, float]]:
        loss, logs = super()._loss(x, y, tasks, i)
        if i == 0:
            return loss, logs
        penalty = quadratic_penalty(_trainable(self.model_), self.omega_, self.anchor_)
        return loss + self.c * penalty, {"penalty": float(penalty.detach())}

    @torch.no_grad()
    def _after_step(self) -> None:
        names = [k for k, p in _trainable(self.model_).items() if p.grad is not None]
        parameters = [self.model_.get_parameter(k) for k in names]
        # one fused pass per operation over every tensor (torch's multi-tensor kernels)
        moved = torch._foreach_sub(parameters, [self._previous[k] for k in names])
        torch._foreach_mul_(moved, [p.grad for p in parameters])
        torch._foreach_sub_([self._path[k] for k in names], moved)
        torch._foreach_copy_([self._previous[k] for k in names], parameters)

    @torch.no_grad()
    def _after_experience(self, stream: ContinualStream, i: int) -> None:
        for k, p in _trainable(self.model_).items():
            change = p - self._start[k]
            self.omega_[k] += self._path[k] / (change**2 + self.damping)
            self.anchor_[k] = p.detach().clone()


# ---------------------------------------------------------------------------- distillation
class LwF(ContinualStrategy):
    """Learning without forgetting (Li & Hoiem 2016, Eq. 2): the new task's cross-entropy plus
    ``alpha`` times the distillation of the previous model's outputs, on the new task's rows.

    Distilled outputs: each earlier task's head (task scenario), the units of every earlier
    class (class scenario), every unit (domain scenario), as in van de Ven & Tolias (2019).

    Parameters
    ----------
    alpha : float, default 1.0
    temperature : float, default 2.0
    balance : {"constant", "tasks"}, default "constant"
        "constant": ``cross-entropy + alpha * distillation`` on every task (Li & Hoiem).
        "tasks": on the ``t``-th task, ``1/t`` of the cross-entropy plus ``(1 - 1/t)`` of
        ``alpha`` times the distillation, so that each task seen weighs the same, as van de Ven &
        Tolias's code weighs it (on the second task: half of "constant", a scale Adam's steps
        barely notice).
    student_units : {"earlier", "seen"}, default "earlier"
        Class scenario only: the units the student's softened outputs are normalised over.
        "earlier": the earlier classes' units, the same as the teacher's. "seen": every class
        seen so far, the new task's units given a target of 0, as van de Ven & Tolias's code
        distils; the distillation then also pulls the new classes down on the new task's rows.
    **kwargs
        Those of :class:`ContinualStrategy`.

    Attributes
    ----------
    teacher_confidence_ : ndarray (T,)
        For each experience after the first, the previous model's mean highest probability
        (temperature 1, among the distilled units) on the experience's training rows; NaN for
        the first. Near 1 when the targets it distils are confident.
    teacher_accuracy_ : ndarray (T,)
        Domain scenario: the share of the experience's training rows whose label the previous
        model already predicts, so how far the distilled targets agree with the labels (a new
        Permuted MNIST task: about one in ten, and the distillation pulls against the labels);
        NaN for the first experience and in the other scenarios.
    """

    name = "lwf"

    def __init__(
        self,
        alpha: float = 1.0,
        temperature: float = 2.0,
        balance: str = "constant",
        student_units: str = "earlier",
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.alpha = alpha
        self.temperature = temperature
        self.balance = balance
        self.student_units = student_units

    def _check_parameters(self) -> None:
        check_nonnegative(self.alpha, "alpha", self.name)
        check_nonnegative(self.temperature, "temperature", self.name, strict=True)
        check_choice(self.balance, "balance", self.name, ("constant", "tasks"))
        check_choice(self.student_units, "student_units", self.name, ("earlier", "seen"))

    def _before_experience(self, stream: ContinualStream, i: int) -> None:
        self.teacher_ = copy.deepcopy(self.model_).eval() if i > 0 else None
        self._groups: list[Tensor] = []
        if i == 0:
            self.teacher_confidence_ = np.full(stream.n_tasks, np.nan)
            self.teacher_accuracy_ = np.full(stream.n_tasks, np.nan)
            return
        if stream.scenario == "task":
            outputs = [stream.experiences[t].outputs for t in range(i)]
        elif stream.scenario == "class":
            outputs = [tuple(u for t in range(i) for u in stream.experiences[t].outputs)]
        else:
            outputs = [tuple(range(stream.n_outputs))]
        self._groups = [torch.as_tensor(units, device=self.device_) for units in outputs]
        # the units the student is normalised over, where they differ from the teacher's
        self._student_groups = self._groups
        if stream.scenario == "class" and self.student_units == "seen":
            seen = tuple(u for t in range(i + 1) for u in stream.experiences[t].outputs)
            self._student_groups = [torch.as_tensor(seen, device=self.device_)]
        self._describe_teacher(stream, i)

    @torch.no_grad()
    def _describe_teacher(self, stream: ContinualStream, i: int) -> None:
        """``teacher_confidence_[i]`` and ``teacher_accuracy_[i]`` on experience ``i``'s rows."""
        experience = stream.experiences[i]
        logits = apply_in_batches(
            self.teacher_, torch.as_tensor(experience.X_train), self.device_, batch_size=1024
        )
        top = [logits[:, units.cpu()].softmax(dim=1).max(dim=1) for units in self._groups]
        self.teacher_confidence_[i] = float(torch.stack([t.values for t in top]).mean())
        if stream.scenario == "domain":
            predicted = top[0].indices.numpy()
            self.teacher_accuracy_[i] = float(np.mean(predicted == experience.y_train))

    def _details(self) -> dict[str, Any]:
        def listed(values: np.ndarray) -> list[float | None]:
            return [None if np.isnan(v) else round(float(v), 4) for v in values]

        return {
            "teacher_confidence": listed(self.teacher_confidence_),
            "teacher_accuracy": listed(self.teacher_accuracy_),
        }

    def _loss(self, x: Tensor, y: Tensor, tasks: Tensor, i: int) -> tuple[Tensor, dict[str, float]]:
        logits = self.model_(x)
        loss = masked_cross_entropy(logits, y, self._masks[tasks])
        if self.teacher_ is None:
            return loss, {}
        with torch.no_grad():
            teacher = self.teacher_(x)
            if self._student_groups is not self._groups:
                # the new task's units at -inf: a target of 0 (van de Ven & Tolias's zero padding)
                earlier = self._groups[0]
                teacher = torch.full_like(teacher, float("-inf")).index_copy(
                    1, earlier, teacher[:, earlier]
                )
        distill = torch.stack(
            [
                distillation_loss(logits[:, units], teacher[:, units], self.temperature)
                for units in self._student_groups
            ]
        ).mean()
        if self.balance == "tasks":
            share = 1.0 / (i + 1)  # the new task's share: 1/t on the t-th task
            total = share * loss + (1 - share) * self.alpha * distill
        else:
            total = loss + self.alpha * distill
        return total, {"distillation": float(distill.detach())}


# ---------------------------------------------------------------------------- memories
class Replay(ContinualStrategy):
    """Experience replay (Chaudhry et al. 2019, "On tiny episodic memories"; Rolnick et al. 2019)
    from a reservoir buffer of ``memory_size`` rows of every experience seen.

    Each step adds a batch of ``replay_batch_size`` stored rows to the current batch (the loss is
    the mean over both, each stored row under the masks of its own task); the buffer takes the
    experience's rows after training on it.

    Parameters
    ----------
    memory_size : int, default 1000
    replay_batch_size : int or None, default None
        None: ``batch_size``.
    **kwargs
        Those of :class:`ContinualStrategy`.
    """

    name = "replay"

    def __init__(
        self, memory_size: int = 1000, replay_batch_size: int | None = None, **kwargs: Any
    ):
        super().__init__(**kwargs)
        self.memory_size = memory_size
        self.replay_batch_size = replay_batch_size

    def _check_parameters(self) -> None:
        check_positive_int(self.memory_size, "memory_size", self.name)
        if self.replay_batch_size is not None:
            check_positive_int(self.replay_batch_size, "replay_batch_size", self.name)

    def _begin(self, stream: ContinualStream) -> None:
        self.buffer_ = ReservoirBuffer(self.memory_size, random_state=self._seed(7))

    def _loss(self, x: Tensor, y: Tensor, tasks: Tensor, i: int) -> tuple[Tensor, dict[str, float]]:
        if len(self.buffer_) == 0:
            return super()._loss(x, y, tasks, i)
        rows = self.buffer_.sample(self.replay_batch_size or self.batch_size, self.rng_)
        x = torch.cat([x, torch.as_tensor(self.buffer_.X[rows]).to(self.device_)])
        y = torch.cat([y, torch.as_tensor(self.buffer_.y[rows]).to(self.device_)])
        tasks = torch.cat([tasks, torch.as_tensor(self.buffer_.tasks[rows]).to(self.device_)])
        return super()._loss(x, y, tasks, i)

    def _after_experience(self, stream: ContinualStream, i: int) -> None:
        X, y, tasks = ContinualStrategy._training_rows(self, stream, i)
        order = self.rng_.permutation(len(y))
        self.buffer_.add(X[order], y[order], tasks[order])


class AGEM(ContinualStrategy):
    """Averaged gradient episodic memory (Chaudhry et al. 2019, "Efficient lifelong learning with
    A-GEM", Eq. 11).

    After each experience ``memory_per_experience`` of its rows, drawn at random, are kept.
    Before each optimiser step the gradient of the current batch is compared with the reference
    gradient of the memory's loss on ``sample_size`` stored rows, ``sample_size // k`` drawn at
    random from each of the ``k`` earlier experiences, every step as many (a stratified estimate
    of the paper's reference, the loss on the whole memory: lower variance than a uniform draw
    over it); when they disagree (negative dot product) the current gradient is projected onto
    the half-space where the memory loss does not increase. One reference gradient per step: one
    extra forward and backward pass on the memory batch.

    Parameters
    ----------
    memory_per_experience : int, default 256
    sample_size : int, default 256
    all_units : bool, default True
        In the class scenario A-GEM trains every output unit from the start: with the units of
        the classes seen so far only it kept little (Split MNIST, 1,000 rows and 2 epochs per
        task: average accuracy 39.2 % against 67.4 %).
    **kwargs
        Those of :class:`ContinualStrategy`.
    """

    name = "agem"

    def __init__(
        self,
        memory_per_experience: int = 256,
        sample_size: int = 256,
        all_units: bool = True,
        **kwargs: Any,
    ):
        super().__init__(all_units=all_units, **kwargs)
        self.memory_per_experience = memory_per_experience
        self.sample_size = sample_size

    def _check_parameters(self) -> None:
        check_positive_int(self.memory_per_experience, "memory_per_experience", self.name)
        check_positive_int(self.sample_size, "sample_size", self.name)

    def _begin(self, stream: ContinualStream) -> None:
        self.memory_: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._current = -1

    def _before_experience(self, stream: ContinualStream, i: int) -> None:
        self._current = i
        if self.memory_:
            self._memory = tuple(np.concatenate(parts) for parts in zip(*self.memory_, strict=True))
            sizes = [len(y) for _, y, _ in self.memory_]
            self._slices = list(zip(np.cumsum([0, *sizes[:-1]]), sizes, strict=True))

    def _before_step(self) -> None:
        if not self.memory_:
            return
        X, y, tasks = self._memory
        per_task = max(1, self.sample_size // len(self._slices))
        rows = np.concatenate(
            [
                start + self.rng_.choice(size, size=min(per_task, size), replace=False)
                for start, size in self._slices
            ]
        )
        parameters = [p for p in self.model_.parameters() if p.requires_grad and p.grad is not None]
        x = torch.as_tensor(X[rows]).to(self.device_)
        tasks_tensor = torch.as_tensor(tasks[rows]).to(self.device_)
        memory_loss = masked_cross_entropy(
            self.model_(x), torch.as_tensor(y[rows]).to(self.device_), self._masks[tasks_tensor]
        )
        reference = torch.autograd.grad(memory_loss, parameters, allow_unused=True)
        reference_flat = torch.cat(
            [
                (r if r is not None else torch.zeros_like(p)).reshape(-1)
                for r, p in zip(reference, parameters, strict=True)
            ]
        )
        gradients = [p.grad for p in parameters]
        flat = torch.cat([g.reshape(-1) for g in gradients])
        projected = project_gradient(flat, reference_flat)
        if projected is flat:
            return
        # one fused copy back into every gradient (views of the flat vector)
        pieces = projected.split([g.numel() for g in gradients])
        torch._foreach_copy_(
            gradients, [v.view_as(g) for v, g in zip(pieces, gradients, strict=True)]
        )

    def _after_experience(self, stream: ContinualStream, i: int) -> None:
        X, y, tasks = ContinualStrategy._training_rows(self, stream, i)
        rows = self.rng_.choice(len(y), size=min(self.memory_per_experience, len(y)), replace=False)
        self.memory_.append((X[rows], y[rows], tasks[rows]))


# ---------------------------------------------------------------------------- registry
def _factory(cls: type[ContinualStrategy]) -> Any:
    def build(estimator: Any, random_state: int | None, **params: Any) -> ContinualStrategy:
        return cls(random_state=random_state, **params)

    return build


_DESCRIPTIONS = {
    Naive: "Naive fine-tuning on each experience in turn (continual floor)",
    Joint: "Joint training on every experience seen so far (continual ceiling)",
    EWC: "Elastic weight consolidation (Kirkpatrick et al. 2017)",
    OnlineEWC: "Online EWC: one running Fisher (Schwarz et al. 2018)",
    SI: "Synaptic intelligence (Zenke et al. 2017)",
    LwF: "Learning without forgetting: distillation of the previous model (Li & Hoiem 2016)",
    Replay: "Experience replay from a reservoir buffer (Chaudhry et al. 2019)",
    AGEM: "Averaged gradient episodic memory (Chaudhry et al. 2019)",
}
for _cls, _description in _DESCRIPTIONS.items():
    register_method(_cls.name, "continual", _description, deep=True)(_factory(_cls))
