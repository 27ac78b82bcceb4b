"""Adapt a user's own trained network to a target domain with its labelled source data.

:class:`NetworkAdapter` fine-tunes a copy of any classification network (an ``nn.Module`` whose
output is the class logits) on its labelled source rows while it aligns the features under its
classification head (found as SHOT finds it, :func:`~transferkit.deep.source_free.find_head`)
between the source and the unlabelled target: multi-kernel MMD (DAN, Long et al. 2015), the
covariance distance of Deep CORAL (Sun & Saenko 2016) or a domain classifier behind a gradient
reversal layer (DANN, Ganin et al. 2016), the losses of :mod:`transferkit.deep.losses`, through
the project's one training loop. Source and target batches go through the network separately,
so batch normalisation sees one domain at a time, and afterwards its statistics are those of
the target (:func:`~transferkit.deep.training.recalibrate_batch_norm`), as the deep methods of
:mod:`transferkit.deep.methods` do for their own networks.

Examples
--------
>>> import torch
>>> from torch import nn
>>> from transferkit.deep.network_adaptation import NetworkAdapter
>>> torch.manual_seed(0)  # doctest: +ELLIPSIS
<torch._C.Generator object at ...>
>>> net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
>>> Xs, ys = torch.randn(64, 4), torch.randint(0, 2, (64,))
>>> adapter = NetworkAdapter(net, method="deep_coral", epochs=1).fit(Xs, ys, torch.randn(64, 4) + 1)
>>> adapter.predict(torch.randn(5, 4) + 1).shape
(5,)
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from transferkit.checks import check_choice, check_nonnegative, check_positive_int
from transferkit.deep.losses import CORALLoss, DomainAdversarialLoss, MMDLoss
from transferkit.deep.progress import as_progress
from transferkit.deep.source_free import as_rows, find_head
from transferkit.deep.training import (
    apply_in_batches,
    batch_norm_layers,
    eval_mode,
    recalibrate_batch_norm,
    resolve_device,
    train,
)
from transferkit.exceptions import InvalidParameterError, NotApplicableError

__all__ = ["NETWORK_METHODS", "NetworkAdapter"]

#: The alignment losses, by name: what each adds to the source's cross-entropy.
NETWORK_METHODS = {
    "dan": "multi-kernel MMD between the source's and the target's features (Long et al. 2015)",
    "deep_coral": "the distance between their covariances (Sun & Saenko 2016)",
    "dann": "a domain classifier behind a gradient reversal layer (Ganin et al. 2016)",
}


class NetworkAdapter:
    """Fine-tune a copy of ``model`` on labelled source rows while aligning its features with
    the target's.

    Parameters
    ----------
    model : nn.Module
        A trained classifier whose output is the class logits; never changed (the adapted copy
        is ``model_``).
    method : {"dan", "deep_coral", "dann"}, default "dan"
        The alignment loss (:data:`NETWORK_METHODS`). DANN's reversed gradient is the most
        sensitive to ``trade_off``: on a small digit network adapted from 2,000 MNIST to 2,000
        MNIST-M digits (seeds 0 and 1), 1.0 cost 10 to 16 points and 0.1 gained 8 to 9, where
        DAN gained 18 to 20 and Deep CORAL 10 at 1.0 (docs/guides/deep.md).
    head : str or None, default None
        The submodule whose output is the logits (:func:`~transferkit.deep.source_free.find_head`);
        its input is the feature aligned.
    trade_off : float, default 1.0
        Weight of the alignment loss against the source's cross-entropy.
    epochs : int, default 5
        Passes over the source rows (one target batch is drawn with each source batch).
    batch_size : int, default 64
    learning_rate : float, default 1e-4
        Adam's rate: a fine-tuning rate, the network starts trained.
    device : str, default "auto"
    random_state : int or None, default None
    progress : bool or callback, default False
    """

    def __init__(
        self,
        model: nn.Module,
        method: str = "dan",
        head: str | None = None,
        trade_off: float = 1.0,
        epochs: int = 5,
        batch_size: int = 64,
        learning_rate: float = 1e-4,
        device: str = "auto",
        random_state: int | None = None,
        progress: Any = False,
    ):
        self.model = model
        self.method = method
        self.head = head
        self.trade_off = trade_off
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.device = device
        self.random_state = random_state
        self.progress = progress

    def _check(self) -> None:
        name = type(self).__name__
        check_choice(self.method, "method", name, tuple(NETWORK_METHODS))
        if not isinstance(self.model, nn.Module) or isinstance(self.model, torch.jit.ScriptModule):
            raise NotApplicableError(
                f"{name} adapts a PyTorch network (nn.Module, not TorchScript); got "
                f"{type(self.model).__name__}."
            )
        for count in ("epochs", "batch_size"):
            check_positive_int(getattr(self, count), count, name)
        check_nonnegative(self.trade_off, "trade_off", name)
        check_nonnegative(self.learning_rate, "learning_rate", name, strict=True)

    def fit(self, X_source: Any, y_source: Any, X_target: Any) -> NetworkAdapter:
        """Adapt a copy of the model: labelled ``X_source`` (class columns ``y_source``, 0 to
        n_outputs - 1), unlabelled ``X_target``."""
        self._check()
        Xs, Xt = as_rows(X_source, "X_source"), as_rows(X_target, "X_target")
        ys = torch.as_tensor(np.asarray(y_source), dtype=torch.long)
        if len(ys) != len(Xs):
            raise InvalidParameterError(
                f"y_source has {len(ys)} labels for {len(Xs)} source rows; give one per row."
            )
        if Xs.shape[1:] != Xt.shape[1:]:
            raise InvalidParameterError(
                f"Source rows have shape {tuple(Xs.shape[1:])} and target rows "
                f"{tuple(Xt.shape[1:])}: the network takes one shape."
            )
        where = resolve_device(self.device)
        model = copy.deepcopy(self.model).to(where)
        _, head = find_head(model, self.head, who="NetworkAdapter")
        captured: dict[str, Tensor] = {}
        hook = head.register_forward_pre_hook(
            lambda _module, inputs: captured.__setitem__("features", inputs[0].flatten(1))
        )
        try:
            with torch.no_grad(), eval_mode(model):
                logits = model(Xs[:2].to(where))
            if logits.ndim != 2 or int(ys.max()) >= logits.shape[1] or int(ys.min()) < 0:
                raise InvalidParameterError(
                    f"The network gives {tuple(logits.shape[1:])} outputs per row; the source "
                    f"labels must be class columns 0 to {logits.shape[-1] - 1}."
                )
            width = captured["features"].shape[1]
            with torch.random.fork_rng(devices=[]):  # DANN's domain classifier: seeded weights
                if self.random_state is not None:
                    torch.manual_seed(self.random_state)
                alignment: nn.Module = {
                    "dan": lambda: MMDLoss(),
                    "deep_coral": lambda: CORALLoss(),
                    "dann": lambda: DomainAdversarialLoss(width),
                }[self.method]().to(where)

            def step(xs: Tensor, y: Tensor, xt: Tensor | None, progress: float) -> Any:
                if isinstance(alignment, DomainAdversarialLoss):
                    alignment.set_progress(progress)
                source_logits = model(xs)  # one domain per pass: batch norm sees one domain
                source_features = captured["features"]
                model(xt)
                classification = F.cross_entropy(source_logits, y)
                aligned = alignment(source_features, captured["features"])
                return classification + self.trade_off * aligned, {
                    "classification": float(classification.detach()),
                    "alignment": float(aligned.detach()),
                }

            parameters = [*model.parameters(), *alignment.parameters()]
            self.history_ = train(
                {"model": model, "alignment": alignment},
                step,
                torch.optim.Adam(parameters, lr=self.learning_rate),
                Xs,
                ys,
                Xt,
                epochs=self.epochs,
                batch_size=self.batch_size,
                patience=None,
                device=where,
                random_state=self.random_state,
                progress=as_progress(self.progress, f"{self.method} adaptation"),
            )
        finally:
            hook.remove()
        if batch_norm_layers(model):  # the target's statistics, as the network now sees it
            recalibrate_batch_norm(model, Xt, where, self.batch_size)
        self.model_ = model.eval()
        self.device_ = where
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities of rows ``X`` under the adapted network."""
        if not hasattr(self, "model_"):
            raise NotApplicableError("NetworkAdapter is not fitted: call fit first.")
        logits = apply_in_batches(self.model_, as_rows(X, "X"), self.device_, self.batch_size)
        return torch.softmax(logits, 1).numpy()

    def predict(self, X: Any) -> np.ndarray:
        """Class columns of rows ``X`` under the adapted network."""
        return self.predict_proba(X).argmax(1)
