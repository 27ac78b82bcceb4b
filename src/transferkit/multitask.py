"""Multi-task learning: one network learns several classification tasks at once.

Caruana (1997) showed that tasks learned together share what they have in common; the article
lists multi-task learning among the directions transfer learning feeds. Here:

* **hard parameter sharing** — one encoder shared by every task, a linear head per task;
* **soft parameter sharing** — an encoder per task, all pulled towards their mean by an L2
  penalty (Duong et al. 2015);
* **loss weighting** — fixed weights; homoscedastic uncertainty weighting (Kendall, Gal & Cipolla
  2018), which learns one log-variance per task; or PCGrad (Yu et al. 2020), which projects each
  task's gradient on the shared weights off the gradients it conflicts with;
* the baselines: :class:`SingleTaskClassifiers` (one network per task) and
  :class:`PooledClassifier` (one network and one head for every task, when they share a label set).

Tasks may have different label sets and missing labels (``-1`` or NaN in ``Y``): a task's loss is
the mean cross-entropy over the rows of the batch that have its label, so a missing label
contributes nothing; ``task_sampling="balanced"`` tops every batch up with rows labelled for a
task that has few of them (:func:`top_up_batch`). Any ``nn.Module`` can be the encoder. Training
goes through the project's one loop, :func:`transferkit.deep.training.train`.

Every class here is also a benchmark method (``task_kind = "multitask"``, ``score_problem``) for
the suites ``multitask-multimnist`` and ``multitask-amazon``.

Examples
--------
>>> import numpy as np
>>> from transferkit.multitask import MultiTaskClassifier
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(200, 5))
>>> Y = np.column_stack([X[:, 0] > 0, X[:, 0] + X[:, 1] > 0]).astype(float)
>>> Y[100:, 1] = np.nan  # the second task has half of its labels
>>> model = MultiTaskClassifier(epochs=5, random_state=0).fit(X, Y)
>>> model.predict(X[:3]).shape
(3, 2)
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator
from torch import Tensor, nn

from transferkit.checks import check_choice, check_nonnegative, check_positive_int, is_number
from transferkit.deep.backbones import ImageReshape, LeNet, MLPEncoder
from transferkit.deep.distributed import process_rank, world_size
from transferkit.deep.training import (
    TrainingHistory,
    as_progress,
    resolve_device,
    seed_everything,
    split_validation,
    train,
)
from transferkit.exceptions import (
    InvalidParameterError,
    InvalidProblemError,
    NotApplicableError,
    NotFittedError,
    ParameterValueError,
)
from transferkit.registry import register_estimator_class

logger = logging.getLogger(__name__)

__all__ = [
    "MultiTaskClassifier",
    "MultiTaskNetwork",
    "PooledClassifier",
    "SingleTaskClassifiers",
    "SmallLeNet",
    "TaskClassifier",
    "UncertaintyWeighting",
    "coupling_penalty",
    "masked_cross_entropy",
    "pcgrad",
    "top_up_batch",
    "uncertainty_weighted_loss",
]

SHARING = ("hard", "soft")
NETWORKS = ("auto", "lenet", "small_lenet", "small_lenet_conv", "mlp")
WEIGHTING = ("fixed", "uncertainty", "pcgrad")
TASK_SAMPLING = ("natural", "balanced")


# ----------------------------------------------------------------------------- the math
def masked_cross_entropy(logits: Tensor, y: Tensor) -> Tensor:
    """Mean cross-entropy over the rows whose label is known (``y >= 0``).

    A batch without any known label gives a zero that still belongs to the graph, so it adds
    nothing to the gradient.

    Examples
    --------
    >>> import torch
    >>> logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [5.0, -5.0]])
    >>> loss = masked_cross_entropy(logits, torch.tensor([0, 1, -1]))
    >>> round(float(loss), 4)  # the third row's label is missing
    0.1269
    """
    known = y >= 0
    if not bool(known.any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits[known], y[known])


def top_up_batch(
    xs: Tensor,
    ys: Tensor,
    X_pool: Tensor,
    Y_pool: Tensor,
    task_rows: Sequence[np.ndarray],
    quota: int,
    rng: np.random.Generator,
) -> tuple[Tensor, Tensor]:
    """Balanced task sampling: add to a batch, for each task with fewer than ``quota`` labelled
    rows in it, rows labelled for that task drawn with replacement from ``task_rows[t]`` (indices
    into ``X_pool`` / ``Y_pool``), keeping only that task's label on the added rows.

    A task labelled on few rows then has its loss averaged over ``quota`` rows in every batch
    instead of the few the batch happens to hold, and the other tasks see exactly the rows and
    labels they would have seen (their labels are masked, ``-1``, on the added rows). The added
    rows go to the batch's device.

    Examples
    --------
    >>> import numpy as np, torch
    >>> X_pool = torch.arange(8.0).reshape(4, 2)
    >>> Y_pool = torch.tensor([[0, 1], [1, -1], [0, -1], [1, -1]])
    >>> xs, ys = top_up_batch(X_pool[1:3], Y_pool[1:3], X_pool, Y_pool,
    ...                       [np.arange(4), np.array([0])], 2, np.random.default_rng(0))
    >>> ys.tolist()  # task 1 had no label in the batch: two copies of its one labelled row
    [[1, -1], [0, -1], [-1, 1], [-1, 1]]
    """
    added_x, added_y = [], []
    for t, rows in enumerate(task_rows):
        missing = quota - int((ys[:, t] >= 0).sum())
        if missing <= 0 or len(rows) == 0:
            continue
        drawn = torch.from_numpy(rng.choice(rows, size=missing, replace=True))
        labels = torch.full((missing, ys.shape[1]), -1, dtype=ys.dtype)
        labels[:, t] = Y_pool[drawn, t]
        added_x.append(X_pool[drawn])
        added_y.append(labels)
    if not added_x:
        return xs, ys
    xs = torch.cat([xs, torch.cat(added_x).to(xs.device, xs.dtype)])
    ys = torch.cat([ys, torch.cat(added_y).to(ys.device)])
    return xs, ys


def uncertainty_weighted_loss(losses: Tensor, log_variances: Tensor, present: Tensor) -> Tensor:
    """Kendall, Gal & Cipolla (2018, eq. 10) for classification tasks.

    ``sum_t exp(-s_t) L_t + s_t / 2`` with ``s_t = log sigma_t^2``: a task's weight
    ``1 / sigma_t^2`` is learned with the network, and the ``log sigma_t`` term keeps it from
    growing without bound. Only tasks ``present`` in the batch (with at least one label) count.

    Examples
    --------
    >>> import torch
    >>> losses = torch.tensor([1.0, 2.0])
    >>> float(uncertainty_weighted_loss(losses, torch.zeros(2), torch.tensor([True, True])))
    3.0
    """
    terms = torch.exp(-log_variances) * losses + 0.5 * log_variances
    return (terms * present.to(terms.dtype)).sum()


def pcgrad(gradients: Tensor, random_state: int | np.random.Generator | None = None) -> Tensor:
    """PCGrad (Yu et al. 2020, Algorithm 1): the sum of the task gradients after surgery.

    Each task's gradient ``g_i`` is projected, in a random order of the other tasks, onto the
    normal plane of every (original) ``g_j`` it conflicts with (``g_i . g_j < 0``):
    ``g_i <- g_i - (g_i . g_j) / |g_j|^2 g_j``. Gradients that do not conflict are summed as they
    are.

    Parameters
    ----------
    gradients : Tensor (n_tasks, n_parameters)
        One flattened gradient per task.
    random_state : int, Generator or None, default None
        The order in which each task meets the others.

    Returns
    -------
    Tensor (n_parameters,)

    Examples
    --------
    >>> import torch
    >>> g = torch.tensor([[1.0, 0.0], [-1.0, 1.0]])
    >>> pcgrad(g, random_state=0)  # both lose their conflicting component
    tensor([0.5000, 1.5000])
    """
    gradients = torch.as_tensor(gradients)
    if gradients.ndim != 2:
        raise InvalidParameterError(
            f"pcgrad needs a (n_tasks, n_parameters) matrix of gradients; got {tuple(gradients.shape)}."
        )
    rng = (
        random_state
        if isinstance(random_state, np.random.Generator)
        else np.random.default_rng(random_state)
    )
    squared_norms = (gradients * gradients).sum(dim=1)
    projected = gradients.clone()
    n_tasks = gradients.shape[0]
    for i in range(n_tasks):
        for j in rng.permutation(n_tasks):
            if j == i or squared_norms[j] <= 0:
                continue
            dot = torch.dot(projected[i], gradients[j])
            if dot < 0:
                projected[i] = projected[i] - dot / squared_norms[j] * gradients[j]
    return projected.sum(dim=0)


def coupling_penalty(encoders: Sequence[nn.Module]) -> Tensor:
    """Soft sharing's L2 coupling (Duong et al. 2015): the squared distance of each task's
    encoder weights to their mean, summed over tasks and parameters.

    Examples
    --------
    >>> from torch import nn
    >>> a, b = nn.Linear(2, 1), nn.Linear(2, 1)
    >>> _ = b.load_state_dict(a.state_dict())
    >>> float(coupling_penalty([a, b]).detach())
    0.0
    """
    total = None
    for group in zip(*(list(e.parameters()) for e in encoders), strict=True):
        stacked = torch.stack(group)
        term = ((stacked - stacked.mean(dim=0, keepdim=True)) ** 2).sum()
        total = term if total is None else total + term
    if total is None:
        raise InvalidParameterError("coupling_penalty needs encoders with parameters.")
    return total


class UncertaintyWeighting(nn.Module):
    """The learned log-variances ``s_t`` of :func:`uncertainty_weighted_loss` (start at 0, i.e.
    weight 1)."""

    def __init__(self, n_tasks: int):
        super().__init__()
        self.log_variances = nn.Parameter(torch.zeros(n_tasks))

    def forward(self, losses: Tensor, present: Tensor) -> Tensor:
        return uncertainty_weighted_loss(losses, self.log_variances, present)

    @property
    def weights(self) -> np.ndarray:
        """The current task weights ``exp(-s_t)``."""
        return torch.exp(-self.log_variances.detach()).cpu().numpy()


class MultiTaskNetwork(nn.Module):
    """An encoder (shared, or one per task) and a head per task (linear, or with one hidden
    layer).

    Parameters
    ----------
    encoder : nn.Module
        Maps a batch of rows to features; copied once per task when ``sharing="soft"``.
    out_features : int
        Width of the encoder's features.
    n_classes : sequence of int
        Number of classes of each task.
    sharing : {"hard", "soft"}, default "hard"
    head_hidden : int, default 0
        Units of a hidden ReLU layer in each head; 0: linear heads.
    """

    def __init__(
        self,
        encoder: nn.Module,
        out_features: int,
        n_classes: Sequence[int],
        sharing: str = "hard",
        head_hidden: int = 0,
    ):
        super().__init__()
        self.sharing = sharing
        count = 1 if sharing == "hard" else len(n_classes)
        self.encoders = nn.ModuleList(
            [encoder] + [copy.deepcopy(encoder) for _ in range(count - 1)]
        )
        self.heads = nn.ModuleList(
            [
                nn.Sequential(
                    nn.Linear(out_features, head_hidden), nn.ReLU(), nn.Linear(head_hidden, int(k))
                )
                if head_hidden
                else nn.Linear(out_features, int(k))
                for k in n_classes
            ]
        )

    def forward(self, x: Tensor) -> list[Tensor]:
        if self.sharing == "hard":
            features = self.encoders[0](x)
            return [head(features) for head in self.heads]
        return [head(encoder(x)) for encoder, head in zip(self.encoders, self.heads, strict=True)]


class SmallLeNet(nn.Module):
    """The shared encoder of Sener & Koltun's (2018) MultiMNIST network: two 5x5 convolutions
    (10 and 20 maps) each followed by 2x2 max pooling and ReLU, then 50 ReLU units.

    About a quarter of the computation of :class:`~transferkit.deep.backbones.LeNet` (32 and 48
    maps, 128 units), which matters on a CPU. ``network="small_lenet"`` of the estimators.

    Parameters
    ----------
    image_shape : tuple, default (28, 28)
        ``(H, W)`` or ``(H, W, C)`` of the flattened rows.
    out_features : int or None, default 50
        Units of the last layer; None ends the encoder at its convolutions (their flattened
        maps, 320 values for 28x28 images), so that a multi-task network shares only the
        convolutions and each task's head carries its own fully connected layer
        (``network="small_lenet_conv"`` with ``head_hidden=50``).
    dropout : float, default 0.0
        Channel dropout after the second convolution (Sener & Koltun use 0.5).

    Examples
    --------
    >>> import torch
    >>> SmallLeNet()(torch.zeros(3, 784)).shape
    torch.Size([3, 50])
    >>> SmallLeNet(out_features=None)(torch.zeros(3, 784)).shape
    torch.Size([3, 320])
    """

    def __init__(
        self,
        image_shape: Sequence[int] = (28, 28),
        out_features: int | None = 50,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.reshape = ImageReshape(image_shape)
        height, width = self.reshape.image_shape[:2]
        out_height, out_width = ((height - 4) // 2 - 4) // 2, ((width - 4) // 2 - 4) // 2
        if out_height <= 0 or out_width <= 0:
            raise InvalidParameterError(
                f"SmallLeNet needs images of at least 16x16 pixels, got {height}x{width}."
            )
        self.conv = nn.Sequential(
            nn.Conv2d(self.reshape.channels, 10, kernel_size=5),
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.Conv2d(10, 20, kernel_size=5),
            nn.Dropout2d(dropout) if dropout else nn.Identity(),
            nn.MaxPool2d(2),
            nn.ReLU(),
        )
        conv_features = 20 * out_height * out_width
        if out_features is None:
            self.fc: nn.Module = nn.Identity()
            self.out_features = conv_features
        else:
            self.fc = nn.Sequential(nn.Linear(conv_features, out_features), nn.ReLU())
            self.out_features = out_features

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(torch.flatten(self.conv(self.reshape(x)), 1))


# ----------------------------------------------------------------------------- inputs
def _is_missing(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "f":
        return np.isnan(values) | (values == -1)
    if values.dtype.kind in "iu":
        return values == -1
    return np.array(
        [v is None or v == -1 or (isinstance(v, float) and np.isnan(v)) for v in values]
    )


def encode_task_labels(Y: Any) -> tuple[np.ndarray, list[np.ndarray]]:
    """``Y`` (one column per task; -1, NaN or None = missing) as class codes (-1 = missing) and
    the classes of each task, sorted.

    Raises :class:`~transferkit.exceptions.InvalidProblemError` naming the problem: ``Y`` that is
    not 2-D, a task with no label, or with a single class.

    Examples
    --------
    >>> import numpy as np
    >>> codes, classes = encode_task_labels(np.array([[3, 0.5], [7, np.nan], [3, 1.5]]))
    >>> codes.tolist(), [c.tolist() for c in classes]
    ([[0, 0], [1, -1], [0, 1]], [[3.0, 7.0], [0.5, 1.5]])
    """
    Y = np.asarray(Y)
    if Y.ndim != 2:
        raise InvalidProblemError(
            f"Y must have one column per task, shape (n_samples, n_tasks); got shape {Y.shape}. "
            "A single task is an ordinary classification problem: use any classifier."
        )
    codes = np.full(Y.shape, -1, dtype=np.int64)
    classes = []
    for t in range(Y.shape[1]):
        column = Y[:, t]
        known = ~_is_missing(column)
        if not known.any():
            raise InvalidProblemError(
                f"Task {t} has no label (every value of Y[:, {t}] is missing: -1, NaN or None); "
                "give it labelled rows or drop the column."
            )
        values = column[known]
        if values.dtype == object:
            values = values.astype(type(values[0]))
        task_classes, inverse = np.unique(values, return_inverse=True)
        if len(task_classes) < 2:
            raise InvalidProblemError(
                f"Task {t} has a single class ({task_classes[0]!r}) among its labels; a "
                "classifier needs at least two."
            )
        codes[known, t] = inverse
        classes.append(task_classes)
    return codes, classes


class _Inputs:
    """Rows → float32 tensors: images and sparse counts as they are, dense vectors standardised
    with the statistics of the fitted rows; sparse matrices are densified one chunk at a time (the
    Amazon reviews have 5,000 columns and tens of thousands of rows)."""

    def __init__(self, standardize: bool):
        self.standardize = standardize
        self.mean: np.ndarray | None = None
        self.scale: np.ndarray | None = None

    def fit(self, X: Any) -> _Inputs:
        if not self.standardize:
            return self
        if sp.issparse(X):
            mean = np.asarray(X.mean(axis=0)).ravel()
            variance = np.asarray(X.multiply(X).mean(axis=0)).ravel() - mean**2
        else:
            values = np.asarray(X, dtype=np.float64)
            mean, variance = values.mean(axis=0), values.var(axis=0)
        scale = np.sqrt(np.clip(variance, 0, None))
        self.mean = mean.astype(np.float32)
        self.scale = np.where(scale > 1e-8, scale, 1.0).astype(np.float32)
        return self

    def __call__(self, X: Any, rows: np.ndarray | None = None) -> Tensor:
        if rows is not None:
            X = X[rows]
        values = (
            X.toarray().astype(np.float32) if sp.issparse(X) else np.asarray(X, dtype=np.float32)
        )
        if self.mean is not None:
            values = (values - self.mean) / self.scale
        return torch.from_numpy(np.ascontiguousarray(values))

    def batches(self, X: Any, size: int = 2048) -> Any:
        for start in range(0, X.shape[0], size):
            yield self(X, np.arange(start, min(start + size, X.shape[0])))


def _n_rows(X: Any) -> int:
    return int(X.shape[0])


def _check_rows(X: Any, what: str = "X") -> Any:
    if sp.issparse(X):
        return X.tocsr()
    X = np.asarray(X)
    if X.ndim != 2:
        raise InvalidProblemError(
            f"{what} must be a 2-D array (one row per sample, flattened images with "
            f"image_shape); got shape {X.shape}."
        )
    if X.dtype.kind not in "biuf":
        raise InvalidProblemError(f"{what} must be numeric; got dtype {X.dtype}.")
    if not np.isfinite(X).all():
        raise InvalidProblemError(f"{what} holds NaN or infinite values; impute or drop them.")
    return X


# ----------------------------------------------------------------------------- the estimators
def _set_params(estimator: BaseEstimator, arguments: dict[str, Any]) -> None:
    """Store each argument of an estimator's ``__init__`` (its ``locals()``, called first thing)
    as the attribute of the same name, scikit-learn's convention: the one body of the
    ``__init__`` of every estimator here, whose signatures list the parameters for
    ``get_params`` and ``clone``."""
    for name, value in arguments.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


class _MultiTaskBase(BaseEstimator):
    """What every multi-task estimator here shares: parameters, inputs, training, prediction,
    scoring, and the benchmark interface (``task_kind``, ``score_problem``, ``details_``)."""

    task_kind = "multitask"

    def __init__(
        self,
        encoder: nn.Module | None = None,
        network: str = "auto",
        hidden_dim: int = 128,
        head_hidden: int = 0,
        dropout: float = 0.0,
        image_shape: Sequence[int] | None = None,
        epochs: int = 20,
        batch_size: int = 64,
        learning_rate: float = 1e-3,
        weight_decay: float = 5e-4,
        patience: int | None = None,
        validation_fraction: float = 0.1,
        device: str = "auto",
        random_state: int | None = None,
        checkpoint: str | Path | None = None,
        progress: Any = False,
    ):
        _set_params(self, locals())

    # -- checks and pieces
    def check_params(self) -> None:
        """Raise :class:`~transferkit.exceptions.ParameterValueError` naming a bad value."""
        name = type(self).__name__
        check_choice(self.network, "network", name, NETWORKS)
        for count in ("hidden_dim", "epochs", "batch_size"):
            check_positive_int(getattr(self, count), count, name)
        if self.head_hidden != 0:
            check_positive_int(self.head_hidden, "head_hidden", name)
        if self.patience is not None and self.patience != 0:
            check_positive_int(self.patience, "patience", name)
        check_nonnegative(self.learning_rate, "learning_rate", name, strict=True)
        check_nonnegative(self.weight_decay, "weight_decay", name)
        for fraction in ("dropout", "validation_fraction"):
            value = getattr(self, fraction)
            if not is_number(value) or not 0 <= value < 1:
                raise ParameterValueError(f"{name}: {fraction}={value!r} must be in [0, 1).")
        if self.encoder is not None and not isinstance(self.encoder, nn.Module):
            raise ParameterValueError(
                f"{name}: encoder must be a torch nn.Module mapping a batch of rows to features "
                f"(or None for the default network); got {type(self.encoder).__name__}."
            )

    def _make_encoder(self, n_features: int, image_shape: tuple[int, ...] | None) -> nn.Module:
        if self.encoder is not None:
            return copy.deepcopy(self.encoder)
        if self.network in ("lenet", "small_lenet", "small_lenet_conv") and image_shape is None:
            raise NotApplicableError(
                f"network={self.network!r} needs the shape of the images (image_shape=(28, 28) "
                "for flattened MNIST rows); give it, or use network='mlp'."
            )
        if image_shape is not None and self.network == "small_lenet":
            return SmallLeNet(image_shape, out_features=self.hidden_dim, dropout=self.dropout)
        if image_shape is not None and self.network == "small_lenet_conv":
            return SmallLeNet(image_shape, out_features=None, dropout=self.dropout)
        if image_shape is not None and self.network != "mlp":
            return LeNet(image_shape, out_features=self.hidden_dim, dropout=self.dropout)
        return MLPEncoder(n_features, [self.hidden_dim], dropout=self.dropout)

    def _out_features(self, encoder: nn.Module, example: Tensor) -> int:
        with torch.no_grad():
            encoder.eval()
            try:
                features = encoder(example[:2].to(self.device_))
            except Exception as error:
                raise InvalidParameterError(
                    f"The encoder failed on a batch of two rows of shape "
                    f"{tuple(example[:2].shape)}: {error}. It must map (batch, n_features) rows "
                    "to (batch, width) features (reshape images inside it)."
                ) from error
        if features.ndim != 2:
            raise InvalidParameterError(
                f"The encoder must return (batch, width) features; got shape "
                f"{tuple(features.shape)}. Flatten its output (e.g. end it with nn.Flatten())."
            )
        if not any(p.requires_grad for p in encoder.parameters()):
            raise InvalidParameterError(
                "The encoder has no trainable parameter (all have requires_grad=False); "
                "multi-task training must update it."
            )
        return int(features.shape[1])

    def _example(self, X: Any) -> Tensor:
        """Two rows of ``X`` as a tensor, to find an encoder's feature width."""
        return self.inputs_(X, np.arange(min(2, _n_rows(X))))

    def _new_network(
        self, example: Tensor, n_classes: list[int], sharing: str = "hard"
    ) -> MultiTaskNetwork:
        """A fresh encoder (see ``_make_encoder``) with a head of ``n_classes[t]`` outputs per
        task, on the device."""
        encoder = self._make_encoder(self.n_features_in_, self.image_shape_).to(self.device_)
        width = self._out_features(encoder, example)
        return MultiTaskNetwork(encoder, width, n_classes, sharing, self.head_hidden).to(
            self.device_
        )

    def _resolve_image_shape(self, hint: Any) -> tuple[int, ...] | None:
        shape = self.image_shape if self.image_shape is not None else hint
        return None if shape is None else tuple(int(s) for s in shape)

    def _prepare(self, X: Any, Y: Any, image_shape: Any) -> tuple[Any, np.ndarray]:
        self.check_params()
        X = _check_rows(X)
        codes, self.classes_ = encode_task_labels(Y)
        if _n_rows(X) != len(codes):
            raise InvalidProblemError(
                f"X has {_n_rows(X)} rows but Y has {len(codes)}; they must describe the same rows."
            )
        self.n_tasks_ = codes.shape[1]
        self.device_ = resolve_device(self.device)
        self.image_shape_ = self._resolve_image_shape(image_shape)
        # counts (sparse rows) stay counts: standardising would divide a rare word's count by a
        # tiny deviation and make the rarest words the loudest features
        self.inputs_ = _Inputs(standardize=self.image_shape_ is None and not sp.issparse(X))
        self.inputs_.fit(X)
        self.n_features_in_ = int(X.shape[1])
        return X, codes

    def _train_network(
        self,
        network: nn.Module,
        step_loss: Any,
        X: Any,
        codes: np.ndarray,
        stage: str,
        extra: dict[str, nn.Module] | None = None,
        epochs: int | None = None,
        balanced: bool = False,
    ) -> TrainingHistory:
        """Train ``network`` on the rows with at least one label, early-stopping on the mean
        validation accuracy over tasks when ``patience`` is set; ``balanced`` tops every batch
        up to ``ceil(batch_size / n_tasks)`` labelled rows per task (:func:`top_up_batch`)."""
        rows = np.flatnonzero((codes >= 0).any(axis=1))
        # stratify the validation split by the first labelled task of each row, so that a task
        # labelled on few rows (one Amazon domain) keeps some validation rows
        first_task = np.argmax(codes[rows] >= 0, axis=1)
        fraction = self.validation_fraction if self.patience else 0.0
        train_index, validation_index = split_validation(first_task, fraction, self.random_state)
        X_train = self.inputs_(X, rows[train_index])
        Y_train = torch.from_numpy(codes[rows[train_index]])
        modules = {"network": network, **(extra or {})}
        decayed = [p for p in network.parameters() if p.requires_grad]
        groups = [{"params": decayed, "weight_decay": self.weight_decay}]
        for module in (extra or {}).values():
            groups.append({"params": list(module.parameters()), "weight_decay": 0.0})
        optimizer = torch.optim.Adam(groups, lr=self.learning_rate)
        validate = None
        if len(validation_index):
            X_validation = self.inputs_(X, rows[validation_index])
            Y_validation = codes[rows[validation_index]]

            def validate() -> float:
                logits = self._apply(network, X_validation)
                return float(np.nanmean(_task_accuracies(logits, Y_validation)))

        task_rows = [np.flatnonzero(Y_train[:, t].numpy() >= 0) for t in range(codes.shape[1])]
        # data-parallel: each rank tops up its own share of the global batch, from its own draws
        quota = int(np.ceil(self.batch_size / world_size() / codes.shape[1]))
        seed = self.random_state
        if world_size() > 1 and seed is not None:
            seed = [seed, process_rank()]
        draws = np.random.default_rng(seed)

        def step(xs: Tensor, ys: Tensor, xt: Tensor | None, progress: float) -> Any:
            if balanced:
                xs, ys = top_up_batch(xs, ys, X_train, Y_train, task_rows, quota, draws)
            return step_loss(network, xs, ys)

        return train(
            modules,
            step,
            optimizer,
            X_train,
            Y_train,
            None,
            validate=validate,
            epochs=self.epochs if epochs is None else epochs,
            batch_size=self.batch_size,
            patience=self.patience or None,
            device=self.device_,
            random_state=self.random_state,
            checkpoint=None if self.checkpoint is None else Path(self.checkpoint) / f"{stage}.pt",
            progress=as_progress(self.progress, f"{type(self).__name__} {stage}"),
        )

    def _apply(self, network: nn.Module, X: Tensor) -> list[np.ndarray]:
        """Per-task logits of ``network`` on the tensor ``X``, batched, without gradients."""
        network.eval()
        outputs: list[list[Tensor]] = []
        with torch.no_grad():
            for start in range(0, X.shape[0], 1024):
                outputs.append([o.cpu() for o in network(X[start : start + 1024].to(self.device_))])
        return [torch.cat([batch[t] for batch in outputs]).numpy() for t in range(len(outputs[0]))]

    # -- prediction
    def _check_fitted(self) -> None:
        if not hasattr(self, "classes_"):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet; call fit(X, Y) first."
            )

    def _task_logits(self, X: Tensor) -> list[np.ndarray]:
        raise NotImplementedError

    def _logits(self, X: Any) -> list[np.ndarray]:
        self._check_fitted()
        X = _check_rows(X)
        if X.shape[1] != self.n_features_in_:
            raise InvalidProblemError(
                f"X has {X.shape[1]} features; the model was fitted on {self.n_features_in_}."
            )
        parts = [self._task_logits(chunk) for chunk in self.inputs_.batches(X)]
        return [np.concatenate([p[t] for p in parts]) for t in range(self.n_tasks_)]

    def predict_proba(self, X: Any) -> list[np.ndarray]:
        """Class probabilities of each task: a list of ``(n, n_classes_t)`` arrays."""
        return [torch.softmax(torch.from_numpy(z), dim=1).numpy() for z in self._logits(X)]

    def predict(self, X: Any) -> np.ndarray:
        """The predicted label of every task, shape ``(n, n_tasks)`` (the user's labels)."""
        columns = [
            classes[z.argmax(axis=1)]
            for classes, z in zip(self.classes_, self._logits(X), strict=True)
        ]
        if len({c.dtype for c in columns}) == 1:
            return np.column_stack(columns)
        predicted = np.empty((len(columns[0]), len(columns)), dtype=object)
        for t, column in enumerate(columns):  # label types differ: keep each task's own
            predicted[:, t] = column
        return predicted

    def task_scores(self, X: Any, Y: Any) -> np.ndarray:
        """Accuracy of each task on the rows of ``Y`` where it has a label (NaN for a task with no
        label in ``Y``)."""
        Y = np.asarray(Y)
        if Y.ndim != 2 or Y.shape[1] != self.n_tasks_ or len(Y) != _n_rows(X):
            raise InvalidProblemError(
                f"Y must have shape ({_n_rows(X)}, {self.n_tasks_}): one column per task; got "
                f"{Y.shape}."
            )
        predicted = self.predict(X)
        scores = np.full(self.n_tasks_, np.nan)
        for t in range(self.n_tasks_):
            known = ~_is_missing(Y[:, t])
            if known.any():
                scores[t] = float(np.mean(predicted[known, t] == Y[known, t]))
        return scores

    def score(self, X: Any, Y: Any) -> float:
        """Mean accuracy over the tasks (each on the rows where it has a label)."""
        return float(np.nanmean(self.task_scores(X, Y)))

    # -- the benchmark interface
    def fit(self, X: Any, Y: Any) -> _MultiTaskBase:
        return self._fit(X, Y, None)

    def _fit(self, X: Any, Y: Any, image_shape: Any) -> _MultiTaskBase:
        raise NotImplementedError

    def score_problem(self, task: Any) -> float:
        """Fit on ``task`` (a :class:`~transferkit.datasets.multitask.MultiTaskData`) and return
        the mean accuracy over its tasks on the evaluation split; ``details_`` holds each task's
        accuracy (``accuracy_<task>``), the worst of them, the labels per task, the training
        seconds (``fit_seconds``), the epochs run (``n_epochs``, summed over the networks of
        :class:`SingleTaskClassifiers`) and the seconds per epoch (``epoch_seconds``)."""
        if getattr(task, "kind", None) != "multitask":
            raise NotApplicableError(
                f"{type(self).__name__} scores multi-task data (kind 'multitask'); got "
                f"{type(task).__name__} of kind {getattr(task, 'kind', 'transfer')!r}."
            )
        started = time.perf_counter()
        self._fit(task.X, task.Y, task.image_shape)
        fit_seconds = time.perf_counter() - started
        scores = self.task_scores(task.X_test, task.Y_test)
        epochs = sum(h.n_epochs for h in self.histories_)
        self.details_ = {
            **{
                f"accuracy_{name}": float(s)
                for name, s in zip(task.task_names, scores, strict=True)
            },
            "worst_task_accuracy": float(np.nanmin(scores)),
            "n_labelled": {k: int(v) for k, v in task.n_labelled.items()},
            "fit_seconds": fit_seconds,
            "n_epochs": int(epochs),
            "epoch_seconds": float(sum(h.seconds for h in self.histories_) / max(epochs, 1)),
        }
        self.details_.update(self._extra_details())
        return float(np.nanmean(scores))

    def _extra_details(self) -> dict[str, Any]:
        return {}


