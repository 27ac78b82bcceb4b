"""Word retrieval across two embedding spaces: cosine nearest neighbours and CSLS, in blocks.

Every function here works on blocks of ``batch_size`` query rows at a time, so memory stays
O(batch_size x n_targets) and never holds an n x n similarity matrix (MUSE's approach, Conneau et
al. 2018; the search vocabulary is restricted to the frequent words by the caller, see
:func:`transferkit.crosslingual.lexicon.evaluate_bli`).

Examples
--------
>>> import numpy as np
>>> from transferkit.crosslingual.retrieval import retrieve
>>> targets = np.eye(3)
>>> retrieve(np.array([[0.9, 0.1, 0.0]]), targets, k=2)[0].tolist()
[[0, 1]]
"""

from __future__ import annotations

import numpy as np

from transferkit.exceptions import (
    EmptyDomainError,
    FeatureSpaceMismatchError,
    InvalidParameterError,
    NonFiniteDataError,
)

#: Retrieval criteria :func:`retrieve` knows.
RETRIEVAL_METHODS = ("nn", "csls")


def as_embeddings(X: object, name: str) -> np.ndarray:
    """``X`` as a 2-d float32 array with rows, checked (our errors name ``name``)."""
    array = np.asarray(X, dtype=np.float32)
    if array.ndim != 2:
        raise InvalidParameterError(
            f"{name} must be a 2-d array (one row per word); got shape {array.shape}."
        )
    if array.shape[0] == 0:
        raise EmptyDomainError(f"{name} has no rows: give at least one word vector.")
    if not np.isfinite(array).all():
        raise NonFiniteDataError(f"{name} holds NaN or infinite values; drop or fix those rows.")
    return array


def unit_rows(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit Euclidean length (zero rows stay zero)."""
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norms > 0, norms, 1.0)


def unit_pair(
    first: object, second: object, names: tuple[str, str] = ("queries", "targets")
) -> tuple[np.ndarray, np.ndarray]:
    """Two embedding matrices at unit row length, checked to share one space.

    ``names`` label them in the errors (a bad matrix, or a mismatch of dimensions that names
    :func:`transferkit.crosslingual.fit_procrustes` as the way to one space).

    Examples
    --------
    >>> import numpy as np
    >>> X, Y = unit_pair(np.eye(2) * 3, np.ones((1, 2)))
    >>> X.shape, Y.shape, bool(np.allclose(np.linalg.norm(Y, axis=1), 1.0))
    ((2, 2), (1, 2), True)
    """
    first = unit_rows(as_embeddings(first, names[0]))
    second = unit_rows(as_embeddings(second, names[1]))
    if first.shape[1] != second.shape[1]:
        raise FeatureSpaceMismatchError(
            f"{names[0]} have {first.shape[1]} dimensions but {names[1]} {second.shape[1]}: map "
            "both into one space first (transferkit.crosslingual.fit_procrustes gives the maps)."
        )
    return first, second


def _check_k(k: int, n: int, name: str) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise InvalidParameterError(f"{name} must be an integer >= 1; got {k!r}.")
    return min(int(k), n)


def _top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the k largest scores of each row, best first (ties: lower index)."""
    if k == 1:  # the refinement's case: argmax is several times faster than a partition
        best = scores.argmax(axis=1)[:, None]
        return best, np.take_along_axis(scores, best, axis=1)
    if k < scores.shape[1]:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(scores.shape[1]), scores.shape).copy()
    values = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -values), axis=1)
    indices = np.take_along_axis(part, order, axis=1)
    return indices, np.take_along_axis(values, order, axis=1)


