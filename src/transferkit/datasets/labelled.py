"""One labelled domain as dense features and labels, whatever form the user holds it in.

The commands that take labelled domains one at a time (``fewshot``, ``continual``) read them here:
a file of features, a table of texts encoded by a text encoder, or a folder of images described
by a pre-trained CNN. It sits above :mod:`transferkit.datasets.files`, :mod:`transferkit.text`
and :mod:`transferkit.deep.folders`, which all read files themselves.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from transferkit.datasets.files import load_files, load_text_file
from transferkit.exceptions import (
    DataFormatError,
    FeatureSpaceMismatchError,
    InvalidParameterError,
    ParameterValueError,
)

__all__ = [
    "check_test_fraction",
    "load_labelled",
    "load_labelled_domains",
    "read_tasks",
    "split_each_class",
]


def load_labelled(
    path: str | os.PathLike[str],
    *,
    text_column: str | None = None,
    label_column: str = "label",
    encoder: str = "use",
    backbone: str = "mobilenet_v2",
    progress: Any = None,
    needed_for: str = "this command",
    dense: bool = True,
) -> tuple[Any, np.ndarray]:
    """One labelled domain as features and labels, whatever the user holds: a file of
    features (:func:`~transferkit.datasets.load_file`), a table of texts (``text_column``,
    encoded with ``encoder``, :func:`transferkit.text.encode_texts`) or a folder of images with
    one sub-folder per class (described by ``backbone``'s cached features; needs torch).

    The reader of the commands that take labelled domains one by one (``fewshot``,
    ``continual``, ``multitask``; several at once: :func:`load_labelled_domains`).
    ``progress(done, total)`` follows the encoding; ``needed_for`` names what needs the labels
    in the error a file without them raises. ``dense=False`` keeps a sparse file (svmlight, a
    sparse ``.npz`` or ``.mat``) sparse.

    Returns
    -------
    X : float64 array (n, d), or a CSR matrix with ``dense=False`` and a sparse file
    y : array (n,) of int64 or str

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from transferkit.datasets.labelled import load_labelled
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "day.npz"
    >>> np.savez(path, X=np.ones((4, 2)), y=[0, 1, 0, 1])
    >>> X, y = load_labelled(path)
    >>> X.shape, y.tolist()
    ((4, 2), [0, 1, 0, 1])
    """
    (domain,) = load_labelled_domains(
        [path],
        text_column=text_column,
        label_column=label_column,
        encoder=encoder,
        backbone=backbone,
        progress=progress,
        needed_for=needed_for,
        dense=dense,
    )
    return domain


def load_labelled_domains(
    paths: Sequence[str | os.PathLike[str]],
    *,
    text_column: str | None = None,
    label_column: str = "label",
    encoder: str = "use",
    backbone: str = "mobilenet_v2",
    progress: Any = None,
    needed_for: str = "this command",
    dense: bool = True,
    labels_required: bool | Sequence[bool] = True,
) -> list[tuple[Any, np.ndarray | None]]:
    """Several labelled domains of one feature space, in order, each as :func:`load_labelled`
    reads it; files of features are read together (:func:`~transferkit.datasets.files.load_files`:
    svmlight files then share one feature count and one index base). ``labels_required``, one
    flag for all or one per path: False lets that domain come without labels (its ``y`` is
    None: a file without a label column, a folder of images without class folders)."""
    paths = [Path(path) for path in paths]
    required = (
        [labels_required] * len(paths)
        if isinstance(labels_required, bool)
        else [bool(flag) for flag in labels_required]
    )
    folders = [path for path in paths if path.is_dir()]
    if folders and text_column is not None:
        raise DataFormatError(
            f"{folders[0]} is a folder of images; a text column applies to CSV/TSV files of texts."
        )
    domains: dict[int, tuple[Any, np.ndarray]] = {}
    for i, path in enumerate(paths):
        if path.is_dir():
            from transferkit.deep.folders import image_folder_features

            domains[i] = image_folder_features(
                path, backbone, labels_required=required[i], progress=progress
            )
        elif text_column is not None:
            from transferkit.text import encode_texts

            texts, labels = load_text_file(
                path, text_column, label_column, labels_required=required[i]
            )
            domains[i] = encode_texts(texts, encoder, progress=progress, what=str(path)), labels
    files = [i for i in range(len(paths)) if i not in domains]
    for i, (X, y, _) in zip(files, load_files([paths[i] for i in files]), strict=True):
        if y is None and required[i]:
            raise DataFormatError(
                f"{paths[i]} holds no labels: give a label per row for {needed_for} (a 'label' "
                "or 'y' column, or y in the .npz)."
            )
        if sp.issparse(X):
            domains[i] = (X.toarray() if dense else sp.csr_matrix(X, dtype=np.float64)), y
        else:
            domains[i] = np.asarray(X, dtype=np.float64), y
    return [domains[i] for i in range(len(paths))]


def read_tasks(
    paths: Sequence[str | os.PathLike[str]],
    needed_for: str,
    **options: Any,
) -> tuple[list[str], list[tuple[Any, np.ndarray]]]:
    """The tasks of a user, one labelled file (or folder of images) each, in order: their names
    (the files' stems, or their full paths when two stems are equal) and their domains as
    :func:`load_labelled_domains` reads them (``options``: its keyword arguments).

    At least two tasks, each given once, with one number of features: anything else raises an
    error that names the tasks (``needed_for`` says what needs them, e.g. "continual learning").
    Labels that are numbers in one file and names in another are all read as text, so that
    ``1`` and ``"1"`` are one class.
    """
    paths = [Path(path) for path in paths]
    if len(paths) < 2:
        raise InvalidParameterError(
            f"{needed_for[0].upper()}{needed_for[1:]} needs at least two tasks; got "
            f"{len(paths)} file(s). Give one labelled file (or folder of images) per task."
        )
    if len(set(paths)) != len(paths):
        raise InvalidParameterError("A task file is given twice; give each task once.")
    names = [path.stem if path.is_file() else path.name for path in paths]
    names = names if len(set(names)) == len(names) else [str(path) for path in paths]
    domains = load_labelled_domains(paths, needed_for=needed_for, **options)
    if len({np.asarray(y).dtype.kind for _, y in domains}) > 1:  # numbers here, names there
        domains = [(X, np.asarray(y).astype(str)) for X, y in domains]
    if len({X.shape[1] for X, _ in domains}) != 1:
        raise FeatureSpaceMismatchError(
            "The task files have different numbers of features: "
            + ", ".join(f"{n} {X.shape[1]}" for n, (X, _) in zip(names, domains, strict=True))
            + f"; {needed_for} trains one network on every task, so describe them alike (the "
            "same columns, encoder or backbone)."
        )
    return names, domains


def check_test_fraction(test_fraction: Any) -> float:
    """``test_fraction`` if it is a number strictly between 0 and 1, else
    :class:`~transferkit.exceptions.ParameterValueError` saying so."""
    if (
        isinstance(test_fraction, bool)
        or not isinstance(test_fraction, int | float)
        or not 0.0 < test_fraction < 1.0
    ):
        raise ParameterValueError(
            f"test_fraction must be a number strictly between 0 and 1; got {test_fraction!r}."
        )
    return float(test_fraction)


def split_each_class(
    y: np.ndarray, test_fraction: float, rng: np.random.Generator, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted training and test rows of one labelled domain: ``test_fraction`` of each class
    held out (rounded, at least one row of each class on either side), drawn with ``rng``.
    A class of one row raises :class:`~transferkit.exceptions.InvalidParameterError` naming
    ``what`` (e.g. "Task day") and the class.

    Examples
    --------
    >>> import numpy as np
    >>> train, test = split_each_class(np.array([0, 0, 0, 1, 1]), 0.3, np.random.default_rng(0), "x")
    >>> len(train), len(test)
    (3, 2)
    """
    train, test = [], []
    for label in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == label))
        if len(rows) < 2:
            raise InvalidParameterError(
                f"{what}: class {label.item()!r} has {len(rows)} row; each class needs at least "
                "two, one to train on and one to test on."
            )
        n_test = min(max(1, round(test_fraction * len(rows))), len(rows) - 1)
        test.append(rows[:n_test])
        train.append(rows[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))
