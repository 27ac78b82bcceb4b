"""Multi-source adaptation: several labelled source domains, one target.

A multi-source problem is an ordinary :class:`~transferkit.problem.TransferProblem` whose source
rows are the sources one after another, with the name of each row's source domain in
``problem.metadata["source_domains"]`` (:data:`SOURCE_DOMAINS`, one entry per source row).
:func:`combine_sources` builds one from separate sources, and
``load_pair(dataset, "amazon+caltech10+dslr", "webcam")`` from a dataset's domains. Every
single-source method runs on it as on the sources pooled; the methods here use the sources'
separate identities (given a single-source problem, they warn and run with the one source: the
source-only classifier, CORAL and single-source JCPOT):

========================  ==============================================================
``ms_weighted``           one model per source, votes weighted by each source's similarity
                          to the target (MMD or the proxy A-distance)
``ms_moments``            first and second moments of every source matched to the target's
                          (a shallow M3SDA, Peng et al. 2019), then one model on the sources
``ms_jcpot``              JCPOT (Redko et al. 2019): optimal transport of every source to
                          the target with the target's class proportions estimated
``ms_refined``            a second, target-side stage: the labels one of the above gives
                          the target, refined by relabelling the target by its class
                          centroids (SHOT's pseudo-labels, Liang et al. 2020)
========================  ==============================================================

Examples
--------
>>> import numpy as np
>>> from transferkit.multisource import combine_sources, source_domains
>>> rng = np.random.default_rng(0)
>>> a = (rng.normal(size=(20, 3)), np.arange(20) % 2)
>>> b = (rng.normal(1.0, size=(30, 3)), np.arange(30) % 2)
>>> problem = combine_sources([a, b], rng.normal(size=(25, 3)), source_names=["a", "b"])
>>> problem.n_source, sorted(set(source_domains(problem)))
(50, ['a', 'b'])
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from transferkit.alignment.common import covariance, covariance_square_norm
from transferkit.alignment.coral import coral_align
from transferkit.base import (
    check_rows,
    default_estimator,
    make_adapted_classifier,
    stack_rows,
    warn_if_collapsed,
)
from transferkit.checks import check_choice, check_nonnegative, check_positive_int, densify
from transferkit.domain_classifier import proxy_a_distance
from transferkit.exceptions import (
    DegenerateResultWarning,
    FeatureSpaceMismatchError,
    InvalidParameterError,
    InvalidProblemError,
    NotApplicableError,
)
from transferkit.fewshot import l2_normalize, prototype_logits
from transferkit.kernels import kernel_matrix, median_heuristic
from transferkit.problem import ImageCollection, TransferProblem, as_problem
from transferkit.registry import make_method, register_method

__all__ = [
    "SOURCE_DOMAINS",
    "CentroidRefinement",
    "JCPOTClassifier",
    "MomentMatching",
    "SourceWeightedEnsemble",
    "combine_pairs",
    "read_pairs",
    "combine_sources",
    "domain_distance",
    "moment_matching",
    "is_multi_source",
    "select_source_rows",
    "source_domains",
    "split_sources",
    "target_centroids",
]

#: Metadata key of a multi-source problem: the source-domain name of each source row.
SOURCE_DOMAINS = "source_domains"

#: Distances :func:`domain_distance` computes between a source and the target.
DISTANCES = ("coral", "mmd", "pad")


def _source_parts(source: Any, index: int) -> tuple[Any, np.ndarray, str | None]:
    if isinstance(source, TransferProblem):
        if source.heterogeneous:
            raise FeatureSpaceMismatchError(
                f"Source {index} ('{source.source_name}') is a heterogeneous problem; a "
                "multi-source problem needs every source in the target's feature space."
            )
        return source.X_source, source.y_source, source.source_name
    if isinstance(source, tuple | list) and len(source) == 2:
        return source[0], np.asarray(source[1]), None
    raise InvalidProblemError(
        f"Source {index} is a {type(source).__name__}; give each source as a TransferProblem "
        "or as an (X, y) pair."
    )


def combine_sources(
    sources: Sequence[TransferProblem | tuple[Any, Any]],
    X_target: Any,
    y_target: Any = None,
    *,
    source_names: Sequence[str] | None = None,
    X_test: Any = None,
    y_test: Any = None,
    name: str = "multi-source",
    target_name: str = "target",
    metadata: dict[str, Any] | None = None,
) -> TransferProblem:
    """One multi-source :class:`TransferProblem` from several labelled sources and a target.

    The source rows are the sources' rows one after another; ``metadata["source_domains"]``
    names the source of each row and ``metadata["sources"]`` lists the sources in order.

    Parameters
    ----------
    sources : sequence of TransferProblem or (X, y) pairs
        At least two labelled sources, each in the target's feature space (a problem gives its
        ``X_source``, ``y_source`` and ``source_name``).
    X_target : array (n_t, d) or sparse matrix
        The target samples.
    y_target : array (n_t,), optional
        Target labels, for evaluation only (hidden from methods).
    source_names : sequence of str, optional
        One name per source; default the problems' ``source_name``, else ``source0``, ...
    X_test, y_test : optional
        A labelled target test split.
    name, target_name : str
        Names used by reports.
    metadata : dict, optional
        More facts about the problem (kept; ``source_domains`` and ``sources`` are set here).

    Returns
    -------
    TransferProblem
        ``source_name`` is the sources joined by ``+``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> sources = [(rng.normal(size=(10, 2)), np.arange(10) % 2) for _ in range(3)]
    >>> combine_sources(sources, rng.normal(size=(5, 2))).source_name
    'source0+source1+source2'
    """
    if isinstance(sources, TransferProblem) or len(sources) < 2:
        raise InvalidParameterError(
            "combine_sources needs at least two sources; for one source build a "
            "TransferProblem directly (single-source methods need no source names)."
        )
    parts = [_source_parts(source, i) for i, source in enumerate(sources)]
    if source_names is None:
        names = [part[2] or f"source{i}" for i, part in enumerate(parts)]
    else:
        names = [str(n) for n in source_names]
        if len(names) != len(parts):
            raise InvalidParameterError(
                f"source_names has {len(names)} names for {len(parts)} sources; give one each."
            )
    if len(set(names)) != len(names):
        raise InvalidParameterError(
            f"Source names must differ, got {names}; pass distinct source_names."
        )
    X_target = np.asarray(X_target) if not hasattr(X_target, "shape") else X_target
    if isinstance(X_target, ImageCollection) or any(
        isinstance(X, ImageCollection) for X, _, _ in parts
    ):
        raise InvalidProblemError(
            "combine_sources takes feature matrices; extract features from the images first "
            "(transferkit.deep, or the office-caltech-images dataset's features=)."
        )
    width = X_target.shape[1] if np.ndim(X_target) == 2 else None
    for (X, _, _), source_name in zip(parts, names, strict=True):
        shape = getattr(X, "shape", np.shape(X))
        if len(shape) != 2 or shape[1] != width:
            raise FeatureSpaceMismatchError(
                f"Source '{source_name}' has features of shape {tuple(shape[1:])} but the target "
                f"has {width}; every source of a multi-source problem must share the target's "
                "feature space (the same columns, the same preprocessing). Map the sources to "
                "common features first, or adapt from that source alone as a heterogeneous "
                "problem (TransferProblem(..., feature_spaces='different'))."
            )
    X_source = parts[0][0]
    for X, _, _ in parts[1:]:
        X_source = stack_rows(X_source, X)
    y_source = np.concatenate([y for _, y, _ in parts])
    domains = np.concatenate(
        [np.full(len(y), n, dtype=object) for (_, y, _), n in zip(parts, names, strict=True)]
    )
    meta = dict(metadata or {})
    meta.update({SOURCE_DOMAINS: domains, "sources": list(names)})
    return TransferProblem(
        X_source=X_source,
        y_source=y_source,
        X_target=X_target,
        y_target=y_target,
        X_test=X_test,
        y_test=y_test,
        name=name,
        source_name="+".join(names),
        target_name=target_name,
        metadata=meta,
    )


def _same_rows(A: Any, B: Any) -> bool:
    if A.shape != B.shape:
        return False
    if sp.issparse(A) or sp.issparse(B):
        return (sp.csr_matrix(A) != sp.csr_matrix(B)).nnz == 0
    return bool(np.array_equal(np.asarray(A), np.asarray(B)))


def read_pairs(
    sources: Sequence[Any], read_pair: Callable[[Any], TransferProblem]
) -> list[TransferProblem]:
    """``read_pair(source)`` for every source, each read with one target: the pairs that
    :func:`combine_pairs` combines. A source whose features are not the target's stops the
    reading with a message for several sources (the single-pair advice, a heterogeneous pair,
    does not apply: such a pair has one source), worded from the error's ``widths``."""
    pairs = []
    for source in sources:
        try:
            pairs.append(read_pair(source))
        except FeatureSpaceMismatchError as error:
            if len(error.widths) != 2:  # not the source against the target (a test file...)
                raise
            (source_name, source_width), (target_name, target_width) = error.widths.items()
            raise FeatureSpaceMismatchError(
                f"{source_name} has {source_width} features and {target_name} {target_width}. "
                "Every source of a multi-source problem must be described by the target's "
                "features: map this source to them first, or leave it out.",
                widths=error.widths,
            ) from error
    return pairs