class TaskClassifier:
    """One task of a fitted multi-task model, as a classifier of that task's labels.

    ``transferkit multitask ... -o FOLDER`` saves one per task, so that ``transferkit predict``
    labels a task's new rows. The model is shared, not copied: every task's classifier of one
    model answers through the same network.

    Parameters
    ----------
    model : fitted multi-task estimator of :mod:`transferkit.multitask`
    task : int
        The task's column in the model's ``Y``.
    name : str or None, default None
        The task's name (None: ``"task <task>"``).
    class_names : sequence or None, default None
        The label each class code of the model stands for, when it learned codes (as
        :func:`~transferkit.datasets.multitask.multitask_from_files` gives them, with the names
        in ``metadata["class_names"]``); None: the model's own labels.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 4))
    >>> Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0]).astype(int)
    >>> second = TaskClassifier(MultiTaskClassifier(epochs=2, random_state=0).fit(X, Y), 1)
    >>> second.classes_.tolist(), second.predict_proba(X[:3]).shape
    ([0, 1], (3, 2))
    """

    def __init__(
        self,
        model: _MultiTaskBase,
        task: int,
        name: str | None = None,
        class_names: Sequence[Any] | None = None,
    ):
        model._check_fitted()
        if isinstance(task, bool) or not isinstance(task, int | np.integer):
            raise ParameterValueError(f"task must be a task's column number; got {task!r}.")
        if not 0 <= task < model.n_tasks_:
            raise ParameterValueError(
                f"task={task}: the model learned {model.n_tasks_} tasks (0 to "
                f"{model.n_tasks_ - 1})."
            )
        self.model = model
        self.task = int(task)
        self.name = f"task {task}" if name is None else name
        self.classes_ = np.asarray(model.classes_[self.task])
        if class_names is not None:
            self.classes_ = np.asarray(class_names)[self.classes_.astype(np.int64)]
        self.n_features_in_ = model.n_features_in_

    def predict_proba(self, X: Any) -> np.ndarray:
        """The task's class probabilities, columns in the order of ``classes_``."""
        return self.model.predict_proba(X)[self.task]

    def predict(self, X: Any) -> np.ndarray:
        """The task's label of each row."""
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def __repr__(self) -> str:
        return f"TaskClassifier({type(self.model).__name__}, {self.name!r})"


