"""``transferkit select``: pick a method and its hyper-parameters without target labels.

The validators offered are read from the catalogue users pick from
(:data:`transferkit.selection.UNSUPERVISED_VALIDATORS`) when the help is shown, so the help never
lists a rule the library does not offer. A candidate a source-guarded validator drops gets no
score (``nan``); the ranking says why beside it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click

from transferkit.cli.bench import quiet_dask_logs, scheduler_option
from transferkit.cli.data import data_options, load_data
from transferkit.cli.options import progress_bar
from transferkit.exceptions import InvalidParameterError, NotApplicableError, TransferKitError

#: The validator that picks when ``--validator`` is not given.
DEFAULT_VALIDATOR = "guarded_ensv_graph"


def validator_catalogue() -> tuple[str, ...]:
    """The validators a user picks from, as the selection catalogue lists them now."""
    from transferkit.selection import UNSUPERVISED_VALIDATORS

    return tuple(UNSUPERVISED_VALIDATORS)


class CatalogueHelpOption(click.Option):
    """``--validator``: its help lists the catalogue, read only when the help is shown (so
    ``transferkit --help`` does not import the selection module)."""

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        names = ", ".join(validator_catalogue())
        self.help = (
            f"Validator(s), comma-separated; the first picks. One of: {names}. The default, "
            f"{DEFAULT_VALIDATOR}, picks only among candidates within 5 points of the best "
            "held-out source accuracy (wider on a small source, where that accuracy is noisy)."
        )
        return super().get_help_record(ctx)


# --------------------------------------------------------------------------- select
@click.command("select")
@data_options
@click.option(
    "--methods",
    default=None,
    help="Comma-separated registered methods (default: every shallow method with its grid).",
)
@click.option(
    "--validator",
    "validators",
    cls=CatalogueHelpOption,
    default=DEFAULT_VALIDATOR,
    show_default=True,
    help="Validator(s), comma-separated; the first picks.",
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
@scheduler_option
@click.option(
    "--budget",
    type=click.Choice(["fast", "default", "thorough"]),
    default="default",
    show_default=True,
    help="Candidates and folds: fast (each cheap method with its defaults, 2 folds), default "
    "(the grids less the points slow on a large problem; 2 folds from 2,000 source rows), "
    "thorough (every grid point, 3 folds).",
)
@click.option(
    "--safety/--no-safety",
    default=True,
    show_default=True,
    help="Keep source-only unless the pick passes the safety floor (SourceOnlyFloor).",
)
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
@click.option(
    "--predictions",
    type=click.Path(dir_okay=False),
    help="Write each target row's class under the pick to this CSV, beside source-only's: "
    "item (the image's path inside the target folder, or the row's position, 0 first), "
    "prediction, confidence, source_only_prediction, source_only_confidence.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    help="Save the pick, fitted on every row, and how the target's rows were read (joblib): "
    "transferkit predict FILE DATA labels new rows; in Python, joblib.load(FILE)['model'].",
)
def select_command(
    seed: int,
    methods: str | None,
    validators: str,
    cv: str,
    classifier: str,
    jobs: int,
    scheduler: str | None,
    budget: str,
    safety: bool,
    top: int,
    evaluate: bool,
    json_path: str | None,
    predictions: str | None,
    output: str | None,
    **data_options: Any,
) -> None:
    """Pick a method and its hyper-parameters without target labels.

    Every candidate is trained on source folds plus the unlabelled target and scored by the
    validator(s); the best by the first validator is retrained on everything.

    Safety: source-only is always a candidate, and an adapted candidate is picked over it only
    when its held-out source accuracy is not below source-only's and it keeps source-only's
    predictions on the target rows source-only is surest of; the output says why.

    Cost: each candidate is trained once per source fold. --budget default drops the grid
    points that are slow on large or wide problems and uses 2 folds from 2,000 source rows;
    --budget fast keeps each cheap method's defaults; --jobs 2 uses both cores; --scheduler
    sends the candidates to a Dask cluster.

    \b
    transferkit select --dataset office-caltech-surf --pair amazon:webcam --validator im,iwcv
    transferkit select --source s.npz --target t.npz --methods coral,sa,tca --validator dev
    transferkit select --source studio/ --target phone/ --predictions phone.csv -o pick.joblib
    """
    import numpy as np

    from transferkit.multisource import is_multi_source
    from transferkit.registry import make_method
    from transferkit.selection import DomainAwareSearchCV, default_candidates, expand_candidates

    if scheduler is not None and jobs != 1:
        raise click.UsageError(
            f"--jobs {jobs} and --scheduler: give one of them (--scheduler local:{jobs} trains "
            f"{jobs} candidates at once on Dask)."
        )
    if scheduler is not None:
        from transferkit.bench.distributed import require_distributed

        require_distributed()  # a missing extra is named before anything runs
        quiet_dask_logs()
    problem = load_data(seed=seed, allow_raw=False, **data_options)
    if problem.heterogeneous:
        raise NotApplicableError(
            "select scores every candidate on source and target rows in one feature space, and "
            "these files are described by different features. Compare the heterogeneous "
            "methods on a few labelled target rows instead: transferkit bench demo --source "
            f"{data_options['source_file']} --target {data_options['target_file']} "
            "--feature-spaces different --reveal 3 --methods target_only,hda_cca,hda_cluster "
            "(hda_cca against target_only; hda_cluster needs no target label)."
        )
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
    if safety and method_list is not None and "source_only" not in method_list:
        method_list = ["source_only", *method_list]  # the floor falls back to it
    if cv_value == "auto" and budget != "thorough":
        cv_value = 2 if budget == "fast" or problem.n_source >= 2000 else 3
    candidates = default_candidates(
        method_list,
        problem.n_features,
        problem.is_sparse,
        budget=budget,
        n_rows=(problem.n_source, problem.n_target),
        multi_source=is_multi_source(problem),
    )
    total = len(expand_candidates(candidates))
    from threadpoolctl import threadpool_limits

    # one BLAS thread per job: on shared cores more threads only spin (the bench runner does
    # the same), and --jobs then scales the work instead of oversubscribing the cores
    with progress_bar(total, "candidates") as bar, threadpool_limits(1):

        def progress(done: int, _total: int) -> None:
            bar.n = done
            bar.refresh()

        search = DomainAwareSearchCV(
            candidates,
            scoring=names,
            cv=cv_value,
            classifier=classifier,
            n_jobs=jobs,
            scheduler=scheduler,
            random_state=seed,
            progress=progress,
            safety="auto" if safety else None,
        ).fit(problem)
    rows = search.results_table()
    dropped = guard_drop_reasons(search)
    click.echo(f"Selection on {problem.title}")
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
        if not note:
            why = [dropped.get(name, {}).get(id(row["params"])) for name in names]
            note = "".join(f"  ({text})" for text in why if text)
        aside = next(
            (
                item["why"]
                for item in search.safety_.get("set_aside", [])
                if item["method"] == row["method"] and item["params"] == row["params"]
            ),
            None,
        )
        if aside and not note:
            note = f"  (set aside by the safety floor: {aside})"
        click.echo(f"{i:>4}  {row['method']:<16} {params:<40} {scores}{note}")
    guards = guard_lines(search)
    for line in guards.values():
        click.echo(line["text"])
    click.echo(f"\nPick: {search.best_method_} {json.dumps(search.best_params_, default=str)}")
    click.echo(f"Why: {search.safety_['reason']}")
    report: dict[str, Any] = {
        "problem": problem.summary(),
        "validators": names,
        "pick": {"method": search.best_method_, "params": search.best_params_},
        "ranking": rows,
        "budget": budget,
        "safety": search.safety_,
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
                model = make_method(method, params, classifier, seed).fit(problem)
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
    if predictions is not None:
        from transferkit.datasets import item_names

        source_only = (
            search.best_estimator_
            if search.best_method_ == "source_only"
            else search.make_candidate("source_only", {}).fit(problem)
        )
        items = item_names(data_options["target_file"], problem.n_target)
        write_predictions(
            Path(predictions), items, problem.X_target, search.best_estimator_, source_only
        )
        click.echo(f"Predictions for {problem.n_target} target rows: {predictions}")
        report["predictions"] = predictions
    if output is not None:
        save_pick(output, search, problem, data_options)
        click.echo(f"Fitted pick: {output} (label new rows: transferkit predict {output} DATA)")
        report["output"] = output
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")


def save_pick(path: str, search: Any, problem: Any, data: dict[str, Any]) -> None:
    """The ``--output`` file: the fitted pick and how the target's rows were read, for
    :mod:`transferkit.cli.predict`."""
    from transferkit.cli.predict import model_reads, save_model

    files = [f for f in [*(data.get("source_file") or ()), data.get("target_file")] if f]
    reads = model_reads(
        files,
        n_features=problem.n_features,
        text_column=data.get("text_column"),
        label_column=data.get("label_column"),
        encoder=data.get("encoder"),
        backbone=data.get("backbone"),
        feature_names=problem.feature_names,
    )
    save_model(
        path,
        search.best_estimator_,
        method=search.best_method_,
        params=search.best_params_,
        fitted_on=problem.name,
        reads=reads,
    )


def write_predictions(path: Path, items: list[str], X: Any, pick: Any, source_only: Any) -> None:
    """The ``--predictions`` CSV: each row's class and its probability under the pick and under
    source-only (:func:`~transferkit.selection.predictions_with_confidence`)."""
    import csv

    from transferkit.selection import predictions_with_confidence

    columns = [*predictions_with_confidence(pick, X), *predictions_with_confidence(source_only, X)]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["item", "prediction", "confidence", "source_only_prediction", "source_only_confidence"]
        )
        for item, new, new_p, old, old_p in zip(items, *columns, strict=True):
            writer.writerow([item, new, f"{new_p:.4f}", old, f"{old_p:.4f}"])


def guard_lines(search: Any) -> dict[str, dict[str, Any]]:
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


def guard_drop_reasons(search: Any) -> dict[str, dict[int, str]]:
    """Why each candidate a source guard dropped has no score, by validator name and by the
    ``id`` of the candidate's params dict (shared by ``cv_results_`` and ``results_table()``)."""
    accuracies = search.cv_results_.get("guard_source_accuracy")
    out: dict[str, dict[int, str]] = {}
    for name, guard in search.guards_.items():
        reasons: dict[int, str] = {}
        means = search.cv_results_[f"mean_{name}"]
        for params, error, mean, accuracy in zip(
            search.cv_results_["params"],
            search.cv_results_["error"],
            means,
            accuracies,
            strict=True,
        ):
            if error or math.isfinite(mean):
                continue
            if guard["tolerance"] is None:
                reasons[id(params)] = "dropped by the source guard: no candidate kept"
                continue
            best, tolerance = guard["best_source_accuracy"], guard["tolerance"]
            # nan for another reason (the base validator gave none): no guard note
            if math.isfinite(accuracy) and accuracy < best - tolerance:
                reasons[id(params)] = (
                    f"dropped by the source guard: held-out source accuracy "
                    f"{100 * accuracy:.1f}% below best {100 * best:.1f}% − tolerance "
                    f"{100 * tolerance:.1f} points"
                )
        out[name] = reasons
    return out
