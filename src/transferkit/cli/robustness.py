"""``transferkit robustness``: how a user's own trained network holds up under attack and corruption.

MODEL is a network saved whole (``torch.save(model, path)``; ``--code`` names the file that
defines its class); DATA is a labelled folder of images (one sub-folder per class) or a labelled
data file of rows in [0, 1]. Images are read as pixels in [0, 1] and standardised inside the
network as it was trained (``--mean``, ``--std``), so every perturbation is measured in pixels.
The command prints the clean accuracy, the accuracy under FGSM or PGD at each ``--eps``
(:mod:`transferkit.robustness`), and under ImageNet-C's corruptions at each ``--severity``
(:func:`transferkit.datasets.corruptions.corrupt_photos`).

Examples
--------
transferkit robustness model.pt photos/test --eps 1/255,4/255 --rows 200
transferkit robustness net.pt digits/ --code net.py --image-size 28 --mean 0 --std 1 --eps 0.1,0.3
transferkit robustness model.pt photos/test --eps 0 --corruption all --severity 1,3,5 --json
"""

from __future__ import annotations

import json
import time
from typing import Any

import click

from transferkit.cli.networks import network_options, read_network
from transferkit.cli.options import (
    budgets_callback,
    device_option,
    norm_option,
    progress_bar,
    require_torch,
)

#: The corruptions ``--corruption all`` stands for (see transferkit.datasets.corruptions).
CORRUPTIONS = ("gaussian-noise", "blur", "rotation", "contrast")
#: Images drawn by ``--examples``.
EXAMPLES = 6


def _severities(ctx: click.Context, param: click.Parameter, value: str) -> list[int]:
    try:
        levels = sorted({int(v) for v in value.split(",") if v.strip()})
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of 1 to 5.") from None
    if not levels or levels[0] < 1 or levels[-1] > 5:
        raise click.BadParameter(f"severities run from 1 (mild) to 5 (severe); got {value!r}.")
    return levels