def _single_head_loss(net: MultiTaskNetwork, xs: Tensor, ys: Tensor) -> Any:
    """The step loss of a network with one head trained on one label column."""
    return masked_cross_entropy(net(xs)[0], ys[:, 0]), {}


def _task_accuracies(logits: list[np.ndarray], codes: np.ndarray) -> np.ndarray:
    scores = np.full(len(logits), np.nan)
    for t, z in enumerate(logits):
        known = codes[:, t] >= 0
        if known.any():
            scores[t] = float(np.mean(z[known].argmax(axis=1) == codes[known, t]))
    return scores


class MultiTaskClassifier(_MultiTaskBase):
    """Several classification tasks learned by one network with hard or soft parameter sharing.

    ``fit(X, Y)`` takes rows ``X`` and a label matrix ``Y`` with one column per task (at least
    two); ``-1``, NaN or None marks a missing label, and each task keeps its own label set.
    Hard sharing (Caruana 1997) trains one encoder and a linear head per task; soft sharing gives
    each task its own encoder and adds ``coupling`` times :func:`coupling_penalty` (Duong et al.
    2015). The task losses are combined with fixed weights, by uncertainty weighting (Kendall, Gal
    & Cipolla 2018, eq. 10) or by PCGrad's gradient surgery on the shared encoder (Yu et al. 2020).

    Parameters
    ----------
    encoder : nn.Module or None, default None
        Your network from a batch of rows ``(batch, n_features)`` to features ``(batch, width)``
        (copied, never modified). None: a :class:`~transferkit.deep.backbones.LeNet` when
        ``image_shape`` is known, else an MLP with one hidden layer of ``hidden_dim`` units.
    sharing : {"hard", "soft"}, default "hard"
    weighting : {"fixed", "uncertainty", "pcgrad"}, default "fixed"
        ``"pcgrad"`` needs ``sharing="hard"`` (soft sharing has no shared weights to operate on).
    task_weights : sequence of float or None, default None
        Fixed weight of each task's loss (None: 1 each); with ``"pcgrad"`` they scale the task
        gradients before the surgery. Not used by ``"uncertainty"``.
    task_sampling : {"natural", "balanced"}, default "natural"
        How a batch serves tasks with partly missing labels. "natural": batches of
        ``batch_size`` training rows as drawn, so a task labelled on 5 % of the rows has about 3
        labelled rows in a batch of 64 and its loss is the mean over those few. "balanced": each
        batch is topped up with rows labelled for every task that has fewer than
        ``ceil(batch_size / n_tasks)`` of them in it, drawn with replacement from that task's
        labelled rows, only that task's label kept on the added rows
        (:func:`top_up_batch`); the other tasks see the same rows and labels, the number of
        gradient steps is unchanged, a step costs up to that many rows more.
    coupling : float, default 0.01
        Strength of the L2 coupling of soft sharing.
    network : {"auto", "lenet", "small_lenet", "small_lenet_conv", "mlp"}, default "auto"
        The encoder when ``encoder`` is None: "auto" is a
        :class:`~transferkit.deep.backbones.LeNet` for images (``image_shape`` known) and an MLP
        with one hidden layer for vectors; "small_lenet" is :class:`SmallLeNet`, the encoder of
        Sener & Koltun (2018); "small_lenet_conv" is its two convolutions alone, so that hard
        sharing shares only them (pair it with ``head_hidden`` to give each task its own fully
        connected layer).
    hidden_dim : int, default 128
        Feature width of the default encoder (not used by "small_lenet_conv").
    head_hidden : int, default 0
        Units of a hidden ReLU layer in each task's head (Sener & Koltun's MultiMNIST heads have
        one of 50); 0: a linear head.
    dropout : float, default 0.0
        Dropout of the default encoder.
    image_shape : tuple or None, default None
        ``(H, W)`` or ``(H, W, C)`` of flattened image rows (the default encoder is then a LeNet);
        the benchmark passes the dataset's.
    epochs : int, default 20
    batch_size : int, default 64
    learning_rate : float, default 1e-3
        Adam's learning rate.
    weight_decay : float, default 5e-4
        On the network's weights (not on the uncertainty log-variances).
    patience : int or None, default None
        Early stopping on the mean validation accuracy over tasks (``validation_fraction`` of the
        labelled rows held out); None or 0 trains ``epochs`` epochs on every labelled row.
    validation_fraction : float, default 0.1
    device : str, default "auto"
    random_state : int or None, default None
    checkpoint : str, Path or None, default None
        Directory for the training checkpoint; a second ``fit`` with it resumes.
    progress : bool or callback, default False
        True draws a progress bar (on a terminal).

    Attributes
    ----------
    classes_ : list of arrays
        The classes of each task.
    network_ : MultiTaskNetwork
    task_weights_ : array (n_tasks,)
        The weights the losses had at the end (``exp(-s_t)`` for uncertainty weighting).
    history_ : TrainingHistory

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.multitask import MultiTaskClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 4))
    >>> Y = np.column_stack([X[:, 0] > 0, np.where(X[:, 1] > 0, "up", "down")]).astype(object)
    >>> Y[:200, 1] = None  # the second task is labelled on 100 rows only
    >>> model = MultiTaskClassifier(weighting="uncertainty", epochs=10, random_state=0)
    >>> model = model.fit(X, Y)
    >>> [c.tolist() for c in model.classes_]
    [['False', 'True'], ['down', 'up']]
    >>> model.score(X[200:], Y[200:]) > 0.8
    True
    """

    def __init__(
        self,
        encoder: nn.Module | None = None,
        sharing: str = "hard",
        weighting: str = "fixed",
        task_weights: Sequence[float] | None = None,
        task_sampling: str = "natural",
        coupling: float = 0.01,
        network: str = "auto",
        hidden_dim: int = 128,
        head_hidden: int = 0,
        dropout: float = 0.0,
        image_shape: Sequence[int] | None = None,
        epochs: int = 20,
        batch_size: int = 64,
        learning_rate: float = 1e-3,
        weight_decay: float = 5e-4,
        patience: int | None = None,
        validation_fraction: float = 0.1,
        device: str = "auto",
        random_state: int | None = None,
        checkpoint: str | Path | None = None,
        progress: Any = False,
    ):
        _set_params(self, locals())

    def check_params(self) -> None:
        super().check_params()
        name = type(self).__name__
        check_choice(self.sharing, "sharing", name, SHARING)
        check_choice(self.weighting, "weighting", name, WEIGHTING)
        check_choice(self.task_sampling, "task_sampling", name, TASK_SAMPLING)
        check_nonnegative(self.coupling, "coupling", name)
        if self.weighting == "pcgrad" and self.sharing != "hard":
            raise ParameterValueError(
                f"{name}: weighting='pcgrad' operates on the shared encoder's gradients; use "
                "sharing='hard', or another weighting with sharing='soft'."
            )

    def _weights(self, n_tasks: int) -> Tensor:
        if self.task_weights is None:
            return torch.ones(n_tasks)
        weights = np.asarray(self.task_weights, dtype=float)
        if weights.shape != (n_tasks,) or not np.isfinite(weights).all() or (weights < 0).any():
            raise ParameterValueError(
                f"{type(self).__name__}: task_weights must be {n_tasks} non-negative numbers, one "
                f"per task; got {self.task_weights!r}."
            )
        return torch.as_tensor(weights, dtype=torch.float32)

    def _fit(self, X: Any, Y: Any, image_shape: Any) -> MultiTaskClassifier:
        X, codes = self._prepare(X, Y, image_shape)
        if self.n_tasks_ < 2:
            raise InvalidProblemError(
                f"Y has {self.n_tasks_} task column; multi-task learning needs at least two. "
                "For one task use an ordinary classifier (or SingleTaskClassifiers)."
            )
        weights = self._weights(self.n_tasks_).to(self.device_)
        seed_everything(self.random_state)
        network = self._new_network(self._example(X), [len(c) for c in self.classes_], self.sharing)
        uncertainty = (
            UncertaintyWeighting(self.n_tasks_).to(self.device_)
            if self.weighting == "uncertainty"
            else None
        )
        surgery_rng = np.random.default_rng(self.random_state)
        shared = list(network.encoders[0].parameters()) if self.sharing == "hard" else []
        shared = [p for p in shared if p.requires_grad]

        def step_loss(net: MultiTaskNetwork, xs: Tensor, ys: Tensor) -> Any:
            logits = net(xs)
            losses = torch.stack([masked_cross_entropy(z, ys[:, t]) for t, z in enumerate(logits)])
            present = (ys >= 0).any(dim=0)
            logs = {f"loss_{t}": float(losses[t].detach()) for t in range(len(logits))}
            if uncertainty is not None:
                total = uncertainty(losses, present)
            else:
                total = (weights * losses).sum()
            if self.sharing == "soft" and self.coupling > 0:
                total = total + self.coupling * coupling_penalty(net.encoders)
            if self.weighting == "pcgrad":
                total = _pcgrad_surrogate(net, weights * losses, present, shared, surgery_rng)
                logs["loss"] = float((weights * losses).sum().detach())
            return total, logs

        history = self._train_network(
            network,
            step_loss,
            X,
            codes,
            "multitask",
            extra=None if uncertainty is None else {"uncertainty": uncertainty},
            balanced=self.task_sampling == "balanced",
        )
        self.network_ = network
        self.uncertainty_ = uncertainty
        self.history_ = history
        self.histories_ = [history]
        self.task_weights_ = (
            uncertainty.weights if uncertainty is not None else weights.cpu().numpy()
        )
        return self

    def _task_logits(self, X: Tensor) -> list[np.ndarray]:
        return self._apply(self.network_, X)

    def _extra_details(self) -> dict[str, Any]:
        return {"task_weights": [float(w) for w in self.task_weights_]}


