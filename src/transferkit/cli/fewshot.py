"""``transferkit fewshot``: N-way K-shot episodes on a user's own labelled file.

Reads a features file (``.csv``/``.tsv`` with a ``label`` column, ``.npz`` with ``X`` and ``y``,
svmlight, ``.mat``), a table of texts (``--text-column``, embedded by ``--encoder``) or a folder
of images with one sub-folder per class (described by ``--backbone``), draws
``--episodes`` seeded episodes and prints each method's mean accuracy with its 95 % confidence
interval. ``--queries`` draws the queries from a second file (another domain, same classes).
``--classify`` labels the rows of another file or folder with every row of SHOTS as the shots,
instead of drawing episodes, and ``--predictions`` writes each row's class under each method.

Examples
--------
transferkit fewshot features.csv --way 5 --shot 1
transferkit fewshot verses.tsv --text-column text --encoder use --shot 5 --method transductive
transferkit fewshot shots.npz --queries other_camera.npz --method prototypes --method linear_probe --json
transferkit fewshot photos/studio --queries photos/phone --shot 5
transferkit fewshot photos/five_each --classify photos/unsorted --predictions unsorted.csv
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from transferkit.cli.options import (
    check_family,
    labelled_file_options,
    progress_bar,
    reading_progress,
    require_torch,
)

DEFAULT_METHODS = ("prototypes", "transductive")


@click.command("fewshot")
@click.argument("shots", type=click.Path())
@click.option(
    "--queries",
    type=click.Path(),
    default=None,
    help="A second labelled file (or folder of images) the queries are drawn from (cross-domain "
    "episodes); default: the queries come from SHOTS, disjoint from each episode's shots.",
)
@click.option(
    "--classify",
    type=click.Path(),
    default=None,
    help="Label the rows of this file (or folder of images) instead of drawing episodes: every "
    "row of SHOTS is a shot, whatever their number per class. Its labels, if any, only score "
    "the methods.",
)
@click.option(
    "--predictions",
    type=click.Path(dir_okay=False),
    default=None,
    help="With --classify: write each row's class under each method to this CSV (item: the "
    "image's path inside the folder, or the row's position, 0 first).",
)
@labelled_file_options(
    "Pre-trained CNN whose features describe a SHOTS folder of images (one sub-folder per class)."
)
@click.option("--way", type=int, default=5, show_default=True, help="Classes per episode (N).")
@click.option("--shot", type=int, default=1, show_default=True, help="Shots per class (K).")
@click.option("--query", type=int, default=15, show_default=True, help="Queries per class.")
@click.option("--episodes", type=int, default=600, show_default=True, help="Episodes drawn.")
@click.option(
    "--method",
    "methods",
    multiple=True,
    help="A few-shot method (repeat for several): prototypes, transductive, linear_probe, "
    f"fewshot_finetune. Default: {', '.join(DEFAULT_METHODS)}.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the episodes.")
@click.option("--json", "as_json", is_flag=True, help="Print the task and the scores as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def fewshot_command(
    shots: str,
    queries: str | None,
    classify: str | None,
    predictions: str | None,
    text_column: str | None,
    label_column: str,
    encoder: str,
    backbone: str,
    way: int,
    shot: int,
    query: int,
    episodes: int,
    methods: tuple[str, ...],
    seed: int,
    as_json: bool,
    quiet: bool,
) -> None:
    """Few-shot evaluation: N-way K-shot episodes of a labelled file or folder of images, mean
    accuracy ± 95 % CI."""
    from transferkit.exceptions import InvalidParameterError
    from transferkit.fewshot.tasks import task_from_files
    from transferkit.registry import make_method

    methods = methods or DEFAULT_METHODS
    check_family(methods, "fewshot", "--method", "few-shot method")
    if classify is not None and queries is not None:
        raise InvalidParameterError(
            "--queries draws episodes' queries and --classify labels a file: give one of them."
        )
    if predictions is not None and classify is None:
        raise InvalidParameterError(
            "--predictions writes the classes of --classify's rows: give --classify."
        )
    folders = Path(shots).is_dir()
    if folders:
        require_torch("A folder of images")
    if classify is not None:
        _classify(
            shots, classify, predictions, methods, seed, as_json, quiet,
            text_column=text_column, label_column=label_column, encoder=encoder,
            backbone=backbone,
        )  # fmt: skip
        return
    bar = progress_bar(None, "reading", quiet=quiet)

    def encoding(done: int, total: int) -> None:
        bar.set_description(f"encoding {done}/{total} {'images' if folders else 'texts'}")

    try:
        task = task_from_files(
            shots,
            queries,
            text_column=text_column,
            label_column=label_column,
            encoder=encoder,
            backbone=backbone,
            n_way=way,
            k_shot=shot,
            n_query=query,
            n_episodes=episodes,
            random_state=seed,
            progress=encoding,
        )
        bar.reset(total=episodes * len(methods))
        results = []
        for name in methods:
            bar.set_description(name)
            method = make_method(name, random_state=seed)

            def advance(done: int, total: int, bar: Any = bar) -> None:
                bar.update(1)

            results.append({"method": name, **method.evaluate(task, progress=advance)})
    finally:
        bar.close()
    classes = sorted({str(c) for c in task.y_support})
    if as_json:
        payload = {
            "shots": shots,
            "queries": queries or shots,
            "n_way": way,
            "k_shot": shot,
            "n_query": query,
            "episodes": episodes,
            "seed": seed,
            "classes": classes,
            "encoder": encoder if text_column else None,
            "backbone": backbone if folders else None,
            "results": results,
        }
        click.echo(json.dumps(payload, indent=2))
        return
    where = (
        task.shots_domain if queries is None else f"{task.shots_domain} -> {task.queries_domain}"
    )
    click.echo(
        f"{way}-way {shot}-shot, {query} queries per class, {episodes} episodes (seed {seed}) on "
        f"{where}: {len(classes)} classes"
    )
    width = max(len(r["method"]) for r in results)
    for result in results:
        click.echo(
            f"  {result['method']:<{width}}  {100 * result['accuracy']:5.1f} % "
            f"± {100 * result['ci95']:.1f}"
        )


def _classify(
    shots: str,
    rows: str,
    predictions: str | None,
    methods: tuple[str, ...],
    seed: int,
    as_json: bool,
    quiet: bool,
    **reading: Any,
) -> None:
    """``--classify``: every row of SHOTS is a shot; each method labels the rows of ``rows``."""
    import csv

    import numpy as np

    from transferkit.datasets import item_names
    from transferkit.datasets.labelled import load_labelled_domains
    from transferkit.exceptions import InvalidParameterError
    from transferkit.registry import make_method

    folders = [Path(path).is_dir() for path in (shots, rows)]
    if folders[0] != folders[1]:
        raise InvalidParameterError(
            "Give SHOTS and --classify both as files or both as folders of images (SHOTS with "
            "one sub-folder per class)."
        )
    with reading_progress(folders[0], quiet) as encoding:
        (X_shots, y_shots), (X, y) = load_labelled_domains(
            [shots, rows],
            progress=encoding,
            needed_for="few-shot classification",
            labels_required=[True, False],
            **reading,
        )
    classes = np.unique(y_shots)
    if len(classes) < 2:
        raise InvalidParameterError(
            f"{shots} holds one class ({classes[0]}): few-shot classification needs at least two."
        )
    predicted: dict[str, np.ndarray] = {}
    for name in methods:
        method = make_method(name, random_state=seed)
        predicted[name] = np.asarray(method.fit(X_shots, y_shots, X_query=X).predict(X))
    labelled = y is not None
    scores = (
        {name: float(np.mean(p.astype(str) == y.astype(str))) for name, p in predicted.items()}
        if labelled
        else {}
    )
    counts = {str(c): int(n) for c, n in zip(*np.unique(y_shots, return_counts=True), strict=True)}
    if predictions is not None:
        with open(predictions, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["item", *methods])
            for item, *labels in zip(item_names(rows, len(X)), *predicted.values(), strict=True):
                writer.writerow([item, *labels])
    if as_json:
        payload = {
            "shots": shots,
            "classify": rows,
            "shots_per_class": counts,
            "rows": len(X),
            "labelled": labelled,
            "accuracy": scores,
            "predictions": predictions,
        }
        click.echo(json.dumps(payload, indent=2))
        return
    fewest, most = min(counts.values()), max(counts.values())
    per_class = f"{fewest}" if fewest == most else f"{fewest} to {most}"
    click.echo(
        f"{len(X)} {'labelled ' if labelled else ''}rows of {Path(rows).name} classified into "
        f"{len(counts)} classes from {Path(shots).name} ({per_class} shots per class)"
    )
    width = max(len(name) for name in methods)
    for name in methods:
        share = np.unique(predicted[name], return_counts=True)[1].max() / len(X)
        accuracy = f"{100 * scores[name]:5.1f} % right, " if labelled else ""
        click.echo(f"  {name:<{width}}  {accuracy}largest class {100 * share:.1f} % of the rows")
    if labelled:
        click.echo(f"({Path(rows).name}'s labels score the methods; they never read them)")
    if predictions is not None:
        click.echo(f"predictions: {predictions}")
