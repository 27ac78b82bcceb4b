"""Deep methods that separate what the domains share from what they do not, and soft labels.

============================================  ======================================================  ============================
class                                         what it adds to the source cross-entropy                registry name
============================================  ======================================================  ============================
:class:`DomainSeparationNetwork`              private encoders, shared decoder, difference loss       ``dsn``
:class:`DomainConfusionSoftLabels`            domain confusion + the source's soft labels on the      ``domain_confusion_soft``
                                              few labelled target rows (Tzeng et al. 2015)
============================================  ======================================================  ============================

Both are :class:`~transferkit.deep.methods.DeepTransferClassifier` subclasses trained by the one
loop, :func:`~transferkit.deep.training.train`; their losses live in
:mod:`transferkit.deep.losses` (:func:`~transferkit.deep.losses.scale_invariant_mse`,
:func:`~transferkit.deep.losses.difference_loss`, :func:`~transferkit.deep.losses.soft_labels`,
:func:`~transferkit.deep.losses.soft_label_loss`).

Examples
--------
>>> import numpy as np
>>> from transferkit.deep.separation import DomainSeparationNetwork
>>> from transferkit.problem import TransferProblem
>>> rng = np.random.default_rng(0)
>>> Xs = rng.normal(size=(100, 4)); Xt = Xs + 0.5
>>> model = DomainSeparationNetwork(epochs=2, random_state=0)
>>> model.fit(TransferProblem(Xs, Xs[:, 0] > 0, Xt)).predict(Xt).shape
(100,)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from transferkit.checks import check_choice, check_nonnegative
from transferkit.deep.losses import (
    DifferenceLoss,
    DomainAdversarialLoss,
    DomainConfusionLoss,
    MMDLoss,
    ScaleInvariantMSELoss,
    soft_label_loss,
    soft_labels,
)
from transferkit.deep.methods import DeepTransferClassifier, DomainConfusion
from transferkit.deep.training import apply_in_batches
from transferkit.exceptions import NotApplicableError
from transferkit.registry import register_method

__all__ = ["DomainConfusionSoftLabels", "DomainSeparationNetwork"]


class DomainSeparationNetwork(DeepTransferClassifier):
    """Domain separation networks (Bousmalis et al. 2016): shared and private encoders.

    A shared encoder ``E_c`` (the representation the classifier reads, the same network as every
    other deep method) and one private encoder per domain ``E_p^s``, ``E_p^t`` (same
    architecture); a shared decoder ``D`` reconstructs each input from the sum of its shared and
    private codes. The loss (Eq. 1) is

    ``CE(source) + trade_off × L_similarity + α × L_recon + β × L_difference``

    with ``L_recon`` the scale-invariant MSE of both domains' reconstructions (Eq. 4,
    :func:`~transferkit.deep.losses.scale_invariant_mse`), ``L_difference`` the soft orthogonality
    of shared and private codes in each domain (Eq. 5,
    :func:`~transferkit.deep.losses.difference_loss`) and ``L_similarity`` on the shared codes:
    the multi-kernel MMD (Eq. 7, the default) or DANN's domain classifier behind gradient
    reversal (Eq. 6). The private encoders take what is specific to a domain (MNIST-M's coloured
    backgrounds), so the shared code need not carry it, and the reconstruction keeps the
    private encoders from learning nothing. Prediction uses the shared encoder and the classifier.
    MMD is the default because on the digits pairs a domain classifier on LeNet codes hurts
    (``dann`` and DSN with ``"dann"`` fall below source-only, see the benchmarks page).

    The parameters are those of :class:`~transferkit.deep.methods.DeepTransferClassifier`;
    ``trade_off`` weighs the similarity loss. ``loss_params`` (fixed a priori, never tuned on
    target labels): ``similarity`` (``"mmd"`` or ``"dann"``, default ``"mmd"``),
    ``reconstruction_weight`` α (default 0.1), ``difference_weight`` β (default 0.1), and for
    ``"dann"`` the domain classifier's ``hidden`` widths ((100,)), ``gamma`` (10) and
    ``maximum`` (1) of the λ schedule, as :class:`~transferkit.deep.methods.DANN`.

    Notes
    -----
    Labelled target rows, when the problem has some, are trained with the source rows (as by
    every deep method) and go through the source private encoder. The decoder is a two-layer
    MLP from the code to the flattened input, for images too: the reconstruction is a
    regulariser of the private codes here, not an image model.

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.deep.separation import DomainSeparationNetwork
    >>> from transferkit.problem import TransferProblem
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(100, 4)); Xt = Xs + 0.5
    >>> model = DomainSeparationNetwork(epochs=2, loss_params={"similarity": "dann"}, random_state=0)
    >>> model.fit(TransferProblem(Xs, Xs[:, 0] > 0, Xt)).predict_proba(Xt).shape
    (100, 2)
    """

    default_loss_params: dict[str, Any] = {
        "similarity": "mmd",
        "reconstruction_weight": 0.1,
        "difference_weight": 0.1,
        "hidden": (100,),
        "gamma": 10.0,
        "maximum": 1.0,
    }

    def _check_loss_params(self) -> None:
        name = type(self).__name__
        params = self._checked_loss_params()
        check_choice(params["similarity"], "similarity", name, ("dann", "mmd"))
        for weight in ("reconstruction_weight", "difference_weight"):
            check_nonnegative(params[weight], weight, name)

    def _fit_networks(self, data: dict[str, Any]) -> None:
        params = self._loss_params()
        n_features = self.n_features_in_
        shared = self._make_encoder(n_features).to(self.device_)
        private_source = self._make_encoder(n_features).to(self.device_)
        private_target = self._make_encoder(n_features).to(self.device_)
        width = shared.out_features
        decoder = nn.Sequential(
            nn.Linear(width, 2 * width), nn.ReLU(), nn.Linear(2 * width, n_features)
        ).to(self.device_)
        classifier = nn.Linear(width, len(self.classes_)).to(self.device_)
        if params["similarity"] == "dann":
            similarity: nn.Module = DomainAdversarialLoss(
                width, params["hidden"], params["gamma"], params["maximum"]
            )
        else:
            similarity = MMDLoss()
        similarity = similarity.to(self.device_)
        self.encoder_ = shared
        self.classifier_ = classifier
        self.adaptation_ = similarity
        self.private_source_encoder_ = private_source
        self.private_target_encoder_ = private_target
        self.decoder_ = decoder
        reconstruction_loss = ScaleInvariantMSELoss()
        orthogonality = DifferenceLoss()
        trade_off = self.trade_off
        alpha = float(params["reconstruction_weight"])
        beta = float(params["difference_weight"])

        def step(xs: Tensor, ys: Tensor, xt: Tensor | None, progress: float) -> Any:
            shared_source = shared(xs)
            classification = F.cross_entropy(classifier(shared_source), ys)
            if xt is None:
                return classification, {}
            shared_target = shared(xt)
            private_s, private_t = private_source(xs), private_target(xt)
            reconstruction = reconstruction_loss(
                xs, decoder(shared_source + private_s)
            ) + reconstruction_loss(xt, decoder(shared_target + private_t))
            difference = orthogonality(shared_source, private_s) + orthogonality(
                shared_target, private_t
            )
            if hasattr(similarity, "set_progress"):
                similarity.set_progress(progress)
            similar = similarity(shared_source, shared_target)
            loss = classification + trade_off * similar + alpha * reconstruction + beta * difference
            logs = {
                "classification": float(classification.detach()),
                "similarity": float(similar.detach()),
                "reconstruction": float(reconstruction.detach()),
                "difference": float(difference.detach()),
            }
            if hasattr(similarity, "last_accuracy"):
                logs["domain_accuracy"] = similarity.last_accuracy
            return loss, logs

        modules = {
            "shared_encoder": shared,
            "private_source_encoder": private_source,
            "private_target_encoder": private_target,
            "decoder": decoder,
            "classifier": classifier,
            "similarity": similarity,
        }
        self.history_ = self._train("train", modules, step, data, self._validator(shared, data))


class DomainConfusionSoftLabels(DomainConfusion):
    """Domain confusion with soft labels (Tzeng et al. 2015): both halves of the paper.

    The domain half is :class:`~transferkit.deep.methods.DomainConfusion` (Eq. 2-3). The task half
    needs a few labelled target rows: a first stage trains the network on the labelled rows
    (source and the target's few), then each class's *soft label* is the mean of the softened
    probabilities ``softmax(z / T)`` over the source rows of that class
    (:func:`~transferkit.deep.losses.soft_labels`); the second stage continues from those
    weights with ``CE + trade_off × confusion + soft_label_weight × L_soft``, where ``L_soft``
    (Eq. 4, :func:`~transferkit.deep.losses.soft_label_loss`) pulls every labelled target row's
    softened output towards its class's soft label, so the target learns which classes the source
    finds alike, not only its few hard labels. Each stage runs ``epochs`` epochs.

    The parameters are those of :class:`~transferkit.deep.methods.DeepTransferClassifier`.
    ``loss_params`` (fixed a priori, never tuned on target labels): ``hidden`` (domain
    classifier widths, (100,)), ``temperature`` T (2.0), ``soft_label_weight`` (1.0).

    Notes
    -----
    Without target labels there is nothing to apply the soft labels to: ``fit`` raises
    :class:`~transferkit.exceptions.NotApplicableError` (use ``domain_confusion``, or reveal a few
    target labels with ``problem.with_target_labels(n_per_class)``).

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.deep.separation import DomainConfusionSoftLabels
    >>> from transferkit.problem import TransferProblem
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(100, 4)); Xt = Xs + 0.5
    >>> problem = TransferProblem(Xs, Xs[:, 0] > 0, Xt, y_target=Xt[:, 0] > 0.5)
    >>> model = DomainConfusionSoftLabels(epochs=2, random_state=0)
    >>> model.fit(problem.with_target_labels(3, random_state=0)).soft_labels_.shape
    (2, 2)
    """

    default_loss_params: dict[str, Any] = {
        "hidden": (100,),
        "temperature": 2.0,
        "soft_label_weight": 1.0,
    }

    def _check_loss_params(self) -> None:
        name = type(self).__name__
        params = self._checked_loss_params()
        check_nonnegative(params["temperature"], "temperature", name, strict=True)
        check_nonnegative(params["soft_label_weight"], "soft_label_weight", name)

    def _fit_networks(self, data: dict[str, Any]) -> None:
        problem = data["problem"]
        if problem.n_target_labeled == 0:
            raise NotApplicableError(
                "domain_confusion_soft needs a few labelled target rows for its soft-label loss, "
                "and this problem has none; reveal some with "
                "problem.with_target_labels(n_per_class) (target_labels = N in a suite), or use "
                "domain_confusion."
            )
        params = self._loss_params()
        temperature = float(params["temperature"])
        soft_weight = float(params["soft_label_weight"])
        encoder = self._make_encoder(self.n_features_in_).to(self.device_)
        classifier = nn.Linear(encoder.out_features, len(self.classes_)).to(self.device_)
        self.encoder_ = encoder
        self.classifier_ = classifier
        validate = self._validator(encoder, data)

        def source_step(xs: Tensor, ys: Tensor, xt: Tensor | None, progress: float) -> Any:
            return F.cross_entropy(classifier(encoder(xs)), ys), {}

        self.source_history_ = self._train(
            "source",
            {"encoder": encoder, "classifier": classifier},
            source_step,
            data,
            validate,
            use_target=False,
        )
        X_source = self.input_encoder_(problem.X_source)
        y_source = torch.from_numpy(problem.encode_labels(problem.y_source)).long()
        logits = apply_in_batches(lambda x: classifier(encoder(x)), X_source, self.device_)
        class_soft_labels = soft_labels(logits, y_source, len(self.classes_), temperature)
        self.soft_labels_ = class_soft_labels.numpy()
        class_soft_labels = class_soft_labels.to(self.device_)
        labeled = np.flatnonzero(problem.target_labeled)
        X_labeled = data["X_target"][labeled].to(self.device_)
        y_labeled = (
            torch.from_numpy(problem.encode_labels(problem.y_target[labeled]))
            .long()
            .to(self.device_)
        )
        adaptation = DomainConfusionLoss(encoder.out_features, params["hidden"]).to(self.device_)
        self.adaptation_ = adaptation
        trade_off = self.trade_off

        def step(xs: Tensor, ys: Tensor, xt: Tensor | None, progress: float) -> Any:
            zs = encoder(xs)
            classification = F.cross_entropy(classifier(zs), ys)
            if xt is None:
                return classification, {}
            confusion = adaptation(zs, encoder(xt))
            soft = soft_label_loss(
                classifier(encoder(X_labeled)), y_labeled, class_soft_labels, temperature
            )
            loss = classification + trade_off * confusion + soft_weight * soft
            return loss, {
                "classification": float(classification.detach()),
                "transfer": float(confusion.detach()),
                "soft_labels": float(soft.detach()),
                "domain_accuracy": adaptation.last_accuracy,
            }

        self.history_ = self._train(
            "train",
            {"encoder": encoder, "classifier": classifier, "adaptation": adaptation},
            step,
            data,
            validate,
        )


# ----------------------------------------------------------------------------- registry


@register_method(
    "dsn",
    "deep",
    "Domain separation networks: shared + private encoders, difference and reconstruction "
    "losses (Bousmalis et al. 2016).",
    deep=True,
)
def _dsn(estimator: Any, random_state: int | None, **params: Any) -> DomainSeparationNetwork:
    return DomainSeparationNetwork(random_state=random_state, **params)


@register_method(
    "domain_confusion_soft",
    "deep",
    "Domain confusion + soft labels on a few labelled target rows (Tzeng et al. 2015).",
    needs_target_labels=True,
    deep=True,
)
def _domain_confusion_soft(
    estimator: Any, random_state: int | None, **params: Any
) -> DomainConfusionSoftLabels:
    return DomainConfusionSoftLabels(random_state=random_state, **params)