def _pcgrad_surrogate(
    network: MultiTaskNetwork,
    losses: Tensor,
    present: Tensor,
    shared: list[nn.Parameter],
    rng: np.random.Generator,
) -> Tensor:
    """A loss whose gradient is PCGrad's: the projected sum on the shared weights, each task's
    own gradient on its head.

    The training loop calls ``backward`` on the loss a step returns; ``sum_p <p, g_p>`` with the
    gradients ``g_p`` held constant has exactly the gradient ``g_p``, so the surgery fits the one
    loop unchanged.
    """
    tasks = [t for t in range(len(losses)) if bool(present[t])]
    flat = []
    for t in tasks:
        grads = torch.autograd.grad(losses[t], shared, retain_graph=True, allow_unused=True)
        flat.append(
            torch.cat(
                [
                    (torch.zeros_like(p) if g is None else g).reshape(-1)
                    for p, g in zip(shared, grads, strict=True)
                ]
            )
        )
    heads = sum(losses[t] for t in tasks) if tasks else losses.sum() * 0.0
    head_params = [p for head in network.heads for p in head.parameters()]
    head_grads = torch.autograd.grad(heads, head_params, allow_unused=True, retain_graph=False)
    surrogate = sum(
        (p * g.detach()).sum()
        for p, g in zip(head_params, head_grads, strict=True)
        if g is not None
    )
    if flat:
        merged = pcgrad(torch.stack(flat), rng)
        offset = 0
        for p in shared:
            size = p.numel()
            surrogate = surrogate + (p * merged[offset : offset + size].view_as(p)).sum()
            offset += size
    return surrogate


