"""``transferkit bench``, ``transferkit results`` and ``transferkit demo``: run suites, read what
the results database holds.

Finished cells are stored at once, so an interrupted run resumes where it stopped. Nothing here
imports the methods (nor torch) until a suite runs.
"""

from __future__ import annotations

import json
import logging
import os
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import click

from transferkit.cli.data import image_folders
from transferkit.cli.options import (
    backbone_option,
    db_option,
    feature_spaces_option,
    option_group,
    progress_bar,
    require_torch,
    seeds_callback,
    split_list,
    threads_option,
)

_DEMO_TEXT = (
    "Each row is one transfer problem, each column one method; numbers are target accuracy (%), "
    "mean ± std over seeds. source_only trains on the labelled source and ignores the shift: it "
    "is the floor an adaptation method has to beat. target_oracle trains on the target's own "
    "labels, which a real user does not have: it is the ceiling. A method earns its place by "
    "closing part of the gap between the two. See `transferkit bench --help` for the real "
    "benchmarks (office-caltech-surf, amazon-reviews, digits) and `transferkit results` for what "
    "is stored."
)


# --------------------------------------------------------------------- bench
def scheduler_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Click callback: ``local:N`` or a scheduler's address, checked before anything runs."""
    if value is None:
        return None
    from transferkit.bench.distributed import check_scheduler
    from transferkit.exceptions import InvalidParameterError

    try:
        check_scheduler(value)
    except InvalidParameterError as error:
        raise click.BadParameter(str(error)) from None
    return value


def quiet_dask_logs() -> None:
    """Dask logs every worker start and stop at INFO; show its warnings only (a worker that
    died, a cell sent back to the queue) beside the progress bar, unless --debug is on.

    Called once ``distributed`` is imported: its import sets the level of its loggers."""
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("distributed").setLevel(logging.WARNING)


#: ``--scheduler`` of ``bench`` and ``select``.
scheduler_option = click.option(
    "--scheduler",
    callback=scheduler_callback,
    metavar="local:N|ADDRESS",
    help="Run on Dask (pip install 'transferkit[distributed]'): local:N starts N worker "
    "processes here, tcp://host:8786 uses a running cluster. This process still stores "
    "every result.",
)


class CellProgress:
    """The runner's progress callback: a bar over the suite's cells, created on the first cell,
    drawn only on a terminal (see :func:`~transferkit.cli.options.progress_bar`)."""

    def __init__(self, quiet: bool, description: str):
        self.quiet = quiet
        self.description = description
        self.bar: Any = None

    def __call__(self, done: int, total: int, row: dict[str, Any] | None) -> None:
        if self.bar is None:
            self.bar = progress_bar(total, self.description, quiet=self.quiet, unit="cell")
        if row is not None:
            self.bar.set_postfix_str(f"{row['method']} {row['source']}→{row['target']}")
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


metric_option = click.option(
    "--metric",
    help="Show another number the cells report instead of the primary score (e.g. bwt for a "
    "continual stream; an unknown name lists the stored ones).",
)


def _run(
    suite: str,
    *,
    db: str | None,
    methods: str | None = None,
    pairs: str | None = None,
    seeds: list[int] | None = None,
    jobs: int = 1,
    threads: int = 1,
    scheduler: str | None = None,
    retry_errors: bool = False,
    quiet: bool = False,
    files: tuple[str | list[str], str, str | None] | None = None,
    text: dict[str, str] | None = None,
    feature_spaces: str = "same",
    reveal: int = 0,
    backbone: str | None = None,
) -> Any:
    from transferkit.bench import run_suite

    progress = CellProgress(quiet, suite)
    try:
        return run_suite(
            suite,
            db=db,
            methods=split_list(methods),
            pairs=split_list(pairs),
            seeds=seeds,
            jobs=jobs,
            threads=threads,
            scheduler=scheduler,
            progress=progress,
            retry_errors=retry_errors,
            files=files,
            text=text,
            feature_spaces=feature_spaces,
            reveal=reveal,
            backbone=backbone,
        )
    finally:
        progress.close()


#: Where the deep cells run: ``--ddp``, ``--device``, ``--amp`` (shallow cells ignore them).
deep_execution_options = option_group(
    click.option(
        "--ddp",
        type=click.IntRange(min=1),
        default=1,
        show_default=True,
        help="Processes per deep cell, training data-parallel (torch.distributed: gloo on the "
        "CPU, nccl with one GPU per process).",
    ),
    click.option(
        "--device",
        help="Where deep methods run: auto (CUDA when present), cpu, cuda or cuda:N "
        "[default: auto].",
    ),
    click.option(
        "--amp",
        is_flag=True,
        help="Mixed precision for deep methods (float16 on CUDA, bfloat16 on the CPU).",
    ),
)


def deep_execution(ddp: int, device: str | None, amp: bool) -> AbstractContextManager[None]:
    """The settings block of ``--ddp/--device/--amp`` (nothing, and no torch import, without
    them); the device is checked here, so that ``--device cuda`` without a GPU stops the run
    before its first cell."""
    if ddp == 1 and device is None and not amp:
        return nullcontext()
    require_torch("--ddp, --device and --amp")
    from transferkit.deep.distributed import deep_settings
    from transferkit.deep.training import resolve_device

    if device is not None:
        resolve_device(device)
    return deep_settings(device=device, amp=amp or None, processes=ddp if ddp > 1 else None)


