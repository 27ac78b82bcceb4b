"""FreeDict bilingual dictionaries (dictd format): gold word pairs for bilingual lexicon induction.

The data home holds, under ``freedict/``, the files of the Debian packages ``dict-freedict-eng-fra``,
``dict-freedict-fra-eng`` (and ``-eng-deu``, ``-eng-spa``), version 2022.04.21-1, as published by the
FreeDict project (https://freedict.org). Each dictionary is two files: ``<name>.index``, one line per
headword (headword TAB base64 offset TAB base64 length), and ``<name>.dict.dz``, the entries' text,
dictzip-compressed (a gzip file, so :mod:`gzip` reads it whole).

Extraction rules of :func:`extract_word_pairs` (one pair = one source word, one target word):

1. The ``00database...`` entries (metadata, not words) are skipped.
2. The headword is taken from the entry's first line, before the pronunciation ``/.../`` and the
   grammar note ``<...>``; every following line is a sense (an optional ``"1. "`` numbering is
   removed), holding translations separated by commas.
3. Domain labels in brackets (``[cul]``) and notes in parentheses are removed from a translation.
4. Both sides are lower-cased and stripped; a side is kept only if it is a *single word*: letters
   only (Unicode letters, so accents stay), hence dropped: multi-word entries and translations
   (``"faire l'amour"``), words with an apostrophe, a hyphen (``"micro-onde"``), a digit, or the
   ``"..."`` of phrase fragments.
5. ``eng-fra`` gives (headword, translation) pairs and ``fra-eng`` gives (translation, headword)
   pairs; both directions are merged into one set of (English, French) pairs, sorted.

:func:`load_freedict_pairs` applies them to the real files: eng-fra gives 12,205 pairs, fra-eng
13,001, merged 13,348 pairs of 7,639 distinct English and 6,922 French words; :func:`split_by_source` splits pairs by source word like MUSE
(Conneau et al. 2018): all translations of a source word land in the same split.

Examples
--------
>>> from transferkit.datasets.freedict import extract_word_pairs
>>> extract_word_pairs({"assemble": "assemble /əsembl/\\n1. réunir\\n2. monter\\n"})
[('assemble', 'monter'), ('assemble', 'réunir')]
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from transferkit.datasets._home import public_source, verify_file
from transferkit.datasets._utils import RandomState, as_generator
from transferkit.exceptions import (
    DataFormatError,
    EmptyDomainError,
    InvalidParameterError,
)

#: The folder of the data home holding the dictionaries.
FREEDICT_FOLDER = "freedict"
#: Where the files come from, named in every error about a missing or corrupt one (the data
#: home's table of public sources, which ``verify_file`` names too).
FREEDICT_SOURCE = public_source(f"{FREEDICT_FOLDER}/")

_BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_BASE64_VALUE = {char: value for value, char in enumerate(_BASE64)}
_PRONUNCIATION = re.compile(r"\s/[^/]*/")
_GRAMMAR = re.compile(r"<[^>]*>")
_BRACKETS = re.compile(r"\[[^\]]*\]|\([^)]*\)")
_NUMBERING = re.compile(r"^\s*\d+\.\s*")


def decode_dictd_number(text: str) -> int:
    """The integer a dictd index writes in its own base64 (digits ``A-Za-z0-9+/``, most significant
    first, no padding): ``decode_dictd_number("BVBC") == 1397825``."""
    value = 0
    for char in text:
        digit = _BASE64_VALUE.get(char)
        if digit is None:
            raise DataFormatError(
                f"'{text}' is not a dictd base64 number (only A-Z, a-z, 0-9, + and / may appear)."
            )
        value = value * 64 + digit
    return value


def read_dictd(index_path: str | os.PathLike[str], dict_path: str | os.PathLike[str]) -> dict:
    """Every entry of a dictd dictionary, as ``{index headword: entry text}``.

    Parameters
    ----------
    index_path : str or Path
        The ``.index`` file (headword TAB base64 offset TAB base64 length per line).
    dict_path : str or Path
        The ``.dict.dz`` (dictzip, read as gzip) or plain ``.dict`` file.

    Notes
    -----
    The headword of the index is dictd's search key (lower-cased, punctuation removed); the entry's
    first line keeps the written form. A headword listed twice keeps both entries, joined.
    """
    opener = gzip.open if str(dict_path).endswith(".dz") else open
    try:
        with opener(dict_path, "rb") as handle:
            data = handle.read()
        with open(index_path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise DataFormatError(
            f"Could not read the dictd dictionary {index_path} / {dict_path}: {error}. Replace "
            f"both files with fresh copies from {FREEDICT_SOURCE}."
        ) from error
    entries: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        fields = line.split("\t")
        if len(fields) != 3:
            raise DataFormatError(
                f"{index_path}, line {number}: expected 'headword TAB offset TAB length', got "
                f"{line!r}."
            )
        headword, offset, length = fields
        start = decode_dictd_number(offset)
        stop = start + decode_dictd_number(length)
        if stop > len(data):
            raise DataFormatError(
                f"{index_path}, line {number}: the entry '{headword}' ends at byte {stop}, past the "
                f"end of {dict_path} ({len(data)} bytes); the two files do not belong together."
            )
        text = data[start:stop].decode("utf-8", errors="replace")
        entries[headword] = entries[headword] + text if headword in entries else text
    return entries


def single_word(text: str) -> str | None:
    """``text`` lower-cased if it is one word of letters only (rule 4), else None."""
    word = _BRACKETS.sub(" ", text).strip().lower()
    return word if word.isalpha() else None


def parse_entry(text: str) -> tuple[str, list[str]]:
    """An entry's written headword and its translations (rules 2 and 3, before rule 4)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return "", []
    headword = _GRAMMAR.sub(" ", _PRONUNCIATION.sub(" ", " " + lines[0])).strip()
    translations: list[str] = []
    for line in lines[1:]:
        sense = _BRACKETS.sub(" ", _NUMBERING.sub("", line))
        translations.extend(part.strip() for part in sense.split(",") if part.strip())
    return headword, translations


