"""Few-shot learning with PyTorch: a head fine-tuned on the shots, and meta-trained embeddings.

- :class:`Conv4`: the four-block convolutional embedding of Vinyals et al. (2016) and Snell et al.
  (2017) (3x3 convolution, batch norm, ReLU, 2x2 max pooling, 64 maps each).
- :func:`prototypical_loss` (Snell et al. 2017, eq. 2-3) and :func:`matching_log_probs`
  (Vinyals et al. 2016, eq. 1-2, cosine attention over the shots, without full context
  embeddings): the episode losses.
- :func:`meta_train`: episodic training of an embedding on base classes (episodes drawn by
  :func:`~transferkit.fewshot.episodes.sample_episodes`), or ordinary classification training
  (the pre-training baseline of Chen et al. 2019 and Tian et al. 2020).
- :class:`MetaTrainedEmbedding`: meta-trains on a task's base classes, then classifies its
  episodes in the learnt space (nearest prototype, or matching attention).

Examples
--------
>>> import numpy as np
>>> from transferkit.fewshot import FewShotTask
>>> from transferkit.fewshot.networks import MetaTrainedEmbedding
>>> rng = np.random.default_rng(0)
>>> y = np.repeat(np.arange(10), 20)
>>> X = rng.normal(size=(200, 32)).astype(np.float32)
>>> base = y < 5
>>> task = FewShotTask(X[~base], y[~base], n_way=5, k_shot=1, n_query=5, n_episodes=20,
...                    X_base=X[base], y_base=y[base])
>>> method = MetaTrainedEmbedding(backbone="mlp", episodes=10, random_state=0)
>>> 0 <= method.score_problem(task) <= 1, len(method.losses_), method.details_["episodes"]
(True, 10, 20)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator
from torch import Tensor, nn

from transferkit.checks import check_choice, check_nonnegative, check_positive_int
from transferkit.deep.backbones import ImageReshape, MLPEncoder
from transferkit.deep.progress import ProgressCallback, as_progress
from transferkit.deep.training import apply_in_batches, seed_everything
from transferkit.exceptions import InvalidParameterError
from transferkit.fewshot.episodes import FewShotTask, sample_episodes
from transferkit.fewshot.methods import (
    EpisodicMethod,
    class_prototypes,
    l2_normalize,
    prototype_logits,
)
from transferkit.registry import register_method

OBJECTIVES = ("protonet", "matching", "classification")
BACKBONES = ("conv4", "mlp")
#: Scale of the cosine similarities in the matching attention: cosines lie in [-1, 1], and a
#: softmax over them unscaled cannot become confident (the learnt-scale remedy of Gidaris &
#: Komodakis 2018, fixed here).
MATCHING_SCALE = 10.0


# --------------------------------------------------------------------------- networks
class Conv4(nn.Module):
    """Four blocks of 3x3 convolution (``width`` maps), batch norm, ReLU and 2x2 max pooling.

    The embedding of matching networks (Vinyals et al. 2016, section 4.1) and prototypical
    networks (Snell et al. 2017, section 3.2); a 28x28 image ends as ``width`` features.

    Parameters
    ----------
    image_shape : tuple, default (28, 28)
        ``(H, W)`` or ``(H, W, C)``; inputs are flattened rows.
    width : int, default 64
    """

    def __init__(self, image_shape: Sequence[int] = (28, 28), width: int = 64):
        super().__init__()
        self.reshape = ImageReshape(image_shape)
        blocks: list[nn.Module] = []
        channels = self.reshape.channels
        for _ in range(4):
            blocks += [
                nn.Conv2d(channels, width, kernel_size=3, padding=1),
                nn.BatchNorm2d(width),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            channels = width
        self.blocks = nn.Sequential(*blocks)
        height, width_px = self.reshape.image_shape[:2]
        if min(height, width_px) < 16:
            raise InvalidParameterError(
                f"Conv4 needs images of at least 16x16 pixels, got {height}x{width_px}."
            )
        self.out_features = width * (height // 16) * (width_px // 16)

    def forward(self, x: Tensor) -> Tensor:
        return torch.flatten(self.blocks(self.reshape(x)), 1)


# --------------------------------------------------------------------------- episode losses
def prototypical_logits(
    support: Tensor, support_labels: Tensor, query: Tensor, n_way: int
) -> Tensor:
    """``-||f(x) - c_k||²`` for each query and class prototype ``c_k`` (Snell et al. 2017, eq. 2)."""
    one_hot = F.one_hot(support_labels, n_way).to(support.dtype)
    prototypes = (one_hot.T @ support) / one_hot.sum(dim=0)[:, None]
    return -torch.cdist(query, prototypes).pow(2)


def prototypical_loss(
    support: Tensor, support_labels: Tensor, query: Tensor, query_labels: Tensor, n_way: int
) -> Tensor:
    """Cross-entropy of the queries under the softmax over negative squared distances to the
    prototypes (Snell et al. 2017, eq. 2-3)."""
    return F.cross_entropy(prototypical_logits(support, support_labels, query, n_way), query_labels)


def matching_log_probs(
    support: Tensor,
    support_labels: Tensor,
    query: Tensor,
    n_way: int,
    scale: float = MATCHING_SCALE,
) -> Tensor:
    """Log-probabilities of matching networks: ``P(y | x) = sum_i a(x, x_i) y_i`` with the
    attention ``a`` a softmax over the scaled cosine similarities to the shots (Vinyals et al.
    2016, eq. 1-2; no full context embeddings)."""
    attention = torch.softmax(
        scale * F.normalize(query, dim=1) @ F.normalize(support, dim=1).T, dim=1
    )
    probabilities = attention @ F.one_hot(support_labels, n_way).to(attention.dtype)
    return torch.log(probabilities.clamp_min(1e-12))


def _build_backbone(backbone: str, image_shape: Any, n_features: int, width: int) -> nn.Module:
    if backbone == "conv4":
        if image_shape is None:
            raise InvalidParameterError(
                "backbone='conv4' needs images: the task has no image_shape (its rows are "
                "features); use backbone='mlp'."
            )
        return Conv4(image_shape, width=width)
    return MLPEncoder(n_features, hidden=(256, 128))


def meta_train(
    backbone: nn.Module,
    X_base: np.ndarray,
    y_base: np.ndarray,
    *,
    objective: str = "protonet",
    n_way: int = 5,
    k_shot: int = 5,
    n_query: int = 15,
    episodes: int = 1000,
    lr: float = 1e-3,
    batch_size: int = 64,
    random_state: int | None = None,
    progress: ProgressCallback | None = None,
) -> list[float]:
    """Train ``backbone`` on base classes, episode by episode or as a plain classifier.

    Parameters
    ----------
    backbone : nn.Module
        The embedding, trained in place.
    X_base, y_base : arrays
        Base-class rows and labels.
    objective : {"protonet", "matching", "classification"}, default "protonet"
        :func:`prototypical_loss`, the matching-network cross-entropy
        (:func:`matching_log_probs`), or cross-entropy of a linear head over all base classes on
        mini-batches of ``batch_size`` (default 64; Chen et al. 2019's baseline; one step per "episode").
    n_way, k_shot, n_query : int
        The training episodes (``n_way`` at most the number of base classes).
    episodes : int, default 1000
        Training steps.
    lr : float, default 1e-3
        Adam's learning rate.
    random_state : int or None
        Seeds the episodes, the batches and torch's initialisation.
    progress : ProgressCallback or None

    Returns
    -------
    list of float
        The loss of each step.
    """
    seed_everything(random_state)
    X = torch.as_tensor(np.asarray(X_base, dtype=np.float32))
    classes, y_index = np.unique(np.asarray(y_base), return_inverse=True)
    n_way = min(n_way, len(classes))
    parameters = list(backbone.parameters())
    head = None
    if objective == "classification":
        with torch.no_grad():
            backbone.eval()
            width = backbone(X[:2]).shape[1]
        head = nn.Linear(width, len(classes))
        parameters += list(head.parameters())
    optimizer = torch.optim.Adam(parameters, lr=lr)
    rng = np.random.default_rng(random_state)
    plan = (
        sample_episodes(y_index, n_way, k_shot, n_query, episodes, random_state=rng)
        if objective != "classification"
        else None
    )
    y_all = torch.as_tensor(y_index)
    losses = []
    backbone.train()
    if progress is not None:
        progress.on_start(total_epochs=1, steps_per_epoch=episodes, first_epoch=0)
    try:
        for step in range(episodes):
            if plan is None:
                rows = torch.as_tensor(
                    rng.choice(len(X), size=min(batch_size, len(X)), replace=False)
                )
                loss = F.cross_entropy(head(backbone(X[rows])), y_all[rows])  # type: ignore[misc]
            else:
                episode = plan[step]
                rows = np.concatenate([episode.support_index, episode.query_index])
                embedded = backbone(X[torch.as_tensor(rows)])
                support = embedded[: len(episode.support_index)]
                query = embedded[len(episode.support_index) :]
                s_labels = torch.as_tensor(episode.support_labels)
                q_labels = torch.as_tensor(episode.query_labels)
                if objective == "protonet":
                    loss = prototypical_loss(support, s_labels, query, q_labels, n_way)
                else:
                    loss = F.nll_loss(matching_log_probs(support, s_labels, query, n_way), q_labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            if progress is not None:
                progress.on_step({"loss": losses[-1]})
    finally:
        if progress is not None:
            progress.on_end()
    backbone.eval()
    return losses


# --------------------------------------------------------------------------- methods
class MetaTrainedEmbedding(EpisodicMethod, BaseEstimator):
    """Meta-train an embedding on the task's base classes, then classify its episodes in it.

    ``protonet``: prototypical networks (Snell et al. 2017), nearest prototype in the learnt
    space; ``matching``: matching networks (Vinyals et al. 2016), attention over the shots;
    ``classification``: a classifier trained on all base classes, then nearest prototype on its
    unit-length features (Chen et al. 2019; Tian et al. 2020). The test episodes' classes are
    never seen in training.

    Parameters
    ----------
    objective : {"protonet", "matching", "classification"}, default "protonet"
    backbone : {"conv4", "mlp"}, default "conv4"
        :class:`Conv4` for images (the task's ``image_shape``), an MLP (256, 128) for vectors.
    train_way : int, default 5
        Classes per training episode (at most the base classes).
    train_shot : int or None, default None
        Shots per class in training; None matches the task's ``k_shot`` (Snell et al. train
        with the test shot).
    train_query : int, default 5
        Queries per class in a training episode.
    episodes : int, default 1000
        Training episodes (steps).
    width : int, default 32
        Feature maps of each :class:`Conv4` block. 32 maps and 5 training queries per class
        (64 and 15 in Snell et al. 2017) keep meta-training to a minute or two on a CPU core.
    lr : float, default 1e-3
    random_state : int or None, default None
    progress : bool or ProgressCallback, default False
        A bar (True) or a callback over the training steps.

    Examples
    --------
    >>> MetaTrainedEmbedding(objective="matching").get_params()["objective"]
    'matching'
    """

    def __init__(
        self,
        objective: str = "protonet",
        backbone: str = "conv4",
        train_way: int = 5,
        train_shot: int | None = None,
        train_query: int = 5,
        episodes: int = 1000,
        width: int = 32,
        lr: float = 1e-3,
        random_state: int | None = None,
        progress: Any = False,
    ):
        self.width = width
        self.objective = objective
        self.backbone = backbone
        self.train_way = train_way
        self.train_shot = train_shot
        self.train_query = train_query
        self.episodes = episodes
        self.lr = lr
        self.random_state = random_state
        self.progress = progress

    def _check_params(self) -> None:
        name = f"MetaTrainedEmbedding({self.objective!r})"
        check_choice(self.objective, "objective", name, OBJECTIVES)
        check_choice(self.backbone, "backbone", name, BACKBONES)
        check_positive_int(self.train_way, "train_way", name)
        if self.train_shot is not None:
            check_positive_int(self.train_shot, "train_shot", name)
        check_positive_int(self.train_query, "train_query", name)
        check_positive_int(self.episodes, "episodes", name)
        check_positive_int(self.width, "width", name)
        check_nonnegative(self.lr, "lr", name, strict=True)

    def embed_task(self, task: FewShotTask) -> tuple[np.ndarray, np.ndarray]:
        self._check_params()
        X_base, y_base = task.require_base(f"{self.objective} meta-training")
        n_features = np.asarray(task.X_support).shape[1]
        seed_everything(self.random_state)  # the network's initial weights
        network = _build_backbone(self.backbone, task.image_shape, n_features, self.width)
        self.losses_ = meta_train(
            network,
            X_base,
            y_base,
            objective=self.objective,
            n_way=self.train_way,
            k_shot=self.train_shot or task.k_shot,
            n_query=self.train_query,
            episodes=self.episodes,
            lr=self.lr,
            random_state=self.random_state,
            progress=as_progress(self.progress, f"{self.objective} meta-training"),
        )
        self.network_ = network

        def embed(X: Any) -> np.ndarray:
            rows = torch.as_tensor(np.asarray(X, dtype=np.float32))
            return apply_in_batches(network, rows, torch.device("cpu")).numpy().astype(np.float64)

        X_query, _ = task.query_pool
        support = embed(task.X_support)
        return support, (support if task.X_query is None else embed(X_query))

    def predict_episode(
        self, X_support: np.ndarray, y_support: np.ndarray, X_query: np.ndarray
    ) -> np.ndarray:
        n_way = int(y_support.max()) + 1
        if self.objective == "matching":
            log_probs = matching_log_probs(
                torch.as_tensor(X_support),
                torch.as_tensor(y_support),
                torch.as_tensor(X_query),
                n_way,
            )
            return log_probs.argmax(dim=1).numpy()
        if self.objective == "classification":
            X_support, X_query = l2_normalize(X_support), l2_normalize(X_query)
        prototypes = class_prototypes(X_support, y_support, n_way)
        return prototype_logits(X_query, prototypes).argmax(axis=1)


# --------------------------------------------------------------------------- registry
@register_method(
    "protonet",
    "fewshot",
    "Prototypical networks: a Conv-4 meta-trained on base-class episodes (Snell et al. 2017)",
    deep=True,
)
def _protonet(estimator: Any, random_state: int | None, **params: Any) -> MetaTrainedEmbedding:
    return MetaTrainedEmbedding(objective="protonet", random_state=random_state, **params)


@register_method(
    "matching_net",
    "fewshot",
    "Matching networks: a Conv-4 meta-trained with cosine attention (Vinyals et al. 2016)",
    deep=True,
)
def _matching_net(estimator: Any, random_state: int | None, **params: Any) -> MetaTrainedEmbedding:
    return MetaTrainedEmbedding(objective="matching", random_state=random_state, **params)


@register_method(
    "pretrain_prototypes",
    "fewshot",
    "A Conv-4 trained to classify the base classes, then prototypes on it (Tian et al. 2020)",
    deep=True,
)
def _pretrain_prototypes(
    estimator: Any, random_state: int | None, **params: Any
) -> MetaTrainedEmbedding:
    return MetaTrainedEmbedding(objective="classification", random_state=random_state, **params)
