"""The parallel English/Spanish Bible: documents in two languages with the same labels.

The data home holds ``bible_en_es/bible_en_es.tsv``: 31,077 verses present in both the World
English Bible and the Reina-Valera 1909 (both public domain), one per line, with a header
``ref book english spanish`` (``ref`` is the OSIS reference, e.g. ``Gen.1.1``). Labels come from
the reference:

- ``testament``: ``"OT"`` (the 39 books Genesis to Malachi) or ``"NT"`` (the 27 books Matthew to
  Revelation);
- ``genre``: six groups of books (:data:`BIBLE_GENRES`): Law (the 5 books of Moses), History
  (Joshua to Esther, 12), Wisdom/Poetry (Job, Psalms, Proverbs, Ecclesiastes, Song of Solomon),
  Prophets (Isaiah to Malachi, 17, Lamentations included), Gospels+Acts (5), and
  Epistles+Revelation (Romans to Jude and Revelation, 22);
- ``book``: the OSIS code of the book (66 classes, e.g. ``"Gen"``, ``"1Cor"``).

Split by chapter, not by verse: neighbouring verses of one chapter share names and phrases, so a
verse split would let the test side be recognised by its neighbours. :func:`split_by_chapter`
sends a share of the chapters of *each book* to the test side (so every book, hence every label,
is on both sides), keeping the five one-chapter books (Obadiah, Philemon, 2 John, 3 John, Jude) on
the training side.

The transfer protocol of :func:`~transferkit.datasets.load_pair` (``"bible-en-es"``, pair
``english:spanish``): the source is the labelled English verses of the training chapters; the
target is the Spanish verses of the test chapters, unlabelled for adaptation and labelled for
scoring (transductive). The same verses in English are the in-language reference (how well the
source classifier does without a language change), available through
``problem.metadata["target_refs"]``. With ``align="procrustes"`` the target embeddings are first
rotated into the source language's by :func:`fit_verse_map`, fitted on the verse pairs of the
training chapters: unlabelled parallel text, a resource the plain zero-shot setting does not use
(``align_pairs=N``: N of them, drawn with the split seed, for a cheaper map).
With ``parallel=True`` the training chapters' verse pairs whose source verse is not a labelled
row ride along as that unlabelled parallel corpus (``parallel=N``: N of them, drawn with the
seed)
(:func:`transferkit.crosslingual.with_parallel_corpus`), for
:class:`~transferkit.crosslingual.ParallelDistillation`.

Examples
--------
>>> from transferkit.datasets.bible import BIBLE_GENRES, book_genre
>>> len(BIBLE_GENRES), sum(len(books) for books in BIBLE_GENRES.values())
(6, 66)
>>> book_genre("Rev"), book_genre("Lam")
('Epistles+Revelation', 'Prophets')
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from transferkit.checks import check_count, check_number
from transferkit.datasets._home import verify_file
from transferkit.datasets._utils import RandomState, as_generator
from transferkit.exceptions import DataFormatError, InvalidParameterError
from transferkit.problem import TransferProblem

logger = logging.getLogger(__name__)

#: The file of the data home, relative to it.
BIBLE_FILE = "bible_en_es/bible_en_es.tsv"
#: The two languages (catalogue domains) and the column and ISO 639-1 code of each.
BIBLE_LANGUAGES = {"english": "en", "spanish": "es"}
#: The labels :meth:`BibleVerses.labels` gives.
BIBLE_LABELS = ("genre", "testament", "book")

#: The six genre groups and their books (OSIS codes), in canonical order.
BIBLE_GENRES: dict[str, tuple[str, ...]] = {
    "Law": ("Gen", "Exod", "Lev", "Num", "Deut"),
    "History": (
        "Josh", "Judg", "Ruth", "1Sam", "2Sam", "1Kgs", "2Kgs", "1Chr", "2Chr", "Ezra", "Neh",
        "Esth",
    ),
    "Wisdom/Poetry": ("Job", "Ps", "Prov", "Eccl", "Song"),
    "Prophets": (
        "Isa", "Jer", "Lam", "Ezek", "Dan", "Hos", "Joel", "Amos", "Obad", "Jonah", "Mic", "Nah",
        "Hab", "Zeph", "Hag", "Zech", "Mal",
    ),
    "Gospels+Acts": ("Matt", "Mark", "Luke", "John", "Acts"),
    "Epistles+Revelation": (
        "Rom", "1Cor", "2Cor", "Gal", "Eph", "Phil", "Col", "1Thess", "2Thess", "1Tim", "2Tim",
        "Titus", "Phlm", "Heb", "Jas", "1Pet", "2Pet", "1John", "2John", "3John", "Jude", "Rev",
    ),
}  # fmt: skip
#: Every book's OSIS code in canonical order (the first 39 are the Old Testament).
BIBLE_BOOKS: tuple[str, ...] = tuple(book for books in BIBLE_GENRES.values() for book in books)
_GENRE_OF = {book: genre for genre, books in BIBLE_GENRES.items() for book in books}
_OLD_TESTAMENT = frozenset(BIBLE_BOOKS[:39])


def book_genre(book: str) -> str:
    """The genre group of a book given by its OSIS code (``"Gen"`` -> ``"Law"``)."""
    try:
        return _GENRE_OF[book]
    except KeyError:
        raise InvalidParameterError(
            f"Unknown book {book!r}; give an OSIS code such as {', '.join(BIBLE_BOOKS[:4])}."
        ) from None


def book_testament(book: str) -> str:
    """``"OT"`` or ``"NT"`` for a book given by its OSIS code."""
    book_genre(book)
    return "OT" if book in _OLD_TESTAMENT else "NT"


@dataclass(frozen=True)
class BibleVerses:
    """Every verse of the parallel Bible, in file order.

    Attributes
    ----------
    ref : str array (n,)
        OSIS reference, e.g. ``"Gen.1.1"``.
    book : str array (n,)
        OSIS book code, e.g. ``"Gen"``.
    chapter : str array (n,)
        The chapter's reference, e.g. ``"Gen.1"`` (the unit of the split).
    english, spanish : str array (n,)
        The verse in each language.
    """

    ref: np.ndarray
    book: np.ndarray
    chapter: np.ndarray
    english: np.ndarray
    spanish: np.ndarray

    def __len__(self) -> int:
        return len(self.ref)

    def texts(self, language: str) -> np.ndarray:
        """The verses in ``language`` (``"english"`` or ``"spanish"``)."""
        if language not in BIBLE_LANGUAGES:
            raise InvalidParameterError(
                f"Unknown language {language!r}; the Bible has {', '.join(BIBLE_LANGUAGES)}."
            )
        return self.english if language == "english" else self.spanish

    def labels(self, label: str = "genre") -> np.ndarray:
        """One label per verse: ``"genre"``, ``"testament"`` or ``"book"`` (strings)."""
        _check_label(label)
        if label == "book":
            return self.book.copy()
        lookup = _GENRE_OF if label == "genre" else {b: book_testament(b) for b in BIBLE_BOOKS}
        return np.array([lookup[book] for book in self.book])


@lru_cache(maxsize=2)
def _read(path: str, size: int, mtime_ns: int) -> BibleVerses:
    """Parse the TSV (cached per process by path, size and modification time)."""
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header != ["ref", "book", "english", "spanish"]:
            raise DataFormatError(
                f"{path} starts with {header!r}; expected the header 'ref book english spanish'."
            )
        rows = list(reader)
    refs, books, chapters = [], [], []
    for number, row in enumerate(rows, start=2):
        if len(row) != 4 or not row[2].strip() or not row[3].strip():
            raise DataFormatError(
                f"{path}, line {number}: expected 4 tab-separated fields with both verses "
                f"non-empty; got {row!r}."
            )
        book, _, rest = row[0].partition(".")
        chapter, _, verse = rest.partition(".")
        if book not in _GENRE_OF or not chapter.isdigit() or not verse:
            raise DataFormatError(
                f"{path}, line {number}: {row[0]!r} is not an OSIS verse reference of one of the "
                "66 books (e.g. 'Gen.1.1')."
            )
        refs.append(row[0])
        books.append(book)
        chapters.append(f"{book}.{chapter}")
    return BibleVerses(
        ref=np.array(refs),
        book=np.array(books),
        chapter=np.array(chapters),
        english=np.array([row[2] for row in rows]),
        spanish=np.array([row[3] for row in rows]),
    )


def load_bible(data_home: str | os.PathLike[str] | None = None) -> BibleVerses:
    """Every verse of the parallel English/Spanish Bible, after checking the file's SHA-256.

    Parameters
    ----------
    data_home : str or Path or None, default None
        See :func:`~transferkit.datasets.get_data_home`.

    Returns
    -------
    BibleVerses
        31,077 verses in file order, with their references and both texts.

    Raises
    ------
    DatasetNotFoundError
        ``bible_en_es/bible_en_es.tsv`` is absent (the message says where to get it).
    ChecksumMismatchError
        The file differs from the published one.

    Examples
    --------
    >>> from transferkit.datasets import load_bible
    >>> verses = load_bible()  # doctest: +SKIP
    >>> len(verses), verses.ref[0], verses.labels("genre")[0]  # doctest: +SKIP
    (31077, 'Gen.1.1', 'Law')
    """
    path = verify_file(BIBLE_FILE, data_home)
    stat = path.stat()
    return _read(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def split_by_chapter(
    verses: BibleVerses, test_size: float = 0.3, random_state: RandomState = 0
) -> np.ndarray:
    """Which verses are on the test side of a split by chapter (a boolean mask).

    Each book's chapters are shuffled and ``round(test_size x n_chapters)`` of them (at least one,
    and at most all but one) go to the test side, with every verse of a chapter on the same side.
    Books of one chapter stay on the training side.

    Parameters
    ----------
    verses : BibleVerses
        From :func:`load_bible`.
    test_size : float, default 0.3
        Share of each book's chapters on the test side, in (0, 1).
    random_state : int, Generator or None, default 0
        Seed of the shuffle; the same seed, the same split.

    Returns
    -------
    bool array (n_verses,)
        True for a verse of a test chapter.

    Examples
    --------
    >>> from transferkit.datasets import load_bible, split_by_chapter
    >>> verses = load_bible()  # doctest: +SKIP
    >>> test = split_by_chapter(verses, 0.3, random_state=0)  # doctest: +SKIP
    >>> set(verses.chapter[test]) & set(verses.chapter[~test])  # doctest: +SKIP
    set()
    """
    test_size = check_number(test_size, "test_size", 0.0, 1.0)
    if not 0.0 < test_size < 1.0:
        raise InvalidParameterError(f"test_size must be strictly between 0 and 1; got {test_size}.")
    rng = as_generator(random_state)
    test_chapters: set[str] = set()
    for book in BIBLE_BOOKS:
        chapters = list(dict.fromkeys(verses.chapter[verses.book == book]))
        if len(chapters) < 2:
            continue
        n_test = min(max(round(test_size * len(chapters)), 1), len(chapters) - 1)
        order = rng.permutation(len(chapters))
        test_chapters.update(chapters[i] for i in order[:n_test])
    return np.isin(verses.chapter, sorted(test_chapters))


def stratified_sample(
    labels: np.ndarray, n: int | None, random_state: RandomState, what: str
) -> np.ndarray:
    """Sorted indices of ``n`` rows drawn without replacement, each class in its own proportion.

    ``None`` (or ``n`` equal to the number of rows) keeps every row. Each class gets its share
    ``n x count / total`` rounded down, and the rows left over go to the classes with the largest
    remainders, so small classes are never dropped by chance.
    """
    labels = np.asarray(labels)
    if n is None or n == len(labels):
        return np.arange(len(labels))
    n = check_count(n, what, 2)
    if n > len(labels):
        raise InvalidParameterError(
            f"{what}={n} is more than the {len(labels):,} verses available; give at most "
            f"{len(labels):,}, or None for all of them."
        )
    rng = as_generator(random_state)
    classes, counts = np.unique(labels, return_counts=True)
    exact = n * counts / counts.sum()
    quota = np.floor(exact).astype(int)
    remainder_order = np.argsort(-(exact - quota), kind="stable")
    quota[remainder_order[: n - quota.sum()]] += 1
    chosen = [
        rng.choice(np.flatnonzero(labels == cls), size=k, replace=False)
        for cls, k in zip(classes, quota, strict=True)
    ]
    return np.sort(np.concatenate(chosen))


def encode_verses(
    verses: BibleVerses,
    rows: np.ndarray,
    language: str,
    encoder: str = "use",
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Sentence embeddings of the verses ``rows`` in ``language`` (cached on disk by the encoder).

    Parameters
    ----------
    verses : BibleVerses
    rows : int array
        Which verses.
    language : {"english", "spanish"}
    encoder : str, default "use"
        A name of :data:`transferkit.text.TEXT_ENCODERS`; it must cover the language.
    progress : callable or None, default None
        ``progress(done, total)`` while verses not yet cached are encoded.
    """
    from transferkit.text import encode_texts

    texts = verses.texts(language)[rows].tolist()
    return encode_texts(
        texts, encoder, language=BIBLE_LANGUAGES[language], progress=progress
    ).astype(np.float64)


