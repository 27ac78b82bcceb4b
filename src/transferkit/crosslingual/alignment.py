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
from dataclasses import dataclass

import numpy as np

from transferkit.crosslingual.retrieval import (
    as_embeddings,
    mutual_nearest_neighbors,
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
    """

    mapping: CrossLingualMap
    pairs: np.ndarray
    n_iter: int
    converged: bool
    history: list[int]


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
