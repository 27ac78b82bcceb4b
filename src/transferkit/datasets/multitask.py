"""Multi-task data: several label columns over one set of rows, some labels missing.

* :class:`MultiTaskData` — training rows with a label matrix ``Y`` (one column per task, ``-1`` where
  a label is missing) and a labelled evaluation split; what :mod:`transferkit.multitask` fits and
  the benchmark runner scores (``kind = "multitask"``).
* :func:`make_multimnist` — MultiMNIST (Sener & Koltun 2018, after Sabour et al. 2017): two MNIST
  digits overlaid in a 36x36 canvas, one in the top-left corner and one in the bottom-right,
  resized to 28x28; the tasks are the left and the right digit.
* :func:`load_multimnist` and :func:`load_amazon_multitask` (also ``load_task("multimnist",
  "train", "test")`` and ``load_task("amazon-multitask", "train", "test")``): the benchmark tasks;
  the Amazon one makes the four review domains four sentiment tasks with few labels each;
* :func:`multitask_from_files`: a user's labelled files, one task each, in the same way.

Examples
--------
>>> import numpy as np
>>> from transferkit.datasets.multitask import MultiTaskData
>>> data = MultiTaskData(
...     X=np.zeros((3, 2)), Y=np.array([[0, 1], [1, -1], [0, 0]]),
...     X_test=np.zeros((2, 2)), Y_test=np.array([[0, 1], [1, 0]]), task_names=("a", "b"),
... )
>>> data.n_tasks, data.n_labelled
(2, {'a': 3, 'b': 2})
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from transferkit.checks import check_count
from transferkit.datasets._utils import RandomState, as_generator
from transferkit.datasets.amazon import AMAZON_DOMAINS, load_amazon_reviews
from transferkit.datasets.digits import load_mnist
from transferkit.datasets.images import resize_digits
from transferkit.exceptions import InvalidParameterError, InvalidProblemError, UnknownDatasetError

__all__ = [
    "MISSING_LABEL",
    "MultiTaskData",
    "load_amazon_multitask",
    "load_multimnist",
    "make_multimnist",
    "multitask_from_files",
]

#: The label code of a missing label in :attr:`MultiTaskData.Y`.
MISSING_LABEL = -1
#: The canvas of Sener & Koltun (2018): the left digit at [0:28, 0:28], the right at [6:34, 6:34].
MULTIMNIST_CANVAS = 36
MULTIMNIST_SHIFT = 6
#: Splits of a multi-task benchmark: the pair (source, target) is (training split, evaluation split).
SPLITS = ("train", "test")


def _n_rows(X: Any) -> int:
    return int(X.shape[0])


@dataclass
class MultiTaskData:
    """Rows shared by several classification tasks, with a label matrix that may have holes.

    Parameters
    ----------
    X : array or sparse matrix (n, d)
        Training rows (flattened images with ``metadata["image_shape"]``, or vectors).
    Y : int array (n, n_tasks)
        One column per task; ``-1`` (:data:`MISSING_LABEL`) where the task has no label for the
        row. Labels are non-negative class codes: ``0 .. n_classes - 1`` of each task for the
        built-in data, indices into ``metadata["class_names"]`` for :func:`multitask_from_files`.
    X_test : array or sparse matrix (m, d)
        Evaluation rows.
    Y_test : int array (m, n_tasks)
        Their labels (``-1`` where a task does not score a row).
    task_names : tuple of str
        One name per column.
    name : str, default "multitask"
    metadata : dict
        ``image_shape`` for images, ``protocol``, ``dataset``, ...

    Attributes
    ----------
    kind : str
        ``"multitask"``: what the benchmark runner checks a method's ``task_kind`` against.
    """

    X: Any
    Y: np.ndarray
    X_test: Any
    Y_test: np.ndarray
    task_names: tuple[str, ...]
    name: str = "multitask"
    metadata: dict[str, Any] = field(default_factory=dict)

    kind = "multitask"

    def __post_init__(self) -> None:
        self.task_names = tuple(str(t) for t in self.task_names)
        for what in ("Y", "Y_test"):
            labels = np.asarray(getattr(self, what))
            if labels.ndim != 2 or labels.shape[1] != len(self.task_names):
                raise InvalidProblemError(
                    f"{what} must have one column per task ({len(self.task_names)}: "
                    f"{', '.join(self.task_names)}); got shape {labels.shape}."
                )
            if not np.issubdtype(labels.dtype, np.integer):
                raise InvalidProblemError(
                    f"{what} must hold integer class codes (-1 = missing); got dtype "
                    f"{labels.dtype}. Encode each task's labels as 0 .. n_classes - 1 first."
                )
            setattr(self, what, labels.astype(np.int64, copy=False))
        if _n_rows(self.X) != len(self.Y) or _n_rows(self.X_test) != len(self.Y_test):
            raise InvalidProblemError(
                f"X has {_n_rows(self.X)} rows and Y {len(self.Y)}; X_test has "
                f"{_n_rows(self.X_test)} rows and Y_test {len(self.Y_test)}: each pair must match."
            )
        for index, task in enumerate(self.task_names):
            if not (self.Y[:, index] >= 0).any():
                raise InvalidProblemError(
                    f"Task {task!r} has no label in Y; give it labelled rows or drop the column."
                )

    @property
    def n_tasks(self) -> int:
        """Number of tasks (columns of ``Y``)."""
        return len(self.task_names)

    @property
    def n_train(self) -> int:
        """Number of training rows."""
        return _n_rows(self.X)

    @property
    def n_test(self) -> int:
        """Number of evaluation rows."""
        return _n_rows(self.X_test)

    @property
    def n_eval(self) -> int:
        """Number of evaluation rows (what the benchmark runner stores as ``n_eval``)."""
        return self.n_test

    @property
    def n_labelled(self) -> dict[str, int]:
        """Number of labelled training rows of each task."""
        return {t: int((self.Y[:, i] >= 0).sum()) for i, t in enumerate(self.task_names)}

    @property
    def image_shape(self) -> tuple[int, ...] | None:
        """``metadata["image_shape"]`` as a tuple, or None for vectors."""
        shape = self.metadata.get("image_shape")
        return None if shape is None else tuple(int(s) for s in shape)


# ---------------------------------------------------------------------------- MultiMNIST
def make_multimnist(
    images: np.ndarray, labels: np.ndarray, random_state: RandomState = None
) -> tuple[np.ndarray, np.ndarray]:
    """MultiMNIST images: each digit overlaid with a random other one, shifted down-right.

    The protocol of Sener & Koltun (2018, Section 6.1, after Sabour et al. 2017): image ``i`` goes
    in the top-left corner of a 36x36 canvas (rows and columns 0-27), a digit drawn at random from
    the same images goes in the bottom-right corner (rows and columns 6-33), the overlap keeps the
    brighter pixel, and the canvas is resized to 28x28. Sener & Koltun resize with nearest
    neighbours; :func:`~transferkit.datasets.resize_digits` averages pixel areas, which keeps thin
    strokes.

    Parameters
    ----------
    images : array (n, 28, 28)
        MNIST digits in [0, 1].
    labels : int array (n,)
    random_state : int, Generator or None, default None
        Draws the partner of each image (never the image itself).

    Returns
    -------
    X : float32 array (n, 28, 28)
    Y : int64 array (n, 2)
        The left digit's label, then the right digit's.

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.datasets.multitask import make_multimnist
    >>> digits = np.zeros((3, 28, 28), dtype=np.float32)
    >>> X, Y = make_multimnist(digits, np.array([1, 2, 3]), random_state=0)
    >>> X.shape, Y.shape
    ((3, 28, 28), (3, 2))
    """
    images = np.asarray(images, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) != len(labels):
        raise InvalidParameterError(
            f"make_multimnist needs (n, 28, 28) images and n labels; got images {images.shape} "
            f"and labels {labels.shape}."
        )
    n = len(images)
    if n < 2:
        raise InvalidParameterError(f"make_multimnist needs at least 2 images; got {n}.")
    rng = as_generator(random_state)
    # a partner other than the image itself: shift by 1 .. n-1 places
    partner = (np.arange(n) + rng.integers(1, n, size=n)) % n
    canvas = np.zeros((n, MULTIMNIST_CANVAS, MULTIMNIST_CANVAS), dtype=np.float32)
    canvas[:, :28, :28] = images
    shifted = slice(MULTIMNIST_SHIFT, MULTIMNIST_SHIFT + 28)
    canvas[:, shifted, shifted] = np.maximum(canvas[:, shifted, shifted], images[partner])
    X = np.clip(resize_digits(canvas, 28), 0.0, 1.0)
    return X, np.stack([labels, labels[partner]], axis=1)


def _check_splits(source: str, target: str, dataset: str) -> None:
    if (source, target) != SPLITS:
        raise UnknownDatasetError(
            f"{dataset} has one pair, ('train', 'test'): the training split and the evaluation "
            f"split; got ({source!r}, {target!r})."
        )


def _label_budget(n_labels: Any, task: str) -> int | None:
    """The labels kept for ``task``: ``n_labels`` as an int, a per-task mapping, or None (all)."""
    if isinstance(n_labels, Mapping):  # its keys are checked by _check_budget_keys
        n_labels = n_labels.get(task)
    return None if n_labels is None else check_count(n_labels, f"n_labels[{task!r}]", 2)


def _check_budget_keys(n_labels: Any, tasks: Sequence[str]) -> None:
    if isinstance(n_labels, Mapping):
        unknown = sorted(set(n_labels) - set(tasks))
        if unknown:
            raise InvalidParameterError(
                f"n_labels names unknown tasks {unknown}; the tasks are {', '.join(tasks)}."
            )


def _hide_labels(y: np.ndarray, keep: int | None, rng: np.random.Generator) -> np.ndarray:
    """``y`` with all but ``keep`` labels (drawn per class in proportion) set to -1."""
    if keep is None or keep >= len(y):
        return y.copy()
    from sklearn.model_selection import train_test_split

    kept, _ = train_test_split(
        np.arange(len(y)),
        train_size=keep,
        stratify=y,
        random_state=int(rng.integers(2**31 - 1)),
    )
    out = np.full_like(y, MISSING_LABEL)
    out[kept] = y[kept]
    return out


def load_multimnist(
    n_train: int | None = 10000,
    n_test: int | None = None,
    n_labels: int | Mapping[str, int] | None = None,
    random_state: RandomState = None,
    data_home: str | os.PathLike[str] | None = None,
) -> MultiTaskData:
    """MultiMNIST from the MNIST of the data home: the left and the right digit as two tasks.

    Training images are made (:func:`make_multimnist`) from MNIST's 50,000 training digits,
    evaluation images from its 10,000 test digits; partners are drawn within each split.
    ``load_task("multimnist", "train", "test", ...)`` gives the same.

    Parameters
    ----------
    n_train : int or None, default 10000
        Training digits drawn with the seed; None = all 50,000.
    n_test : int or None, default None
        Test digits drawn with the seed; None = all 10,000.
    n_labels : int, mapping or None, default None
        Labels kept per task (drawn per class), the others missing (-1): an int for both tasks,
        or ``{"right": 500}``; None keeps every label.
    random_state : int, Generator or None, default None
    data_home : str or Path or None, default None

    Returns
    -------
    MultiTaskData
        Flattened 28x28 images (``metadata["image_shape"] == (28, 28)``), tasks ``("left",
        "right")``.

    Examples
    --------
    >>> from transferkit.datasets.multitask import load_multimnist
    >>> data = load_multimnist(n_train=500, n_test=100, n_labels={"right": 50})  # doctest: +SKIP
    >>> data.X.shape, data.n_labelled  # doctest: +SKIP
    ((500, 784), {'left': 500, 'right': 50})
    """
    tasks = ("left", "right")
    _check_budget_keys(n_labels, tasks)
    rng = as_generator(random_state)
    parts = {}
    for split, size in (("train", n_train), ("test", n_test)):
        images, labels = load_mnist(split, data_home)
        if size is not None:
            size = check_count(size, f"n_{split}", 2)
            if size < len(labels):
                index = np.sort(rng.choice(len(labels), size=size, replace=False))
                images, labels = images[index], labels[index]
        X, Y = make_multimnist(images, labels, random_state=rng)
        parts[split] = (X.reshape(len(X), -1), Y)
    X, Y = parts["train"]
    Y = np.stack(
        [_hide_labels(Y[:, i], _label_budget(n_labels, t), rng) for i, t in enumerate(tasks)],
        axis=1,
    )
    return MultiTaskData(
        X=X,
        Y=Y,
        X_test=parts["test"][0],
        Y_test=parts["test"][1],
        task_names=tasks,
        name="multimnist",
        metadata={
            "dataset": "multimnist",
            "image_shape": (28, 28),
            "class_names": [str(i) for i in range(10)],
            "protocol": "Sener & Koltun 2018: left digit at the top-left, the right one shifted "
            "6 pixels down and right in a 36x36 canvas, resized to 28x28",
        },
    )


def load_amazon_multitask(
    n_labels: int | Mapping[str, int] | None = 100,
    n_test: int | None = None,
    random_state: RandomState = None,
    data_home: str | os.PathLike[str] | None = None,
) -> MultiTaskData:
    """The four Amazon review domains as four sentiment tasks with few labels each.

    The rows are the 2,000 ``<domain>_train`` reviews of books, dvd, electronics and kitchen
    (8,000 rows, 5,000 count features, Ganin et al. 2016); a row has a label for its own domain's
    task only, and only ``n_labels`` of each domain's rows keep it. The evaluation rows are the
    ``<domain>_test`` reviews, each scored by its own domain's task.
    ``load_task("amazon-multitask", "train", "test", ...)`` gives the same.

    Parameters
    ----------
    n_labels : int, mapping or None, default 100
        Labels kept per domain (drawn per class with the seed), the rest missing (-1): an int,
        ``{"books": 100, ...}``, or None for all 2,000.
    n_test : int or None, default None
        Test reviews drawn per domain with the seed; None = all.
    random_state : int, Generator or None, default None
    data_home : str or Path or None, default None

    Returns
    -------
    MultiTaskData
        Sparse counts; tasks ``("books", "dvd", "electronics", "kitchen")``.

    Examples
    --------
    >>> from transferkit.datasets.multitask import load_amazon_multitask
    >>> data = load_amazon_multitask(n_labels=100, random_state=0)  # doctest: +SKIP
    >>> data.X.shape, data.n_labelled["books"]  # doctest: +SKIP
    ((8000, 5000), 100)
    """
    tasks = AMAZON_DOMAINS
    _check_budget_keys(n_labels, tasks)
    rng = as_generator(random_state)
    X_parts, Y_parts, X_test_parts, Y_test_parts = [], [], [], []
    for index, domain in enumerate(tasks):
        X, y = load_amazon_reviews(domain, "train", data_home)
        Y = np.full((len(y), len(tasks)), MISSING_LABEL, dtype=np.int64)
        Y[:, index] = _hide_labels(y, _label_budget(n_labels, domain), rng)
        X_test, y_test = load_amazon_reviews(domain, "test", data_home)
        if n_test is not None:
            size = check_count(n_test, "n_test", 2)
            if size < len(y_test):
                keep = np.sort(rng.choice(len(y_test), size=size, replace=False))
                X_test, y_test = X_test[keep], y_test[keep]
        Y_test = np.full((len(y_test), len(tasks)), MISSING_LABEL, dtype=np.int64)
        Y_test[:, index] = y_test
        X_parts.append(X)
        Y_parts.append(Y)
        X_test_parts.append(X_test)
        Y_test_parts.append(Y_test)
    return MultiTaskData(
        X=sp.vstack(X_parts).tocsr(),
        Y=np.concatenate(Y_parts),
        X_test=sp.vstack(X_test_parts).tocsr(),
        Y_test=np.concatenate(Y_test_parts),
        task_names=tasks,
        name="amazon-multitask",
        metadata={
            "dataset": "amazon-multitask",
            "class_names": ["negative", "positive"],
            "protocol": "Ganin et al. 2016 split and features; each domain's sentiment a task "
            "labelled on its own reviews only",
        },
    )


def _multimnist_task(
    source: str,
    target: str,
    *,
    data_home: str | os.PathLike[str] | None = None,
    random_state: RandomState = None,
    n_train: int | None = 10000,
    n_test: int | None = None,
    n_labels: int | Mapping[str, int] | None = None,
) -> MultiTaskData:
    """load_task("multimnist", "train", "test"): :func:`load_multimnist`."""
    _check_splits(source, target, "multimnist")
    return load_multimnist(n_train, n_test, n_labels, random_state, data_home)


def _amazon_multitask(
    source: str,
    target: str,
    *,
    data_home: str | os.PathLike[str] | None = None,
    random_state: RandomState = None,
    n_labels: int | Mapping[str, int] | None = 100,
    n_test: int | None = None,
) -> MultiTaskData:
    """load_task("amazon-multitask", "train", "test"): :func:`load_amazon_multitask`."""
    _check_splits(source, target, "amazon-multitask")
    return load_amazon_multitask(n_labels, n_test, random_state, data_home)


# ---------------------------------------------------------------------------- a user's files
def multitask_from_files(
    paths: Sequence[str | os.PathLike[str]],
    *,
    test_fraction: float = 0.3,
    text_column: str | None = None,
    label_column: str = "label",
    encoder: str = "use",
    backbone: str = "mobilenet_v2",
    random_state: RandomState = 0,
    progress: Any = None,
) -> MultiTaskData:
    """A user's labelled files as tasks learned together, one task per file.

    Each file is a domain as :func:`~transferkit.datasets.labelled.load_labelled` reads it (a
    file of features, a CSV/TSV of texts with ``text_column``, a folder of images with a
    sub-folder per class). Its rows are labelled for its own task only, as the four Amazon
    domains of :func:`load_amazon_multitask` are; ``test_fraction`` of each class of each task is
    held out, drawn with ``random_state``, and scored by its own task. Tasks may have different
    classes. A label's code is its class's index among every task's classes together
    (``metadata["class_names"]``), so tasks with the same classes share their codes (what a
    pooled model needs) and tasks with other classes never do.

    Returns
    -------
    MultiTaskData
        Tasks named by the files' names; ``metadata["class_names"]`` lists the classes the codes
        index, ``metadata["task_classes"]`` each task's, ``metadata["files"]`` the paths.
        Sparse files stay sparse.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from transferkit.datasets.multitask import multitask_from_files
    >>> folder, rng = pathlib.Path(tempfile.mkdtemp()), np.random.default_rng(0)
    >>> for shop in ("books", "games"):
    ...     np.savez(folder / f"{shop}.npz", X=rng.normal(size=(20, 3)), y=np.repeat(["bad", "good"], 10))
    >>> data = multitask_from_files([folder / "books.npz", folder / "games.npz"])
    >>> data.task_names, data.n_labelled, data.n_test
    (('books', 'games'), {'books': 14, 'games': 14}, 12)
    """
    from transferkit.datasets.labelled import check_test_fraction, read_tasks, split_each_class

    check_test_fraction(test_fraction)
    names, domains = read_tasks(
        paths,
        "multi-task learning",
        text_column=text_column,
        label_column=label_column,
        encoder=encoder,
        backbone=backbone,
        progress=progress,
        dense=False,
    )
    rng = as_generator(random_state)
    read = [(X, np.asarray(y)) for X, y in domains]
    # one code per class over every task: tasks with the same classes share their codes (what a
    # pooled model needs), tasks with other classes get other codes
    every_class = np.unique(np.concatenate([y for _, y in read]))
    parts = []
    for (X, y), name in zip(read, names, strict=True):
        classes = np.unique(y)
        if len(classes) < 2:
            raise InvalidProblemError(
                f"Task {name} has a single class ({classes[0].item()!r}); a classifier needs "
                "at least two."
            )
        codes = np.searchsorted(every_class, y)
        train, test = split_each_class(codes, test_fraction, rng, f"Task {name}")
        parts.append((X, codes, train, test, classes))
    sparse = any(sp.issparse(X) for X, *_ in parts)
    stack = (lambda blocks: sp.vstack(blocks).tocsr()) if sparse else np.concatenate

    def labelled(rows: str) -> tuple[Any, np.ndarray]:
        blocks, labels = [], []
        for index, (X, codes, train, test, _) in enumerate(parts):
            chosen = train if rows == "train" else test
            Y = np.full((len(chosen), len(parts)), MISSING_LABEL, dtype=np.int64)
            Y[:, index] = codes[chosen]
            blocks.append(X[chosen])
            labels.append(Y)
        return stack(blocks), np.concatenate(labels)

    X_train, Y_train = labelled("train")
    X_test, Y_test = labelled("test")
    return MultiTaskData(
        X=X_train,
        Y=Y_train,
        X_test=X_test,
        Y_test=Y_test,
        task_names=tuple(names),
        name="files",
        metadata={
            "files": [str(path) for path in paths],
            "class_names": [c.item() for c in every_class],
            "task_classes": {
                n: [c.item() for c in p[4]] for n, p in zip(names, parts, strict=True)
            },
            "test_fraction": test_fraction,
        },
    )
