"""Source-free and test-time adaptation: adapt a trained model with unlabelled target data alone.

The user has a model trained on a source domain and unlabelled target rows, but not the source
data. Three methods, from the cheapest to the strongest:

=====================  ====================================================================  ========
class / function       what changes in the model                                             registry
=====================  ====================================================================  ========
:class:`AdaBN`         batch-norm statistics re-estimated on the target (Li et al. 2016)     ``adabn``
:class:`TENT`          norm layers' scale and shift, minimising prediction entropy           ``tent``
                       batch by batch (Wang et al. 2021)
:class:`SHOT`          everything but the frozen classifier head: information maximisation   ``shot``
                       plus pseudo-labels from target class centroids (Liang et al. 2020)
=====================  ====================================================================  ========

Each works on **any** ``nn.Module`` that maps a batch of rows to class logits: ``fit(X_target)``
adapts a copy (``model_``; the user's model is never changed unless ``copy=False``) over
``epochs`` passes of the target (offline); :meth:`SourceFreeAdapter.adapt_stream` adapts in one
pass over batches as they arrive and yields each batch's predictions (online, test-time), and
``partial_fit(batch)`` makes one such update. The functions :func:`adabn`, :func:`tent` and
:func:`shot` return the adapted copy directly. The math is in plain functions:
:func:`prediction_entropy`, :func:`information_maximization`, :func:`centroid_pseudo_labels` and
:func:`~transferkit.deep.training.recalibrate_batch_norm`.

For the built-in suites, :class:`SourceFreeTENT` (``tent``), :class:`SourceFreeSHOT` (``shot``)
and :class:`SourceFreeAdaBN` (``adabn``) first train the network of ``deep_source_only`` on the
source, then adapt it with the target rows alone; :class:`SourceModel` (``source_model``) is that
network unadapted, their floor.

Examples
--------
>>> import numpy as np, torch
>>> from torch import nn
>>> from transferkit.deep.source_free import TENT
>>> torch.manual_seed(0)  # doctest: +ELLIPSIS
<torch._C.Generator object at ...>
>>> model = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
>>> X_target = np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)
>>> adapter = TENT(model.eval(), epochs=2, random_state=0).fit(X_target)
>>> adapter.predict(X_target).shape
(200,)
>>> adapter.model_ is model
False
"""

from __future__ import annotations

import copy
import inspect
import logging
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator
from torch import Tensor, nn

from transferkit.base import warn_if_collapsed
from transferkit.checks import check_choice, check_nonnegative, check_positive_int, is_number
from transferkit.deep.backbones import MLPEncoder
from transferkit.deep.methods import DeepTransferClassifier
from transferkit.deep.model_files import output_width
from transferkit.deep.training import (
    apply_in_batches,
    as_progress,
    batch_norm_layers,
    eval_mode,
    recalibrate_batch_norm,
    resolve_device,
    seed_everything,
    train,
)
from transferkit.exceptions import (
    EmptyDomainError,
    FeatureSpaceMismatchError,
    InvalidParameterError,
    NonFiniteDataError,
    NotApplicableError,
    NotFittedError,
    ParameterValueError,
)
from transferkit.problem import TransferProblem, as_problem
from transferkit.registry import register_estimator_class

logger = logging.getLogger(__name__)

__all__ = [
    "NORM_LAYERS",
    "SHOT",
    "TENT",
    "AdaBN",
    "SourceFreeAdaBN",
    "SourceFreeAdapter",
    "SourceFreeClassifier",
    "SourceFreeSHOT",
    "SourceFreeTENT",
    "SourceModel",
    "adabn",
    "adapt_stream",
    "as_rows",
    "centroid_pseudo_labels",
    "find_head",
    "information_maximization",
    "norm_layers",
    "prediction_entropy",
    "shot",
    "tent",
]

#: Normalisation layers whose scale and shift TENT adapts.
NORM_LAYERS: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._BatchNorm,
    nn.LayerNorm,
    nn.GroupNorm,
    nn.modules.instancenorm._InstanceNorm,
)

#: Names of a classification head SHOT looks for when ``head`` is not given.
HEAD_NAMES = ("head", "classifier", "fc")


# ----------------------------------------------------------------------------- the math


def prediction_entropy(logits: Tensor) -> Tensor:
    """Mean Shannon entropy of the rows' predicted class distributions (Wang et al. 2021, Eq. 1)."""
    log_p = F.log_softmax(logits, dim=1)
    return -(log_p.exp() * log_p).sum(dim=1).mean()


