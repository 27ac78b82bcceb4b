"""The ``transferkit`` group: ``--version``, ``--debug``, and every command attached.

Each command group lives in its own module (``datasets``, ``bench`` with ``results`` and
``demo``, ``diagnose``, ``select``, ``plot``, ``features``, ``continual``...). They are imported here at the top,
so a command module that fails to import fails the command line loudly instead of vanishing from
``--help``; each keeps its heavy imports (numpy, the methods, torch) inside its commands, so
``transferkit --help`` stays fast.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Callable
from typing import Any

import click

from transferkit import __version__
from transferkit.allocator import reuse_freed_memory
from transferkit.cli.adapt import adapt_command
from transferkit.cli.bench import bench, demo, results
from transferkit.cli.bli import bli_command
from transferkit.cli.continual import continual_command
from transferkit.cli.corrupt import corrupt_command
from transferkit.cli.datasets import datasets
from transferkit.cli.diagnose import diagnose_command
from transferkit.cli.errors import Group
from transferkit.cli.features import extract_features
from transferkit.cli.fewshot import fewshot_command
from transferkit.cli.harden import harden_command
from transferkit.cli.multitask import multitask_command
from transferkit.cli.plot import plot
from transferkit.cli.predict import predict_command
from transferkit.cli.robustness import robustness_command
from transferkit.cli.select import select_command
from transferkit.cli.source_free import source_free_command
from transferkit.cli.transferability import transferability_command
from transferkit.cli.zeroshot import zeroshot_command
from transferkit.exceptions import WARNINGS


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="transferkit")
@click.option("--debug", is_flag=True, help="Show full tracebacks and debug logging.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """transferkit: diagnose a transfer problem, adapt, and benchmark honestly.

    \b
    transferkit diagnose --source S --target T     which transfer problem you have
    transferkit select --source S --target T --predictions t.csv
                                                   a method picked without target labels,
                                                   and the target's labels under it
    transferkit predict PICK NEW                   label rows that arrive later
    transferkit datasets                           every dataset, its domains, sizes and files
    transferkit demo                               a short benchmark on data that needs no download
    transferkit bench SUITE                        run a suite (built-in or TOML), resumable
    transferkit results list|show|export           what the results database holds
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    reuse_freed_memory()
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not debug:
        previous = warnings.showwarning
        warnings.showwarning = _one_line_warnings(previous)
        ctx.call_on_close(lambda: setattr(warnings, "showwarning", previous))


def _one_line_warnings(other: Callable[..., None]) -> Callable[..., None]:
    """A ``warnings.showwarning`` that writes transferkit's own warnings as one line for the
    user and hands the others to ``other`` (``--debug`` shows every warning with its file and
    line)."""

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        if issubclass(category, WARNINGS):
            click.echo(f"Warning: {message}", err=True)
        else:
            other(message, category, filename, lineno, file, line)

    return show


for command in (
    datasets,
    bench,
    results,
    demo,
    diagnose_command,
    select_command,
    predict_command,
    plot,
    extract_features,
    transferability_command,
    bli_command,
    zeroshot_command,
    fewshot_command,
    continual_command,
    multitask_command,
    corrupt_command,
    source_free_command,
    adapt_command,
    robustness_command,
    harden_command,
):
    main.add_command(command)