_verse_maps: dict[tuple, np.ndarray] = {}

#: Values of the ``align`` option of the pair: how the target language is brought to the source's.
BIBLE_ALIGNMENTS = ("none", "procrustes")


def fit_verse_map(
    verses: BibleVerses,
    rows: np.ndarray,
    source: str,
    target: str,
    encoder: str = "use",
) -> np.ndarray:
    """The orthogonal map W sending ``target``-language embeddings to the ``source`` language's.

    Orthogonal Procrustes (Schönemann 1966; Smith et al. 2017) on the verse pairs ``rows``: each
    verse in both languages is one dictionary pair, no label is used. With ``X_target @ W`` a
    Spanish verse lands next to its English original, as far as one rotation can bring it.
    :func:`transferkit.crosslingual.fit_procrustes` solves it.

    Parameters
    ----------
    verses : BibleVerses
    rows : int array
        The verse pairs to fit on (the training chapters: never a verse that is scored).
    source, target : {"english", "spanish"}
    encoder : str, default "use"

    Returns
    -------
    array of shape (dim, dim)
    """
    from transferkit.crosslingual import fit_procrustes

    X_target = encode_verses(verses, rows, target, encoder)
    X_source = encode_verses(verses, rows, source, encoder)
    pairs = np.stack([np.arange(len(rows))] * 2, axis=1)
    return fit_procrustes(X_target, X_source, pairs).matrix.astype(np.float64)


