"""``transferkit continual``: learn a user's tasks one after the other and measure the forgetting.

Each TASK is one labelled file of features (``.csv``/``.tsv`` with a ``label`` column, ``.npz``
with ``X`` and ``y``, svmlight, ``.mat``), a table of texts (``--text-column``, encoded by
``--encoder``) or a folder of images with one sub-folder per class (described by
``--backbone``), in the order the tasks arrive. A share of each class of each task is held out
(``--test-fraction``); every strategy learns the tasks in order and is tested on every task
after each one (:func:`transferkit.continual.stream_from_files`,
:class:`transferkit.continual.ContinualStrategy`).

Examples
--------
transferkit continual day.npz dusk.npz night.npz
transferkit continual photos/studio photos/phone photos/webcam --strategy naive --strategy replay
transferkit continual q1.csv q2.csv q3.csv --scenario class --param memory_size=500 --plot figures
transferkit continual reviews_2019.tsv reviews_2023.tsv --text-column text --json
transferkit continual day.npz dusk.npz night.npz --strategy replay -o replay.joblib
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

DEFAULT_STRATEGIES = ("naive", "ewc", "replay", "joint")


@click.command("continual")
@click.argument("tasks", nargs=-1, required=True, type=click.Path())
@click.option(
    "--scenario",
    type=click.Choice(["auto", "task", "domain", "class"]),
    default="auto",
    show_default=True,
    help="auto: domain-incremental when every task has the same classes, class-incremental "
    "when no two tasks share a class; task: the task is known at test time.",
)
@click.option(
    "--strategy",
    "strategies",
    multiple=True,
    help="A strategy (repeat for several): naive, joint, ewc, online_ewc, si, lwf, replay, "
    f"agem. Default: {', '.join(DEFAULT_STRATEGIES)} (naive the floor, joint the ceiling).",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Passes over each task's training rows.",
)
@param_option(
    "strategy", "ewc_lambda=100, memory_size=500, hidden=[256,256]", "transferkit.continual"
)
@test_fraction_option("test on")
@labelled_file_options("Pre-trained CNN whose features describe folders of images.")
@seed_option
@click.option(
    "--plot",
    "plot_folder",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder to write each strategy's accuracy matrix to (STRATEGY.png).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    default=None,
    help="Save the network the strategy learned, after the last task (one --strategy; the "
    "domain or class scenario), with how the tasks were read (joblib): transferkit predict "
    "FILE DATA labels new rows.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the stream and every metric as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def continual_command(
    tasks: tuple[str, ...],
    scenario: str,
    strategies: tuple[str, ...],
    epochs: int,
    params: tuple[str, ...],
    test_fraction: float,
    text_column: str | None,
    label_column: str,
    encoder: str,
    backbone: str,
    seed: int,
    plot_folder: str | None,
    output: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Continual learning on your tasks: learn them in order, measure what each strategy forgets.

    TASKS are labelled files (or folders of images, one sub-folder per class), one per task, in
    the order they arrive.
    """
    require_torch("Continual learning")
    from transferkit.continual import stream_from_files
    from transferkit.registry import make_method

    if output is not None and len(strategies) != 1:
        raise click.UsageError(
            "--output saves one strategy's network; name it with one --strategy (e.g. "
            "--strategy replay)."
        )
    strategies = strategies or DEFAULT_STRATEGIES
    check_family(strategies, "continual", "--strategy", "continual-learning strategy")
    chosen = method_params(strategies, params, {"epochs": "--epochs"})
    folders = any(Path(task).is_dir() for task in tasks)
    with reading_progress(folders, quiet) as encoding:
        stream = stream_from_files(
            tasks,
            scenario,
            test_fraction=test_fraction,
            text_column=text_column,
            label_column=label_column,
            encoder=encoder,
            backbone=backbone,
            random_state=seed,
            progress=encoding,
        )
    if output is not None and stream.scenario == "task":
        raise click.UsageError(
            "--output keeps a network that labels new rows alone, and in the task scenario "
            "each row's task picks its outputs; use --scenario domain or class (or auto)."
        )
    results = []
    for name in strategies:
        method = make_method(name, random_state=seed)
        method.set_params(epochs=epochs, progress=not quiet, **chosen[name])
        method.score_problem(stream)
        results.append({"strategy": name, "params": chosen[name], **method.details_})
    if output is not None:
        _save(output, method, chosen[name], epochs, stream, tasks, text_column, label_column,
              encoder, backbone)  # fmt: skip
    names = stream.metadata["tasks"]
    if plot_folder is not None:
        from transferkit.plots import plot_accuracy_matrix

        folder = Path(plot_folder)
        folder.mkdir(parents=True, exist_ok=True)
        for result in results:
            plot_accuracy_matrix(
                result["accuracy_matrix"],
                folder / f"{result['strategy']}.png",
                title=f"{result['strategy']}, {stream.scenario}-incremental",
                task_names=names,
            )
    if as_json:
        payload = {
            "tasks": [str(task) for task in tasks],
            "task_names": names,
            "scenario": stream.scenario,
            "n_outputs": stream.n_outputs,
            "test_fraction": test_fraction,
            "epochs": epochs,
            "seed": seed,
            "encoder": encoder if text_column else None,
            "backbone": backbone if folders else None,
            "results": results,
            "output": output,
        }
        click.echo(json.dumps(payload, indent=2, default=float))
        return
    _print_results(stream, results, epochs, test_fraction, seed)
    if plot_folder is not None:
        click.echo(f"Accuracy matrices written to {plot_folder}/ (one PNG per strategy).")
    if output is not None:
        click.echo(
            f"{strategies[0]}'s network after the last task saved to {output}; label new rows "
            f"with: transferkit predict {output} DATA"
        )