@click.command()
@click.argument("suite")
@click.option("--methods", help="Comma-separated method labels (or registered method names).")
@click.option(
    "--pairs", help="Comma-separated source:target pairs, e.g. amazon:webcam,dslr:webcam."
)
@click.option("--seeds", callback=seeds_callback, help="Comma-separated seeds, e.g. 0,1,2.")
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes.",
)
@scheduler_option
@threads_option
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False),
    help="Also write one CSV row per cell to this file.",
)
@click.option("--retry-errors", is_flag=True, help="Run again the cells stored as errors.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option(
    "--source",
    "sources",
    type=click.Path(exists=True),
    multiple=True,
    help="Your own labelled source data (.npz, .csv, .svmlight..., or a folder of images with "
    "one sub-folder per class); needs --target. Repeat it for several sources (multi-source: "
    "the ms_* methods tell them apart).",
)
@click.option(
    "--target",
    type=click.Path(exists=True),
    help="Your own target data, a file or a folder of images (labels, if present, are used "
    "only to score).",
)
@click.option(
    "--test",
    type=click.Path(exists=True),
    help="Your own labelled target test data (optional).",
)
@backbone_option(
    "Pre-trained CNN whose features describe --source/--target folders of images [default: "
    "mobilenet_v2]; none: the methods get the images themselves (finetune, backbone_head, dann).",
    default=None,
    none=True,
)
@feature_spaces_option
@click.option(
    "--reveal",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Target labels per class of the --target file made visible to the methods (drawn "
    "with each seed, left out of scoring), e.g. for hda_cca and target_only.",
)
@click.option(
    "--text-column",
    help="--source/--target are CSV/TSV files of texts: the header of their text column.",
)
@click.option(
    "--label-column",
    help="Header of the label column of text files [default: label].",
)
@click.option("--encoder", help="Text encoder of --text-column files [default: use].")
@click.option(
    "--language",
    metavar="LANG|SOURCE:TARGET",
    help="ISO 639-1 language of the --text-column files (en, or en:es when they differ); an "
    "encoder that does not cover it is an error.",
)
@click.option(
    "--parallel",
    type=click.Path(exists=True, dir_okay=False),
    help="With --text-column: a CSV/TSV of unlabelled translation pairs (a source-language "
    "text and its target-language translation per row), encoded and attached for "
    "parallel_distillation.",
)
@click.option(
    "--parallel-columns",
    default="source,target",
    show_default=True,
    help="Headers of the --parallel file's source-language and target-language columns.",
)
@metric_option
@deep_execution_options
def bench(
    suite: str,
    methods: str | None,
    pairs: str | None,
    seeds: list[int] | None,
    jobs: int,
    scheduler: str | None,
    threads: int,
    db: str | None,
    as_json: bool,
    csv_path: str | None,
    retry_errors: bool,
    quiet: bool,
    sources: tuple[str, ...],
    target: str | None,
    test: str | None,
    feature_spaces: str,
    reveal: int,
    backbone: str | None,
    text_column: str | None,
    label_column: str | None,
    encoder: str | None,
    language: str | None,
    parallel: str | None,
    parallel_columns: str,
    metric: str | None,
    ddp: int,
    device: str | None,
    amp: bool,
) -> None:
    """Run benchmark SUITE (a built-in name or a TOML file) and print its table.

    Finished cells are stored at once in the results database, so an interrupted run picks up
    where it stopped; cells already stored are not run again. With --source/--target the suite's
    methods and seeds run on your own pair of files. With --scheduler the cells run on a Dask
    cluster, and this process still stores each result as it arrives. --ddp, --device and --amp
    say where the deep cells train; they are not part of a cell's key.
    """
    from transferkit.bench import format_markdown

    source: str | list[str] | None = None
    if sources:
        source = sources[0] if len(sources) == 1 else list(sources)
    if (source is None) != (target is None):
        raise click.UsageError("Give both --source and --target (and optionally --test).")
    if test is not None and source is None:
        raise click.UsageError("--test needs --source and --target.")
    if source is None and (feature_spaces != "same" or reveal or backbone is not None):
        raise click.UsageError(
            "--feature-spaces, --reveal and --backbone apply to --source/--target files (a "
            "suite's datasets take their options in the suite file)."
        )
    if scheduler is not None and jobs != 1:
        raise click.UsageError(
            f"--jobs {jobs} and --scheduler: give one of them (--scheduler local:{jobs} runs "
            f"{jobs} worker processes on Dask)."
        )
    if scheduler is not None:
        from transferkit.bench.distributed import require_distributed

        require_distributed()  # a missing extra is named before anything runs
        quiet_dask_logs()
    files = (source, target, test) if source is not None and target is not None else None
    if files is not None and image_folders(*sources, target, test):
        require_torch("Folders of images")
        from transferkit.bench.suite import DEFAULT_BACKBONE, NO_BACKBONE
        from transferkit.deep.backbones import load_backbone

        if backbone != NO_BACKBONE:
            load_backbone(backbone or DEFAULT_BACKBONE)  # missing weights, before any cell
    elif backbone is not None:
        raise click.UsageError("--backbone applies to --source/--target folders of images.")
    text = None
    if text_column is not None:
        if files is None:
            raise click.UsageError("--text-column reads texts from --source and --target files.")
        text = {"text_column": text_column, "label_column": label_column or "label"}
        text["encoder"] = encoder or "use"
        if language is not None:
            from transferkit.text import check_language, get_encoder, split_languages

            spec = get_encoder(text["encoder"])  # an unknown name or language, before any cell
            for code in split_languages(language):
                check_language(spec, code)
            text["language"] = language
        if parallel is not None:
            columns = split_list(parallel_columns) or []
            if len(columns) != 2:
                raise click.UsageError(
                    "--parallel-columns takes two headers, the source language's and the "
                    f"target language's, e.g. en,es; got {parallel_columns!r}."
                )
            text.update(parallel=parallel, parallel_columns=",".join(columns))
    elif any(v is not None for v in (label_column, encoder, language, parallel)):
        raise click.UsageError(
            "--label-column, --encoder, --language and --parallel apply to files of texts: add "
            "--text-column."
        )
    with deep_execution(ddp, device, amp):
        table = _run(
            suite,
            db=db,
            methods=methods,
            pairs=pairs,
            seeds=seeds,
            jobs=jobs,
            threads=threads,
            scheduler=scheduler,
            retry_errors=retry_errors,
            quiet=quiet,
            files=files,
            text=text,
            feature_spaces=feature_spaces,
            reveal=reveal,
            backbone=backbone,
        )
    if csv_path is not None:
        table.to_csv(csv_path)
    table = table.with_metric(metric)
    click.echo(table.to_json() if as_json else format_markdown(table))


# --------------------------------------------------------------------- results
@click.group()
def results() -> None:
    """What the results database holds: list suites, show a table, export rows."""


@results.command("list")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def results_list(db: str | None, as_json: bool) -> None:
    """Every suite in the database with its cell counts."""
    from transferkit.bench import ResultStore

    with ResultStore(db, create=False) as store:
        suites = store.suites()
        path = store.path
    if as_json:
        click.echo(json.dumps(suites, indent=2))
        return
    if not suites:
        click.echo(f"No results in {path}.")
        return
    click.echo(f"Results in {path}:")
    click.echo("| suite | cells ok | errors | methods | last finished (UTC) |")
    click.echo("| --- | ---: | ---: | ---: | --- |")
    for s in suites:
        click.echo(f"| {s['suite']} | {s['ok']} | {s['error']} | {s['methods']} | {s['last']} |")


@results.command("show")
@click.argument("suite")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
@metric_option
def results_show(suite: str, db: str | None, as_json: bool, metric: str | None) -> None:
    """The table of SUITE from the stored results (nothing is run)."""
    from transferkit.bench import format_markdown, results_table

    table = results_table(db, suite, metric=metric)
    click.echo(table.to_json() if as_json else format_markdown(table))


@results.command("export")
@click.argument("suite")
@db_option
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Write CSV to this file.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json"]),
    default=None,
    help="Output format when not using --csv (default csv).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    help="Write to this file instead of standard output.",
)
def results_export(
    suite: str, db: str | None, csv_path: str | None, fmt: str | None, output: str | None
) -> None:
    """Export the stored rows of SUITE, one per cell (accuracy as a fraction)."""
    from transferkit.bench import results_table

    table = results_table(db, suite)
    if csv_path is not None:
        if fmt == "json" or output is not None:
            raise click.UsageError(
                "--csv PATH writes CSV; do not combine it with --format/--output."
            )
        table.to_csv(csv_path)
        click.echo(f"Wrote {len(table.rows)} rows to {csv_path}.", err=True)
        return
    text = json.dumps(table.records(), indent=2) if fmt == "json" else table.to_csv()
    if output is not None:
        Path(output).write_text(text if text.endswith("\n") else text + "\n", "utf-8")
        click.echo(f"Wrote {len(table.rows)} rows to {output}.", err=True)
    else:
        click.echo(text, nl=not text.endswith("\n"))


# --------------------------------------------------------------------- demo
@click.command()
@db_option
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=min(2, os.cpu_count() or 1),
    show_default=True,
    help="Worker processes (default: 2 where there are two cores).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def demo(db: str | None, jobs: int, quiet: bool) -> None:
    """Run the `demo` suite (no download needed) and explain its table.

    Synthetic digits rendered from fonts → UCI handwritten digits, and the rotated two moons, with
    source-only, the target oracle and every registered shallow adaptation method. Results are
    stored like any suite's, so running it again prints the table at once.
    """
    from transferkit.bench import format_markdown

    table = _run("demo", db=db, jobs=jobs, quiet=quiet)
    click.echo(format_markdown(table))
    click.echo("")
    click.echo(_DEMO_TEXT)
