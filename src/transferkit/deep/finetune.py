"""Transfer of a pre-trained network: frozen backbone + new head, fine-tuning, L2-SP, gradual unfreezing.

The article's first deep recipe. A pre-trained backbone (:func:`~transferkit.deep.backbones.
load_backbone`) is cut into a frozen prefix and a trainable suffix of ``trainable_stages`` stages.
The prefix's activation maps are computed once and cached on disk (keyed by image content and
model), so fine-tuning the top of MobileNetV2 runs in seconds per epoch on a CPU; the suffix and a
new linear head are then trained with

* **two learning rates** — small for the pre-trained suffix (``backbone_lr``), larger for the new
  head (``head_lr``);
* **L2-SP** (Li, Grandvalet & Davoine 2018, Eq. 3) — ``l2sp_alpha/2 ||w - w⁰||²`` pulls the
  pre-trained weights towards their starting point instead of towards 0, and ``l2sp_beta/2
  ||v||²`` is plain weight decay on the new head;
* **gradual unfreezing** (Howard & Ruder 2018) — train the head alone, then unfreeze one more
  stage at a time from the top, each phase ``epochs`` long;
* optionally a **domain loss** on the pooled features (``adaptation="dann"``, ``"dan"`` or
  ``"coral"``): DANN on top of the backbone.

``trainable_stages=0`` is the frozen backbone: a linear head on cached pooled features.

Examples
--------
>>> from transferkit.datasets import load_pair                               # doctest: +SKIP
>>> problem = load_pair("office-caltech-images", "amazon", "webcam")         # doctest: +SKIP
>>> model = FineTunedClassifier(trainable_stages=3, l2sp_alpha=0.01).fit(problem)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted
from torch import Tensor, nn

from transferkit.deep.backbones import (
    PretrainedBackbone,
    check_images,
    extract_features,
    load_backbone,
    pool,
)
from transferkit.deep.losses import CORALLoss, DomainAdversarialLoss, L2SPPenalty, MMDLoss
from transferkit.deep.methods import with_labeled_target
from transferkit.deep.training import (
    TrainingHistory,
    apply_in_batches,
    as_progress,
    resolve_device,
    seed_everything,
    split_validation,
    train,
)
from transferkit.exceptions import InvalidParameterError
from transferkit.problem import TransferProblem, as_problem
from transferkit.registry import register_method

_STRATEGIES = ("finetune", "gradual")
_ADAPTATIONS = (None, "dann", "dan", "coral")


class _Suffix(nn.Module):
    """The trainable top stages of a backbone followed by global average pooling."""

    def __init__(self, stages: Sequence[nn.Module]):
        super().__init__()
        self.stages = nn.ModuleList(stages)

    def forward(self, x: Tensor) -> Tensor:
        for stage in self.stages:
            x = stage(x)
        return pool(x)


class FineTunedClassifier(ClassifierMixin, BaseEstimator):
    """A pre-trained backbone's top stages and a new head, trained on the labelled images.

    Parameters
    ----------
    backbone : str or PretrainedBackbone, default "mobilenet_v2"
    trainable_stages : int, default 2
        Stages trained from the top (0: frozen backbone, a head on pooled features).
    strategy : {"finetune", "gradual"}, default "finetune"
        ``finetune`` trains all ``trainable_stages`` at once; ``gradual`` unfreezes them one at a
        time after a head-only phase (``epochs`` per phase).
    head_lr : float, default 1e-3
    backbone_lr : float, default 1e-4
    l2sp_alpha : float, default 0.0
        L2-SP pull towards the pre-trained weights (0: none; then ``weight_decay`` applies).
    l2sp_beta : float, default 1e-4
        Weight decay of the new head.
    weight_decay : float, default 0.0
        Plain weight decay of the backbone stages when ``l2sp_alpha`` is 0.
    adaptation : {None, "dann", "dan", "coral"}, default None
        A domain loss on the pooled features, weighted by ``trade_off``.
    trade_off : float, default 1.0
    epochs : int, default 10
    batch_size : int, default 32
    patience : int or None, default 5
    validation_fraction : float, default 0.1
    cache_dir : str, Path or None
    device : str, default "auto"
    random_state : int or None
    checkpoint : str, Path or None
        Directory of per-phase checkpoints (a second ``fit`` resumes).
    progress : bool or callback, default False
    """

    def __init__(
        self,
        backbone: str | PretrainedBackbone = "mobilenet_v2",
        trainable_stages: int = 2,
        strategy: str = "finetune",
        head_lr: float = 1e-3,
        backbone_lr: float = 1e-4,
        l2sp_alpha: float = 0.0,
        l2sp_beta: float = 1e-4,
        weight_decay: float = 0.0,
        adaptation: str | None = None,
        trade_off: float = 1.0,
        epochs: int = 10,
        batch_size: int = 32,
        patience: int | None = 5,
        validation_fraction: float = 0.1,
        cache_dir: str | Path | None = None,
        device: str = "auto",
        random_state: int | None = None,
        checkpoint: str | Path | None = None,
        progress: Any = False,
    ):
        self.backbone = backbone
        self.trainable_stages = trainable_stages
        self.strategy = strategy
        self.head_lr = head_lr
        self.backbone_lr = backbone_lr
        self.l2sp_alpha = l2sp_alpha
        self.l2sp_beta = l2sp_beta
        self.weight_decay = weight_decay
        self.adaptation = adaptation
        self.trade_off = trade_off
        self.epochs = epochs
        self.batch_size = batch_size
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.cache_dir = cache_dir
        self.device = device
        self.random_state = random_state
        self.checkpoint = checkpoint
        self.progress = progress

    # -- inputs
    def _inputs(self, images: Any) -> Tensor:
        """Cached output of the frozen prefix (pooled features when nothing is trainable)."""
        if self.stop_stage_ == self.backbone_.n_stages:
            features = extract_features(
                images, self.backbone_, "penultimate", cache_dir=self.cache_dir, device=self.device_
            )
        else:
            features = extract_features(
                images,
                self.backbone_,
                stop_stage=self.stop_stage_,
                cache_dir=self.cache_dir,
                device=self.device_,
            )
        return torch.from_numpy(features)

    def _check_params(self, backbone: PretrainedBackbone) -> None:
        if self.strategy not in _STRATEGIES:
            raise InvalidParameterError(
                f"strategy must be one of {_STRATEGIES}, got {self.strategy!r}."
            )
        if self.adaptation not in _ADAPTATIONS:
            raise InvalidParameterError(
                f"adaptation must be one of {_ADAPTATIONS}, got {self.adaptation!r}."
            )
        if not 0 <= self.trainable_stages <= backbone.n_stages:
            raise InvalidParameterError(
                f"trainable_stages must be between 0 and {backbone.n_stages} for "
                f"{backbone.name}, got {self.trainable_stages}."
            )

    def fit(self, X: Any, y: Any = None, domain: Any = None) -> FineTunedClassifier:
        """Train on a problem whose X are images (an ImageCollection or a list of arrays)."""
        problem = as_problem(X, y, domain)
        # before loading the backbone: vectors would fail deep in the preprocessing otherwise
        what = "FineTunedClassifier (methods 'finetune' and 'backbone_head')"
        check_images(problem.X_source, what)
        check_images(problem.X_target, what)
        backbone = load_backbone(self.backbone) if isinstance(self.backbone, str) else self.backbone
        self._check_params(backbone)
        seed_everything(self.random_state)
        self.device_ = resolve_device(self.device)
        self.backbone_ = backbone.eval()
        self.stop_stage_ = backbone.n_stages - self.trainable_stages
        self.classes_ = problem.classes
        Xt = self._inputs(problem.X_target)
        Xs, ys = with_labeled_target(problem, self._inputs(problem.X_source), Xt)
        train_index, validation_index = split_validation(
            ys, self.validation_fraction, self.random_state
        )
        y_tensor = torch.from_numpy(ys).long()

        self.suffix_ = _Suffix([copy.deepcopy(s) for s in backbone.stages[self.stop_stage_ :]]).to(
            self.device_
        )
        self.head_ = nn.Linear(backbone.out_features, len(self.classes_)).to(self.device_)
        l2sp = L2SPPenalty(self.suffix_, self.l2sp_alpha).to(self.device_)
        adaptation = self._make_adaptation(backbone.out_features)
        self.adaptation_ = adaptation
        X_validation, y_validation = Xs[validation_index], y_tensor[validation_index]

        def validate() -> float:
            logits = apply_in_batches(
                lambda x: self.head_(self.suffix_(x)), X_validation, self.device_
            )
            return float((logits.argmax(1) == y_validation).float().mean())

        def step(xs: Tensor, ys_: Tensor, xt: Tensor | None, progress: float) -> Any:
            if adaptation is not None and xt is not None:
                features = self.suffix_(torch.cat([xs, xt]))
                zs, zt = features[: xs.shape[0]], features[xs.shape[0] :]
            else:
                zs, zt = self.suffix_(xs), None
            loss = F.cross_entropy(self.head_(zs), ys_)
            logs = {"classification": float(loss.detach())}
            if adaptation is not None and zt is not None:
                if hasattr(adaptation, "set_progress"):
                    adaptation.set_progress(progress)
                transfer = adaptation(zs, zt)
                logs["transfer"] = float(transfer.detach())
                loss = loss + self.trade_off * transfer
            if self.l2sp_alpha:
                loss = loss + l2sp(self.suffix_)
            return loss, logs

        phases = self._phases()
        self.histories_: list[TrainingHistory] = []
        for phase, n_unfrozen in enumerate(phases):
            trainable_stages = list(self.suffix_.stages)[len(self.suffix_.stages) - n_unfrozen :]
            for stage in self.suffix_.stages:
                stage.requires_grad_(False)
            for stage in trainable_stages:
                stage.requires_grad_(True)
            groups = [
                {
                    "params": list(self.head_.parameters()),
                    "lr": self.head_lr,
                    "weight_decay": self.l2sp_beta,
                }
            ]
            backbone_params = [p for s in trainable_stages for p in s.parameters()]
            if backbone_params:
                groups.append(
                    {
                        "params": backbone_params,
                        "lr": self.backbone_lr,
                        "weight_decay": 0.0 if self.l2sp_alpha else self.weight_decay,
                    }
                )
            if adaptation is not None:
                groups.append({"params": list(adaptation.parameters()), "lr": self.head_lr})
            optimizer = torch.optim.Adam(groups)
            modules: dict[str, nn.Module] = {"suffix": self.suffix_, "head": self.head_}
            if adaptation is not None:
                modules["adaptation"] = adaptation
            trainable_modules: list[nn.Module] = [self.head_, *trainable_stages]
            if adaptation is not None:
                trainable_modules.append(adaptation)
            history = train(
                modules,
                step,
                optimizer,
                Xs[train_index],
                y_tensor[train_index],
                Xt if adaptation is not None else None,
                validate=validate if len(validation_index) else None,
                epochs=self.epochs,
                batch_size=self.batch_size,
                patience=self.patience or None,
                device=self.device_,
                random_state=self.random_state,
                checkpoint=None
                if self.checkpoint is None
                else Path(self.checkpoint) / f"phase{phase}.pt",
                progress=as_progress(self.progress, f"fine-tune phase {phase}"),
                trainable=trainable_modules,
            )
            self.histories_.append(history)
        self.suffix_.requires_grad_(True)
        self.history_ = self.histories_[-1]
        return self

    def _phases(self) -> list[int]:
        """How many suffix stages train in each phase."""
        if self.strategy == "gradual" and self.trainable_stages > 0:
            return list(range(0, self.trainable_stages + 1))
        return [self.trainable_stages]

    def _make_adaptation(self, width: int) -> nn.Module | None:
        if self.adaptation is None:
            return None
        if self.adaptation == "dann":
            return DomainAdversarialLoss(width, hidden=(256,)).to(self.device_)
        if self.adaptation == "dan":
            return MMDLoss(n_kernels=5)
        return CORALLoss()

    # -- using
    def transform(self, X: Any) -> np.ndarray:
        """Pooled features of the (fine-tuned) backbone."""
        check_is_fitted(self, "head_")
        return apply_in_batches(self.suffix_, self._inputs(X), self.device_).numpy()

    def decision_function(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "head_")
        return apply_in_batches(
            lambda x: self.head_(self.suffix_(x)), self._inputs(X), self.device_
        ).numpy()

    def predict_proba(self, X: Any) -> np.ndarray:
        return torch.softmax(torch.from_numpy(self.decision_function(X)), dim=1).numpy()

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[self.decision_function(X).argmax(axis=1)]


def finetune_problem(problem: TransferProblem, **params: Any) -> FineTunedClassifier:
    """Fit a :class:`FineTunedClassifier` with ``params`` on ``problem`` (a one-line helper)."""
    return FineTunedClassifier(**params).fit(problem)


@register_method(
    "finetune",
    "deep",
    "Pre-trained backbone: top stages fine-tuned with two learning rates (+ L2-SP, gradual "
    "unfreezing, optional domain loss); images only.",
    deep=True,
)
def _finetune(estimator: Any, random_state: int | None, **params: Any) -> FineTunedClassifier:
    return FineTunedClassifier(random_state=random_state, **params)


@register_method(
    "backbone_head",
    "deep",
    "Frozen pre-trained backbone, new linear head on its pooled features; images only.",
    deep=True,
)
def _backbone_head(estimator: Any, random_state: int | None, **params: Any) -> FineTunedClassifier:
    return FineTunedClassifier(random_state=random_state, **{"trainable_stages": 0, **params})