def _save(
    path: str,
    method: Any,
    params: dict[str, Any],
    epochs: int,
    stream: Any,
    tasks: tuple[str, ...],
    text_column: str | None,
    label_column: str,
    encoder: str,
    backbone: str,
) -> None:
    """The ``--output`` file: the strategy's network as a classifier of the tasks' labels
    (:class:`~transferkit.continual.classifier.StreamClassifier`) and how the tasks were read."""
    from transferkit.cli.predict import model_reads, save_model
    from transferkit.continual.classifier import StreamClassifier

    model = StreamClassifier(method)
    reads = model_reads(
        list(tasks),
        n_features=model.n_features_in_,
        text_column=text_column,
        label_column=label_column,
        encoder=encoder,
        backbone=backbone,
    )
    save_model(
        path,
        model,
        method=method.name,
        params={**params, "epochs": epochs, "scenario": stream.scenario},
        fitted_on=stream.name,
        reads=reads,
    )


_SCENARIO_WORDS = {
    "domain": "domain-incremental: the same classes in every task, one set of outputs",
    "class": "class-incremental: each task brings new classes, chosen among every class seen",
    "task": "task-incremental: the task is known at test time, each task its own outputs",
}


def _print_results(
    stream: Any, results: list[dict[str, Any]], epochs: int, test_fraction: float, seed: int
) -> None:
    names = stream.metadata["tasks"]
    sizes = ", ".join(
        f"{name} {len(e.y_train)}+{len(e.y_test)}"
        for name, e in zip(names, stream.experiences, strict=True)
    )
    click.echo(f"{stream.n_tasks} tasks, {_SCENARIO_WORDS[stream.scenario]}.")
    click.echo(
        f"Rows trained on + tested on: {sizes} ({100 * test_fraction:.0f} % of each class held "
        f"out, seed {seed}); {epochs} epochs a task."
    )
    click.echo("")
    echo_task_table(
        "strategy",
        [("average", 8), ("BWT", 6), ("forgetting", 10)],
        names,
        "s/epoch",
        [
            (
                r["strategy"],
                [
                    f"{100 * r['average_accuracy']:.1f} %",
                    f"{100 * r['bwt']:+.1f}",
                    f"{100 * r['forgetting']:.1f}",
                ],
                r["final_accuracies"],
                f"{r['epoch_seconds']:.2f}",
            )
            for r in results
        ],
    )
    click.echo("")
    click.echo(
        "average: accuracy over every task after the last one; BWT and forgetting in points "
        "(BWT below 0: later tasks cost earlier ones); the task columns: each task's accuracy "
        "after the last task."
    )
