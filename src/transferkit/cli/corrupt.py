"""``transferkit corrupt``: how does a model of your photographs hold up when the camera blurs,
adds noise, loses contrast or tilts? Build the shifted domain, then measure and adapt.

Writes the held-out part of each class of FOLDER (one sub-folder per class), corrupted as
ImageNet-C corrupts its images (:func:`transferkit.datasets.corruptions.corrupt_image_folder`),
beside the untouched rest: ``OUT/clean`` and ``OUT/<corruption>-<severity>``, a source and a
target that every command reading folders of images takes.

Examples
--------
transferkit corrupt photos/ -o shifted/ --corruption blur --severity 3
transferkit diagnose --source shifted/clean --target shifted/blur-3
transferkit bench demo --source shifted/clean --target shifted/blur-3
"""

from __future__ import annotations

import json

import click

from transferkit.cli.options import progress_bar

#: transferkit.datasets.corruptions.CORRUPTIONS, written out: importing that module loads numpy
#: and scipy, which `transferkit --help` should not wait for (a test checks they agree).
CORRUPTIONS = ("gaussian-noise", "blur", "rotation", "contrast")


@click.command("corrupt")
@click.argument("folder", type=click.Path())
@click.option(
    "--output",
    "-o",
    "out",
    type=click.Path(file_okay=False),
    required=True,
    help="Folder to write OUT/clean and OUT/<corruption>-<severity> into (new, or without them).",
)
@click.option(
    "--corruption",
    type=click.Choice(list(CORRUPTIONS)),
    required=True,
    help="What happens to the held-out images (ImageNet-C's parameters; rotation: MNIST-C's).",
)
@click.option(
    "--severity",
    type=click.IntRange(1, 5),
    default=3,
    show_default=True,
    help="1 (mild) to 5 (severe).",
)
@click.option(
    "--hold-out",
    type=float,
    default=0.5,
    show_default=True,
    help="Share of each class corrupted into the target; the rest stays clean as the source.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split and noise.")
@click.option("--json", "as_json", is_flag=True, help="Print the two folders and counts as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def corrupt_command(
    folder: str,
    out: str,
    corruption: str,
    severity: int,
    hold_out: float,
    seed: int,
    as_json: bool,
    quiet: bool,
) -> None:
    """Corrupt held-out photographs of FOLDER (one sub-folder per class): a clean source and a
    corrupted target to diagnose, benchmark and adapt on."""
    from transferkit.datasets.corruptions import corrupt_image_folder

    bar = progress_bar(None, "writing", quiet=quiet, unit="image")

    def advance(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        clean, shifted = corrupt_image_folder(
            folder,
            out,
            corruption,
            severity,
            hold_out=hold_out,
            random_state=seed,
            progress=advance,
        )
    finally:
        bar.close()
    counts = {
        str(path): sum(1 for p in path.rglob("*") if p.is_file()) for path in (clean, shifted)
    }
    if as_json:
        payload = {
            "source": str(clean),
            "target": str(shifted),
            "corruption": corruption,
            "severity": severity,
            "hold_out": hold_out,
            "seed": seed,
            "images": counts,
        }
        click.echo(json.dumps(payload, indent=2))
        return
    click.echo(f"Source: {clean} ({counts[str(clean)]} images, unchanged)")
    click.echo(
        f"Target: {shifted} ({counts[str(shifted)]} other images, {corruption} at severity "
        f"{severity})"
    )
    click.echo("Next:")
    click.echo(f"  transferkit diagnose --source {clean} --target {shifted}")
    click.echo(f"  transferkit bench demo --source {clean} --target {shifted}")
