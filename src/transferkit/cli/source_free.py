"""``transferkit source-free``: adapt a user's trained network to a new domain without its source data.

MODEL is a network saved whole with ``torch.save(model, path)`` (``--code`` names the Python file
that defines its class); TARGET is a folder of images (class sub-folders, or the images alone)
preprocessed as the network was trained (``--image-size``, ``--mean``, ``--std``, ``--grey``), or
a data file of rows (``--input-shape`` reshapes them). The network is adapted with SHOT, TENT or
AdaBN (:mod:`transferkit.deep.source_free`) on TARGET's rows alone, and the command prints what
changed: the accuracy before and after when TARGET has labels (never read by the adaptation),
the confidence and the spread of the predictions otherwise. ``--output`` saves the adapted
network, ``--predictions`` writes each row's class.

Examples
--------
transferkit source-free model.pt photos/phone --output adapted.pt
transferkit source-free net.pt night/ --code net.py --method tent --image-size 96 --predictions night.csv
transferkit source-free mlp.pt target.npz --method adabn --json
transferkit source-free lenet.pt digits.csv --input-shape 1,28,28 --classes zero,one,two,three
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any

import click

from transferkit.cli.options import method_params, param_option, progress_bar, require_torch

METHODS = ("shot", "tent", "adabn")


def _floats(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return [float(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of numbers.") from None


def _ints(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of integers.") from None


def _class_names(value: str | None) -> list[str] | None:
    """``--classes``: a file with one name per line, or names separated by commas."""
    if value is None:
        return None
    path = Path(value).expanduser()
    text = path.read_text(encoding="utf-8") if path.is_file() else value.replace(",", "\n")
    return [line.strip() for line in text.splitlines() if line.strip()]


@click.command("source-free")
@click.argument("model", type=click.Path())
@click.argument("target", type=click.Path())
@click.option(
    "--method",
    type=click.Choice(METHODS),
    default="shot",
    show_default=True,
    help="shot: trains every layer below the classification head (frozen) to confident, diverse "
    "predictions; tent: trains the normalisation layers' scale and shift; adabn: re-estimates "
    "the batch-norm statistics, no training.",
)
@click.option(
    "--code",
    type=click.Path(dir_okay=False),
    default=None,
    help="The Python file that defines the network's class, when it is not in an installed "
    "package (a network saved whole keeps the name of its class, not its code).",
)
@click.option(
    "--classes",
    default=None,
    help="The network's output columns in order: names separated by commas, or a file with one "
    "per line. Default: integer labels are the columns; class folders in sorted order "
    "(as torchvision's ImageFolder numbers them).",
)
@click.option("--head", default=None, help="SHOT: the submodule whose output is the logits.")
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=None,
    help="Passes over TARGET [default: 5 for shot, 1 for tent].",
)
@param_option("method", "learning_rate=1e-5, batch_size=32", "transferkit.deep.source_free")
@click.option(
    "--image-size",
    type=click.IntRange(min=1),
    default=224,
    show_default=True,
    help="Images: the side of the centre crop the network takes.",
)
@click.option(
    "--resize-size",
    type=click.IntRange(min=1),
    default=None,
    help="Images: the shorter side before the centre crop [default: the image size; 256 with "
    "an image size of 224 is the ImageNet evaluation transform].",
)
@click.option(
    "--mean",
    callback=_floats,
    default=None,
    help="Images: per-channel mean of values in [0, 1] to subtract [default: ImageNet's].",
)
@click.option(
    "--std",
    callback=_floats,
    default=None,
    help="Images: per-channel standard deviation to divide by [default: ImageNet's; "
    "--mean 0 --std 1 keeps [0, 1]].",
)
@click.option("--grey", is_flag=True, help="Images: one grey channel instead of red, green, blue.")
@click.option(
    "--input-shape",
    callback=_ints,
    default=None,
    help="A data file: the shape of one row as the network takes it (e.g. 1,28,28).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    default=None,
    help="Save the adapted network here (torch.save; MODEL is never changed).",
)
@click.option(
    "--predictions",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write each row's class before and after, with its confidence, to this CSV file.",
)
@click.option(
    "--device",
    default="auto",
    show_default=True,
    help="auto (CUDA when present), cpu, cuda or cuda:N.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the training.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def source_free_command(
    model: str,
    target: str,
    method: str,
    code: str | None,
    classes: str | None,
    head: str | None,
    epochs: int | None,
    params: tuple[str, ...],
    image_size: int,
    resize_size: int | None,
    mean: list[float] | None,
    std: list[float] | None,
    grey: bool,
    input_shape: list[int] | None,
    output: str | None,
    predictions: str | None,
    device: str,
    seed: int,
    as_json: bool,
    quiet: bool,
) -> None:
    """Adapt your trained network (MODEL) to a new domain (TARGET) with no source data and no
    target label: SHOT, TENT or AdaBN."""
    require_torch("Source-free adaptation")
    import numpy as np
    import torch

    from transferkit.base import collapsed_prediction
    from transferkit.deep.backbones import IMAGENET_MEAN, IMAGENET_STD
    from transferkit.deep.model_files import class_columns, load_model, read_model_inputs
    from transferkit.deep.source_free import SHOT, TENT, AdaBN
    from transferkit.deep.training import apply_in_batches, resolve_device
    from transferkit.exceptions import DegenerateResultWarning, InvalidParameterError

    adapter_class = {"shot": SHOT, "tent": TENT, "adabn": AdaBN}[method]
    reserved = {
        "model": "MODEL",
        "copy": "--output (MODEL is never changed)",
        "device": "--device",
        "epochs": "--epochs",
        "head": "--head",
    }
    settings = method_params(
        [method], params, reserved, known={method: adapter_class(None).get_params()}
    )[method]
    if head is not None:
        if method != "shot":
            raise InvalidParameterError(f"--head names SHOT's head; --method {method} has none.")
        settings["head"] = head
    if epochs is not None:
        if method == "adabn":
            raise InvalidParameterError("--epochs: adabn does not train; it reads TARGET once.")
        settings["epochs"] = epochs

    network = load_model(model, code=code)
    bar = progress_bar(None, "reading", quiet=quiet)

    def reading(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.set_description("reading images")

    try:
        inputs = read_model_inputs(
            target,
            image_size=image_size,
            resize_size=resize_size,
            mean=IMAGENET_MEAN if mean is None else mean,
            std=IMAGENET_STD if std is None else std,
            grey=grey,
            shape=input_shape,
            progress=reading,
        )
    finally:
        bar.close()
    started = time.perf_counter()
    adapter = adapter_class(
        network, device=device, random_state=seed, progress=not quiet, **settings
    ).fit(inputs.X)
    seconds = time.perf_counter() - started
    before = torch.softmax(
        apply_in_batches(network, inputs.X, resolve_device("cpu"), adapter.batch_size), 1
    ).numpy()
    after = adapter.predict_proba(inputs.X)
    n_outputs = after.shape[1]
    names = _class_names(classes)
    columns = None
    if inputs.y is not None:
        names, columns = class_columns(inputs.y, n_outputs, names)
    elif names is not None and len(names) != n_outputs:
        raise InvalidParameterError(
            f"--classes gives {len(names)} names for a network with {n_outputs} outputs."
        )
    names = names or [str(i) for i in range(n_outputs)]
    predicted = {"model": before.argmax(1), "adapted": after.argmax(1)}
    collapsed = collapsed_prediction(predicted["adapted"], predicted["model"])
    if collapsed:
        warnings.warn(
            f"The adapted network collapsed: {collapsed} before adaptation. Its confident "
            "predictions are not evidence that it is right; keep MODEL, or try --method adabn "
            "or a smaller learning rate.",
            DegenerateResultWarning,
            stacklevel=1,
        )

    def summary(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
        counts = np.bincount(labels, minlength=n_outputs)
        return {
            "accuracy": None if columns is None else float(np.mean(labels == columns)),
            "mean_confidence": float(probabilities.max(1).mean()),
            "classes_predicted": int((counts > 0).sum()),
            "largest_class_share": float(counts.max() / len(labels)),
        }

    report = {
        "model": model,
        "target": target,
        "method": method,
        "settings": {
            k: v for k, v in adapter.get_params().items() if k not in ("model", "progress")
        },
        "rows": len(inputs.X),
        "classes": names,
        "labelled": columns is not None,
        "seconds": seconds,
        "before": summary(before, predicted["model"]),
        "after": summary(after, predicted["adapted"]),
        "changed": float(np.mean(predicted["model"] != predicted["adapted"])),
        "collapsed": collapsed,
        "output": output,
        "predictions": predictions,
    }
    if output is not None:
        torch.save(adapter.model_.cpu(), output)
    if predictions is not None:
        _write_predictions(Path(predictions), inputs.names, names, before, after)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    _echo_report(report, n_outputs)


def _write_predictions(
    path: Path, rows: list[str], names: list[str], before: Any, after: Any
) -> None:
    import csv

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["item", "prediction", "confidence", "model_prediction", "model_confidence"]
        )
        for row, new, old in zip(rows, after, before, strict=True):
            writer.writerow(
                [
                    row,
                    names[new.argmax()],
                    f"{new.max():.4f}",
                    names[old.argmax()],
                    f"{old.max():.4f}",
                ]
            )


def _echo_report(report: dict[str, Any], n_outputs: int) -> None:
    before, after = report["before"], report["after"]
    what = "labelled" if report["labelled"] else "unlabelled"
    click.echo(
        f"{report['method'].upper() if report['method'] != 'adabn' else 'AdaBN'} on "
        f"{report['rows']} {what} rows of {report['target']} ({n_outputs} classes): "
        f"{report['seconds']:.1f} s"
    )
    click.echo(f"{'':<22}{'model':>9}{'adapted':>10}")
    if report["labelled"]:
        click.echo(
            f"{'accuracy':<22}{100 * before['accuracy']:7.1f} %{100 * after['accuracy']:8.1f} %"
            "   (TARGET's labels; the adaptation never reads them)"
        )
    click.echo(
        f"{'mean confidence':<22}{100 * before['mean_confidence']:7.1f} %"
        f"{100 * after['mean_confidence']:8.1f} %"
    )
    click.echo(
        f"{'classes predicted':<22}{before['classes_predicted']:>9}{after['classes_predicted']:>10}"
        f"   (of {n_outputs})"
    )
    click.echo(
        f"{'largest class':<22}{100 * before['largest_class_share']:7.1f} %"
        f"{100 * after['largest_class_share']:8.1f} %   (share of the rows)"
    )
    click.echo(f"{'predictions changed':<22}{100 * report['changed']:17.1f} %")
    if report["output"]:
        click.echo(f"adapted network: {report['output']}")
    if report["predictions"]:
        click.echo(f"predictions: {report['predictions']}")