def combine_pairs(
    pairs: Sequence[TransferProblem],
    *,
    source_names: Sequence[str] | None = None,
    name: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> TransferProblem:
    """One multi-source problem from single-source problems of one target: the sources of
    ``pairs`` and the target (labels and test split included) of the first, which every other
    pair must hold row for row.

    This is how a dataset's pairs (``load_pair(dataset, "a+b", target)``) and a user's files
    (``transferkit bench --source a.npz --source b.npz --target t.npz``) become multi-source.

    Parameters
    ----------
    pairs : sequence of TransferProblem
        At least two single-source problems sharing the target.
    source_names : sequence of str, optional
        One name per source (default: each pair's ``source_name``).
    name : str, optional
        The problem's name (default: the first pair's).
    metadata : dict, optional
        Facts about the problem (default: the first pair's metadata).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X_target = rng.normal(size=(8, 2))
    >>> pairs = [
    ...     TransferProblem(rng.normal(size=(6, 2)), np.arange(6) % 2, X_target, source_name=s)
    ...     for s in ("studio", "phone")
    ... ]
    >>> combine_pairs(pairs).source_name
    'studio+phone'
    """
    pairs = list(pairs)
    if not all(isinstance(pair, TransferProblem) for pair in pairs):
        raise InvalidProblemError("combine_pairs takes TransferProblems of one target each.")
    if len(pairs) < 2:
        raise InvalidParameterError(
            "combine_pairs needs at least two pairs; one pair is already a single-source problem."
        )
    first = pairs[0]
    for pair in pairs[1:]:
        if not _same_rows(pair.X_target, first.X_target):
            raise InvalidProblemError(
                f"The pairs of '{first.source_name}' and '{pair.source_name}' hold different "
                "target rows: the sources of a multi-source problem share one target. Where each "
                "pair draws its own target, combine the sources with combine_sources on one "
                "target instead."
            )
    return combine_sources(
        pairs,
        first.X_target,
        first.y_target,
        source_names=source_names,
        X_test=first.X_test,
        y_test=first.y_test,
        name=first.name if name is None else name,
        target_name=first.target_name,
        metadata=dict(first.metadata) if metadata is None else metadata,
    )


def source_domains(
    problem: TransferProblem, method: str = "This method", *, fallback: bool = False
) -> np.ndarray:
    """The source-domain name of each source row of a multi-source problem.

    A problem without ``metadata["source_domains"]``, or with a single source in it, raises
    :class:`~transferkit.exceptions.NotApplicableError` naming ``method``; with ``fallback``,
    it warns instead and every source row is named ``problem.source_name`` (the multi-source
    methods then run as their single-source counterparts).
    """
    domains = problem.metadata.get(SOURCE_DOMAINS)
    if domains is not None:
        domains = np.asarray(domains, dtype=object)
        if domains.shape != (problem.n_source,):
            raise InvalidProblemError(
                f"metadata['{SOURCE_DOMAINS}'] has {domains.size} entries for "
                f"{problem.n_source} source rows; give one source-domain name per source row."
            )
        if len(np.unique(domains.astype(str))) >= 2:
            return domains
    message = (
        f"{method} needs several source domains, but problem '{problem.name}' has one source "
        f"('{problem.source_name}'). Build a multi-source problem with "
        "transferkit.multisource.combine_sources, or load_pair(dataset, 'a+b', target); for a "
        "single source, use a single-source method (e.g. coral, ot, jda_ot)."
    )
    if not fallback:
        raise NotApplicableError(message)
    warnings.warn(
        message + " It runs with the whole source as one source.", UserWarning, stacklevel=3
    )
    return np.full(problem.n_source, problem.source_name, dtype=object)


def _source_order(problem: TransferProblem, domains: np.ndarray) -> list[str]:
    listed = problem.metadata.get("sources")
    present = list(dict.fromkeys(str(d) for d in domains))
    if listed is not None and sorted(map(str, listed)) == sorted(present):
        return [str(s) for s in listed]
    return present


def split_sources(problem: TransferProblem) -> dict[str, TransferProblem]:
    """One single-source problem per source of a multi-source problem, with the same target.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> sources = [(rng.normal(size=(10, 2)), np.arange(10) % 2) for _ in range(2)]
    >>> list(split_sources(combine_sources(sources, rng.normal(size=(5, 2)))))
    ['source0', 'source1']
    """
    domains = source_domains(problem, "split_sources").astype(str)
    out = {}
    for name in _source_order(problem, domains):
        rows = np.flatnonzero(domains == name)
        metadata = {k: v for k, v in problem.metadata.items() if k not in (SOURCE_DOMAINS,)}
        metadata["sources"] = [name]
        out[name] = TransferProblem(
            X_source=problem.X_source[rows],
            y_source=problem.y_source[rows],
            X_target=problem.X_target,
            y_target=problem.y_target,
            target_labeled=problem.target_labeled,
            X_test=problem.X_test,
            y_test=problem.y_test,
            feature_names=problem.feature_names,
            name=problem.name,
            source_name=name,
            target_name=problem.target_name,
            metadata=metadata,
            feature_spaces=problem.feature_spaces,
        )
    return out


def is_multi_source(problem: TransferProblem) -> bool:
    """Whether ``problem`` names two or more source domains, one per source row.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> sources = [(rng.normal(size=(4, 2)), np.arange(4) % 2) for _ in range(2)]
    >>> is_multi_source(combine_sources(sources, rng.normal(size=(5, 2))))
    True
    """
    domains = problem.metadata.get(SOURCE_DOMAINS)
    return (
        domains is not None
        and len(domains) == problem.n_source
        and len(np.unique(np.asarray(domains, dtype=object).astype(str))) >= 2
    )


def select_source_rows(problem: TransferProblem, rows: Any) -> TransferProblem:
    """The problem with only the source rows ``rows``, each keeping its source-domain name.

    What a source fold of model selection or a subsample should use instead of replacing
    ``X_source`` and ``y_source`` alone: ``metadata["source_domains"]`` (one entry per source
    row) is cut to the same rows, so a multi-source problem stays one. Other problems are cut
    the same way.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> sources = [(rng.normal(size=(4, 2)), np.arange(4) % 2) for _ in range(2)]
    >>> problem = combine_sources(sources, rng.normal(size=(5, 2)))
    >>> source_domains(select_source_rows(problem, [0, 1, 6])).tolist()
    ['source0', 'source0', 'source1']
    """
    rows = np.asarray(rows)
    metadata = dict(problem.metadata)
    if metadata.get(SOURCE_DOMAINS) is not None:
        metadata[SOURCE_DOMAINS] = np.asarray(metadata[SOURCE_DOMAINS], dtype=object)[rows]
    return replace(
        problem, X_source=problem.X_source[rows], y_source=problem.y_source[rows], metadata=metadata
    )


def _source_blocks(
    problem: TransferProblem, method: str
) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """The names, dense rows and labels of each source, in order."""
    problem = as_problem(problem)
    domains = source_domains(problem, method, fallback=True).astype(str)
    names = _source_order(problem, domains)
    X = densify(problem.X_source, method, "the sources are handled as dense arrays")
    rows = [np.flatnonzero(domains == n) for n in names]
    return names, [X[r] for r in rows], [problem.y_source[r] for r in rows]


def domain_distance(
    X_source: Any, X_target: Any, distance: str = "coral", *, random_state: int | None = None
) -> float:
    """How far a source lies from the target: covariances, the squared MMD or the proxy A-distance.

    ``"coral"``: the Frobenius distance between the two covariance matrices (the square root of
    Deep CORAL's loss without its ``1/(4 d^2)``, Sun & Saenko 2016, Eq. 1), estimated without the
    bias of sample covariances: ``||S_s - S_t||^2`` overstates ``||Σ_s - Σ_t||^2`` by each
    sample's noise, which grows as its rows get fewer, so a small source looked far from every
    target (dslr, 157 SURF histograms, came out the farthest source of webcam, the nearest
    domain). Its square is ``T_s + T_t - 2 <S_s, S_t>``, with ``T`` the unbiased estimate of
    ``tr(Σ^2)`` of Chen, Zhang & Zhong (2010, "Tests for high-dimensional covariance
    matrices", JASA, Eq. 2.1) and ``S`` the unbiased sample covariances; an estimate below 0 (the
    same covariance, within the noise) gives distance 0. It needs 4 rows per domain, and it still
    tells domains apart after each was standardised on its own (the Office-Caltech harness
    protocol), where the two others see nothing. It is blind to a shift of the mean alone; use
    ``"mmd"`` there.
    ``"mmd"``: the unbiased estimate of the squared maximum mean discrepancy (Gretton et al.
    2012, Eq. 3) with a Gaussian kernel of median-heuristic width over both samples. ``"pad"``:
    :func:`transferkit.domain_classifier.proxy_a_distance` (0 to 2); it saturates at 2 when a
    linear classifier separates the domains, as it does for most pairs of image domains.

    Parameters
    ----------
    X_source, X_target : array (n, d)
    distance : {"coral", "mmd", "pad"}, default "coral"
    random_state : int or None, default None (keyword only)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> near = domain_distance(rng.normal(size=(100, 2)), rng.normal(size=(100, 2)))
    >>> far = domain_distance(rng.normal(size=(100, 2)), rng.normal(0, 3, size=(100, 2)))
    >>> near < far
    True
    """
    check_choice(distance, "distance", "domain_distance", DISTANCES)
    if distance == "pad":
        return proxy_a_distance(X_source, X_target, random_state=random_state)
    if distance == "coral":
        square = (
            covariance_square_norm(X_source)
            + covariance_square_norm(X_target)
            - 2.0 * float(np.sum(covariance(X_source) * covariance(X_target)))
        )
        return float(np.sqrt(max(square, 0.0)))
    Xs = densify(X_source, "domain_distance", "the distance needs dense rows")
    Xt = densify(X_target, "domain_distance", "the distance needs dense rows")
    both = np.concatenate([Xs, Xt])
    gamma = median_heuristic(both, random_state=random_state)
    K = kernel_matrix(both, both, "rbf", gamma=gamma)
    n, m = len(Xs), len(Xt)
    if n < 2 or m < 2:
        raise InvalidParameterError("domain_distance needs at least two rows in each sample.")
    # unbiased: the diagonals left out, so a small source is not pushed away by its own size
    within_s = (K[:n, :n].sum() - np.trace(K[:n, :n])) / (n * (n - 1))
    within_t = (K[n:, n:].sum() - np.trace(K[n:, n:])) / (m * (m - 1))
    value = within_s + within_t - 2.0 * K[:n, n:].mean()
    return float(max(value, 0.0))


class _MultiSourceModel(ClassifierMixin, BaseEstimator):
    """What the multi-source classifiers share: fitting from a problem, predicting."""

    name = "multi-source"

    def _check_features(self, X: Any) -> np.ndarray:
        X = check_rows(self, X)
        return densify(X, self.name, "the model works on dense rows")

    def predict(self, X: Any) -> np.ndarray:
        """Labels of the rows ``X`` (target rows)."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def _class_scores(model: Any, X: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Class probabilities of ``model`` laid out on ``classes`` (one-hot votes if it has none)."""
    scores = np.zeros((len(X), len(classes)))
    columns = np.searchsorted(classes, model.classes_)
    if hasattr(model, "predict_proba"):
        scores[:, columns] = model.predict_proba(X)
    else:
        predicted = np.searchsorted(classes, model.predict(X))
        scores[np.arange(len(X)), predicted] = 1.0
    return scores


class SourceWeightedEnsemble(_MultiSourceModel):
    """One classifier per source, their votes weighted by each source's similarity to the target.

    Source ``k`` at distance ``d_k`` from the target (:func:`domain_distance`) gets the weight
    ``w_k ∝ exp(-(d_k - d_min) / (temperature · (d_max - d_min)))``: the distances are put on a
    0 (nearest source) to 1 (farthest) scale, so the weights do not depend on the features'
    scale; at the default ``temperature = 0.2`` the farthest source weighs ``e^-5`` of the
    nearest, and a large ``temperature`` gives equal weights. The prediction is the weighted
    mean of the sources' class probabilities (one-hot votes for a classifier without them), the
    combination rule of multi-source adaptation theory (Mansour, Mohri & Rostamizadeh 2009),
    with the weights that M3SDA learns for its source-specific classifiers (Peng et al. 2019, §4)
    set here from the data.

    Parameters
    ----------
    estimator : sklearn classifier or None, default None (logistic regression)
        Cloned and trained once per source.
    distance : {"coral", "mmd", "pad"}, default "coral"
        The source-to-target distance (see :func:`domain_distance`).
    temperature : float, default 0.2
        How evenly the weights spread (> 0).
    adapter : transferkit adapter or None, default None
        An optional single-source adapter (e.g. ``CORAL()``) fitted for each source with the
        target before its classifier.
    random_state : int or None, default None

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> near = (rng.normal(size=(60, 2)), (np.arange(60) % 2))
    >>> far = (rng.normal(0, 5, size=(60, 2)), (np.arange(60) % 2))
    >>> problem = combine_sources([near, far], rng.normal(size=(40, 2)))
    >>> model = SourceWeightedEnsemble().fit(problem)
    >>> bool(model.weights_[0] > model.weights_[1])
    True
    """

    name = "ms_weighted"

    def __init__(
        self,
        estimator: Any = None,
        distance: str = "coral",
        temperature: float = 0.2,
        adapter: Any = None,
        random_state: int | None = None,
    ):
        self.estimator = estimator
        self.distance = distance
        self.temperature = temperature
        self.adapter = adapter
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None, domain: Any = None) -> SourceWeightedEnsemble:
        """Fit one model per source of the multi-source problem ``X`` and weigh them."""
        check_choice(self.distance, "distance", self.name, DISTANCES)
        temperature = check_nonnegative(self.temperature, "temperature", self.name, strict=True)
        problem = as_problem(X, y, domain)
        names, Xs, ys = _source_blocks(problem, self.name)
        Xt = densify(problem.X_target, self.name, "the target is handled as a dense array")
        distances = np.array(
            [domain_distance(X_k, Xt, self.distance, random_state=self.random_state) for X_k in Xs]
        )
        spread = float(distances.max() - distances.min())
        relative = (distances - distances.min()) / spread if spread > 0 else 0.0 * distances
        weights = np.exp(-relative / temperature)
        self.source_names_ = names
        self.distances_ = distances
        self.weights_ = weights / weights.sum()
        self.classes_ = problem.classes
        self.models_ = []
        estimator = default_estimator() if self.estimator is None else self.estimator
        for X_k, y_k in zip(Xs, ys, strict=True):
            if self.adapter is None:
                model = clone(estimator).fit(X_k, y_k)
            else:
                single = TransferProblem(X_source=X_k, y_source=y_k, X_target=Xt)
                model = make_adapted_classifier(clone(self.adapter), clone(estimator))
                model.fit(single)
            self.models_.append(model)
        self.n_features_in_ = problem.n_features
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """The weighted mean of the sources' class probabilities for the rows ``X``."""
        X = self._check_features(X)
        scores = np.zeros((len(X), len(self.classes_)))
        for weight, model in zip(self.weights_, self.models_, strict=True):
            scores += weight * _class_scores(model, X, self.classes_)
        return scores