def _search(
    queries: np.ndarray,
    targets: np.ndarray,
    k: int,
    batch_size: int,
    target_hubness: np.ndarray | None = None,
    query_hubness: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of unit-length queries among unit-length targets, block by block; with hubness terms
    the score is CSLS's ``2 cos - r_T - r_S``."""
    indices = np.empty((queries.shape[0], k), dtype=np.int64)
    scores = np.empty((queries.shape[0], k), dtype=np.float32)
    for start in range(0, queries.shape[0], batch_size):
        stop = start + batch_size
        block = queries[start:stop] @ targets.T
        if target_hubness is not None:
            block *= 2
            block -= target_hubness[None, :]
        indices[start:stop], scores[start:stop] = _top_k(block, k)
        if query_hubness is not None:
            scores[start:stop] -= query_hubness[start:stop, None]
    return indices, scores


def _mean_top_k(X: np.ndarray, Y: np.ndarray, k: int, batch_size: int) -> np.ndarray:
    result = np.empty(X.shape[0], dtype=np.float32)
    for start in range(0, X.shape[0], batch_size):
        block = X[start : start + batch_size] @ Y.T
        if k < block.shape[1]:
            block = np.partition(block, block.shape[1] - k, axis=1)[:, -k:]
        result[start : start + batch_size] = block.mean(axis=1)
    return result


def mean_neighbor_similarity(
    X: object, Y: object, k: int = 10, batch_size: int = 1024
) -> np.ndarray:
    """For each row of ``X``, the mean cosine similarity to its ``k`` nearest rows of ``Y``.

    This is the hubness term r of CSLS (Conneau et al. 2018, Eq. 6): a word close to many words of
    the other space (a "hub") gets a high r and is penalised.

    Parameters
    ----------
    X, Y : array of shape (n, d) and (m, d)
    k : int, default 10
        Neighbourhood size (capped at m).
    batch_size : int, default 1024
        Rows of ``X`` per block; memory is O(batch_size x m).
    """
    X, Y = unit_pair(X, Y)
    k = _check_k(k, Y.shape[0], "k")
    return _mean_top_k(X, Y, k, _check_k(batch_size, X.shape[0], "batch_size"))


def retrieve(
    queries: object,
    targets: object,
    k: int = 10,
    method: str = "nn",
    csls_k: int = 10,
    query_pool: object | None = None,
    batch_size: int = 1024,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best targets of each query, by cosine (``"nn"``) or CSLS (``"csls"``).

    CSLS (cross-domain similarity local scaling; Conneau, Lample, Ranzato, Denoyer & Jégou 2018,
    "Word translation without parallel data", Eq. 6) scores a query x and a target y by
    ``2 cos(x, y) - r_T(y) - r_S(x)``, where r_T(y) is the mean cosine of y to its ``csls_k``
    nearest queries of the pool and r_S(x) that of x to its ``csls_k`` nearest targets. It lowers
    the score of hubs, targets that are nearest neighbours of many queries.

    Parameters
    ----------
    queries : array of shape (n, d)
        Query vectors, already mapped into the targets' space.
    targets : array of shape (m, d)
        The search vocabulary (restrict it to the frequent words, as MUSE does).
    k : int, default 10
        Number of targets returned per query (capped at m).
    method : {"nn", "csls"}, default "nn"
    csls_k : int, default 10
        CSLS neighbourhood size (the paper's K = 10).
    query_pool : array of shape (p, d) or None, default None
        The mapped source vocabulary r_T is measured against; None: ``queries`` themselves. For BLI
        give the frequent source words, so a target's hubness does not depend on the test set.
    batch_size : int, default 1024
        Query rows per block; memory is O(batch_size x m).

    Returns
    -------
    indices : int array of shape (n, k)
        Target rows, best first.
    scores : float array of shape (n, k)
        Their cosine (NN) or CSLS score.
    """
    if method not in RETRIEVAL_METHODS:
        raise InvalidParameterError(f"method must be one of {RETRIEVAL_METHODS}; got {method!r}.")
    queries, targets = unit_pair(queries, targets)
    k = _check_k(k, targets.shape[0], "k")
    batch_size = _check_k(batch_size, queries.shape[0], "batch_size")
    if method == "nn":
        return _search(queries, targets, k, batch_size)
    pool = queries if query_pool is None else unit_pair(query_pool, targets)[0]
    csls_k = _check_k(csls_k, min(targets.shape[0], pool.shape[0]), "csls_k")
    target_hubness = _mean_top_k(targets, pool, csls_k, batch_size)
    query_hubness = _mean_top_k(queries, targets, csls_k, batch_size)
    return _search(queries, targets, k, batch_size, target_hubness, query_hubness)


def mutual_nearest_neighbors(
    X: object, Y: object, method: str = "csls", csls_k: int = 10, batch_size: int = 1024
) -> np.ndarray:
    """Pairs (i, j) where row j of ``Y`` is the best match of row i of ``X`` and vice versa.

    The dictionary-induction step of self-learning (Artetxe, Labaka & Agirre 2018, Sect. 3.3;
    Conneau et al. 2018, Sect. 2.3): only pairs both directions agree on are trusted.

    Returns
    -------
    pairs : int array of shape (n_pairs, 2)
        Sorted by i.
    """
    if method not in RETRIEVAL_METHODS:
        raise InvalidParameterError(f"method must be one of {RETRIEVAL_METHODS}; got {method!r}.")
    X, Y = unit_pair(X, Y)
    batch_size = _check_k(batch_size, max(X.shape[0], Y.shape[0]), "batch_size")
    x_hubness = y_hubness = None
    if method == "csls":
        # Both directions use the same two hubness vectors: compute them once.
        csls_k = _check_k(csls_k, min(X.shape[0], Y.shape[0]), "csls_k")
        x_hubness = _mean_top_k(X, Y, csls_k, batch_size)
        y_hubness = _mean_top_k(Y, X, csls_k, batch_size)
    forward, _ = _search(X, Y, 1, batch_size, y_hubness)
    backward, _ = _search(Y, X, 1, batch_size, x_hubness)
    rows = np.arange(forward.shape[0])
    mutual = backward[forward[:, 0], 0] == rows
    return np.stack([rows[mutual], forward[mutual, 0]], axis=1)
