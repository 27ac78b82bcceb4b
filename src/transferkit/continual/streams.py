"""Streams of experiences and the three continual-learning scenarios.

A :class:`ContinualStream` is a sequence of :class:`Experience` objects (tasks) learned one after
the other. The same tasks can be played in each of the three scenarios of van de Ven & Tolias
(2019, "Three scenarios for continual learning", Section 2):

- ``"task"`` (task-incremental): the task label is given at training and at test time; each task
  has its own output head (its own output units), and predictions are made among the current
  task's units only.
- ``"domain"`` (domain-incremental): no task label; every task uses the same output units (the
  label *within* the task: for Split MNIST, "first or second digit of the pair"), so every task
  must have the same number of classes.
- ``"class"`` (class-incremental): no task label; each task adds new output units and the model
  must choose among every class seen so far.

Labels are stored as *output units*: in the task and class scenarios task ``t``'s classes occupy
units ``offset_t .. offset_t + k_t - 1`` (for Split MNIST the unit is the digit), in the domain
scenario every task uses units ``0 .. k - 1``. :meth:`ContinualStream.output_mask` says which units
are open to a row: those of its own task (task scenario), those of every task up to the latest one
trained or evaluated (class scenario), all of them (domain scenario).

Built-in streams read MNIST (the data home's ``mnist/mnist.pkl.gz``: 50,000 training and 10,000 test
images) and Fashion-MNIST:

- :func:`split_mnist` — 5 tasks of 2 digits (0/1, 2/3, ..., 8/9);
- :func:`permuted_mnist` — 10 tasks, each a fixed random permutation of the 784 pixels (the first
  task keeps the original order), all ten digits in each; in the task scenario each permutation has
  its own ten-unit head, in the class scenario each adds ten new units (100 in all);
- :func:`split_fashion_mnist` — 5 tasks of 2 Fashion-MNIST classes.

Examples
--------
>>> import numpy as np
>>> from transferkit.continual import stream_from_tasks
>>> rng = np.random.default_rng(0)
>>> X, y = rng.normal(size=(40, 3)).astype(np.float32), np.repeat([0, 1, 2, 3], 10)
>>> tasks = [(X[:20], y[:20], X[:20], y[:20]), (X[20:], y[20:], X[20:], y[20:])]
>>> stream = stream_from_tasks(tasks, scenario="class")
>>> stream.n_tasks, stream.n_outputs, stream.experiences[1].outputs
(2, 4, (2, 3))
>>> stream_from_tasks(tasks, scenario="domain").n_outputs
2
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from transferkit.checks import check_choice, check_count
from transferkit.exceptions import (
    EmptyDomainError,
    FeatureSpaceMismatchError,
    InvalidParameterError,
    ParameterValueError,
)

__all__ = [
    "SCENARIOS",
    "STREAMS",
    "ContinualStream",
    "Experience",
    "load_stream",
    "permuted_mnist",
    "permuted_stream",
    "split_fashion_mnist",
    "split_mnist",
    "scenario_of_classes",
    "split_stream",
    "stream_from_files",
    "stream_from_tasks",
]

#: The three scenarios of van de Ven & Tolias (2019).
SCENARIOS = ("task", "domain", "class")
#: The built-in streams (:func:`load_stream`).
STREAMS = ("split-mnist", "permuted-mnist", "split-fashion-mnist")

RandomState = int | np.random.Generator | None


@dataclass(frozen=True)
class Experience:
    """One task of a stream: its training and test rows, labels as output units.

    Attributes
    ----------
    task_id : int
        Position in the stream (0-based).
    classes : tuple
        The original labels of the task, in the order of its units.
    outputs : tuple of int
        The output units of the task's classes in the stream's scenario.
    X_train, X_test : float32 arrays (n, n_features)
    y_train, y_test : int64 arrays (n,)
        Output units (``outputs[k]`` for the task's ``k``-th class).
    """

    task_id: int
    classes: tuple[Any, ...]
    outputs: tuple[int, ...]
    X_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    X_test: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)


class ContinualStream:
    """A sequence of experiences played in one scenario.

    Build one with :func:`stream_from_tasks`, :func:`split_stream`, :func:`permuted_stream` or a
    built-in stream (:func:`split_mnist`, ...). ``kind`` is ``"continual"``, the kind of the
    benchmark datasets that give streams.

    Parameters
    ----------
    experiences : sequence of Experience
        At least two, with the same number of features.
    scenario : {"task", "domain", "class"}
    n_outputs : int
        Output units a model needs.
    name : str, default ""
    metadata : dict or None
        Anything worth keeping (the data, the protocol, the seed).
    """

    kind = "continual"

    def __init__(
        self,
        experiences: Sequence[Experience],
        scenario: str,
        n_outputs: int,
        name: str = "",
        metadata: dict[str, Any] | None = None,
    ):
        check_choice(scenario, "scenario", "ContinualStream", SCENARIOS)
        experiences = list(experiences)
        if len(experiences) < 2:
            raise InvalidParameterError(
                f"A continual stream needs at least two experiences (tasks); got "
                f"{len(experiences)}. With one task there is nothing to forget: train an ordinary "
                "model, or split the data into more tasks."
            )
        widths = {e.X_train.shape[1] for e in experiences} | {
            e.X_test.shape[1] for e in experiences
        }
        if len(widths) != 1:
            raise FeatureSpaceMismatchError(
                f"The experiences of a stream must have the same number of features; got "
                f"{sorted(widths)}. Bring every task to the same input size (resize or pad)."
            )
        self.experiences = experiences
        self.scenario = scenario
        self.n_outputs = int(n_outputs)
        self.name = name
        self.metadata = dict(metadata or {})

    @property
    def n_tasks(self) -> int:
        return len(self.experiences)

    @property
    def n_eval(self) -> int:
        """Test rows over every task (each is tested after every experience)."""
        return sum(len(e.y_test) for e in self.experiences)

    @property
    def n_features(self) -> int:
        return int(self.experiences[0].X_train.shape[1])

    def output_mask(self, task_ids: np.ndarray | Sequence[int], seen: int) -> np.ndarray:
        """Boolean ``(len(task_ids), n_outputs)`` mask of the units open to rows of these tasks.

        ``seen`` is the index of the latest experience trained (or, for a task not trained yet,
        the task itself): in the class scenario every unit of tasks ``0 .. max(seen, task)`` is
        open; in the task scenario only the row's own task's units; in the domain scenario all.
        """
        task_ids = np.asarray(task_ids, dtype=int)
        mask = np.zeros((len(task_ids), self.n_outputs), dtype=bool)
        if self.scenario == "domain":
            mask[:] = True
            return mask
        ends = np.array([max(e.outputs) + 1 for e in self.experiences])
        starts = np.array([min(e.outputs) for e in self.experiences])
        units = np.arange(self.n_outputs)
        if self.scenario == "task":
            return (units >= starts[task_ids, None]) & (units < ends[task_ids, None])
        last = np.maximum(task_ids, seen)
        return units < ends[last, None]

    def __repr__(self) -> str:
        return (
            f"ContinualStream({self.name or 'custom'!r}, scenario={self.scenario!r}, "
            f"n_tasks={self.n_tasks}, n_outputs={self.n_outputs})"
        )


def _as_rows(X: Any, what: str) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim > 2:
        X = X.reshape(len(X), -1)
    if X.ndim != 2:
        raise InvalidParameterError(f"{what} must be a 2-D array of rows; got shape {X.shape}.")
    if len(X) == 0:
        raise EmptyDomainError(f"{what} has no rows; every task needs training and test rows.")
    return X


def stream_from_tasks(
    tasks: Sequence[tuple[Any, Any, Any, Any]],
    scenario: str = "class",
    name: str = "",
    metadata: dict[str, Any] | None = None,
    class_order: Sequence[Sequence[Any]] | None = None,
) -> ContinualStream:
    """A stream from ``(X_train, y_train, X_test, y_test)`` per task, in ``scenario``.

    Each task's classes are its sorted training labels (or ``class_order``); its test labels must
    be among them. Images are flattened to rows.

    Parameters
    ----------
    tasks : sequence of (X_train, y_train, X_test, y_test)
        At least two tasks.
    scenario : {"task", "domain", "class"}, default "class"
        ``"domain"`` needs the same number of classes in every task (they share the units).
    name : str, default ""
    metadata : dict or None
    class_order : sequence of sequences or None, default None
        Each task's classes in the order of its output units (None: sorted). In the domain
        scenario the order says which classes of different tasks share a unit.

    Returns
    -------
    ContinualStream
    """
    check_choice(scenario, "scenario", "stream_from_tasks", SCENARIOS)
    if len(tasks) < 2:
        raise InvalidParameterError(
            f"A continual stream needs at least two tasks; got {len(tasks)}. With one task there "
            "is nothing to forget: train an ordinary model, or split the data into more tasks."
        )
    if class_order is not None and len(class_order) != len(tasks):
        raise InvalidParameterError(
            f"class_order lists {len(class_order)} task(s) but the stream has {len(tasks)}; give "
            "each task's classes in the order of its units."
        )
    prepared = []
    for t, (X_train, y_train, X_test, y_test) in enumerate(tasks):
        X_train = _as_rows(X_train, f"task {t}'s training rows")
        X_test = _as_rows(X_test, f"task {t}'s test rows")
        y_train, y_test = np.asarray(y_train), np.asarray(y_test)
        if len(y_train) != len(X_train) or len(y_test) != len(X_test):
            raise InvalidParameterError(
                f"Task {t}: {len(X_train)} training rows but {len(y_train)} labels, "
                f"{len(X_test)} test rows but {len(y_test)} labels; give one label per row."
            )
        classes = np.unique(y_train)
        if class_order is not None:
            order = np.asarray(class_order[t])
            if len(order) != len(classes) or not np.array_equal(np.sort(order), classes):
                raise InvalidParameterError(
                    f"class_order for task {t} is {order.tolist()}; it must list the task's "
                    f"training labels {classes.tolist()}, each once, in the order of the units."
                )
            classes = order
        unknown = np.setdiff1d(np.unique(y_test), classes)
        if len(unknown):
            raise InvalidParameterError(
                f"Task {t}'s test labels {unknown.tolist()} never occur in its training rows; "
                "a task is tested on its own classes only."
            )
        prepared.append((X_train, y_train, X_test, y_test, classes))
    sizes = [len(p[4]) for p in prepared]
    if scenario == "domain" and len(set(sizes)) != 1:
        raise InvalidParameterError(
            f"The domain-incremental scenario shares the output units between tasks, so every "
            f"task needs the same number of classes; these tasks have {sizes}. Use the 'task' or "
            "'class' scenario, or split the classes evenly."
        )
    experiences = []
    offset = 0
    for t, (X_train, y_train, X_test, y_test, classes) in enumerate(prepared):
        start = 0 if scenario == "domain" else offset
        outputs = tuple(range(start, start + len(classes)))
        sorter = np.argsort(classes)  # each label's position in classes, which may be unsorted

        def units(y: np.ndarray, classes=classes, sorter=sorter, start=start) -> np.ndarray:
            return (sorter[np.searchsorted(classes, y, sorter=sorter)] + start).astype(np.int64)

        experiences.append(
            Experience(
                task_id=t,
                classes=tuple(classes.tolist()),
                outputs=outputs,
                X_train=X_train,
                y_train=units(y_train),
                X_test=X_test,
                y_test=units(y_test),
            )
        )
        offset += len(classes)
    n_outputs = sizes[0] if scenario == "domain" else offset
    return ContinualStream(experiences, scenario, n_outputs, name=name, metadata=metadata)


#: ``scenario`` of :func:`stream_from_files` that reads it from the tasks' classes.
AUTO_SCENARIO = "auto"


def scenario_of_classes(classes: Sequence[Sequence[Any]], names: Sequence[str]) -> str:
    """The scenario a user's tasks call for: ``"domain"`` when every task has the same classes
    (one problem seen in new conditions: another camera, another season), ``"class"`` when no
    two tasks share a class (new classes arrive). Tasks that share some classes and not others
    fit neither, and raise :class:`InvalidParameterError` naming two of them."""
    sets = [frozenset(np.asarray(c).tolist()) for c in classes]
    if all(s == sets[0] for s in sets):
        return "domain"
    for a in range(len(sets)):
        for b in range(a + 1, len(sets)):
            shared = sorted(sets[a] & sets[b], key=str)
            if shared:
                raise InvalidParameterError(
                    f"The tasks {names[a]} and {names[b]} share the classes {shared[:5]} but not "
                    "all their classes, so neither the domain scenario (every task the same "
                    "classes) nor the class scenario (new classes in each task) fits; give the "
                    "scenario: 'task' (the task is known at test time, each task its own "
                    "outputs), or 'class' to give each task's classes new output units."
                )
    return "class"


def stream_from_files(
    paths: Sequence[str | os.PathLike[str]],
    scenario: str = AUTO_SCENARIO,
    *,
    test_fraction: float = 0.3,
    text_column: str | None = None,
    label_column: str = "label",
    encoder: str = "use",
    backbone: str = "mobilenet_v2",
    random_state: RandomState = 0,
    progress: Any = None,
) -> ContinualStream:
    """A stream of a user's labelled files, one task per file in the order given.

    Each file is a domain as :func:`~transferkit.datasets.labelled.load_labelled` reads it (a file
    of features, a CSV/TSV of texts with ``text_column``, a folder of images with a sub-folder
    per class). ``test_fraction`` of each class of each task is held out to test on, drawn
    with ``random_state``.

    Parameters
    ----------
    paths : sequence of str or Path
        At least two, with the same features (or the same encoder or backbone).
    scenario : {"auto", "task", "domain", "class"}, default "auto"
        ``"auto"``: ``"domain"`` when every task has the same classes, ``"class"`` when no two
        share a class (:func:`scenario_of_classes`).
    test_fraction : float in (0, 1), default 0.3
    text_column, label_column, encoder, backbone, progress
        As :func:`~transferkit.datasets.labelled.load_labelled`.
    random_state : int, Generator or None, default 0

    Returns
    -------
    ContinualStream
        Named by the files' names; ``metadata["files"]`` lists the paths.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from transferkit.continual import stream_from_files
    >>> folder, rng = pathlib.Path(tempfile.mkdtemp()), np.random.default_rng(0)
    >>> for season in ("summer", "winter"):
    ...     np.savez(folder / f"{season}.npz", X=rng.normal(size=(20, 3)), y=np.repeat([0, 1], 10))
    >>> stream = stream_from_files([folder / "summer.npz", folder / "winter.npz"])
    >>> stream.scenario, stream.n_tasks, len(stream.experiences[0].y_test)
    ('domain', 2, 6)
    """
    check_choice(scenario, "scenario", "stream_from_files", (AUTO_SCENARIO, *SCENARIOS))
    from transferkit.datasets.labelled import check_test_fraction, read_tasks, split_each_class

    check_test_fraction(test_fraction)
    names, domains = read_tasks(
        paths,
        "continual learning",
        text_column=text_column,
        label_column=label_column,
        encoder=encoder,
        backbone=backbone,
        progress=progress,
    )
    rng = np.random.default_rng(random_state)
    tasks, classes = [], []
    for (X, y), name in zip(domains, names, strict=True):
        train, test = split_each_class(np.asarray(y), test_fraction, rng, f"Task {name}")
        tasks.append((X[train], y[train], X[test], y[test]))
        classes.append(np.unique(y))
    if scenario == AUTO_SCENARIO:
        scenario = scenario_of_classes(classes, names)
    return stream_from_tasks(
        tasks,
        scenario,
        name=" -> ".join(names),
        metadata={
            "files": [str(path) for path in paths],
            "tasks": names,
            "test_fraction": test_fraction,
        },
    )


def _subsample(index: np.ndarray, n: int | None, rng: np.random.Generator) -> np.ndarray:
    if n is None or n >= len(index):
        return index
    return np.sort(rng.choice(index, size=n, replace=False))


def split_stream(
    X_train: Any,
    y_train: Any,
    X_test: Any,
    y_test: Any,
    n_tasks: int = 5,
    scenario: str = "class",
    *,
    n_train_per_task: int | None = None,
    n_test_per_task: int | None = None,
    random_state: RandomState = 0,
    name: str = "split",
    shuffle_classes: bool = False,
) -> ContinualStream:
    """Split a classification data set by class into ``n_tasks`` tasks of equal class counts.

    The sorted classes are cut in order (digits 0/1, 2/3, ... for five tasks of MNIST), as in
    Zenke et al. (2017); ``shuffle_classes`` draws the order from the seed instead, as van de
    Ven & Tolias's (2019) code does for each run.

    Parameters
    ----------
    X_train, y_train, X_test, y_test : arrays
    n_tasks : int, default 5
        Must divide the number of classes and be at least 2.
    scenario : {"task", "domain", "class"}, default "class"
    n_train_per_task, n_test_per_task : int or None, default None
        Rows drawn per task (None: all of them).
    random_state : int, Generator or None, default 0
        Seeds the subsampling and, with ``shuffle_classes``, the order of the classes.
    name : str, default "split"
    shuffle_classes : bool, default False
        Cut a random order of the classes (drawn from ``random_state``) instead of the sorted
        one, so that each seed pairs other classes (Split MNIST, seed 0: 4/6, 2/7, 3/5, 9/0,
        8/1), each task's classes on its units in the order drawn (in the domain scenario 4, 2,
        3, 9 and 8 share the first unit). Labels stay the original classes.

    Returns
    -------
    ContinualStream
    """
    n_tasks = check_count(n_tasks, "n_tasks", minimum=2)
    check_choice(shuffle_classes, "shuffle_classes", "split_stream", (True, False))
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    classes = np.unique(y_train)
    if len(classes) % n_tasks:
        raise InvalidParameterError(
            f"Cannot split {len(classes)} classes into {n_tasks} tasks of equal size; choose "
            f"n_tasks among {[k for k in range(2, len(classes) + 1) if len(classes) % k == 0]}."
        )
    rng = np.random.default_rng(random_state)
    if shuffle_classes:
        classes = rng.permutation(classes)
    X_train, X_test = _as_rows(X_train, "X_train"), _as_rows(X_test, "X_test")
    tasks, groups = [], np.split(classes, n_tasks)
    for group in groups:
        train = _subsample(np.flatnonzero(np.isin(y_train, group)), n_train_per_task, rng)
        test = _subsample(np.flatnonzero(np.isin(y_test, group)), n_test_per_task, rng)
        tasks.append((X_train[train], y_train[train], X_test[test], y_test[test]))
    return stream_from_tasks(
        tasks,
        scenario,
        name=name,
        metadata={"protocol": "split by class", "n_tasks": n_tasks},
        class_order=groups,
    )


def permuted_stream(
    X_train: Any,
    y_train: Any,
    X_test: Any,
    y_test: Any,
    n_tasks: int = 10,
    scenario: str = "domain",
    *,
    n_train_per_task: int | None = None,
    n_test_per_task: int | None = None,
    random_state: RandomState = 0,
    name: str = "permuted",
    permute_first: bool = False,
) -> ContinualStream:
    """``n_tasks`` tasks, each the same data with its features in a fixed random order.

    Goodfellow et al. (2013), Kirkpatrick et al. (2017): task 0 keeps the original order, task
    ``t > 0`` applies a permutation drawn from ``random_state``; each task draws its own rows.
    ``permute_first=True`` permutes the first task too, as van de Ven & Tolias's code does.

    Parameters
    ----------
    X_train, y_train, X_test, y_test : arrays
    n_tasks : int, default 10
    scenario : {"task", "domain", "class"}, default "domain"
        Task: one head per permutation; class: each permutation adds its own units.
    n_train_per_task, n_test_per_task : int or None, default None
        Rows drawn per task (None: all of them).
    random_state : int, Generator or None, default 0
    name : str, default "permuted"
    permute_first : bool, default False

    Returns
    -------
    ContinualStream
    """
    n_tasks = check_count(n_tasks, "n_tasks", minimum=2)
    check_choice(permute_first, "permute_first", name, (True, False))
    rng = np.random.default_rng(random_state)
    X_train, X_test = _as_rows(X_train, "X_train"), _as_rows(X_test, "X_test")
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    width = X_train.shape[1]
    tasks = []
    for t in range(n_tasks):
        order = np.arange(width) if t == 0 and not permute_first else rng.permutation(width)
        train = _subsample(np.arange(len(X_train)), n_train_per_task, rng)
        test = _subsample(np.arange(len(X_test)), n_test_per_task, rng)
        tasks.append(
            (X_train[train][:, order], y_train[train], X_test[test][:, order], y_test[test])
        )
    return stream_from_tasks(
        tasks,
        scenario,
        name=name,
        metadata={
            "protocol": "permuted features",
            "n_tasks": n_tasks,
            "permute_first": permute_first,
        },
    )


def _image_stream(
    build: Any,
    name: str,
    data: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    sizes: tuple[int, int | None, int | None],
    scenario: str,
    random_state: RandomState,
    **extra: Any,
) -> ContinualStream:
    """The stream ``build`` (:func:`split_stream` or :func:`permuted_stream`) makes of
    ``data``, ``((X_train, y_train), (X_test, y_test))``, with ``(n_tasks, n_train_per_task,
    n_test_per_task)``: the one body of :func:`split_mnist`, :func:`permuted_mnist` and
    :func:`split_fashion_mnist`."""
    (X_train, y_train), (X_test, y_test) = data
    n_tasks, n_train_per_task, n_test_per_task = sizes
    return build(
        X_train,
        y_train,
        X_test,
        y_test,
        n_tasks,
        scenario,
        n_train_per_task=n_train_per_task,
        n_test_per_task=n_test_per_task,
        random_state=random_state,
        name=name,
        **extra,
    )


def _images(
    dataset: str, split: str, data_home: str | os.PathLike[str] | None
) -> tuple[np.ndarray, np.ndarray]:
    """The ``split`` images of ``dataset`` ("mnist" or "fashion-mnist") in the data home."""
    # imported when a stream is built: importing this module needs no datasets
    from transferkit.datasets import load_fashion_mnist, load_mnist

    load = {"mnist": load_mnist, "fashion-mnist": load_fashion_mnist}[dataset]
    return load(split, data_home)


def _training_images(
    dataset: str, with_validation: bool, data_home: str | os.PathLike[str] | None
) -> tuple[np.ndarray, np.ndarray]:
    """The training images of ``dataset``, with its validation images when ``with_validation``
    (MNIST's pickle keeps 10,000 of the 60,000 apart)."""
    check_choice(with_validation, "with_validation", f"the {dataset} stream", (True, False))
    splits = ("train", "valid") if with_validation else ("train",)
    parts = [_images(dataset, split, data_home) for split in splits]
    return np.concatenate([X for X, _ in parts]), np.concatenate([y for _, y in parts])


def split_mnist(
    scenario: str = "class",
    *,
    n_tasks: int = 5,
    n_train_per_task: int | None = None,
    n_test_per_task: int | None = None,
    data_home: str | os.PathLike[str] | None = None,
    random_state: RandomState = 0,
    with_validation: bool = False,
    shuffle_classes: bool = False,
) -> ContinualStream:
    """Split MNIST: the ten digits in ``n_tasks`` tasks (5: 0/1, 2/3, 4/5, 6/7, 8/9).

    Training rows from MNIST's 50,000 training images, test rows from its 10,000 test images
    (the data home's ``mnist/mnist.pkl.gz``), flattened to 784 values in [0, 1]. van de Ven &
    Tolias's code builds the stream as ``with_validation=True, shuffle_classes=True`` does:
    MNIST's 60,000 training images, the digits paired at random for each seed.

    Parameters
    ----------
    scenario : {"task", "domain", "class"}, default "class"
    n_tasks : int, default 5
    n_train_per_task, n_test_per_task : int or None, default None
    data_home : str, Path or None
    random_state : int, Generator or None, default 0
    with_validation : bool, default False
        Add the pickle's 10,000 validation images to the training images (MNIST's 60,000).
    shuffle_classes : bool, default False
        Pair the digits in a random order drawn from ``random_state`` (see :func:`split_stream`).

    Returns
    -------
    ContinualStream

    Examples
    --------
    >>> from transferkit.continual import split_mnist
    >>> stream = split_mnist("task", n_train_per_task=100)  # doctest: +SKIP
    >>> stream.n_tasks, stream.experiences[2].classes  # doctest: +SKIP
    (5, (4, 5))
    """
    sizes = n_tasks, n_train_per_task, n_test_per_task
    data = (
        _training_images("mnist", with_validation, data_home),
        _images("mnist", "test", data_home),
    )
    return _image_stream(
        split_stream,
        "split-mnist",
        data,
        sizes,
        scenario,
        random_state,
        shuffle_classes=shuffle_classes,
    )


def permuted_mnist(
    scenario: str = "domain",
    *,
    n_tasks: int = 10,
    n_train_per_task: int | None = None,
    n_test_per_task: int | None = None,
    data_home: str | os.PathLike[str] | None = None,
    random_state: RandomState = 0,
    pad: int = 0,
    permute_first: bool = False,
    with_validation: bool = False,
) -> ContinualStream:
    """Permuted MNIST: ``n_tasks`` fixed pixel permutations of MNIST (the first is the identity
    unless ``permute_first``).

    By default the 50,000 training images of the data home's pickle, 28x28. van de Ven & Tolias's
    code builds the stream as ``pad=2, permute_first=True, with_validation=True`` does: MNIST's
    60,000 training images, each padded to 32x32 with zeros, every task permuted. Padding is not
    neutral: each task's 784 image pixels then land on its own subset of the 1,024 inputs, so two
    tasks share fewer input weights.

    Parameters
    ----------
    scenario : {"task", "domain", "class"}, default "domain"
    n_tasks : int, default 10
    n_train_per_task, n_test_per_task : int or None, default None
    data_home : str, Path or None
    random_state : int, Generator or None, default 0
        Seeds the permutations and the subsampling.
    pad : int, default 0
        Zero pixels added on each side of every image before it is flattened (2: 32x32).
    permute_first : bool, default False
        Permute the first task too.
    with_validation : bool, default False
        Add the pickle's 10,000 validation images to the training images (MNIST's 60,000).

    Returns
    -------
    ContinualStream
    """
    pad = check_count(pad, "pad", minimum=0)
    X_train, y_train = _training_images("mnist", with_validation, data_home)
    X_test, y_test = _images("mnist", "test", data_home)
    if pad:
        X_train, X_test = (np.pad(X, ((0, 0), (pad, pad), (pad, pad))) for X in (X_train, X_test))
    sizes = n_tasks, n_train_per_task, n_test_per_task
    data = (X_train, y_train), (X_test, y_test)
    return _image_stream(
        permuted_stream,
        "permuted-mnist",
        data,
        sizes,
        scenario,
        random_state,
        permute_first=permute_first,
    )


def split_fashion_mnist(
    scenario: str = "class",
    *,
    n_tasks: int = 5,
    n_train_per_task: int | None = None,
    n_test_per_task: int | None = None,
    data_home: str | os.PathLike[str] | None = None,
    random_state: RandomState = 0,
) -> ContinualStream:
    """Split Fashion-MNIST: its ten article classes in ``n_tasks`` tasks, in label order.

    Files from the data home's ``fashion_mnist/`` or the Debian package ``dataset-fashion-mnist``
    (see :func:`~transferkit.datasets.load_fashion_mnist`, which says what to install when they are
    missing): 60,000 training and 10,000 test images.

    Parameters and return: those of :func:`split_mnist`.
    """
    sizes = n_tasks, n_train_per_task, n_test_per_task
    data = _images("fashion-mnist", "train", data_home), _images("fashion-mnist", "test", data_home)
    return _image_stream(split_stream, "split-fashion-mnist", data, sizes, scenario, random_state)


_BUILDERS = {
    "split-mnist": split_mnist,
    "permuted-mnist": permuted_mnist,
    "split-fashion-mnist": split_fashion_mnist,
}


def load_stream(
    stream: str,
    scenario: str,
    *,
    data_home: str | os.PathLike[str] | None = None,
    random_state: RandomState = 0,
    **options: Any,
) -> ContinualStream:
    """A built-in stream by name: ``"split-mnist"``, ``"permuted-mnist"`` or
    ``"split-fashion-mnist"``, in ``scenario``.

    The loader behind the ``continual`` benchmark dataset, whose pairs are (stream, scenario).

    Parameters
    ----------
    stream : str
    scenario : {"task", "domain", "class"}
    data_home : str, Path or None
    random_state : int, Generator or None, default 0
    **options
        ``n_tasks``, ``n_train_per_task``, ``n_test_per_task``; for ``"split-mnist"`` also
        ``with_validation`` and ``shuffle_classes`` (see :func:`split_mnist`), for
        ``"permuted-mnist"`` ``pad``, ``permute_first`` and ``with_validation`` (see
        :func:`permuted_mnist`).

    Returns
    -------
    ContinualStream
    """
    import inspect

    check_choice(stream, "stream", "load_stream", STREAMS)
    check_choice(scenario, "scenario", "load_stream", SCENARIOS)
    build = _BUILDERS[stream]
    accepted = set(inspect.signature(build).parameters) - {"scenario", "data_home", "random_state"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ParameterValueError(
            f"The {stream} stream has no option {', '.join(unknown)}; its options: "
            f"{', '.join(sorted(accepted))}."
        )
    return build(scenario, data_home=data_home, random_state=random_state, **options)
