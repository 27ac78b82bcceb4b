"""Deep transfer methods as estimators: ``fit(problem)``, ``predict``, ``predict_proba``, ``transform``.

Every method is an encoder (the representation), a linear classifier on it, and an adaptation
loss from :mod:`transferkit.deep.losses` added to the source cross-entropy:

============================  =========================================================  ============
class                         adaptation loss on the representation                     registry name
============================  =========================================================  ============
:class:`DeepSourceOnly`       none (the floor)                                           ``deep_source_only``
:class:`DDC`                  single-kernel MMD (Tzeng et al. 2014)                      ``ddc``
:class:`DAN`                  multi-kernel MMD (Long et al. 2015)                        ``dan``
:class:`DeepCORAL`            covariance distance (Sun & Saenko 2016)                    ``deep_coral``
:class:`DANN`                 domain classifier behind gradient reversal (Ganin 2016)    ``dann``
:class:`DomainConfusion`      domain prediction pushed to uniform (Tzeng et al. 2015)    ``domain_confusion``
:class:`ADDA`                 separate target encoder, GAN loss (Tzeng et al. 2017)      ``adda``
:class:`MCC`                  minimum class confusion of target predictions (Jin 2020)   ``mcc``
:class:`SelfEnsembling`       mean teacher, confident consistency (French et al. 2018)   ``self_ensembling``
:class:`DeepTargetOracle`     trains on target labels (the ceiling; evaluation only)     ``deep_oracle``
============================  =========================================================  ============

The network follows the data: flattened digits with ``problem.metadata["image_shape"]`` get a
:class:`~transferkit.deep.backbones.LeNet`; vectors (dense or sparse) an MLP; an
:class:`~transferkit.problem.ImageCollection` gets features from a frozen pre-trained backbone
(cached on disk) and an MLP on top. All methods share :func:`~transferkit.deep.training.train`.

Examples
--------
>>> import numpy as np
>>> from sklearn.datasets import make_moons
>>> from transferkit.problem import TransferProblem
>>> from transferkit.deep.methods import DANN
>>> Xs, ys = make_moons(200, noise=0.1, random_state=0)
>>> Xt, yt = make_moons(200, noise=0.1, random_state=1)
>>> angle = np.deg2rad(30)
>>> Xt = Xt @ np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
>>> problem = TransferProblem(Xs, ys, Xt, y_target=yt)
>>> model = DANN(epochs=5, random_state=0).fit(problem)
>>> model.predict(Xt).shape
(200,)
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted
from torch import Tensor, nn

from transferkit.base import warn_if_collapsed
from transferkit.checks import check_choice, check_nonnegative, check_positive_int, is_number
from transferkit.deep.backbones import LeNet, MLPEncoder
from transferkit.deep.losses import (
    ADDALoss,
    CORALLoss,
    DomainAdversarialLoss,
    DomainConfusionLoss,
    MinimumClassConfusionLoss,
    MMDLoss,
    class_balance,
    confident_consistency,
    dann_learning_rate,
)
from transferkit.deep.training import (
    TrainingHistory,
    apply_in_batches,
    as_progress,
    batch_norm_layers,
    recalibrate_batch_norm,
    resolve_device,
    seed_everything,
    split_validation,
    train,
)
from transferkit.exceptions import NotApplicableError, ParameterValueError
from transferkit.problem import (
    SOURCE,
    TARGET,
    DataMatrix,
    ImageCollection,
    TransferProblem,
    as_problem,
)
from transferkit.registry import register_estimator_class, register_method

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- inputs → tensors


class InputEncoder:
    """Turns a data matrix into a float32 tensor the network takes, the same way at fit and predict.

    Images given as flattened rows pass unchanged (values in [0, 1]); vectors are standardised with
    statistics of source and target together; sparse matrices are densified first; an
    :class:`ImageCollection` goes through a frozen pre-trained backbone (features cached on disk).
    """

    def __init__(
        self,
        image_shape: tuple[int, ...] | None,
        standardize: bool,
        backbone: str,
        cache_dir: str | Path | None,
        device: torch.device,
    ):
        self.image_shape = image_shape
        self.standardize = standardize
        self.backbone = backbone
        self.cache_dir = cache_dir
        self.device = device
        self.mean: np.ndarray | None = None
        self.scale: np.ndarray | None = None

    def _raw(self, X: DataMatrix) -> np.ndarray:
        if isinstance(X, ImageCollection):
            from transferkit.deep.backbones import extract_features

            return extract_features(
                X, self.backbone, cache_dir=self.cache_dir, device=self.device
            ).astype(np.float32)
        if sp.issparse(X):
            return np.asarray(X.todense(), dtype=np.float32)
        return np.asarray(X, dtype=np.float32)

    def fit(self, *matrices: DataMatrix) -> InputEncoder:
        if self.standardize and self.image_shape is None:
            stacked = np.concatenate([self._raw(X) for X in matrices])
            self.mean = stacked.mean(axis=0)
            scale = stacked.std(axis=0)
            self.scale = np.where(scale > 1e-8, scale, 1.0).astype(np.float32)
        return self

    def __call__(self, X: DataMatrix) -> Tensor:
        values = self._raw(X)
        if self.mean is not None:
            values = (values - self.mean) / self.scale
        return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))


def with_labeled_target(
    problem: TransferProblem, Xs: Tensor, Xt: Tensor
) -> tuple[Tensor, np.ndarray]:
    """The rows a network's classifier trains on: the source rows ``Xs`` and, after them, the
    target rows of ``Xt`` whose labels methods may see, with the label codes of both.

    ``Xs`` and ``Xt`` are the problem's source and target rows as tensors (every target row, in
    order); without visible target labels, ``Xs`` and the source codes come back unchanged.
    """
    ys = problem.encode_labels(problem.y_source)
    if problem.n_target_labeled:
        labeled = np.flatnonzero(problem.target_labeled)
        Xs = torch.cat([Xs, Xt[labeled]])
        ys = np.concatenate([ys, problem.encode_labels(problem.y_target[labeled])])
    return Xs, ys


# ----------------------------------------------------------------------------- the estimators


class DeepTransferClassifier(ClassifierMixin, BaseEstimator):
    """Base of the deep methods: encoder + linear classifier + ``trade_off`` × adaptation loss.

    Subclasses only say which adaptation loss to use (:meth:`_make_adaptation`).

    Parameters
    ----------
    network : {"auto", "lenet", "mlp"}, default "auto"
        ``auto``: LeNet when ``problem.metadata["image_shape"]`` is set, else an MLP.
    hidden_dim : int, default 128
        Width of the representation (the layer the losses align).
    hidden_layers : int, default 1
        Fully connected layers in the MLP encoder.
    dropout : float, default 0.0
    trade_off : float, default 1.0
        Weight of the adaptation loss against the classification loss.
    loss_params : dict or None, default None
        Extra arguments of the adaptation loss module (e.g. ``{"n_kernels": 5}`` for MMD,
        ``{"hidden": (100,)}`` for a domain classifier).
    epochs : int, default 30
    batch_size : int, default 64
    learning_rate : float, default 1e-3
    optimizer : {"adam", "sgd"}, default "adam"
    weight_decay : float, default 5e-4
    lr_schedule : {"constant", "dann"}, default "constant"
        ``dann``: ``lr / (1 + 10 p)^0.75`` (Ganin et al. 2016).
    patience : int or None, default 10
        Early stopping on source validation accuracy (None or 0: train all epochs and keep the
        last; 0 is how a TOML suite says it).
    min_epochs : int, default 1
    validation_fraction : float, default 0.1
        Share of the source held out for early stopping.
    standardize : bool, default True
        Standardise vector inputs with source + target statistics (never images).
    backbone : str, default "mobilenet_v2"
        Pre-trained network for :class:`ImageCollection` inputs.
    cache_dir : str, Path or None
        Feature cache for image inputs (default ``~/.cache/transferkit/features``).
    device : str, default "auto"
    random_state : int or None, default None
    checkpoint : str, Path or None, default None
        Directory for per-stage checkpoints; a second ``fit`` with the same directory resumes.
    progress : bool or callback, default False
        True draws a tqdm bar (the CLI's switch).
    domain_batch_norm : bool, default True
        For networks with batch normalisation (the LeNet): source and target batches go through
        the network separately while training, and after training each domain gets its own
        normalisation statistics (AdaBN, Li et al. 2016), used for its rows at predict time.
    """

    #: Default arguments of the adaptation loss (overridden by ``loss_params``).
    default_loss_params: dict[str, Any] = {}

    def __init__(
        self,
        network: str = "auto",
        hidden_dim: int = 128,
        hidden_layers: int = 1,
        dropout: float = 0.0,
        trade_off: float = 1.0,
        loss_params: dict[str, Any] | None = None,
        epochs: int = 30,
        batch_size: int = 64,
        learning_rate: float = 1e-3,
        optimizer: str = "adam",
        weight_decay: float = 5e-4,
        lr_schedule: str = "constant",
        patience: int | None = 10,
        min_epochs: int = 1,
        validation_fraction: float = 0.1,
        standardize: bool = True,
        backbone: str = "mobilenet_v2",
        cache_dir: str | Path | None = None,
        device: str = "auto",
        random_state: int | None = None,
        checkpoint: str | Path | None = None,
        progress: Any = False,
        domain_batch_norm: bool = True,
    ):
        self.network = network
        self.hidden_dim = hidden_dim
        self.hidden_layers = hidden_layers
        self.dropout = dropout
        self.trade_off = trade_off
        self.loss_params = loss_params
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.patience = patience
        self.min_epochs = min_epochs
        self.validation_fraction = validation_fraction
        self.standardize = standardize
        self.backbone = backbone
        self.cache_dir = cache_dir
        self.device = device
        self.random_state = random_state
        self.checkpoint = checkpoint
        self.progress = progress
        self.domain_batch_norm = domain_batch_norm

    # -- pieces subclasses change
    def _make_adaptation(self, in_features: int) -> nn.Module | None:
        return None

    def _loss_params(self) -> dict[str, Any]:
        return {**self.default_loss_params, **(self.loss_params or {})}

    # -- building
    def check_params(self) -> None:
        """Raise :class:`~transferkit.exceptions.ParameterValueError` naming a bad value.

        Called by ``fit``, and by a benchmark suite when it loads, so a typo in a suite fails at
        once instead of after hours of other cells.
        """
        name = type(self).__name__
        check_choice(self.network, "network", name, ("auto", "lenet", "mlp"))
        check_choice(self.optimizer, "optimizer", name, ("adam", "sgd"))
        check_choice(self.lr_schedule, "lr_schedule", name, ("constant", "dann"))
        for count in ("hidden_dim", "hidden_layers", "epochs", "batch_size", "min_epochs"):
            check_positive_int(getattr(self, count), count, name)
        if self.patience is not None and self.patience != 0:  # None or 0: no early stopping
            check_positive_int(self.patience, "patience", name)
        check_nonnegative(self.learning_rate, "learning_rate", name, strict=True)
        check_nonnegative(self.weight_decay, "weight_decay", name)
        check_nonnegative(self.trade_off, "trade_off", name)
        for fraction in ("dropout", "validation_fraction"):
            value = getattr(self, fraction)
            if not is_number(value) or not 0 <= value < 1:
                raise ParameterValueError(f"{name}: {fraction}={value!r} must be in [0, 1).")
        self._check_loss_params()

    def _check_loss_params(self) -> None:
        """Subclasses with loss parameters check their names and values here."""

    def _checked_loss_params(self) -> dict[str, Any]:
        """The loss parameters (:meth:`_loss_params`), after refusing a name that is not one of
        ``default_loss_params``: the start of the check of every method that lists its own."""
        params = self._loss_params()
        self._check_loss_param_names(params, self.default_loss_params)
        return params

    def _check_loss_param_names(self, params: dict[str, Any], allowed: Any) -> None:
        """Raise :class:`~transferkit.exceptions.ParameterValueError` naming any key of
        ``params`` not in ``allowed`` (a typo in ``loss_params`` fails instead of being ignored)."""
        unknown = set(params) - set(allowed)
        if unknown:
            raise ParameterValueError(
                f"Unknown loss_params {sorted(unknown)} for {type(self).__name__}; use "
                f"{sorted(allowed)}."
            )

    def _image_shape(self, problem: TransferProblem) -> tuple[int, ...] | None:
        shape = problem.metadata.get("image_shape") if problem.metadata else None
        if self.network == "lenet" and shape is None:
            raise NotApplicableError(
                "network='lenet' needs problem.metadata['image_shape'] (e.g. (28, 28)) to know how "
                "to reshape the flattened rows; set it, or use network='mlp'."
            )
        if self.network == "mlp" or problem.is_images:
            return None
        return None if shape is None else tuple(int(s) for s in shape)

    def _make_encoder(self, in_features: int) -> nn.Module:
        if self.image_shape_ is not None:
            return LeNet(self.image_shape_, out_features=self.hidden_dim, dropout=self.dropout)
        return MLPEncoder(
            in_features, [self.hidden_dim] * max(int(self.hidden_layers), 1), dropout=self.dropout
        )

    def _make_optimizer(self, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
        if self.optimizer == "sgd":
            return torch.optim.SGD(
                groups, lr=self.learning_rate, momentum=0.9, weight_decay=self.weight_decay
            )
        return torch.optim.Adam(groups, lr=self.learning_rate, weight_decay=self.weight_decay)

    def _schedule(self) -> Any:
        return dann_learning_rate if self.lr_schedule == "dann" else None

    def _checkpoint(self, stage: str) -> Path | None:
        return None if self.checkpoint is None else Path(self.checkpoint) / f"{stage}.pt"

    # -- data
    def _prepare(self, X: Any, y: Any, domain: Any) -> dict[str, Any]:
        problem = as_problem(X, y, domain)
        self.check_params()
        self.device_ = resolve_device(self.device)
        self.image_shape_ = self._image_shape(problem)
        self.classes_ = problem.classes
        self.input_encoder_ = InputEncoder(
            self.image_shape_, self.standardize, self.backbone, self.cache_dir, self.device_
        ).fit(problem.X_source, problem.X_target)
        Xt = self.input_encoder_(problem.X_target)
        Xs, ys = with_labeled_target(problem, self.input_encoder_(problem.X_source), Xt)
        train_index, validation_index = split_validation(
            ys, self.validation_fraction, self.random_state
        )
        self.n_features_in_ = Xs.shape[1]
        return {
            "problem": problem,
            "X_train": Xs[train_index],
            "y_train": torch.from_numpy(ys[train_index]).long(),
            "X_validation": Xs[validation_index],
            "y_validation": torch.from_numpy(ys[validation_index]).long(),
            "X_target": Xt,
        }

    def _validator(self, encoder: nn.Module, data: dict[str, Any]) -> Any:
        X, y = data["X_validation"], data["y_validation"]
        if len(y) == 0:
            return None

        def validate() -> float:
            logits = apply_in_batches(lambda x: self.classifier_(encoder(x)), X, self.device_)
            return float((logits.argmax(1) == y).float().mean())

        return validate

    def _train(
        self,
        stage: str,
        modules: dict[str, nn.Module],
        step: Any,
        data: dict[str, Any],
        validate: Any,
        use_target: bool = True,
        trainable: list[nn.Module] | None = None,
        parameters: list[dict[str, Any]] | None = None,
        epochs: int | None = None,
        patience: Any = "default",
        after_step: Any = None,
    ) -> TrainingHistory:
        if parameters is None:
            parameters = [{"params": [p for m in modules.values() for p in m.parameters()]}]
        optimizer = self._make_optimizer(parameters)
        return train(
            modules,
            step,
            optimizer,
            data["X_train"],
            data["y_train"],
            data["X_target"] if use_target else None,
            validate=validate,
            epochs=self.epochs if epochs is None else epochs,
            batch_size=self.batch_size,
            patience=(self.patience or None) if patience == "default" else patience,
            min_epochs=self.min_epochs,
            learning_rate_schedule=self._schedule(),
            device=self.device_,
            random_state=self.random_state,
            checkpoint=self._checkpoint(stage),
            progress=as_progress(self.progress, f"{type(self).__name__} {stage}"),
            trainable=trainable,
            after_step=after_step,
        )

    # -- fitting
    def fit(self, X: Any, y: Any = None, domain: Any = None) -> DeepTransferClassifier:
        """Train on a :class:`TransferProblem` (or stacked ``X, y, domain``)."""
        seed_everything(self.random_state)
        data = self._prepare(X, y, domain)
        self.domain_encoders_: dict[int, nn.Module] = {}
        self._fit_networks(data)
        if self.domain_batch_norm and bool(batch_norm_layers(self.encoder_)):
            self.domain_encoders_ = {
                SOURCE: recalibrate_batch_norm(
                    copy.deepcopy(self._encoder_for(SOURCE)), data["X_train"], self.device_
                ),
                TARGET: recalibrate_batch_norm(
                    copy.deepcopy(self._encoder_for(TARGET)), data["X_target"], self.device_
                ),
            }
        warn_if_collapsed(self, data["problem"], type(self).__name__)
        return self

    def _fit_networks(self, data: dict[str, Any]) -> None:
        encoder = self._make_encoder(self.n_features_in_).to(self.device_)
        self.encoder_ = encoder
        self.classifier_ = nn.Linear(encoder.out_features, len(self.classes_)).to(self.device_)
        adaptation = self._make_adaptation(encoder.out_features)
        modules: dict[str, nn.Module] = {"encoder": encoder, "classifier": self.classifier_}
        if adaptation is not None:
            adaptation = adaptation.to(self.device_)
            modules["adaptation"] = adaptation
        self.adaptation_ = adaptation
        trade_off = self.trade_off
        separate_batches = self.domain_batch_norm and bool(batch_norm_layers(encoder))

        def step(xs: Tensor, ys: Tensor, xt: Tensor | None, progress: float) -> Any:
            if adaptation is None or xt is None:
                logits = self.classifier_(encoder(xs))
                return F.cross_entropy(logits, ys), {}
            if separate_batches:
                zs, zt = encoder(xs), encoder(xt)
            else:
                features = encoder(torch.cat([xs, xt]))
                zs, zt = features[: xs.shape[0]], features[xs.shape[0] :]
            logits_source = self.classifier_(zs)
            classification = F.cross_entropy(logits_source, ys)
            if hasattr(adaptation, "set_progress"):
                adaptation.set_progress(progress)
            if getattr(adaptation, "acts_on", "features") == "logits":
                transfer = adaptation(logits_source, self.classifier_(zt))
            else:
                transfer = adaptation(zs, zt)
            logs = {
                "classification": float(classification.detach()),
                "transfer": float(transfer.detach()),
            }
            if hasattr(adaptation, "last_accuracy"):
                logs["domain_accuracy"] = adaptation.last_accuracy
            return classification + trade_off * transfer, logs

        self.history_ = self._train(
            "train",
            modules,
            step,
            data,
            self._validator(encoder, data),
            use_target=adaptation is not None,
        )

    # -- using
    def _encoder_for(self, domain: int) -> nn.Module:
        return self.encoder_

    def _inference_encoder(self, domain: int) -> nn.Module:
        return self.domain_encoders_.get(domain) or self._encoder_for(domain)

    def transform(self, X: DataMatrix, domain: Any = None) -> np.ndarray:
        """The learned representation of rows (target rows unless ``domain`` says source)."""
        check_is_fitted(self, "encoder_")
        inputs = self.input_encoder_(X)
        if domain is None:
            return apply_in_batches(self._inference_encoder(TARGET), inputs, self.device_).numpy()
        domain = np.broadcast_to(np.asarray(domain), (inputs.shape[0],))
        out = np.empty((inputs.shape[0], self.encoder_.out_features), dtype=np.float32)
        for code in (SOURCE, TARGET):
            index = np.flatnonzero(domain == code)
            if len(index):
                out[index] = apply_in_batches(
                    self._inference_encoder(code), inputs[index], self.device_
                ).numpy()
        return out

    def decision_function(self, X: DataMatrix) -> np.ndarray:
        """Class logits of target rows."""
        check_is_fitted(self, "encoder_")
        inputs = self.input_encoder_(X)
        encoder = self._inference_encoder(TARGET)
        return apply_in_batches(
            lambda x: self.classifier_(encoder(x)), inputs, self.device_
        ).numpy()

    def predict_proba(self, X: DataMatrix) -> np.ndarray:
        """Class probabilities of target rows."""
        return torch.softmax(torch.from_numpy(self.decision_function(X)), dim=1).numpy()

    def predict(self, X: DataMatrix) -> np.ndarray:
        """Predicted labels of target rows."""
        return self.classes_[self.decision_function(X).argmax(axis=1)]


class DeepSourceOnly(DeepTransferClassifier):
    """The same network trained on the source alone: the floor every deep method must beat."""


class DDC(DeepTransferClassifier):
    """Deep Domain Confusion (Tzeng et al. 2014): single-kernel MMD on the representation."""

    default_loss_params = {"n_kernels": 1}

    def _make_adaptation(self, in_features: int) -> nn.Module:
        return MMDLoss(**self._loss_params())


class DAN(DeepTransferClassifier):
    """Deep Adaptation Network (Long et al. 2015): multi-kernel MMD on the representation."""

    default_loss_params = {"n_kernels": 5, "kernel_mul": 2.0}

    def _make_adaptation(self, in_features: int) -> nn.Module:
        return MMDLoss(**self._loss_params())


class DeepCORAL(DeepTransferClassifier):
    """Deep CORAL (Sun & Saenko 2016): align the covariances of source and target features."""

    def _make_adaptation(self, in_features: int) -> nn.Module:
        return CORALLoss(**self._loss_params())


class DANN(DeepTransferClassifier):
    """Domain-adversarial neural network (Ganin et al. 2016): gradient reversal + domain classifier.

    ``loss_params``: ``hidden`` (domain classifier widths, default (100,)), ``gamma`` (λ schedule
    steepness, default 10), ``maximum`` (final λ, default 1).
    """

    default_loss_params = {"hidden": (100,), "gamma": 10.0, "maximum": 1.0}

    def _make_adaptation(self, in_features: int) -> nn.Module:
        return DomainAdversarialLoss(in_features, **self._loss_params())


class DomainConfusion(DeepTransferClassifier):
    """Domain confusion (Tzeng et al. 2015): features trained to make the domain output uniform."""

    default_loss_params = {"hidden": (100,)}

    def _make_adaptation(self, in_features: int) -> nn.Module:
        return DomainConfusionLoss(in_features, **self._loss_params())


class ADDA(DeepTransferClassifier):
    """Adversarial discriminative domain adaptation (Tzeng et al. 2017).

    Stage 1 trains a source encoder and the classifier on the source. Stage 2 starts a separate
    target encoder from the source one and trains it adversarially (GAN loss with inverted labels)
    until a discriminator cannot tell its target features from the frozen source features; the
    classifier is reused unchanged. ``transform`` uses the source encoder for source rows and the
    target encoder for target rows. Stage 2 runs ``adversarial_epochs`` = ``epochs`` epochs with no
    early stopping (there are no target labels to stop on); its learning rate is
    ``learning_rate`` × ``loss_params["mapping_lr_factor"]`` (default 0.1).
    """

    default_loss_params = {"hidden": (500, 500), "mapping_lr_factor": 0.1}

    def _fit_networks(self, data: dict[str, Any]) -> None:
        source_encoder = self._make_encoder(self.n_features_in_).to(self.device_)
        self.source_encoder_ = source_encoder
        self.classifier_ = nn.Linear(source_encoder.out_features, len(self.classes_)).to(
            self.device_
        )

        def source_step(xs: Tensor, ys: Tensor, xt: Tensor | None, progress: float) -> Any:
            return F.cross_entropy(self.classifier_(source_encoder(xs)), ys), {}

        self.source_history_ = self._train(
            "source",
            {"encoder": source_encoder, "classifier": self.classifier_},
            source_step,
            data,
            self._validator(source_encoder, data),
            use_target=False,
        )
        params = self._loss_params()
        lr_factor = params.pop("mapping_lr_factor")
        target_encoder = copy.deepcopy(source_encoder)
        self.encoder_ = target_encoder
        adaptation = ADDALoss(source_encoder.out_features, **params).to(self.device_)
        self.adaptation_ = adaptation
        for p in list(source_encoder.parameters()) + list(self.classifier_.parameters()):
            p.requires_grad_(False)
        trade_off = self.trade_off

        def adversarial_step(xs: Tensor, ys: Tensor, xt: Tensor | None, progress: float) -> Any:
            with torch.no_grad():
                zs = source_encoder(xs)
            zt = target_encoder(xt)
            loss = adaptation(zs, zt)
            return trade_off * loss, {"domain_accuracy": adaptation.last_accuracy}

        groups = [
            {"params": list(target_encoder.parameters()), "lr": self.learning_rate * lr_factor},
            {"params": list(adaptation.parameters()), "lr": self.learning_rate * lr_factor},
        ]
        self.history_ = self._train(
            "adversarial",
            {"target_encoder": target_encoder, "discriminator": adaptation},
            adversarial_step,
            data,
            None,
            use_target=True,
            trainable=[target_encoder, adaptation],
            parameters=groups,
            patience=None,
        )
        for p in list(source_encoder.parameters()) + list(self.classifier_.parameters()):
            p.requires_grad_(True)

    def _encoder_for(self, domain: int) -> nn.Module:
        return self.source_encoder_ if domain == SOURCE else self.encoder_


class MCC(DeepTransferClassifier):
    """Minimum Class Confusion (Jin et al. 2020): make target predictions confident and unconfused.

    The adaptation loss acts on the classifier's target logits, not on the representation:
    :func:`~transferkit.deep.losses.minimum_class_confusion` (Eq. 7) with the paper's temperature
    ``T = 2.5`` and trade-off 1. No domain discriminator, no kernel: one extra classifier pass.

    ``loss_params``: ``temperature`` (default 2.5).

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.deep.methods import MCC
    >>> from transferkit.problem import TransferProblem
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(100, 4)); Xt = Xs + 0.5
    >>> model = MCC(epochs=2, random_state=0).fit(TransferProblem(Xs, Xs[:, 0] > 0, Xt))
    >>> model.predict_proba(Xt).shape
    (100, 2)
    """

    default_loss_params = {"temperature": 2.5}

    def _make_adaptation(self, in_features: int) -> nn.Module:
        return MinimumClassConfusionLoss(**self._loss_params())


def augment(
    x: Tensor, image_shape: tuple[int, ...] | None, max_shift: float = 2.0, noise: float = 0.1
) -> Tensor:
    """A random perturbation of a batch of rows: translated images plus Gaussian noise.

    Images (flattened ``(H, W)`` or ``(H, W, C)`` rows) are shifted by up to ``max_shift`` pixels
    in each direction (bilinear, zero padding) and get noise of standard deviation ``noise``, the
    small-image augmentation of French et al. (2018, Section 4.1 / Appendix); vectors only get the
    noise. Draws from torch's generator, which :func:`~transferkit.deep.training.train` seeds.
    """
    if image_shape is None:
        return x + noise * torch.randn_like(x) if noise else x
    height, width = image_shape[:2]
    channels = 1 if len(image_shape) == 2 else image_shape[2]
    images = x.reshape(-1, height, width, channels).permute(0, 3, 1, 2)
    n = images.shape[0]
    theta = torch.zeros(n, 2, 3, dtype=x.dtype, device=x.device)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    shift = (torch.rand(n, 2, dtype=x.dtype, device=x.device) * 2 - 1) * max_shift
    # affine_grid works in [-1, 1] coordinates: one pixel is 2 / size
    theta[:, 0, 2] = shift[:, 0] * 2 / width
    theta[:, 1, 2] = shift[:, 1] * 2 / height
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    moved = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if noise:
        moved = moved + noise * torch.randn_like(moved)
    return moved.permute(0, 2, 3, 1).reshape(x.shape)


class SelfEnsembling(DeepTransferClassifier):
    """Self-ensembling (French et al. 2018): a mean teacher whose confident target predictions a
    student imitates under augmentation.

    The student (encoder + classifier) learns the source labels by cross-entropy; on each target
    batch it sees one augmentation and the teacher another, and the student is pulled towards the
    teacher's class probabilities where the teacher is confident (probability above
    ``threshold``, the paper's confidence thresholding) by
    :func:`~transferkit.deep.losses.confident_consistency`, with the class-balance loss
    :func:`~transferkit.deep.losses.class_balance` against collapse. The teacher's weights are an
    exponential moving average of the student's (decay ``ema_decay``, Tarvainen & Valpola 2017),
    updated after every step; the teacher is the model that predicts, transforms and is validated
    for early stopping. Source and target go through the network in separate batches, as in the
    paper, so each domain keeps its own batch statistics.

    Loss: ``CE(source) + trade_off × consistency_weight × consistency + class_balance × balance``.

    ``loss_params`` (fixed a priori, never tuned on target labels): ``threshold`` (0.968, the
    paper's), ``ema_decay`` (0.99, the paper's), ``consistency_weight`` (3.0), ``class_balance``
    (1.0), ``max_shift`` (2 pixels) and ``noise`` (0.1) for :func:`augment`.

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.deep.methods import SelfEnsembling
    >>> from transferkit.problem import TransferProblem
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(100, 4)); Xt = Xs + 0.5
    >>> model = SelfEnsembling(epochs=2, random_state=0).fit(TransferProblem(Xs, Xs[:, 0] > 0, Xt))
    >>> model.predict(Xt).shape
    (100,)
    """

    default_loss_params = {
        "threshold": 0.968,
        "ema_decay": 0.99,
        "consistency_weight": 3.0,
        "class_balance": 1.0,
        "max_shift": 2.0,
        "noise": 0.1,
    }

    def _check_loss_params(self) -> None:
        params = self._checked_loss_params()
        if not is_number(params["ema_decay"]) or not 0 <= params["ema_decay"] < 1:
            raise ParameterValueError(f"ema_decay must be in [0, 1), got {params['ema_decay']}.")

    def _fit_networks(self, data: dict[str, Any]) -> None:
        params = self._loss_params()
        student = self._make_encoder(self.n_features_in_).to(self.device_)
        student_classifier = nn.Linear(student.out_features, len(self.classes_)).to(self.device_)
        teacher = copy.deepcopy(student)
        teacher_classifier = copy.deepcopy(student_classifier)
        for p in list(teacher.parameters()) + list(teacher_classifier.parameters()):
            p.requires_grad_(False)
        self.student_encoder_ = student
        self.student_classifier_ = student_classifier
        self.encoder_ = teacher
        self.classifier_ = teacher_classifier
        self.adaptation_ = None
        pairs = [(teacher, student), (teacher_classifier, student_classifier)]
        decay = float(params["ema_decay"])
        weight = self.trade_off * float(params["consistency_weight"])
        balance_weight = float(params["class_balance"])
        image_shape = self.image_shape_

        def perturb(x: Tensor) -> Tensor:
            return augment(x, image_shape, params["max_shift"], params["noise"])

        def step(xs: Tensor, ys: Tensor, xt: Tensor | None, progress: float) -> Any:
            classification = F.cross_entropy(student_classifier(student(perturb(xs))), ys)
            if xt is None:
                return classification, {}
            student_logits = student_classifier(student(perturb(xt)))
            with torch.no_grad():
                # batch statistics of the target batch, as the student's: the teacher's running
                # averages mix both domains
                teacher.train()
                teacher_logits = teacher_classifier(teacher(perturb(xt)))
            consistency, share = confident_consistency(
                student_logits, teacher_logits, params["threshold"]
            )
            balance = class_balance(student_logits)
            loss = classification + weight * consistency + balance_weight * balance
            return loss, {
                "classification": float(classification.detach()),
                "consistency": float(consistency.detach()),
                "confident": share,
            }

        @torch.no_grad()
        def update_teacher() -> None:
            for slow, fast in pairs:
                for p_slow, p_fast in zip(slow.parameters(), fast.parameters(), strict=True):
                    p_slow.mul_(decay).add_(p_fast, alpha=1 - decay)
                for b_slow, b_fast in zip(slow.buffers(), fast.buffers(), strict=True):
                    b_slow.copy_(b_fast)

        modules = {
            "student": student,
            "student_classifier": student_classifier,
            "teacher": teacher,
            "teacher_classifier": teacher_classifier,
        }
        groups = [{"params": list(student.parameters()) + list(student_classifier.parameters())}]
        self.history_ = self._train(
            "train",
            modules,
            step,
            data,
            self._validator(teacher, data),
            use_target=True,
            trainable=[student, student_classifier],
            parameters=groups,
            after_step=update_teacher,
        )


class DeepTargetOracle(DeepTransferClassifier):
    """The same network trained on the target's labels: the ceiling (uses labels users lack).

    ``fit`` trains on all target samples with their labels. :meth:`score_problem` evaluates on the
    test split when the problem has one; in a transductive problem it trains on one half of the
    target and scores the other, then swaps (2-fold), so it never scores samples it saw.
    """

    def fit(self, X: Any, y: Any = None, domain: Any = None) -> DeepTargetOracle:
        problem = as_problem(X, y, domain)
        if problem.y_target is None:
            raise NotApplicableError(
                "deep_oracle needs the target labels (y_target); this problem has none."
            )
        oracle_problem = TransferProblem(
            problem.X_target,
            problem.y_target,
            problem.X_target,
            metadata=dict(problem.metadata),
        )
        return super().fit(oracle_problem)

    def score_problem(self, problem: TransferProblem) -> float:
        """Target accuracy of a network trained on target labels, never on the scored samples."""
        if problem.y_target is None:
            raise NotApplicableError(
                "deep_oracle needs the target labels (y_target); this problem has none."
            )
        if problem.X_test is not None:
            self.fit(problem)
            return float(np.mean(self.predict(problem.X_test) == problem.y_test))
        rng = np.random.default_rng(self.random_state)
        order = rng.permutation(problem.n_target)
        halves = np.array_split(order, 2)
        correct = 0
        for train_half, test_half in (halves, halves[::-1]):
            half_problem = TransferProblem(
                _take_rows(problem.X_target, train_half),
                problem.y_target[train_half],
                _take_rows(problem.X_target, test_half),
                metadata=dict(problem.metadata),
            )
            DeepTransferClassifier.fit(self, half_problem)
            predicted = self.predict(_take_rows(problem.X_target, test_half))
            correct += int(np.sum(predicted == problem.y_target[test_half]))
        return correct / problem.n_target


def _take_rows(X: DataMatrix, index: np.ndarray) -> DataMatrix:
    return X[index]


# ----------------------------------------------------------------------------- registry

_METHOD_CLASSES: dict[str, tuple[type[DeepTransferClassifier], str]] = {
    "deep_source_only": (DeepSourceOnly, "Same network on the source only (the deep floor)."),
    "ddc": (DDC, "DDC: single-kernel MMD on the representation (Tzeng et al. 2014)."),
    "dan": (DAN, "DAN: multi-kernel MMD on the representation (Long et al. 2015)."),
    "deep_coral": (DeepCORAL, "Deep CORAL: align feature covariances (Sun & Saenko 2016)."),
    "dann": (DANN, "DANN: gradient reversal + domain classifier (Ganin et al. 2016)."),
    "domain_confusion": (
        DomainConfusion,
        "Domain confusion: domain prediction pushed to uniform (Tzeng et al. 2015).",
    ),
    "adda": (ADDA, "ADDA: separate target encoder trained adversarially (Tzeng et al. 2017)."),
    "mcc": (MCC, "MCC: minimum class confusion of target predictions (Jin et al. 2020)."),
    "self_ensembling": (
        SelfEnsembling,
        "Self-ensembling: mean teacher, confident target consistency (French et al. 2018).",
    ),
}


for _name, (_cls, _description) in _METHOD_CLASSES.items():
    register_estimator_class(_name, "deep", _cls, _description)


@register_method(
    "deep_oracle",
    "deep",
    "Same network trained on the target labels (the deep ceiling; evaluation only).",
    deep=True,
)
def _deep_oracle(estimator: Any, random_state: int | None, **params: Any) -> DeepTargetOracle:
    return DeepTargetOracle(random_state=random_state, **params)
