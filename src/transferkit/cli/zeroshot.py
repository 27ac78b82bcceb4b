"""``transferkit zeroshot``: classify into classes known only by a name or a description.

Two ways in, from the user's own files:

- **Texts** (``--texts``): a CSV/TSV of documents (a text column, and a label column if the
  documents are to be scored) and the classes' descriptions (``--classes`` file or ``--class
  NAME=DESCRIPTION``); documents and descriptions are embedded by one text encoder and each
  document goes to the closest description (cosine; no training).
- **Features** (``--train`` and ``--test``): feature files (``.csv``/``.npz``/... with a label
  column, :func:`~transferkit.datasets.load_file`) of the seen classes and of the rows to
  classify, and a vector for every class: class descriptions to encode (``--classes`` /
  ``--class``) or ready vectors (``--class-embeddings``, a features file whose label column names
  the class). ESZSL or a DeViSE-style map is fitted on the seen classes; classes with a vector
  and no training row are the unseen ones.

With test labels it prints the unseen-class accuracy beside the majority class and, when seen
classes are among the test rows, the generalised scores S, U, H with calibrated stacking;
``--predictions FILE`` writes one predicted class per test row; ``--json`` prints everything as
JSON.

Examples
--------
transferkit zeroshot --texts verses.csv --text-column text --classes genres.csv
transferkit zeroshot --texts news.tsv --text-column body --class "sport=A match between teams" \\
    --class "food=Cooking and recipes"
transferkit zeroshot --train seen.npz --test test.npz --class-embeddings classes.csv --json
transferkit zeroshot --train seen.npz --test test.npz --classes classes.csv --method conse \\
    --backbone mobilenet_v2 --transductive
transferkit zeroshot --train seen.npz --test test.npz --classes classes.csv --method conse \\
    --hold-out-named
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import click

from transferkit.cli.options import backbone_option, progress_bar, require_torch

_METHODS = ("eszsl", "devise", "conse", "similarity")


@click.command("zeroshot")
@click.option("--texts", type=click.Path(dir_okay=False), help="CSV/TSV of documents to classify.")
@click.option("--text-column", default="text", show_default=True, help="Column of the texts.")
@click.option(
    "--label-column",
    default="label",
    show_default=True,
    help="Column of the texts' labels (--texts); texts without it are only predicted. Feature "
    "files keep their labels in a column 'label' or 'y'.",
)
@click.option(
    "--train",
    type=click.Path(),
    help="Features file of the seen classes' rows, or a folder of their images (one sub-folder "
    "per class, described by --backbone).",
)
@click.option(
    "--test",
    type=click.Path(),
    help="Features file of the rows to classify, or a folder of images (class sub-folders, or "
    "the images alone).",
)
@click.option(
    "--classes",
    "classes_file",
    type=click.Path(dir_okay=False),
    help="CSV/TSV of class descriptions (columns --class-column and --description-column).",
)
@click.option("--class-column", default="class", show_default=True)
@click.option("--description-column", default="description", show_default=True)
@click.option(
    "--class",
    "class_items",
    multiple=True,
    help="NAME=DESCRIPTION of one class (repeat); NAME alone encodes the name itself.",
)
@click.option(
    "--class-embeddings",
    type=click.Path(dir_okay=False),
    help="Features file of ready class vectors, the class in its label column (features mode).",
)
@click.option(
    "--encoder",
    default="use",
    show_default=True,
    help="Text encoder of the texts and descriptions: use, minilm, e5, glove, spacy-en, spacy-fr, "
    "or several joined by + (use+e5).",
)
@click.option("--language", help="ISO 639-1 code of the texts (checked against the encoder).")
@click.option(
    "--method",
    type=click.Choice(_METHODS),
    help="eszsl (default with --train), devise, conse (features of --backbone through its "
    "ImageNet head), similarity (default with --texts).",
)
@backbone_option(
    "The pre-trained backbone whose pooled features the --train/--test files hold (conse reads "
    "them through its ImageNet head), or that describes --train/--test folders of images."
)
@click.option(
    "--hold-out-named",
    is_flag=True,
    help="conse: leave out of the ImageNet head the classes whose names name one of the task's "
    "classes (e.g. 'coffee mug' for a class 'mug'), so that none of them is one of the head's.",
)
@click.option(
    "--transductive",
    is_flag=True,
    help="Refine the predictions with the unlabelled test rows (soft k-means on the prototypes).",
)
@click.option(
    "--stacking",
    default="validation",
    show_default=True,
    help="Calibrated-stacking constant of the generalised score: 'validation' (chosen on the seen "
    "classes) or a number.",
)
@click.option("--center", is_flag=True, help="similarity: subtract the documents' mean first.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--predictions",
    type=click.Path(dir_okay=False, writable=True),
    help="Write one predicted class per test row to this CSV (item: the image's path inside "
    "the folder, or the row's position, 0 first).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the task and scores as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def zeroshot_command(
    texts: str | None,
    text_column: str,
    label_column: str,
    train: str | None,
    test: str | None,
    classes_file: str | None,
    class_column: str,
    description_column: str,
    class_items: tuple[str, ...],
    class_embeddings: str | None,
    encoder: str,
    language: str | None,
    method: str | None,
    backbone: str,
    hold_out_named: bool,
    transductive: bool,
    stacking: str,
    center: bool,
    seed: int,
    predictions: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Zero-shot classification: classes described in words, no labelled example of them."""
    from transferkit.exceptions import InvalidParameterError
    from transferkit.zeroshot import (
        ESZSL,
        ConSE,
        EmbeddingSimilarity,
        LinearEmbeddingMap,
        TransductiveRefinement,
        evaluate_zero_shot,
    )

    if (texts is None) == (train is None and test is None):
        raise InvalidParameterError(
            "Give either --texts (documents to match with class descriptions) or --train and "
            "--test (feature files of the seen classes and of the rows to classify)."
        )
    if texts is None and (train is None or test is None):
        raise InvalidParameterError(
            f"Features mode needs both --train and --test; --{'test' if test is None else 'train'} "
            "is missing."
        )
    method = method or ("similarity" if texts else "eszsl")
    if texts and method != "similarity":
        raise InvalidParameterError(
            f"--method {method} learns from seen classes' rows; with --texts use --method "
            "similarity, or give --train and --test feature files."
        )
    if hold_out_named and method != "conse":
        raise InvalidParameterError(
            f"--hold-out-named leaves classes out of ConSE's ImageNet head; --method {method} "
            "has no such head (use --method conse)."
        )
    if method == "conse" and class_embeddings:
        raise InvalidParameterError(
            "--method conse embeds the ImageNet class names with the encoder of the class "
            "vectors, unknown for ready vectors (--class-embeddings): describe the classes "
            "(--classes or --class) and name the encoder (--encoder)."
        )
    gamma: Any = stacking
    if stacking != "validation":
        try:
            gamma = float(stacking)
        except ValueError:
            raise InvalidParameterError(
                f"--stacking takes 'validation' or a number; got {stacking!r}."
            ) from None

    bar = progress_bar(None, "reading", quiet=quiet)

    def encoding(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.set_description(f"{encoder} encoding")
        bar.refresh()

    try:
        task = _load_task(click.get_current_context().params, progress=encoding)
        models = {
            "eszsl": ESZSL(),
            "devise": LinearEmbeddingMap(random_state=seed),
            "conse": ConSE(
                backbone=backbone, encoder=encoder, exclude="named" if hold_out_named else None
            ),
            "similarity": EmbeddingSimilarity(center=center),
        }
        model = models[method]
        if transductive:
            model = TransductiveRefinement(model)

        def fitting(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.set_description(f"fitting {method}")
            bar.refresh()

        report = None
        if task.y_test is not None:
            report = evaluate_zero_shot(
                model, task, stacking=gamma, random_state=seed, progress=fitting
            )
        fitted = model.fit(task.X_train, task.y_train, task.embeddings)
    finally:
        bar.close()
    shift = 0.0 if report is None or report.stacking is None else report.stacking
    if report is None and isinstance(gamma, float):
        shift = gamma
    predicted = fitted.predict(task.X_test, stacking=shift)
    if predictions:
        from transferkit.datasets import item_names

        items = item_names(texts or test, len(predicted))
        with open(predictions, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(
                ["item", "prediction"] + ([label_column] if task.y_test is not None else [])
            )
            for row, (item, label) in enumerate(zip(items, predicted.tolist(), strict=True)):
                truth = [task.y_test[row].item()] if task.y_test is not None else []
                writer.writerow([item, label, *truth])
    payload: dict[str, Any] = {
        "task": task.describe(),
        "method": method,
        "transductive": transductive,
        "encoder": encoder if (texts or class_embeddings is None) else None,
        "seen_classes": [str(c) for c in task.seen_classes.tolist()],
        "unseen_classes": [str(c) for c in task.unseen_classes.tolist()],
        "n_test": len(task.X_test),
        "scores": None if report is None else report.to_dict(),
        "predicted_counts": {str(c): int(n) for c, n in zip(*_counts(predicted), strict=True)},
        "predictions_file": predictions,
    }
    if as_json:
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    click.echo(task.describe() + ".")
    if report is None:
        click.echo("No test labels: predictions only.")
    else:
        click.echo(
            f"Unseen classes, zero-shot accuracy: {report.unseen_accuracy:.1%} on "
            f"{report.n_unseen_test} rows (majority class {report.majority:.1%}; per-class "
            f"mean {report.unseen_balanced_accuracy:.1%})."
        )
        for label, accuracy in report.per_class.items():
            click.echo(f"  {label}: {accuracy:.1%}")
        if report.harmonic is not None:
            click.echo(
                f"Generalised (seen and unseen classes together), calibrated stacking "
                f"{report.stacking:.3g}: S {report.seen:.1%}, U {report.unseen:.1%}, "
                f"H {report.harmonic:.1%} (without stacking: S {report.seen_uncalibrated:.1%}, "
                f"U {report.unseen_uncalibrated:.1%}, H {report.harmonic_uncalibrated:.1%}); "
                f"AUSUC {report.ausuc:.3f}."
            )
    counts = ", ".join(f"{c}: {n}" for c, n in payload["predicted_counts"].items())
    click.echo(f"Predicted: {counts}.")
    if predictions:
        click.echo(f"Predictions written to {predictions}.")


def _counts(predicted: Any) -> tuple[Any, Any]:
    import numpy as np

    return np.unique(predicted, return_counts=True)


def _class_texts(
    classes_file: str | None,
    class_column: str,
    description_column: str,
    class_items: tuple[str, ...],
) -> dict[Any, str]:
    """Each class's description, from the file and the --class options (in that order)."""
    from transferkit.datasets.files import load_text_file
    from transferkit.exceptions import InvalidParameterError

    described: dict[Any, str] = {}
    if classes_file:
        texts, labels = load_text_file(
            classes_file, description_column, class_column, labels_required=True
        )
        for label, text in zip(labels.tolist(), texts, strict=True):
            if label in described:
                raise InvalidParameterError(
                    f"{classes_file}: class {label!r} is described twice; keep one row per class."
                )
            described[label] = text
    for item in class_items:
        name, _, text = item.partition("=")
        name = name.strip()
        if not name:
            raise InvalidParameterError(f"--class takes NAME=DESCRIPTION (or NAME); got {item!r}.")
        described[name] = text.strip() or name
    return described


def _load_task(options: dict[str, Any], progress: Any) -> Any:
    """The ZeroShotTask of the user's files; ``options`` are the command's parsed options (the
    click context's ``params``, so the file options are listed once, on the command)."""
    import numpy as np

    from transferkit.checks import densify
    from transferkit.datasets import load_file
    from transferkit.datasets.files import load_text_file
    from transferkit.exceptions import InvalidParameterError
    from transferkit.text import encode_texts
    from transferkit.zeroshot import ClassEmbeddings, ZeroShotTask, embed_classes

    texts, train, test = options["texts"], options["train"], options["test"]
    class_column, description_column = options["class_column"], options["description_column"]
    class_embeddings, encoder, language = (
        options["class_embeddings"],
        options["encoder"],
        options["language"],
    )
    described = _class_texts(
        options["classes_file"], class_column, description_column, options["class_items"]
    )
    if class_embeddings:
        if texts:
            raise InvalidParameterError(
                "--class-embeddings goes with --train/--test feature files; documents (--texts) "
                "are matched with encoded class descriptions (--classes or --class)."
            )
        if described:
            raise InvalidParameterError(
                "Give the classes either as ready vectors (--class-embeddings) or as descriptions "
                "to encode (--classes/--class), not both."
            )
        vectors, labels, _ = load_file(class_embeddings)
        if labels is None:
            raise InvalidParameterError(
                f"{class_embeddings} has no label column naming the class of each vector; add "
                "a column 'label' (or 'y')."
            )
        embeddings = ClassEmbeddings(
            labels, densify(vectors, "zeroshot", "class vectors are dense")
        )
    else:
        if not described:
            raise InvalidParameterError(
                "No classes: describe them with --classes FILE (columns "
                f"{class_column!r} and {description_column!r}) or --class NAME=DESCRIPTION, or "
                "give ready vectors with --class-embeddings."
            )
        embeddings = embed_classes(
            list(described), described, encoder, language=language, progress=progress
        )
    if texts:
        documents, labels = load_text_file(texts, options["text_column"], options["label_column"])
        X_test = encode_texts(documents, encoder, language=language, progress=progress)
        return ZeroShotTask(None, None, X_test, labels, embeddings, name=str(texts))
    folders = [Path(path).is_dir() for path in (train, test)]
    if any(folders):
        if not all(folders):
            raise InvalidParameterError(
                "Give --train and --test both as feature files or both as folders of images "
                f"(one sub-folder per class); got {train} and {test}."
            )
        require_torch("Folders of images")
        from transferkit.deep.folders import image_folder_features

        backbone = options["backbone"]
        X_train, y_train = image_folder_features(train, backbone, progress=progress)
        X_test, y_test = image_folder_features(
            test, backbone, labels_required=False, progress=progress
        )
    else:
        X_train, y_train, _ = load_file(train)
        X_test, y_test, _ = load_file(test)
    if y_train is None:
        raise InvalidParameterError(
            f"{train} has no label column: the seen classes' rows need their labels (a column "
            "'label' or 'y')."
        )
    return ZeroShotTask(
        densify(X_train, "zeroshot", "the models are dense"),
        np.asarray(y_train),
        densify(X_test, "zeroshot", "the models are dense"),
        y_test,
        embeddings,
        name=f"{train} -> {test}",
    )