def information_maximization(logits: Tensor, diversity_weight: float = 1.0) -> Tensor:
    """SHOT's information-maximisation loss (Liang et al. 2020, Eqs. 2-3): confident, diverse.

    ``L_ent - diversity_weight × H(mean prediction)``: the mean entropy of each row's prediction
    (made small: confident predictions) minus the entropy of the batch's mean prediction (made
    large: every class used, no collapse onto one).
    """
    mean = F.softmax(logits, dim=1).mean(dim=0).clamp_min(1e-8)
    diversity = -(mean * mean.log()).sum()
    return prediction_entropy(logits) - diversity_weight * diversity


@torch.no_grad()
def centroid_pseudo_labels(features: Tensor, logits: Tensor, n_rounds: int = 2) -> Tensor:
    """SHOT's self-supervised pseudo-labels (Liang et al. 2020, Eqs. 4-6), one per row.

    Class centroids of the target features are weighted by the model's predicted probabilities
    (Eq. 4); each row takes the class of its nearest centroid in cosine distance (Eq. 5); the
    centroids are then recomputed from these hard labels and the rows relabelled (Eq. 6), for
    ``n_rounds - 1`` more rounds. A class no row is nearest to keeps a zero centroid, at cosine
    distance 1 from every row.
    """
    features = F.normalize(features.float(), dim=1)
    weights = F.softmax(logits.float(), dim=1)
    labels = weights.argmax(dim=1)
    for _ in range(max(int(n_rounds), 1)):
        centroids = weights.T @ features / weights.sum(dim=0).clamp_min(1e-8)[:, None]
        labels = (features @ F.normalize(centroids, dim=1).T).argmax(dim=1)
        weights = F.one_hot(labels, logits.shape[1]).float()
    return labels


def norm_layers(model: nn.Module) -> list[nn.Module]:
    """The normalisation layers of ``model`` with a learnable scale or shift (see :data:`NORM_LAYERS`)."""
    return [
        m
        for m in model.modules()
        if isinstance(m, NORM_LAYERS) and any(p is not None for p in (m.weight, m.bias))
    ]


def find_head(
    model: nn.Module, head: str | None = None, who: str = "SHOT"
) -> tuple[str, nn.Module]:
    """The classification head of ``model``: ``(name, module)``.

    ``head`` names a submodule (``"fc"``, ``"classifier.1"``, ``"3"`` for the fourth layer of an
    ``nn.Sequential``); None looks for a child called ``head``, ``classifier`` or ``fc``, then
    takes the last child of an ``nn.Sequential``. ``who`` names the method in the error.

    Raises
    ------
    NotApplicableError
        When no head is found; the message lists the model's children and how to name one.
    """
    children = dict(model.named_children())
    if head is None:
        for name in HEAD_NAMES:
            if name in children:
                return name, children[name]
        if isinstance(model, nn.Sequential) and len(children) > 1:
            name = list(children)[-1]
            return name, children[name]
    else:
        try:
            module = model.get_submodule(head)
        except AttributeError:
            module = None
        if module is not None and module is not model:
            return head, module
    what = "has no child called" if head is None else f"has no submodule {head!r} among"
    raise NotApplicableError(
        f"{who} cannot find the classification head of {type(model).__name__}: it {what} "
        f"{', '.join(HEAD_NAMES) if head is None else 'its children'} (children: "
        f"{', '.join(children) or 'none'}). Pass head='<name>' naming the submodule whose output "
        "is the class logits (e.g. head='fc', or head='3' for the last layer of an nn.Sequential): "
        f"{who} works on the features it reads."
    )


# ----------------------------------------------------------------------------- inputs


def as_rows(X: Any, what: str = "X_target") -> Tensor:
    """Rows of numbers (an array or a tensor, one row per sample) as a float32 CPU tensor, with
    an error naming ``what`` for anything else: no rows, one dimension, NaN or infinity."""
    if isinstance(X, Tensor):
        values = X.detach().to("cpu", torch.float32)
    else:
        try:
            values = torch.from_numpy(np.ascontiguousarray(np.asarray(X, dtype=np.float32)))
        except (TypeError, ValueError) as error:
            raise InvalidParameterError(
                f"{what} must be an array or tensor of numbers, one row per sample; got "
                f"{type(X).__name__} ({error})."
            ) from error
    if values.ndim < 2:
        raise FeatureSpaceMismatchError(
            f"{what} has shape {tuple(values.shape)}; it needs one row per sample, e.g. "
            f"shape (n, d) (use X.reshape(1, -1) for a single sample)."
        )
    if values.shape[0] == 0:
        raise EmptyDomainError(f"{what} has no rows; adaptation needs rows.")
    finite = torch.isfinite(values.reshape(values.shape[0], -1)).all(dim=1)
    if not bool(finite.all()):
        bad = int((~finite).sum())
        raise NonFiniteDataError(
            f"{what} has {bad} row(s) with NaN or infinite values (first: row "
            f"{int(torch.nonzero(~finite)[0])}); remove or impute them before adapting."
        )
    return values