def extract_word_pairs(entries: Mapping[str, str], reverse: bool = False) -> list[tuple[str, str]]:
    """Single-word (headword, translation) pairs of a dictionary's entries, sorted (rules 1-4).

    Parameters
    ----------
    entries : mapping of str to str
        ``{headword: entry text}``, as :func:`read_dictd` returns.
    reverse : bool, default False
        Give (translation, headword) pairs instead: for a dictionary of the other direction.
    """
    pairs: set[tuple[str, str]] = set()
    for key, text in entries.items():
        if key.startswith("00database") or key.startswith("00-database"):
            continue
        headword, translations = parse_entry(text)
        head = single_word(headword)
        if head is None:
            continue
        for translation in translations:
            word = single_word(translation)
            if word is not None:
                pairs.add((word, head) if reverse else (head, word))
    return sorted(pairs)


def load_freedict(name: str, data_home: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """The entries of one FreeDict dictionary of the data home, e.g. ``name="eng-fra"``.

    Both files are verified against their published SHA-256 first; a missing or corrupt one raises
    :class:`~transferkit.exceptions.DatasetNotFoundError` or
    :class:`~transferkit.exceptions.ChecksumMismatchError` naming it and its public source.
    """
    if not isinstance(name, str) or not re.fullmatch(r"[a-z]{3}-[a-z]{3}", name):
        raise InvalidParameterError(
            f"name must name a FreeDict dictionary as 'eng-fra' (two ISO 639-3 codes); got {name!r}."
        )
    stem = f"{FREEDICT_FOLDER}/freedict-{name}"
    index_path = verify_file(f"{stem}.index", data_home)
    dict_path = verify_file(f"{stem}.dict.dz", data_home)
    return read_dictd(index_path, dict_path)


def load_freedict_pairs(
    source: str = "eng", target: str = "fra", data_home: str | os.PathLike[str] | None = None
) -> list[tuple[str, str]]:
    """Single-word (source, target) translation pairs from both FreeDict directions, merged.

    Parameters
    ----------
    source, target : str, default "eng", "fra"
        ISO 639-3 codes; ``freedict-{source}-{target}`` and ``freedict-{target}-{source}`` are read
        (the module docstring gives the extraction rules).
    data_home : str or Path or None, default None
        See :func:`~transferkit.datasets.get_data_home`.

    Examples
    --------
    >>> pairs = load_freedict_pairs("eng", "fra")  # doctest: +SKIP
    >>> len(pairs), pairs[0]  # doctest: +SKIP
    (13348, ('a', 'dans'))
    """
    forward = extract_word_pairs(load_freedict(f"{source}-{target}", data_home))
    backward = extract_word_pairs(load_freedict(f"{target}-{source}", data_home), reverse=True)
    return sorted(set(forward) | set(backward))


def filter_pairs(
    pairs: Iterable[tuple[str, str]],
    source_vocabulary: Iterable[str],
    target_vocabulary: Iterable[str],
) -> list[tuple[str, str]]:
    """The pairs whose source word is in ``source_vocabulary`` and target word in
    ``target_vocabulary`` (sorted); raises if none is left.

    Raises
    ------
    EmptyDomainError
        A vocabulary is empty, or no pair has both its words in the vocabularies.
    """
    source_set, target_set = set(source_vocabulary), set(target_vocabulary)
    pairs = list(pairs)
    for side, vocabulary in (("source", source_set), ("target", target_set)):
        if not vocabulary:
            raise EmptyDomainError(
                f"The {side} vocabulary is empty: give the words of the {side} embeddings."
            )
    kept = sorted({(s, t) for s, t in pairs if s in source_set and t in target_set})
    if not kept:
        example = f" (the first pair is {pairs[0]!r})" if pairs else ""
        raise EmptyDomainError(
            f"None of the {len(pairs)} dictionary pairs has its source word in the source "
            f"vocabulary ({len(source_set)} words) and its target word in the target vocabulary "
            f"({len(target_set)} words){example}. Check that the dictionary's languages match the "
            "embeddings' and that both are lower-cased the same way."
        )
    return kept


def split_by_source(
    pairs: Sequence[tuple[str, str]],
    test_size: int | float = 1500,
    random_state: RandomState = 0,
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Train and test pairs, split by source word (MUSE's protocol, Conneau et al. 2018).

    All translations of a source word land in the same split, so a test word was never seen in
    training, and test P@k counts a hit when any of its gold translations is retrieved.

    Parameters
    ----------
    pairs : sequence of (str, str)
        (source word, target word) pairs.
    test_size : int or float, default 1500
        An int: the number of test *source words* (MUSE tests 1,500); a float in (0, 1): their
        fraction.
    random_state : int or Generator or None, default 0
        Seed of the draw; the same seed and pairs give the same split.

    Returns
    -------
    train, test : list of (str, str)
        Sorted pairs.

    Examples
    --------
    >>> train, test = split_by_source([("a", "x"), ("a", "y"), ("b", "z")], test_size=1)
    >>> sorted({s for s, _ in test}) in (["a"], ["b"])
    True
    """
    sources = sorted({source for source, _ in pairs})
    if len(sources) < 2:
        raise EmptyDomainError(
            f"Splitting by source word needs at least 2 distinct source words; the pairs have "
            f"{len(sources)}. Give more pairs."
        )
    if isinstance(test_size, float) and not isinstance(test_size, bool):
        if not 0.0 < test_size < 1.0:
            raise InvalidParameterError(
                f"test_size as a fraction must be in (0, 1); got {test_size}."
            )
        n_test = max(1, round(test_size * len(sources)))
    elif isinstance(test_size, int | np.integer) and not isinstance(test_size, bool):
        n_test = int(test_size)
    else:
        raise InvalidParameterError(
            f"test_size must be an int (source words) or a float in (0, 1); got {test_size!r}."
        )
    if not 1 <= n_test < len(sources):
        raise InvalidParameterError(
            f"test_size={test_size} asks for {n_test} test source words, but there are "
            f"{len(sources)}: leave at least one for training (and test at least one)."
        )
    generator = as_generator(random_state)
    test_sources = {sources[i] for i in generator.permutation(len(sources))[:n_test]}
    train = sorted(pair for pair in pairs if pair[0] not in test_sources)
    test = sorted(pair for pair in pairs if pair[0] in test_sources)
    return train, test
