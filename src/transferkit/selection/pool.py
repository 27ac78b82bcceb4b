"""Validators that score a candidate against the whole pool of candidates of a search.

================== ============================================================== ==============
class              what it measures                                               paper
================== ============================================================== ==============
``EnsembleValidator``       agreement with the ensemble of all candidates (EnsV)  Hu et al. 2024
``DedupEnsembleValidator``  EnsV with near-duplicate candidates counted once in   —
                            the consensus
``GraphEnsembleValidator``  the de-duplicated consensus, and each candidate,      Zhou et al.
                            propagated over the target's nearest-neighbour graph  2004 (graph)
``SourceGuardedValidator``  any validator, among the candidates within a few      Ben-David et
                            points of the best held-out source accuracy           al. 2010 (bound)
================== ============================================================== ==============

They need every candidate's target probabilities, so they work inside
:class:`~transferkit.selection.DomainAwareSearchCV` (or on a list of probability matrices with
``score_pool``), not as per-model scorers. ``SourceGuardedValidator(GraphEnsembleValidator())``
is the search's default, ``"guarded_ensv_graph"``.

Examples
--------
>>> import numpy as np
>>> good, bad = np.eye(2)[[0, 1, 0, 1]], np.eye(2)[[1, 1, 1, 1]]
>>> EnsembleValidator().score_pool([good, good, bad])
[1.0, 1.0, 0.5]
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from transferkit.exceptions import InvalidParameterError, NotApplicableError
from transferkit.problem import ImageCollection
from transferkit.selection.access import count_rows
from transferkit.selection.validators import (
    SINGLE_MODEL_VALIDATORS,
    BaseValidator,
    validator_from,
)

__all__ = [
    "GUARDABLE_VALIDATORS",
    "DedupEnsembleValidator",
    "EnsembleValidator",
    "GraphEnsembleValidator",
    "SourceGuardedValidator",
    "centred_cosine_neighbors",
]


class EnsembleValidator(BaseValidator):
    """Agreement with the ensemble of all candidates (EnsV; Hu, Luo, Liang & Foo, 2024, NeurIPS).

    The mean of every candidate's target probabilities serves as pseudo-labels; a candidate scores
    the share of target rows on which it agrees with them. It needs the whole pool, so it works
    inside :class:`~transferkit.selection.DomainAwareSearchCV` (or on a list of probability
    matrices with :meth:`score_pool`), not as a per-model scorer. The ensemble is rarely worse
    than its members, so the pick avoids the pool's worst cases.
    """

    name = "ensv"
    needs_source_validation = False
    pool = True

    def score_pool(self, probas: Sequence[np.ndarray | None]) -> list[float]:
        """Scores of candidates from their target probabilities (None: failed candidate)."""
        valid = [p for p in probas if p is not None]
        if not valid:
            return [float("nan")] * len(probas)
        consensus = np.mean(valid, axis=0).argmax(axis=1)
        return [
            float("nan") if p is None else float(np.mean(p.argmax(axis=1) == consensus))
            for p in probas
        ]

    def score(self, estimator, X_source_val, y_source_val, X_target, y_target=None) -> float:
        raise NotApplicableError(
            "EnsV scores a candidate against the ensemble of all candidates: use it in "
            "DomainAwareSearchCV(scoring='ensv'), or score_pool on their target probabilities."
        )


class DedupEnsembleValidator(EnsembleValidator):
    """EnsV whose consensus counts near-duplicate candidates as one voter.

    EnsV's consensus is a plain mean over the pool, so the pool's make-up decides it: a grid
    holds several methods that barely move the source classifier (instance weighting, strongly
    regularised alignments, the source-only baseline itself), they agree with each other, and
    together they outvote the candidates that adapt. The consensus then sits near the source
    model and favours its near copies. Here each candidate's weight in the consensus is one over
    the number of candidates (itself included) whose target predictions agree with its own on
    at least ``threshold`` of the rows, so a group of near duplicates weighs about as much as one
    distinct candidate. Scores are, as in EnsV, the share of target rows on which a candidate
    agrees with the weighted consensus.

    Parameters
    ----------
    threshold : float, default 0.8
        Agreement (share of target rows with the same predicted class) from which two candidates
        count as duplicates. 1.0 counts only identical predictions as duplicates (near EnsV).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.2, 0.8]])
    >>> b = np.array([[0.9, 0.1], [0.05, 0.95], [0.05, 0.95], [0.2, 0.8]])
    >>> EnsembleValidator().score_pool([a, a, a, b])  # three copies of a outvote b
    [1.0, 1.0, 1.0, 0.5]
    >>> DedupEnsembleValidator().score_pool([a, a, a, b])  # a counted once: b is surer
    [0.5, 0.5, 0.5, 1.0]
    """

    name = "ensv_dedup"

    def __init__(self, threshold: float = 0.8):
        self.threshold = threshold

    def weights(self, probas: Sequence[np.ndarray]) -> np.ndarray:
        """Consensus weights of candidates from their target probabilities (sum to 1)."""
        if not 0.0 < float(self.threshold) <= 1.0:
            raise InvalidParameterError(
                f"DedupEnsembleValidator: threshold={self.threshold!r} must lie in (0, 1] "
                "(a share of target rows on which two candidates predict the same class)."
            )
        predicted = np.stack([p.argmax(axis=1) for p in probas])
        agreement = np.stack([np.mean(predicted == row, axis=1) for row in predicted])
        weights = 1.0 / np.sum(agreement >= float(self.threshold), axis=1)
        return weights / weights.sum()

    def score_pool(self, probas: Sequence[np.ndarray | None]) -> list[float]:
        """Scores of candidates from their target probabilities (None: failed candidate)."""
        valid = [p for p in probas if p is not None]
        if not valid:
            return [float("nan")] * len(probas)
        consensus = np.tensordot(self.weights(valid), np.stack(valid), axes=1).argmax(axis=1)
        return [
            float("nan") if p is None else float(np.mean(p.argmax(axis=1) == consensus))
            for p in probas
        ]


def centred_cosine_neighbors(X: Any, n_neighbors: int, chunk: int = 1024) -> np.ndarray:
    """Indices of each row's ``n_neighbors`` nearest other rows by the cosine of centred rows.

    Rows are centred on their mean before the cosine, so a feature every row shares does not make
    all rows look alike. Sparse input stays sparse: the centred products come from
    ``x.y - x.m - y.m + m.m``. Memory is ``chunk x n_rows`` at a time.

    Examples
    --------
    >>> X = np.array([[0.0, 1.0], [0.1, 1.0], [5.0, 0.0], [5.0, 0.2]])
    >>> centred_cosine_neighbors(X, 1).ravel().tolist()
    [1, 0, 3, 2]
    """
    n = count_rows(X)
    if not 1 <= int(n_neighbors) < n:
        raise InvalidParameterError(
            f"centred_cosine_neighbors: n_neighbors={n_neighbors!r} must lie in [1, {n - 1}] "
            f"(the number of other rows)."
        )
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=float)
        mean = np.asarray(X.mean(axis=0)).ravel()
        along = X @ mean
        squares = np.asarray(X.multiply(X).sum(axis=1)).ravel()
    else:
        X = np.asarray(X, dtype=float)
        mean = X.mean(axis=0)
        along = X @ mean
        squares = np.einsum("ij,ij->i", X, X)
    centre = float(mean @ mean)
    norms = np.sqrt(np.maximum(squares - 2.0 * along + centre, 1e-24))
    out = np.empty((n, int(n_neighbors)), dtype=np.intp)
    for start in range(0, n, chunk):
        rows = slice(start, min(start + chunk, n))
        products = X[rows] @ X.T
        products = products.toarray() if sp.issparse(products) else np.asarray(products)
        cosine = (products - along[rows, None] - along[None, :] + centre) / (
            norms[rows, None] * norms[None, :]
        )
        cosine[np.arange(cosine.shape[0]), np.arange(rows.start, rows.stop)] = -np.inf
        top = np.argpartition(-cosine, int(n_neighbors) - 1, axis=1)[:, : int(n_neighbors)]
        order = np.argsort(-np.take_along_axis(cosine, top, axis=1), axis=1, kind="stable")
        out[rows] = np.take_along_axis(top, order, axis=1)
    return out


class GraphEnsembleValidator(DedupEnsembleValidator):
    """``ensv_dedup`` whose consensus is smoothed over the target's nearest-neighbour graph.

    Target rows close to each other usually share a class (the cluster assumption that
    self-training and label propagation rest on). The de-duplicated consensus of
    :class:`DedupEnsembleValidator` gives pseudo-labels row by row; here they are propagated over
    the graph of each target row's ``n_neighbors`` nearest rows (cosine of centred rows), as in
    Zhou et al. (2004), "Learning with local and global consistency", NIPS:
    ``F <- alpha * mean of the neighbours' F + (1 - alpha) * consensus``, ``n_iter`` times. A
    candidate's own probabilities are propagated in the same way (``propagate_candidates``), and
    it scores the share of target rows on which its propagated label agrees with ``argmax F``. It
    needs the target's features, which :class:`~transferkit.selection.DomainAwareSearchCV` hands
    to it.

    Parameters
    ----------
    threshold : float, default 0.8
        As in :class:`DedupEnsembleValidator`.
    n_neighbors : int, default 10
    alpha : float, default 0.5
        Weight of the neighbours against the row's own consensus, in [0, 1).
    n_iter : int, default 20
    max_rows : int, default 5000
        Larger targets are scored on this many rows drawn at random (seed 0), which bounds the
        graph's cost.
    propagate_candidates : bool, default True
        Propagate each candidate's own probabilities over the same graph, as the consensus is,
        before comparing its labels with the consensus's. A candidate whose predictions are
        already smooth over the graph (self-training methods such as JDA, whose pseudo-labels
        follow the target's clusters) otherwise agrees with the propagated consensus for that
        smoothness alone; propagated, every candidate is compared on the same footing. False
        compares each candidate's own labels, as this validator did before (docs/benchmarks.md,
        "Propagating each candidate too").

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 1.0], [0.1, 1.0], [0.2, 1.0], [5.0, 0.0], [5.0, 0.2], [5.0, 0.4]])
    >>> def probas(labels):
    ...     return np.where(np.eye(2)[labels] == 1, 0.9, 0.1)
    >>> a = probas([0, 0, 0, 1, 1, 1])  # follows the two clusters of X
    >>> b = probas([0, 1, 0, 1, 1, 1])
    >>> c = probas([0, 1, 0, 1, 0, 1])
    >>> DedupEnsembleValidator(threshold=1.0).score_pool([a, b, c])  # b is the consensus
    [0.8333333333333334, 1.0, 0.8333333333333334]
    >>> GraphEnsembleValidator(threshold=1.0, n_neighbors=2).score_pool([a, b, c], X_target=X)
    [1.0, 0.8333333333333334, 0.6666666666666666]
    """

    name = "ensv_graph"
    uses_target_features = True

    def __init__(
        self,
        threshold: float = 0.8,
        n_neighbors: int = 10,
        alpha: float = 0.5,
        n_iter: int = 20,
        max_rows: int = 5000,
        propagate_candidates: bool = True,
    ):
        super().__init__(threshold)
        self.n_neighbors = n_neighbors
        self.alpha = alpha
        self.n_iter = n_iter
        self.max_rows = max_rows
        self.propagate_candidates = propagate_candidates

    def _check(self, n_rows: int) -> None:
        if not 0.0 <= float(self.alpha) < 1.0:
            raise InvalidParameterError(
                f"GraphEnsembleValidator: alpha={self.alpha!r} must lie in [0, 1) (the weight of "
                "a row's neighbours against its own consensus)."
            )
        for name in ("n_neighbors", "n_iter", "max_rows"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise InvalidParameterError(
                    f"GraphEnsembleValidator: {name}={value!r} must be a positive integer."
                )
        if not isinstance(self.propagate_candidates, bool | np.bool_):
            raise InvalidParameterError(
                f"GraphEnsembleValidator: propagate_candidates={self.propagate_candidates!r} must "
                "be True or False."
            )
        if n_rows < 2:
            raise NotApplicableError(
                f"GraphEnsembleValidator needs at least 2 target rows for a neighbour graph; got "
                f"{n_rows}."
            )

    def score_pool(self, probas: Sequence[np.ndarray | None], X_target: Any = None) -> list[float]:
        """Scores of candidates from their target probabilities (None: failed candidate) and
        the target rows they were computed on."""
        if X_target is None:
            raise InvalidParameterError(
                "GraphEnsembleValidator needs the target's features: score_pool(probas, "
                "X_target=...), or use it in DomainAwareSearchCV(scoring=GraphEnsembleValidator())."
            )
        valid = [p for p in probas if p is not None]
        if not valid:
            return [float("nan")] * len(probas)
        n_target = count_rows(X_target)
        if valid[0].shape[0] != n_target:
            raise InvalidParameterError(
                f"GraphEnsembleValidator: the probabilities cover {valid[0].shape[0]} rows but "
                f"X_target has {n_target}."
            )
        self._check(n_target)
        if not sp.issparse(X_target):
            X_target = None if isinstance(X_target, ImageCollection) else np.asarray(X_target)
            if X_target is None or X_target.dtype.kind not in "biuf":
                warnings.warn(
                    "GraphEnsembleValidator: the target rows are not a numeric feature matrix "
                    f"({'images on disk' if X_target is None else X_target.dtype}), so there is "
                    "no neighbour graph; scoring with the de-duplicated consensus alone, as "
                    "ensv_dedup does.",
                    UserWarning,
                    stacklevel=2,
                )
                return super().score_pool(probas)
            X_target = X_target.reshape(n_target, -1)  # image arrays: their pixels
        rows = np.arange(n_target)
        if n_target > self.max_rows:
            rows = np.sort(np.random.default_rng(0).choice(n_target, self.max_rows, replace=False))
            X_target = X_target[rows]
        stacked = np.stack(valid)[:, rows]
        consensus = np.tensordot(self.weights(list(stacked)), stacked, axes=1)
        neighbors = centred_cosine_neighbors(X_target, min(self.n_neighbors, len(rows) - 1))
        labels = self._propagate(consensus, neighbors).argmax(axis=1)

        def predicted(p: np.ndarray) -> np.ndarray:
            if self.propagate_candidates:
                return self._propagate(p[rows], neighbors).argmax(axis=1)
            return p[rows].argmax(axis=1)

        return [
            float("nan") if p is None else float(np.mean(predicted(p) == labels)) for p in probas
        ]

    def _propagate(self, probas: np.ndarray, neighbors: np.ndarray) -> np.ndarray:
        """Zhou et al.'s iteration: ``F <- alpha * mean of the neighbours' F + (1 - alpha) *
        probas``, ``n_iter`` times from ``F = probas``."""
        smoothed = probas.copy()
        for _ in range(self.n_iter):
            smoothed = self.alpha * smoothed[neighbors].mean(axis=1) + (1 - self.alpha) * probas
        return smoothed


#: The validators a :class:`SourceGuardedValidator` takes by name; any other validator (but a
#: guarded one) is passed as an object: ``SourceGuardedValidator(GraphEnsembleValidator())``.
GUARDABLE_VALIDATORS: dict[str, Callable[..., BaseValidator]] = {
    **SINGLE_MODEL_VALIDATORS,
    "ensv": EnsembleValidator,
}


class SourceGuardedValidator(BaseValidator):
    """A validator that may only pick candidates which stay accurate on the held-out source.

    Target-only validators such as MixVal reward clean target clusters, and a mapping can
    produce those while it wrecks the classes: a 10-component SA on kitchen -> books scores well
    with MixVal and is 49.5 % accurate. Target risk is bounded by source risk plus a divergence
    (Ben-David et al. 2010), so a candidate much worse on the source than the best one is a poor
    bet whatever its target score. Inside :class:`~transferkit.selection.DomainAwareSearchCV`
    this validator scores each candidate with ``base``, then drops the candidates whose held-out
    source accuracy is more than ``tolerance`` below the best candidate's; they get the search's
    ``error_score``.

    It needs the whole pool, so it works inside the search (with source folds), not as a
    per-model scorer. The base may itself score the pool (EnsV, ``ensv_dedup``,
    ``ensv_graph``): its consensus is then formed from every candidate, and only the pick is
    guarded.

    OT mappings (:class:`~transferkit.alignment.OTMapping`) rarely pass: a held-out source row
    moves by its nearest fitted row's displacement, so their held-out source accuracy reflects
    the source's nearest-neighbour structure more than the mapping, and is well below the
    others'. Letting them pass anyway made the picks worse on Amazon reviews and Office
    (docs/benchmarks.md, ``ensv_graph``).

    A small source makes the held-out source accuracies noisy: with 157 source rows (Office
    dslr) at 75 %, a candidate as accurate as the best one falls more than 5 points below it
    about one time in six (independent errors). The guard then widens to the drop that held-out
    accuracies on ``n`` rows cannot tell from noise at the ``confidence`` level,
    ``z * sqrt(2 * p * (1 - p) / n)`` with ``p`` the best candidate's source accuracy and ``z``
    the two-sided normal quantile (1.96 at 0.95), when that is larger than ``tolerance``. From
    768 held-out rows on, the fixed 5 points are the larger. This was a 0.46-point gain on fresh
    Office harness draws (80-200 source rows) in ``docs/benchmarks.md``.

    Parameters
    ----------
    base : str or validator, default "mixval"
        A name in :data:`GUARDABLE_VALIDATORS`, or any validator object but a guarded one
        (``GraphEnsembleValidator()`` for the search's default).
    tolerance : float, default 0.05
        Largest drop in held-out source accuracy below the best candidate's (0.05 = 5 points).
    confidence : float or None, default 0.95
        Widen the tolerance to the noise of the held-out source accuracies at this level (see
        above); None keeps ``tolerance`` whatever the source's size.

    Examples
    --------
    >>> guard = SourceGuardedValidator(GraphEnsembleValidator())
    >>> round(guard.tolerance_for(0.75, 157), 3)  # 157 held-out source rows: 9.6 points
    0.096
    >>> guard.tolerance_for(0.75, 2000)  # 2,000 rows: the fixed 5 points
    0.05
    """

    needs_source_validation = True
    source_guard = True

    def __init__(
        self,
        base: str | BaseValidator = "mixval",
        tolerance: float = 0.05,
        confidence: float | None = 0.95,
    ):
        self.base = base
        self.tolerance = tolerance
        self.confidence = confidence

    def _resolved_base(self) -> Any:
        if isinstance(self.base, str) and self.base not in GUARDABLE_VALIDATORS:
            raise InvalidParameterError(
                f"SourceGuardedValidator: unknown base {self.base!r}. Name one of "
                f"{', '.join(GUARDABLE_VALIDATORS)}, or pass a validator object that is not "
                "itself guarded, e.g. SourceGuardedValidator(GraphEnsembleValidator())."
            )
        return validator_from(self.base, GUARDABLE_VALIDATORS)

    @property
    def base_(self) -> BaseValidator:
        base = self._resolved_base()
        if getattr(base, "source_guard", False):
            raise InvalidParameterError(
                f"SourceGuardedValidator needs a base validator that is not itself guarded; got "
                f"{base!r}."
            )
        return base

    @property
    def pool(self) -> bool:  # type: ignore[override]
        """Whether the base scores the whole pool (then the search calls :meth:`score_pool`)."""
        return bool(getattr(self.base_, "pool", False))

    @property
    def uses_target_features(self) -> bool:
        """Whether the base's pool scores need the target's features."""
        return bool(getattr(self.base_, "uses_target_features", False))

    def score_pool(self, probas: Sequence[np.ndarray | None], X_target: Any = None) -> list[float]:
        """The base's pool scores; the search applies the guard once every candidate is in."""
        if self.uses_target_features:
            return self.base_.score_pool(probas, X_target=X_target)
        return self.base_.score_pool(probas)

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"guarded_{getattr(self._resolved_base(), 'name', 'score')}"

    def check(self) -> None:
        """Raise on a bad base, tolerance or confidence (called once by the search)."""
        _ = self.base_
        self._check_levels()

    def _check_levels(self) -> None:
        if not 0.0 <= float(self.tolerance) <= 1.0:
            raise InvalidParameterError(
                f"SourceGuardedValidator: tolerance={self.tolerance!r} must lie in [0, 1] "
                "(a drop in source accuracy, 0.05 = 5 points)."
            )
        if self.confidence is not None and not 0.0 < float(self.confidence) < 1.0:
            raise InvalidParameterError(
                f"SourceGuardedValidator: confidence={self.confidence!r} must lie in (0, 1) "
                "(e.g. 0.95), or be None for the fixed tolerance."
            )

    def tolerance_for(self, best_accuracy: float, n_rows: int | None) -> float:
        """The drop allowed below ``best_accuracy``, a held-out accuracy on ``n_rows`` source
        rows (None: unknown, the fixed ``tolerance``)."""
        self._check_levels()
        tolerance = float(self.tolerance)
        if self.confidence is None or not n_rows:
            return tolerance
        from scipy.stats import norm

        z = float(norm.ppf(0.5 + float(self.confidence) / 2.0))
        p = min(max(float(best_accuracy), 0.0), 1.0)
        return max(tolerance, z * float(np.sqrt(2.0 * p * (1.0 - p) / int(n_rows))))

    def eligible(
        self, source_accuracy: np.ndarray, scored: np.ndarray, n_rows: int | None = None
    ) -> np.ndarray:
        """Candidates within :meth:`tolerance_for` of the best source accuracy among the
        ``scored``; ``n_rows``: the number of held-out source rows behind the accuracies."""
        source_accuracy = np.asarray(source_accuracy, dtype=float)
        usable = np.asarray(scored, dtype=bool) & np.isfinite(source_accuracy)
        if not usable.any():
            return usable
        best = source_accuracy[usable].max()
        return usable & (source_accuracy >= best - self.tolerance_for(best, n_rows))

    def score(self, estimator, X_source_val, y_source_val, X_target, y_target=None) -> float:
        raise NotApplicableError(
            f"{self.name} compares each candidate's source accuracy with the best candidate's: "
            "use it in DomainAwareSearchCV(scoring=...) with source folds (cv >= 2)."
        )