def moment_matching(
    sources: Sequence[np.ndarray], X_target: np.ndarray, regularization: float = 1.0
) -> list[np.ndarray]:
    """Every source moved onto the target's mean and re-coloured to its covariance.

    The closed-form, shallow counterpart of M3SDA's moment distance (Peng et al. 2019, Eq. 1):
    that loss matches the first and second moments of every source with the target's and of the
    sources pairwise; mapping each source onto the target's moments
    (:func:`transferkit.alignment.coral.coral_align`, Sun et al. 2016) zeroes both sets of terms
    at once, since sources with equal moments match each other too.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(200, 2)), rng.normal(2, 3, size=(200, 2))
    >>> moved = moment_matching([a, b], rng.normal(size=(200, 2)), regularization=0.0)
    >>> bool(abs(moved[1].mean(axis=0)).max() < 0.2)
    True
    """
    check_nonnegative(regularization, "regularization", "moment_matching")
    return [coral_align(X, X_target, regularization) for X in sources]


class MomentMatching(_MultiSourceModel):
    """Shallow M3SDA: match every source's moments to the target's, then one classifier.

    Each source is mapped onto the target's mean and covariance (:func:`moment_matching`); one
    classifier is trained on the mapped sources together, or (``combine="vote"``) one per
    source with their probabilities averaged, as M3SDA combines its source-specific classifiers
    (Peng et al. 2019, §4).

    Parameters
    ----------
    estimator : sklearn classifier or None, default None (logistic regression)
    regularization : float, default 1.0
        Added to the covariances' diagonals (CORAL's lambda).
    combine : {"pool", "vote"}, default "pool"
    random_state : int or None, default None
        Unused (the mapping is deterministic); kept for the registry's calling convention.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> sources = [(rng.normal(i, size=(40, 2)), np.arange(40) % 2) for i in range(2)]
    >>> problem = combine_sources(sources, rng.normal(size=(30, 2)))
    >>> MomentMatching().fit(problem).predict(problem.X_target).shape
    (30,)
    """

    name = "ms_moments"

    def __init__(
        self,
        estimator: Any = None,
        regularization: float = 1.0,
        combine: str = "pool",
        random_state: int | None = None,
    ):
        self.estimator = estimator
        self.regularization = regularization
        self.combine = combine
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None, domain: Any = None) -> MomentMatching:
        """Map every source onto the target's moments and train on them."""
        regularization = check_nonnegative(self.regularization, "regularization", self.name)
        check_choice(self.combine, "combine", self.name, ("pool", "vote"))
        problem = as_problem(X, y, domain)
        names, Xs, ys = _source_blocks(problem, self.name)
        Xt = densify(problem.X_target, self.name, "the target is handled as a dense array")
        moved = moment_matching(Xs, Xt, regularization)
        estimator = default_estimator() if self.estimator is None else self.estimator
        self.source_names_ = names
        self.classes_ = problem.classes
        if self.combine == "pool":
            self.models_ = [clone(estimator).fit(np.concatenate(moved), np.concatenate(ys))]
        else:
            self.models_ = [clone(estimator).fit(m, y_k) for m, y_k in zip(moved, ys, strict=True)]
        self.n_features_in_ = problem.n_features
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities of the target rows ``X`` (mean over the models)."""
        X = self._check_features(X)
        scores = [_class_scores(model, X, self.classes_) for model in self.models_]
        return np.mean(scores, axis=0)


class JCPOTClassifier(_MultiSourceModel):
    """JCPOT: joint class-proportion and optimal transport, for several sources under target shift.

    Redko, Courty, Flamary & Tuia (2019), "Optimal transport for multi-source domain adaptation
    under target shift", AISTATS: the target's class proportions are estimated jointly with an
    entropic transport plan from each source, the sources' masses re-weighted per class to them
    (POT's ``ot.da.JCPOTTransport``). The sources are transported onto the target
    (barycentric mapping) and one classifier is trained on them together.

    Parameters
    ----------
    estimator : sklearn classifier or None, default None (logistic regression)
    reg_e : float, default 0.1
        Entropic regularisation, relative to the median squared distance (the costs are divided
        by it, so the default suits any feature scale).
    max_iter : int, default 10
        Bregman-projection iterations.
    random_state : int or None, default None
        Unused (JCPOT is deterministic); kept for the registry's calling convention.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> sources = [(rng.normal(i, size=(40, 2)), np.arange(40) % 2) for i in range(2)]
    >>> problem = combine_sources(sources, rng.normal(size=(30, 2)))
    >>> JCPOTClassifier().fit(problem).target_proportions_.shape
    (2,)
    """

    name = "ms_jcpot"

    def __init__(
        self,
        estimator: Any = None,
        reg_e: float = 0.1,
        max_iter: int = 10,
        random_state: int | None = None,
    ):
        self.estimator = estimator
        self.reg_e = reg_e
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None, domain: Any = None) -> JCPOTClassifier:
        """Transport every source onto the target and train on the transported sources."""
        import ot

        reg_e = check_nonnegative(self.reg_e, "reg_e", self.name, strict=True)
        max_iter = check_positive_int(self.max_iter, "max_iter", self.name)
        problem = as_problem(X, y, domain)
        names, Xs, ys = _source_blocks(problem, self.name)
        Xt = densify(problem.X_target, self.name, "the target is handled as a dense array")
        classes = problem.classes
        # JCPOT needs every class in every source, labelled 0..C-1
        codes = [np.searchsorted(classes, y_k) for y_k in ys]
        for name, code in zip(names, codes, strict=True):
            missing = np.setdiff1d(np.arange(len(classes)), code)
            if len(missing):
                raise NotApplicableError(
                    f"ms_jcpot: source '{name}' has no rows of class(es) "
                    f"{classes[missing].tolist()}; JCPOT needs every class in every source. "
                    "Drop that source or use ms_weighted / ms_moments."
                )
        scale = float(np.median(ot.dist(np.concatenate(Xs), Xt)))
        scale = scale if scale > 0 else 1.0
        # log=True: without it POT 0.9 stores the (proportions, log) pair as proportions_
        transport = ot.da.JCPOTTransport(reg_e=reg_e * scale, max_iter=max_iter, log=True)
        # POT reads a list of one source as rows; a single source is given twice (two equal
        # sources have the same barycentre and proportions as one) and its first copy kept
        copies = 2 if len(Xs) == 1 else 1
        transport.fit(Xs=Xs * copies, ys=codes * copies, Xt=Xt)
        moved = transport.transform(Xs=Xs * copies)[: len(Xs)]
        moved = [np.asarray(m) for m in (moved if isinstance(moved, list) else [moved])]
        if len(moved) != len(Xs) or any(not np.isfinite(m).all() for m in moved):
            raise NotApplicableError(
                f"ms_jcpot: the transport failed (non-finite plan) with reg_e={self.reg_e}; "
                "raise reg_e."
            )
        estimator = default_estimator() if self.estimator is None else self.estimator
        self.model_ = clone(estimator).fit(np.concatenate(moved), np.concatenate(ys))
        self.models_ = [self.model_]
        self.transport_ = transport
        self.target_proportions_ = np.asarray(transport.proportions_)
        self.source_names_ = names
        self.classes_ = classes
        self.n_features_in_ = problem.n_features
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities of the target rows ``X``."""
        return _class_scores(self.model_, self._check_features(X), self.classes_)


def target_centroids(
    X_target: np.ndarray, proba: np.ndarray, *, n_rounds: int = 2
) -> tuple[np.ndarray, np.ndarray, int]:
    """Class centroids of the target and its labels, from a first model's class probabilities.

    SHOT's self-supervised pseudo-labels (Liang, Hu & Feng 2020, Eqs. 4-6): each class's first
    centroid is the mean of the unit-length target rows weighted by the model's probabilities of
    that class (Eq. 4); each row takes the class of its nearest centroid in cosine similarity
    (Eq. 5); then, for ``n_rounds - 1`` more rounds, the centroids become the means of their
    rows (Eq. 6) and the rows are relabelled, stopping early once no label changes. It is
    spherical k-means started from the model's labels and stopped after a few rounds: the labels
    move towards the clusters the target forms on its own while each cluster keeps the class the
    model gave most of its rows; run to convergence it follows the clusters wherever they lead,
    classes or not. A class no row is nearest to keeps a zero centroid, at cosine 0 from every
    row, as in SHOT. The rows are used as given; centre them first if their mean is far from
    zero (:class:`CentroidRefinement` does).
    :func:`transferkit.deep.source_free.centroid_pseudo_labels` is the same rule on tensors,
    inside SHOT's training loop, with the same two rounds.

    Parameters
    ----------
    X_target : array (n, d)
        The target rows (scaled to unit length here).
    proba : array (n, k)
        The first model's class probabilities of the rows (one-hot votes for a hard classifier).
    n_rounds : int, default 2 (keyword only)
        Relabelling rounds, as in SHOT; fewer when the labels stop changing.

    Returns
    -------
    centroids : array (k, d)
        Unit-length class centroids (zero for a class without rows).
    labels : int array (n,)
        Each row's class index, that of its nearest centroid.
    rounds : int
        Relabelling rounds run.

    Examples
    --------
    >>> X = np.array([[1.0, 0.1], [1.0, -0.1], [0.9, 0.3], [-0.1, 1.0], [0.1, 1.0]])
    >>> proba = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    >>> centroids, labels, rounds = target_centroids(X, proba)  # the third row was wrong
    >>> labels.tolist(), rounds
    ([0, 0, 0, 1, 1], 2)
    """
    n_rounds = check_positive_int(n_rounds, "n_rounds", "target_centroids")
    X = l2_normalize(X_target)
    weights = np.asarray(proba, dtype=np.float64)
    if weights.ndim != 2 or len(weights) != len(X):
        raise InvalidParameterError(
            f"target_centroids: proba has shape {weights.shape} for {len(X)} target rows; give "
            "one row of class probabilities per target row."
        )
    labels = weights.argmax(axis=1)
    n_classes = weights.shape[1]
    for rounds in range(1, n_rounds + 1):
        centroids = l2_normalize(weights.T @ X / np.maximum(weights.sum(axis=0), 1e-12)[:, None])
        new = prototype_logits(X, centroids, metric="cosine").argmax(axis=1)
        if rounds > 1 and np.array_equal(new, labels):
            break
        labels = new
        weights = np.eye(n_classes)[labels]
    return centroids, labels, rounds


#: Share of the target rows, the first stage's surest, on which :class:`CentroidRefinement`
#: checks that it keeps the first stage's labels (that of the selection's source-only floor).
SURE_SHARE = 0.3


class CentroidRefinement(_MultiSourceModel):
    """A second, target-side stage: a multi-source model's target labels refined by clustering.

    The first stage (``model``, JCPOT by default) combines the sources and labels the unlabelled
    target; the second lets the target's own structure correct it: the target rows, centred on
    their mean and scaled to unit length (the CL2N of SimpleShot, Wang et al. 2019), are
    relabelled by their nearest class centroid, the centroids started from the first stage's
    probabilities (:func:`target_centroids`, SHOT's pseudo-labels of Liang, Hu & Feng 2020,
    Eqs. 4-6, with SHOT's two rounds). A row is then predicted as the class of its nearest
    centroid. It helps where the target's classes form clusters of their own that the
    transferred classifier cuts across (pre-trained CNN features, the histograms of one
    camera); it keeps the first stage's confusions where two classes share one cluster.

    Where the target clusters by something else than the class, the centroids carry the classes
    to the wrong clusters (on the raw pixels of MNIST-M, to near chance). A refinement corrects
    the rows the first stage is unsure of and keeps those it is surest of; so when the refined
    labels keep fewer than half of the first stage's labels on its surest rows (its
    :data:`SURE_SHARE` most confident target rows; every row for hard votes, which rank none
    above another), the refinement is set aside: the model predicts with the first stage and
    warns (:class:`~transferkit.exceptions.DegenerateResultWarning`).

    Parameters
    ----------
    model : classifier or None, default None (``JCPOTClassifier()``)
        The first stage: fitted on the problem (``fit(problem)``) and asked for the target's
        class probabilities (``predict_proba``; one-hot votes from ``predict`` without it).
        Cloned before fitting.
    n_rounds : int, default 2
        Relabelling rounds (see :func:`target_centroids`); SHOT's value, not tuned here.
    random_state : int or None, default None
        Unused (the refinement is deterministic; the first stage takes its own); kept for the
        registry's calling convention.

    Attributes
    ----------
    model_ : the fitted first stage
    centroids_ : array (n_classes, d)
        Unit-length class centroids of the centred target.
    target_mean_ : array (d,)
        The mean of the target rows, subtracted before the cosine.
    n_rounds_ : int
        Relabelling rounds run.
    relabelled_share_ : float
        Share of the target rows whose label the refinement changed.
    agreement_ : float
        Share of the first stage's surest target rows whose label the refinement kept.
    refined_ : bool
        Whether the model predicts by the centroids (False: by the first stage, the refinement
        having overturned most of its surest labels).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> sources = [(rng.normal(i, size=(40, 2)), np.arange(40) % 2) for i in range(2)]
    >>> problem = combine_sources(sources, rng.normal(size=(30, 2)))
    >>> model = CentroidRefinement(MomentMatching()).fit(problem)
    >>> model.centroids_.shape, model.predict(problem.X_target).shape
    ((2, 2), (30,))
    """

    name = "ms_refined"

    def __init__(self, model: Any = None, n_rounds: int = 2, random_state: int | None = None):
        self.model = model
        self.n_rounds = n_rounds
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None, domain: Any = None) -> CentroidRefinement:
        """Fit the first stage on the problem, then relabel its target by class centroids."""
        n_rounds = check_positive_int(self.n_rounds, "n_rounds", self.name)
        model = JCPOTClassifier() if self.model is None else self.model
        if not (hasattr(model, "fit") and hasattr(model, "predict")):
            raise InvalidParameterError(
                f"{self.name}: model must be a classifier with fit(problem) and predict (e.g. "
                f"JCPOTClassifier()), got {type(model).__name__}; to name a registered method, "
                "use make_method('ms_refined', {'base': 'ms_jcpot'})."
            )
        problem = as_problem(X, y, domain)
        Xt = densify(problem.X_target, self.name, "the target is clustered as a dense array")
        self.model_ = clone(model).fit(problem)
        self.classes_ = problem.classes
        first = _class_scores(self.model_, Xt, self.classes_)
        self.target_mean_ = Xt.mean(axis=0)
        self.centroids_, labels, self.n_rounds_ = target_centroids(
            Xt - self.target_mean_, first, n_rounds=n_rounds
        )
        first_labels = first.argmax(axis=1)
        self.relabelled_share_ = float(np.mean(labels != first_labels))
        confidence = first.max(axis=1)
        # ties (hard votes) all count as sure, so no row is ranked above another by its index
        sure = confidence >= np.quantile(confidence, 1.0 - SURE_SHARE)
        self.agreement_ = float(np.mean(labels[sure] == first_labels[sure]))
        self.refined_ = self.agreement_ >= 0.5
        self.source_names_ = getattr(self.model_, "source_names_", [problem.source_name])
        self.n_features_in_ = problem.n_features
        if not self.refined_:
            warnings.warn(
                DegenerateResultWarning(
                    f"{self.name}: relabelling the target by its class centroids kept only "
                    f"{100 * self.agreement_:.0f} % of the first stage's labels on the "
                    f"{sum(sure)} target rows it is surest of: the target's clusters do not "
                    "follow its classes (raw pixels clustered by colour, say). It predicts "
                    f"with the first stage ({type(self.model_).__name__}) instead; use that "
                    "method directly, or refine on features whose clusters are the classes "
                    "(e.g. pre-trained CNN features)."
                ),
                stacklevel=2,
            )
        warn_if_collapsed(self, problem, self.name)
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Cosine similarity of each (centred) row ``X`` with each class's centroid."""
        X = self._check_features(X)
        return prototype_logits(X - self.target_mean_, self.centroids_, metric="cosine")

    def predict_proba(self, X: Any) -> np.ndarray:
        """One-hot votes for the nearest centroid (a hard rule, as 1-NN's); the first stage's
        probabilities when the refinement was set aside (``refined_`` False)."""
        if not self.refined_:
            return _class_scores(self.model_, self._check_features(X), self.classes_)
        scores = self.decision_function(X)
        return np.eye(len(self.classes_))[scores.argmax(axis=1)]


