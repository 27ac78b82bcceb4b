"""Few-shot classifiers on fixed features: prototypes, soft k-means refinement, a linear probe.

The math is in plain functions on arrays (:func:`class_prototypes`, :func:`prototype_logits`,
:func:`soft_kmeans_prototypes`); the classes put a scikit-learn face on them and score a
:class:`~transferkit.fewshot.episodes.FewShotTask` episode by episode (:class:`EpisodicMethod`).
On features of an ImageNet-pre-trained network, the nearest-prototype rule without any
meta-training is the strong baseline of Chen et al. (2019) and Tian et al. (2020); its
classifier is that of prototypical networks (Snell et al. 2017, eq. 1-2).

Examples
--------
>>> import numpy as np
>>> from transferkit.fewshot import FewShotTask, PrototypeClassifier
>>> rng = np.random.default_rng(0)
>>> y = np.repeat(np.arange(8), 20)
>>> X = rng.normal(size=(160, 16)) + 3 * np.eye(16)[y]
>>> task = FewShotTask(X, y, n_way=5, k_shot=1, n_query=5, n_episodes=50, random_state=0)
>>> PrototypeClassifier().score_problem(task) > 0.6
True
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from transferkit.checks import check_choice, check_nonnegative, check_positive_int
from transferkit.exceptions import NotFittedError, ParameterValueError
from transferkit.fewshot.episodes import (
    EpisodeProgress,
    FewShotTask,
    episode_accuracy_summary,
)
from transferkit.registry import register_method

logger = logging.getLogger(__name__)

NORMALIZATIONS = ("l2", "none")
METRICS = ("euclidean", "cosine")


# --------------------------------------------------------------------------- the math
def l2_normalize(X: np.ndarray) -> np.ndarray:
    """Each row divided by its Euclidean norm (rows of zeros stay zero).

    Unit-length features make the nearest-prototype rule and the linear probe much stronger on
    pre-trained features (Tian et al. 2020, section 3; Wang et al. 2019, SimpleShot).
    """
    X = np.asarray(X, dtype=np.float64)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norms == 0, 1.0, norms)


def class_prototypes(X: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    """The mean of each class's rows: prototypes ``c_k`` of Snell et al. (2017, eq. 1).

    ``y`` holds episode labels 0..n_classes-1, each present at least once.
    """
    X = np.asarray(X, dtype=np.float64)
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    sums = np.zeros((n_classes, X.shape[1]))
    np.add.at(sums, y, X)
    return sums / counts[:, None]


def prototype_logits(
    X: np.ndarray, prototypes: np.ndarray, metric: str = "euclidean"
) -> np.ndarray:
    """Scores of each row for each prototype: ``-||x - c_k||²`` (Snell et al. 2017, eq. 2) or the
    cosine similarity. The arg-max is the nearest prototype; a softmax gives probabilities."""
    X = np.asarray(X, dtype=np.float64)
    if metric == "cosine":
        return l2_normalize(X) @ l2_normalize(prototypes).T
    squared = (
        (X**2).sum(axis=1)[:, None] - 2 * X @ prototypes.T + (prototypes**2).sum(axis=1)[None, :]
    )
    return -np.maximum(squared, 0.0)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=1, keepdims=True)


def soft_kmeans_prototypes(
    X_support: np.ndarray,
    y_support: np.ndarray,
    X_query: np.ndarray,
    n_classes: int,
    *,
    temperature: float = 10.0,
    n_iter: int = 1,
) -> np.ndarray:
    """Prototypes refined with the unlabelled queries by soft k-means (Ren et al. 2018, eq. 4).

    Start from the shots' means; each query is then softly assigned to every class,
    ``z_jk = softmax_k(-temperature * ||x_j - c_k||²)``, and each prototype becomes the weighted
    mean of its shots (weight 1) and of all queries (weight ``z_jk``). ``n_iter`` rounds.

    Parameters
    ----------
    X_support, y_support : arrays
        Shots and their episode labels 0..n_classes-1.
    X_query : array
        The episode's unlabelled queries.
    n_classes : int
    temperature : float, default 10.0
        Sharpness of the assignments, for unit-length features (squared distances in [0, 4]);
        0 gives every query equal weight in every class.
    n_iter : int, default 1
        Refinement rounds (Ren et al. use one).

    Returns
    -------
    array (n_classes, d)
    """
    X_support = np.asarray(X_support, dtype=np.float64)
    X_query = np.asarray(X_query, dtype=np.float64)
    support_sums = np.zeros((n_classes, X_support.shape[1]))
    np.add.at(support_sums, y_support, X_support)
    support_counts = np.bincount(y_support, minlength=n_classes).astype(np.float64)
    prototypes = support_sums / support_counts[:, None]
    for _ in range(n_iter):
        z = _softmax(temperature * prototype_logits(X_query, prototypes))
        prototypes = (support_sums + z.T @ X_query) / (support_counts + z.sum(axis=0))[:, None]
    return prototypes


def finetune_linear_head(
    X_support: np.ndarray,
    y_support: np.ndarray,
    n_classes: int,
    *,
    steps: int = 100,
    lr: float = 0.01,
    weight_decay: float = 0.001,
) -> tuple[np.ndarray, np.ndarray]:
    """A linear head started from the prototypes and fine-tuned on the shots by Adam.

    The weights start as ``2 c_k`` and the biases as ``-||c_k||²`` (prototypes ``c_k``): the
    logits ``2 c_k·x - ||c_k||²`` differ from ``-||x - c_k||²`` by a term equal for every class,
    so the untrained head is the nearest-prototype rule (Snell et al. 2017, section 2.3;
    Triantafillou et al. 2020's proto-initialisation). ``steps`` full-batch Adam steps (Kingma &
    Ba 2015, default betas) on the shots' mean cross-entropy plus ``weight_decay`` times the
    squared weights then fine-tune it.

    Returns
    -------
    weights : array (n_classes, d)
    biases : array (n_classes,)
    """
    X = np.asarray(X_support, dtype=np.float64)
    prototypes = class_prototypes(X, y_support, n_classes)
    params = [2 * prototypes, -(prototypes**2).sum(axis=1)]
    moments = [[np.zeros_like(p), np.zeros_like(p)] for p in params]
    targets = np.eye(n_classes)[y_support]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for step in range(1, steps + 1):
        weights, biases = params
        error = (_softmax(X @ weights.T + biases) - targets) / len(X)
        grads = [error.T @ X + 2 * weight_decay * weights, error.sum(axis=0)]
        for param, grad, moment in zip(params, grads, moments, strict=True):
            moment[0] = beta1 * moment[0] + (1 - beta1) * grad
            moment[1] = beta2 * moment[1] + (1 - beta2) * grad**2
            first = moment[0] / (1 - beta1**step)
            second = moment[1] / (1 - beta2**step)
            param -= lr * first / (np.sqrt(second) + eps)
    return params[0], params[1]


def _normalize(X: np.ndarray, normalize: str) -> np.ndarray:
    return l2_normalize(X) if normalize == "l2" else np.asarray(X, dtype=np.float64)


# --------------------------------------------------------------------------- episodic scoring
class EpisodicMethod:
    """What every few-shot method shares: scoring a task episode by episode.

    A subclass says how to classify one episode (:meth:`predict_episode`: shots, their labels
    0..N-1 and the queries in, query labels out) and, if it learns a representation first, how
    to map the task's pools (:meth:`embed_task`). :meth:`evaluate` draws the task's episodes
    (the same for every method, from the task's seed) and returns the mean accuracy, its 95 %
    confidence interval and the time taken; :meth:`score_problem` is what the benchmark runner
    calls.
    """

    #: The kind of benchmark task the runner may give this method.
    task_kind = "fewshot"

    def embed_task(self, task: FewShotTask) -> tuple[np.ndarray, np.ndarray]:
        """The shots' pool and the queries' pool as the arrays episodes are classified in."""
        X_query, _ = task.query_pool
        return (
            np.asarray(task.X_support, dtype=np.float64),
            np.asarray(X_query, dtype=np.float64),
        )

    def predict_episode(
        self, X_support: np.ndarray, y_support: np.ndarray, X_query: np.ndarray
    ) -> np.ndarray:
        raise NotImplementedError

    def evaluate(
        self,
        task: FewShotTask,
        progress: EpisodeProgress | None = None,
    ) -> dict[str, Any]:
        """Score every episode of ``task``; ``progress(done, total)`` after each one.

        Returns
        -------
        dict
            ``accuracy`` (mean over episodes, a fraction), ``ci95`` (half-width of its 95 %
            interval), ``std``, ``episodes``, ``n_way``, ``k_shot``, ``n_query``,
            ``seconds_fit`` (learning a representation, 0 without one), ``seconds_episodes``.
        """
        start = time.perf_counter()
        support_pool, query_pool = self.embed_task(task)
        fitted = time.perf_counter()
        episodes = task.episodes()
        accuracies = np.empty(len(episodes))
        for number, episode in enumerate(episodes):
            predicted = self.predict_episode(
                support_pool[episode.support_index],
                episode.support_labels,
                query_pool[episode.query_index],
            )
            accuracies[number] = float(np.mean(predicted == episode.query_labels))
            if progress is not None:
                progress(number + 1, len(episodes))
        summary = episode_accuracy_summary(accuracies)
        self.episode_accuracies_ = accuracies
        self.details_ = {
            **summary,
            "n_way": int(task.n_way),
            "k_shot": int(task.k_shot),
            "n_query": int(task.n_query),
            "cross_domain": bool(task.cross_domain),
            "seconds_fit": round(fitted - start, 3),
            "seconds_episodes": round(time.perf_counter() - fitted, 3),
        }
        logger.info(
            "%s on %s: %.4f ± %.4f over %d episodes",
            type(self).__name__,
            task.name,
            summary["accuracy"],
            summary["ci95"],
            summary["episodes"],
        )
        return dict(self.details_)

    def score_problem(self, task: FewShotTask) -> float:
        """Mean episode accuracy on ``task`` (a fraction); the rest lands in ``details_``."""
        return float(self.evaluate(task)["accuracy"])


class _EpisodeClassifier(ClassifierMixin, BaseEstimator):
    """``fit(X_support, y_support[, X_query])`` / ``predict(X_query)`` on one episode, with the
    user's labels; subclasses give :meth:`predict_episode` on episode labels 0..N-1."""

    def fit(self, X: Any, y: Any, X_query: Any = None) -> _EpisodeClassifier:
        self._check_params()
        labels = np.asarray(y)
        self.classes_, encoded = np.unique(labels, return_inverse=True)
        self.X_support_ = np.asarray(X, dtype=np.float64)
        self.y_support_ = encoded
        self.X_query_ = None if X_query is None else np.asarray(X_query, dtype=np.float64)
        return self

    def predict(self, X: Any) -> np.ndarray:
        if not hasattr(self, "classes_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit first.")
        return self.classes_[
            self.predict_episode(self.X_support_, self.y_support_, np.asarray(X, dtype=float))
        ]

    def _check_params(self) -> None:
        pass

    def _episode_inputs(
        self, X_support: np.ndarray, y_support: np.ndarray, X_query: np.ndarray
    ) -> tuple[int, np.ndarray, np.ndarray]:
        """The parameters checked, then the episode's number of classes and its support and
        query rows normalised as ``self.normalize`` says (every method here starts so)."""
        self._check_params()
        n_classes = int(y_support.max()) + 1
        return (
            n_classes,
            _normalize(X_support, self.normalize),
            _normalize(X_query, self.normalize),
        )


class PrototypeClassifier(EpisodicMethod, _EpisodeClassifier):
    """Nearest class mean: the prototypical-network classifier without meta-training.

    Each class is the mean of its shots (Snell et al. 2017, eq. 1); a query goes to the nearest
    one. On unit-length features of a pre-trained network this is the baseline Chen et al.
    (2019) and Tian et al. (2020) found hard to beat.

    Parameters
    ----------
    normalize : {"l2", "none"}, default "l2"
        Rows made unit length before the means are taken.
    metric : {"euclidean", "cosine"}, default "euclidean"

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.fewshot import PrototypeClassifier
    >>> X = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    >>> model = PrototypeClassifier().fit(X, ["left", "left", "up", "up"])
    >>> model.predict([[0.8, 0.3], [0.2, 0.7]]).tolist()
    ['left', 'up']
    """

    def __init__(self, normalize: str = "l2", metric: str = "euclidean"):
        self.normalize = normalize
        self.metric = metric

    def _check_params(self) -> None:
        check_choice(self.normalize, "normalize", "prototypes", NORMALIZATIONS)
        check_choice(self.metric, "metric", "prototypes", METRICS)

    def predict_episode(
        self, X_support: np.ndarray, y_support: np.ndarray, X_query: np.ndarray
    ) -> np.ndarray:
        n_classes, X_support, X_query = self._episode_inputs(X_support, y_support, X_query)
        prototypes = class_prototypes(X_support, y_support, n_classes)
        return prototype_logits(X_query, prototypes, self.metric).argmax(axis=1)


class TransductivePrototypes(EpisodicMethod, _EpisodeClassifier):
    """Prototypes refined with the episode's unlabelled queries by soft k-means (Ren et al. 2018).

    Transductive: the queries of an episode are classified together, and their cloud moves the
    prototypes towards the class centres (:func:`soft_kmeans_prototypes`). It helps most at one
    shot, where a single shot is a poor estimate of its class mean.

    Parameters
    ----------
    normalize : {"l2", "none"}, default "l2"
    temperature : float, default 10.0
        Sharpness of the soft assignments (for unit-length features).
    n_iter : int, default 3
        Refinement rounds.

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.fewshot import TransductivePrototypes
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> queries = np.array([[0.9, 0.2], [0.7, 0.6], [0.1, 1.0]])
    >>> model = TransductivePrototypes().fit(X, ["a", "b"], X_query=queries)
    >>> model.predict(queries).tolist()
    ['a', 'a', 'b']
    """

    def __init__(self, normalize: str = "l2", temperature: float = 10.0, n_iter: int = 3):
        self.normalize = normalize
        self.temperature = temperature
        self.n_iter = n_iter

    def _check_params(self) -> None:
        check_choice(self.normalize, "normalize", "transductive", NORMALIZATIONS)
        check_nonnegative(self.temperature, "temperature", "transductive")
        check_positive_int(self.n_iter, "n_iter", "transductive")

    def predict_episode(
        self, X_support: np.ndarray, y_support: np.ndarray, X_query: np.ndarray
    ) -> np.ndarray:
        n_classes, X_support, X_query = self._episode_inputs(X_support, y_support, X_query)
        unlabelled = X_query
        if getattr(self, "X_query_", None) is not None:
            unlabelled = _normalize(self.X_query_, self.normalize)
        prototypes = soft_kmeans_prototypes(
            X_support,
            y_support,
            unlabelled,
            n_classes,
            temperature=float(self.temperature),
            n_iter=int(self.n_iter),
        )
        return prototype_logits(X_query, prototypes).argmax(axis=1)


class LinearProbe(EpisodicMethod, _EpisodeClassifier):
    """A linear classifier trained on the shots' features alone, one per episode.

    Tian et al. (2020) fit a logistic regression on unit-length pre-trained features of the
    support set; any scikit-learn classifier can stand in (a suite's ``classifier``).

    Parameters
    ----------
    estimator : scikit-learn classifier or None, default None
        Cloned for each episode; None is ``LogisticRegression(C=1, max_iter=2000)``.
    normalize : {"l2", "none"}, default "l2"

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.fewshot import LinearProbe
    >>> X = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    >>> LinearProbe().fit(X, [0, 0, 1, 1]).predict([[0.7, 0.2]]).tolist()
    [0]
    """

    def __init__(self, estimator: Any = None, normalize: str = "l2"):
        self.estimator = estimator
        self.normalize = normalize

    def _check_params(self) -> None:
        check_choice(self.normalize, "normalize", "linear_probe", NORMALIZATIONS)

    def _base_estimator(self) -> Any:
        if self.estimator is not None:
            return self.estimator
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=1.0, max_iter=2000)

    def predict_episode(
        self, X_support: np.ndarray, y_support: np.ndarray, X_query: np.ndarray
    ) -> np.ndarray:
        self._check_params()
        model = clone(self._base_estimator())
        model.fit(_normalize(X_support, self.normalize), y_support)
        return np.asarray(model.predict(_normalize(X_query, self.normalize)))


