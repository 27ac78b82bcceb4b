"""``transferkit adapt``: adapt a user's own trained network to a target with its source data.

MODEL is a network saved whole (``torch.save(model, path)``; ``--code`` names the file that
defines its class); SOURCE a labelled folder of images (one sub-folder per class) or data file,
TARGET a folder or file of the new domain, with or without labels. Both are read as the network
was trained (``--image-size``, ``--mean``, ``--std``... as for ``transferkit source-free``). A
copy of the network is fine-tuned on SOURCE while the features under its classification head
are aligned between SOURCE and TARGET (:class:`transferkit.deep.network_adaptation.NetworkAdapter`:
DAN or Deep CORAL); MODEL is never changed. SOURCE's accuracy before and after is printed,
and a loss of more than 2 points warns (``DegenerateResultWarning``): an alignment that costs the
source classes rarely helps the target. With labels in TARGET its accuracy before and after is
printed too (the adaptation never reads them).

Examples
--------
transferkit adapt net.pt mnist/ mnistm/ --code net.py --image-size 28 --mean 0.5 --std 0.5 -o adapted.pt
transferkit adapt model.pt photos/studio photos/phone --method deep_coral -o phone.pt
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
    finetune_options,
    network_options,
    network_predictions_option,
    read_network,
    training_seed_option,
    write_network_predictions,
)
from transferkit.cli.options import device_option, require_torch

#: ``--method`` choices, in the order the help lists them.
#: DANN (in :class:`~transferkit.deep.network_adaptation.NetworkAdapter` from Python) is left
#: out: at the default trade-off its reversed gradient cost a small digit network 10 to 16
#: points on MNIST-M where these two gained 10 to 20 (docs/guides/deep.md).
METHODS = ("dan", "deep_coral")
#: Points of SOURCE accuracy the adapted network may lose before the command warns (the
#: tolerance of select's safety floor).
SOURCE_TOLERANCE = 0.02


@click.command("adapt")
@click.argument("model", type=click.Path())
@click.argument("source", type=click.Path())
@click.argument("target", type=click.Path())
@network_options
@click.option(
    "--method",
    type=click.Choice(METHODS),
    default="dan",
    show_default=True,
    help="What aligns the features under the head: dan, multi-kernel MMD; deep_coral, their "
    "covariances.",
)
@click.option("--head", default=None, help="The submodule whose output is the logits.")
@click.option(
    "--epochs", type=click.IntRange(min=1), default=5, show_default=True, help="Passes over SOURCE."
)
@click.option(
    "--trade-off",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Weight of the alignment against the source's cross-entropy.",
)
@finetune_options
@adapted_output_option
@network_predictions_option
@device_option
@training_seed_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def adapt_command(
    model: str,
    source: str,
    target: str,
    method: str,
    head: str | None,
    epochs: int,
    trade_off: float,
    learning_rate: float,
    batch_size: int,
    output: str | None,
    predictions: str | None,
    device: str,
    seed: int,
    as_json: bool,
    quiet: bool,
    **reading: Any,
) -> None:
    """Adapt your trained network (MODEL) to TARGET with its labelled SOURCE data: DAN or Deep
    CORAL on the features under its classification head."""
    require_torch("Adapting a network")
    import numpy as np
    import torch

    from transferkit.deep.network_adaptation import NetworkAdapter
    from transferkit.deep.training import apply_in_batches, resolve_device
    from transferkit.exceptions import DegenerateResultWarning, InvalidParameterError

    resolve_device(device)  # a device that is not there stops the run before reading
    labelled = read_network(model, source, quiet=quiet, **reading)
    if labelled.columns is None:
        raise InvalidParameterError(
            f"{source} has no labels: SOURCE is the labelled data the network learns from "
            "(class sub-folders, or a label column). Without it: transferkit source-free."
        )
    new = read_network(
        model,
        target,
        quiet=quiet,
        known_classes=labelled.classes,
        loaded=labelled.loaded,
        **reading,
    )
    target_columns = new.columns
    started = time.perf_counter()
    adapter = NetworkAdapter(
        labelled.network, method=method, head=head, trade_off=trade_off, epochs=epochs,
        batch_size=batch_size, learning_rate=learning_rate, device=device, random_state=seed,
        progress=not quiet,
    ).fit(labelled.inputs.X, labelled.columns, new.inputs.X)  # fmt: skip
    seconds = time.perf_counter() - started
    network = labelled.network.to(adapter.device_)
    logits = apply_in_batches(network, new.inputs.X, adapter.device_, batch_size)
    before_proba = torch.softmax(logits, 1).numpy()
    after_proba = adapter.predict_proba(new.inputs.X)
    before, after = before_proba.argmax(1), after_proba.argmax(1)
    source_predicted = {
        "before": apply_in_batches(network, labelled.inputs.X, adapter.device_, batch_size)
        .argmax(1)
        .numpy(),
        "after": adapter.predict(labelled.inputs.X),
    }
    source_accuracy = {
        when: float(np.mean(predicted == labelled.columns))
        for when, predicted in source_predicted.items()
    }
    lost = source_accuracy["before"] - source_accuracy["after"]
    if lost > SOURCE_TOLERANCE:
        warnings.warn(
            f"The adapted network classifies SOURCE {100 * lost:.1f} points worse than MODEL "
            f"({100 * source_accuracy['after']:.1f} % against "
            f"{100 * source_accuracy['before']:.1f} %): the alignment cost the classes, and "
            "the target is unlikely to gain. Try a smaller --trade-off or another --method.",
            DegenerateResultWarning,
            stacklevel=1,
        )

    def accuracy(predicted: Any) -> float | None:
        return None if target_columns is None else float(np.mean(predicted == target_columns))

    report = {
        "model": model,
        "source": source,
        "target": target,
        "method": method,
        "source_rows": len(labelled.inputs.X),
        "target_rows": len(new.inputs.X),
        "classes": labelled.classes,
        "epochs": epochs,
        "seconds": seconds,
        "losses": [
            {key: round(value, 4) for key, value in epoch.items()}
            for epoch in adapter.history_.epochs
        ],
        "source_accuracy_before": source_accuracy["before"],
        "source_accuracy_after": source_accuracy["after"],
        "accuracy_before": accuracy(before),
        "accuracy_after": accuracy(after),
        "changed": float(np.mean(before != after)),
        "output": output,
        "predictions": predictions,
    }
    if output is not None:
        torch.save(adapter.model_.cpu(), output)
    if predictions is not None:
        write_network_predictions(
            Path(predictions), new.inputs.names, labelled.classes, before_proba, after_proba
        )
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(
        f"{method} on {report['source_rows']} labelled rows of {source} and "
        f"{report['target_rows']} rows of {target}: {epochs} epoch{'s' if epochs > 1 else ''}, "
        f"{seconds:.0f} s"
    )
    click.echo(
        f"source accuracy {100 * source_accuracy['before']:.1f} % -> "
        f"{100 * source_accuracy['after']:.1f} %"
    )
    if target_columns is not None:
        click.echo(
            f"target accuracy {100 * report['accuracy_before']:.1f} % -> "
            f"{100 * report['accuracy_after']:.1f} %   (TARGET's labels; the adaptation never "
            "reads them)"
        )
    click.echo(f"predictions changed on {100 * report['changed']:.1f} % of the target rows")
    if output is not None:
        click.echo(f"adapted network: {output}")
    if predictions is not None:
        click.echo(f"predictions: {predictions}")
