"""``transferkit extract-features``: pre-trained CNN features of a dataset's images, cached.

The images are a built-in dataset's or a folder of the user's (one sub-folder per class, or the
images alone); ``--output`` writes a folder's features to an ``.npz`` file (``X``, ``y`` when the
folder has class folders, and the image ``paths``) that every ``--source/--target`` reads. Needs
the deep extra (PyTorch); without it the command stops with a line saying how to install it. The
bar is drawn only on a terminal.

Examples
--------
transferkit extract-features office-caltech-images --backbone mobilenet_v2
transferkit extract-features photos/studio --output studio.npz
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from transferkit.cli.options import backbone_option, device_option, progress_bar, require_torch
from transferkit.exceptions import InvalidParameterError


@click.command("extract-features")
@click.argument("dataset", default="office-caltech-images", metavar="[DATASET|FOLDER]")
@backbone_option("The pre-trained CNN.")
@click.option(
    "--layer",
    type=click.Choice(["penultimate", "last_block", "logits"]),
    default="penultimate",
    show_default=True,
)
@click.option("--domains", help="Comma-separated domains (default: all).")
@device_option
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    help="Images per batch [default: 32 on the CPU, as many as half the GPU's free memory holds].",
)
@click.option(
    "--amp",
    is_flag=True,
    help="Mixed precision (float16 on CUDA, bfloat16 on the CPU); cached apart.",
)
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Feature cache folder.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    help="With a FOLDER of images: write its features to this .npz (X, y, paths).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def extract_features(
    dataset: str,
    backbone: str,
    layer: str,
    domains: str | None,
    device: str,
    batch_size: int | None,
    amp: bool,
    cache_dir: str | None,
    output: str | None,
    quiet: bool,
) -> None:
    """Extract and cache pre-trained features of a dataset's images, or of a folder of images;
    report images per second."""
    require_torch("transferkit extract-features")
    from transferkit.datasets.office import load_office_caltech_images
    from transferkit.deep.backbones import extract_features as extract
    from transferkit.deep.backbones import load_backbone
    from transferkit.deep.training import resolve_device

    folder = Path(dataset)
    if folder.is_dir():
        if domains:
            raise InvalidParameterError("--domains names the domains of a dataset, not a folder.")
        from transferkit.datasets import load_image_folder

        read = {folder.name: load_image_folder(folder)}
    elif dataset != "office-caltech-images":
        raise InvalidParameterError(
            f"extract-features reads the image dataset 'office-caltech-images' or a folder of "
            f"images; {dataset!r} is neither."
        )
    elif output is not None:
        raise InvalidParameterError(
            "--output writes the features of a folder of images; a dataset's are read with "
            "load_office_caltech_features."
        )
    else:
        names = domains.split(",") if domains else ["amazon", "caltech10", "dslr", "webcam"]
        read = {domain: load_office_caltech_images(domain) for domain in names}
    where = resolve_device(device)  # --device cuda without a GPU stops here, with the fix
    model = load_backbone(backbone)
    for domain, (images, labels) in read.items():
        bar = progress_bar(len(images), f"{backbone} {domain}", quiet=quiet, leave=True)

        def report(done: int, total: int, bar: Any = bar) -> None:
            bar.n = done
            bar.refresh()

        started = time.perf_counter()
        features = extract(
            images,
            model,
            layer,
            cache_dir=cache_dir,
            device=where,
            progress=report,
            batch_size=batch_size,
            amp=amp,
        )
        seconds = time.perf_counter() - started
        bar.close()
        click.echo(
            f"{domain}: {features.shape[0]} images → {features.shape[1]}-d {layer} features in "
            f"{seconds:.1f} s on {where} ({features.shape[0] / max(seconds, 1e-9):.1f} images/s, "
            "cached ones included)"
        )
        if output is not None:
            import numpy as np

            arrays = {"X": features, "paths": np.array([str(p) for p in images.paths])}
            if labels is not None:
                arrays["y"] = labels
            np.savez(output, **arrays)
            click.echo(
                f"Wrote {output}: X {features.shape}" + (", y" if labels is not None else "")
            )
