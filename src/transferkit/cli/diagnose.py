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
        if json_path:
            Path(json_path).write_text(diagnosis.to_json(), encoding="utf-8")
            click.echo(f"\nJSON written to {json_path}", err=True)
    if html_path:
        diagnosis.to_html(html_path)
        click.echo(f"HTML report written to {html_path}", err=True)
