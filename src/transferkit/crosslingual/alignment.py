"""Mapping two word-embedding spaces into one: Procrustes, self-learning, Gromov-Wasserstein init.

The map of every method here is orthogonal (or semi-orthogonal when the two spaces differ in
dimension), the family Ruder, Vulić & Søgaard's survey (2019, JAIR, Sect. 5) calls projection-based
methods:

- :func:`fit_procrustes`: the closed-form solution from a seed dictionary (Schönemann 1966;
  Xing et al. 2015; Smith et al. 2017);
- :func:`self_learning`: grow the dictionary from mutual CSLS nearest neighbours of the frequent
  words and re-solve, until the dictionary stops changing (Artetxe, Labaka & Agirre 2017, 2018);
- :func:`gromov_wasserstein_dictionary`: a first dictionary with no seed at all, from the
  Gromov-Wasserstein coupling of the two spaces' similarity structures (Alvarez-Melis & Jaakkola
  2018), to start the self-learning from.

Examples
--------
>>> import numpy as np
>>> from transferkit.crosslingual.alignment import fit_procrustes
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(50, 4))
>>> Q = np.linalg.qr(rng.normal(size=(4, 4)))[0]
>>> mapping = fit_procrustes(X, X @ Q, np.stack([np.arange(50)] * 2, axis=1))
>>> bool(np.allclose(mapping.matrix, Q, atol=1e-5))
True
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from transferkit.crosslingual.retrieval import (
    as_embeddings,
    mean_neighbor_similarity,
    mutual_nearest_neighbors,
    unit_pair,
    unit_rows,
)
from transferkit.exceptions import (
    EmptyDomainError,
    InvalidParameterError,
    MissingDependencyError,
)

logger = logging.getLogger(__name__)


def normalize_embeddings(X: object, center: bool = True) -> np.ndarray:
    """Unit length, mean centring, unit length again: the usual preprocessing before Procrustes.

    Artetxe, Labaka & Agirre (2016, EMNLP, Sect. 3) show length normalisation makes the orthogonal
    map maximise cosine similarity, and centring (then normalising again) makes it maximise the
    covariance between the two sides; their 2018 method applies both in this order.

    Parameters
    ----------
    X : array of shape (n, d)
    center : bool, default True
        False: only scale rows to unit length.

    Examples
    --------
    >>> import numpy as np
    >>> Z = normalize_embeddings(np.array([[3.0, 4.0], [1.0, 0.0]]))
    >>> np.round(np.linalg.norm(Z, axis=1), 6).tolist()
    [1.0, 1.0]
    """
    Z = unit_rows(as_embeddings(X, "embeddings").astype(np.float64))
    if center:
        Z = unit_rows(Z - Z.mean(axis=0, keepdims=True))
    return Z.astype(np.float32)


def _check_pairs(pairs: object, n_source: int, n_target: int) -> np.ndarray:
    array = np.asarray(pairs)
    if array.ndim != 2 or array.shape[1] != 2 or not np.issubdtype(array.dtype, np.integer):
        raise InvalidParameterError(
            "pairs must be an integer array of shape (n_pairs, 2) of (source row, target row); "
            f"got {array.dtype} of shape {array.shape}. Turn word pairs into rows with "
            "transferkit.crosslingual.pairs_to_indices."
        )
    if array.shape[0] == 0:
        raise EmptyDomainError(
            "The seed dictionary has no pair: give at least one (source row, target row) pair, or "
            "start from transferkit.crosslingual.gromov_wasserstein_dictionary (no seed needed)."
        )
    for column, n, side in ((0, n_source, "source"), (1, n_target, "target")):
        bad = (array[:, column] < 0) | (array[:, column] >= n)
        if bad.any():
            raise InvalidParameterError(
                f"pairs[{int(np.argmax(bad))}] names {side} row {int(array[bad][0, column])}, but "
                f"the {side} embeddings have {n} rows."
            )
    return array.astype(np.int64)


@dataclass(frozen=True)
class CrossLingualMap:
    """Two maps with orthonormal columns into one shared space of ``min(d_source, d_target)`` dims.

    ``source_map`` (d_source x r) and ``target_map`` (d_target x r) send each space into the
    shared one; cosine similarities are measured there. When the dimensions are equal both are
    square orthogonal matrices, and ``matrix = source_map @ target_map.T`` is the usual orthogonal
    map W with ``X @ W`` in the target space (rotating both sides by the same ``target_map`` leaves
    every cosine unchanged).

    Attributes
    ----------
    source_map : array of shape (d_source, r)
    target_map : array of shape (d_target, r)
    """

    source_map: np.ndarray
    target_map: np.ndarray

    @property
    def matrix(self) -> np.ndarray:
        """The (semi-)orthogonal map W of shape (d_source, d_target): ``X @ W`` is in the target
        space; with d_source <= d_target it preserves lengths and angles (W W^T = I)."""
        return self.source_map @ self.target_map.T

    def transform_source(self, X: object) -> np.ndarray:
        """Source vectors in the shared space."""
        return as_embeddings(X, "source embeddings") @ self.source_map

    def transform_target(self, Y: object) -> np.ndarray:
        """Target vectors in the shared space."""
        return as_embeddings(Y, "target embeddings") @ self.target_map


def fit_procrustes(X: object, Y: object, pairs: object) -> CrossLingualMap:
    """Orthogonal Procrustes from a seed dictionary, in closed form by one SVD.

    Solves ``max tr(W^T X_D^T Y_D)`` over W with orthonormal rows or columns, where X_D and Y_D are
    the rows of the dictionary's pairs: with ``X_D^T Y_D = U S V^T`` (thin SVD), ``W = U V^T``
    (Schönemann 1966; Xing et al. 2015; Smith et al. 2017, Eq. 2; Artetxe et al. 2016).

    Spaces of different dimension (GloVe 50-d -> French 300-d): the same SVD gives r = min(d_s, d_t)
    directions in each space, U (d_s x r) and V (d_t x r), the pairs of directions along which the
    dictionary's two sides agree most (canonical directions of the cross-covariance). ``W = U V^T``
    is then semi-orthogonal: it embeds the 50-d space *isometrically* into the 300-d one, so the
    source's geometry (its angles, hence its neighbours) is untouched, which is the reason an
    orthogonal map is used at all; a general linear map would be free to distort it. Comparisons are
    made in the shared r-dim space (``X U`` against ``Y V``): for a source query, ``x W . y =
    x U . y V``, so rankings by dot product are the same, and the target's 250 directions that no
    source vector can reach do not shrink cosines word by word. When d_s = d_t this is exactly the
    classic orthogonal Procrustes. (Artetxe et al. 2018 map both sides the same way, Sect. 3.)

    Parameters
    ----------
    X : array of shape (n_source, d_s)
        Source embeddings (normalise them first, see :func:`normalize_embeddings`).
    Y : array of shape (n_target, d_t)
        Target embeddings.
    pairs : int array of shape (n_pairs, 2)
        (source row, target row) of the seed dictionary; one source may have several targets.

    Returns
    -------
    CrossLingualMap
    """
    X = as_embeddings(X, "source embeddings")
    Y = as_embeddings(Y, "target embeddings")
    pairs = _check_pairs(pairs, X.shape[0], Y.shape[0])
    cross = X[pairs[:, 0]].astype(np.float64).T @ Y[pairs[:, 1]].astype(np.float64)
    U, _, Vt = np.linalg.svd(cross, full_matrices=False)
    return CrossLingualMap(U.astype(np.float32), Vt.T.astype(np.float32))


@dataclass(frozen=True)
class SelfLearningResult:
    """What :func:`self_learning` ends with.

    Attributes
    ----------
    mapping : CrossLingualMap
        The final map.
    pairs : int array of shape (n_pairs, 2)
        The last induced dictionary (source row, target row).
    n_iter : int
        Iterations run.
    converged : bool
        Whether the dictionary stopped changing before ``max_iter``.
    history : list of int
        Dictionary size after each iteration.
    objective : float or None
        :func:`robust_self_learning` only: the mean CSLS score of the last dictionary (the
        unsupervised criterion, :func:`induce_dictionary`).
    """

    mapping: CrossLingualMap
    pairs: np.ndarray
    n_iter: int
    converged: bool
    history: list[int]
    objective: float | None = None


def self_learning(
    X: object,
    Y: object,
    seed_pairs: object,
    max_vocab: int = 20_000,
    max_iter: int = 30,
    tol: float = 1e-3,
    csls_k: int = 10,
    keep_seed: bool = True,
    batch_size: int = 1024,
) -> SelfLearningResult:
    """Iterative self-learning: Procrustes, induce a dictionary, re-solve, until it stops changing.

    Each iteration maps both spaces with :func:`fit_procrustes` on the current dictionary, then
    takes as the new dictionary the mutual CSLS nearest neighbours among the ``max_vocab`` most
    frequent words of each side (Artetxe, Labaka & Agirre 2017, ACL, Algorithm 1, with the
    frequency cut-off, CSLS and bidirectional induction of their 2018 ACL paper, Sect. 3.3; the
    mutual-NN rule is Conneau et al.'s 2018 refinement). Stops when the fraction of the dictionary
    that changed falls below ``tol``.

    Parameters
    ----------
    X : array of shape (n_source, d_s)
        Source embeddings, rows in frequency order (most frequent first), normalised.
    Y : array of shape (n_target, d_t)
        Target embeddings, likewise.
    seed_pairs : int array of shape (n_pairs, 2)
        The starting dictionary (a seed lexicon, or :func:`gromov_wasserstein_dictionary`'s).
    max_vocab : int, default 20000
        Only the first ``max_vocab`` rows of each side take part in the induction.
    max_iter : int, default 30
    tol : float, default 1e-3
        Convergence: fraction of induced pairs that changed since the last iteration.
    csls_k : int, default 10
    keep_seed : bool, default True
        Add the seed pairs to every induced dictionary (for a trusted seed lexicon; use False for
        an unsupervised start, whose pairs are noisy).
    batch_size : int, default 1024

    Returns
    -------
    SelfLearningResult
    """
    X = as_embeddings(X, "source embeddings")
    Y = as_embeddings(Y, "target embeddings")
    seed = _check_pairs(seed_pairs, X.shape[0], Y.shape[0])
    if isinstance(max_vocab, bool) or not isinstance(max_vocab, int) or max_vocab < 1:
        raise InvalidParameterError(f"max_vocab must be an integer >= 1; got {max_vocab!r}.")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise InvalidParameterError(f"max_iter must be an integer >= 1; got {max_iter!r}.")
    Xf, Yf = X[:max_vocab], Y[:max_vocab]
    pairs = seed
    previous: set[tuple[int, int]] = {tuple(p) for p in seed.tolist()}
    history: list[int] = []
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        mapping = fit_procrustes(X, Y, pairs)
        induced = mutual_nearest_neighbors(
            mapping.transform_source(Xf), mapping.transform_target(Yf), "csls", csls_k, batch_size
        )
        if keep_seed:
            induced = np.unique(np.concatenate([induced, seed]), axis=0)
        current = {tuple(p) for p in induced.tolist()}
        changed = len(current ^ previous) / max(len(current), 1)
        history.append(len(current))
        logger.info(
            "self-learning iteration %d: %d pairs, %.4f changed", n_iter, len(current), changed
        )
        pairs, previous = induced, current
        if changed < tol:
            converged = True
            break
    mapping = fit_procrustes(X, Y, pairs)
    return SelfLearningResult(mapping, pairs, n_iter, converged, history)


def gromov_wasserstein_dictionary(
    X: object,
    Y: object,
    n_words: int = 2000,
    epsilon: float = 1e-3,
    max_iter: int = 100,
    tol: float = 1e-6,
) -> np.ndarray:
    """A seed dictionary with no seed at all, from a Gromov-Wasserstein coupling of the two spaces.

    Alvarez-Melis & Jaakkola (2018, EMNLP, "Gromov-Wasserstein alignment of word embedding spaces",
    Eq. 5): translation pairs are words that play the same role in each language's similarity
    structure. With C_s and C_t the cosine-similarity matrices of the ``n_words`` most frequent
    words of each side, the entropic GW coupling T minimises
    ``sum (C_s[i, k] - C_t[j, l])^2 T[i, j] T[k, l] - epsilon H(T)`` under uniform marginals; it
    needs neither equal dimensions nor any pair. The solver is the projected mirror descent of
    Peyré, Cuturi & Solomon (2016, Prop. 2): each step is a Sinkhorn projection (POT's
    ``ot.sinkhorn``) of the GW gradient. For the square loss that gradient is ``-2 C_s T C_t`` plus
    terms constant along rows or columns, which the marginal constraints absorb; dropping them (and
    shifting the cost to start at 0) keeps ``exp(-cost / epsilon)`` from underflowing, which is what
    makes POT's ``entropic_gromov_wasserstein`` fail at the small epsilon word spaces need.

    The returned dictionary is the mutual argmax of T, meant as the start of :func:`self_learning`
    with ``keep_seed=False``.

    Parameters
    ----------
    X : array of shape (n_source, d_s)
        Source embeddings in frequency order, normalised.
    Y : array of shape (n_target, d_t)
        Target embeddings in frequency order, normalised.
    n_words : int, default 2000
        How many frequent words of each side are coupled (cost O(n_words^3) per iteration).
    epsilon : float, default 1e-3
        Entropic regularisation (smaller: sharper coupling, slower, less stable).
    max_iter : int, default 100
        Mirror-descent steps.
    tol : float, default 1e-6
        Stop when the coupling moves less than this (Frobenius norm) in one step.

    Returns
    -------
    pairs : int array of shape (n_pairs, 2)
        (source row, target row), both among the first ``n_words`` rows.
    """
    try:
        import ot
    except ImportError:  # pragma: no cover - POT is a core dependency
        raise MissingDependencyError(
            "The Gromov-Wasserstein initialisation needs POT. Install it with: pip install pot"
        ) from None
    if isinstance(n_words, bool) or not isinstance(n_words, int) or n_words < 2:
        raise InvalidParameterError(f"n_words must be an integer >= 2; got {n_words!r}.")
    if not (isinstance(epsilon, int | float) and epsilon > 0):
        raise InvalidParameterError(f"epsilon must be a positive number; got {epsilon!r}.")
    X = unit_rows(as_embeddings(X, "source embeddings")[:n_words]).astype(np.float64)
    Y = unit_rows(as_embeddings(Y, "target embeddings")[:n_words]).astype(np.float64)
    C_source, C_target = X @ X.T, Y @ Y.T
    p = np.full(X.shape[0], 1.0 / X.shape[0])
    q = np.full(Y.shape[0], 1.0 / Y.shape[0])
    coupling = np.outer(p, q)
    for iteration in range(max_iter):
        cost = -2.0 * C_source @ coupling @ C_target
        cost -= cost.min()
        updated = ot.sinkhorn(p, q, cost, epsilon, numItermax=2000, stopThr=1e-7, warn=False)
        moved = float(np.linalg.norm(updated - coupling))
        coupling = updated
        if not np.isfinite(coupling).all():
            raise InvalidParameterError(
                f"The Gromov-Wasserstein coupling became non-finite at step {iteration + 1} with "
                f"epsilon={epsilon}: increase epsilon."
            )
        if moved < tol:
            break
    forward = coupling.argmax(axis=1)
    backward = coupling.argmax(axis=0)
    rows = np.arange(X.shape[0])
    mutual = backward[forward] == rows
    logger.info("Gromov-Wasserstein: %d mutual pairs after %d steps", mutual.sum(), iteration + 1)
    return np.stack([rows[mutual], forward[mutual]], axis=1).astype(np.int64)


def similarity_distribution_features(X: object, n_words: int = 4000) -> np.ndarray:
    """Dimension-free word features: the sorted rows of the square root of a similarity matrix.

    Artetxe, Labaka & Agirre (2018, ACL, "A robust self-learning method for fully unsupervised
    cross-lingual mappings of word embeddings", Sect. 3.2): if two languages' spaces were
    isometric, a word and its translation would have the same *distribution* of similarities to
    the other words of their language, only in another order. Sorting each row of the
    similarity matrix ``M = X X^T`` of the ``n_words`` most frequent words removes that order, so
    the rows of both languages live in one space, whatever the dimensions of ``X``. The paper
    uses the square root ``sqrt(M) = U S U^T`` (with ``X = U S V^T``), which it found less
    peaked than ``M``; the rows are then normalised like embeddings (unit length, centring, unit
    length, :func:`normalize_embeddings`).

    Parameters
    ----------
    X : array of shape (n, d)
        Embeddings in frequency order (most frequent first), normalised.
    n_words : int, default 4000
        Rows used (the paper's 4,000); memory and time grow as ``n_words ** 2``.

    Returns
    -------
    features : float32 array of shape (min(n, n_words), min(n, n_words))

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(30, 5))
    >>> Q = np.linalg.qr(rng.normal(size=(5, 5)))[0]
    >>> bool(np.allclose(similarity_distribution_features(X, 30),
    ...                  similarity_distribution_features(X @ Q, 30), atol=1e-4))
    True
    """
    n_words = _check_count(n_words, "n_words", 2)
    Z = as_embeddings(X, "embeddings")[:n_words].astype(np.float64)
    U, S, _ = np.linalg.svd(Z, full_matrices=False)
    features = (U * S) @ U.T
    features.sort(axis=1)
    return normalize_embeddings(features)


def _check_count(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InvalidParameterError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def _best_matches(
    queries: np.ndarray,
    targets: np.ndarray,
    query_hubness: np.ndarray,
    target_hubness: np.ndarray,
    keep: float,
    rng: np.random.Generator,
    batch_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Best CSLS target of each query (unit rows), with each score dropped with prob. 1 - keep."""
    best = np.empty(queries.shape[0], dtype=np.int64)
    score = np.empty(queries.shape[0], dtype=np.float32)
    for start in range(0, queries.shape[0], batch_size):
        stop = start + batch_size
        block = queries[start:stop] @ targets.T
        block *= 2
        block -= target_hubness[None, :]
        block -= query_hubness[start:stop, None]
        if keep < 1.0:
            # A dropped score can never be chosen (-inf rather than the paper's 0: a zero would
            # beat every negative CSLS score and hand the row to the first dropped column).
            block[rng.random(block.shape, dtype=np.float32) >= keep] = -np.inf
        best[start:stop] = block.argmax(axis=1)
        score[start:stop] = block[np.arange(block.shape[0]), best[start:stop]]
    return best, score


def induce_dictionary(
    X: object,
    Y: object,
    csls_k: int = 10,
    keep: float = 1.0,
    random_state: int | np.random.Generator | None = 0,
    batch_size: int = 1024,
) -> tuple[np.ndarray, float]:
    """Bidirectional CSLS dictionary induction, optionally stochastic (robust self-learning).

    Artetxe, Labaka & Agirre (2018, ACL, Sect. 3.3): each source word is paired with its best
    target by CSLS (Conneau et al. 2018, Eq. 6) and each target word with its best source; the
    dictionary is the union of both directions. With ``keep < 1`` each similarity is kept only
    with probability ``keep`` ("stochastic dictionary induction"), so the induction can leave a
    poor local optimum. Memory is O(batch_size x n).

    Parameters
    ----------
    X : array of shape (n, r)
        Source words already mapped into the shared space.
    Y : array of shape (m, r)
        Target words in the shared space.
    csls_k : int, default 10
    keep : float in (0, 1], default 1.0
        Probability that a similarity takes part in the induction.
    random_state : int, Generator or None, default 0
        Seed of the dropped similarities.
    batch_size : int, default 1024

    Returns
    -------
    pairs : int array of shape (n_pairs, 2)
        (source row, target row), sorted, without duplicates.
    objective : float
        The mean CSLS score of the chosen pairs over both directions: the unsupervised
        criterion the self-learning climbs (it uses no gold pair).

    Examples
    --------
    >>> import numpy as np
    >>> pairs, _ = induce_dictionary(np.eye(3), np.eye(3)[[2, 0, 1]], csls_k=1)
    >>> pairs.tolist()
    [[0, 1], [1, 2], [2, 0]]
    """
    X, Y = unit_pair(X, Y, ("source embeddings", "target embeddings"))
    csls_k = min(_check_count(csls_k, "csls_k", 1), X.shape[0], Y.shape[0])
    keep = float(keep) if isinstance(keep, int | float) and not isinstance(keep, bool) else -1.0
    if not 0 < keep <= 1:
        raise InvalidParameterError(f"keep must be a probability in (0, 1]; got {keep!r}.")
    batch_size = _check_count(batch_size, "batch_size", 1)
    rng = np.random.default_rng(random_state)
    x_hubness = mean_neighbor_similarity(X, Y, csls_k, batch_size)
    y_hubness = mean_neighbor_similarity(Y, X, csls_k, batch_size)
    forward, forward_score = _best_matches(X, Y, x_hubness, y_hubness, keep, rng, batch_size)
    backward, backward_score = _best_matches(Y, X, y_hubness, x_hubness, keep, rng, batch_size)
    pairs = np.concatenate(
        [
            np.stack([np.arange(X.shape[0]), forward], axis=1),
            np.stack([backward, np.arange(Y.shape[0])], axis=1),
        ]
    )
    objective = (float(forward_score.mean()) + float(backward_score.mean())) / 2
    return np.unique(pairs, axis=0), objective


def unsupervised_dictionary(
    X: object, Y: object, n_words: int = 4000, csls_k: int = 10, batch_size: int = 1024
) -> np.ndarray:
    """A first dictionary from no pair at all: CSLS matches of the similarity distributions.

    The fully unsupervised initialisation of Artetxe, Labaka & Agirre (2018, ACL, Sect. 3.2):
    :func:`similarity_distribution_features` of the ``n_words`` most frequent words of each
    side, then bidirectional CSLS induction between them (:func:`induce_dictionary`). Meant as
    the start of :func:`robust_self_learning`.

    Parameters
    ----------
    X : array of shape (n_source, d_s)
        Source embeddings in frequency order, normalised.
    Y : array of shape (n_target, d_t)
        Target embeddings in frequency order, normalised (any dimension).
    n_words : int, default 4000
    csls_k : int, default 10
    batch_size : int, default 1024

    Returns
    -------
    pairs : int array of shape (n_pairs, 2)
        (source row, target row), both among the first ``n_words`` rows.
    """
    source = similarity_distribution_features(X, n_words)
    target = similarity_distribution_features(Y, n_words)
    n = min(source.shape[1], target.shape[1])
    if source.shape[1] != target.shape[1]:
        # Sorted rows of different lengths: compare the same quantiles of both distributions.
        source = normalize_embeddings(
            source[:, np.linspace(0, source.shape[1] - 1, n).round().astype(int)]
        )
        target = normalize_embeddings(
            target[:, np.linspace(0, target.shape[1] - 1, n).round().astype(int)]
        )
    return induce_dictionary(source, target, csls_k, batch_size=batch_size)[0]


def robust_self_learning(
    X: object,
    Y: object,
    seed_pairs: object,
    max_vocab: int = 20_000,
    csls_k: int = 10,
    initial_keep: float = 0.1,
    patience: int = 3,
    max_iter: int = 60,
    tol: float = 1e-6,
    random_state: int | None = 0,
    batch_size: int = 1024,
    progress: Callable[[int, int], None] | None = None,
) -> SelfLearningResult:
    """Self-learning that can start from a poor dictionary: stochastic, bidirectional, CSLS.

    The robust self-learning of Artetxe, Labaka & Agirre (2018, ACL, Sect. 3.3): each iteration
    maps both spaces with :func:`fit_procrustes` on the current dictionary, then induces the next
    one among the ``max_vocab`` most frequent words of each side (frequency cut-off) by
    bidirectional CSLS with each similarity kept only with probability ``keep``
    (:func:`induce_dictionary`). ``keep`` starts at ``initial_keep`` and doubles whenever the
    objective (the mean CSLS score of the induced pairs) has not improved by ``tol`` for
    ``patience`` iterations; the loop ends when that happens at ``keep = 1``. The paper waits 50
    iterations; a few suffice on small vocabularies and keep a CPU run short. The last dictionary
    is induced with every similarity kept.

    Parameters
    ----------
    X : array of shape (n_source, d_s)
        Source embeddings in frequency order, normalised.
    Y : array of shape (n_target, d_t)
        Target embeddings in frequency order, normalised.
    seed_pairs : int array of shape (n_pairs, 2)
        The starting dictionary (e.g. :func:`unsupervised_dictionary`); it is not kept.
    max_vocab : int, default 20000
    csls_k : int, default 10
    initial_keep : float in (0, 1], default 0.1
    patience : int, default 3
    max_iter : int, default 60
        Most iterations in all.
    tol : float, default 1e-6
    random_state : int or None, default 0
        Seed of the stochastic induction.
    batch_size : int, default 1024
    progress : callable or None
        ``progress(iteration, max_iter)`` after each iteration.

    Returns
    -------
    SelfLearningResult
        ``converged`` is True when the schedule ended before ``max_iter``; ``objective`` is the
        mean CSLS score of the final dictionary.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = normalize_embeddings(rng.normal(size=(300, 10)))
    >>> Y = X @ np.linalg.qr(rng.normal(size=(10, 10)))[0]
    >>> weak = np.stack([np.arange(30), np.arange(30)], axis=1)
    >>> result = robust_self_learning(X, Y, weak, patience=1)
    >>> bool((result.pairs[:, 0] == result.pairs[:, 1]).mean() > 0.95)
    True
    """
    X = as_embeddings(X, "source embeddings")
    Y = as_embeddings(Y, "target embeddings")
    pairs = _check_pairs(seed_pairs, X.shape[0], Y.shape[0])
    max_vocab = _check_count(max_vocab, "max_vocab", 1)
    patience = _check_count(patience, "patience", 1)
    max_iter = _check_count(max_iter, "max_iter", 1)
    keep = float(initial_keep) if isinstance(initial_keep, int | float) else -1.0
    if isinstance(initial_keep, bool) or not 0 < keep <= 1:
        raise InvalidParameterError(
            f"initial_keep must be a probability in (0, 1]; got {initial_keep!r}."
        )
    rng = np.random.default_rng(random_state)
    Xf, Yf = X[:max_vocab], Y[:max_vocab]
    best, stalled, history, converged = -np.inf, 0, [], False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        mapping = fit_procrustes(X, Y, pairs)
        pairs, objective = induce_dictionary(
            mapping.transform_source(Xf), mapping.transform_target(Yf), csls_k, keep, rng,
            batch_size,
        )  # fmt: skip
        history.append(len(pairs))
        logger.info(
            "robust self-learning iteration %d: keep %.3f, %d pairs, objective %.5f",
            n_iter, keep, len(pairs), objective,
        )  # fmt: skip
        if progress is not None:
            progress(n_iter, max_iter)
        if objective > best + tol:
            best, stalled = objective, 0
        else:
            stalled += 1
        if stalled >= patience:
            if keep >= 1.0:
                converged = True
                break
            keep, stalled = min(1.0, 2 * keep), 0
    if not converged:
        mapping = fit_procrustes(X, Y, pairs)
        pairs, objective = induce_dictionary(
            mapping.transform_source(Xf), mapping.transform_target(Yf), csls_k, 1.0, rng,
            batch_size,
        )  # fmt: skip
    mapping = fit_procrustes(X, Y, pairs)
    return SelfLearningResult(mapping, pairs, n_iter, converged, history, objective)