class SingleTaskClassifiers(_MultiTaskBase):
    """The baseline: one network per task, each trained on the rows that have its label.

    Same parameters as :class:`MultiTaskClassifier` (``encoder``, ``network``, ``hidden_dim``,
    ``epochs``, ...) without the sharing and weighting ones, plus ``match_steps``; each task gets a
    fresh copy of ``encoder`` (or of the default network) and its own head.

    Parameters
    ----------
    match_steps : bool, default True
        Train each task's network for as many gradient steps as a joint network on every
        labelled row would take in ``epochs`` epochs: ``ceil(epochs * n_labelled_rows /
        n_task_rows)`` epochs for a task labelled on ``n_task_rows`` rows. A task with few labels
        then is not under-trained by its few batches per epoch, so the comparison with a shared
        network measures sharing, not training length. False: ``epochs`` epochs for every task.

    Attributes
    ----------
    networks_ : list of MultiTaskNetwork
        One network (encoder and head) per task.
    task_epochs_ : list of int
        The epochs each task's network trained for.

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.multitask import SingleTaskClassifiers
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0]).astype(float)
    >>> Y[50:, 1] = np.nan  # the second task has 50 labels: it trains 4 times as many epochs
    >>> model = SingleTaskClassifiers(epochs=5, random_state=0).fit(X, Y)
    >>> model.task_epochs_, model.predict(X[:2]).shape
    ([5, 20], (2, 2))
    """

    def __init__(
        self,
        encoder: nn.Module | None = None,
        network: str = "auto",
        hidden_dim: int = 128,
        head_hidden: int = 0,
        dropout: float = 0.0,
        image_shape: Sequence[int] | None = None,
        epochs: int = 20,
        batch_size: int = 64,
        learning_rate: float = 1e-3,
        weight_decay: float = 5e-4,
        patience: int | None = None,
        validation_fraction: float = 0.1,
        device: str = "auto",
        random_state: int | None = None,
        checkpoint: str | Path | None = None,
        progress: Any = False,
        match_steps: bool = True,
    ):
        _set_params(self, locals())

    def _fit(self, X: Any, Y: Any, image_shape: Any) -> SingleTaskClassifiers:
        X, codes = self._prepare(X, Y, image_shape)
        seed_everything(self.random_state)
        self.networks_: list[MultiTaskNetwork] = []
        self.histories_ = []
        self.task_epochs_: list[int] = []
        example = self._example(X)
        n_rows = int((codes >= 0).any(axis=1).sum())
        for t, classes in enumerate(self.classes_):
            network = self._new_network(example, [len(classes)])
            n_task_rows = int((codes[:, t] >= 0).sum())
            epochs = (
                int(np.ceil(self.epochs * n_rows / n_task_rows))
                if self.match_steps
                else self.epochs
            )
            history = self._train_network(
                network, _single_head_loss, X, codes[:, [t]], f"task-{t}", epochs=epochs
            )
            self.networks_.append(network)
            self.histories_.append(history)
            self.task_epochs_.append(epochs)
        return self

    def _task_logits(self, X: Tensor) -> list[np.ndarray]:
        return [self._apply(network, X)[0] for network in self.networks_]


