"""``transferkit plot``: domain-score histograms (the article's Figure 18) and 2-D embeddings.

The data are a built-in pair (``DATASET SOURCE TARGET``, or ``--dataset``/``--pair``) or the
user's own, read as ``diagnose`` and ``select`` read them (:mod:`transferkit.cli.data`): files of
features, CSV/TSV files of texts with ``--text-column``, or folders of images. Deep methods (the
default ``--method dann``) train with a progress bar on a terminal, none in a log, none with
``--quiet``; without PyTorch they stop with a line saying how to install it.

Examples
--------
transferkit plot domain-scores digits synthetic mnist --method dann -o scores.png
transferkit plot embedding moons source rotated --method dann --projection tsne -o emb.png
transferkit plot domain-scores --source photos/studio --target photos/phone --method coral -o s.png
"""

from __future__ import annotations

import warnings
from typing import Any

import click

from transferkit.cli.data import data_options, load_data
from transferkit.cli.options import json_object_callback, option_group, require_torch
from transferkit.exceptions import DegenerateResultWarning, InvalidParameterError


def _load(builtin: tuple[str, ...], data: dict[str, Any]) -> Any:
    """The problem to draw: the positional ``DATASET SOURCE TARGET`` or the data options."""
    if builtin:
        if len(builtin) != 3:
            raise InvalidParameterError(
                f"Name a built-in pair with three words, DATASET SOURCE TARGET (e.g. digits "
                f"synthetic mnist); got {' '.join(builtin)!r}. Your own data: --source/--target."
            )
        if data["dataset"] or data["pair"] or data["source_file"] or data["target_file"]:
            raise InvalidParameterError(
                f"Give the data once: {' '.join(builtin)} or --dataset/--pair or --source/--target."
            )
        data = {**data, "dataset": builtin[0], "pair": f"{builtin[1]}:{builtin[2]}"}
    if data["feature_spaces"] != "same":
        raise InvalidParameterError(
            "transferkit plot compares representations in one feature space: a domain "
            "classifier on source and target described by different features would only tell "
            "the features apart. Draw the pair after mapping it to common features."
        )
    return load_data(allow_raw=False, **data)


def _check_known(name: str) -> None:
    """A name the registry lacks while torch is missing is (most likely) a deep method: say
    what to install rather than "unknown method"."""
    from transferkit.registry import available_methods

    if name not in available_methods():
        require_torch(f"transferkit plot --method {name}", f" and '{name}' is not a shallow method")


def _fit(name: str, params: dict[str, Any], problem: Any, seed: int, quiet: bool) -> Any:
    from transferkit.registry import make_method, method_spec

    _check_known(name)
    params = dict(params)
    if method_spec(name).deep and not quiet and name not in {"shallow_dann", "sda"}:
        params.setdefault("progress", True)
    return make_method(name, params, random_state=seed).fit(problem)


#: The arguments and options of every ``plot`` command; the command passes them on to
#: :func:`_panels` as keywords, all but ``output``.
_common = option_group(
    click.argument("builtin", nargs=-1, metavar="[DATASET SOURCE TARGET]"),
    data_options,
    click.option("--method", default="dann", show_default=True, help="The adapted model."),
    click.option(
        "--baseline",
        default=None,
        help="The plain model (default: deep_source_only for deep methods, else source_only).",
    ),
    click.option("--params", callback=json_object_callback, help="JSON parameters of --method."),
    click.option(
        "--baseline-params", callback=json_object_callback, help="JSON parameters of --baseline."
    ),
    click.option(
        "--rows",
        type=click.Choice(["held-out", "all"]),
        default="held-out",
        show_default=True,
        help="held-out: fit the models on half of each domain's rows and draw the other half, "
        "which they never saw (a map fitted on the rows it shows can pin the domains' means, "
        "and the domain classifier then scores below chance); all: fit and draw every row.",
    ),
    click.option("--output", "-o", required=True, type=click.Path(dir_okay=False)),
    click.option("--quiet", "-q", is_flag=True, help="No progress bars."),
)


def _panels(
    builtin: tuple[str, ...],
    method: str,
    baseline: str | None,
    params: dict[str, Any],
    baseline_params: dict[str, Any],
    seed: int,
    quiet: bool,
    rows: str,
    **data: Any,
) -> tuple[Any, dict[str, Any], dict[str, float], Any]:
    """The problem, the panels' representations of the drawn rows, the target accuracies and
    the problem of the drawn rows (their labels colour the embedding)."""
    from transferkit.plots import held_out_halves, representations
    from transferkit.registry import method_spec

    _check_known(method)
    problem = _load(builtin, {**data, "seed": seed})
    fitted, shown = held_out_halves(problem, seed) if rows == "held-out" else (problem, problem)
    if baseline is None:
        baseline = "deep_source_only" if method_spec(method).deep else "source_only"
    models = {}
    scores = {}
    for name, chosen, chosen_params in (
        (f"plain: {baseline}", baseline, baseline_params),
        (f"adapted: {method}", method, params),
    ):
        model = _fit(chosen, chosen_params, fitted, seed, quiet)
        models[name] = model
        if fitted.has_evaluation_labels:
            X_eval, y_eval = fitted.evaluation_split()
            scores[name] = float((model.predict(X_eval) == y_eval).mean())
    return problem, representations(models, shown), scores, shown


def _title(problem: Any, scores: dict[str, float], rows: str) -> str:
    accuracy = ", ".join(f"{name} {100 * value:.1f}%" for name, value in scores.items())
    drawn = "\nfitted on half of each domain; the other half drawn" if rows == "held-out" else ""
    return problem.title + drawn + (f"\ntarget accuracy: {accuracy}" if accuracy else "")


@click.group()
def plot() -> None:
    """Figures: domain-score histograms (the article's Figure 18) and 2-D embeddings."""


@plot.command("domain-scores")
@_common
def domain_scores(output: str, seed: int, rows: str, **common: Any) -> None:
    """Histograms of a domain classifier's scores on a plain and an adapted representation."""
    from transferkit.plots import plot_domain_scores

    problem, panels, scores, _ = _panels(seed=seed, rows=rows, **common)
    title = _title(problem, scores, rows)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DegenerateResultWarning)
        path = plot_domain_scores(panels, output, title=title, random_state=seed)
    for warning in caught:
        click.echo(f"Warning: {warning.message}", err=True)
    click.echo(f"Wrote {path}")


@plot.command("embedding")
@_common
@click.option("--projection", type=click.Choice(["pca", "tsne"]), default="pca", show_default=True)
@click.option("--max-points", default=1000, show_default=True, type=int)
def embedding(
    output: str, seed: int, rows: str, projection: str, max_points: int, **common: Any
) -> None:
    """Source and target in 2-D (PCA or t-SNE), before and after adaptation."""
    from transferkit.plots import plot_embedding

    problem, panels, scores, shown = _panels(seed=seed, rows=rows, **common)
    labels = None
    if shown.y_target is not None:
        labels = (shown.y_source, shown.y_target)
    path = plot_embedding(
        panels,
        output,
        method=projection,
        labels=labels,
        max_points=max_points,
        title=_title(problem, scores, rows),
        random_state=seed,
    )
    click.echo(f"Wrote {path}")
