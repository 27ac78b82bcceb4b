"""Domain-invariant representations: marginalized stacked denoising autoencoders (mSDA).

mSDA learns, from source and target rows together and without labels, a representation in which
features that co-occur across domains reconstruct each other; a linear classifier trained on the
source in that space transfers better (Chen, Xu, Weinberger & Sha, 2012). Each layer is a closed
form (no gradient descent): the expected reconstruction under feature dropout, marginalised over
infinitely many corrupted copies.

Examples
--------
>>> import numpy as np
>>> from transferkit.invariant import msda_fit, msda_transform
>>> X = (np.random.default_rng(0).random((100, 20)) > 0.7).astype(float)
>>> layers = msda_fit(X, noise=0.5, n_layers=2)
>>> msda_transform(X, layers).shape
(100, 60)
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
import scipy.linalg.lapack
import scipy.sparse as sp
from sklearn.utils import check_random_state

from transferkit.base import AdaptedClassifier, BaseAdapter
from transferkit.checks import check_choice, check_nonnegative, check_positive_int
from transferkit.exceptions import InvalidParameterError, MemoryCostWarning
from transferkit.problem import DataMatrix, TransferProblem
from transferkit.registry import register_method

logger = logging.getLogger(__name__)

__all__ = [
    "MSDA",
    "MSDALayer",
    "msda_fit",
    "msda_layer",
    "msda_memory_estimate",
    "msda_transform",
]

#: MSDA.fit warns (MemoryCostWarning and the log) when its estimate exceeds this many bytes.
MEMORY_WARNING_BYTES = 2e9

_NONLINEARITIES = ("tanh", "none")


@dataclass
class MSDALayer:
    """One marginalised denoising layer: ``h = f(mean_k W_k [x_{I_k}; 1])``.

    ``blocks`` lists the input-feature subsets ``I_k`` and ``weights`` their maps ``W_k``
    (``n_outputs x (|I_k| + 1)``, the last column multiplies the bias); with one block holding every
    input this is the paper's single map ``W``.
    """

    blocks: list[np.ndarray]
    weights: list[np.ndarray]
    nonlinearity: str = "tanh"

    @property
    def n_outputs(self) -> int:
        return self.weights[0].shape[0]

    def transform(self, X: DataMatrix) -> np.ndarray:
        total = np.zeros((X.shape[0], self.n_outputs))
        for block, W in zip(self.blocks, self.weights, strict=True):
            part = X[:, block] if len(block) < X.shape[1] else X
            total += np.asarray(part @ W[:, :-1].T) + W[:, -1]
        total /= len(self.blocks)
        return np.tanh(total) if self.nonlinearity == "tanh" else total


def _scatter(X: DataMatrix) -> tuple[np.ndarray, np.ndarray, int]:
    """``X^T X`` (dense), the column sums and the row count: the statistics of ``[X; 1]``."""
    S = X.T @ X
    S = S.toarray() if sp.issparse(S) else np.asarray(S, dtype=float)
    sums = np.asarray(X.sum(axis=0)).ravel()
    return S, sums, X.shape[0]


def _mda_map(
    S: np.ndarray,
    sums: np.ndarray,
    n: int,
    inputs: np.ndarray,
    outputs: np.ndarray,
    noise: float,
    ridge: float,
) -> np.ndarray:
    """Closed-form mDA map reconstructing ``outputs`` from corrupted ``inputs`` (+ bias).

    Chen et al. (2012), Eq. 9-11 (their Algorithm 1): with ``q = [1-p, ..., 1-p, 1]`` and the
    scatter ``S`` of ``[x; 1]``, ``Q_ij = S_ij q_i q_j`` (``Q_ii = S_ii q_i``), ``P_ij = S_ij q_j``
    and ``W = P Q^(-1)``. ``ridge`` is the paper's small ``lambda I`` added to ``Q`` for stability.
    """
    keep = 1.0 - noise
    m = len(inputs)
    # scatter of the augmented inputs [x_I; 1]
    S_in = np.empty((m + 1, m + 1))
    S_in[:m, :m] = S[np.ix_(inputs, inputs)]
    S_in[:m, m] = S_in[m, :m] = sums[inputs]
    S_in[m, m] = n
    q = np.concatenate([np.full(m, keep), [1.0]])
    Q = S_in * np.outer(q, q)
    Q[np.diag_indices(m + 1)] = np.diag(S_in) * q
    Q[np.diag_indices(m + 1)] += ridge * max(float(np.mean(np.diag(S_in)[:m])), 1e-12)
    position = {feature: index for index, feature in enumerate(inputs)}
    rows = [position.get(feature) for feature in outputs]
    if None not in rows and 3 * len(outputs) > m:
        # Every output is also an input: with Q = D_q S D_q + Delta (Delta diagonal: the dropout
        # variance plus the ridge) and P = S[outputs] D_q, W = P Q^-1 = D_q^-1 (I - Delta Q^-1)
        # on the output rows, so one Cholesky inverse replaces a solve with |outputs| right-hand
        # sides (about 3x fewer flops when every feature is a pivot).
        rows = np.asarray(rows)
        delta = np.diag(Q) - np.diag(S_in) * q * q
        inverse = _cholesky_inverse(Q)
        W = -(delta[rows] / q[rows])[:, None] * inverse[rows]
        W[np.arange(len(rows)), rows] += 1.0 / q[rows]
        return W
    # cross scatter of outputs with the augmented inputs, times q (the expected corruption)
    P = np.empty((len(outputs), m + 1))
    P[:, :m] = S[np.ix_(outputs, inputs)]
    P[:, m] = sums[outputs]
    P *= q
    # W = P Q^-1 with Q symmetric positive definite: solve Q W^T = P^T
    try:
        factor = scipy.linalg.cho_factor(Q, check_finite=False)
        return scipy.linalg.cho_solve(factor, P.T, check_finite=False).T
    except np.linalg.LinAlgError:
        return scipy.linalg.solve(Q, P.T, assume_a="sym").T


def _cholesky_inverse(Q: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive definite matrix through its Cholesky factor (LAPACK potri)."""
    try:
        factor, info = scipy.linalg.lapack.dpotrf(Q, lower=False, clean=False)
        if info != 0:
            raise np.linalg.LinAlgError(f"potrf info={info}")
        inverse, info = scipy.linalg.lapack.dpotri(factor, lower=False)
        if info != 0:
            raise np.linalg.LinAlgError(f"potri info={info}")
    except np.linalg.LinAlgError:
        return np.linalg.inv(Q)
    upper = np.triu(inverse)
    return upper + np.triu(inverse, 1).T


