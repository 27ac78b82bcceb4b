"""``transferkit multitask``: should a user's related tasks be learned apart, pooled or together?

Each TASK is one labelled file of features (``.csv``/``.tsv`` with a ``label`` column, ``.npz``
with ``X`` and ``y``, svmlight, ``.mat``), a table of texts (``--text-column``, encoded by
``--encoder``) or a folder of images with one sub-folder per class (described by
``--backbone``): the reviews of one shop, the photographs of one site. A share of each class of
each task is held out (``--test-fraction``); each method trains on every task's other rows and is
scored on each task's held-out rows (:func:`transferkit.datasets.multitask.multitask_from_files`,
:mod:`transferkit.multitask`).

Examples
--------
transferkit multitask books.svmlight dvd.svmlight kitchen.svmlight
transferkit multitask site_a/ site_b/ site_c/ --method single_task --method mtl_uncertainty
transferkit multitask shop1.csv shop2.csv --text-column review --param epochs=40 --json
transferkit multitask shop1.csv shop2.csv shop3.csv --method mtl_hard -o models/
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from transferkit.cli.options import (
    check_family,
    echo_task_table,
    labelled_file_options,
    method_params,
    param_option,
    reading_progress,
    require_torch,
    seed_option,
    test_fraction_option,
)

DEFAULT_METHODS = ("single_task", "pooled", "mtl_hard")
POOLED = "pooled"


@click.command("multitask")
@click.argument("tasks", nargs=-1, required=True, type=click.Path())
@click.option(
    "--method",
    "methods",
    multiple=True,
    help="A multi-task method (repeat for several): single_task, pooled, mtl_hard, "
    f"mtl_uncertainty, mtl_pcgrad, mtl_soft. Default: {', '.join(DEFAULT_METHODS)} (pooled only "
    "where every task has the same classes).",
)
@param_option("method", "epochs=40, hidden_dim=256", "transferkit.multitask")
@test_fraction_option("score it on")
@labelled_file_options("Pre-trained CNN whose features describe folders of images.")
@seed_option
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False),
    default=None,
    help="Save what one --method learned, one file per task (FOLDER/TASK.joblib) with how the "
    "tasks were read: transferkit predict FOLDER/TASK.joblib DATA labels that task's new rows.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the tasks and every score as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def multitask_command(
    tasks: tuple[str, ...],
    methods: tuple[str, ...],
    params: tuple[str, ...],
    test_fraction: float,
    text_column: str | None,
    label_column: str,
    encoder: str,
    backbone: str,
    seed: int,
    output: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Multi-task learning on your tasks: one network per task, pooled, or shared.

    TASKS are labelled files (or folders of images, one sub-folder per class), one per task.
    """
    require_torch("Multi-task learning")
    from transferkit.datasets.multitask import multitask_from_files
    from transferkit.exceptions import InvalidParameterError
    from transferkit.registry import make_method

    if output is not None and len(methods) != 1:
        raise click.UsageError(
            "--output saves one method's networks; name it with one --method (e.g. --method "
            "mtl_hard)."
        )
    check_family(methods, "multitask", "--method", "multi-task method")
    folders = any(Path(task).is_dir() for task in tasks)
    with reading_progress(folders, quiet) as encoding:
        data = multitask_from_files(
            tasks,
            test_fraction=test_fraction,
            text_column=text_column,
            label_column=label_column,
            encoder=encoder,
            backbone=backbone,
            random_state=seed,
            progress=encoding,
        )
    task_classes = data.metadata["task_classes"]
    same_classes = len({tuple(c) for c in task_classes.values()}) == 1
    n_scored = {t: int((data.Y_test[:, i] >= 0).sum()) for i, t in enumerate(data.task_names)}
    notes = []
    if POOLED in methods and not same_classes:
        raise InvalidParameterError(
            "pooled trains one head for every task, so every task needs the same classes; these "
            "have "
            + "; ".join(f"{t} {classes}" for t, classes in task_classes.items())
            + ". Leave pooled out, or give tasks with the same classes."
        )
    if not methods:
        methods = (
            DEFAULT_METHODS if same_classes else tuple(m for m in DEFAULT_METHODS if m != POOLED)
        )
        if not same_classes:
            notes.append("pooled left out: the tasks do not have the same classes.")
    chosen = method_params(methods, params)
    results = []
    for name in methods:
        method = make_method(name, random_state=seed)
        method.set_params(progress=not quiet, **chosen[name])
        score = method.score_problem(data)
        details = method.details_
        results.append(
            {
                "method": name,
                "params": chosen[name],
                "mean_accuracy": score,
                "task_accuracies": {t: details[f"accuracy_{t}"] for t in data.task_names},
                "worst_task_accuracy": details["worst_task_accuracy"],
                "fit_seconds": details["fit_seconds"],
            }
        )
    saved = []
    if output is not None:
        saved = _save(output, name, method, chosen[name], data, tasks, text_column,
                      label_column, encoder, backbone)  # fmt: skip
    if as_json:
        payload = {
            "tasks": [str(task) for task in tasks],
            "task_names": list(data.task_names),
            "task_classes": task_classes,
            "n_labelled": data.n_labelled,
            "n_test": n_scored,
            "test_fraction": test_fraction,
            "seed": seed,
            "encoder": encoder if text_column else None,
            "backbone": backbone if folders else None,
            "notes": notes,
            "results": results,
            "saved": saved,
        }
        click.echo(json.dumps(payload, indent=2, default=float))
        return
    _print_results(data, results, test_fraction, seed, notes, same_classes, n_scored)
    if saved:
        click.echo(
            f"{methods[0]}'s networks saved, one file per task: {', '.join(saved)}; label a "
            f"task's new rows with: transferkit predict {saved[0]} DATA"
        )