class PooledClassifier(_MultiTaskBase):
    """The other baseline: one network and one head for every task, trained on every
    (row, task) label as one pool; all tasks then get the same prediction.

    Only for tasks that share their label set and, on rows labelled in several tasks, mostly
    agree (the four Amazon sentiment tasks, whose rows each belong to one domain); it raises
    :class:`~transferkit.exceptions.NotApplicableError` otherwise (MultiMNIST's left and right
    digits share the labels 0-9 but differ on nine rows in ten). Parameters as
    :class:`SingleTaskClassifiers`.

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.multitask import PooledClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> Y = np.column_stack([X[:, 0] > 0, X[:, 0] > 0.1]).astype(float)
    >>> Y[::2, 0] = np.nan
    >>> PooledClassifier(epochs=5, random_state=0).fit(X, Y).predict(X[:2]).shape
    (2, 2)
    """

    def _fit(self, X: Any, Y: Any, image_shape: Any) -> PooledClassifier:
        X, codes = self._prepare(X, Y, image_shape)
        first = self.classes_[0]
        for t, classes in enumerate(self.classes_[1:], start=1):
            if len(classes) != len(first) or not np.array_equal(classes, first):
                raise NotApplicableError(
                    f"PooledClassifier trains one head for every task, so the tasks must share "
                    f"one label set; task 0 has {first.tolist()} and task {t} "
                    f"{classes.tolist()}. Use MultiTaskClassifier (a head per task) instead."
                )
        self._check_one_label_per_row(codes)
        rows, tasks = np.nonzero(codes >= 0)
        pooled = codes[rows, tasks][:, None]
        seed_everything(self.random_state)
        network = self._new_network(self._example(X), [len(first)])
        stacked = X[rows] if sp.issparse(X) else np.asarray(X)[rows]
        self.network_ = network
        self.history_ = self._train_network(network, _single_head_loss, stacked, pooled, "pooled")
        self.histories_ = [self.history_]
        return self

    def _check_one_label_per_row(self, codes: np.ndarray) -> None:
        """Refuse tasks that give most rows labelled in several of them different labels
        (MultiMNIST's left and right digit): one head predicts one label per row."""
        shared = np.flatnonzero((codes >= 0).sum(axis=1) >= 2)
        if len(shared) < 10:
            return
        labels = codes[shared]  # -1 where a task has no label
        top = labels.max(axis=1)
        bottom = np.where(labels >= 0, labels, top[:, None]).min(axis=1)
        conflicting = shared[top != bottom]
        share = len(conflicting) / len(shared)
        if share > 0.5:
            row = int(conflicting[0])
            labels = [(t, self.classes_[t][c]) for t, c in enumerate(codes[row]) if c >= 0]
            example = " and ".join(f"{label!r} in task {t}" for t, label in labels[:2])
            raise NotApplicableError(
                f"PooledClassifier gives every task of a row the same prediction, but "
                f"{100 * share:.0f} % of the {len(shared)} rows labelled in several tasks "
                f"carry different labels in them (row {row}: {example}): the tasks label "
                "different things of the same input. Use MultiTaskClassifier (a head per "
                "task) or SingleTaskClassifiers."
            )

    def _task_logits(self, X: Tensor) -> list[np.ndarray]:
        logits = self._apply(self.network_, X)[0]
        return [logits] * self.n_tasks_