def _factory(cls: type, **fixed: Any) -> Callable[..., Any]:
    def make(estimator: Any, random_state: int | None, **params: Any) -> Any:
        return cls(estimator=estimator, random_state=random_state, **fixed, **params)

    return make


register_method(
    "ms_weighted",
    "multi-source",
    "Multi-source: one model per source, votes weighted by similarity to the target",
)(_factory(SourceWeightedEnsemble))
register_method(
    "ms_moments",
    "multi-source",
    "Multi-source: every source's mean and covariance matched to the target's (shallow M3SDA)",
)(_factory(MomentMatching))
register_method(
    "ms_jcpot",
    "multi-source",
    "Multi-source: JCPOT, OT from every source with estimated target proportions (Redko 2019)",
)(_factory(JCPOTClassifier))


#: First stages ``ms_refined`` accepts by name: the sources pooled, or a multi-source method.
REFINED_BASES = ("source_only", "ms_weighted", "ms_moments", "ms_jcpot")


@register_method(
    "ms_refined",
    "multi-source",
    "Multi-source: a method's target labels refined by the target's class centroids (SHOT 2020)",
)
def _refined(
    estimator: Any,
    random_state: int | None,
    base: str = "ms_jcpot",
    base_params: dict[str, Any] | None = None,
    n_rounds: int = 2,
) -> CentroidRefinement:
    check_choice(base, "base", "ms_refined", REFINED_BASES)
    first = make_method(base, base_params, classifier=estimator, random_state=random_state)
    return CentroidRefinement(first, n_rounds=n_rounds, random_state=random_state)