@click.command("robustness")
@click.argument("model", type=click.Path())
@click.argument("data", type=click.Path())
@network_options
@click.option(
    "--attack",
    "attacks",
    type=click.Choice(["pgd", "fgsm"]),
    multiple=True,
    help="An attack (repeat for both) [default: pgd].",
)
@click.option(
    "--eps",
    "budgets",
    callback=budgets_callback,
    default="1/255,2/255,4/255,8/255",
    show_default=True,
    help="Attack budgets, in pixel values in [0, 1] (fractions allowed); 0 skips the attacks.",
)
@norm_option
@click.option(
    "--steps", type=click.IntRange(min=1), default=10, show_default=True, help="PGD's steps."
)
@click.option(
    "--restarts",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="PGD's random starts; a row counts as broken if any start breaks it.",
)
@click.option(
    "--corruption",
    "corruptions",
    type=click.Choice([*CORRUPTIONS, "all"]),
    multiple=True,
    help="A corruption of ImageNet-C's strengths (repeat, or all) [default: none].",
)
@click.option(
    "--severity",
    "severities",
    callback=_severities,
    default="1,2,3,4,5",
    show_default=True,
    help="Corruption severities, 1 (mild) to 5 (severe).",
)
@click.option(
    "--rows",
    type=click.IntRange(min=1),
    default=None,
    help="Score a seeded random draw of this many rows [default: all]; PGD costs --steps "
    "forward and backward passes per row.",
)
@click.option(
    "--examples",
    type=click.Path(dir_okay=False),
    default=None,
    help=f"Draw {EXAMPLES} of the scored images as the network sees them (clean, under each "
    "attack at the largest --eps, under each corruption at the highest --severity), each with "
    "the class it predicts, to this PNG file.",
)
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=64, show_default=True, help="Rows per pass."
)
@device_option
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of the rows, starts and noise."
)
@click.option("--json", "as_json", is_flag=True, help="Print every accuracy as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def robustness_command(
    model: str,
    data: str,
    attacks: tuple[str, ...],
    budgets: list[tuple[str, float]],
    norm: str,
    steps: int,
    restarts: int,
    corruptions: tuple[str, ...],
    severities: list[int],
    rows: int | None,
    examples: str | None,
    batch_size: int,
    device: str,
    seed: int,
    as_json: bool,
    quiet: bool,
    **reading: Any,
) -> None:
    """How your trained network (MODEL) holds up on labelled DATA under adversarial attacks
    (FGSM, PGD) and common corruptions."""
    require_torch("Robustness evaluation")
    import numpy as np
    import torch

    from transferkit.datasets.corruptions import corrupt_photos
    from transferkit.deep.progress import as_progress
    from transferkit.deep.training import apply_in_batches, resolve_device
    from transferkit.exceptions import InvalidParameterError
    from transferkit.robustness import check_epsilon, check_images, robust_accuracy

    attacks = attacks or ("pgd",)
    for text, value in budgets:  # a negative budget is an error, not an attack left out
        check_epsilon(value, norm, name=f"--eps {text}")
    budgets = [(text, value) for text, value in budgets if value > 0]
    corruptions = CORRUPTIONS if "all" in corruptions else tuple(dict.fromkeys(corruptions))
    where = resolve_device(device)  # a device that is not there stops the run before reading
    data_read = read_network(model, data, quiet=quiet, pixels=True, **reading)
    if data_read.columns is None:
        raise InvalidParameterError(
            f"{data} has no labels: robustness is the accuracy that survives, so DATA needs them "
            "(class sub-folders, or a label column)."
        )
    try:
        X = check_images(data_read.inputs.X, name=str(data))
    except InvalidParameterError as error:
        raise InvalidParameterError(
            f"{error} On the command line: store the rows as pixels in [0, 1] and give the "
            "network's --mean and --std."
        ) from error
    y = torch.from_numpy(data_read.columns)
    if rows is not None and rows < len(X):
        chosen = np.sort(np.random.default_rng(seed).choice(len(X), size=rows, replace=False))
        X, y = X[chosen], y[chosen]
    network = data_read.network.to(where)

    def accuracy(inputs: Any) -> float:
        logits = apply_in_batches(network, inputs, where, batch_size)
        return float((logits.argmax(1) == y).float().mean())

    report: dict[str, Any] = {
        "model": model,
        "data": data,
        "rows": len(X),
        "images": data_read.folder,
        "classes": data_read.classes,
        "clean": accuracy(X),
        "attacks": [],
        "corruptions": [],
    }
    for attack in attacks:
        for text, value in budgets:
            started = time.perf_counter()
            score = robust_accuracy(
                network,
                X,
                y,
                attack=attack,
                eps=value,
                norm=norm,
                steps=steps,
                restarts=restarts,
                batch_size=batch_size,
                device=where,
                random_state=seed,
                progress=as_progress(not quiet, f"{attack} eps {text}"),
            )
            report["attacks"].append(
                {
                    "attack": attack,
                    "norm": norm,
                    "eps": text,
                    "eps_value": value,
                    "steps": steps if attack == "pgd" else 1,
                    "accuracy": score,
                    "seconds": time.perf_counter() - started,
                }
            )
    if corruptions:
        pixels = X.numpy()
        bar = progress_bar(len(corruptions) * len(severities), "corruptions", quiet=quiet)
        try:
            for corruption in corruptions:
                for severity in severities:
                    corrupted = corrupt_photos(pixels, corruption, severity, random_state=seed)
                    report["corruptions"].append(
                        {
                            "corruption": corruption,
                            "severity": severity,
                            "accuracy": accuracy(torch.from_numpy(corrupted)),
                        }
                    )
                    bar.update(1)
        finally:
            bar.close()
    if examples is not None:
        if X.ndim != 4:
            raise InvalidParameterError(
                f"--examples draws images; the rows of {data} have shape {tuple(X.shape[1:])} "
                "(give their image shape with --input-shape)."
            )
        picked = torch.from_numpy(_one_per_class(y.numpy(), EXAMPLES))
        report["examples"] = str(
            _draw_examples(
                examples, network, X[picked], y[picked], data_read.classes, where,
                attacks=[(a, budgets[-1]) for a in attacks] if budgets else [],
                corruptions=[(c, severities[-1]) for c in corruptions],
                norm=norm, steps=steps, restarts=restarts, seed=seed,
            )
        )  # fmt: skip
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    _echo_report(report, severities)


