"""Stacked denoising autoencoders for domain adaptation (Glorot, Bordes & Bengio 2011).

Glorot et al. learn a representation on the *unlabelled* reviews of every domain together: each
layer is a denoising autoencoder with rectifier hidden units that reconstructs its input from a
copy with a share of the features masked to zero, so words that co-occur across domains end up in
shared hidden units; a linear classifier trained on the source representation then transfers.
Layers are trained greedily, each on the previous layer's output, with the one training loop of
:mod:`transferkit.deep.training`.

:class:`StackedDenoisingAutoencoder` is an adapter (``fit`` on a problem, ``transform`` rows), so
it composes with any scikit-learn classifier through
:class:`~transferkit.base.AdaptedClassifier`; ``sda`` in the registry does that.

Examples
--------
>>> import numpy as np
>>> from sklearn.linear_model import LogisticRegression
>>> from transferkit.base import AdaptedClassifier
>>> from transferkit.problem import TransferProblem
>>> rng = np.random.default_rng(0)
>>> X = (rng.random((200, 30)) < 0.2).astype(float); y = (X[:, :5].sum(1) > 1).astype(int)
>>> problem = TransferProblem(X[:100], y[:100], X[100:])
>>> sda = StackedDenoisingAutoencoder(hidden_sizes=(16,), epochs=2, random_state=0)
>>> AdaptedClassifier(sda, LogisticRegression()).fit(problem).predict(X[100:]).shape
(100,)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from transferkit.base import AdaptedClassifier, BaseAdapter, stack_rows
from transferkit.deep.training import as_progress, resolve_device, seed_everything, train
from transferkit.exceptions import InvalidParameterError
from transferkit.problem import DataMatrix, TransferProblem
from transferkit.registry import register_method


def mask_noise(x: Tensor, rate: float) -> Tensor:
    """Set a random share ``rate`` of the entries to zero (the denoising corruption)."""
    if rate <= 0:
        return x
    return x * (torch.rand_like(x) >= rate).to(x.dtype)


class DenoisingAutoencoder(nn.Module):
    """One layer: ``h = relu(W x̃ + b)``, reconstruction ``x̂ = W' h + b'`` (sigmoid on the first).

    Parameters
    ----------
    in_features, hidden : int
    sigmoid_output : bool
        Reconstruct inputs in [0, 1] with a sigmoid and cross-entropy (the first layer); else
        linear output and squared error (the layers above, whose inputs are rectified).
    """

    def __init__(self, in_features: int, hidden: int, sigmoid_output: bool):
        super().__init__()
        self.encoder = nn.Linear(in_features, hidden)
        self.decoder = nn.Linear(hidden, in_features)
        self.sigmoid_output = sigmoid_output

    def encode(self, x: Tensor) -> Tensor:
        return F.relu(self.encoder(x))

    def reconstruction_loss(self, x: Tensor, noise: float) -> Tensor:
        logits = self.decoder(self.encode(mask_noise(x, noise)))
        if self.sigmoid_output:
            return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]
        return F.mse_loss(logits, x, reduction="sum") / x.shape[0]


class StackedDenoisingAutoencoder(BaseAdapter):
    """SDA representation learned on source and target together (Glorot et al. 2011).

    Parameters
    ----------
    hidden_sizes : sequence of int, default (1000,)
        Width of each layer, trained greedily.
    noise : float, default 0.3
        Share of inputs masked to zero while training each layer.
    output : {"last", "concat"}, default "last"
        The top layer's code, or every layer's code side by side.
    epochs : int, default 10
    batch_size : int, default 64
    learning_rate : float, default 1e-3
    device : str, default "auto"
    random_state : int or None
    progress : bool or callback, default False
    patience : int or None, default None
        Early stopping: hold out ``validation_fraction`` of the rows (both domains) and stop a
        layer after this many epochs without a lower reconstruction loss on them, keeping its
        best epoch. None trains every layer for ``epochs`` epochs on all rows.
    validation_fraction : float, default 0.1
        Used only with ``patience``.
    checkpoint : str, Path or None, default None
        Directory of per-layer checkpoints (``layer1.pt``, ...); a second ``fit`` with the same
        directory resumes the interrupted layer after its last finished epoch and skips the
        finished ones (with ``random_state`` set, the result is the uninterrupted run's).

    Notes
    -----
    Inputs are scaled feature-wise by their largest absolute value over both domains (so counts
    fall in [0, 1], as the first layer's cross-entropy needs).
    """

    accepts_sparse = True

    def __init__(
        self,
        hidden_sizes: Sequence[int] = (1000,),
        noise: float = 0.3,
        output: str = "last",
        epochs: int = 10,
        batch_size: int = 64,
        learning_rate: float = 1e-3,
        device: str = "auto",
        random_state: int | None = None,
        progress: Any = False,
        patience: int | None = None,
        validation_fraction: float = 0.1,
        checkpoint: str | Path | None = None,
    ):
        self.hidden_sizes = hidden_sizes
        self.noise = noise
        self.output = output
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.device = device
        self.random_state = random_state
        self.progress = progress
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.checkpoint = checkpoint

    def _scaled(self, X: DataMatrix) -> Tensor:
        if sp.issparse(X):
            X = np.asarray(X.todense())
        values = np.asarray(X, dtype=np.float32) / self.scale_
        return torch.from_numpy(np.clip(values, -1.0, 1.0).astype(np.float32))

    def _fit(self, problem: TransferProblem) -> None:
        if not 0 <= self.noise < 1:
            raise InvalidParameterError(f"noise must be in [0, 1), got {self.noise}.")
        if self.output not in {"last", "concat"}:
            raise InvalidParameterError(f"output must be 'last' or 'concat', got {self.output!r}.")
        if not self.hidden_sizes:
            raise InvalidParameterError("hidden_sizes needs at least one layer.")
        seed_everything(self.random_state)
        self.device_ = resolve_device(self.device)
        X = stack_rows(problem.X_source, problem.X_target)
        largest = np.asarray(abs(X).max(axis=0).todense() if sp.issparse(X) else np.abs(X).max(0))
        self.scale_ = np.where(largest.ravel() > 0, largest.ravel(), 1.0).astype(np.float32)
        inputs = self._scaled(X)
        first_in_unit_range = bool(inputs.min() >= 0)
        held = np.zeros(inputs.shape[0], dtype=bool)
        if self.patience is not None:
            if not 0 < self.validation_fraction < 1:
                raise InvalidParameterError(
                    f"validation_fraction must be in (0, 1), got {self.validation_fraction}."
                )
            rng = np.random.default_rng(self.random_state)
            n_held = max(int(round(self.validation_fraction * inputs.shape[0])), 1)
            held[rng.choice(inputs.shape[0], n_held, replace=False)] = True
        self.layers_: list[DenoisingAutoencoder] = []
        self.histories_ = []
        for index, width in enumerate(self.hidden_sizes):
            layer = DenoisingAutoencoder(
                inputs.shape[1], int(width), sigmoid_output=index == 0 and first_in_unit_range
            ).to(self.device_)
            self.histories_.append(self._train_layer(index, layer, inputs, held))
            self.layers_.append(layer)
            inputs = self._encode_all(inputs, [layer])[-1]

    def _train_layer(
        self, index: int, layer: DenoisingAutoencoder, inputs: Tensor, held: np.ndarray
    ) -> Any:
        def step(x: Tensor, _y: Tensor, _t: Any, _p: float) -> Any:
            return layer.reconstruction_loss(x, self.noise), {}

        validate = None
        if held.any():
            held_rows = inputs[torch.from_numpy(held)].to(self.device_)

            def validate() -> float:  # higher is better: minus the clean reconstruction loss
                return -float(layer.reconstruction_loss(held_rows, 0.0))

        training = inputs[torch.from_numpy(~held)]
        checkpoint = None if self.checkpoint is None else Path(self.checkpoint)
        history = train(
            {"layer": layer},
            step,
            torch.optim.Adam(layer.parameters(), lr=self.learning_rate),
            training,
            torch.zeros(training.shape[0], dtype=torch.long),
            None,
            validate=validate,
            epochs=self.epochs,
            batch_size=self.batch_size,
            patience=self.patience,
            device=self.device_,
            random_state=self.random_state,
            checkpoint=None if checkpoint is None else checkpoint / f"layer{index + 1}.pt",
            progress=as_progress(self.progress, f"SDA layer {index + 1}"),
        )
        if checkpoint is not None:
            # the global generator after this layer (it initialises the next one): saved once,
            # restored on a resumed run, whose finished layers skip their training
            rng_file = checkpoint / f"layer{index + 1}.rng.pt"
            if rng_file.exists():
                torch.set_rng_state(torch.load(rng_file, weights_only=True))
            else:
                torch.save(torch.get_rng_state(), rng_file)
        return history

    @torch.no_grad()
    def _encode_all(self, inputs: Tensor, layers: list[DenoisingAutoencoder]) -> list[Tensor]:
        codes = []
        for layer in layers:
            outputs = [
                layer.encode(inputs[i : i + 1024].to(self.device_)).cpu()
                for i in range(0, inputs.shape[0], 1024)
            ]
            inputs = torch.cat(outputs)
            codes.append(inputs)
        return codes

    def _transform(self, X: DataMatrix, domain: int) -> np.ndarray:
        codes = self._encode_all(self._scaled(X), self.layers_)
        if self.output == "concat":
            return torch.cat(codes, dim=1).numpy()
        return codes[-1].numpy()


@register_method(
    "sda",
    "deep",
    "Stacked denoising autoencoders on both domains + the classifier (Glorot et al. 2011).",
    deep=True,
)
def _sda(estimator: Any, random_state: int | None, **params: Any) -> AdaptedClassifier:
    from transferkit.registry import make_classifier

    classifier = make_classifier(estimator or "logreg", random_state)
    return AdaptedClassifier(
        StackedDenoisingAutoencoder(random_state=random_state, **params), classifier
    )
