"""``transferkit predict``: label new target rows with a pick saved by ``transferkit select -o``.

The saved file holds the fitted method and how the target's rows were read when it was picked
(:func:`transferkit.cli.select.save_pick`): DATA is read the same way, a folder of images through
the same backbone, a CSV/TSV of texts through the same encoder and text column, a file of
features with the target's columns (named columns are put in the target's order; an svmlight
file is read with the target's feature count and index base). Labels in DATA, when there are any, only
score the predictions.

Examples
--------
transferkit select --source studio/ --target phone/ -o pick.joblib
transferkit predict pick.joblib phone_march/ --predictions march.csv
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from transferkit.cli.options import reading_progress


@click.command("predict")
@click.argument("pick", type=click.Path())
@click.argument("data", type=click.Path())
@click.option(
    "--predictions",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write each row's class and its probability to this CSV (item: the image's path "
    "inside the folder, or the row's position, 0 first).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def predict_command(
    pick: str, data: str, predictions: str | None, as_json: bool, quiet: bool
) -> None:
    """Label new target rows (DATA) with a pick saved by `transferkit select -o PICK`."""
    import csv

    import numpy as np

    from transferkit.datasets import item_names
    from transferkit.datasets.files import (
        SVMLIGHT_SUFFIXES,
        align_columns,
        load_file,
        load_svmlight_as,
    )
    from transferkit.datasets.labelled import load_labelled_domains
    from transferkit.exceptions import DataFormatError, DatasetNotFoundError
    from transferkit.selection import predictions_with_confidence

    saved = read_pick(pick)
    reads = saved["reads"]
    if not Path(data).exists():
        raise DatasetNotFoundError(f"{data} does not exist.")
    folder = Path(data).is_dir()
    if folder != (reads["kind"] == "images"):
        picked_on = {"images": "folders of images", "texts": "files of texts"}.get(
            reads["kind"], "files of features"
        )
        raise DataFormatError(
            f"{pick} was picked on {picked_on}; {data} is a {'folder' if folder else 'file'}. "
            "Give DATA in the form the target had."
        )
    with reading_progress(folder, quiet) as encoding:
        zero_based = reads.get("svmlight_zero_based")
        if zero_based is not None and Path(data).suffix.lower() in SVMLIGHT_SUFFIXES:
            X, y = load_svmlight_as(data, n_features=reads["n_features"], zero_based=zero_based)
        elif reads["kind"] == "features":
            X, y, names = load_file(data)  # named columns are put in the target's order
            X = align_columns(X, names, reads.get("feature_names"), Path(data), "pick's target")
        else:
            ((X, y),) = load_labelled_domains(
                [data],
                text_column=reads["text_column"],
                label_column=reads["label_column"] or "label",
                encoder=reads["encoder"] or "use",
                backbone=reads["backbone"] or "mobilenet_v2",
                progress=encoding,
                labels_required=False,
                dense=False,
            )
    if X.shape[1] != reads["n_features"]:
        raise DataFormatError(
            f"{data} has {X.shape[1]} features; the pick in {pick} takes {reads['n_features']}, "
            "as the target it was picked on had."
        )
    predicted, confidence = predictions_with_confidence(saved["model"], X)
    labels, counts = np.unique(predicted.astype(str), return_counts=True)
    accuracy = None if y is None else float(np.mean(predicted.astype(str) == y.astype(str)))
    if predictions is not None:
        with open(predictions, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["item", "prediction", "confidence"])
            items = item_names(data, len(predicted))
            for item, label, p in zip(items, predicted, confidence, strict=True):
                writer.writerow([item, label, f"{p:.4f}"])
    report: dict[str, Any] = {
        "pick": pick,
        "method": saved["method"],
        "params": saved["params"],
        "data": data,
        "rows": len(predicted),
        "counts": {str(k): int(v) for k, v in zip(labels, counts, strict=True)},
        "mean_confidence": float(confidence.mean()),
        "accuracy": accuracy,
        "predictions": predictions,
    }
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
        return
    click.echo(
        f"{saved['method']} {json.dumps(saved['params'], default=str)} (picked on "
        f"{saved['problem']}) on {len(predicted)} {'images' if folder else 'rows'} of {data}"
    )
    shares = ", ".join(
        f"{k} {100 * v / len(predicted):.1f} %" for k, v in zip(labels, counts, strict=True)
    )
    click.echo(f"classes predicted: {shares}")
    click.echo(f"mean confidence {100 * report['mean_confidence']:.1f} %")
    if accuracy is not None:
        click.echo(f"accuracy {100 * accuracy:.1f} % (DATA's labels; the pick never read them)")
    if predictions is not None:
        click.echo(f"predictions: {predictions}")


def read_pick(path: str) -> dict[str, Any]:
    """The file ``transferkit select -o`` saved, checked: a clear error for anything else."""
    import joblib

    from transferkit.exceptions import DataFormatError, DatasetNotFoundError

    if not Path(path).is_file():
        raise DatasetNotFoundError(f"Pick file {path} does not exist (transferkit select -o).")
    try:
        saved = joblib.load(path)
    except Exception as error:  # joblib's and pickle's errors have no common class
        raise DataFormatError(
            f"{path} is not a file saved by transferkit select -o: {type(error).__name__}: {error}"
        ) from error
    if not isinstance(saved, dict) or not {"model", "reads"} <= set(saved):
        raise DataFormatError(
            f"{path} is not a pick saved by transferkit select -o (it holds "
            f"{type(saved).__name__})."
        )
    return saved