def _one_per_class(labels: Any, count: int) -> Any:
    """``count`` row indices taking the classes in turn (first row of each, then the second...),
    so that a folder listed class by class shows several classes."""
    import numpy as np

    per_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    picked: list[int] = []
    for depth in range(max(len(rows) for rows in per_class)):
        picked.extend(int(rows[depth]) for rows in per_class if depth < len(rows))
    return np.array(picked[:count], dtype=np.int64)


def _draw_examples(
    path: str,
    network: Any,
    X: Any,
    y: Any,
    classes: list[str],
    where: Any,
    *,
    attacks: list[tuple[str, tuple[str, float]]],
    corruptions: list[tuple[str, int]],
    norm: str,
    steps: int,
    restarts: int,
    seed: int,
) -> Any:
    """The ``--examples`` figure: ``X`` clean, attacked and corrupted, with the predictions."""
    import torch

    from transferkit.datasets.corruptions import corrupt_photos
    from transferkit.deep.training import apply_in_batches
    from transferkit.plots import plot_image_grid
    from transferkit.robustness import fgsm, pgd

    X, y = X.to(where), y.to(where)
    columns = {"clean": X}
    for attack, (text, eps) in attacks:
        if attack == "pgd":
            adversarial = pgd(network, X, y, eps, norm=norm, steps=steps, restarts=restarts,
                              random_state=seed)  # fmt: skip
        else:
            adversarial = fgsm(network, X, y, eps, norm=norm)
        columns[f"{attack} {text}"] = adversarial.detach()
    for corruption, severity in corruptions:
        corrupted = corrupt_photos(X.cpu().numpy(), corruption, severity, random_state=seed)
        columns[f"{corruption} {severity}"] = torch.from_numpy(corrupted)
    captions, correct = {}, {}
    for title, images in columns.items():
        predicted = apply_in_batches(network, images, where).argmax(1)
        captions[title] = [classes[int(c)] for c in predicted]
        correct[title] = (predicted == y.cpu()).numpy()
    pixels = {title: images.cpu().numpy() for title, images in columns.items()}
    return plot_image_grid(pixels, path, captions, correct)


def _echo_report(report: dict[str, Any], severities: list[int]) -> None:
    click.echo(
        f"{report['model']} on {report['rows']} labelled {'images' if report['images'] else 'rows'}"
        f" of {report['data']} "
        f"({len(report['classes'])} classes): clean accuracy {100 * report['clean']:.1f} %"
    )
    if report["attacks"]:
        click.echo(f"\n{'attack':<8}{'norm':<6}{'eps':>10}{'accuracy':>11}{'seconds':>9}")
        for row in report["attacks"]:
            name = f"pgd-{row['steps']}" if row["attack"] == "pgd" else row["attack"]
            click.echo(
                f"{name:<8}{row['norm']:<6}{row['eps']:>10}{100 * row['accuracy']:9.1f} %"
                f"{row['seconds']:9.1f}"
            )
    if report["corruptions"]:
        click.echo(
            f"\n{'corruption':<16}" + "".join(f"{'severity ' + str(s):>12}" for s in severities)
        )
        by_name: dict[str, list[float]] = {}
        for row in report["corruptions"]:
            by_name.setdefault(row["corruption"], []).append(row["accuracy"])
        for name, scores in by_name.items():
            click.echo(f"{name:<16}" + "".join(f"{100 * a:10.1f} %" for a in scores))
    if report.get("examples"):
        click.echo(f"\nexamples: {report['examples']}")