# ----------------------------------------------------------------------------- the registry
for _name, _cls, _fixed, _description in (
    (
        "mtl_hard",
        MultiTaskClassifier,
        {"sharing": "hard", "weighting": "fixed"},
        "Hard parameter sharing: one encoder, a head per task, the task losses summed "
        "(Caruana 1997)",
    ),
    (
        "mtl_uncertainty",
        MultiTaskClassifier,
        {"sharing": "hard", "weighting": "uncertainty"},
        "Hard sharing with homoscedastic uncertainty weighting of the losses (Kendall et al. 2018)",
    ),
    (
        "mtl_pcgrad",
        MultiTaskClassifier,
        {"sharing": "hard", "weighting": "pcgrad"},
        "Hard sharing with PCGrad gradient surgery on the shared encoder (Yu et al. 2020)",
    ),
    (
        "mtl_soft",
        MultiTaskClassifier,
        {"sharing": "soft"},
        "Soft sharing: an encoder per task with an L2 coupling to their mean (Duong et al. 2015)",
    ),
    (
        "single_task",
        SingleTaskClassifiers,
        {},
        "One network per task, each on its own labels: the multi-task baseline",
    ),
    (
        "pooled",
        PooledClassifier,
        {},
        "One network and one head for all tasks' labels pooled (tasks sharing a label set)",
    ),
):
    register_estimator_class(_name, "multitask", _cls, _description, **_fixed)
