"""A user's saved network and the data it classifies, as the commands that take one read them
(``source-free``, ``robustness``): the options that say how its inputs were prepared in training
and :func:`read_network`, which loads the network, reads the data and names its output columns
(:mod:`transferkit.deep.model_files`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from transferkit.cli.options import list_callback, option_group, progress_bar


def class_names(value: str | None) -> list[str] | None:
    """``--classes``: a file with one name per line, or names separated by commas."""
    if value is None:
        return None
    path = Path(value).expanduser()
    text = path.read_text(encoding="utf-8") if path.is_file() else value.replace(",", "\n")
    return [line.strip() for line in text.splitlines() if line.strip()]


#: ``--code``, ``--classes`` and how the network's inputs were prepared in training.
network_options = option_group(
    click.option(
        "--code",
        type=click.Path(dir_okay=False),
        default=None,
        help="The Python file that defines the network's class, when it is not in an installed "
        "package (a network saved whole keeps the name of its class, not its code).",
    ),
    click.option(
        "--classes",
        default=None,
        help="The network's output columns in order: names separated by commas, or a file with "
        "one per line. Default: integer labels are the columns; class folders in sorted order "
        "(as torchvision's ImageFolder numbers them).",
    ),
    click.option(
        "--image-size",
        type=click.IntRange(min=1),
        default=224,
        show_default=True,
        help="Images: the side of the centre crop the network takes.",
    ),
    click.option(
        "--resize-size",
        type=click.IntRange(min=1),
        default=None,
        help="Images: the shorter side before the centre crop [default: the image size; 256 with "
        "an image size of 224 is the ImageNet evaluation transform].",
    ),
    click.option(
        "--mean",
        callback=list_callback(float, "numbers"),
        default=None,
        help="Images: per-channel mean of values in [0, 1] to subtract [default: ImageNet's].",
    ),
    click.option(
        "--std",
        callback=list_callback(float, "numbers"),
        default=None,
        help="Images: per-channel standard deviation to divide by [default: ImageNet's; "
        "--mean 0 --std 1 keeps [0, 1]].",
    ),
    click.option(
        "--grey", is_flag=True, help="Images: one grey channel instead of red, green, blue."
    ),
    click.option(
        "--input-shape",
        callback=list_callback(int, "integers"),
        default=None,
        help="A data file: the shape of one row as the network takes it (e.g. 1,28,28).",
    ),
)

#: Options of the commands that train a user's network further (``adapt``, ``harden``).
finetune_options = option_group(
    click.option(
        "--learning-rate",
        type=click.FloatRange(min=0, min_open=True),
        default=1e-4,
        show_default=True,
        help="Adam's learning rate (a fine-tuning rate: the network starts trained).",
    ),
    click.option(
        "--batch-size",
        type=click.IntRange(min=1),
        default=64,
        show_default=True,
        help="Rows per step.",
    ),
)

#: ``--output`` of the commands that adapt a user's network (``source-free``, ``adapt``).
adapted_output_option = click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    default=None,
    help="Save the adapted network here (torch.save; MODEL is never changed).",
)

#: ``--predictions`` of the commands that adapt a user's network (``source-free``, ``adapt``).
network_predictions_option = click.option(
    "--predictions",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write each target row's class before and after, with its confidence, to this CSV file.",
)


def write_network_predictions(
    path: Path, rows: list[str], names: list[str], before: Any, after: Any
) -> None:
    """The ``--predictions`` CSV of an adapted network: each row's class and probability after
    adaptation (``after``) and under MODEL (``before``), both ``(n, n_classes)`` probabilities."""
    import csv

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["item", "prediction", "confidence", "model_prediction", "model_confidence"]
        )
        for row, new, old in zip(rows, after, before, strict=True):
            writer.writerow(
                [row, names[new.argmax()], f"{new.max():.4f}", names[old.argmax()],
                 f"{old.max():.4f}"]
            )  # fmt: skip


#: ``--seed`` of the commands that train a user's network (``source-free``, ``adapt``,
#: ``harden``).
training_seed_option = click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of the training."
)


@dataclass
class NetworkData:
    """What :func:`read_network` read.

    Attributes
    ----------
    network : nn.Module
        The user's network in eval mode (with ``pixels``, wrapped to standardise them itself).
    inputs : transferkit.deep.model_files.ModelInputs
        The rows, their labels (or None) and names.
    classes : list of str
        The name of each output column.
    columns : array of int64 or None
        Each row's label as an output column; None without labels.
    folder : bool
        Whether DATA is a folder of images (else a data file of rows).
    loaded : nn.Module
        MODEL as loaded, before any wrapping: ``read_network(..., loaded=...)`` reads another
        DATA for the same MODEL without loading it again.
    """

    network: Any
    inputs: Any
    classes: list[str]
    columns: Any
    folder: bool
    loaded: Any


def read_network(
    model: str,
    data: str,
    *,
    code: str | None,
    classes: str | None,
    image_size: int,
    resize_size: int | None,
    mean: list[float] | None,
    std: list[float] | None,
    grey: bool,
    input_shape: list[int] | None,
    quiet: bool,
    pixels: bool = False,
    known_classes: list[str] | None = None,
    loaded: Any = None,
) -> NetworkData:
    """Load MODEL, read DATA as it takes it (:data:`network_options`), and name its columns.

    ``pixels``: images are read in [0, 1] and the returned network standardises them itself
    (:class:`~transferkit.deep.model_files.Normalized`), for attacks and corruptions that
    work on pixels; a data file's rows are taken as pixels too, standardised inside the network
    only when ``--mean``/``--std`` are given. ``known_classes`` names the output columns when an
    earlier read of the same network named them (a second folder is then scored in the first
    one's columns, even if it lacks a class); ``--classes`` still comes first. ``loaded``: the
    network an earlier read of MODEL loaded (:attr:`NetworkData.loaded`), not loaded again.
    """
    from transferkit.deep.backbones import IMAGENET_MEAN, IMAGENET_STD
    from transferkit.deep.model_files import (
        Normalized,
        class_columns,
        load_model,
        output_width,
        read_model_inputs,
    )
    from transferkit.exceptions import InvalidParameterError

    network = loaded = load_model(model, code=code) if loaded is None else loaded
    folder = Path(data).expanduser().is_dir()
    standardise = pixels and (folder or mean is not None or std is not None)
    mean = (list(IMAGENET_MEAN) if folder else [0.0]) if mean is None else mean
    std = (list(IMAGENET_STD) if folder else [1.0]) if std is None else std
    bar = progress_bar(None, "reading", quiet=quiet)

    def reading(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.set_description("reading images")

    try:
        inputs = read_model_inputs(
            data,
            image_size=image_size,
            resize_size=resize_size,
            mean=(0.0,) if pixels else mean,
            std=(1.0,) if pixels else std,
            grey=grey,
            shape=input_shape,
            progress=reading,
        )
    finally:
        bar.close()
    if standardise:
        if inputs.X.ndim != 4:
            raise InvalidParameterError(
                f"--mean and --std standardise the channels of images; the rows of {data} have "
                f"shape {tuple(inputs.X.shape[1:])}. Give their image shape (--input-shape), or "
                "leave --mean and --std out."
            )
        network = Normalized(network, mean, std, channels=inputs.X.shape[1]).eval()
    width = output_width(network, inputs.X)
    names = class_names(classes) if classes is not None else known_classes
    columns = None
    if inputs.y is not None:
        names, columns = class_columns(inputs.y, width, names)
    elif names is not None and len(names) != width:
        raise InvalidParameterError(
            f"--classes gives {len(names)} names for a network with {width} outputs."
        )
    return NetworkData(
        network, inputs, names or [str(i) for i in range(width)], columns, folder, loaded
    )
