"""``transferkit extract-features``: pre-trained CNN features of a dataset's images, cached.

Needs the deep extra (PyTorch); without it the command stops with a line saying how to install
it. The bar is drawn only on a terminal.

Examples
--------
transferkit extract-features office-caltech-images --backbone mobilenet_v2
"""

from __future__ import annotations

import time
from typing import Any

import click

from transferkit.cli.options import progress_bar, require_torch
from transferkit.exceptions import InvalidParameterError


@click.command("extract-features")
@click.argument("dataset", default="office-caltech-images")
@click.option(
    "--backbone",
    type=click.Choice(["mobilenet_v2", "efficientnet_lite0"]),
    default="mobilenet_v2",
    show_default=True,
)
@click.option(
    "--layer",
    type=click.Choice(["penultimate", "last_block", "logits"]),
    default="penultimate",
    show_default=True,
)
@click.option("--domains", help="Comma-separated domains (default: all).")
@click.option(
    "--device",
    default="auto",
    show_default=True,
    help="auto (CUDA when present), cpu, cuda or cuda:N.",
)
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
    quiet: bool,
) -> None:
    """Extract and cache pre-trained features of a dataset's images; report images per second."""
    require_torch("transferkit extract-features")
    from transferkit.datasets.office import load_office_caltech_images
    from transferkit.deep.backbones import extract_features as extract
    from transferkit.deep.backbones import load_backbone
    from transferkit.deep.training import resolve_device

    if dataset != "office-caltech-images":
        raise InvalidParameterError(
            f"extract-features knows the image dataset 'office-caltech-images', not {dataset!r}."
        )
    names = domains.split(",") if domains else ["amazon", "caltech10", "dslr", "webcam"]
    where = resolve_device(device)  # --device cuda without a GPU stops here, with the fix
    model = load_backbone(backbone)
    for domain in names:
        images, _ = load_office_caltech_images(domain)
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
