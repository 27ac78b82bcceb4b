"""Partial adversarial domain adaptation (PADA): DANN with class weights for a partial target.

Cao, Long & Wang (2018), "Partial adversarial domain adaptation", ECCV. When the target holds
only some of the source classes, DANN aligns the whole source onto the target, absent classes
included. PADA weights each source class by ``γ_c``, the average target prediction of class ``c``
scaled to a largest weight of 1 (eq. 4), in the source classification loss and in the source half
of the domain loss (eq. 5), so the absent classes, predicted rarely on the target, fade out of
both. ``class_weighting="predictions"`` is the paper's ``γ``: a running average of the target
batches' softmax outputs, used after a warm-up (``warmup``, a share of training, with uniform
weights while the classifier is still poor). ``"priors"`` (the default) takes the weights of
:func:`transferkit.label_spaces.estimate_presence` instead, once before training: target priors
estimated by EM on a calibrated logistic regression, divided by the source priors, classes under a
tenth of the largest set to 0. On Office-Caltech CNN features the network's own averaged
predictions left absent classes at 0.1-0.2 of the largest weight, too much to stop their
alignment; the EM estimate puts them at 0.

Examples
--------
>>> from transferkit.datasets import make_shifted_blobs                       # doctest: +SKIP
>>> from transferkit.datasets.label_spaces import partial_target               # doctest: +SKIP
>>> problem = partial_target(make_shifted_blobs(n_classes=4, random_state=0), [0, 1])  # doctest: +SKIP
>>> PADA(epochs=20, random_state=0).fit(problem).class_weights_.round(1)       # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from transferkit.checks import check_choice, check_nonnegative
from transferkit.deep.losses import DomainAdversarialLoss, domain_accuracy
from transferkit.deep.methods import DANN
from transferkit.exceptions import ParameterValueError
from transferkit.label_spaces import estimate_presence
from transferkit.registry import register_method

__all__ = ["PADA", "ClassWeightedAdversarialLoss", "class_weights_from_predictions"]


def class_weights_from_predictions(mean_prediction: Tensor) -> Tensor:
    """PADA's class weights (Cao et al. 2018, eq. 4): the mean target prediction of each class
    divided by the largest.

    Examples
    --------
    >>> class_weights_from_predictions(torch.tensor([0.5, 0.4, 0.1]))
    tensor([1.0000, 0.8000, 0.2000])
    """
    return mean_prediction / mean_prediction.max().clamp_min(1e-12)


class ClassWeightedAdversarialLoss(DomainAdversarialLoss):
    """DANN's domain loss with a weight per source row (Cao et al. 2018, eq. 5).

    A domain classifier behind a gradient reversal layer (Ganin et al. 2016), its binary
    cross-entropy averaged with ``source_weights`` on the source rows (target rows weigh 1).
    The classifier, the reversal layer and the λ schedule are those of
    :class:`~transferkit.deep.losses.DomainAdversarialLoss`.

    Parameters
    ----------
    in_features : int
    hidden : sequence of int, default (100,)
    gamma : float, default 10.0
        Steepness of the λ schedule (0 keeps λ at ``maximum``).
    maximum : float, default 1.0
    dropout : float, default 0.0
    """

    def forward(self, source: Tensor, target: Tensor, source_weights: Tensor) -> Tensor:
        logits = self.discriminator(self.reversal(torch.cat([source, target], dim=0)))
        # this loss labels the source 1 (the target 0), domain_accuracy the other way round
        self.last_accuracy = 1.0 - domain_accuracy(logits.detach(), source.shape[0])
        labels = torch.cat([torch.ones(source.shape[0]), torch.zeros(target.shape[0])]).to(logits)
        weights = torch.cat([source_weights, torch.ones(target.shape[0]).to(logits)])
        losses = F.binary_cross_entropy_with_logits(logits.reshape(-1), labels, reduction="none")
        return (weights * losses).sum() / weights.sum()


class PADA(DANN):
    """Partial adversarial domain adaptation (Cao, Long & Wang 2018): DANN whose source rows are
    weighted by their class's average target prediction, in both losses.

    Parameters
    ----------
    class_weighting : {"priors", "predictions"}, default "priors"
        Where the class weights come from: the label-shift estimate of the target priors
        (fixed), or the network's running mean target prediction (the paper's eq. 4).
    warmup : float, default 0.2
        Share of training (by progress) with uniform class weights before ``γ`` is used.
    momentum : float, default 0.9
        Running-average factor of the mean target prediction.
    **params
        Those of :class:`~transferkit.deep.methods.DeepTransferClassifier` (``epochs``,
        ``trade_off``, ``loss_params`` as for DANN, ...).

    Attributes
    ----------
    class_weights_ : array
        The final ``γ`` per class (in ``classes_`` order).
    """

    def __init__(
        self,
        class_weighting: str = "priors",
        warmup: float = 0.2,
        momentum: float = 0.9,
        **params: Any,
    ):
        super().__init__(**params)
        self.class_weighting = class_weighting
        self.warmup = warmup
        self.momentum = momentum

    @classmethod
    def _get_param_names(cls) -> list[str]:
        return sorted(set(DANN._get_param_names()) | {"class_weighting", "warmup", "momentum"})

    def _check_loss_params(self) -> None:
        super()._check_loss_params()
        check_choice(self.class_weighting, "class_weighting", "PADA", ("priors", "predictions"))
        for name in ("warmup", "momentum"):
            value = check_nonnegative(getattr(self, name), name, "PADA")
            if value >= 1:
                raise ParameterValueError(f"PADA {name} must be in [0, 1); got {value!r}.")

    def _fit_networks(self, data: dict[str, Any]) -> None:
        encoder = self._make_encoder(self.n_features_in_).to(self.device_)
        self.encoder_ = encoder
        n_classes = len(self.classes_)
        self.classifier_ = nn.Linear(encoder.out_features, n_classes).to(self.device_)
        adaptation = ClassWeightedAdversarialLoss(encoder.out_features, **self._loss_params()).to(
            self.device_
        )
        self.adaptation_ = adaptation
        modules = {"encoder": encoder, "classifier": self.classifier_, "adaptation": adaptation}
        mean_prediction = torch.full((n_classes,), 1.0 / n_classes, device=self.device_)
        fixed = None
        if self.class_weighting == "priors":
            # the project's label-shift estimate (EM on a logistic regression), made once; on
            # images, on the backbone features the network reads (a logistic regression cannot
            # take images)
            problem = data["problem"]
            if problem.is_images:
                problem = problem.map_features(lambda X: self.input_encoder_(X).cpu().numpy())
            classes, weights, _ = estimate_presence(problem, random_state=self.random_state)
            fixed = torch.zeros(n_classes, device=self.device_)
            fixed[np.searchsorted(self.classes_, classes)] = torch.as_tensor(
                weights, dtype=torch.float32
            )
        trade_off, warmup, momentum = self.trade_off, self.warmup, self.momentum

        def step(xs: Tensor, ys: Tensor, xt: Tensor | None, progress: float) -> Any:
            nonlocal mean_prediction
            features = encoder(torch.cat([xs, xt]))
            zs, zt = features[: xs.shape[0]], features[xs.shape[0] :]
            logits_source, logits_target = self.classifier_(zs), self.classifier_(zt)
            batch_mean = torch.softmax(logits_target.detach(), dim=1).mean(0)
            mean_prediction = momentum * mean_prediction + (1 - momentum) * batch_mean
            if fixed is not None:
                row_weights = fixed[ys]
                row_weights = row_weights / row_weights.mean().clamp_min(1e-12)
            elif progress < warmup:
                row_weights = torch.ones(xs.shape[0], device=xs.device)
            else:
                gamma = class_weights_from_predictions(mean_prediction)
                row_weights = gamma[ys]
                row_weights = row_weights / row_weights.mean().clamp_min(1e-12)
            losses = F.cross_entropy(logits_source, ys, reduction="none")
            classification = (row_weights * losses).mean()
            adaptation.set_progress(progress)
            transfer = adaptation(zs, zt, row_weights)
            logs = {
                "classification": float(classification.detach()),
                "transfer": float(transfer.detach()),
                "domain_accuracy": adaptation.last_accuracy,
            }
            return classification + trade_off * transfer, logs

        self.history_ = self._train(
            "train", modules, step, data, self._validator(encoder, data), use_target=True
        )
        final = fixed if fixed is not None else class_weights_from_predictions(mean_prediction)
        self.class_weights_ = np.asarray(final.cpu().numpy(), dtype=float)


@register_method(
    "pada",
    "deep",
    "PADA: DANN with source classes weighted by their target predictions (Cao et al. 2018).",
    deep=True,
)
def _pada(estimator: Any, random_state: int | None, **params: Any) -> PADA:
    return PADA(random_state=random_state, **params)
