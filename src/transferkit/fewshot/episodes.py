"""Few-shot tasks and their episodes: N classes, K labelled shots each, queries to classify.

A :class:`FewShotTask` holds a pool of labelled rows the shots are drawn from and a pool the
queries are drawn from (the same pool for same-domain episodes, another domain's rows for
cross-domain ones), optionally base classes to meta-train on, and the episode settings (N-way,
K-shot, queries per class, number of episodes, seed). :func:`sample_episodes` draws the episodes
from the seed alone, so every method scored on a task sees the identical episodes.
:func:`episode_accuracy_summary` gives the mean accuracy with its 95 % confidence interval, the
figure the few-shot literature reports (Vinyals et al. 2016; Chen et al. 2019).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> y = np.repeat(np.arange(6), 10)
>>> X = rng.normal(size=(60, 4)) + y[:, None]
>>> task = FewShotTask(X, y, n_way=3, k_shot=2, n_query=4, n_episodes=5, random_state=0)
>>> episode = task.episodes()[0]
>>> len(episode.support_index), len(episode.query_index), len(episode.classes)
(6, 12, 3)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from transferkit.checks import check_count
from transferkit.exceptions import (
    DataFormatError,
    EmptyDomainError,
    InvalidParameterError,
    NotApplicableError,
)

#: ``progress(done, total)`` after each episode (the CLI turns it into a bar).
EpisodeProgress = Callable[[int, int], None]

#: z of the two-sided 95 % normal interval: the CI95 of the few-shot literature (mean ± 1.96 σ/√n).
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Episode:
    """One N-way K-shot episode, as row indices into the task's pools.

    Attributes
    ----------
    classes : array (n_way,)
        The episode's classes (the task's labels); episode label ``i`` is ``classes[i]``.
    support_index : int array (n_way * k_shot,)
        Rows of the shots pool, class by class.
    support_labels : int array
        Episode labels 0..n_way-1 of the shots.
    query_index : int array (n_way * n_query,)
        Rows of the queries pool.
    query_labels : int array
        Episode labels of the queries.
    """

    classes: np.ndarray
    support_index: np.ndarray
    support_labels: np.ndarray
    query_index: np.ndarray
    query_labels: np.ndarray


def _class_rows(y: np.ndarray) -> dict[Any, np.ndarray]:
    return {label: np.flatnonzero(y == label) for label in np.unique(y)}


def check_episode_settings(
    y_support: np.ndarray,
    y_query: np.ndarray | None,
    n_way: int,
    k_shot: int,
    n_query: int,
) -> np.ndarray:
    """The classes episodes can draw from, or our error saying which setting cannot be met.

    ``y_query`` None means the queries come from the shots' own pool (each class then needs
    ``k_shot + n_query`` rows, shots and queries disjoint). A class with too few rows is an error
    naming it, its count and the settings that would fit: silently skipping it would change the
    episodes' label space behind the user's back.
    """
    n_way = check_count(n_way, "n_way", 2)
    k_shot = check_count(k_shot, "k_shot", 1)
    n_query = check_count(n_query, "n_query", 1)
    support_rows = _class_rows(y_support)
    if y_query is None:
        classes = np.array(sorted(support_rows))
        counts = {c: len(support_rows[c]) for c in classes}
        needed, what = k_shot + n_query, f"k_shot + n_query = {k_shot} + {n_query}"
    else:
        query_rows = _class_rows(y_query)
        classes = np.array(sorted(set(support_rows) & set(query_rows)))
        if len(classes) == 0:
            raise DataFormatError(
                "The shots and the queries share no class: give query rows labelled with the "
                "shots' classes."
            )
        counts = {c: len(support_rows[c]) for c in classes}
        needed, what = k_shot, f"k_shot = {k_shot}"
        short_queries = {c: len(query_rows[c]) for c in classes if len(query_rows[c]) < n_query}
        if short_queries:
            label, count = min(short_queries.items(), key=lambda item: item[1])
            raise InvalidParameterError(
                f"n_query={n_query} queries per class, but class '{label}' has only {count} "
                f"row(s) in the queries' pool ({len(short_queries)} class(es) short); lower "
                f"n_query to at most {min(len(query_rows[c]) for c in classes)} or drop the "
                "small classes."
            )
    if n_way > len(classes):
        raise InvalidParameterError(
            f"n_way={n_way} classes per episode, but the data has only {len(classes)} "
            f"class(es){'' if y_query is None else ' shared by shots and queries'}; lower n_way "
            f"to at most {len(classes)}."
        )
    short = {c: n for c, n in counts.items() if n < needed}
    if short:
        label, count = min(short.items(), key=lambda item: item[1])
        smallest = min(counts.values())
        if y_query is None:
            raise InvalidParameterError(
                f"{what} = {needed} rows needed per class (shots and queries are disjoint), but "
                f"class '{label}' has only {count} ({len(short)} class(es) short); lower k_shot "
                f"and n_query so that they add up to at most {smallest}, or drop the small "
                "classes."
            )
        raise InvalidParameterError(
            f"{what} shots per class, but class '{label}' has only {count} row(s) in the shots' "
            f"pool ({len(short)} class(es) short); lower k_shot to at most {smallest}, or drop "
            "the small classes."
        )
    return classes


def sample_episodes(
    y_support: np.ndarray,
    n_way: int,
    k_shot: int,
    n_query: int,
    episodes: int,
    *,
    y_query: np.ndarray | None = None,
    random_state: int | np.random.Generator | None = None,
) -> list[Episode]:
    """Draw ``episodes`` N-way K-shot episodes, the same ones for the same seed.

    Each episode picks ``n_way`` classes at random, then ``k_shot`` shots per class from the
    shots' pool and ``n_query`` queries per class, from the queries' pool when ``y_query`` is
    given (cross-domain episodes), else from the shots' pool, disjoint from the shots.

    Parameters
    ----------
    y_support : array (n,)
        Labels of the shots' pool.
    n_way, k_shot, n_query, episodes : int
        Classes per episode (>= 2), shots per class, queries per class, number of episodes.
    y_query : array or None, default None
        Labels of the queries' pool; None draws the queries from the shots' pool.
    random_state : int, Generator or None, default None
        The seed of every draw.

    Returns
    -------
    list of Episode

    Raises
    ------
    InvalidParameterError
        ``n_way`` larger than the number of classes, or a class with fewer rows than
        ``k_shot`` (+ ``n_query``) needs (the message names the class and its count).

    Examples
    --------
    >>> import numpy as np
    >>> y = np.repeat(["cat", "dog", "owl"], 5)
    >>> first = sample_episodes(y, 2, 1, 3, episodes=4, random_state=1)
    >>> again = sample_episodes(y, 2, 1, 3, episodes=4, random_state=1)
    >>> all(np.array_equal(a.query_index, b.query_index) for a, b in zip(first, again))
    True
    """
    y_support = np.asarray(y_support)
    y_query = None if y_query is None else np.asarray(y_query)
    episodes = check_count(episodes, "episodes", 1)
    classes = check_episode_settings(y_support, y_query, n_way, k_shot, n_query)
    support_rows = _class_rows(y_support)
    query_rows = support_rows if y_query is None else _class_rows(y_query)
    rng = np.random.default_rng(random_state)
    drawn = []
    for _ in range(episodes):
        chosen = classes[np.sort(rng.choice(len(classes), size=n_way, replace=False))]
        support, query = [], []
        for label in chosen:
            if y_query is None:
                rows = rng.choice(support_rows[label], size=k_shot + n_query, replace=False)
                support.append(rows[:k_shot])
                query.append(rows[k_shot:])
            else:
                support.append(rng.choice(support_rows[label], size=k_shot, replace=False))
                query.append(rng.choice(query_rows[label], size=n_query, replace=False))
        drawn.append(
            Episode(
                classes=chosen,
                support_index=np.concatenate(support),
                support_labels=np.repeat(np.arange(n_way), k_shot),
                query_index=np.concatenate(query),
                query_labels=np.repeat(np.arange(n_way), n_query),
            )
        )
    return drawn


def episode_accuracy_summary(accuracies: Sequence[float]) -> dict[str, float]:
    """Mean episode accuracy and the half-width of its 95 % confidence interval.

    ``ci95 = 1.96 * std / sqrt(n)`` with the sample standard deviation (ddof = 1), the interval
    few-shot papers report beside the mean (Chen et al. 2019, section 4.1); 0 for one episode.

    Examples
    --------
    >>> summary = episode_accuracy_summary([0.5, 0.7, 0.6, 0.6])
    >>> round(summary["accuracy"], 3), round(summary["ci95"], 3), summary["episodes"]
    (0.6, 0.08, 4)
    """
    values = np.asarray(accuracies, dtype=float)
    if values.size == 0:
        raise EmptyDomainError("No episode was scored: give at least one episode.")
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return {
        "accuracy": float(values.mean()),
        "ci95": Z95 * std / math.sqrt(values.size),
        "std": std,
        "episodes": int(values.size),
    }


def _as_rows(X: Any, what: str) -> Any:
    if hasattr(X, "shape") and len(getattr(X, "shape", ())) == 2:
        return X
    X = np.asarray(X)
    if X.ndim != 2:
        raise DataFormatError(f"{what} must be a 2-D array of rows; got shape {X.shape}.")
    return X


@dataclass
class FewShotTask:
    """A few-shot evaluation: where shots and queries come from, and how episodes are drawn.

    Parameters
    ----------
    X_support, y_support : array (n, d), array (n,)
        The pool the shots are drawn from (features, or flattened images for the meta-trained
        networks).
    n_way, k_shot, n_query : int, default 5, 1, 15
        Classes per episode, shots per class and queries per class.
    n_episodes : int, default 600
        How many episodes are drawn (600 as in Chen et al. 2019).
    random_state : int or None, default 0
        Seed of the episodes: the same seed, the same episodes for every method.
    X_query, y_query : array or None, default None
        The pool the queries are drawn from (another domain); None draws them from the shots'
        pool, disjoint from each episode's shots.
    X_base, y_base : array or None, default None
        Labelled rows of base classes, disjoint from the episodes' classes, for methods that
        meta-train or pre-train an embedding (prototypical and matching networks).
    image_shape : tuple or None, default None
        ``(H, W)`` or ``(H, W, C)`` when rows are flattened images.
    name, shots_domain : str, default "fewshot", "shots"
        What the task and the shots' domain are called, for tables and messages.
    queries_domain : str or None, default None
        The queries' domain; None is the shots' domain without a query pool, "queries" with one.
    metadata : dict
        Anything else (class names, features, encoder).

    Attributes
    ----------
    kind : str
        ``"fewshot"``: what the benchmark runner matches a method's ``task_kind`` against.
    """

    X_support: Any
    y_support: np.ndarray
    n_way: int = 5
    k_shot: int = 1
    n_query: int = 15
    n_episodes: int = 600
    random_state: int | None = 0
    X_query: Any = None
    y_query: np.ndarray | None = None
    X_base: Any = None
    y_base: np.ndarray | None = None
    image_shape: tuple[int, ...] | None = None
    name: str = "fewshot"
    shots_domain: str = "shots"
    queries_domain: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    kind = "fewshot"

    def __post_init__(self) -> None:
        if self.queries_domain is None:
            self.queries_domain = self.shots_domain if self.X_query is None else "queries"
        self.X_support = _as_rows(self.X_support, "X_support")
        self.y_support = np.asarray(self.y_support)
        if self.y_support.shape != (self.X_support.shape[0],):
            raise DataFormatError(
                f"y_support has {self.y_support.shape[0] if self.y_support.ndim else 0} labels for "
                f"{self.X_support.shape[0]} rows of X_support; give one label per row."
            )
        if (self.X_query is None) != (self.y_query is None):
            raise InvalidParameterError(
                "Give both X_query and y_query (queries from another pool) or neither (queries "
                "from the shots' pool)."
            )
        if self.X_query is not None:
            self.X_query = _as_rows(self.X_query, "X_query")
            self.y_query = np.asarray(self.y_query)
            if self.y_query.shape != (self.X_query.shape[0],):
                raise DataFormatError("y_query must hold one label per row of X_query.")
            if self.X_query.shape[1] != self.X_support.shape[1]:
                raise DataFormatError(
                    f"X_query has {self.X_query.shape[1]} features and X_support "
                    f"{self.X_support.shape[1]}; shots and queries need the same features."
                )
        if (self.X_base is None) != (self.y_base is None):
            raise InvalidParameterError("Give both X_base and y_base, or neither.")
        if self.X_base is not None:
            self.X_base = _as_rows(self.X_base, "X_base")
            self.y_base = np.asarray(self.y_base)
        # fail now, not in the middle of a benchmark, when an episode cannot be drawn
        check_episode_settings(self.y_support, self.y_query, self.n_way, self.k_shot, self.n_query)
        check_count(self.n_episodes, "n_episodes", 1)

    @property
    def cross_domain(self) -> bool:
        """Whether the shots and the queries come from different domains."""
        return self.shots_domain != self.queries_domain

    @property
    def n_eval(self) -> int:
        """Queries classified over all episodes."""
        return self.n_episodes * self.n_way * self.n_query

    @property
    def query_pool(self) -> tuple[Any, np.ndarray]:
        """``(X, y)`` of the pool the queries are drawn from."""
        if self.X_query is None:
            return self.X_support, self.y_support
        return self.X_query, self.y_query  # type: ignore[return-value]

    def episodes(self) -> list[Episode]:
        """The task's episodes, drawn from its seed (:func:`sample_episodes`)."""
        return sample_episodes(
            self.y_support,
            self.n_way,
            self.k_shot,
            self.n_query,
            self.n_episodes,
            y_query=self.y_query,
            random_state=self.random_state,
        )

    def require_base(self, method: str) -> tuple[Any, np.ndarray]:
        """``(X_base, y_base)``, or NotApplicableError naming ``method`` when the task has none."""
        if self.X_base is None:
            raise NotApplicableError(
                f"{method} meta-trains on base classes, and task {self.name!r} "
                f"({self.shots_domain} -> {self.queries_domain}) has none; use it on a task "
                "with base classes (the fewshot-mnist suite, or FewShotTask(X_base=..., "
                "y_base=...)), or use a method without meta-training (prototypes, linear_probe)."
            )
        return self.X_base, self.y_base  # type: ignore[return-value]
