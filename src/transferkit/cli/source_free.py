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

from transferkit.cli.networks import (
    adapted_output_option,
    network_options,
    network_predictions_option,
    read_network,
    training_seed_option,
    write_network_predictions,
)
from transferkit.cli.options import (
    device_option,
    method_params,
    param_option,
    progress_bar,
    require_torch,
)

METHODS = ("shot", "tent", "adabn")


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
@network_options
@click.option("--head", default=None, help="SHOT: the submodule whose output is the logits.")
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=None,
    help="Passes over TARGET [default: 5 for shot, 1 for tent].",
)
@param_option("method", "learning_rate=1e-5, batch_size=32", "transferkit.deep.source_free")
@click.option(
    "--online",
    is_flag=True,
    help="Test-time adaptation: one pass over TARGET's rows in a seeded random order, in "
    "batches, each batch predicted in the pass that adapts on it (the setting of TENT's "
    "paper); the accuracy after is of those predictions.",
)
@adapted_output_option
@network_predictions_option
@device_option
@training_seed_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def source_free_command(
    model: str,
    target: str,
    method: str,
    head: str | None,
    epochs: int | None,
    params: tuple[str, ...],
    online: bool,
    output: str | None,
    predictions: str | None,
    device: str,
    seed: int,
    as_json: bool,
    quiet: bool,
    **reading: Any,
) -> None:
    """Adapt your trained network (MODEL) to a new domain (TARGET) with no source data and no
    target label: SHOT, TENT or AdaBN."""
    require_torch("Source-free adaptation")
    import numpy as np
    import torch

    from transferkit.base import collapsed_prediction
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
        if method == "adabn" or online:
            what = "adabn does not train" if method == "adabn" else "--online is one pass"
            raise InvalidParameterError(f"--epochs: {what}; it reads TARGET once.")
        settings["epochs"] = epochs

    where = resolve_device(device)  # a device that is not there stops the run before reading
    data = read_network(model, target, quiet=quiet, **reading)
    network, inputs, names, columns = data.network, data.inputs, data.classes, data.columns
    started = time.perf_counter()
    adapter = adapter_class(
        network, device=device, random_state=seed, progress=not quiet, **settings
    )
    if online:
        # a folder lists its images class by class: no stream arrives so, and batches of one
        # class would be normalised by that class alone, so the rows come in a seeded order
        order = np.random.default_rng(seed).permutation(len(inputs.X))
        batches = inputs.X[torch.from_numpy(order)].split(adapter.batch_size)
        bar = progress_bar(len(batches), f"{method} online", quiet=quiet)
        chunks = []
        try:
            for probabilities in adapter.stream_proba(batches):
                chunks.append(probabilities)
                bar.update(1)
        finally:
            bar.close()
        after = np.empty((len(order), chunks[0].shape[1]), dtype=chunks[0].dtype)
        after[order] = np.concatenate(chunks)
    else:
        after = adapter.fit(inputs.X).predict_proba(inputs.X)
    seconds = time.perf_counter() - started
    before = torch.softmax(
        apply_in_batches(network.to(where), inputs.X, where, adapter.batch_size), 1
    ).numpy()
    n_outputs = after.shape[1]
    predicted = {"model": before.argmax(1), "adapted": after.argmax(1)}
    collapsed = collapsed_prediction(
        predicted["adapted"], predicted["model"], "the network's predictions before adaptation"
    )
    if collapsed:
        warnings.warn(
            f"The adapted network collapsed: {collapsed}. Its confident "
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
        "online": online,
        "settings": {
            k: v for k, v in adapter.get_params().items() if k not in ("model", "progress")
        },
        "rows": len(inputs.X),
        "images": data.folder,
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
        write_network_predictions(Path(predictions), inputs.names, names, before, after)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    _echo_report(report, n_outputs)


def _echo_report(report: dict[str, Any], n_outputs: int) -> None:
    before, after = report["before"], report["after"]
    what = "labelled" if report["labelled"] else "unlabelled"
    click.echo(
        f"{report['method'].upper() if report['method'] != 'adabn' else 'AdaBN'}"
        f"{' online' if report['online'] else ''} on "
        f"{report['rows']} {what} {'images' if report['images'] else 'rows'} of "
        f"{report['target']} ({n_outputs} classes): "
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
