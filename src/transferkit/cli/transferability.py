"""``transferkit transferability``: which pre-trained backbone and layer to transfer from.

Scores every backbone × layer on a labelled target domain (LogME, H-score, LEEP, NCE), trains a
logistic-regression head on each to check them (Kendall's τ), and prints the table, best first.
The domain is a built-in one (``--domain``) or the user's own labelled images (``--folder``, one
sub-folder per class). Needs the deep extra (PyTorch) for the features; they are cached, so a
second run is quick.

Examples
--------
transferkit transferability --dataset office-caltech-images --domain webcam
transferkit transferability --domain dslr --layers penultimate,last_block,stage11 --json
transferkit transferability --folder photos/phone --per-class 30
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from transferkit.cli.options import progress_bar, split_list

_DATASETS = ("office-caltech-images",)
_SCORES = ("logme", "hscore", "leep", "nce")


@click.command("transferability")
@click.option(
    "--dataset",
    type=click.Choice(_DATASETS),
    default="office-caltech-images",
    show_default=True,
    help="An image dataset (the backbones read images).",
)
@click.option("--domain", help="The labelled target domain of --dataset, e.g. webcam.")
@click.option(
    "--folder",
    type=click.Path(exists=True, file_okay=False),
    help="Your own labelled target images instead: a folder with one sub-folder per class.",
)
@click.option(
    "--backbones",
    default="mobilenet_v2,efficientnet_lite0",
    show_default=True,
    help="Comma-separated pre-trained backbones.",
)
@click.option(
    "--layers",
    default="penultimate,last_block,logits",
    show_default=True,
    help="Comma-separated layers: penultimate, last_block, logits, or stage<k> (the pooled "
    "output of the first k stages).",
)
@click.option(
    "--scores",
    default=",".join(_SCORES),
    show_default=True,
    help="Comma-separated scores to compute.",
)
@click.option(
    "--per-class",
    type=click.IntRange(min=2),
    default=None,
    help="Draw at most this many images of each class (default: all).",
)
@click.option(
    "--check/--no-check",
    default=True,
    show_default=True,
    help="Train a head on each candidate (k-fold logistic regression) and report Kendall's τ.",
)
@click.option("--folds", type=click.IntRange(min=2), default=5, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds sampling and folds.")
@click.option("--device", default="cpu", show_default=True)
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Feature cache folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the ranking as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def transferability_command(
    dataset: str,
    domain: str | None,
    folder: str | None,
    backbones: str,
    layers: str,
    scores: str,
    per_class: int | None,
    check: bool,
    folds: int,
    seed: int,
    device: str,
    cache_dir: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Rank pre-trained backbones × layers for a labelled target domain, without fine-tuning."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    from transferkit.datasets.office import load_office_caltech_images, per_class_sample
    from transferkit.exceptions import InvalidParameterError
    from transferkit.transferability import backbone_candidates, rank_models

    chosen_scores = split_list(scores) or []
    unknown = [name for name in chosen_scores if name not in _SCORES]
    if unknown or not chosen_scores:
        raise InvalidParameterError(
            f"--scores: unknown score(s) {unknown or scores!r}; use some of {', '.join(_SCORES)}."
        )
    if (domain is None) == (folder is None):
        raise InvalidParameterError(
            "Say which labelled images: --domain NAME (of --dataset) or --folder DIR (one "
            "sub-folder per class), one of the two."
        )
    if folder is not None:
        from transferkit.datasets import load_image_folder

        images, y = load_image_folder(folder, labels_required=True)
    else:
        images, y = load_office_caltech_images(domain)
    where = folder if folder is not None else f"{dataset} {domain}"
    if per_class is not None:
        index = per_class_sample(y, per_class, np.random.default_rng(seed))
        images, y = images[index], y[index]
    names = split_list(backbones) or []
    wanted = split_list(layers) or []

    bar = progress_bar(None, f"features {Path(folder).name if folder else domain}", quiet=quiet)

    def report(done: int, total: int, bar: Any = bar) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    features, probabilities = backbone_candidates(
        images, names, wanted, cache_dir=cache_dir, device=device, progress=report
    )
    bar.close()
    bar = progress_bar(len(features), "scores" + (" and heads" if check else ""), quiet=quiet)
    # one BLAS thread, as `select` does: the heads are small fits, and more threads only spin
    # against other work on a shared machine
    with threadpool_limits(1):
        ranking = rank_models(
            features,
            y,
            source_probabilities=probabilities,
            scores=chosen_scores,
            check_accuracy=check,
            n_folds=folds,
            random_state=seed,
            progress=report,
        )
    bar.close()
    if as_json:
        payload = (
            {"folder": folder, "per_class": per_class}
            if folder is not None
            else {"dataset": dataset, "domain": domain, "per_class": per_class}
        )
        click.echo(json.dumps({**payload, **ranking.to_dict()}, indent=2))
        return
    click.echo(
        f"{where}: {len(y)} labelled images, {len(set(y.tolist()))} classes; "
        f"higher scores should mean better transfer"
    )
    order = ranking.ranked(chosen_scores[0])
    header = ["candidate", *chosen_scores] + (["head accuracy"] if check else [])
    rows = []
    for name in order:
        index = ranking.candidates.index(name)
        row = [name] + [f"{ranking.scores[s][index]:.3f}" for s in chosen_scores]
        if check and ranking.accuracy is not None and ranking.accuracy_std is not None:
            row.append(
                f"{100 * ranking.accuracy[index]:.1f} ± {100 * ranking.accuracy_std[index]:.1f}"
            )
        rows.append(row)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo(
            "  ".join(
                str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)
            ).rstrip()
        )
    if check:
        click.echo(
            f"Kendall's τ with the head accuracy ({folds}-fold logistic regression, seed {seed}):"
        )
        level = ranking.accuracy is not None and np.ptp(ranking.accuracy) == 0
        for score, (tau, p_value) in ranking.kendall.items():
            if tau != tau:  # NaN: the score, or the head accuracy, the same for every candidate
                what = "head accuracy" if level else "score"
                click.echo(f"  {score}: undefined (the same {what} for every candidate)")
            else:
                click.echo(f"  {score}: τ = {tau:.2f} (p = {p_value:.3f})")