def _save(
    folder: str,
    method_name: str,
    method: Any,
    params: dict[str, Any],
    data: Any,
    tasks: tuple[str, ...],
    text_column: str | None,
    label_column: str,
    encoder: str,
    backbone: str,
) -> list[str]:
    """The ``--output`` files: each task of the fitted ``method``
    (:class:`~transferkit.multitask.TaskClassifier`) with how the tasks were read."""
    from transferkit.cli.predict import model_reads, save_model
    from transferkit.multitask import TaskClassifier

    Path(folder).mkdir(parents=True, exist_ok=True)
    reads = model_reads(
        list(tasks),
        n_features=method.n_features_in_,
        text_column=text_column,
        label_column=label_column,
        encoder=encoder,
        backbone=backbone,
    )
    paths = []
    for t, name in enumerate(data.task_names):
        path = str(Path(folder) / f"{Path(name).name}.joblib")
        model = TaskClassifier(method, t, name, class_names=data.metadata["class_names"])
        save_model(path, model, method=method_name, params=params,
                   fitted_on=f"task {name} of {', '.join(data.task_names)}", reads=reads)  # fmt: skip
        paths.append(path)
    return paths


def _print_results(
    data: Any,
    results: list[dict[str, Any]],
    test_fraction: float,
    seed: int,
    notes: list[str],
    shared: bool,
    n_scored: dict[str, int],
) -> None:
    names = data.task_names
    sizes = ", ".join(f"{t} {data.n_labelled[t]}+{n_scored[t]}" for t in names)
    classes = data.metadata["task_classes"]
    click.echo(
        f"{len(names)} tasks, "
        + (
            f"the same {len(classes[names[0]])} classes in each."
            if shared
            else "with their own classes: "
            + "; ".join(f"{t} {len(classes[t])}" for t in names)
            + "."
        )
    )
    click.echo(
        f"Labelled rows trained on + scored on: {sizes} ({100 * test_fraction:.0f} % of each "
        f"class held out, seed {seed})."
    )
    for note in notes:
        click.echo(note)
    click.echo("")
    echo_task_table(
        "method",
        [("mean", 7), ("worst", 7)],
        names,
        "seconds",
        [
            (
                r["method"],
                [f"{100 * r['mean_accuracy']:.1f} %", f"{100 * r['worst_task_accuracy']:.1f} %"],
                [r["task_accuracies"][t] for t in names],
                f"{r['fit_seconds']:.1f}",
            )
            for r in results
        ],
    )
    click.echo("")
    click.echo(
        "mean and worst: over the tasks, each scored on its own held-out rows; single_task "
        "trains one network per task (the baseline to beat), pooled one network on every "
        "task's labels, the mtl_* methods share an encoder."
    )
