"""The ``transferkit`` command: datasets, benchmark suites, stored results and the demo.

Every error transferkit raises on purpose becomes one line, ``Error: ...``, and exit status 2;
``transferkit --debug ...`` shows the traceback instead. Heavy imports happen inside the commands,
so ``transferkit --help`` stays fast.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from transferkit import __version__
from transferkit.exceptions import TransferKitError

_DEMO_TEXT = (
    "Each row is one transfer problem, each column one method; numbers are target accuracy (%), "
    "mean ± std over seeds. source_only trains on the labelled source and ignores the shift: it "
    "is the floor an adaptation method has to beat. target_oracle trains on the target's own "
    "labels, which a real user does not have: it is the ceiling. A method earns its place by "
    "closing part of the gap between the two. See `transferkit bench --help` for the real "
    "benchmarks (office-caltech-surf, amazon-reviews, digits) and `transferkit results` for what "
    "is stored."
)


class _CleanError(click.ClickException):
    """A transferkit error shown as one line, exit status 2."""

    exit_code = 2


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TransferKitError as error:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            raise _CleanError(str(error)) from error


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="transferkit")
@click.option("--debug", is_flag=True, help="Show full tracebacks and debug logging.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """transferkit: diagnose a transfer problem, adapt, and benchmark honestly.

    \b
    transferkit datasets                  every dataset, its domains, sizes and files
    transferkit demo                      a two-minute benchmark on data that needs no download
    transferkit bench SUITE               run a suite (built-in name or TOML file), resumable
    transferkit results list|show|export  what the results database holds
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


# --------------------------------------------------------------------- datasets
def _file_status(files: list[str], verify: bool) -> dict[str, Any]:
    from transferkit.datasets import get_data_home, verify_file

    home = get_data_home()
    present = [f for f in files if (home / f).is_file()]
    missing = [f for f in files if f not in present]
    status: dict[str, Any] = {
        "data_home": str(home),
        "n_files": len(files),
        "n_present": len(present),
        "missing": missing,
    }
    if verify:
        bad = []
        for name in present:
            try:
                verify_file(name)
            except TransferKitError as error:
                bad.append({"file": name, "error": str(error)})
        status["verified"] = not bad and not missing
        status["checksum_errors"] = bad
    return status


def _status_text(status: dict[str, Any], verify: bool) -> str:
    if status["n_files"] == 0:
        return "no files needed (generated or shipped with a package)"
    text = f"{status['n_present']}/{status['n_files']} present in {status['data_home']}"
    if status["missing"]:
        shown = ", ".join(status["missing"][:3])
        more = f" and {len(status['missing']) - 3} more" if len(status["missing"]) > 3 else ""
        text += f"; missing: {shown}{more}"
    if verify:
        if status["checksum_errors"]:
            text += f"; {len(status['checksum_errors'])} fail their SHA-256 check"
        elif status["n_present"]:
            text += "; SHA-256 verified" if status["verified"] else "; present ones SHA-256 ok"
    return text


@main.command()
@click.option("--verify", is_flag=True, help="Check every present file's SHA-256 (slower).")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def datasets(verify: bool, as_json: bool) -> None:
    """List every dataset: domains and sizes, pairs, citation, licence, and its files."""
    from transferkit.datasets import list_datasets

    entries = []
    for info in list_datasets():
        entries.append(
            {
                "name": info.name,
                "description": info.description,
                "domains": dict(info.domains),
                "pairs": [list(p) for p in info.pairs],
                "citation": info.citation,
                "licence": info.licence,
                "origin": info.origin,
                "source_url": info.source_url,
                "files": _file_status(list(info.files), verify),
            }
        )
    if as_json:
        click.echo(json.dumps(entries, indent=2))
        return
    for entry in entries:
        domains = ", ".join(f"{d} ({n:,})" for d, n in entry["domains"].items())
        click.echo(click.style(entry["name"], bold=True) + f"  [{entry['origin']}]")
        click.echo(f"  domains:  {domains}")
        click.echo(f"  pairs:    {len(entry['pairs'])} standard")
        click.echo(f"  files:    {_status_text(entry['files'], verify)}")
        if entry["source_url"]:
            click.echo(f"  source:   {entry['source_url']}")
        click.echo(f"  licence:  {entry['licence']}")
        click.echo(f"  cite:     {entry['citation']}")
        click.echo("")


# --------------------------------------------------------------------- bench
class _Progress:
    """A tqdm bar with ETA on stderr, created on the first cell; silent when disabled."""

    def __init__(self, enabled: bool, description: str):
        self.enabled = enabled
        self.description = description
        self.bar: Any = None

    def __call__(self, done: int, total: int, row: dict[str, Any] | None) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total, desc=self.description, unit="cell", file=sys.stderr, leave=False
            )
        if row is not None:
            self.bar.set_postfix_str(f"{row['method']} {row['source']}→{row['target']}")
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _split(value: str | None) -> list[str] | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None


