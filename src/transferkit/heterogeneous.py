"""Heterogeneous domain adaptation: source and target described by different features.

Scenario 1 of the taxonomy (X_S ≠ X_T) beyond language: e.g. SURF histograms on the source side
and CNN features on the target side. Such a problem is built with
``TransferProblem(..., feature_spaces="different")``; the methods here are the ones that accept
it (every other method refuses it with :class:`~transferkit.exceptions.NotApplicableError`).

Each domain is first reduced on its own (:func:`reduce_domain`: standardised, then projected on
its principal components), since no column of one side means anything on the other.

* **Unsupervised** (no target label): a coupling between the source rows and the target rows,
  from structure alone, turned into target labels by class-balanced propagation
  (:func:`propagate_labels`):

  - :class:`GromovWassersteinHDA` (``hda_gw``): entropic Gromov–Wasserstein between the two
    domains' intra-domain distance matrices (Mémoli 2011; Peyré, Cuturi & Solomon 2016);
  - :class:`CoOptimalTransportHDA` (``hda_coot``): co-optimal transport, which couples rows and
    features of the two domains at once (Redko, Vayer, Flamary & Courty 2020).

* **Semi-supervised** (a few labelled target rows per class): :class:`CCAHDA` (``hda_cca``), a
  common subspace from regularised CCA on class-paired rows (the correlation subspace of Yeh,
  Huang & Wang 2014, with pairs made by class since there is no co-occurring row), used as
  augmented features beside the target's own (the heterogeneous feature augmentation of Li,
  Duan, Xu & Tsang 2014), then self-training on the confident unlabelled target rows.

The baseline to beat with a few target labels is ``target_only`` (a classifier on the labelled
target rows alone). Given labelled target rows, the unsupervised methods score them after the fit
(they never read them) and warn :class:`~transferkit.exceptions.DegenerateResultWarning` when the
score is no better than the rows' most frequent class: the structures did not line up.

Examples
--------
>>> import numpy as np
>>> from transferkit.heterogeneous import CCAHDA
>>> from transferkit.problem import TransferProblem
>>> rng = np.random.default_rng(0)
>>> y_s, y_t = np.arange(60) % 3, np.arange(90) % 3
>>> problem = TransferProblem(
...     X_source=rng.normal(size=(60, 8)) + y_s[:, None], y_source=y_s,
...     X_target=rng.normal(size=(90, 5)) - y_t[:, None], y_target=y_t,
...     feature_spaces="different").with_target_labels(3, random_state=0)
>>> model = CCAHDA(n_components=2, pca_components=4).fit(problem)
>>> model.predict(problem.X_target).shape
(90,)
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.decomposition import PCA
from sklearn.metrics.pairwise import cosine_distances
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from transferkit.base import check_rows, default_estimator
from transferkit.checks import (
    check_count,
    check_nonnegative,
    check_number,
    check_positive_int,
    densify,
)
from transferkit.exceptions import (
    DegenerateResultWarning,
    InvalidParameterError,
    MissingDependencyError,
    NotApplicableError,
)
from transferkit.fewshot import class_prototypes, l2_normalize
from transferkit.problem import TransferProblem, as_problem
from transferkit.registry import register_method
from transferkit.self_training import confident_rows

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

#: Bytes of one float64.
_FLOAT_BYTES = 8


def _import_ot() -> Any:
    try:
        import ot
        import ot.coot  # noqa: F401  (not imported by ``import ot``)
    except ImportError:  # pragma: no cover - POT is a core dependency
        raise MissingDependencyError(
            "The heterogeneous transport methods need POT. Install it with: pip install pot"
        ) from None
    return ot


# ---------------------------------------------------------------------------- the math
def reduce_domain(X: np.ndarray, n_components: int | None, random_state: int | None) -> Pipeline:
    """A fitted ``StandardScaler`` + ``PCA`` of one domain's rows (``n_components`` at most the
    rank allows; None keeps the standardised features only)."""
    steps: list[tuple[str, Any]] = [("scale", StandardScaler())]
    if n_components is not None:
        n = min(int(n_components), X.shape[0] - 1, X.shape[1])
        steps.append(("pca", PCA(max(n, 1), random_state=random_state)))
    return Pipeline(steps).fit(X)


def intra_domain_distances(Z: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of ``Z``, divided by their mean, so that the two
    domains' matrices are on one scale whatever their dimensions."""
    squared = np.einsum("ij,ij->i", Z, Z)
    D = np.sqrt(np.maximum(squared[:, None] + squared[None, :] - 2.0 * Z @ Z.T, 0.0))
    mean = D.mean()
    return D / mean if mean > 0 else D


def coupling_memory_bytes(n_source: int, n_target: int) -> int:
    """Memory of a Gromov–Wasserstein coupling: the two distance matrices, the coupling and
    POT's gradient of the same size, in float64 (``8 (n_s² + n_t² + 2 n_s n_t)`` bytes)."""
    return _FLOAT_BYTES * (n_source**2 + n_target**2 + 2 * n_source * n_target)


