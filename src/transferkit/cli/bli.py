"""``transferkit bli``: bilingual lexicon induction from named word vectors and a FreeDict dictionary.

Loads the two vocabularies and the dictionary's single-word pairs, splits them by source word,
fits one method (or several, side by side) and prints P@1/5/10 with NN and CSLS retrieval;
``--translate`` lists the best translations of given words with the fitted map. The protocol is
that of :mod:`transferkit.crosslingual.bli`.

Examples
--------
transferkit bli
transferkit bli --method procrustes --method use --retrieval csls
transferkit bli --vocab 5000 --test-words 300 --translate house --translate dog --json
"""

from __future__ import annotations

import json
from typing import Any

import click

from transferkit.cli.options import progress_bar

_DEFAULT_SOURCE = "glove"
_DEFAULT_TARGET = "spacy-fr"


@click.command("bli")
@click.option(
    "--source",
    default=_DEFAULT_SOURCE,
    show_default=True,
    help="Source word vectors: glove (English) or spacy-fr (French).",
)
@click.option(
    "--target",
    default=_DEFAULT_TARGET,
    show_default=True,
    help="Target word vectors: glove or spacy-fr.",
)
@click.option(
    "--dictionary",
    default="eng-fra",
    show_default=True,
    help="FreeDict dictionary of the data home, source language first: eng-fra, fra-eng, "
    "eng-deu, eng-spa (the vectors must match its languages).",
)
@click.option(
    "--method",
    "methods",
    multiple=True,
    help="A method (repeat for several, side by side): procrustes (default), self_learning, "
    "unsupervised, gw, identical, use, use_procrustes, joint_procrustes, joint_self_learning, "
    "joint_use_seed.",
)
@click.option(
    "--retrieval",
    "retrievals",
    multiple=True,
    help="nn or csls (repeat for both; default both).",
)
@click.option(
    "--test-words", type=click.IntRange(min=1), default=1500, show_default=True,
    help="Test source words; the rest of the dictionary is the seed dictionary.",
)  # fmt: skip
@click.option(
    "--vocab", type=click.IntRange(min=10), default=20_000, show_default=True,
    help="Most frequent words kept on each side (search vocabulary, CSLS pool).",
)  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split.")
@click.option(
    "--max-iter", type=click.IntRange(min=1), default=10, show_default=True,
    help="Self-learning iterations.",
)  # fmt: skip
@click.option(
    "--translate",
    "words",
    multiple=True,
    help="A source word to translate with the fitted map (repeat for several).",
)
@click.option("--top", type=click.IntRange(min=1), default=5, show_default=True,
              help="Translations listed per --translate word.")  # fmt: skip
@click.option("--cache-dir", type=click.Path(file_okay=False), help="USE vectors' cache root.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the task, scores and translations as JSON."
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def bli_command(
    source: str,
    target: str,
    dictionary: str,
    methods: tuple[str, ...],
    retrievals: tuple[str, ...],
    test_words: int,
    vocab: int,
    seed: int,
    max_iter: int,
    words: tuple[str, ...],
    top: int,
    cache_dir: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Bilingual lexicon induction: align two languages' word vectors and score P@1/5/10."""
    from transferkit.crosslingual.bli import (
        BLI_METHODS,
        check_choice,
        check_method_dependencies,
        load_bli_task,
        run_bli,
        translate,
    )
    from transferkit.crosslingual.retrieval import RETRIEVAL_METHODS

    methods = tuple(check_choice(m, list(BLI_METHODS), "--method") for m in methods) or (
        "procrustes",
    )
    retrievals = tuple(
        check_choice(r, list(RETRIEVAL_METHODS), "--retrieval") for r in retrievals
    ) or tuple(RETRIEVAL_METHODS)
    for method in methods:
        check_method_dependencies(method)

    bar = progress_bar(len(methods) + 1, "loading vectors and dictionary", quiet=quiet)
    task = load_bli_task(source, target, dictionary, test_words, seed, vocab)
    bar.update(1)

    def encoding(done: int, total: int, bar: Any = bar) -> None:
        bar.set_description(f"USE encoding {done}/{total} words")

    results = []
    for method in methods:
        bar.set_description(f"fitting {method}")

        def fitting(done: int, total: int, bar: Any = bar, method: str = method) -> None:
            bar.set_description(f"fitting {method}: self-learning {done}/{total}")

        results.append(
            run_bli(
                task,
                method,
                retrievals,
                max_iter=max_iter,
                progress=encoding,
                fit_progress=fitting,
            )
        )
        bar.update(1)
    bar.close()
    translations = {
        result.method: translate(task, result, list(words), k=top, retrieval=retrievals[-1])
        for result in results
        if words
    }
    if as_json:
        payload = {
            "source": source,
            "target": target,
            "dictionary": dictionary,
            "vocab": vocab,
            "seed": seed,
            "source_words": len(task.source),
            "source_dim": task.source.dim,
            "target_dim": task.target.dim,
            "target_words": len(task.target),
            "train_pairs": len(task.train_pairs),
            "test_pairs": len(task.test_pairs),
            "test_words": len({s for s, _ in task.test_words}),
            "results": [result.to_dict() for result in results],
            "translations": translations,
        }
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    click.echo(task.describe() + ".")
    ks = [key for key in results[0].scores[retrievals[0]] if key.startswith("P@")]
    header = ["method", "supervision"] + [f"{r.upper()} {k}" for r in retrievals for k in ks]
    rows = [
        [result.method, BLI_METHODS[result.method][1]]
        + [f"{result.scores[r][k]:.3f}" for r in retrievals for k in ks]
        + [f"{result.fit_seconds:.1f}"]
        for result in results
    ]
    header.append("fit s")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    for method, found in translations.items():
        click.echo(f"Translations ({method}, {retrievals[-1].upper()}, top {top}):")
        for word, candidates in found.items():
            click.echo(f"  {word}: {', '.join(candidates)}")
