"""``transferkit diagnose`` and ``transferkit select``: the console side of diagnosis and selection.

Both take a built-in pair (``--dataset NAME --pair SOURCE:TARGET``) or the user's files
(``--source FILE --target FILE``; ``.npz``, ``.csv``, ``.svmlight`` or ``.mat``, see
:mod:`transferkit.datasets.files`). ``diagnose`` prints the verdict table and can write the HTML
report (``--html``) and the JSON (``--json``); files whose features differ are diagnosed as two raw
matrices (scenario 1). ``select`` ranks methods and hyper-parameters with a validator, no target
labels used (``--evaluate`` adds the target accuracy of the pick when the data has labels).

The commands are attached to the main ``transferkit`` group by :mod:`transferkit.cli`; the
:data:`commands` group here runs them on their own (``python -m transferkit.cli_diagnose``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from transferkit.cli_options import option_group
from transferkit.exceptions import InvalidParameterError, TransferKitError


class _CommandError(click.ClickException):
    """A transferkit error shown as one line, exit status 2 (as the main CLI does)."""

    exit_code = 2


def _clean_errors(function: Callable[..., Any]) -> Callable[..., Any]:
    """Turn transferkit errors into one-line messages unless ``--debug`` was given."""
    import functools

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except TransferKitError as error:
            ctx = click.get_current_context(silent=True)
            root = ctx.find_root() if ctx is not None else None
            if root is not None and isinstance(root.obj, dict) and root.obj.get("debug"):
                raise
            raise _CommandError(str(error)) from error

    return wrapper


#: Which data a command works on; the command passes them on to :func:`_load` as keywords.
_data_options = option_group(
    click.option("--dataset", help="A built-in dataset (see `transferkit datasets`)."),
    click.option("--pair", help="SOURCE:TARGET domains of --dataset (e.g. books:kitchen)."),
    click.option(
        "--option",
        "options",
        multiple=True,
        metavar="KEY=VALUE",
        help="Dataset option for load_pair (repeatable), e.g. --option angle=40.",
    ),
    click.option("--source", "source_file", type=click.Path(dir_okay=False), help="Source file."),
    click.option("--target", "target_file", type=click.Path(dir_okay=False), help="Target file."),
    click.option(
        "--reveal",
        type=int,
        default=0,
        show_default=True,
        help="Target labels per class made visible (needs target labels in the data).",
    ),
    click.option("--seed", type=int, default=0, show_default=True, help="Random seed."),
)


def _parse_value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def _parse_options(options: tuple[str, ...]) -> dict[str, Any]:
    parsed = {}
    for item in options:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidParameterError(f"--option takes KEY=VALUE; got {item!r}.")
        parsed[key.strip()] = _parse_value(value.strip())
    return parsed


def _load(
    dataset: str | None,
    pair: str | None,
    options: tuple[str, ...],
    source_file: str | None,
    target_file: str | None,
    reveal: int,
    seed: int,
    allow_raw: bool,
) -> Any:
    """A TransferProblem, or (for files whose feature spaces differ) a dict of raw parts."""
    from transferkit.exceptions import DataFormatError, FeatureSpaceMismatchError

    if dataset and (source_file or target_file):
        raise InvalidParameterError("Give --dataset/--pair or --source/--target, not both.")
    if dataset:
        if not pair or ":" not in pair:
            raise InvalidParameterError(
                f"--dataset {dataset} needs --pair SOURCE:TARGET (see `transferkit datasets`)."
            )
        from transferkit.datasets import load_pair

        source, target = pair.split(":", 1)
        problem = load_pair(dataset, source, target, random_state=seed, **_parse_options(options))
    elif source_file and target_file:
        from transferkit.datasets import load_file, problem_from_files

        try:
            problem = problem_from_files(source_file, target_file)
        except (FeatureSpaceMismatchError, DataFormatError) as error:
            if not allow_raw or "features" not in str(error) and "feature" not in str(error):
                raise
            Xs, ys, names_s = load_file(source_file)
            Xt, yt, names_t = load_file(target_file)
            return {
                "X_source": Xs,
                "X_target": Xt,
                "y_source": ys,
                "y_target": yt,
                "target_labeled": None
                if yt is None or reveal == 0
                else _reveal_mask(yt, reveal, seed),
                "source_feature_names": names_s,
                "target_feature_names": names_t,
                "name": f"{Path(source_file).stem}->{Path(target_file).stem}",
            }
    else:
        raise InvalidParameterError(
            "Say which data: --dataset NAME --pair SOURCE:TARGET, or --source FILE --target FILE."
        )
    if reveal:
        problem = problem.with_target_labels(reveal, random_state=seed)
    return problem


def _reveal_mask(y: Any, per_class: int, seed: int) -> Any:
    import numpy as np

    rng = np.random.default_rng(seed)
    mask = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        index = np.flatnonzero(y == label)
        mask[rng.choice(index, size=min(per_class, len(index)), replace=False)] = True
    return mask


# --------------------------------------------------------------------------- diagnose
@click.command("diagnose")
@_data_options
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
@_clean_errors
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

    data = _load(seed=seed, allow_raw=True, **data_options)
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


# --------------------------------------------------------------------------- select
@click.command("select")
@_data_options
@click.option(
    "--methods",
    default=None,
    help="Comma-separated registered methods (default: every shallow method with its grid).",
)
@click.option(
    "--validator",
    "validators",
    default="guarded_ensv_graph",
    show_default=True,
    help="Validator(s), comma-separated; the first picks: ensv, ensv_dedup (EnsV counting "
    "near-duplicate candidates once), ensv_graph (ensv_dedup's consensus, and each candidate, "
    "smoothed over the target's nearest neighbours), iwcv, dev, reverse, entropy, im, mixval, snd, "
    "source_accuracy, and guarded_mixval, guarded_ensv_dedup or guarded_ensv_graph (picks only "
    "among candidates within 5 points of the best held-out source accuracy, or within the "
    "noise of that accuracy on a small source).",
)
@click.option(
    "--cv",
    default="auto",
    show_default=True,
    help="Source folds, a held-out share, 'none', or 'auto' (none for target-only validators).",
)
@click.option(
    "--classifier", default="logreg", show_default=True, help="Classifier behind methods."
)
@click.option("--jobs", type=int, default=1, show_default=True, help="Candidates in parallel.")
@click.option("--top", type=int, default=15, show_default=True, help="Rows of the ranking shown.")
@click.option(
    "--evaluate",
    is_flag=True,
    help="Also report the target accuracy of the pick and of the best candidate (uses the "
    "target labels, for checking only).",
)
@click.option(
    "--json", "json_path", type=click.Path(dir_okay=False), help="Write the ranking as JSON."
)
@_clean_errors
def select_command(
    seed: int,
    methods: str | None,
    validators: str,
    cv: str,
    classifier: str,
    jobs: int,
    top: int,
    evaluate: bool,
    json_path: str | None,
    **data_options: Any,
) -> None:
    """Pick a method and its hyper-parameters without target labels.

    Every candidate is trained on source folds plus the unlabelled target and scored by the
    validator(s); the best by the first validator is retrained on everything.

    \b
    transferkit select --dataset office-caltech-surf --pair amazon:webcam --validator im,iwcv
    transferkit select --source s.npz --target t.npz --methods coral,sa,tca --validator dev
    """
    import numpy as np

    from transferkit.selection import DomainAwareSearchCV, default_candidates

    problem = _load(seed=seed, allow_raw=False, **data_options)
    names = [v.strip() for v in validators.split(",") if v.strip()]
    lowered = cv.strip().lower()
    try:
        cv_value: Any = (
            lowered
            if lowered == "auto"
            else None
            if lowered == "none"
            else float(lowered)
            if "." in lowered
            else int(lowered)
        )
    except ValueError as error:
        raise InvalidParameterError(
            f"--cv takes 'auto', 'none', a number of folds or a share; got {cv!r}."
        ) from error
    method_list = [m.strip() for m in methods.split(",")] if methods else None
    candidates = default_candidates(method_list, problem.n_features, problem.is_sparse)
    total = sum(1 for _ in _count(candidates))
    from tqdm import tqdm

    with tqdm(total=total, desc="candidates", file=sys.stderr, leave=False) as bar:

        def progress(done: int, _total: int) -> None:
            bar.n = done
            bar.refresh()

        search = DomainAwareSearchCV(
            candidates,
            scoring=names,
            cv=cv_value,
            classifier=classifier,
            n_jobs=jobs,
            random_state=seed,
            progress=progress,
        ).fit(problem)
    rows = search.results_table()
    click.echo(f"Selection on {problem.name}: {problem.source_name} -> {problem.target_name}")
    click.echo(
        f"{len(rows)} candidates, validator(s) {', '.join(names)}; cv={search.n_splits_} split(s)\n"
    )
    widths = [max(9, len(n)) for n in names]
    header = f"{'rank':>4}  {'method':<16} {'params':<40} " + " ".join(
        f"{n:>{w}}" for n, w in zip(names, widths, strict=True)
    )
    click.echo(header)
    click.echo("-" * len(header))
    for i, row in enumerate(rows[:top], 1):
        params = json.dumps(row["params"], default=str)[:40]
        scores = " ".join(f"{row[n]:>{w}.4f}" for n, w in zip(names, widths, strict=True))
        note = f"  ({row['error'][:40]})" if row["error"] else ""
        click.echo(f"{i:>4}  {row['method']:<16} {params:<40} {scores}{note}")
    guards = _guard_lines(search)
    for line in guards.values():
        click.echo(line["text"])
    click.echo(f"\nPick: {search.best_method_} {json.dumps(search.best_params_, default=str)}")
    report: dict[str, Any] = {
        "problem": problem.summary(),
        "validators": names,
        "pick": {"method": search.best_method_, "params": search.best_params_},
        "ranking": rows,
    }
    if guards:
        report["guards"] = {
            name: {k: v for k, v in line.items() if k != "text"} for name, line in guards.items()
        }
    if evaluate:
        if not problem.has_evaluation_labels:
            raise InvalidParameterError("--evaluate needs target labels in the data.")
        X, y = problem.evaluation_split()
        pick = float(np.mean(search.predict(X) == y))
        best = (float("-inf"), "", {})
        for method, params in zip(
            search.cv_results_["method"], search.cv_results_["params"], strict=True
        ):
            try:
                model = search._build(method, params).fit(problem)
            except (TransferKitError, ValueError, RuntimeError):
                continue
            accuracy = float(np.mean(model.predict(X) == y))
            if accuracy > best[0]:
                best = (accuracy, method, params)
        click.echo(
            f"Target accuracy of the pick: {100 * pick:.1f}%; best candidate (oracle): "
            f"{100 * best[0]:.1f}% ({best[1]} {json.dumps(best[2], default=str)})"
        )
        report["evaluation"] = {"pick_accuracy": pick, "oracle_accuracy": best[0]}
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")


def _guard_lines(search: Any) -> dict[str, dict[str, Any]]:
    """What each source-guarded validator of a fitted search let through, with a line of text."""
    total = len(search.cv_results_["method"])
    out: dict[str, dict[str, Any]] = {}
    for name, guard in search.guards_.items():
        text = (
            f"{name}: no candidate kept"
            if guard["tolerance"] is None
            else f"{name}: candidates within {100 * guard['tolerance']:.1f} points of the best "
            f"held-out source accuracy ({100 * guard['best_source_accuracy']:.1f}% on "
            f"{guard['held_out_source_rows']} rows): {guard['kept']} of {total} kept"
        )
        out[name] = {**guard, "text": text}
    return out


def _count(candidates: Any):
    from transferkit.selection import _expand

    return _expand(candidates)


@click.group("transferkit-diagnose")
def commands() -> None:
    """Diagnosis and selection commands (attached to `transferkit` by the main CLI)."""


commands.add_command(diagnose_command)
commands.add_command(select_command)


if __name__ == "__main__":  # pragma: no cover
    commands()
