"""Bilingual lexicon induction (BLI): how often a word's translation is among its k best matches.

P@k (precision at k) over the test source words: a hit when any gold translation of the word is
among the k targets retrieved for it, by cosine (NN) or CSLS (the protocol of MUSE, Conneau et al.
2018, Sect. 4.1, and of Artetxe et al. 2018). The search vocabulary is the ``max_vocab`` most
frequent target words; a test word whose gold translations all lie outside it still counts (as a
miss), so the score is honest about coverage.

Examples
--------
>>> import numpy as np
>>> from transferkit.crosslingual.lexicon import evaluate_bli
>>> X = np.eye(3); Y = np.eye(3)
>>> evaluate_bli(X, Y, np.array([[0, 0], [1, 1], [2, 0]]), ks=(1,))
{'P@1': 0.6666666666666666, 'n_queries': 3}
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from transferkit.crosslingual.retrieval import as_embeddings, retrieve
from transferkit.exceptions import EmptyDomainError, InvalidParameterError


def pairs_to_indices(
    pairs: Iterable[tuple[str, str]], source_words: Sequence[str], target_words: Sequence[str]
) -> np.ndarray:
    """Word pairs as (source row, target row), keeping the pairs whose words both have a row.

    Parameters
    ----------
    pairs : iterable of (str, str)
    source_words, target_words : sequence of str
        The vocabularies, row order; a word listed twice maps to its first row.

    Raises
    ------
    EmptyDomainError
        A vocabulary is empty, or no pair has both its words in the vocabularies.
    """
    pairs = list(pairs)
    source_index: dict[str, int] = {}
    target_index: dict[str, int] = {}
    for index, words in ((source_index, source_words), (target_index, target_words)):
        for row, word in enumerate(words):
            index.setdefault(word, row)
    for side, index in (("source", source_index), ("target", target_index)):
        if not index:
            raise EmptyDomainError(
                f"The {side} vocabulary is empty: give the words of the {side} embeddings."
            )
    rows = sorted(
        {
            (source_index[s], target_index[t])
            for s, t in pairs
            if s in source_index and t in target_index
        }
    )
    if not rows:
        example = f" (the first pair is {pairs[0]!r})" if pairs else ""
        raise EmptyDomainError(
            f"None of the {len(pairs)} dictionary pairs has its source word in the source "
            f"vocabulary ({len(source_index)} words) and its target word in the target vocabulary "
            f"({len(target_index)} words){example}. Check that the dictionary's languages match the "
            "embeddings' and that both are lower-cased the same way."
        )
    return np.array(rows, dtype=np.int64)


def evaluate_bli(
    X: object,
    Y: object,
    pairs: object,
    ks: Sequence[int] = (1, 5, 10),
    method: str = "nn",
    csls_k: int = 10,
    max_vocab: int = 200_000,
    batch_size: int = 1024,
) -> dict[str, float]:
    """P@k of bilingual lexicon induction on the test ``pairs``.

    Parameters
    ----------
    X : array of shape (n_source, r)
        Source embeddings in the shared space (e.g. ``mapping.transform_source(X)``), rows in
        frequency order.
    Y : array of shape (n_target, r)
        Target embeddings in the shared space, rows in frequency order.
    pairs : int array of shape (n_pairs, 2)
        Gold (source row, target row) test pairs; a source may have several gold targets.
    ks : sequence of int, default (1, 5, 10)
    method : {"nn", "csls"}, default "nn"
    csls_k : int, default 10
    max_vocab : int, default 200000
        Search among the first ``max_vocab`` target rows; CSLS's target hubness is measured
        against the first ``max_vocab`` source rows (MUSE uses 200,000).
    batch_size : int, default 1024

    Returns
    -------
    dict
        ``"P@k"`` for each k (a fraction in [0, 1]) and ``"n_queries"``, the test source words.
    """
    X = as_embeddings(X, "source embeddings")
    Y = as_embeddings(Y, "target embeddings")
    pairs = np.asarray(pairs)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or pairs.shape[0] == 0:
        raise EmptyDomainError(
            f"pairs must be a non-empty (n_pairs, 2) array of (source row, target row); got shape "
            f"{pairs.shape}. Build it with transferkit.crosslingual.pairs_to_indices."
        )
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise InvalidParameterError(f"ks must hold integers >= 1; got {ks!r}.")
    if isinstance(max_vocab, bool) or not isinstance(max_vocab, int) or max_vocab < 1:
        raise InvalidParameterError(f"max_vocab must be an integer >= 1; got {max_vocab!r}.")
    gold: dict[int, set[int]] = defaultdict(set)
    for source, target in pairs.tolist():
        gold[source].add(target)
    queries = sorted(gold)
    found, _ = retrieve(
        X[queries],
        Y[:max_vocab],
        k=ks[-1],
        method=method,
        csls_k=csls_k,
        query_pool=X[:max_vocab],
        batch_size=batch_size,
    )
    result: dict[str, float] = {}
    for k in ks:
        hits = sum(
            bool(gold[q] & set(row[:k].tolist())) for q, row in zip(queries, found, strict=True)
        )
        result[f"P@{k}"] = hits / len(queries)
    result["n_queries"] = len(queries)
    return result