def _warm_started_chunks(max_iter: int, progress: Progress | None) -> Iterator[int]:
    """The iteration counts of ten chunks summing to ``max_iter``; the solver runs each chunk
    warm-started from the last, and ``progress(done, max_iter)`` is called after each."""
    chunk = max(1, max_iter // 10)
    done = 0
    while done < max_iter:
        steps = min(chunk, max_iter - done)
        yield steps
        done += steps
        if progress is not None:
            progress(done, max_iter)


def _check_coupling(coupling: np.ndarray, what: str, epsilon: float, suggestion: str) -> np.ndarray:
    """``coupling`` if the solver kept it finite and non-zero, else NotApplicableError."""
    if not np.isfinite(coupling).all() or coupling.sum() <= 0:
        raise NotApplicableError(
            f"The {what} underflowed with epsilon={epsilon}; increase epsilon (e.g. {suggestion})."
        )
    return coupling


def gromov_wasserstein_coupling(
    Z_source: np.ndarray,
    Z_target: np.ndarray,
    epsilon: float = 1e-2,
    max_iter: int = 100,
    progress: Progress | None = None,
) -> np.ndarray:
    """Entropic Gromov–Wasserstein coupling of two point clouds in different spaces.

    Peyré, Cuturi & Solomon (2016, Eq. 12) solved by POT's ``ot.gromov.entropic_gromov_wasserstein``
    on :func:`intra_domain_distances` of each side with uniform weights: the coupling T minimises
    ``sum (D_s[i, k] - D_t[j, l])^2 T[i, j] T[k, l] - epsilon H(T)``, so that rows close in one
    domain go to rows close in the other. Run in ten chunks of ``max_iter / 10`` iterations,
    each warm-started from the last, so that ``progress(done, max_iter)`` can follow it.

    Parameters
    ----------
    Z_source : array (n_s, d_s)
    Z_target : array (n_t, d_t)
    epsilon : float, default 1e-2
        Entropic regularisation (smaller: sharper coupling; too small underflows).
    max_iter : int, default 100
        Projected-gradient iterations.
    progress : callable(done, total) or None

    Returns
    -------
    coupling : array (n_s, n_t), summing to 1
    """
    ot = _import_ot()
    C_source, C_target = intra_domain_distances(Z_source), intra_domain_distances(Z_target)
    p, q = ot.unif(len(Z_source)), ot.unif(len(Z_target))
    coupling = np.outer(p, q)
    for steps in _warm_started_chunks(max_iter, progress):
        coupling = ot.gromov.entropic_gromov_wasserstein(
            C_source, C_target, p, q, epsilon=epsilon, G0=coupling, max_iter=steps, tol=1e-9
        )
    return _check_coupling(coupling, "Gromov–Wasserstein coupling", epsilon, "1e-2 or 5e-2")


def co_optimal_transport_coupling(
    Z_source: np.ndarray,
    Z_target: np.ndarray,
    epsilon: float = 1e-2,
    max_iter: int = 100,
    progress: Progress | None = None,
) -> np.ndarray:
    """The sample coupling of co-optimal transport between two domains of different features.

    Redko, Vayer, Flamary & Courty (2020, Eq. 2), POT's ``ot.coot.co_optimal_transport``: a
    sample coupling and a feature coupling minimise together
    ``sum (X[i, k] - Y[j, l])^2 T_s[i, j] T_f[k, l]`` (entropic on both, block coordinate
    descent). Rows of each side are scaled to unit norm so the two feature spaces share a scale.
    Run in ten warm-started chunks of ``max_iter / 10`` descent steps for ``progress``.

    Parameters
    ----------
    Z_source : array (n_s, d_s)
    Z_target : array (n_t, d_t)
    epsilon : float, default 1e-2
        Entropic regularisation of both couplings.
    max_iter : int, default 100
        Block coordinate descent steps.
    progress : callable(done, total) or None

    Returns
    -------
    coupling : array (n_s, n_t), summing to 1
    """
    ot = _import_ot()
    X = Z_source / np.maximum(np.linalg.norm(Z_source, axis=1, keepdims=True), 1e-12)
    Y = Z_target / np.maximum(np.linalg.norm(Z_target, axis=1, keepdims=True), 1e-12)
    warmstart = None
    coupling = np.full((len(X), len(Y)), 1.0 / (len(X) * len(Y)))
    for steps in _warm_started_chunks(max_iter, progress):
        coupling, feature_coupling, log = ot.coot.co_optimal_transport(
            X, Y, epsilon=(epsilon, epsilon), nits_bcd=steps, warmstart=warmstart, log=True
        )
        warmstart = {
            "pi_sample": coupling,
            "pi_feature": feature_coupling,
            "duals_sample": log["duals_sample"],
            "duals_feature": log["duals_feature"],
        }
    return _check_coupling(coupling, "co-optimal transport coupling", epsilon, "5e-2")


def propagate_labels(coupling: np.ndarray, y_source: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Class scores of each target row from a source–target coupling, class-balanced.

    Redko, Courty, Flamary & Tuia (2019, "Optimal transport for multi-source domain adaptation
    under target shift", label propagation ``D = Y_s^T T``): a target row's score for class c is
    the mass it receives from the source rows of class c, divided by the total mass class c
    sends, so that a class with many source rows does not win by size.

    Returns
    -------
    scores : array (n_t, n_classes), rows summing to 1 (uniform for a row that received nothing)
    """
    one_hot = (np.asarray(y_source)[:, None] == np.asarray(classes)[None, :]).astype(float)
    scores = coupling.T @ one_hot
    scores /= np.maximum(scores.sum(axis=0, keepdims=True), 1e-300)
    totals = scores.sum(axis=1, keepdims=True)
    uniform = np.full_like(scores, 1.0 / scores.shape[1])
    return np.where(totals > 0, scores / np.maximum(totals, 1e-300), uniform)


def class_paired_rows(y_source: np.ndarray, y_target: np.ndarray) -> np.ndarray:
    """Every (source row, labelled target row) pair of the same class, as an (n_pairs, 2) array."""
    pairs = [
        np.stack(np.meshgrid(np.flatnonzero(y_source == c), np.flatnonzero(y_target == c)), -1)
        for c in np.unique(y_target)
    ]
    return np.concatenate([p.reshape(-1, 2) for p in pairs]).astype(np.int64)


def regularized_cca(
    A: np.ndarray, B: np.ndarray, n_components: int, regularization: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Canonical correlation analysis of paired rows with ridge-regularised covariances.

    Hotelling (1936); the ridge form of Vinod (1976): with centred ``A`` (n, p), ``B`` (n, q),
    ``W_a = (C_aa + r I)^{-1/2} U`` and ``W_b = (C_bb + r I)^{-1/2} V`` where ``U S V^T`` is the
    SVD of ``(C_aa + r I)^{-1/2} C_ab (C_bb + r I)^{-1/2}``. The ridge ``r`` keeps the few
    distinct labelled target rows from giving perfectly (and uselessly) correlated directions.

    Returns
    -------
    W_a : array (p, k), W_b : array (q, k), correlations : array (k,)
    """
    A = A - A.mean(axis=0)
    B = B - B.mean(axis=0)
    n = len(A)

    def inverse_root(C: np.ndarray) -> np.ndarray:
        values, vectors = np.linalg.eigh(C + regularization * np.eye(len(C)))
        return (vectors / np.sqrt(np.maximum(values, 1e-12))) @ vectors.T

    root_a, root_b = inverse_root(A.T @ A / n), inverse_root(B.T @ B / n)
    U, S, Vt = np.linalg.svd(root_a @ (A.T @ B / n) @ root_b, full_matrices=False)
    k = min(n_components, len(S))
    return root_a @ U[:, :k], root_b @ Vt[:k].T, S[:k]


# ---------------------------------------------------------------------------- estimators
def _check_target_rows(problem: TransferProblem, who: str) -> tuple[np.ndarray, np.ndarray]:
    if problem.is_images:
        raise NotApplicableError(
            f"{who} works on feature matrices; extract features from the images first."
        )
    X_source = densify(problem.X_source, who, "it computes distances and projections")
    X_target = densify(problem.X_target, who, "it computes distances and projections")
    return np.asarray(X_source, dtype=float), np.asarray(X_target, dtype=float)


class _HeterogeneousClassifier(ClassifierMixin, BaseEstimator):
    """What the heterogeneous methods share: ``predict`` on target rows through a classifier
    trained in the target's own feature space."""

    #: These methods take problems whose domains have different features.
    handles_different_feature_spaces = True

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(self._target_features(check_rows(self, X)))

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(self._target_features(check_rows(self, X)))

    def _target_features(self, X: Any) -> np.ndarray:
        return np.asarray(densify(X, type(self).__name__, "it projects rows"), dtype=float)


class _TargetLabelHDA(_HeterogeneousClassifier):
    """An unsupervised method that labels target rows, then trains ``estimator`` on them in the
    target's own standardised features (so that ``predict`` takes unseen target rows too)."""

    def _fit_target(
        self, problem: TransferProblem, X_target: np.ndarray, rows: np.ndarray, labels: np.ndarray
    ) -> None:
        estimator = default_estimator() if self.estimator is None else clone(self.estimator)
        self.scaler_ = StandardScaler().fit(X_target)
        self.estimator_ = estimator.fit(self.scaler_.transform(X_target[rows]), labels)
        self.classes_ = self.estimator_.classes_
        self.n_features_in_ = problem.n_target_features
        self._warn_if_at_chance(problem, X_target)

    def _warn_if_at_chance(self, problem: TransferProblem, X_target: np.ndarray) -> None:
        """Warn (:class:`DegenerateResultWarning`) when the problem's labelled target rows,
        which the method did not read, are classified no better than by always answering
        their most frequent class (one-sided binomial test at 5 %): the structures of the
        two domains did not line up. The share is kept as ``labeled_target_accuracy_``."""
        from scipy.stats import binomtest

        self.labeled_target_accuracy_ = None
        if problem.n_target_labeled < 10 or problem.y_target is None:
            return
        labeled = problem.target_labeled
        y_true = problem.y_target[labeled]
        correct = int(np.sum(self.predict(X_target[labeled]) == y_true))
        majority = float(np.unique(y_true, return_counts=True)[1].max() / len(y_true))
        self.labeled_target_accuracy_ = correct / len(y_true)
        if binomtest(correct, len(y_true), majority, alternative="greater").pvalue > 0.05:
            warnings.warn(
                DegenerateResultWarning(
                    f"{type(self).__name__}: {correct} of the {len(y_true)} labelled target "
                    f"rows are classified right ({100 * self.labeled_target_accuracy_:.0f} %), not "
                    f"significantly better than always answering their most frequent class "
                    f"({100 * majority:.0f} %): the two domains' structures did not line up. "
                    "With these labels, hda_cca or target_only is the better choice."
                ),
                stacklevel=3,
            )

    def _target_features(self, X: Any) -> np.ndarray:
        return self.scaler_.transform(super()._target_features(X))


class _CouplingHDA(_TargetLabelHDA):
    """Unsupervised: couple source and target rows, propagate the source labels through the
    coupling, then train ``estimator`` on the target rows with those labels."""

    _solver: Callable[..., np.ndarray]

    def __init__(
        self,
        n_components: int | None = 30,
        epsilon: float = 1e-2,
        max_iter: int = 100,
        max_target_rows: int = 1500,
        estimator: Any = None,
        random_state: int | None = None,
        progress: Progress | None = None,
    ):
        self.n_components = n_components
        self.epsilon = epsilon
        self.max_iter = max_iter
        self.max_target_rows = max_target_rows
        self.estimator = estimator
        self.random_state = random_state
        self.progress = progress

    def fit(self, X: Any, y: Any = None, domain: Any = None) -> _CouplingHDA:
        """Couple the two domains and learn target labels from the coupling."""
        who = type(self).__name__
        problem = as_problem(X, y, domain, feature_spaces="different")
        if self.n_components is not None:
            check_positive_int(self.n_components, "n_components", who)
        check_nonnegative(self.epsilon, "epsilon", who, strict=True)
        check_positive_int(self.max_iter, "max_iter", who)
        check_positive_int(self.max_target_rows, "max_target_rows", who)
        X_source, X_target = _check_target_rows(problem, who)
        rng = np.random.default_rng(self.random_state)
        # the coupling costs 8 (n_s² + n_t² + 2 n_s n_t) bytes: cap the target rows it sees
        coupled = np.arange(len(X_target))
        if len(coupled) > self.max_target_rows:
            coupled = np.sort(rng.choice(coupled, self.max_target_rows, replace=False))
        seed = None if self.random_state is None else int(self.random_state)
        Z_source = reduce_domain(X_source, self.n_components, seed).transform(X_source)
        Z_target = reduce_domain(X_target[coupled], self.n_components, seed).transform(
            X_target[coupled]
        )
        logger.info(
            "%s: coupling %d x %d rows (about %.0f MB)",
            who,
            len(Z_source),
            len(Z_target),
            coupling_memory_bytes(len(Z_source), len(Z_target)) / 2**20,
        )
        self.coupling_ = type(self)._solver(
            Z_source, Z_target, self.epsilon, self.max_iter, self.progress
        )
        classes = np.unique(problem.y_source)
        self.target_scores_ = propagate_labels(self.coupling_, problem.y_source, classes)
        pseudo_labels = classes[self.target_scores_.argmax(axis=1)]
        if len(np.unique(pseudo_labels)) < 2:
            raise NotApplicableError(
                f"{who}: the coupling sends every target row to class {pseudo_labels[0]!r}; "
                "increase epsilon or n_components."
            )
        self._fit_target(problem, X_target, coupled, pseudo_labels)
        return self


class GromovWassersteinHDA(_CouplingHDA):
    """Unsupervised heterogeneous adaptation by an entropic Gromov–Wasserstein coupling.

    Each domain is standardised and reduced to ``n_components`` principal components on its
    own; :func:`gromov_wasserstein_coupling` couples source and target rows by the shape of
    their intra-domain distances (Mémoli 2011; Peyré, Cuturi & Solomon 2016, Eq. 12);
    :func:`propagate_labels` turns the coupling into class-balanced target labels, on which
    ``estimator`` is trained in the target's own (standardised) features, so that ``predict``
    also takes target rows never seen in ``fit``.

    Parameters
    ----------
    n_components : int or None, default 30
        Principal components kept per domain (None: all standardised features).
    epsilon : float, default 1e-2
        Entropic regularisation of the coupling.
    max_iter : int, default 100
        Solver iterations.
    max_target_rows : int, default 1500
        At most this many target rows (drawn at random) enter the coupling; memory is
        ``8 (n_s² + n_t² + 2 n_s n_t)`` bytes (:func:`coupling_memory_bytes`: 22 MB for
        200 source and 1,500 target rows). The classifier labels the others.
    estimator : sklearn classifier or None, default None
        Trained on the target rows with their propagated labels (None: logistic regression).
    random_state : int or None, default None
        Seeds the PCA and the choice of target rows.
    progress : callable(done, total) or None, default None
        Called as the solver advances (the CLI shows a progress bar).

    Attributes
    ----------
    coupling_ : ndarray of shape (n_source, n_coupled_target)
    target_scores_ : ndarray of shape (n_coupled_target, n_classes)
        Class-balanced scores of the coupled target rows (:func:`propagate_labels`).
    labeled_target_accuracy_ : float or None
        Accuracy on the problem's labelled target rows, which ``fit`` does not read (None
        without 10 of them); at its majority-class level ``fit`` warns
        :class:`~transferkit.exceptions.DegenerateResultWarning`.

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.problem import TransferProblem
    >>> rng = np.random.default_rng(0)
    >>> problem = TransferProblem(
    ...     X_source=rng.normal(size=(40, 6)), y_source=np.arange(40) % 2,
    ...     X_target=rng.normal(size=(50, 4)), feature_spaces="different")
    >>> GromovWassersteinHDA(n_components=3).fit(problem).predict(problem.X_target).shape
    (50,)
    """

    _solver = staticmethod(gromov_wasserstein_coupling)


class CoOptimalTransportHDA(_CouplingHDA):
    """Unsupervised heterogeneous adaptation by co-optimal transport (COOT).

    Each domain is standardised and reduced to ``n_components`` principal components on its
    own; :func:`co_optimal_transport_coupling` couples rows and features of the two domains
    together (Redko, Vayer, Flamary & Courty 2020); :func:`propagate_labels` turns the sample
    coupling into class-balanced target labels, on which ``estimator`` is trained in the
    target's own features.

    Parameters
    ----------
    n_components : int or None, default 30
        Principal components kept per domain (None: all standardised features).
    epsilon : float, default 1e-2
        Entropic regularisation of both couplings.
    max_iter : int, default 100
        Block coordinate descent steps.
    max_target_rows : int, default 1500
        At most this many target rows enter the coupling (memory ``8 n_s n_t`` bytes for each
        coupling and cost matrix, plus ``8 d_s d_t`` for the feature coupling).
    estimator : sklearn classifier or None, default None
        Trained on the target rows with their propagated labels (None: logistic regression).
    random_state : int or None, default None
        Seeds the PCA and the choice of target rows.
    progress : callable(done, total) or None, default None
        Called as the descent advances.

    Attributes
    ----------
    coupling_, target_scores_, labeled_target_accuracy_
        As in :class:`GromovWassersteinHDA`.

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.problem import TransferProblem
    >>> rng = np.random.default_rng(0)
    >>> problem = TransferProblem(
    ...     X_source=rng.normal(size=(40, 6)), y_source=np.arange(40) % 2,
    ...     X_target=rng.normal(size=(50, 4)), feature_spaces="different")
    >>> CoOptimalTransportHDA(n_components=3).fit(problem).predict(problem.X_target).shape
    (50,)
    """

    _solver = staticmethod(co_optimal_transport_coupling)


class CCAHDA(_HeterogeneousClassifier):
    """Semi-supervised heterogeneous adaptation through a class-paired CCA subspace.

    With a few labelled target rows per class: each domain is standardised and reduced to
    ``pca_components`` on its own; every source row is paired with every labelled target row
    of its class (:func:`class_paired_rows`), and ridge-regularised CCA of those pairs
    (:func:`regularized_cca`; the correlation subspace of Yeh, Huang & Wang 2014) gives one
    projection per domain into a common ``n_components``-d space. As in heterogeneous feature
    augmentation (Li, Duan, Xu & Tsang 2014, Eq. 4), a source row becomes ``[common, 0]`` and a
    target row ``[common, its own standardised features]`` (all of them, not its components:
    nothing the target's features hold is lost to the source); ``estimator`` is trained on the
    source rows (weight ``source_weight``) and the labelled target rows.

    ``source_weight="auto"`` picks the weight among 0, 0.1, 0.3 and 1 by cross-validation on the
    labelled target rows (fold k holds the k-th labelled row of each class; ties go to the
    smaller weight): weight 0 is a target-only classifier on the target's own features (beside
    the common part), so the source counts only when the labelled rows say it helps.

    It then reads the unlabelled target rows too, as the transductive semi-supervised HDA methods
    do (e.g. SHFA, Li et al. 2014; the soft pseudo-labels of Yao et al. 2019): in each of
    ``self_training_rounds`` rounds, the ``self_training_share`` most confident rows of each
    predicted class (:func:`~transferkit.self_training.confident_rows`) join the labelled target
    rows with their predicted label, in the class pairs of the subspace and in the classifier; the
    source weight stays the one chosen on the true labels. On the 24 Office-Caltech pairs of
    ``office-caltech-hetero`` the three rounds raised every pair (``self_training_rounds=0``
    reads the labelled target rows only).

    Parameters
    ----------
    n_components : int, default 10
        Dimension of the common subspace (at most ``pca_components``).
    pca_components : int, default 20
        Principal components kept per domain before CCA.
    regularization : float, default 1.0
        Ridge added to each domain's covariance in CCA (the features are standardised, so 1 is
        of the order of a component's variance).
    source_weight : float or "auto", default "auto"
        Weight of each source row in the classifier's fit.
    self_training_rounds : int, default 3
        Rounds of pseudo-labelling the unlabelled target rows (0: only the labelled ones are read).
    self_training_share : float, default 0.8
        Fraction of each predicted class's unlabelled target rows pseudo-labelled per round, in
        (0, 1].
    estimator : sklearn classifier or None, default None
        None: logistic regression.
    random_state : int or None, default None
        Seeds the PCA.

    Attributes
    ----------
    source_weight_ : float
        The source weight used (the cross-validated one with ``source_weight="auto"``).
    correlations_ : array of shape (n_components,)
        The canonical correlations of the last fitted subspace.
    pseudo_label_share_ : float
        Share of the unlabelled target rows pseudo-labelled in the last self-training round (0
        without self-training).

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.problem import TransferProblem
    >>> rng = np.random.default_rng(0)
    >>> y_s, y_t = np.arange(60) % 3, np.arange(90) % 3
    >>> problem = TransferProblem(
    ...     X_source=rng.normal(size=(60, 8)) + y_s[:, None], y_source=y_s,
    ...     X_target=rng.normal(size=(90, 5)) - y_t[:, None], y_target=y_t,
    ...     feature_spaces="different").with_target_labels(3, random_state=0)
    >>> CCAHDA(n_components=2, pca_components=4).fit(problem).classes_.tolist()
    [0, 1, 2]
    """

    #: Candidate source weights of ``source_weight="auto"``.
    AUTO_WEIGHTS = (0.0, 0.1, 0.3, 1.0)

    def __init__(
        self,
        n_components: int = 10,
        pca_components: int = 20,
        regularization: float = 1.0,
        source_weight: float | str = "auto",
        self_training_rounds: int = 3,
        self_training_share: float = 0.8,
        estimator: Any = None,
        random_state: int | None = None,
    ):
        self.n_components = n_components
        self.pca_components = pca_components
        self.regularization = regularization
        self.source_weight = source_weight
        self.self_training_rounds = self_training_rounds
        self.self_training_share = self_training_share
        self.estimator = estimator
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None, domain: Any = None) -> CCAHDA:
        """Learn the common subspace from class-paired rows, then the classifier."""
        who = "hda_cca"
        problem = as_problem(X, y, domain, feature_spaces="different")
        check_positive_int(self.n_components, "n_components", who)
        check_positive_int(self.pca_components, "pca_components", who)
        check_nonnegative(self.regularization, "regularization", who)
        if self.source_weight != "auto":
            check_nonnegative(self.source_weight, "source_weight", who)
        rounds = check_count(self.self_training_rounds, f"{who} self_training_rounds", minimum=0)
        share = check_number(self.self_training_share, f"{who} self_training_share", 0.0, 1.0)
        if rounds and share == 0.0:
            raise InvalidParameterError(
                f"{who} self_training_share=0 pseudo-labels no target row; give a share in "
                "(0, 1], or self_training_rounds=0."
            )
        X_source, X_target = _check_target_rows(problem, who)
        X_labeled, y_labeled = problem.labeled_target()
        self._check_labels(problem, y_labeled, who)
        X_labeled = np.asarray(densify(X_labeled, who, "it projects rows"), dtype=float)
        estimator = default_estimator() if self.estimator is None else clone(self.estimator)
        seed = None if self.random_state is None else int(self.random_state)
        self.source_reducer_ = reduce_domain(X_source, self.pca_components, seed)
        # the target's components come from all its rows, labelled or not (no label used)
        self.target_reducer_ = reduce_domain(X_target, self.pca_components, seed)
        Z_source = self.source_reducer_.transform(X_source)
        F_source = self._fit_subspace(Z_source, problem.y_source, X_labeled, y_labeled)
        F_labeled = self._augment(X_labeled)
        weight = self.source_weight
        if weight == "auto":
            weight = self._cross_validated_weight(
                estimator, F_source, problem.y_source, F_labeled, y_labeled
            )
        self.source_weight_ = float(weight)
        self.estimator_ = _fit_weighted(
            clone(estimator), F_source, problem.y_source, F_labeled, y_labeled, self.source_weight_
        )
        # self-training: the confident unlabelled target rows join the labelled ones, in the
        # class pairs of the subspace and in the classifier (the source weight stays the one
        # chosen on the true labels)
        # probabilities, or a softmax of the decision scores of a classifier without them
        from transferkit.selection.access import predict_proba_rows

        X_unlabeled = X_target[~problem.target_labeled]
        self.pseudo_label_share_ = 0.0
        for _ in range(rounds if len(X_unlabeled) else 0):
            scores = predict_proba_rows(self.estimator_, self._augment(X_unlabeled))
            rows = confident_rows(scores, share)
            X_taught = np.vstack([X_labeled, X_unlabeled[rows]])
            y_taught = np.concatenate([y_labeled, self.estimator_.classes_[scores[rows].argmax(1)]])
            F_source = self._fit_subspace(Z_source, problem.y_source, X_taught, y_taught)
            self.estimator_ = _fit_weighted(
                clone(estimator),
                F_source,
                problem.y_source,
                self._augment(X_taught),
                y_taught,
                self.source_weight_,
            )
            self.pseudo_label_share_ = len(rows) / len(X_unlabeled)
        self.classes_ = self.estimator_.classes_
        self.n_features_in_ = problem.n_target_features
        return self

    def _fit_subspace(
        self,
        Z_source: np.ndarray,
        y_source: np.ndarray,
        X_labeled: np.ndarray,
        y_labeled: np.ndarray,
    ) -> np.ndarray:
        """Fit the CCA subspace from class-paired rows; return the source rows' features."""
        Z_labeled = self.target_reducer_.transform(X_labeled)
        pairs = class_paired_rows(y_source, y_labeled)
        W_source, W_target, self.correlations_ = regularized_cca(
            Z_source[pairs[:, 0]], Z_labeled[pairs[:, 1]], self.n_components, self.regularization
        )
        self.target_projection_ = W_target
        common_source = Z_source @ W_source
        width = self.target_reducer_.named_steps["scale"].n_features_in_
        return np.hstack([common_source, np.zeros((len(common_source), width))])

    @staticmethod
    def _check_labels(problem: TransferProblem, y_labeled: np.ndarray, who: str) -> None:
        if problem.n_target_labeled == 0:
            raise NotApplicableError(
                f"{who} needs a few labelled target rows per class and the problem has none; "
                "mark some with TransferProblem(target_labeled=...), "
                "problem.with_target_labels(3), or a suite's target_labels = 3. Without target "
                "labels use hda_cluster, hda_gw or hda_coot."
            )
        missing = np.setdiff1d(problem.source_classes, y_labeled)
        if len(missing):
            raise NotApplicableError(
                f"{who} pairs source rows with labelled target rows of the same class, and "
                f"class(es) {missing[:10].tolist()} have no labelled target row; label at least "
                "one target row of every source class (problem.with_target_labels(n) does)."
            )

    def _augment(self, X: np.ndarray) -> np.ndarray:
        """A target row as ``[common, its own standardised features]`` (HFA's augmentation)."""
        own = self.target_reducer_.named_steps["scale"].transform(X)
        Z = self.target_reducer_.named_steps["pca"].transform(own)
        return np.hstack([Z @ self.target_projection_, own])

    def _target_features(self, X: Any) -> np.ndarray:
        return self._augment(super()._target_features(X))

    def _cross_validated_weight(
        self,
        estimator: Any,
        F_source: np.ndarray,
        y_source: np.ndarray,
        F_labeled: np.ndarray,
        y_labeled: np.ndarray,
    ) -> float:
        # fold k holds the k-th labelled row of each class: as many folds as rows per class
        rank = np.zeros(len(y_labeled), dtype=np.int64)
        for label in np.unique(y_labeled):
            index = np.flatnonzero(y_labeled == label)
            rank[index] = np.arange(len(index))
        folds = [np.flatnonzero(rank == k) for k in range(int(rank.max()) + 1)]
        folds = [fold for fold in folds if len(np.unique(y_labeled[rank != rank[fold[0]]])) > 1]
        if not folds:
            return 0.0
        best, best_accuracy = 0.0, -1.0
        for weight in self.AUTO_WEIGHTS:
            hits = 0
            for fold in folds:
                keep = np.ones(len(y_labeled), dtype=bool)
                keep[fold] = False
                model = _fit_weighted(
                    clone(estimator), F_source, y_source, F_labeled[keep], y_labeled[keep], weight
                )
                hits += int((model.predict(F_labeled[fold]) == y_labeled[fold]).sum())
            accuracy = hits / sum(len(fold) for fold in folds)
            if accuracy > best_accuracy:
                best, best_accuracy = weight, accuracy
        logger.info(
            "hda_cca: source_weight=%s (cross-validated accuracy %.3f)", best, best_accuracy
        )
        return best


def _fit_weighted(
    estimator: Any,
    F_source: np.ndarray,
    y_source: np.ndarray,
    F_labeled: np.ndarray,
    y_labeled: np.ndarray,
    weight: float,
) -> Any:
    if weight == 0:
        return estimator.fit(F_labeled, y_labeled)
    X = np.vstack([F_source, F_labeled])
    y = np.concatenate([y_source, y_labeled])
    sample_weight = np.concatenate([np.full(len(y_source), weight), np.ones(len(y_labeled))])
    try:
        return estimator.fit(X, y, sample_weight=sample_weight)
    except TypeError as error:
        raise InvalidParameterError(
            f"hda_cca weighs the source rows, and {type(estimator).__name__}.fit takes no "
            "sample_weight; use a classifier that does (e.g. logreg) or source_weight=1."
        ) from error


def match_structures(
    A: np.ndarray, B: np.ndarray, restarts: int, random_state: int | None
) -> tuple[np.ndarray, float]:
    """The one-to-one matching of the nodes of two k x k distance matrices whose distances agree
    best: the permutation ``p`` maximising the covariance of ``A[i, j]`` and ``B[p[i], p[j]]`` over
    the pairs ``i < j`` (a quadratic assignment problem; scipy's FAQ solver, the best of
    ``restarts`` random starts). Returns ``p`` and the correlation of the matched distances.

    Both matrices are centred first: on raw distances, whose common offset dominates the
    objective, the solver stops at permutations worse than the identity even where the two
    structures agree.
    """
    from scipy.optimize import quadratic_assignment

    off = ~np.eye(len(A), dtype=bool)
    A_centred = np.where(off, A - A[off].mean(), 0.0)
    B_centred = np.where(off, B - B[off].mean(), 0.0)
    rng = np.random.default_rng(random_state)
    best_score, best = -np.inf, np.arange(len(A))
    for _ in range(restarts):
        result = quadratic_assignment(
            A_centred,
            B_centred,
            method="faq",
            options={"maximize": True, "P0": "randomized", "rng": rng},
        )
        if result.fun > best_score:
            best_score, best = result.fun, result.col_ind
    upper = np.triu_indices(len(A), 1)
    correlation = float(np.corrcoef(A[upper], B[np.ix_(best, best)][upper])[0, 1])
    return best, correlation


class ClusterMatchingHDA(_TargetLabelHDA):
    """Unsupervised heterogeneous adaptation by matching the source's classes to the target's
    clusters.

    Each domain is centred and its rows scaled to unit length. The source's class centroids and
    ``k`` k-means clusters of the target (``k`` the number of source classes) each make a k x k
    matrix of cosine distances; :func:`match_structures` pairs every class with one cluster so
    that the two matrices agree best (Gromov–Wasserstein between the two sets of k points, which
    with one-to-one matching is a quadratic assignment problem). ``n_clusterings`` k-means runs
    are tried and the one whose matched distances correlate best with the classes' is kept (a
    criterion that reads no target label). Every target row takes the class matched with its
    cluster, and ``estimator`` is trained on the target rows with those labels.

    Matching ten points instead of hundreds of rows makes the structure far less noisy than a
    row-level coupling (:class:`GromovWassersteinHDA`): between two CNNs' features of
    Office-Caltech10 the class structures agree (correlation 0.82 to 0.90), and the matching
    recovers most classes. It fails where the two feature sets arrange the classes differently
    (SURF histograms and CNN features: ``benchmarks/hetero_structure.py`` measures this), and
    where the target's classes do not form clusters.

    Parameters
    ----------
    n_clusterings : int, default 10
        k-means runs (one initialisation each) tried on the target.
    restarts : int, default 20
        Random starts of the quadratic assignment solver per clustering.
    estimator : sklearn classifier or None, default None
        Trained on the target rows with their matched labels (None: logistic regression).
    random_state : int or None, default None
        Seeds the k-means runs and the solver's starts.

    Attributes
    ----------
    structure_correlation_ : float
        Correlation of the matched distances of the kept clustering (1: the domains arrange the
        classes identically). It reads no label, but a high value does not prove the match
        right: SURF → CNN pairs of Office-Caltech10 reach 0.73 to 0.83 with wrong matches.
    target_labels_ : ndarray of shape (n_target,)
        The matched class of every target row seen in ``fit``.
    labeled_target_accuracy_ : float or None
        Accuracy on the problem's labelled target rows, which ``fit`` does not read (None
        without 10 of them); at its majority-class level ``fit`` warns
        :class:`~transferkit.exceptions.DegenerateResultWarning`.

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.problem import TransferProblem
    >>> rng = np.random.default_rng(0)
    >>> centres = rng.normal(size=(4, 5)) * 4
    >>> y_s, y_t = np.arange(80) % 4, np.arange(120) % 4
    >>> rotation = np.linalg.qr(rng.normal(size=(5, 5)))[0]
    >>> problem = TransferProblem(
    ...     X_source=centres[y_s] + rng.normal(size=(80, 5)), y_source=y_s,
    ...     X_target=np.hstack([(centres[y_t] + rng.normal(size=(120, 5))) @ rotation,
    ...                         rng.normal(size=(120, 2))]), y_target=y_t,
    ...     feature_spaces="different")
    >>> model = ClusterMatchingHDA(random_state=0).fit(problem)
    >>> float(np.mean(model.predict(problem.X_target) == y_t))
    1.0
    """

    def __init__(
        self,
        n_clusterings: int = 10,
        restarts: int = 20,
        estimator: Any = None,
        random_state: int | None = None,
    ):
        self.n_clusterings = n_clusterings
        self.restarts = restarts
        self.estimator = estimator
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None, domain: Any = None) -> ClusterMatchingHDA:
        """Match the source's classes to the target's clusters and learn from the matched labels."""
        from sklearn.cluster import KMeans

        who = type(self).__name__
        problem = as_problem(X, y, domain, feature_spaces="different")
        check_positive_int(self.n_clusterings, "n_clusterings", who)
        check_positive_int(self.restarts, "restarts", who)
        X_source, X_target = _check_target_rows(problem, who)
        classes, y_source = np.unique(problem.y_source, return_inverse=True)
        k = len(classes)
        if k < 3:
            raise NotApplicableError(
                f"{who} matches the classes by the distances between them, and the source has "
                f"{k} classes: any matching of {k} points is as good as the other. Use hda_gw "
                "or hda_coot, or a few target labels with hda_cca."
            )
        if len(X_target) < k:
            raise NotApplicableError(
                f"{who} needs at least one target row per source class to form {k} clusters; "
                f"the target has {len(X_target)} rows."
            )
        Z_source = l2_normalize(X_source - X_source.mean(axis=0))
        Z_target = l2_normalize(X_target - X_target.mean(axis=0))
        class_distances = cosine_distances(class_prototypes(Z_source, y_source, k))
        seeds = np.random.default_rng(self.random_state).integers(2**31 - 1, size=2)
        kmeans_seeds = np.random.default_rng(seeds[0]).integers(2**31 - 1, size=self.n_clusterings)
        best_correlation, best_labels = -np.inf, None
        for seed in kmeans_seeds:
            clustering = KMeans(k, n_init=1, random_state=int(seed)).fit(Z_target)
            matching, correlation = match_structures(
                class_distances,
                cosine_distances(clustering.cluster_centers_),
                self.restarts,
                int(seeds[1]),
            )
            if correlation > best_correlation:
                cluster_class = np.empty(k, dtype=np.int64)
                cluster_class[matching] = np.arange(k)
                best_correlation, best_labels = correlation, cluster_class[clustering.labels_]
        logger.info("%s: matched distances correlate at %.3f", who, best_correlation)
        self.structure_correlation_ = float(best_correlation)
        self.target_labels_ = classes[best_labels]
        rows = np.arange(len(X_target))
        self._fit_target(problem, X_target, rows, self.target_labels_)
        return self


# ---------------------------------------------------------------------------- registry
@register_method(
    "hda_gw",
    "heterogeneous",
    "Gromov–Wasserstein between intra-domain distances, labels propagated (different features; "
    "no target label)",
)
def _hda_gw(estimator: Any, random_state: int | None, **params: Any) -> GromovWassersteinHDA:
    return GromovWassersteinHDA(estimator=estimator, random_state=random_state, **params)


@register_method(
    "hda_coot",
    "heterogeneous",
    "Co-optimal transport of rows and features, labels propagated (different features; no "
    "target label)",
)
def _hda_coot(estimator: Any, random_state: int | None, **params: Any) -> CoOptimalTransportHDA:
    return CoOptimalTransportHDA(estimator=estimator, random_state=random_state, **params)


@register_method(
    "hda_cluster",
    "heterogeneous",
    "Source class centroids matched to target k-means clusters by their distance structure "
    "(different features; no target label)",
)
def _hda_cluster(estimator: Any, random_state: int | None, **params: Any) -> ClusterMatchingHDA:
    return ClusterMatchingHDA(estimator=estimator, random_state=random_state, **params)


@register_method(
    "hda_cca",
    "heterogeneous",
    "Class-paired CCA subspace + feature augmentation, then self-training on the unlabelled "
    "target rows (different features; a few target labels per class)",
    needs_target_labels=True,
)
def _hda_cca(estimator: Any, random_state: int | None, **params: Any) -> CCAHDA:
    return CCAHDA(estimator=estimator, random_state=random_state, **params)


__all__ = [
    "CCAHDA",
    "ClusterMatchingHDA",
    "CoOptimalTransportHDA",
    "GromovWassersteinHDA",
    "class_paired_rows",
    "co_optimal_transport_coupling",
    "coupling_memory_bytes",
    "gromov_wasserstein_coupling",
    "intra_domain_distances",
    "match_structures",
    "propagate_labels",
    "reduce_domain",
    "regularized_cca",
]