def _check_label(label: str) -> None:
    if label not in BIBLE_LABELS:
        raise InvalidParameterError(
            f"Unknown Bible label {label!r}; choose one of {', '.join(BIBLE_LABELS)}."
        )


def _bible_pair(
    source: str,
    target: str,
    *,
    data_home: str | os.PathLike[str] | None = None,
    random_state: RandomState = None,
    label: str = "genre",
    encoder: str = "use",
    n_source: int | None = 4000,
    n_target: int | None = 4000,
    test_size: float = 0.3,
    split_seed: int = 0,
    align: str = "none",
    align_pairs: int | None = None,
    parallel: bool | int = False,
) -> TransferProblem:
    """load_pair("bible-en-es", source, target): train chapters in the source language, labelled;
    test chapters in the target language, unlabelled for adaptation and scored (transductive)."""
    _check_label(label)  # before the data are read
    if align not in BIBLE_ALIGNMENTS:
        raise InvalidParameterError(
            f"Unknown align {align!r}; choose one of {', '.join(BIBLE_ALIGNMENTS)}."
        )
    if align_pairs is not None and align != "procrustes":
        raise InvalidParameterError(
            f"align_pairs={align_pairs!r} sets how many verse pairs the Procrustes map is fitted "
            "on; it applies to align='procrustes' only."
        )
    verses = load_bible(data_home)
    labels = verses.labels(label)
    test = split_by_chapter(verses, test_size, split_seed)
    rng = as_generator(random_state)
    train_rows = np.flatnonzero(~test)
    test_rows = np.flatnonzero(test)
    source_rows = train_rows[stratified_sample(labels[train_rows], n_source, rng, "n_source")]
    target_rows = test_rows[stratified_sample(labels[test_rows], n_target, rng, "n_target")]
    logger.info(
        "bible-en-es %s -> %s: encoding %d + %d verses with %r (cached after the first time)",
        source,
        target,
        len(source_rows),
        len(target_rows),
        encoder,
    )
    X_target = encode_verses(verses, target_rows, target, encoder)
    rotation = None
    if align == "procrustes":
        map_rows = train_rows
        if align_pairs is not None:  # drawn with the split's seed: every cell shares the map
            n_pairs = check_count(align_pairs, "align_pairs", 2)
            if n_pairs > len(train_rows):
                raise InvalidParameterError(
                    f"align_pairs={n_pairs} is more than the {len(train_rows):,} verse pairs of "
                    f"the training chapters; give at most {len(train_rows):,}, or None for all."
                )
            map_rows = np.sort(
                np.random.default_rng(split_seed).choice(train_rows, n_pairs, replace=False)
            )
        key = (verses.ref.tobytes(), float(test_size), split_seed, source, target, encoder)
        key += (len(map_rows),)
        if key not in _verse_maps:
            _verse_maps.clear()  # one map at a time: the suite's cells share it
            _verse_maps[key] = fit_verse_map(verses, map_rows, source, target, encoder)
        rotation = _verse_maps[key]
        X_target = X_target @ rotation
    # the translation pairs of the training chapters whose source verse is not a labelled row
    pair_rows = np.setdiff1d(train_rows, source_rows)
    if not isinstance(parallel, bool):  # that many of them, drawn after the source and target
        n_pairs = check_count(parallel, "parallel", 1)
        if n_pairs > len(pair_rows):
            raise InvalidParameterError(
                f"parallel={n_pairs} is more than the {len(pair_rows):,} verse pairs of the "
                "training chapters left after the labelled source verses; give at most "
                f"{len(pair_rows):,}, or True for all of them."
            )
        pair_rows = np.sort(rng.choice(pair_rows, size=n_pairs, replace=False))
    problem = TransferProblem(
        X_source=encode_verses(verses, source_rows, source, encoder),
        y_source=labels[source_rows],
        X_target=X_target,
        y_target=labels[target_rows],
        name="bible-en-es",
        source_name=source,
        target_name=target,
        metadata={
            "dataset": "bible-en-es",
            "languages": {"source": BIBLE_LANGUAGES[source], "target": BIBLE_LANGUAGES[target]},
            "label": label,
            "encoder": encoder,
            "test_size": float(test_size),
            "split_seed": split_seed,
            "align": align,
            "source_refs": verses.ref[source_rows].tolist(),
            "target_refs": verses.ref[target_rows].tolist(),
            "protocol": (
                f"split by chapter ({test_size:.0%} of each book's chapters to test, seed "
                f"{split_seed}); source = {source} verses of the training chapters, labelled; "
                f"target = {target} verses of the test chapters, unlabelled for adaptation and "
                "the evaluation set (transductive)"
                + (
                    "; target mapped to the source language by orthogonal Procrustes on "
                    + (
                        "the training chapters' verse pairs"
                        if align_pairs is None
                        else f"{align_pairs} of the training chapters' verse pairs (drawn with "
                        "the split seed)"
                    )
                    + " (unlabelled parallel text)"
                    if align == "procrustes"
                    else ""
                )
                + (
                    f"; parallel corpus: {len(pair_rows)} other verse pairs of the training "
                    "chapters"
                    + ("" if parallel is True else ", drawn with the seed")
                    + ", unlabelled"
                    if parallel
                    else ""
                )
            ),
        },
    )
    if not parallel:
        return problem
    from transferkit.crosslingual.distillation import with_parallel_corpus

    X_pairs_target = encode_verses(verses, pair_rows, target, encoder)
    return with_parallel_corpus(
        problem,
        encode_verses(verses, pair_rows, source, encoder),
        X_pairs_target if rotation is None else X_pairs_target @ rotation,
    )
