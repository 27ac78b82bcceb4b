"""Cross-lingual documents, Bible English -> Spanish: zero-shot, adaptation on top, retrieval.

Data
----
``bible_en_es/bible_en_es.tsv`` of the data home (31,077 parallel verses, World English Bible and
Reina-Valera 1909), split by chapter (30% of each book's chapters to test, split seed 0, see
``transferkit.datasets.bible``), as sentence embeddings of a multilingual encoder (cached on disk
by ``transferkit.text``): USE (512-d) by default, ``--encoder e5`` (multilingual-e5-small, 384-d)
or ``--encoder use+e5`` (both side by side, each part at unit length). USE encodes the 62,154
texts in about 3 minutes; e5 about a dozen verses per CPU second, hence ``--align-train``.

Classification protocol (the ``bible-en-es`` pair ``english:spanish``)
----------------------------------------------------------------------
Label: the genre group of the book (6 classes). Source: ``--n-source`` English verses of the
training chapters, drawn in class proportions, labelled. Target: ``--n-target`` Spanish verses of
the test chapters, drawn likewise, unlabelled for adaptation and scored (transductive). Classifier:
logistic regression, C = 1. Per seed (the draws and the methods' seeds):

* English reference: the source classifier on the *same* target verses in English (the
  in-language accuracy, no language change);
* zero-shot: the same classifier on the Spanish verses (``source_only``);
* each adaptation method, and per-language mean-centring (each language's embeddings minus its
  own mean, a classifier on the centred source);
* gap closed: (adapted - zero-shot) / (English - zero-shot);
* all of it again with the Spanish embeddings rotated into the English space by orthogonal
  Procrustes fitted on the verse pairs of the training chapters (``align="procrustes"``: unlabelled
  parallel text, a resource beyond the zero-shot setting; no test verse is used): all of them, or
  ``--align-train`` of them drawn with seed 0, the draw of ``--retrieval-train``;
* ``parallel_distillation`` (``transferkit.crosslingual.ParallelDistillation``): the English
  classifier labels the English side of the training chapters' other verse pairs (every pair
  whose English verse is not a labelled source row), and a classifier learns the Spanish side
  with those labels, the labelled English verses beside them (unlabelled parallel text, as
  Procrustes; in the procrustes rows the Spanish side is rotated like the target).

Retrieval protocol
------------------
Every verse of the test chapters (9,825): for each Spanish verse, find its English original among
all of them (and the reverse); P@1 with cosine nearest neighbour (NN) and CSLS (k = 10). Rows: raw
USE; each language centred on the mean of its *training-chapter* verses; orthogonal Procrustes
learnt on the training chapters' verse pairs (embeddings normalised: unit length, centred, unit
length; ``transferkit.crosslingual``). No test verse is used to fit anything.

Run (about 8 minutes on 2 shared cores once the embeddings are cached; writes
``benchmarks/results/bible/bible.json`` and prints Markdown tables):

    TRANSFERKIT_DATA=../shared/datasets PYTHONPATH=src python benchmarks/bible.py

The classification with both encoders side by side, the map on the 6,000 pairs the retrieval rows
of ``--retrieval-train 6000`` encoded:

    TRANSFERKIT_DATA=../shared/datasets PYTHONPATH=src python benchmarks/bible.py \
        --skip-retrieval --skip-distillation --encoder use+e5 --align-train 6000 \
        --out benchmarks/results/bible/classification-use+e5.json
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

import transferkit.self_training  # noqa: F401  (registers self_training)
from transferkit.crosslingual import (
    fit_procrustes,
    parallel_corpus,
    retrieve,
    with_parallel_corpus,
)
from transferkit.datasets import load_bible, load_pair, split_by_chapter
from transferkit.datasets.bible import encode_verses, fit_verse_map
from transferkit.registry import make_classifier, make_method
from transferkit.text import get_encoder

METHODS = ("coral", "sa", "ot", "label_shift", "self_training")
#: The target as encoded ("none"), and rotated into English by Procrustes on the training
#: chapters' verse pairs ("procrustes", unlabelled parallel text).
ALIGNMENTS = ("none", "procrustes")
RESULTS = Path(__file__).resolve().parent / "results" / "bible"


def training_pairs(n: int | None) -> np.ndarray:
    """Rows of the training chapters' verse pairs behind a Procrustes map (sorted).

    All of them (None), or ``n`` drawn with seed 0: one draw for the retrieval and the
    classification, so a map on the pairs the retrieval encoded needs no new embedding.
    """
    verses = load_bible()
    train_rows = np.flatnonzero(~split_by_chapter(verses, 0.3, random_state=0))
    if n is None:
        return train_rows
    return np.sort(np.random.default_rng(0).choice(train_rows, n, replace=False))


@functools.lru_cache(maxsize=1)
def spanish_to_english(encoder: str, n_pairs: int | None) -> np.ndarray:
    """The orthogonal map of the Spanish embeddings onto the English ones, on the training pairs."""
    return fit_verse_map(load_bible(), training_pairs(n_pairs), "english", "spanish", encoder)


def classification(seed: int, args: argparse.Namespace, align: str) -> dict:
    """Every method's Spanish accuracy for one seed, with the English reference.

    ``align="procrustes"``: the Spanish embeddings times the orthogonal map of
    :func:`transferkit.datasets.bible.fit_verse_map` on ``training_pairs(args.align_train)``; with
    every pair this is the loader's ``align="procrustes"`` exactly.
    """
    problem = load_pair(
        "bible-en-es",
        "english",
        "spanish",
        random_state=seed,
        label=args.label,
        encoder=args.encoder,
        n_source=args.n_source,
        n_target=args.n_target,
        parallel=not args.skip_distillation,
    )
    if align == "procrustes":
        rotation = spanish_to_english(args.encoder, args.align_train)
        problem = dataclasses.replace(
            problem,
            X_target=problem.X_target @ rotation,
            metadata={**problem.metadata, "align": align, "align_train": args.align_train},
        )
        if not args.skip_distillation:
            pairs_source, pairs_target = parallel_corpus(problem)
            problem = with_parallel_corpus(problem, pairs_source, pairs_target @ rotation)
    verses = load_bible()
    position = {ref: row for row, ref in enumerate(verses.ref)}
    rows = np.array([position[ref] for ref in problem.metadata["target_refs"]])
    X_english = encode_verses(verses, rows, "english", encoder=args.encoder)
    y = problem.y_target
    accuracy: dict[str, float] = {}
    seconds: dict[str, float] = {}

    start = time.perf_counter()
    source_only = make_method("source_only", {}, "logreg", seed).fit(problem)
    seconds["source_only"] = time.perf_counter() - start
    accuracy["english_reference"] = float(np.mean(source_only.predict(X_english) == y))
    accuracy["source_only"] = float(np.mean(source_only.predict(problem.X_target) == y))

    start = time.perf_counter()
    centred = make_classifier("logreg", seed).fit(
        problem.X_source - problem.X_source.mean(axis=0), problem.y_source
    )
    prediction = centred.predict(problem.X_target - problem.X_target.mean(axis=0))
    seconds["centring"] = time.perf_counter() - start
    accuracy["centring"] = float(np.mean(prediction == y))

    methods = METHODS if args.skip_distillation else (*METHODS, "parallel_distillation")
    for name in methods:
        start = time.perf_counter()
        model = make_method(name, {}, "logreg", seed).fit(problem)
        accuracy[name] = float(np.mean(model.predict(problem.X_target) == y))
        seconds[name] = time.perf_counter() - start
        print(
            f"  {align} seed {seed} {name}: {accuracy[name]:.4f} ({seconds[name]:.0f} s)",
            flush=True,
        )
    return {"seed": seed, "align": align, "accuracy": accuracy, "fit_seconds": seconds}


def retrieval(encoder: str = "use", n_train: int | None = None) -> dict:
    """P@1 of finding each test verse's translation, both directions, NN and CSLS.

    ``n_train``: the Procrustes map (and the centring means) from that many verses of the training
    chapters drawn with seed 0 (None: all of them). A retrieved verse counts as found when it is
    the query's own translation ("P@1"), and, in "text P@1", also when its text is that of the
    translation (a word-for-word copy of it elsewhere in the test chapters).
    """
    verses = load_bible()
    test_rows = np.flatnonzero(split_by_chapter(verses, 0.3, random_state=0))
    train_rows = training_pairs(n_train)
    rows = np.concatenate([train_rows, test_rows])
    english, spanish = np.zeros((2, len(verses), get_encoder(encoder).dim))
    english[rows] = encode_verses(verses, rows, "english", encoder=encoder)
    spanish[rows] = encode_verses(verses, rows, "spanish", encoder=encoder)
    texts = {language: verses.texts(language)[test_rows] for language in ("english", "spanish")}

    def precision_at_1(queries: np.ndarray, targets: np.ndarray, method: str) -> float:
        found, _ = retrieve(queries, targets, k=1, method=method)
        return float(np.mean(found[:, 0] == np.arange(len(queries))))

    def text_precision_at_1(queries: np.ndarray, targets: np.ndarray, language: str) -> float:
        found, _ = retrieve(queries, targets, k=1, method="csls")
        return float(np.mean(texts[language][found[:, 0]] == texts[language]))

    spaces = {
        "raw": (english[test_rows], spanish[test_rows]),
        "centred": (
            english[test_rows] - english[train_rows].mean(axis=0),
            spanish[test_rows] - spanish[train_rows].mean(axis=0),
        ),
    }
    # normalise each language with the statistics of its training chapters only; encoders side
    # by side (use+e5) are normalised part by part, then joined with equal weights
    spec = get_encoder(encoder)
    widths = [get_encoder(part).dim for part in spec.parts] or [spec.dim]
    edges = np.cumsum([0, *widths])

    def normalise_like_train(X: np.ndarray, train: np.ndarray) -> np.ndarray:
        blocks = []
        for start, stop in zip(edges[:-1], edges[1:], strict=True):
            part, reference = X[:, start:stop], train[:, start:stop]
            unit = part / np.linalg.norm(part, axis=1, keepdims=True)
            train_unit = reference / np.linalg.norm(reference, axis=1, keepdims=True)
            centred = unit - train_unit.mean(axis=0)
            blocks.append(centred / np.linalg.norm(centred, axis=1, keepdims=True))
        return np.hstack(blocks) / np.sqrt(len(blocks))

    E_train = normalise_like_train(english[train_rows], english[train_rows])
    S_train = normalise_like_train(spanish[train_rows], spanish[train_rows])
    pairs = np.stack([np.arange(len(train_rows))] * 2, axis=1)
    mapping = fit_procrustes(E_train, S_train, pairs)
    spaces["procrustes"] = (
        mapping.transform_source(normalise_like_train(english[test_rows], english[train_rows])),
        mapping.transform_target(normalise_like_train(spanish[test_rows], spanish[train_rows])),
    )
    table = {}
    for space, (E, S) in spaces.items():
        for method in ("nn", "csls"):
            table[f"{space}/{method}"] = {
                "spanish_to_english": precision_at_1(S, E, method),
                "english_to_spanish": precision_at_1(E, S, method),
            }
            print(f"  retrieval {space}/{method}: {table[f'{space}/{method}']}", flush=True)
        table[f"{space}/csls-text"] = {
            "spanish_to_english": text_precision_at_1(S, E, "english"),
            "english_to_spanish": text_precision_at_1(E, S, "spanish"),
        }
    duplicates = {
        language: int(len(test_rows) - len(set(verses.texts(language)[test_rows])))
        for language in ("english", "spanish")
    }
    return {
        "encoder": encoder,
        "n_test_verses": int(len(test_rows)),
        "n_train_pairs": int(len(train_rows)),
        "duplicate_texts": duplicates,
        "precision_at_1": table,
    }


def classification_table(args: argparse.Namespace) -> dict:
    """Every seed and alignment; prints the Markdown table; returns runs, means and gap closed."""
    runs = [classification(seed, args, align) for align in ALIGNMENTS for seed in args.seeds]
    # rows: "<align>/<method>"; the English reference is the same for both alignments
    names = [
        f"{r['align']}/{name}" for r in runs if r["seed"] == args.seeds[0] for name in r["accuracy"]
    ]
    names = [n for n in names if n != "procrustes/english_reference"]

    def values(key: str) -> list[float]:
        align, name = key.split("/")
        return [r["accuracy"][name] for r in runs if r["align"] == align]

    mean = {name: float(np.mean(values(name))) for name in names}
    std = {name: float(np.std(values(name))) for name in names}
    zero_shot = mean["none/source_only"]
    gap = mean["none/english_reference"] - zero_shot
    closed = {name: (mean[name] - zero_shot) / gap for name in names}
    print("\n| target | method | accuracy (mean ± std, %) | share of the gap closed |")
    print("| --- | --- | --- | --- |")
    for name in names:
        align, method = name.split("/")
        target = "English (same verses)" if method == "english_reference" else f"Spanish, {align}"
        print(
            f"| {target} | {method} | {100 * mean[name]:.1f} ± {100 * std[name]:.1f} | "
            f"{closed[name]:+.0%} |"
        )
    return {
        "encoder": args.encoder,
        "align_train_pairs": int(len(training_pairs(args.align_train))),
        "runs": runs,
        "mean": mean,
        "std": std,
        "gap_closed": closed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--label", default="genre", choices=["genre", "testament", "book"])
    parser.add_argument("--n-source", type=int, default=4000)
    parser.add_argument("--n-target", type=int, default=4000)
    parser.add_argument(
        "--encoder",
        default="use",
        help="text encoder of the classification, e.g. use, e5 or use+e5 (side by side)",
    )
    parser.add_argument(
        "--align-train",
        type=int,
        default=None,
        help="verses of the training chapters behind the classification's Procrustes map "
        "(default: all; drawn like --retrieval-train's)",
    )
    parser.add_argument(
        "--skip-distillation",
        action="store_true",
        help="leave out parallel_distillation (it encodes every training chapter's verse pair)",
    )
    parser.add_argument("--skip-retrieval", action="store_true")
    parser.add_argument("--skip-classification", action="store_true")
    parser.add_argument(
        "--retrieval-encoders",
        nargs="+",
        default=["use"],
        help="text encoders of the retrieval rows, e.g. use e5 use+e5 (side by side)",
    )
    parser.add_argument(
        "--retrieval-train",
        type=int,
        default=None,
        help="verses of the training chapters behind the Procrustes map (default: all)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "bible.json")
    args = parser.parse_args()

    started = time.perf_counter()
    result: dict = {
        "command": " ".join(["python benchmarks/bible.py", *sys.argv[1:]]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.python_version()}",
    }
    if not args.skip_classification:
        result["classification"] = classification_table(args)
    if not args.skip_retrieval:
        result["retrieval"] = {
            encoder: retrieval(encoder, args.retrieval_train) for encoder in args.retrieval_encoders
        }
    result["wall_seconds"] = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

    if "retrieval" in result:
        print("\n| encoder | space | criterion | P@1 es→en | P@1 en→es |")
        print("| --- | --- | --- | --- | --- |")
        for encoder, table in result["retrieval"].items():
            for key, row in table["precision_at_1"].items():
                space, method = key.split("/")
                criterion = "CSLS, text" if method == "csls-text" else method.upper()
                print(
                    f"| {encoder} | {space} | {criterion} | {row['spanish_to_english']:.3f} | "
                    f"{row['english_to_spanish']:.3f} |"
                )
    print(f"\nwall time {result['wall_seconds']:.0f} s; JSON in {args.out}")


if __name__ == "__main__":
    main()
