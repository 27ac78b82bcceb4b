"""Click commands for the deep side: ``plot domain-scores``, ``plot embedding``, ``extract-features``.

The main CLI attaches them with ``main.add_command(plot)`` and ``main.add_command(extract_features)``.
They own the console: progress bars (tqdm) are on unless ``--quiet``.

Examples
--------
transferkit plot domain-scores digits synthetic mnist --method dann -o scores.png
transferkit plot embedding moons source target --method dann --projection tsne -o emb.png
transferkit extract-features office-caltech-images --backbone mobilenet_v2
"""

from __future__ import annotations

import json
import time
from typing import Any

import click

from transferkit.cli_options import option_group
from transferkit.exceptions import InvalidParameterError


def _json_object(ctx: click.Context, param: click.Parameter, value: str | None) -> dict[str, Any]:
    if not value:
        return {}
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as error:
        raise click.BadParameter(f"not valid JSON ({error.msg}): {value!r}") from error
    if not isinstance(parsed, dict):
        raise click.BadParameter(f"expected a JSON object like '{{\"epochs\": 5}}', got {value!r}")
    return parsed


def _load(dataset: str, source: str, target: str, seed: int, options: dict[str, Any]) -> Any:
    from transferkit.datasets import load_pair

    return load_pair(dataset, source, target, random_state=seed, **options)


def _fit(name: str, params: dict[str, Any], problem: Any, seed: int, quiet: bool) -> Any:
    from transferkit.registry import make_method, method_spec

    params = dict(params)
    if method_spec(name).deep and not quiet and name not in {"shallow_dann", "sda"}:
        params.setdefault("progress", True)
    return make_method(name, params, random_state=seed).fit(problem)


#: The arguments and options of every ``plot`` command; the command passes them on to
#: :func:`_panels` as keywords, all but ``output``.
_common = option_group(
    click.argument("dataset"),
    click.argument("source"),
    click.argument("target"),
    click.option("--method", default="dann", show_default=True, help="The adapted model."),
    click.option(
        "--baseline",
        default=None,
        help="The plain model (default: deep_source_only for deep methods, else source_only).",
    ),
    click.option("--params", callback=_json_object, help="JSON parameters of --method."),
    click.option("--baseline-params", callback=_json_object, help="JSON parameters of --baseline."),
    click.option(
        "--options", callback=_json_object, help="JSON options of load_pair (e.g. sizes)."
    ),
    click.option("--seed", default=0, show_default=True, type=int),
    click.option("--output", "-o", required=True, type=click.Path(dir_okay=False)),
    click.option("--quiet", "-q", is_flag=True, help="No progress bars."),
)


def _panels(
    dataset: str,
    source: str,
    target: str,
    method: str,
    baseline: str | None,
    params: dict[str, Any],
    baseline_params: dict[str, Any],
    options: dict[str, Any],
    seed: int,
    quiet: bool,
) -> tuple[Any, dict[str, Any], dict[str, float]]:
    from transferkit.plots import representations
    from transferkit.registry import method_spec

    problem = _load(dataset, source, target, seed, options)
    if baseline is None:
        baseline = "deep_source_only" if method_spec(method).deep else "source_only"
    models = {}
    scores = {}
    for name, chosen, chosen_params in (
        (f"plain: {baseline}", baseline, baseline_params),
        (f"adapted: {method}", method, params),
    ):
        model = _fit(chosen, chosen_params, problem, seed, quiet)
        models[name] = model
        if problem.has_evaluation_labels:
            X_eval, y_eval = problem.evaluation_split()
            scores[name] = float((model.predict(X_eval) == y_eval).mean())
    return problem, representations(models, problem), scores


def _title(problem: Any, scores: dict[str, float]) -> str:
    accuracy = ", ".join(f"{name} {100 * value:.1f}%" for name, value in scores.items())
    return f"{problem.name}: {problem.source_name} → {problem.target_name}" + (
        f"\ntarget accuracy: {accuracy}" if accuracy else ""
    )


@click.group()
def plot() -> None:
    """Figures: domain-score histograms (the article's Figure 18) and 2-D embeddings."""


@plot.command("domain-scores")
@_common
def domain_scores(output: str, seed: int, **common: Any) -> None:
    """Histograms of a domain classifier's scores on a plain and an adapted representation."""
    from transferkit.plots import plot_domain_scores

    problem, panels, scores = _panels(seed=seed, **common)
    path = plot_domain_scores(panels, output, title=_title(problem, scores), random_state=seed)
    click.echo(f"Wrote {path}")


@plot.command("embedding")
@_common
@click.option("--projection", type=click.Choice(["pca", "tsne"]), default="pca", show_default=True)
@click.option("--max-points", default=1000, show_default=True, type=int)
def embedding(output: str, seed: int, projection: str, max_points: int, **common: Any) -> None:
    """Source and target in 2-D (PCA or t-SNE), before and after adaptation."""
    from transferkit.plots import plot_embedding

    problem, panels, scores = _panels(seed=seed, **common)
    labels = None
    if problem.y_target is not None:
        labels = (problem.y_source, problem.y_target)
    path = plot_embedding(
        panels,
        output,
        method=projection,
        labels=labels,
        max_points=max_points,
        title=_title(problem, scores),
        random_state=seed,
    )
    click.echo(f"Wrote {path}")


@click.command("extract-features")
@click.argument("dataset", default="office-caltech-images")
@click.option(
    "--backbone",
    type=click.Choice(["mobilenet_v2", "efficientnet_lite0"]),
    default="mobilenet_v2",
    show_default=True,
)
@click.option(
    "--layer",
    type=click.Choice(["penultimate", "last_block", "logits"]),
    default="penultimate",
    show_default=True,
)
@click.option("--domains", help="Comma-separated domains (default: all).")
@click.option("--device", default="auto", show_default=True)
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Feature cache folder.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def extract_features(
    dataset: str,
    backbone: str,
    layer: str,
    domains: str | None,
    device: str,
    cache_dir: str | None,
    quiet: bool,
) -> None:
    """Extract and cache pre-trained features of a dataset's images; report images per second."""
    from transferkit.datasets.office import load_office_caltech_images
    from transferkit.deep.backbones import extract_features as extract
    from transferkit.deep.backbones import load_backbone

    if dataset != "office-caltech-images":
        raise InvalidParameterError(
            f"extract-features knows the image dataset 'office-caltech-images', not {dataset!r}."
        )
    names = domains.split(",") if domains else ["amazon", "caltech10", "dslr", "webcam"]
    model = load_backbone(backbone)
    for domain in names:
        images, _ = load_office_caltech_images(domain)
        bar = None
        if not quiet:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(images), desc=f"{backbone} {domain}")

        def report(done: int, total: int, bar: Any = bar) -> None:
            if bar is not None:
                bar.n = done
                bar.refresh()

        started = time.perf_counter()
        features = extract(
            images, model, layer, cache_dir=cache_dir, device=device, progress=report
        )
        seconds = time.perf_counter() - started
        if bar is not None:
            bar.close()
        click.echo(
            f"{domain}: {features.shape[0]} images → {features.shape[1]}-d {layer} features in "
            f"{seconds:.1f} s ({features.shape[0] / max(seconds, 1e-9):.1f} images/s, cached "
            "ones included)"
        )