class SourceFreeAdapter(BaseEstimator):
    """Base of :class:`AdaBN`, :class:`TENT` and :class:`SHOT`: a trained ``nn.Module`` adapted
    with unlabelled target rows.

    ``fit(X_target)`` adapts a copy of ``model`` (``model_``) offline; ``predict``,
    ``predict_proba`` and ``decision_function`` use it; :meth:`adapt_stream` and
    :meth:`partial_fit` adapt online. Subclasses say what one update does.

    Parameters
    ----------
    model : nn.Module
        Maps a batch of rows (``(n, ...)`` float32) to class logits ``(n, n_classes)``; in eval
        mode (``model.eval()``), as a trained model is.
    epochs : int, default 1
        Passes over the target in ``fit``.
    batch_size : int, default 64
    learning_rate : float, default 1e-3
    optimizer : {"adam", "sgd"}, default "adam"
        SGD has momentum 0.9.
    copy : bool, default True
        Adapt a deep copy of ``model``; False adapts (and changes) the user's model itself.
    device : str, default "auto"
        Where to adapt: ``"auto"`` is the device setting (``--device``), else CUDA when present,
        else the CPU (:func:`transferkit.deep.training.resolve_device`).
    random_state : int or None, default 0
        Seeds the batch order and torch's generator.
    progress : bool or callback, default False
        True draws a tqdm bar; or an object with the
        :class:`~transferkit.deep.training.ProgressCallback` methods.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        epochs: int = 1,
        batch_size: int = 64,
        learning_rate: float = 1e-3,
        optimizer: str = "adam",
        copy: bool = True,
        device: str = "auto",
        random_state: int | None = 0,
        progress: Any = False,
    ):
        self.model = model
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.copy = copy
        self.device = device
        self.random_state = random_state
        self.progress = progress

    # -- checks
    def check_params(self) -> None:
        """Raise :class:`~transferkit.exceptions.ParameterValueError` naming a bad value."""
        name = type(self).__name__
        check_positive_int(self.epochs, "epochs", name)
        check_positive_int(self.batch_size, "batch_size", name)
        check_nonnegative(self.learning_rate, "learning_rate", name, strict=True)
        check_choice(self.optimizer, "optimizer", name, ("adam", "sgd"))

    def _check_model(self, X: Tensor) -> None:
        """The model is a module in eval mode that maps rows shaped like ``X`` to logits."""
        name = type(self).__name__
        model = self.model
        if not isinstance(model, nn.Module):
            raise InvalidParameterError(
                f"{name} adapts a torch nn.Module; got {type(model).__name__}. Pass the trained "
                "network itself (for a transferkit deep estimator, nn.Sequential(est.encoder_, "
                "est.classifier_))."
            )
        if isinstance(model, torch.jit.ScriptModule):
            raise NotApplicableError(
                f"{name} cannot adapt a TorchScript model ({type(model).__name__}): compiled, "
                "its layers are no longer nn.BatchNorm2d, nn.Linear... that the method can find, "
                "hook and train. Build the network from its Python class, load its weights "
                "(model.load_state_dict(...)) and pass that module."
            )
        if model.training:
            raise NotApplicableError(
                f"The model {type(model).__name__} is in training mode (model.training is True), "
                "so its dropout is on and every forward pass overwrites its batch-norm statistics: "
                f"a trained model is used in eval mode. Call model.eval() before {name}; {name} "
                "itself puts the layers it adapts in the mode each method needs."
            )
        output_width(model, X)

    def _check_layers(self, model: nn.Module) -> None:
        """Subclasses check that the model has what they adapt."""

    # -- fitting
    def _start(self, X: Any) -> Tensor:
        self.check_params()
        X = as_rows(X)
        self._check_model(X)
        self._check_layers(self.model)
        self.device_ = resolve_device(self.device)
        model = copy.deepcopy(self.model) if self.copy else self.model
        self.model_ = model.to(self.device_).eval()
        self.n_classes_ = None
        self.n_updates_ = 0
        return X

    def fit(self, X: Any, y: None = None) -> SourceFreeAdapter:
        """Adapt a copy of the model to the target rows ``X`` (``y`` is ignored: no labels)."""
        X = self._start(X)
        self._fit(X)
        self.model_.eval()
        return self

    def _fit(self, X: Tensor) -> None:
        raise NotImplementedError

    def _optimizer(self, parameters: list[nn.Parameter]) -> torch.optim.Optimizer:
        if self.optimizer == "sgd":
            return torch.optim.SGD(parameters, lr=self.learning_rate, momentum=0.9)
        return torch.optim.Adam(parameters, lr=self.learning_rate)

    def _recalibrate(self, X: Tensor) -> None:
        """Re-estimate every batch-norm layer's statistics on ``X`` (no-op without one)."""
        if batch_norm_layers(self.model_):
            recalibrate_batch_norm(
                self.model_, X, self.device_, batch_size=max(self.batch_size, 256)
            )

    def _inference_rows(self, X: Tensor) -> int:
        """Rows per forward pass without gradients: 512 vectors, or ``batch_size`` images (512
        photographs of 224 pixels would hold gigabytes of activations at once)."""
        return 512 if X.ndim <= 2 else self.batch_size

    def _learn(self, loss: Tensor) -> None:
        """One online optimiser step on ``loss``."""
        self.optimizer_.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer_.step()

    def _run(
        self,
        X: Tensor,
        step: Any,
        parameters: list[nn.Parameter],
        trainable: list[nn.Module],
    ) -> None:
        """The project's one training loop over the target rows: the "labels" it hands ``step``
        are the rows' indices (SHOT looks its pseudo-labels up by them)."""
        optimizer = self._optimizer(parameters)
        self.history_ = train(
            {"model": self.model_},
            step,
            optimizer,
            X,
            torch.arange(X.shape[0]),
            None,
            epochs=self.epochs,
            batch_size=min(self.batch_size, X.shape[0]),
            patience=None,
            device=self.device_,
            random_state=self.random_state,
            progress=as_progress(self.progress, type(self).__name__),
            trainable=trainable,
        )

    # -- online
    def partial_fit(self, X: Any, y: None = None) -> SourceFreeAdapter:
        """One online update on the batch ``X`` (the first call copies the model)."""
        self._partial(X)
        return self

    def _partial(self, X: Any) -> Tensor:
        if not hasattr(self, "model_"):
            batch = self._start(X)
            self.optimizer_ = self._stream_optimizer()
        else:
            batch = as_rows(X)
        logits = self._update(batch.to(self.device_))
        self.n_updates_ += 1
        self.model_.eval()
        return logits.detach().cpu()

    def _stream_optimizer(self) -> torch.optim.Optimizer | None:
        return None

    def _update(self, batch: Tensor) -> Tensor:
        raise NotImplementedError

    def adapt_stream(self, batches: Iterable[Any]) -> Iterator[np.ndarray]:
        """Adapt online over ``batches`` as they arrive, yielding each batch's class indices.

        Each batch is predicted in the same forward pass that adapts the model on it (Wang et
        al. 2021's online setting): the prediction of batch ``t`` uses what was learnt from
        batches ``0 … t-1`` and the statistics of batch ``t`` itself. One pass, no batch seen
        twice; the adapted model is ``model_`` afterwards.
        """
        for probabilities in self.stream_proba(batches):
            yield probabilities.argmax(axis=1)

    def stream_proba(self, batches: Iterable[Any]) -> Iterator[np.ndarray]:
        """:meth:`adapt_stream`, yielding each batch's class probabilities instead of indices."""
        for batch in batches:
            yield torch.softmax(self._partial(batch), dim=1).numpy()

    # -- using
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(
                f"This {type(self).__name__} is not adapted yet; call fit(X_target), "
                "partial_fit(batch) or adapt_stream(batches) first."
            )

    def decision_function(self, X: Any) -> np.ndarray:
        """Class logits of rows from the adapted model (eval mode, its running statistics)."""
        self._check_fitted()
        X = as_rows(X, "X")
        return apply_in_batches(self.model_, X, self.device_, self._inference_rows(X)).numpy()

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities of rows."""
        return torch.softmax(torch.from_numpy(self.decision_function(X)), dim=1).numpy()

    def predict(self, X: Any) -> np.ndarray:
        """Class indices (the columns of the model's logits) of rows."""
        return self.decision_function(X).argmax(axis=1)


def _require_batch_norm(model: nn.Module, method: str) -> None:
    if not batch_norm_layers(model):
        raise NotApplicableError(
            f"{method} re-estimates batch-norm statistics, and the model {type(model).__name__} "
            "has no batch-norm layer (nn.BatchNorm1d/2d/3d). Use a network with batch norm (for "
            "transferkit's MLPEncoder, norm='batch'), or SHOT, which needs none."
        )


class AdaBN(SourceFreeAdapter):
    """AdaBN (Li et al. 2016, Algorithm 1): the batch-norm statistics re-estimated on the target.

    No weight changes, no gradient: every batch-norm layer's running mean and variance become
    those of the target rows (:func:`~transferkit.deep.training.recalibrate_batch_norm`). Online,
    the statistics are cumulative averages over the batches seen so far, and each batch is
    predicted with them after its own rows are counted. ``epochs``, ``learning_rate`` and
    ``optimizer`` are not used.

    Parameters
    ----------
    model : nn.Module
        With at least one batch-norm layer; see :class:`SourceFreeAdapter` for the rest.

    Examples
    --------
    >>> import numpy as np
    >>> from torch import nn
    >>> from transferkit.deep.source_free import AdaBN
    >>> model = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    >>> X_target = np.random.default_rng(0).normal(3.0, 1.0, size=(100, 3))
    >>> adapted = AdaBN(model.eval()).fit(X_target).model_
    >>> bool(adapted[1].running_mean.abs().sum() > 0), float(model[1].running_mean.abs().sum())
    (True, 0.0)
    """

    def _check_layers(self, model: nn.Module) -> None:
        _require_batch_norm(model, "AdaBN")

    def _fit(self, X: Tensor) -> None:
        self._recalibrate(X)

    def _update(self, batch: Tensor) -> Tensor:
        norms = batch_norm_layers(self.model_)
        if self.n_updates_ == 0:
            for norm in norms:
                norm.reset_running_stats()
        with torch.no_grad():
            for norm in norms:
                norm.momentum = None  # cumulative average over the stream
                norm.train()
            if batch.shape[0] > 1:
                self.model_(batch)
            self.model_.eval()
            return self.model_(batch)


class TENT(SourceFreeAdapter):
    """TENT (Wang et al. 2021): minimise prediction entropy by the norm layers' scale and shift.

    Only the affine parameters of the normalisation layers (:data:`NORM_LAYERS`) learn, by
    minimising :func:`prediction_entropy` of each target batch (Eq. 1); batch-norm layers
    normalise with the statistics of the batch itself; every other weight stays as trained.
    Online (:meth:`~SourceFreeAdapter.adapt_stream`) this is the paper's test-time setting, one
    step per batch. Offline, ``fit`` runs ``epochs`` passes over shuffled batches and then
    re-estimates the batch-norm running statistics on the whole target (as :class:`AdaBN`), so
    ``predict`` gives the same answer for a row whatever batch it comes in.

    Parameters
    ----------
    model : nn.Module
        With at least one normalisation layer with a scale or shift; see
        :class:`SourceFreeAdapter` for the rest (``learning_rate`` 1e-3 with Adam is the paper's
        setting for its digits and CIFAR experiments).

    Examples
    --------
    >>> import numpy as np
    >>> from torch import nn
    >>> from transferkit.deep.source_free import TENT
    >>> model = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2)).eval()
    >>> batches = np.random.default_rng(0).normal(size=(5, 32, 3))
    >>> [labels.shape for labels in TENT(model).adapt_stream(batches)][:2]
    [(32,), (32,)]
    """

    def _check_layers(self, model: nn.Module) -> None:
        if not norm_layers(model):
            raise NotApplicableError(
                f"TENT adapts the scale and shift of normalisation layers, and the model "
                f"{type(model).__name__} has none (no nn.BatchNorm*, nn.LayerNorm, nn.GroupNorm "
                "or nn.InstanceNorm with affine parameters). Use a network with normalisation "
                "layers (for transferkit's MLPEncoder, norm='batch'), or SHOT, which needs none."
            )

    def _prepare_layers(self) -> tuple[list[nn.Parameter], list[nn.Module]]:
        for parameter in self.model_.parameters():
            parameter.requires_grad_(False)
        layers = norm_layers(self.model_)
        parameters = [p for m in layers for p in (m.weight, m.bias) if p is not None]
        for parameter in parameters:
            parameter.requires_grad_(True)
        return parameters, layers

    def _fit(self, X: Tensor) -> None:
        parameters, layers = self._prepare_layers()
        model = self.model_

        def step(x: Tensor, rows: Tensor, unused: Tensor | None, progress: float) -> Any:
            return prediction_entropy(model(x)), {}

        self._run(X, step, parameters, layers)
        self._recalibrate(X)

    def _stream_optimizer(self) -> torch.optim.Optimizer:
        seed_everything(self.random_state)
        parameters, _ = self._prepare_layers()
        return self._optimizer(parameters)

    def _update(self, batch: Tensor) -> Tensor:
        if batch.shape[0] < 2:  # one row has no batch statistics: predict, do not learn
            with torch.no_grad():
                return self.model_(batch)
        for layer in norm_layers(self.model_):
            layer.train()
        logits = self.model_(batch)
        loss = prediction_entropy(logits)
        self._learn(loss)
        return logits


class SHOT(SourceFreeAdapter):
    """SHOT (Liang et al. 2020): a frozen head, information maximisation and centroid pseudo-labels.

    The classification head (found by :func:`find_head`) is frozen, so the source hypothesis is
    kept; every layer before it learns to make the target's predictions confident and diverse
    (:func:`information_maximization`, Eqs. 2-3) and to agree with self-supervised pseudo-labels
    (:func:`centroid_pseudo_labels`, Eqs. 4-6) by cross-entropy of weight ``pseudo_label_weight``
    (the paper's β = 0.3, Eq. 7). Offline, the pseudo-labels are recomputed on the whole target
    at the start of every epoch, as in the paper; online, from each batch's own centroids. Batch
    norm normalises with the target's statistics throughout (running statistics re-estimated on
    the target at the start and the end, as :class:`AdaBN`).

    Parameters
    ----------
    model : nn.Module
        Ends in a classification head; see :class:`SourceFreeAdapter` for the rest.
    head : str or None, default None
        Name of the head submodule (see :func:`find_head`); None: a child called ``head``,
        ``classifier`` or ``fc``, else the last layer of an ``nn.Sequential``.
    pseudo_label_weight : float, default 0.3
        β of Eq. 7; 0 gives SHOT-IM (information maximisation alone).
    diversity_weight : float, default 1.0
        Weight of the diversity term of :func:`information_maximization`.
    epochs, batch_size, learning_rate, optimizer, copy, device, random_state, progress
        As in :class:`SourceFreeAdapter` (``epochs`` default 5; ``learning_rate`` 1e-4 with
        Adam, small because every layer below the head moves).

    Examples
    --------
    >>> import numpy as np
    >>> from collections import OrderedDict
    >>> from torch import nn
    >>> from transferkit.deep.source_free import SHOT
    >>> model = nn.Sequential(OrderedDict(
    ...     body=nn.Sequential(nn.Linear(3, 8), nn.ReLU()), head=nn.Linear(8, 2))).eval()
    >>> X_target = np.random.default_rng(0).normal(size=(100, 3))
    >>> adapter = SHOT(model, epochs=2).fit(X_target)
    >>> bool((adapter.model_.head.weight == model.head.weight).all())
    True
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        head: str | None = None,
        pseudo_label_weight: float = 0.3,
        diversity_weight: float = 1.0,
        epochs: int = 5,
        batch_size: int = 64,
        learning_rate: float = 1e-4,
        optimizer: str = "adam",
        copy: bool = True,
        device: str = "auto",
        random_state: int | None = 0,
        progress: Any = False,
    ):
        super().__init__(
            model,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            optimizer=optimizer,
            copy=copy,
            device=device,
            random_state=random_state,
            progress=progress,
        )
        self.head = head
        self.pseudo_label_weight = pseudo_label_weight
        self.diversity_weight = diversity_weight

    def check_params(self) -> None:
        super().check_params()
        check_nonnegative(self.pseudo_label_weight, "pseudo_label_weight", "SHOT")
        check_nonnegative(self.diversity_weight, "diversity_weight", "SHOT")

    def _check_layers(self, model: nn.Module) -> None:
        find_head(model, self.head)

    def _features_and_logits(self) -> Any:
        """``forward(x) -> (features, logits)``: the head's input is caught by a forward hook,
        so any architecture works without knowing how its forward is written."""
        _, head = find_head(self.model_, self.head)
        caught: list[Tensor] = []

        def hook(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
            caught.append(inputs[0])

        def forward(x: Tensor) -> tuple[Tensor, Tensor]:
            handle = head.register_forward_hook(hook)
            try:
                logits = self.model_(x)
            finally:
                handle.remove()
            return caught.pop().flatten(1), logits

        return head, forward

    def _prepare_layers(self) -> tuple[list[nn.Parameter], list[nn.Module], Any]:
        head, forward = self._features_and_logits()
        head_parameters = {id(p) for p in head.parameters()}
        parameters = []
        for parameter in self.model_.parameters():
            frozen = id(parameter) in head_parameters
            parameter.requires_grad_(not frozen)
            if not frozen:
                parameters.append(parameter)
        if not parameters:
            raise NotApplicableError(
                f"SHOT adapts the layers before the head, and {type(self.model).__name__} has no "
                "parameter outside its head; name a smaller head with head='<name>'."
            )
        # the layers outside the head run in training mode (batch statistics, dropout); the
        # head stays in eval mode, as frozen as its weights
        head_modules = set(map(id, head.modules()))
        body = [
            m for m in self.model_.modules() if not list(m.children()) and id(m) not in head_modules
        ]
        return parameters, body, forward

    def _loss(self, features: Tensor, logits: Tensor, pseudo: Tensor | None) -> Tensor:
        loss = information_maximization(logits, self.diversity_weight)
        if pseudo is not None and self.pseudo_label_weight:
            loss = loss + self.pseudo_label_weight * F.cross_entropy(logits, pseudo)
        return loss

    def _fit(self, X: Tensor) -> None:
        self._recalibrate(X)
        parameters, trainable, forward = self._prepare_layers()
        model = self.model_
        steps_per_epoch = -(-X.shape[0] // min(self.batch_size, X.shape[0]))
        total_steps = self.epochs * steps_per_epoch
        state: dict[str, Any] = {"epoch": -1, "labels": None}
        device = self.device_

        def label_target() -> Tensor:
            with eval_mode(model), torch.no_grad():
                rows = self._inference_rows(X)
                pairs = [forward(X[i : i + rows].to(device)) for i in range(0, X.shape[0], rows)]
            features = torch.cat([f for f, _ in pairs])
            logits = torch.cat([g for _, g in pairs])
            return centroid_pseudo_labels(features, logits).to(device)

        def step(x: Tensor, rows: Tensor, unused: Tensor | None, progress: float) -> Any:
            epoch = int(round(progress * total_steps)) // steps_per_epoch
            if epoch != state["epoch"] and self.pseudo_label_weight:
                state["epoch"], state["labels"] = epoch, label_target()
            features, logits = forward(x)
            pseudo = None if state["labels"] is None else state["labels"][rows]
            return self._loss(features, logits, pseudo), {}

        self._run(X, step, parameters, trainable)
        self._recalibrate(X)

    def _stream_optimizer(self) -> torch.optim.Optimizer:
        seed_everything(self.random_state)
        parameters, trainable, self.forward_ = self._prepare_layers()
        self.trainable_ = trainable
        return self._optimizer(parameters)

    def _update(self, batch: Tensor) -> Tensor:
        if batch.shape[0] < 2:  # one row has no batch statistics: predict, do not learn
            with torch.no_grad():
                return self.model_(batch)
        for module in self.trainable_:
            module.train()
        features, logits = self.forward_(batch)
        pseudo = centroid_pseudo_labels(features.detach(), logits.detach())
        loss = self._loss(features, logits, pseudo)
        self._learn(loss)
        return logits


# ----------------------------------------------------------------------------- functions


def adabn(model: nn.Module, X_target: Any, **params: Any) -> nn.Module:
    """A copy of ``model`` with batch-norm statistics of ``X_target`` (:class:`AdaBN`)."""
    return AdaBN(model, **params).fit(X_target).model_


def tent(model: nn.Module, X_target: Any, **params: Any) -> nn.Module:
    """A copy of ``model`` adapted to ``X_target`` by TENT (:class:`TENT`; same parameters)."""
    return TENT(model, **params).fit(X_target).model_


def shot(model: nn.Module, X_target: Any, **params: Any) -> nn.Module:
    """A copy of ``model`` adapted to ``X_target`` by SHOT (:class:`SHOT`; same parameters)."""
    return SHOT(model, **params).fit(X_target).model_


_ADAPTERS: dict[str, type[SourceFreeAdapter]] = {"adabn": AdaBN, "tent": TENT, "shot": SHOT}


def adapt_stream(
    model: nn.Module, batches: Iterable[Any], method: str = "tent", **params: Any
) -> Iterator[np.ndarray]:
    """Adapt a copy of ``model`` online over ``batches``, yielding each batch's class indices.

    ``method`` is ``"tent"`` (the default, the paper's test-time setting), ``"adabn"`` or
    ``"shot"``; ``params`` go to its class (see :meth:`SourceFreeAdapter.adapt_stream`).
    """
    check_choice(method, "method", "adapt_stream", tuple(_ADAPTERS))
    yield from _ADAPTERS[method](model, **params).adapt_stream(batches)


# ----------------------------------------------------------------------------- built-in suites


class SourceFreeClassifier(DeepTransferClassifier):
    """A source model trained like ``deep_source_only``, then adapted with the target rows alone.

    ``fit(problem)`` trains the network of :class:`~transferkit.deep.methods.DeepSourceOnly`
    (LeNet for digits; for vectors an MLP with batch norm, ``MLPEncoder(norm="batch")``) on the
    labelled source only (vector inputs standardised with source statistics only; no target row
    is seen), then hands the trained ``encoder → classifier`` and the unlabelled target rows to
    the subclass's adapter (:class:`AdaBN`, :class:`TENT`, :class:`SHOT`); the source data is not
    used by that step. Target labels, if any, are never used. Subclasses set ``adapter``;
    :class:`SourceModel` sets none.

    Parameters
    ----------
    loss_params : dict or None, default None
        Parameters of the adapter (e.g. ``{"epochs": 5, "learning_rate": 1e-4}``); the rest as
        :class:`~transferkit.deep.methods.DeepTransferClassifier`. ``domain_batch_norm`` is not
        used: the source model keeps source statistics until its adapter changes them.
    """

    #: The adapter class, or None for the unadapted source model.
    adapter: type[SourceFreeAdapter] | None = None

    def _check_loss_params(self) -> None:
        params = self._loss_params()
        if self.adapter is None:
            if params:
                raise ParameterValueError(
                    f"{type(self).__name__} adapts nothing and takes no loss_params; got "
                    f"{sorted(params)}."
                )
            return
        allowed = set(inspect.signature(self.adapter.__init__).parameters) - {
            "self",
            "model",
            "device",
            "progress",
            "copy",
            "random_state",
        }
        self._check_loss_param_names(params, allowed)
        name = type(self).__name__
        for key in ("epochs", "batch_size"):
            if key in params:
                check_positive_int(params[key], key, name)
        if "learning_rate" in params:
            check_nonnegative(params["learning_rate"], "learning_rate", name, strict=True)
        for key in ("pseudo_label_weight", "diversity_weight"):
            if key in params and not is_number(params[key]):
                raise ParameterValueError(f"{name}: {key}={params[key]!r} must be a number.")

    def _make_encoder(self, in_features: int) -> nn.Module:
        if self.image_shape_ is not None:
            return super()._make_encoder(in_features)
        return MLPEncoder(
            in_features,
            [self.hidden_dim] * max(int(self.hidden_layers), 1),
            dropout=self.dropout,
            norm="batch",
        )

    def fit(self, X: Any, y: Any = None, domain: Any = None) -> SourceFreeClassifier:
        """Train the source model on the source rows, then adapt it with the target rows alone."""
        seed_everything(self.random_state)
        problem = as_problem(X, y, domain)
        # the source model is built as if the target did not exist: input statistics, network
        # and training see the source alone
        source_only = TransferProblem(
            problem.X_source,
            problem.y_source,
            problem.X_source,
            metadata=dict(problem.metadata),
        )
        data = self._prepare(source_only, None, None)
        self.domain_encoders_ = {}
        self._fit_networks(data)
        if self.adapter is not None:
            X_target = self.input_encoder_(problem.X_target)
            model = nn.Sequential(
                OrderedDict(encoder=self.encoder_, classifier=self.classifier_)
            ).eval()
            params = {
                "device": str(self.device_),
                "random_state": self.random_state,
                "progress": as_progress(self.progress, f"{type(self).__name__} adapt"),
                **self._loss_params(),
            }
            self.adapter_ = self.adapter(model, copy=False, **params).fit(X_target)
            self.encoder_ = self.adapter_.model_.encoder
            self.classifier_ = self.adapter_.model_.classifier
        warn_if_collapsed(self, problem, type(self).__name__)
        return self


class SourceModel(SourceFreeClassifier):
    """The source-trained network of the source-free methods, unadapted: their floor.

    Unlike ``deep_source_only`` (whose LeNet re-estimates batch-norm statistics on the target
    rows at predict time) it keeps the source's statistics, as a model shipped without the
    source data and not yet adapted would.
    """


class SourceFreeAdaBN(SourceFreeClassifier):
    """The source model with batch-norm statistics re-estimated on the target (:class:`AdaBN`)."""

    adapter = AdaBN


class SourceFreeTENT(SourceFreeClassifier):
    """The source model adapted by :class:`TENT` on the target rows (offline, ``epochs`` passes)."""

    adapter = TENT


class SourceFreeSHOT(SourceFreeClassifier):
    """The source model adapted by :class:`SHOT` on the target rows (offline, ``epochs`` passes)."""

    adapter = SHOT


_SUITE_CLASSES: dict[str, tuple[type[SourceFreeClassifier], str]] = {
    "source_model": (
        SourceModel,
        "Source-trained network, unadapted, source batch-norm statistics (source-free floor).",
    ),
    "adabn": (SourceFreeAdaBN, "AdaBN: batch-norm statistics of the target (Li et al. 2016)."),
    "tent": (
        SourceFreeTENT,
        "TENT: source-free, target entropy by the norm layers (Wang et al. 2021).",
    ),
    "shot": (
        SourceFreeSHOT,
        "SHOT: source-free, frozen head, information maximisation (Liang et al. 2020).",
    ),
}


for _name, (_cls, _description) in _SUITE_CLASSES.items():
    register_estimator_class(_name, "deep", _cls, _description)