class FineTunedHead(EpisodicMethod, _EpisodeClassifier):
    """A linear head fine-tuned on each episode's shots, started from the prototypes.

    :func:`finetune_linear_head`: before any step the head is exactly the nearest-prototype rule;
    Adam on the shots' cross-entropy then fine-tunes it (Chen et al. 2019's "Baseline" trains a
    new linear head on the support set the same way, from scratch).

    Parameters
    ----------
    steps : int, default 100
        Adam steps; 0 leaves the nearest-prototype head as it starts.
    lr : float, default 0.01
    weight_decay : float, default 0.001
    normalize : {"l2", "none"}, default "l2"

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.fewshot import FineTunedHead
    >>> X = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    >>> FineTunedHead(steps=20).fit(X, ["a", "a", "b", "b"]).predict([[0.7, 0.2]]).tolist()
    ['a']
    """

    def __init__(
        self, steps: int = 100, lr: float = 0.01, weight_decay: float = 0.001, normalize: str = "l2"
    ):
        self.steps = steps
        self.lr = lr
        self.weight_decay = weight_decay
        self.normalize = normalize

    def _check_params(self) -> None:
        if (
            isinstance(self.steps, bool)
            or not isinstance(self.steps, int | np.integer)
            or self.steps < 0
        ):
            raise ParameterValueError(
                f"fewshot_finetune: steps={self.steps!r} must be an integer >= 0 (0 keeps the "
                "nearest-prototype rule the head starts from)."
            )
        check_nonnegative(self.lr, "lr", "fewshot_finetune", strict=True)
        check_nonnegative(self.weight_decay, "weight_decay", "fewshot_finetune")
        check_choice(self.normalize, "normalize", "fewshot_finetune", NORMALIZATIONS)

    def predict_episode(
        self, X_support: np.ndarray, y_support: np.ndarray, X_query: np.ndarray
    ) -> np.ndarray:
        n_classes, X_support, X_query = self._episode_inputs(X_support, y_support, X_query)
        weights, biases = finetune_linear_head(
            X_support,
            y_support,
            n_classes,
            steps=int(self.steps),
            lr=float(self.lr),
            weight_decay=float(self.weight_decay),
        )
        return (X_query @ weights.T + biases).argmax(axis=1)


# --------------------------------------------------------------------------- registry
@register_method(
    "prototypes",
    "fewshot",
    "Nearest class mean on unit-length features (Snell et al. 2017's classifier, no meta-training)",
)
def _prototypes(estimator: Any, random_state: int | None, **params: Any) -> PrototypeClassifier:
    return PrototypeClassifier(**params)


@register_method(
    "transductive",
    "fewshot",
    "Prototypes refined with the episode's unlabelled queries by soft k-means (Ren et al. 2018)",
)
def _transductive(
    estimator: Any, random_state: int | None, **params: Any
) -> TransductivePrototypes:
    return TransductivePrototypes(**params)


@register_method(
    "linear_probe",
    "fewshot",
    "The suite's classifier (default logistic regression) on the shots' features (Tian et al. 2020)",
)
def _linear_probe(estimator: Any, random_state: int | None, **params: Any) -> LinearProbe:
    return LinearProbe(estimator=estimator, **params)


@register_method(
    "fewshot_finetune",
    "fewshot",
    "A linear head from the prototypes, fine-tuned on each episode's shots (Chen et al. 2019)",
)
def _fewshot_finetune(estimator: Any, random_state: int | None, **params: Any) -> FineTunedHead:
    return FineTunedHead(**params)