def msda_layer(
    X: DataMatrix,
    noise: float = 0.5,
    n_pivots: int | None = None,
    block_size: int = 5000,
    nonlinearity: str = "tanh",
    ridge: float = 1e-5,
    random_state: int | None = None,
) -> MSDALayer:
    """Fit one mDA layer on ``X`` (dense or sparse, never densified).

    With ``n_pivots`` < d, only the ``n_pivots`` most frequent (largest total) features are
    reconstructed, and when d exceeds ``block_size`` the inputs are split at random into blocks of
    at most ``block_size`` features, each with its own map, whose outputs are averaged: the
    paper's extension for high-dimensional data (Chen et al. 2012, Sec. 3.4), which bounds the
    cost by ``O(d block_size^2)`` instead of ``O(d^3)``.
    """
    d = X.shape[1]
    n_pivots = d if n_pivots is None else min(n_pivots, d)
    S, sums, n = _scatter(X)
    frequency = np.asarray(abs(X).sum(axis=0)).ravel() if sp.issparse(X) else np.abs(X).sum(axis=0)
    pivots = np.sort(np.argsort(-frequency, kind="stable")[:n_pivots])
    if d <= block_size:
        blocks = [np.arange(d)]
    else:
        order = check_random_state(random_state).permutation(d)
        n_blocks = int(np.ceil(d / block_size))
        blocks = [np.sort(part) for part in np.array_split(order, n_blocks)]
    weights = [_mda_map(S, sums, n, block, pivots, noise, ridge) for block in blocks]
    return MSDALayer(blocks, weights, nonlinearity)


def msda_fit(
    X: DataMatrix,
    noise: float = 0.5,
    n_layers: int = 3,
    n_pivots: int | None = 5000,
    block_size: int = 5000,
    nonlinearity: str = "tanh",
    ridge: float = 1e-5,
    random_state: int | None = None,
) -> list[MSDALayer]:
    """Fit a stack of ``n_layers`` mDA layers; each layer's input is the previous layer's output.

    Chen, Xu, Weinberger & Sha (2012), "Marginalized denoising autoencoders for domain
    adaptation", ICML, Sec. 3.3 (stacking) and Algorithm 1. See :func:`msda_layer` for the
    parameters; ``n_pivots`` (default 5,000, the DANN paper's setting for the Amazon reviews)
    caps the width of every hidden layer.
    """
    check_nonnegative(noise, "noise", "msda")
    if noise >= 1:
        raise InvalidParameterError(
            f"msda: noise={noise} must be below 1 (it is the probability of dropping a feature)."
        )
    n_layers = check_positive_int(n_layers, "n_layers", "msda")
    if n_pivots is not None:
        check_positive_int(n_pivots, "n_pivots", "msda")
    block_size = check_positive_int(block_size, "block_size", "msda")
    check_choice(nonlinearity, "nonlinearity", "msda", _NONLINEARITIES)
    check_nonnegative(ridge, "ridge", "msda")
    layers = []
    current = X
    for index in range(n_layers):
        seed = None if random_state is None else random_state + index
        layer = msda_layer(current, noise, n_pivots, block_size, nonlinearity, ridge, seed)
        layers.append(layer)
        current = layer.transform(current)
        logger.debug("msda: layer %d -> %d outputs", index + 1, layer.n_outputs)
    return layers


