"""Zero-shot tasks: labelled rows of the seen classes, test rows, and a vector for every class.

A :class:`ZeroShotTask` is what the zero-shot methods, :func:`~transferkit.zeroshot.
evaluate_zero_shot`, ``transferkit bench`` (dataset kind ``"zeroshot"``) and ``transferkit
zeroshot`` share. The classes with a vector but no training row are the *unseen* ones.

The catalogue's zero-shot datasets (``transferkit.datasets.load_task(name, source, target)``):

- ``zeroshot-office-caltech``: Office-Caltech10 images as pooled features of an
  ImageNet-pre-trained CNN (:func:`~transferkit.datasets.load_office_caltech_features`, raw). The
  pair is (images, class split): the images are one domain (``amazon``, ``caltech10``, ``dslr``,
  ``webcam``) or ``all`` four pooled; ``split-k`` (k = 0..9) leaves out the classes
  ``k, k+1, k+3`` (mod 10, in the sorted order of the names, :data:`OFFICE_UNSEEN_SPLITS`), a
  cyclic design in which every class is unseen in exactly three splits. The seen classes' images
  are split per class, ``test_size`` (0.3) held out for the generalised score (drawn with the
  seed); every image of an unseen class is a test row. Class semantics: the class names or the
  short descriptions of :data:`~transferkit.zeroshot.semantics.OFFICE_DESCRIPTIONS`, encoded by
  a text encoder (default USE).
- ``zeroshot-fashion-mnist``: Fashion-MNIST pixels (784, in [0, 1]); pair (``original``,
  ``split-k``) with the same cyclic splits over its ten classes. Training rows: ``n_train``
  (500) images per seen class from the 60,000 training images; test rows: ``n_test`` (300)
  images per class from the 10,000 test images, seen and unseen classes alike.
- ``zeroshot-bible``: Bible verses (:func:`~transferkit.datasets.load_bible`) labelled by the
  genre of their book (six groups), every genre unseen (no training row at all): pure text
  similarity. The pair is (class semantics, verse language): ``names`` or ``descriptions``
  of the genres (:data:`~transferkit.zeroshot.semantics.BIBLE_GENRE_DESCRIPTIONS`, English),
  and ``english`` or ``spanish`` verses, ``n_verses`` (3,000) drawn by the seed in each genre's
  proportion; the verses and the English descriptions are embedded by one encoder (default the
  multilingual USE, so Spanish verses meet English descriptions).

Examples
--------
>>> import numpy as np
>>> from transferkit.zeroshot import ClassEmbeddings, ZeroShotTask
>>> task = ZeroShotTask(
...     X_train=np.zeros((2, 3)), y_train=np.array(["a", "b"]),
...     X_test=np.zeros((1, 3)), y_test=np.array(["c"]),
...     embeddings=ClassEmbeddings(["a", "b", "c"], np.eye(3)))
>>> task.unseen_classes.tolist()
['c']
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from transferkit.checks import check_count, check_number
from transferkit.exceptions import (
    EmptyDomainError,
    FeatureSpaceMismatchError,
    InvalidParameterError,
    UnknownDatasetError,
)
from transferkit.zeroshot.semantics import (
    BIBLE_GENRE_DESCRIPTIONS,
    BIBLE_GENRE_NAMES,
    FASHION_DESCRIPTIONS,
    OFFICE_DESCRIPTIONS,
    ClassEmbeddings,
    embed_classes,
)

logger = logging.getLogger(__name__)

RandomState = int | np.random.Generator | None

#: The ten fixed class splits of the Office-Caltech10 and Fashion-MNIST tasks: split k leaves out
#: the classes k, k+1 and k+3 (mod 10), so every class is unseen in exactly three splits.
UNSEEN_SPLITS: tuple[tuple[int, int, int], ...] = tuple(
    tuple(sorted({k, (k + 1) % 10, (k + 3) % 10})) for k in range(10)
)  # type: ignore[assignment]
SPLIT_NAMES = tuple(f"split-{k}" for k in range(10))
#: How class semantics are worded: the bare names or the one-sentence descriptions.
SEMANTICS = ("names", "descriptions")
OFFICE_IMAGE_DOMAINS = ("all", "amazon", "caltech10", "dslr", "webcam")


@dataclass
class ZeroShotTask:
    """Seen classes with labelled rows, test rows, and a semantic vector for every class.

    Parameters
    ----------
    X_train : array (n_train, d) or None
        Labelled rows of the seen classes (None or no row: every class is unseen).
    y_train : array (n_train,) or None
    X_test : array (n_test, d)
        Rows to classify: of unseen classes, and of seen ones for the generalised score.
    y_test : array (n_test,) or None
        Their labels (None when only predictions are wanted).
    embeddings : ClassEmbeddings
        A vector for every class, seen or unseen; every label must have one.
    name : str, default "zeroshot"
    metadata : dict
        The protocol, the split, the encoder, ...

    Attributes
    ----------
    kind : str
        ``"zeroshot"`` (the catalogue's dataset kind).
    """

    X_train: np.ndarray | None
    y_train: np.ndarray | None
    X_test: np.ndarray
    y_test: np.ndarray | None
    embeddings: ClassEmbeddings
    name: str = "zeroshot"
    metadata: dict[str, Any] = field(default_factory=dict)

    kind: ClassVar[str] = "zeroshot"

    def __post_init__(self) -> None:
        self.X_test = np.asarray(self.X_test, dtype=np.float64)
        if self.X_test.ndim != 2 or len(self.X_test) == 0:
            raise EmptyDomainError(
                f"Task {self.name!r}: X_test must be a non-empty 2-d array; got shape "
                f"{self.X_test.shape}."
            )
        if self.y_test is not None:
            self.y_test = np.asarray(self.y_test)
            if len(self.y_test) != len(self.X_test):
                raise InvalidParameterError(
                    f"Task {self.name!r}: {len(self.X_test)} test rows but {len(self.y_test)} "
                    "test labels; give one label per row."
                )
            self.embeddings.index_of(np.unique(self.y_test), "test label")
        if self.X_train is None or self.y_train is None or len(self.y_train) == 0:
            self.X_train, self.y_train = None, None
            return
        self.X_train = np.asarray(self.X_train, dtype=np.float64)
        self.y_train = np.asarray(self.y_train)
        if self.X_train.ndim != 2 or len(self.X_train) != len(self.y_train):
            raise InvalidParameterError(
                f"Task {self.name!r}: X_train has shape {self.X_train.shape} for "
                f"{len(self.y_train)} labels; give a 2-d array with one label per row."
            )
        if self.X_train.shape[1] != self.X_test.shape[1]:
            raise FeatureSpaceMismatchError(
                f"Task {self.name!r}: training rows have {self.X_train.shape[1]} features but "
                f"test rows {self.X_test.shape[1]}; give both the same features."
            )
        self.embeddings.index_of(np.unique(self.y_train), "training label")
        if len(self.unseen_classes) == 0:
            raise InvalidParameterError(
                f"Task {self.name!r}: every class has training rows, so none is unseen; give a "
                "vector for at least one class without training rows."
            )

    @property
    def seen_classes(self) -> np.ndarray:
        """Classes with training rows (sorted)."""
        if self.y_train is None:
            return self.embeddings.classes[:0]
        return np.unique(self.y_train)

    @property
    def unseen_classes(self) -> np.ndarray:
        """Classes with a vector and no training row, in the table's order."""
        classes = self.embeddings.classes
        return classes[~np.isin(classes, self.seen_classes)]

    def unseen_test_rows(self) -> np.ndarray:
        """Indices of the test rows of unseen classes (all rows when labels are unknown)."""
        if self.y_test is None:
            return np.arange(len(self.X_test))
        return np.flatnonzero(np.isin(self.y_test, self.unseen_classes))

    @property
    def n_eval(self) -> int:
        """Number of scored rows of the primary score (the unseen classes' test rows)."""
        return int(len(self.unseen_test_rows()))

    def describe(self) -> str:
        """One line: sizes and classes."""
        seen, unseen = self.seen_classes, self.unseen_classes
        return (
            f"{self.name}: {0 if self.y_train is None else len(self.y_train)} training rows of "
            f"{len(seen)} seen classes, {len(self.X_test)} test rows, {len(unseen)} unseen "
            f"classes ({', '.join(map(str, unseen.tolist()[:8]))}"
            f"{', ...' if len(unseen) > 8 else ''})"
        )


# --------------------------------------------------------------------------- catalogue loaders
def check_domain(domain: str, domains: tuple[str, ...], what: str) -> str:
    """``domain`` if it is one of ``domains``, else UnknownDatasetError listing them."""
    if domain not in domains:
        raise UnknownDatasetError(f"Unknown {what} {domain!r}; choose one of {', '.join(domains)}.")
    return domain


def _split_classes(target: str, class_names: tuple[str, ...]) -> tuple[list[str], list[str]]:
    check_domain(target, SPLIT_NAMES, "class split")
    unseen_codes = UNSEEN_SPLITS[SPLIT_NAMES.index(target)]
    unseen = [class_names[i] for i in unseen_codes]
    return [c for c in class_names if c not in unseen], unseen


def _semantics(
    class_names: tuple[str, ...],
    semantics: str,
    descriptions: dict[str, str],
    encoder: str,
) -> ClassEmbeddings:
    if semantics not in SEMANTICS:
        raise InvalidParameterError(
            f"semantics must be one of {', '.join(SEMANTICS)}; got {semantics!r}."
        )
    texts = None if semantics == "names" else [descriptions[c] for c in class_names]
    return embed_classes(list(class_names), texts, encoder)


def _seen_unseen_rows(
    labels: np.ndarray, seen: list[str], test_size: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Training rows (1 - test_size of each seen class) and test rows (the rest and every row
    of the unseen classes)."""
    train, test = [], []
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        if label not in seen:
            test.append(rows)
            continue
        rows = rng.permutation(rows)
        n_test = min(max(round(test_size * len(rows)), 1), len(rows) - 1)
        test.append(rows[:n_test])
        train.append(rows[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def office_task(
    source: str,
    target: str,
    *,
    data_home: str | os.PathLike[str] | None = None,
    random_state: RandomState = None,
    features: str = "mobilenet_v2",
    semantics: str = "descriptions",
    encoder: str = "use",
    test_size: float = 0.3,
) -> ZeroShotTask:
    """``load_task("zeroshot-office-caltech", images, split)``: see the module docstring.

    Parameters
    ----------
    source : {"all", "amazon", "caltech10", "dslr", "webcam"}
        The images.
    target : {"split-0", ..., "split-9"}
        The class split.
    features : {"mobilenet_v2", "efficientnet_lite0", "both"}, default "mobilenet_v2"
        Pooled penultimate features (raw; the methods standardise with the training rows).
    semantics : {"names", "descriptions"}, default "descriptions"
    encoder : str, default "use"
    test_size : float, default 0.3
        Share of each seen class's images held out for the generalised score.
    """
    from transferkit.datasets.office import OFFICE_CLASSES, load_office_caltech_features

    check_domain(source, OFFICE_IMAGE_DOMAINS, "zeroshot-office-caltech images")
    seen, unseen = _split_classes(target, OFFICE_CLASSES)
    test_size = check_number(test_size, "test_size", 0.0, 1.0)
    embeddings = _semantics(OFFICE_CLASSES, semantics, OFFICE_DESCRIPTIONS, encoder)
    domains = ("amazon", "caltech10", "dslr", "webcam") if source == "all" else (source,)
    blocks = [
        load_office_caltech_features(d, features, preprocess="none", data_home=data_home)
        for d in domains
    ]
    X = np.vstack([b[0] for b in blocks])
    labels = np.asarray(OFFICE_CLASSES)[np.concatenate([b[1] for b in blocks])]
    train, test = _seen_unseen_rows(labels, seen, test_size, np.random.default_rng(random_state))
    return ZeroShotTask(
        X[train],
        labels[train],
        X[test],
        labels[test],
        embeddings,
        name=f"zeroshot-office-caltech {source} {target}",
        metadata={
            "dataset": "zeroshot-office-caltech",
            "images": source,
            "split": target,
            "unseen": unseen,
            "features": features,
            "semantics": semantics,
            "encoder": encoder,
            "protocol": (
                f"Office-Caltech10 {source} images, pooled {features} features; unseen classes "
                f"{', '.join(unseen)} (every image a test row); {test_size:.0%} of each seen "
                f"class's images held out for GZSL; class {semantics} encoded by {encoder}"
            ),
        },
    )


def fashion_task(
    source: str,
    target: str,
    *,
    data_home: str | os.PathLike[str] | None = None,
    random_state: RandomState = None,
    semantics: str = "names",
    encoder: str = "use",
    n_train: int = 500,
    n_test: int = 300,
) -> ZeroShotTask:
    """``load_task("zeroshot-fashion-mnist", "original", split)``: see the module docstring.

    Parameters
    ----------
    source : {"original"}
    target : {"split-0", ..., "split-9"}
    semantics : {"names", "descriptions"}, default "names"
    encoder : str, default "use"
    n_train : int, default 500
        Training images per seen class (from the 60,000 training images).
    n_test : int, default 300
        Test images per class, seen and unseen (from the 10,000 test images).
    """
    from transferkit.datasets.fashion import FASHION_CLASSES, load_fashion_mnist

    check_domain(source, ("original",), "zeroshot-fashion-mnist images")
    seen, unseen = _split_classes(target, FASHION_CLASSES)
    n_train = check_count(n_train, "n_train", 2)
    n_test = check_count(n_test, "n_test", 1)
    embeddings = _semantics(FASHION_CLASSES, semantics, FASHION_DESCRIPTIONS, encoder)
    rng = np.random.default_rng(random_state)
    names = np.asarray(FASHION_CLASSES)

    def draw(split: str, per_class: int, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
        images, codes = load_fashion_mnist(split, data_home)
        labels = names[codes]
        rows = np.sort(
            np.concatenate(
                [
                    rng.choice(np.flatnonzero(labels == c), size=per_class, replace=False)
                    for c in classes
                ]
            )
        )
        return images[rows].reshape(len(rows), -1).astype(np.float64), labels[rows]

    X_train, y_train = draw("train", n_train, seen)
    X_test, y_test = draw("test", n_test, list(FASHION_CLASSES))
    return ZeroShotTask(
        X_train,
        y_train,
        X_test,
        y_test,
        embeddings,
        name=f"zeroshot-fashion-mnist {target}",
        metadata={
            "dataset": "zeroshot-fashion-mnist",
            "split": target,
            "unseen": unseen,
            "semantics": semantics,
            "encoder": encoder,
            "protocol": (
                f"Fashion-MNIST pixels; unseen classes {', '.join(unseen)}; {n_train} training "
                f"images per seen class, {n_test} test images per class; class {semantics} "
                f"encoded by {encoder}"
            ),
        },
    )


def bible_task(
    source: str,
    target: str,
    *,
    data_home: str | os.PathLike[str] | None = None,
    random_state: RandomState = None,
    encoder: str = "use",
    n_verses: int | None = 3000,
    progress: Callable[[int, int], None] | None = None,
) -> ZeroShotTask:
    """``load_task("zeroshot-bible", semantics, language)``: see the module docstring.

    Parameters
    ----------
    source : {"names", "descriptions"}
        How the six genres are described (English).
    target : {"english", "spanish"}
        The language of the verses.
    encoder : str, default "use"
        Must cover the verses' language (``use`` or ``e5`` for Spanish).
    n_verses : int or None, default 3000
        Verses drawn in each genre's proportion; None for all 31,077.
    progress : callable or None, default None
        ``progress(done, total)`` while verses not yet cached are encoded.
    """
    from transferkit.datasets.bible import (
        BIBLE_GENRES,
        BIBLE_LANGUAGES,
        encode_verses,
        load_bible,
        stratified_sample,
    )

    check_domain(source, SEMANTICS, "zeroshot-bible semantics")
    check_domain(target, tuple(BIBLE_LANGUAGES), "zeroshot-bible language")
    verses = load_bible(data_home)
    labels = verses.labels("genre")
    rows = stratified_sample(labels, n_verses, np.random.default_rng(random_state), "n_verses")
    genres = list(BIBLE_GENRES)
    wording = BIBLE_GENRE_NAMES if source == "names" else BIBLE_GENRE_DESCRIPTIONS
    embeddings = embed_classes(genres, wording, encoder, language="en")
    X_test = encode_verses(verses, rows, target, encoder, progress=progress)
    return ZeroShotTask(
        None,
        None,
        X_test,
        labels[rows],
        embeddings,
        name=f"zeroshot-bible {source} {target}",
        metadata={
            "dataset": "zeroshot-bible",
            "semantics": source,
            "language": target,
            "encoder": encoder,
            "refs": verses.ref[rows].tolist(),
            "protocol": (
                f"{len(rows)} {target} verses in each genre's proportion, labelled by the genre "
                f"of their book, every genre unseen; English genre {source} and the verses "
                f"embedded by {encoder}"
            ),
        },
    )
