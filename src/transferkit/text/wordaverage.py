"""Texts as the average of their words' pre-trained vectors (GloVe, spaCy).

The simplest sentence vector: split a text into words, look each up in a table of word vectors,
and take the mean of the vectors found (the "bag of embeddings" baseline of e.g. Arora, Liang &
Ma 2017, without their weighting). Each word vector is scaled to unit length first: in spaCy's
French table the frequent function words (``le``, ``de``, ``un``) have vectors two to four times
longer than content words, and a plain mean of a French sentence is mostly its articles. Words
are runs of letters and digits (any script), looked up lower-cased first, then as written
(spaCy's English table is cased). Punctuation and unknown words are skipped. A text with no known word has no average: its row comes back as NaN, and
:func:`~transferkit.text.encoders.encode_texts` turns that into an error naming the text, rather
than hand a classifier a zero vector indistinguishable from a real one.

Examples
--------
>>> import numpy as np
>>> from transferkit.text.wordaverage import word_average_encoder
>>> table = {"cat": 0, "sleeps": 1}
>>> encode = word_average_encoder(table.get, np.array([[2.0, 0.0], [0.0, 1.0]]))
>>> encode(["The cat sleeps.", "?!"])
array([[0.5, 0.5],
       [nan, nan]], dtype=float32)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from transferkit.datasets.wordvectors import load_glove, load_spacy_vocab

#: What counts as a word: a run of letters and digits, in any script.
WORD = re.compile(r"[^\W_]+")


def words_of(text: str) -> list[str]:
    """The words of ``text`` (runs of letters and digits), as written."""
    return WORD.findall(text)


def word_average_encoder(
    row_of: Callable[[str], int | None], vectors: Any
) -> Callable[[list[str]], np.ndarray]:
    """A function mapping texts to the mean unit vector of their known words (NaN when none is).

    Parameters
    ----------
    row_of : callable
        ``row_of(word)`` is the word's row in ``vectors``, or None when it has none.
    vectors : array of shape (n_rows, dim)
        The word vectors (each is scaled to unit length; a zero row stays zero).
    """
    table = np.array(vectors, dtype=np.float32)
    norms = np.linalg.norm(table, axis=1, keepdims=True)
    table /= np.where(norms > 0, norms, 1)

    def find(word: str) -> int | None:
        row = row_of(word.lower())
        return row_of(word) if row is None else row

    def encode(texts: list[str]) -> np.ndarray:
        out = np.full((len(texts), table.shape[1]), np.nan, dtype=np.float32)
        for position, text in enumerate(texts):
            rows = [row for row in map(find, words_of(text)) if row is not None]
            if rows:
                out[position] = table[rows].mean(axis=0)
        return out

    return encode


def glove_average_encoder() -> Callable[[list[str]], np.ndarray]:
    """Texts as the mean of their words' English GloVe 6B 50-d vectors (400,000 words)."""
    glove = load_glove()
    return word_average_encoder(
        lambda word: glove.index(word) if word in glove else None, glove.vectors
    )


def spacy_average_encoder(model: str) -> Callable[[list[str]], np.ndarray]:
    """Texts as the mean of their words' vectors in a spaCy package's table.

    Every word of the package's vocabulary counts, also those whose vector was pruned onto a
    shared row (what spaCy's own ``Doc.vector`` does), so far more words are known than the
    table's rows.

    Parameters
    ----------
    model : str
        The package's import name (see :func:`~transferkit.datasets.wordvectors.load_spacy_vocab`).
    """
    vocab = load_spacy_vocab(model)
    key2row = vocab.vectors.key2row
    strings = vocab.strings

    def row_of(word: str) -> int | None:
        row = key2row.get(strings[word])
        return None if row is None or row < 0 else int(row)

    return word_average_encoder(row_of, np.asarray(vocab.vectors.data))
