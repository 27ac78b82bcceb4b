"""``transferkit diagnose``: which transfer scenario holds, measured, on a built-in pair or files.

Prints the verdict table and can write the HTML report (``--html``) and the JSON (``--json``);
files whose features differ are diagnosed as two raw matrices (scenario 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from transferkit.cli.data import data_options, load_data


# --------------------------------------------------------------------------- diagnose
@click.command("diagnose")
@data_options
@click.option("--alpha", type=float, default=0.05, show_default=True, help="Level of every test.")
@click.option(
    "--permutations", type=int, default=200, show_default=True, help="Permutations of MMD tests."
)
@click.option(
    "--mmd",
    "mmd_method",
    type=click.Choice(["auto", "quadratic", "linear", "rff"]),
    default="auto",
    show_default=True,
    help="MMD test: quadratic, linear-time, random features, or auto by size.",
)
@click.option(
    "--max-samples", type=int, default=4000, show_default=True, help="Rows per domain tested."
)
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Write the HTML report.")
@click.option(
    "--json", "json_path", type=click.Path(dir_okay=False), help="Write the JSON ('-': stdout)."
)
def diagnose_command(
    seed: int,
    alpha: float,
    permutations: int,
    mmd_method: str,
    max_samples: int,
    html_path: str | None,
    json_path: str | None,
    **data_options: Any,
) -> None:
    """Which transfer scenario holds between a source and a target, measured.

    Tests (1) whether the feature spaces differ, (2) whether P(X) differs (domain-classifier AUC,
    proxy A-distance, MMD, drifting features), (3) whether the label spaces differ and (4) whether
    the class balance or P(Y|X) differ, then recommends method families.

    \b
    transferkit diagnose --dataset amazon-reviews --pair books:kitchen
    transferkit diagnose --source s.csv --target t.csv --html report.html
    """
    from transferkit.diagnose import diagnose

    data = load_data(seed=seed, allow_raw=True, **data_options)
    settings = dict(
        alpha=alpha,
        n_permutations=permutations,
        mmd_method=mmd_method,
        max_samples=max_samples,
        random_state=seed,
    )
    if isinstance(data, dict):
        name = data.pop("name")
        diagnosis = diagnose(data.pop("X_source"), data.pop("X_target"), **data, **settings)
        diagnosis.summary["name"] = name
    else:
        diagnosis = diagnose(data, **settings)
    if json_path == "-":
        click.echo(diagnosis.to_json())
    else:
        click.echo(diagnosis.format_table())
        command = (
            None
            if isinstance(data, dict)
            else select_command_line(diagnosis, {**data_options, "seed": seed})
        )
        if command:
            click.echo(
                "\nNext, pick a method without target labels and label the target rows:\n"
                f"  {command}"
            )
        if json_path:
            Path(json_path).write_text(diagnosis.to_json(), encoding="utf-8")
            click.echo(f"\nJSON written to {json_path}", err=True)
    if html_path:
        diagnosis.to_html(html_path)
        click.echo(f"HTML report written to {html_path}", err=True)


#: Families ``select`` does not score: they need something it does not give (class
#: descriptions, episodes, two feature spaces, translation pairs) or train a network.
_NOT_SELECTABLE = ("zeroshot", "fewshot", "heterogeneous", "crosslingual", "deep")


def select_command_line(diagnosis: Any, data: dict[str, Any]) -> str:
    """``transferkit select`` on the same data with ``--predictions``, and as ``--methods`` the
    recommended ones it can score (shallow ones; those that need target labels only when
    ``--reveal`` shows some); without such a method, select's default pool. ``data`` is the
    command's data options with its ``seed``."""
    import shlex

    from transferkit.registry import available_methods

    shallow = available_methods(include_deep=False)
    methods: list[str] = []
    for recommendation in diagnosis.recommendations:
        for name in recommendation.methods:
            spec = shallow.get(name)
            if (
                spec is None
                or spec.deep
                or spec.family in _NOT_SELECTABLE
                or (spec.needs_target_labels and not data.get("reveal"))
                or name in methods
                or name == "source_only"
            ):
                continue
            methods.append(name)
    words = ["transferkit", "select"]
    if data.get("dataset"):
        words += ["--dataset", data["dataset"], "--pair", data["pair"]]
        for option in data.get("options") or ():
            words += ["--option", option]
    for source in data.get("source_file") or ():
        words += ["--source", source]
    if data.get("target_file"):
        words += ["--target", data["target_file"]]
    for option in ("backbone", "text_column", "label_column", "encoder", "language"):
        if data.get(option) is not None:
            words += [f"--{option.replace('_', '-')}", data[option]]
    for option in ("reveal", "seed"):
        if data.get(option):
            words += [f"--{option}", str(data[option])]
    if methods:
        words += ["--methods", ",".join(methods)]
    words += ["--predictions", "target.csv"]
    return " ".join(shlex.quote(str(word)) for word in words)
