"""Speed of the text encoders: sentences per second encoded, then read back from the cache.

Usage: nice -n 10 python benchmarks/text_speed.py [--n 1000] [--n-slow 200] [--encoders use,e5]

Texts: ``--n`` English and ``--n`` Spanish Bible verses (drawn with a fixed seed from
``$TRANSFERKIT_DATA/bible_en_es/bible_en_es.tsv``) for the multilingual encoders (use, e5), the
English ones for the English encoders (minilm, glove, spacy-en), the Spanish ones for spacy-fr
(a speed measure only: its vectors are French). e5 gets ``--n-slow`` verses per language. Each
encoder loads first (timed apart), then encodes into a fresh temporary cache, then a second
call reads every row back from that cache. Every encoder runs on one thread. Encoders whose
package is missing are skipped with a note. The word-vector encoders skip the few verses with no
word in their vocabulary (lists of names; encoding one is an error), and the table says how many.

Besides wall time, the table gives the process's CPU time: on a machine shared with other work,
texts per CPU second is what one idle core would do (every encoder runs on one thread).
"""

from __future__ import annotations

import argparse
import csv
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from transferkit.datasets import get_data_home
from transferkit.exceptions import DataFormatError, MissingDependencyError
from transferkit.text import TEXT_ENCODERS, encode_texts
from transferkit.text.encoders import get_encoder

MULTILINGUAL = {"use", "e5"}
SLOW = {"e5"}
WORD_AVERAGES = {"glove", "spacy-en", "spacy-fr"}


def encodable(texts: list[str], name: str) -> list[str]:
    """The texts the encoder gives a vector (a word-vector average needs one known word)."""
    keep = []
    for text in texts:
        try:
            encode_texts([text], name, use_cache=False)
        except DataFormatError:
            continue
        keep.append(text)
    return keep


def bible_verses(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """``n`` English verses and their ``n`` Spanish translations, drawn at random."""
    path = Path(get_data_home()) / "bible_en_es" / "bible_en_es.tsv"
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    rows = [row for row in rows if row["english"].strip() and row["spanish"].strip()]
    pick = np.random.default_rng(seed).choice(len(rows), size=min(n, len(rows)), replace=False)
    return [rows[i]["english"] for i in pick], [rows[i]["spanish"] for i in pick]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000, help="verses per language")
    parser.add_argument("--n-slow", type=int, default=200, help="verses per language for e5")
    parser.add_argument("--encoders", default=",".join(TEXT_ENCODERS))
    args = parser.parse_args()
    english, spanish = bible_verses(args.n)
    print(f"machine: {platform.processor() or platform.machine()}, 1 thread per encoder")
    print(
        "| encoder | texts | load s | encode s (CPU s) | texts/s | texts per CPU s "
        "| cached read s | cached texts/s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in args.encoders.split(","):
        n = args.n_slow if name in SLOW else args.n
        if name in MULTILINGUAL:
            texts = english[:n] + spanish[:n]
        elif name == "spacy-fr":
            texts = spanish[:n]
        else:
            texts = english[:n]
        spec = get_encoder(name)
        try:
            started = time.perf_counter()
            encode_texts(texts[:1], name, use_cache=False)  # loads the model
            load = time.perf_counter() - started
        except MissingDependencyError as error:
            print(f"| {name} | skipped: {error} |")
            continue
        note = ""
        if name in WORD_AVERAGES:
            kept = encodable(texts, name)
            note = f" ({len(texts) - len(kept)} without a known word left out)"
            texts = kept
        with tempfile.TemporaryDirectory() as cache:
            started, cpu = time.perf_counter(), time.process_time()
            first = encode_texts(texts, name, cache_dir=cache, batch_size=spec.batch_size)
            encode, encode_cpu = time.perf_counter() - started, time.process_time() - cpu
            started = time.perf_counter()
            again = encode_texts(texts, name, cache_dir=cache)
            cached = time.perf_counter() - started
        assert np.array_equal(first, again)
        print(
            f"| {name} | {len(texts)}{note} | {load:.1f} | {encode:.1f} ({encode_cpu:.1f}) "
            f"| {len(texts) / encode:.0f} | {len(texts) / encode_cpu:.0f} | {cached:.3f} "
            f"| {len(texts) / cached:,.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
