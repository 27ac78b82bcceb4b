"""What :func:`~transferkit.diagnose.diagnose` reads: a problem or two matrices, checked.

:func:`read_inputs` turns a :class:`~transferkit.problem.TransferProblem` (images become RGB
thumbnails) or raw source and target matrices with their labels and feature names into one
:class:`Domains`, refusing inputs the checks cannot use with a message saying how to fix them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

import transferkit.diagnose.statistics as st
from transferkit.crosslingual.distillation import parallel_corpus
from transferkit.exceptions import InvalidParameterError, NotApplicableError
from transferkit.multisource import is_multi_source, source_domains
from transferkit.problem import ImageCollection, TransferProblem

logger = logging.getLogger(__name__)


@dataclass
class Domains:
    """Source and target as the checks read them: matrices, labels, names, a summary."""

    Xs: Any
    Xt: Any
    ys: np.ndarray | None
    yt: np.ndarray | None
    labeled: np.ndarray
    names_s: list[str] | None
    names_t: list[str] | None
    summary: dict[str, Any]
    #: Every target label given, visible to methods or not (evaluation labels, the test split):
    #: only its set of classes is used, to report classes the source never saw.
    target_label_pool: np.ndarray | None = None
    #: Each source row's source name, for a multi-source problem (else None).
    source_domains: np.ndarray | None = None


def _languages(problem: TransferProblem) -> dict[str, Any]:
    """``{"languages": ..., "parallel_pairs": ...}`` when the problem's metadata names two different
    languages for its texts (:func:`transferkit.text.problem_from_texts`, the Bible pair); else
    empty."""
    languages = problem.metadata.get("languages") or {}
    source, target = languages.get("source"), languages.get("target")
    if not source or not target or source == target:
        return {}
    pairs = parallel_corpus(problem)
    return {
        "languages": {"source": str(source), "target": str(target)},
        "parallel_pairs": 0 if pairs is None else int(pairs[0].shape[0]),
    }


def read_inputs(
    source: Any,
    X_target: Any,
    y_source: Any,
    y_target: Any,
    target_labeled: Any,
    source_feature_names: Sequence[str] | None,
    target_feature_names: Sequence[str] | None,
    image_size: tuple[int, int] = (16, 16),
) -> Domains:
    """The inputs of :func:`~transferkit.diagnose.diagnose` as :class:`Domains`, checked."""
    if isinstance(source, TransferProblem):
        problem = source
        note = None
        if problem.is_images:
            problem = _thumbnails(problem, image_size)
            note = (
                f"images diagnosed as {image_size[0]}x{image_size[1]} RGB thumbnails (pixel "
                "features); for a semantic view, diagnose features of a pre-trained backbone"
            )
        names = list(problem.feature_names) if problem.feature_names is not None else None
        given = [np.asarray(y) for y in (problem.y_target, problem.y_test) if y is not None]
        return Domains(
            Xs=st.as_matrix(problem.X_source, "X_source"),
            Xt=st.as_matrix(problem.X_target, "X_target"),
            ys=np.asarray(problem.y_source),
            yt=None if problem.y_target is None else np.asarray(problem.y_target),
            labeled=np.asarray(problem.target_labeled, dtype=bool),
            names_s=names,
            names_t=names,
            summary={
                "name": problem.name,
                "source_name": problem.source_name,
                "target_name": problem.target_name,
                **({"note": note} if note else {}),
                **(
                    {"source_domains": list(dict.fromkeys(source_domains(problem).astype(str)))}
                    if is_multi_source(problem)
                    else {}
                ),
                **_languages(problem),
            },
            target_label_pool=np.concatenate(given) if given else None,
            source_domains=source_domains(problem) if is_multi_source(problem) else None,
        )
    if X_target is None:
        raise InvalidParameterError(
            "diagnose takes a TransferProblem, or two data matrices: diagnose(X_source, X_target)."
        )
    if isinstance(source, ImageCollection) or isinstance(X_target, ImageCollection):
        raise NotApplicableError("diagnose needs feature vectors, not images; extract features.")
    Xs = st.as_matrix(source, "X_source")
    Xt = st.as_matrix(X_target, "X_target")
    for what, X in (("X_source", Xs), ("X_target", Xt)):
        values = X.data if sp.issparse(X) else X
        if not np.isfinite(values).all():
            raise InvalidParameterError(
                f"{what} holds NaN or infinite values; impute or drop them before diagnosing."
            )
    ys = None if y_source is None else np.asarray(y_source)
    yt = None if y_target is None else np.asarray(y_target)
    if ys is not None and len(ys) != Xs.shape[0]:
        raise InvalidParameterError(
            f"y_source has {len(ys)} labels for {Xs.shape[0]} source rows; give one per row."
        )
    if yt is not None and len(yt) != Xt.shape[0]:
        raise InvalidParameterError(
            f"y_target has {len(yt)} labels for {Xt.shape[0]} target rows; give one per row."
        )
    if target_labeled is None:
        labeled = np.ones(Xt.shape[0], bool) if yt is not None else np.zeros(Xt.shape[0], bool)
    else:
        labeled = np.asarray(target_labeled, dtype=bool)
        if labeled.shape != (Xt.shape[0],):
            raise InvalidParameterError(
                f"target_labeled has shape {labeled.shape}; expected ({Xt.shape[0]},)."
            )
    for what, names, X in (
        ("source_feature_names", source_feature_names, Xs),
        ("target_feature_names", target_feature_names, Xt),
    ):
        if names is not None and len(names) != X.shape[1]:
            raise InvalidParameterError(
                f"{what} has {len(names)} names for {X.shape[1]} columns; give one per column."
            )
    return Domains(
        Xs=Xs,
        Xt=Xt,
        ys=ys,
        yt=yt,
        labeled=labeled,
        names_s=None if source_feature_names is None else [str(n) for n in source_feature_names],
        names_t=None if target_feature_names is None else [str(n) for n in target_feature_names],
        summary={"name": "data", "source_name": "source", "target_name": "target"},
        target_label_pool=yt,
    )


def _thumbnails(problem: TransferProblem, size: tuple[int, int]) -> TransferProblem:
    """The problem with every image replaced by its flattened RGB thumbnail in [0, 1]."""
    from dataclasses import replace

    def pixels(X: ImageCollection) -> np.ndarray:
        return X.to_array(size).reshape(len(X), -1).astype(np.float64) / 255.0

    logger.info("diagnosing images as %sx%s thumbnails", *size)
    return replace(
        problem,
        X_source=pixels(problem.X_source),
        X_target=pixels(problem.X_target),
        X_test=None,
        y_test=None,
        feature_names=None,
    )


def select_columns(X: Any, cols: np.ndarray) -> Any:
    """The columns ``cols`` of ``X`` (``X`` itself when they are all of them, in order)."""
    return (
        X if len(cols) == X.shape[1] and np.array_equal(cols, np.arange(X.shape[1])) else X[:, cols]
    )