def _seeds(ctx: click.Context, param: click.Parameter, value: str | None) -> list[int] | None:
    items = _split(value)
    if items is None:
        return None
    try:
        return [int(v) for v in items]
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a comma-separated list of integers.") from None


def _run(
    suite: str,
    *,
    db: str | None,
    methods: str | None = None,
    pairs: str | None = None,
    seeds: list[int] | None = None,
    jobs: int = 1,
    threads: int = 1,
    retry_errors: bool = False,
    quiet: bool = False,
    files: tuple[str, str, str | None] | None = None,
) -> Any:
    from transferkit.bench import run_suite

    progress = _Progress(not quiet and sys.stderr.isatty(), suite)
    try:
        return run_suite(
            suite,
            db=db,
            methods=_split(methods),
            pairs=_split(pairs),
            seeds=seeds,
            jobs=jobs,
            threads=threads,
            progress=progress,
            retry_errors=retry_errors,
            files=files,
        )
    finally:
        progress.close()


_threads_option = click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="BLAS/torch threads per cell (the same whatever --jobs, so numbers never depend on it).",
)

_db_option = click.option(
    "--db",
    type=click.Path(dir_okay=False),
    default=None,
    help="Results database (default: $TRANSFERKIT_RESULTS, else ./transferkit-results.sqlite).",
)


@main.command()
@click.argument("suite")
@click.option("--methods", help="Comma-separated method labels (or registered method names).")
@click.option(
    "--pairs", help="Comma-separated source:target pairs, e.g. amazon:webcam,dslr:webcam."
)
@click.option("--seeds", callback=_seeds, help="Comma-separated seeds, e.g. 0,1,2.")
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes.",
)
@_threads_option
@_db_option
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
    type=click.Path(exists=True, dir_okay=False),
    help="Your own labelled source data (.npz, .csv, .svmlight...); needs --target.",
)
@click.option(
    "--target",
    type=click.Path(exists=True, dir_okay=False),
    help="Your own target data (labels, if present, are used only to score).",
)
@click.option(
    "--test",
    type=click.Path(exists=True, dir_okay=False),
    help="Your own labelled target test data (optional).",
)
def bench(
    suite: str,
    methods: str | None,
    pairs: str | None,
    seeds: list[int] | None,
    jobs: int,
    threads: int,
    db: str | None,
    as_json: bool,
    csv_path: str | None,
    retry_errors: bool,
    quiet: bool,
    source: str | None,
    target: str | None,
    test: str | None,
) -> None:
    """Run benchmark SUITE (a built-in name or a TOML file) and print its table.

    Finished cells are stored at once in the results database, so an interrupted run picks up
    where it stopped; cells already stored are not run again. With --source/--target the suite's
    methods and seeds run on your own pair of files.
    """
    from transferkit.bench import format_markdown

    if (source is None) != (target is None):
        raise click.UsageError("Give both --source and --target (and optionally --test).")
    if test is not None and source is None:
        raise click.UsageError("--test needs --source and --target.")
    files = (source, target, test) if source is not None and target is not None else None
    table = _run(
        suite,
        db=db,
        methods=methods,
        pairs=pairs,
        seeds=seeds,
        jobs=jobs,
        threads=threads,
        retry_errors=retry_errors,
        quiet=quiet,
        files=files,
    )
    if csv_path is not None:
        table.to_csv(csv_path)
    click.echo(table.to_json() if as_json else format_markdown(table))


# --------------------------------------------------------------------- results
@main.group()
def results() -> None:
    """What the results database holds: list suites, show a table, export rows."""


@results.command("list")
@_db_option
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
@_db_option
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
def results_show(suite: str, db: str | None, as_json: bool) -> None:
    """The table of SUITE from the stored results (nothing is run)."""
    from transferkit.bench import format_markdown, results_table

    table = results_table(db, suite)
    click.echo(table.to_json() if as_json else format_markdown(table))


@results.command("export")
@click.argument("suite")
@_db_option
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
@main.command()
@_db_option
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


def _attach_family_commands() -> None:
    """Commands other modules define (diagnosis, selection, figures, feature extraction) under
    the one `transferkit` group."""
    import importlib

    for module, names in (
        ("transferkit.cli_diagnose", ("diagnose_command", "select_command")),
        ("transferkit.cli_deep", ("plot", "extract_features")),
    ):
        try:
            loaded = importlib.import_module(module)
        except ImportError:  # pragma: no cover - a partial install
            continue
        for name in names:
            main.add_command(getattr(loaded, name))


_attach_family_commands()

if __name__ == "__main__":  # pragma: no cover
    main()
