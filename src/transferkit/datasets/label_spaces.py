"""Problems whose source and target label spaces differ, made from any problem.

* :func:`partial_target` keeps the target rows of some source classes only (*partial* domain
  adaptation: the target holds a subset of the source classes, Cao et al. 2018);
* :func:`open_set` keeps the source rows of the *known* classes and gives the target rows of the
  *unknown* classes one label, :func:`transferkit.label_spaces.unknown_label` (-2 for integer
  labels, ``"unknown"`` for string labels): the target holds classes the source never saw
  (Saito et al. 2018).

:func:`~transferkit.datasets.load_pair` applies them to any dataset through its options
``target_classes`` (partial) and ``known_classes`` with ``unknown_classes`` (open set). Classes
are given as the problem's labels, or as names of ``metadata["class_names"]`` when the dataset
codes its classes as integers (Office-Caltech: ``"backpack"`` is label 0).

Examples
--------
>>> from transferkit.datasets import make_shifted_blobs
>>> problem = make_shifted_blobs(n_classes=4, random_state=0)
>>> partial = partial_target(problem, [0, 1])
>>> sorted(set(partial.y_target.tolist())), sorted(set(partial.y_source.tolist()))
([0, 1], [0, 1, 2, 3])
>>> opened = open_set(problem, known=[0, 1], unknown=[2, 3])
>>> sorted(set(opened.y_target.tolist())), sorted(set(opened.y_source.tolist()))
([-2, 0, 1], [0, 1])
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from transferkit.exceptions import InvalidParameterError, UnseenClassWarning
from transferkit.label_spaces import unknown_label
from transferkit.problem import TransferProblem, plain_label

__all__ = ["LABEL_SPACE_OPTIONS", "apply_label_space_options", "open_set", "partial_target"]

#: Options of :func:`~transferkit.datasets.load_pair` that every dataset accepts.
LABEL_SPACE_OPTIONS = ("target_classes", "known_classes", "unknown_classes")


def _resolve_classes(problem: TransferProblem, classes: Any, what: str) -> np.ndarray:
    """The labels named by ``classes`` (labels, or names of ``metadata['class_names']``)."""
    if isinstance(classes, str | bytes) or not isinstance(classes, Sequence | np.ndarray):
        raise InvalidParameterError(
            f"{what} must be a list of classes (labels or class names); got {classes!r}."
        )
    names = list(problem.metadata.get("class_names") or [])
    labels = np.unique(np.concatenate([problem.y_source, _target_labels(problem)]))
    resolved = []
    for value in classes:
        if isinstance(value, str) and value in names and value not in labels.tolist():
            value = names.index(value)
        value = plain_label(value)
        if value not in labels.tolist():
            known = ", ".join(str(c) for c in labels.tolist()[:20])
            hint = f" or names {names}" if names else ""
            raise InvalidParameterError(
                f"{what} names class {value!r}, which problem '{problem.name}' does not hold. "
                f"Its classes: {known}{hint}."
            )
        resolved.append(value)
    if len(set(resolved)) != len(resolved):
        raise InvalidParameterError(f"{what} names a class twice: {list(classes)}.")
    return np.asarray(resolved, dtype=labels.dtype)


def _target_labels(problem: TransferProblem) -> np.ndarray:
    if problem.y_target is None:
        raise InvalidParameterError(
            f"Problem '{problem.name}' has no target labels (y_target), so its target rows "
            "cannot be selected by class; give a problem with y_target."
        )
    parts = [problem.y_target] + ([] if problem.y_test is None else [problem.y_test])
    return np.concatenate(parts)


def _rows(X: Any, index: np.ndarray) -> Any:
    return X[index]  # arrays, sparse matrices and ImageCollections (kept lazy) alike


def _select(
    problem: TransferProblem,
    y: np.ndarray,
    X: Any,
    keep: np.ndarray,
    unknown: np.ndarray | None,
    label: Any,
) -> tuple[Any, np.ndarray]:
    rows = np.flatnonzero(
        np.isin(y, keep) | (np.isin(y, unknown) if unknown is not None else False)
    )
    new_y = y[rows].astype(object if isinstance(label, str) else y.dtype)
    if unknown is not None:
        new_y[np.isin(y[rows], unknown)] = label
        if not isinstance(label, str):
            new_y = new_y.astype(y.dtype)
    return _rows(X, rows), new_y


def _select_target_and_test(
    problem: TransferProblem, keep: np.ndarray, unknown: np.ndarray | None, label: Any
) -> dict[str, Any]:
    """The target rows (and the test rows, if any) that :func:`_select` keeps, as the fields
    of the new problem."""
    changes: dict[str, Any] = {}
    changes["X_target"], changes["y_target"] = _select(
        problem, problem.y_target, problem.X_target, keep, unknown, label
    )
    if problem.X_test is not None:
        changes["X_test"], changes["y_test"] = _select(
            problem, problem.y_test, problem.X_test, keep, unknown, label
        )
    return changes


def partial_target(problem: TransferProblem, classes: Sequence[Any]) -> TransferProblem:
    """The problem with its target (and test) rows restricted to ``classes``; the source keeps
    every class (partial domain adaptation, Cao, Long & Wang 2018).

    Parameters
    ----------
    problem : TransferProblem
        A problem with target labels (they choose the rows; methods still do not see them).
    classes : list
        The target's classes: labels of the problem, or names of ``metadata["class_names"]``.

    Returns
    -------
    TransferProblem
        ``metadata["label_space"]`` is ``"partial"`` and ``metadata["target_classes"]`` lists
        the kept labels.

    Examples
    --------
    >>> from transferkit.datasets import make_shifted_blobs
    >>> problem = make_shifted_blobs(n_classes=3, random_state=0)
    >>> partial_target(problem, [0, 2]).metadata["target_classes"]
    [0, 2]
    """
    keep = _resolve_classes(problem, classes, "partial_target's classes")
    shared = np.intersect1d(keep, problem.source_classes)
    if len(shared) == 0:
        raise InvalidParameterError(
            f"partial_target's classes {keep.tolist()} share no class with the source "
            f"{problem.source_classes.tolist()}; a partial target holds some of the source's "
            "classes. For classes the source never saw, use open_set."
        )
    if len(shared) < len(keep):
        raise InvalidParameterError(
            f"partial_target's classes include {np.setdiff1d(keep, shared).tolist()}, which "
            "the source does not hold; a partial target holds only source classes (use "
            "open_set for target classes the source never saw)."
        )
    if problem.n_target_labeled:
        raise InvalidParameterError(
            "partial_target takes a problem with no visible target labels; restrict the "
            "classes first, then reveal labels (problem.with_target_labels)."
        )
    changes = _select_target_and_test(problem, keep, None, None)
    metadata = {
        **problem.metadata,
        "label_space": "partial",
        "target_classes": [plain_label(c) for c in keep],
    }
    return replace(
        problem,
        target_labeled=None,
        metadata=metadata,
        **changes,
    )


def open_set(
    problem: TransferProblem, known: Sequence[Any], unknown: Sequence[Any]
) -> TransferProblem:
    """The open-set problem: the source keeps its ``known`` classes; the target keeps the rows
    of ``known`` and ``unknown`` classes, the latter all labelled
    :func:`~transferkit.label_spaces.unknown_label` (Saito, Yamamoto, Ushiku & Harada 2018).

    Parameters
    ----------
    problem : TransferProblem
        A problem with target labels.
    known : list
        Classes both domains hold (labels or names of ``metadata["class_names"]``); at least two.
    unknown : list
        Classes only the target holds; their target rows are labelled unknown, their source
        rows dropped. At least one.

    Returns
    -------
    TransferProblem
        ``metadata["label_space"]`` is ``"open_set"``, with ``known_classes``,
        ``unknown_classes`` (the original labels) and ``unknown_label``.

    Examples
    --------
    >>> from transferkit.datasets import make_shifted_blobs
    >>> problem = make_shifted_blobs(n_classes=3, random_state=0)
    >>> open_set(problem, known=[0, 1], unknown=[2]).metadata["unknown_label"]
    -2
    """
    known_labels = _resolve_classes(problem, known, "open_set's known classes")
    unknown_labels = _resolve_classes(problem, unknown, "open_set's unknown classes")
    if len(known_labels) < 2:
        raise InvalidParameterError(
            f"open_set needs at least two known classes (shared by source and target); got "
            f"{known_labels.tolist()}. Name more classes in known."
        )
    if len(unknown_labels) == 0:
        raise InvalidParameterError(
            "open_set needs at least one unknown class (held by the target only); name one in "
            "unknown, or use partial_target when the target holds source classes only."
        )
    both = np.intersect1d(known_labels, unknown_labels)
    if len(both):
        raise InvalidParameterError(
            f"Classes {both.tolist()} are named both known and unknown; each class is one or "
            "the other."
        )
    missing = np.setdiff1d(known_labels, problem.source_classes)
    if len(missing):
        raise InvalidParameterError(
            f"open_set's known classes {missing.tolist()} are not in the source; known classes "
            "are those both domains hold."
        )
    if problem.n_target_labeled:
        raise InvalidParameterError(
            "open_set takes a problem with no visible target labels; build the open-set "
            "problem first, then reveal labels (problem.with_target_labels)."
        )
    label = unknown_label(problem.y_source)
    if label in known_labels.tolist():
        raise InvalidParameterError(
            f"Class {label!r} is the label open_set gives unknown rows; recode the labels."
        )
    source_rows = np.flatnonzero(np.isin(problem.y_source, known_labels))
    changes = _select_target_and_test(problem, known_labels, unknown_labels, label)
    metadata = {
        **problem.metadata,
        "label_space": "open_set",
        "known_classes": [plain_label(c) for c in known_labels],
        "unknown_classes": [plain_label(c) for c in unknown_labels],
        "unknown_label": label,
    }
    with warnings.catch_warnings():
        # the unknown label is in no source class by design: the warning would say so each time
        warnings.simplefilter("ignore", UnseenClassWarning)
        return replace(
            problem,
            X_source=_rows(problem.X_source, source_rows),
            y_source=problem.y_source[source_rows],
            target_labeled=None,
            metadata=metadata,
            **changes,
        )


def apply_label_space_options(problem: TransferProblem, options: dict[str, Any]) -> TransferProblem:
    """Apply :data:`LABEL_SPACE_OPTIONS` found in ``options`` (as :func:`load_pair` does).

    ``target_classes`` gives :func:`partial_target`; ``known_classes`` with ``unknown_classes``
    give :func:`open_set`; the two kinds do not combine.
    """
    partial = options.get("target_classes")
    known, unknown = options.get("known_classes"), options.get("unknown_classes")
    if partial is not None and (known is not None or unknown is not None):
        raise InvalidParameterError(
            "Give target_classes (a partial target) or known_classes with unknown_classes (an "
            "open set), not both."
        )
    if (known is None) != (unknown is None):
        raise InvalidParameterError(
            "An open set needs both known_classes and unknown_classes; give both."
        )
    if partial is not None:
        return partial_target(problem, partial)
    if known is not None:
        return open_set(problem, known, unknown)
    return problem
