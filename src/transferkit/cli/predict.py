"""``transferkit predict``: label new rows with a model saved by ``transferkit select -o`` (the
pick for a target), ``transferkit continual -o`` (the network a strategy learned on the tasks) or
``transferkit multitask -o`` (one file per task).

The saved file (:func:`save_model`) holds the fitted model and how the rows it learned from were
read (:func:`model_reads`): DATA is read the same way, a folder of images through the same
backbone, a CSV/TSV of texts through the same encoder and text column, a file of features with
the same columns (named columns are put in the saved order; an svmlight file is read with the
saved feature count and index base). Labels in DATA, when there are any, only score the
predictions.

Examples
--------
transferkit select --source studio/ --target phone/ -o pick.joblib
transferkit predict pick.joblib phone_march/ --predictions march.csv
transferkit continual spring.csv summer.csv autumn.csv --strategy replay -o replay.joblib
transferkit predict replay.joblib winter.csv
transferkit multitask shop1.csv shop2.csv --method mtl_hard -o shops/
transferkit predict shops/shop2.joblib shop2_march.csv
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
    """Label new rows (DATA) with a model saved by `transferkit select -o PICK`, `transferkit
    continual -o PICK` or `transferkit multitask -o FOLDER` (PICK: FOLDER/TASK.joblib)."""
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
            f"{pick} was fitted on {picked_on}; {data} is a {'folder' if folder else 'file'}. "
            "Give DATA in the form the rows it learned from had."
        )
    with reading_progress(folder, quiet) as encoding:
        zero_based = reads.get("svmlight_zero_based")
        if zero_based is not None and Path(data).suffix.lower() in SVMLIGHT_SUFFIXES:
            X, y = load_svmlight_as(data, n_features=reads["n_features"], zero_based=zero_based)
        elif reads["kind"] == "features":
            X, y, names = load_file(data)  # named columns are put in the target's order
            X = align_columns(X, names, reads.get("feature_names"), Path(data), "saved model's")
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
            f"{data} has {X.shape[1]} features; the model in {pick} takes "
            f"{reads['n_features']}, as the rows it learned from had."
        )
    predicted, confidence = predictions_with_confidence(saved["model"], X)
    labels, counts = np.unique(predicted.astype(str), return_counts=True)
    accuracy = None if y is None else float(np.mean(predicted.astype(str) == y.astype(str)))
    known = set(np.asarray(saved["model"].classes_).astype(str).tolist())
    unknown = [] if y is None else sorted(set(y.astype(str).tolist()) - known)
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
        "unknown_labels": unknown,
        "predictions": predictions,
    }
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
        return
    click.echo(
        f"{saved['method']} {json.dumps(saved['params'], default=str)} (fitted on "
        f"{saved['problem']}) on {len(predicted)} {'images' if folder else 'rows'} of {data}"
    )
    shares = ", ".join(
        f"{k} {100 * v / len(predicted):.1f} %" for k, v in zip(labels, counts, strict=True)
    )
    click.echo(f"classes predicted: {shares}")
    click.echo(f"mean confidence {100 * report['mean_confidence']:.1f} %")
    if accuracy is not None:
        click.echo(f"accuracy {100 * accuracy:.1f} % (DATA's labels; the model never read them)")
    if unknown:
        rows = int(np.isin(y.astype(str), unknown).sum())
        click.echo(
            f"Note: {rows} rows of DATA have labels the model never learned ({unknown[:5]}; it "
            f"knows {sorted(known)[:10]}), so the accuracy counts them as wrong."
        )
    if predictions is not None:
        click.echo(f"predictions: {predictions}")


def model_reads(
    files: list[str],
    *,
    n_features: int,
    text_column: str | None = None,
    label_column: str | None = None,
    encoder: str | None = None,
    backbone: str | None = None,
    feature_names: Any = None,
) -> dict[str, Any]:
    """How the rows a model learned from were read (``files``: those files or folders), so that
    ``predict`` reads DATA alike: ``kind`` (images, texts or features), the backbone of folders
    of images, the text column and encoder of texts, the width and names of features, and the
    index base of svmlight files (a new file read alone could count its columns otherwise)."""
    from transferkit.bench.suite import DEFAULT_BACKBONE
    from transferkit.datasets.files import SVMLIGHT_SUFFIXES, svmlight_zero_based

    texts = text_column is not None
    images = any(Path(f).is_dir() for f in files)
    reads: dict[str, Any] = {
        "kind": "images" if images else "texts" if texts else "features",
        "backbone": (backbone or DEFAULT_BACKBONE) if images else None,
        "text_column": text_column,
        "label_column": (label_column or "label") if texts else None,
        "encoder": (encoder or "use") if texts else None,
        "n_features": int(n_features),
        "feature_names": None if texts or images or feature_names is None
        else [str(name) for name in feature_names],
    }  # fmt: skip
    svmlight = [f for f in files if Path(f).suffix.lower() in SVMLIGHT_SUFFIXES]
    if svmlight and not images and not texts:
        reads["svmlight_zero_based"] = svmlight_zero_based(svmlight)
    return reads


def save_model(
    path: str, model: Any, *, method: str, params: Any, fitted_on: str, reads: dict[str, Any]
) -> None:
    """Save (joblib) what ``predict`` reads: the fitted ``model`` (``predict``, ``classes_``,
    probabilities), what it is, the data it was fitted on, and how those rows were read."""
    import joblib

    joblib.dump(
        {"model": model, "method": method, "params": params, "problem": fitted_on, "reads": reads},
        path,
    )


def read_pick(path: str) -> dict[str, Any]:
    """A file ``transferkit select -o``, ``continual -o`` or ``multitask -o`` saved, checked: a
    clear error for anything else."""
    import joblib

    from transferkit.exceptions import DataFormatError, DatasetNotFoundError

    if not Path(path).is_file():
        raise DatasetNotFoundError(
            f"Model file {path} does not exist (transferkit select -o, continual -o or "
            "multitask -o)."
        )
    try:
        saved = joblib.load(path)
    except Exception as error:  # joblib's and pickle's errors have no common class
        raise DataFormatError(
            f"{path} is not a file saved by transferkit select -o, continual -o or multitask -o: "
            f"{type(error).__name__}: {error}"
        ) from error
    if not isinstance(saved, dict) or not {"model", "reads"} <= set(saved):
        raise DataFormatError(
            f"{path} is not a model saved by transferkit select -o, continual -o or multitask -o "
            "(it holds "
            f"{type(saved).__name__})."
        )
    return saved
