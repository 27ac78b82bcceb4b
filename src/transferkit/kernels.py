"""Kernels and their low-rank forms, shared by the kernel methods (TCA, JDA, KMM, KLIEP).

Every kernel method here works on an explicit feature map ``Phi`` with ``K ~= Phi @ Phi.T``:

* ``"exact"`` — the Nyström map with *every* fitted sample as a landmark, which reproduces the kernel
  matrix exactly on the fitted samples (up to dropped null directions) and extends it to new rows
  the same way the exact kernel methods do, through ``k(x, X_fit)``;
* ``"nystroem"`` — the same map with ``n_landmarks`` samples drawn at random (Williams & Seeger,
  2001, "Using the Nyström method to speed up kernel machines", Eq. 6);
* ``"rff"`` — random Fourier features for the Gaussian kernel (Rahimi & Recht, 2007, "Random
  features for large-scale kernel machines", Algorithm 1);
* for the linear kernel with few features, ``Phi = X`` itself (exact and cheapest).

``approximation="auto"`` picks the exact form up to ``exact_threshold`` samples and Nyström above,
so memory grows as ``n * n_landmarks`` instead of ``n**2``.

Examples
--------
>>> import numpy as np
>>> from transferkit.kernels import KernelFeatureMap, kernel_matrix
>>> X = np.random.default_rng(0).normal(size=(50, 3))
>>> feature_map = KernelFeatureMap("rbf", gamma=0.5, approximation="exact").fit(X)
>>> Phi = feature_map.transform(X)
>>> bool(np.allclose(Phi @ Phi.T, kernel_matrix(X, kernel="rbf", gamma=0.5), atol=1e-6))
True
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.metrics.pairwise import pairwise_kernels
from sklearn.utils import check_random_state

from transferkit.base import stack_rows
from transferkit.checks import is_number
from transferkit.exceptions import InvalidParameterError, ParameterValueError
from transferkit.problem import DataMatrix

logger = logging.getLogger(__name__)

#: Kernels every kernel method accepts.
KERNELS = ("linear", "rbf", "poly", "laplacian")
#: Forms of a kernel every kernel method accepts.
APPROXIMATIONS = ("auto", "exact", "nystroem", "rff")

#: Rows of a kernel block computed at once, to bound memory on large inputs.
_CHUNK_ROWS = 8192


def check_kernel(kernel: str, gamma: Any, degree: Any = 3, coef0: Any = 1.0) -> None:
    """Raise :class:`InvalidParameterError` for an unknown kernel or a bad kernel parameter."""
    if kernel not in KERNELS:
        raise ParameterValueError(f"kernel={kernel!r} is not supported; use one of {KERNELS}.")
    if gamma is not None and gamma != "median" and not (is_number(gamma) and gamma > 0):
        raise ParameterValueError(
            f"gamma={gamma!r} must be a positive number, 'median' (median heuristic) or None."
        )
    if kernel == "poly" and not (isinstance(degree, int | np.integer) and degree >= 1):
        raise ParameterValueError(f"degree={degree!r} must be a positive integer.")
    if not is_number(coef0):
        raise ParameterValueError(f"coef0={coef0!r} must be a number.")


def median_heuristic(
    X: DataMatrix,
    Y: DataMatrix | None = None,
    max_samples: int = 1000,
    random_state: int | None = None,
) -> float:
    """Gaussian-kernel ``gamma = 1 / (2 * sigma**2)`` with ``sigma`` the median pairwise distance.

    The median heuristic (Gretton et al., 2012, "A kernel two-sample test", Sec. 8) computed on at
    most ``max_samples`` rows drawn from ``X`` (and ``Y``, when given, pooled with ``X``).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(200, 5))
    >>> 0.05 < median_heuristic(X, random_state=0) < 0.2
    True
    """
    rows = X if Y is None else stack_rows(X, Y, dtype=None)
    n = rows.shape[0]
    rng = check_random_state(random_state)
    if n > max_samples:
        rows = rows[np.sort(rng.choice(n, max_samples, replace=False))]
    squared = rows @ rows.T
    squared = squared.toarray() if sp.issparse(squared) else np.asarray(squared)
    norms = np.diag(squared)
    distances = norms[:, None] + norms[None, :] - 2 * squared
    upper = distances[np.triu_indices(len(norms), k=1)]
    upper = upper[upper > 1e-12]
    if len(upper) == 0:
        return 1.0
    return float(1.0 / (2.0 * np.median(upper)))


def resolve_gamma(
    kernel: str, gamma: Any, X: DataMatrix, random_state: int | None = None
) -> float | None:
    """A usable ``gamma``: None/'median' give the median heuristic for rbf/laplacian, 1/d for poly."""
    if kernel == "linear":
        return None
    if gamma is None or gamma == "median":
        if kernel in ("rbf", "laplacian"):
            return median_heuristic(X, random_state=random_state)
        return 1.0 / X.shape[1]
    return float(gamma)


def kernel_matrix(
    X: DataMatrix,
    Y: DataMatrix | None = None,
    kernel: str = "rbf",
    gamma: float | None = None,
    degree: int = 3,
    coef0: float = 1.0,
) -> np.ndarray:
    """The kernel matrix ``k(X, Y)`` (dense), for dense or sparse input.

    ``gamma`` None uses the median heuristic on ``X`` for rbf/laplacian.
    """
    check_kernel(kernel, gamma, degree, coef0)
    gamma = resolve_gamma(kernel, gamma, X)
    if kernel == "laplacian":
        return np.asarray(pairwise_kernels(X, Y, metric="laplacian", gamma=gamma))
    Y_ = X if Y is None else Y
    product = X @ Y_.T
    product = product.toarray() if sp.issparse(product) else np.asarray(product, dtype=float)
    if kernel == "linear":
        return product
    if kernel == "poly":
        return (gamma * product + coef0) ** degree
    # rbf: exp(-gamma ||x - y||^2) from the inner products, in place to spare memory
    product *= -2.0
    product += squared_norms(X)[:, None]
    product += squared_norms(Y_)[None, :]
    np.maximum(product, 0.0, out=product)
    product *= -gamma
    return np.exp(product, out=product)


def squared_norms(X: DataMatrix) -> np.ndarray:
    """``||x||^2`` of every row of ``X`` (dense or sparse), as a float array of shape (n,)."""
    if sp.issparse(X):
        return np.asarray(X.multiply(X).sum(axis=1)).ravel()
    X = np.asarray(X, dtype=float)
    return np.einsum("ij,ij->i", X, X)


def choose_approximation(
    approximation: str, n_samples: int, exact_threshold: int, kernel: str, n_features: int
) -> str:
    """Resolve ``approximation="auto"`` to the form a kernel method should use.

    The linear kernel with at most ``exact_threshold`` features maps to the features themselves
    ("linear", exact at any sample size); other kernels stay exact up to ``exact_threshold``
    samples, then switch to Nyström.
    """
    if approximation not in APPROXIMATIONS:
        raise InvalidParameterError(
            f"approximation={approximation!r} is not supported; use one of {APPROXIMATIONS}."
        )
    if approximation == "rff" and kernel != "rbf":
        raise InvalidParameterError(
            f"approximation='rff' (random Fourier features) needs kernel='rbf', got {kernel!r}; "
            "use approximation='nystroem' for other kernels."
        )
    if kernel == "linear" and approximation in ("auto", "exact") and n_features <= exact_threshold:
        return "linear"
    if approximation == "auto":
        return "exact" if n_samples <= exact_threshold else "nystroem"
    return approximation


class KernelFeatureMap:
    """An explicit feature map ``phi`` with ``phi(x) . phi(y) ~= k(x, y)``.

    Parameters
    ----------
    kernel : {"linear", "rbf", "poly", "laplacian"}, default "rbf"
    gamma : float, "median" or None, default None
        Kernel width; None or "median" use :func:`median_heuristic` on the fitted rows.
    degree, coef0 : polynomial kernel parameters.
    approximation : {"exact", "nystroem", "rff", "linear"}, default "nystroem"
        "exact" uses every fitted row as a landmark; "linear" returns the features themselves.
    n_components : int, default 500
        Landmarks (Nyström) or random features (rff).
    random_state : int or None
    """

    def __init__(
        self,
        kernel: str = "rbf",
        gamma: Any = None,
        degree: int = 3,
        coef0: float = 1.0,
        approximation: str = "nystroem",
        n_components: int = 500,
        random_state: int | None = None,
    ):
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.approximation = approximation
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, X: DataMatrix) -> KernelFeatureMap:
        check_kernel(self.kernel, self.gamma, self.degree, self.coef0)
        if self.approximation not in ("exact", "nystroem", "rff", "linear"):
            raise InvalidParameterError(
                f"approximation={self.approximation!r}; KernelFeatureMap takes 'exact', "
                "'nystroem', 'rff' or 'linear' (resolve 'auto' with choose_approximation)."
            )
        if not (isinstance(self.n_components, int | np.integer) and self.n_components >= 1):
            raise InvalidParameterError(
                f"n_components={self.n_components!r} must be a positive integer."
            )
        rng = check_random_state(self.random_state)
        n = X.shape[0]
        self.gamma_ = resolve_gamma(self.kernel, self.gamma, X, self.random_state)
        self.form_ = self.approximation
        if self.approximation == "linear":
            self.n_output_ = X.shape[1]
            return self
        if self.approximation == "rff":
            if self.kernel != "rbf":
                raise InvalidParameterError("approximation='rff' needs kernel='rbf'.")
            d = X.shape[1]
            self.frequencies_ = rng.normal(
                scale=np.sqrt(2.0 * self.gamma_), size=(d, self.n_components)
            )
            self.offsets_ = rng.uniform(0.0, 2.0 * np.pi, size=self.n_components)
            self.n_output_ = self.n_components
            return self
        if self.approximation == "exact" or n <= self.n_components:
            index = np.arange(n)
        else:
            index = np.sort(rng.choice(n, self.n_components, replace=False))
        self.landmarks_ = X[index]
        K_mm = self._kernel(self.landmarks_, self.landmarks_)
        K_mm = (K_mm + K_mm.T) / 2
        eigenvalues, eigenvectors = np.linalg.eigh(K_mm)
        # drop null directions: they carry no kernel mass and would blow up the inverse root
        keep = eigenvalues > max(eigenvalues[-1], 0.0) * 1e-10
        if not keep.any():
            keep = eigenvalues >= eigenvalues[-1]
        self.normalization_ = eigenvectors[:, keep] / np.sqrt(eigenvalues[keep])
        self.n_output_ = int(keep.sum())
        return self

    def _kernel(self, X: DataMatrix, Y: DataMatrix) -> np.ndarray:
        return kernel_matrix(X, Y, self.kernel, self.gamma_, self.degree, self.coef0)

    def transform(self, X: DataMatrix) -> np.ndarray | DataMatrix:
        """``phi(X)``; the linear form returns ``X`` unchanged (sparse stays sparse)."""
        if self.form_ == "linear":
            return X
        n = X.shape[0]
        out = np.empty((n, self.n_output_))
        for start in range(0, n, _CHUNK_ROWS):
            rows = X[start : start + _CHUNK_ROWS]
            if self.form_ == "rff":
                projection = rows @ self.frequencies_
                projection = np.asarray(projection) + self.offsets_
                out[start : start + len(projection)] = np.sqrt(2.0 / self.n_output_) * np.cos(
                    projection
                )
            else:
                block = self._kernel(rows, self.landmarks_)
                out[start : start + block.shape[0]] = block @ self.normalization_
        return out

    def fit_transform(self, X: DataMatrix) -> np.ndarray | DataMatrix:
        return self.fit(X).transform(X)

    @property
    def right_factor_(self) -> np.ndarray | None:
        """``N`` with ``phi(X) = raw_transform(X) @ N`` (None: the identity)."""
        return (
            getattr(self, "normalization_", None) if self.form_ in ("exact", "nystroem") else None
        )

    def raw_transform(self, X: DataMatrix) -> np.ndarray | DataMatrix:
        """``Psi(X)`` with ``phi(X) = Psi(X) @ right_factor_``: the kernel against the landmarks
        for Nyström (so callers can fold ``N`` into a small matrix instead of multiplying an
        ``n x m`` block by it), ``phi(X)`` itself for the other forms."""
        if self.right_factor_ is None:
            return self.transform(X)
        n = X.shape[0]
        out = np.empty((n, self.landmarks_.shape[0]))
        for start in range(0, n, _CHUNK_ROWS):
            block = self._kernel(X[start : start + _CHUNK_ROWS], self.landmarks_)
            out[start : start + block.shape[0]] = block
        return out


def gram(Phi: DataMatrix) -> np.ndarray:
    """``Phi.T @ Phi`` as a dense symmetric array (sparse input allowed)."""
    G = Phi.T @ Phi
    G = G.toarray() if sp.issparse(G) else np.asarray(G)
    return (G + G.T) / 2


def column_sums(Phi: DataMatrix, weights: np.ndarray) -> np.ndarray:
    """``Phi.T @ weights`` as a dense array (``weights`` of shape (n,) or (n, k))."""
    out = Phi.T @ weights
    return np.asarray(out.toarray() if sp.issparse(out) else out)