def msda_transform(
    X: DataMatrix, layers: list[MSDALayer], include_input: bool = True
) -> DataMatrix:
    """The mSDA representation: the input and every layer's output, concatenated (Sec. 3.3).

    Sparse input stays sparse when ``include_input`` is True (the hidden layers are appended as a
    dense block inside a sparse matrix); otherwise only the dense hidden layers are returned.
    """
    hidden = []
    current = X
    for layer in layers:
        current = layer.transform(current)
        hidden.append(current)
    dense_hidden = np.hstack(hidden)
    if not include_input:
        return dense_hidden
    if sp.issparse(X):
        return sp.hstack([X, sp.csr_matrix(dense_hidden)]).tocsr()
    return np.hstack([np.asarray(X, dtype=float), dense_hidden])


def msda_memory_estimate(
    n_rows: int,
    n_features: int,
    n_layers: int = 3,
    n_pivots: int | None = 5000,
    block_size: int = 5000,
    include_input: bool = True,
    sparse: bool = True,
) -> dict[str, float]:
    """Bytes mSDA needs, from the sizes alone: a model of the float64 arrays it allocates.

    * ``"fit"``: the peak of :func:`msda_fit` on ``n_rows`` rows: the full ``d x d`` scatter of a
      layer's input, about seven ``(block + 1)^2`` matrices of the closed-form solve, the maps
      kept, and a few ``n_rows x n_pivots`` temporaries of the layer's output;
    * ``"model"``: the fitted layers' maps, kept for every later transform;
    * ``"stored_per_row"``: one row of the representation :func:`msda_transform` returns
      (``n_layers * n_pivots`` dense values per row, kept in a sparse matrix when the input is
      sparse and ``include_input``: 12 bytes a value);
    * ``"transform_per_row"``: the transient peak per transformed row (the hidden layers, their
      stacked copy and, for sparse input, the conversions into the sparse result).

    The representation, not the solve, dominates on wide data: on an Amazon pair (4,000 rows
    fitted, 5,000 features, 5 layers of 5,000 pivots) each row carries 25,000 dense values.
    """
    d_in = n_features
    fit = 0.0
    kept = 0.0
    for _ in range(n_layers):
        p = d_in if n_pivots is None else min(n_pivots, d_in)
        b = min(block_size, d_in)
        n_blocks = -(-d_in // b)
        kept += p * (d_in + n_blocks)
        # the layer's output is built from a few n x p temporaries (product, sum, tanh), and
        # each block of inputs is a column copy of the rows
        columns = n_rows * b if n_blocks > 1 else 0
        fit = max(fit, 8.0 * (d_in * d_in + 7 * (b + 1) ** 2 + kept + 4 * n_rows * p + columns))
        d_in = p
    width = n_layers * (n_features if n_pivots is None else min(n_pivots, n_features))
    if include_input and sparse:
        stored, transient = 12.0 * width, (8 + 8 + 12 + 16 + 12) * width
    elif include_input:
        stored, transient = 8.0 * (n_features + width), 8.0 * (2 * width + n_features + width)
    else:
        stored, transient = 8.0 * width, 16.0 * width
    return {
        "fit": fit,
        "model": 8.0 * kept,
        "stored_per_row": stored,
        "transform_per_row": transient,
    }


class MSDA(BaseAdapter):
    """Marginalized stacked denoising autoencoder features (Chen et al. 2012).

    Fitted without labels on source and target rows together; both domains then map through the
    same layers to ``[x, h_1, ..., h_L]``. Closed form per layer (Eq. 9-11), with the paper's
    high-dimensional extension (reconstruct the ``n_pivots`` most frequent features from random
    input blocks, Sec. 3.4).

    Parameters
    ----------
    noise : float, default 0.5
        Probability ``p`` of dropping each input feature in the marginalised corruption, in [0, 1).
    n_layers : int, default 3
    n_pivots : int or None, default 5000
        Reconstructed (pivot) features per layer: the most frequent ones; None keeps all.
    block_size : int, default 5000
        Largest input block of one closed-form map (bounds memory at ``block_size^2``).
    nonlinearity : {"tanh", "none"}, default "tanh"
    include_input : bool, default True
        Concatenate the raw features with the hidden layers (the paper's representation).
    ridge : float, default 1e-5
        Relative ridge on ``Q`` for a stable solve.
    random_state : int or None
        Seeds the random input blocks (used only when d > block_size).

    Notes
    -----
    Sparse input stays sparse (scatter matrices are computed from it directly).

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.problem import TransferProblem
    >>> rng = np.random.default_rng(0)
    >>> X = (rng.random((120, 30)) > 0.8).astype(float)
    >>> problem = TransferProblem(X[:60], np.arange(60) % 2, X[60:])
    >>> MSDA(n_layers=2).fit(problem).transform(problem.X_target).shape
    (60, 90)
    """

    accepts_sparse = True

    def __init__(
        self,
        noise: float = 0.5,
        n_layers: int = 3,
        n_pivots: int | None = 5000,
        block_size: int = 5000,
        nonlinearity: str = "tanh",
        include_input: bool = True,
        ridge: float = 1e-5,
        random_state: int | None = None,
    ):
        self.noise = noise
        self.n_layers = n_layers
        self.n_pivots = n_pivots
        self.block_size = block_size
        self.nonlinearity = nonlinearity
        self.include_input = include_input
        self.ridge = ridge
        self.random_state = random_state

    def _fit(self, problem: TransferProblem) -> None:
        if problem.is_sparse or sp.issparse(problem.X_target):
            X = sp.vstack([sp.csr_matrix(problem.X_source), sp.csr_matrix(problem.X_target)])
            X = X.tocsr()
        else:
            X = np.concatenate([problem.X_source, problem.X_target]).astype(float)
        self._warn_about_memory(X)
        self.layers_ = msda_fit(
            X,
            noise=self.noise,
            n_layers=self.n_layers,
            n_pivots=self.n_pivots,
            block_size=self.block_size,
            nonlinearity=self.nonlinearity,
            ridge=self.ridge,
            random_state=self.random_state,
        )

    def _transform(self, X: DataMatrix, domain: int) -> DataMatrix:
        return msda_transform(X, self.layers_, self.include_input)

    def _warn_about_memory(self, X: DataMatrix) -> None:
        """Warn before fitting when the estimated peak exceeds ``MEMORY_WARNING_BYTES``."""
        n, d = X.shape
        # the same checks (and messages) msda_fit makes, before the sizes are multiplied
        n_layers = check_positive_int(self.n_layers, "n_layers", "msda")
        if self.n_pivots is not None:
            check_positive_int(self.n_pivots, "n_pivots", "msda")
        block_size = check_positive_int(self.block_size, "block_size", "msda")
        cost = msda_memory_estimate(
            n, d, n_layers, self.n_pivots, block_size, self.include_input, sp.issparse(X)
        )
        # the peak: the fit, or later the model with these rows' representation and one
        # transform of as many rows running
        per_row = cost["stored_per_row"] + cost["transform_per_row"]
        total = max(cost["fit"], cost["model"] + n * per_row)
        if total <= MEMORY_WARNING_BYTES:
            return
        message = (
            f"MSDA on {n} rows x {d} features with n_layers={self.n_layers}, "
            f"n_pivots={self.n_pivots}, block_size={self.block_size} needs about "
            f"{total / 1e9:.1f} GB at its peak ({cost['fit'] / 1e9:.1f} GB to fit, "
            f"{cost['model'] / 1e9:.1f} GB for the fitted layers; each row of the representation "
            f"keeps {cost['stored_per_row'] / 1e6:.2f} MB and takes "
            f"{cost['transform_per_row'] / 1e6:.2f} MB more while it is transformed). To reduce "
            "it, lower n_pivots (the width of every hidden layer: each row keeps n_layers * "
            "n_pivots values) or n_layers; a lower block_size shrinks the fit's "
            "(block_size + 1)^2 matrices."
        )
        logger.warning(message)
        warnings.warn(message, MemoryCostWarning, stacklevel=4)


@register_method(
    "msda", "invariant", "Marginalized stacked denoising autoencoder features (Chen et al. 2012)"
)
def _msda(estimator: Any, random_state: int | None, **params: Any) -> Any:
    return AdaptedClassifier(MSDA(random_state=random_state, **params), estimator)
