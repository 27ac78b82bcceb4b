"""``transferkit fewshot``: N-way K-shot episodes on a user's own labelled file.

Reads a features file (``.csv``/``.tsv`` with a ``label`` column, ``.npz`` with ``X`` and ``y``,
svmlight, ``.mat``), a table of texts (``--text-column``, embedded by ``--encoder``) or a folder
of images with one sub-folder per class (described by ``--backbone``), draws
``--episodes`` seeded episodes and prints each method's mean accuracy with its 95 % confidence
interval. ``--queries`` draws the queries from a second file (another domain, same classes).

Examples
--------
transferkit fewshot features.csv --way 5 --shot 1
transferkit fewshot verses.tsv --text-column text --encoder use --shot 5 --method transductive
transferkit fewshot shots.npz --queries other_camera.npz --method prototypes --method linear_probe --json
transferkit fewshot photos/studio --queries photos/phone --shot 5
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
    from transferkit.fewshot.tasks import task_from_files
    from transferkit.registry import make_method

    methods = methods or DEFAULT_METHODS
    check_family(methods, "fewshot", "--method", "few-shot method")
    bar = progress_bar(None, "reading", quiet=quiet)

    folders = Path(shots).is_dir()
    if folders:
        require_torch("A folder of images")

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
