"""The one place where transferkit's errors become console messages.

Every error transferkit raises on purpose (:class:`~transferkit.exceptions.TransferKitError`)
becomes one line, ``Error: ...``, and exit status 2; ``transferkit --debug ...`` lets the traceback
through instead. :class:`Command` and :class:`Group` apply the rule to every command, so a command
invoked on its own (as the tests do) behaves as it does under ``transferkit``.

Example
-------
>>> import click
>>> from click.testing import CliRunner
>>> from transferkit.exceptions import InvalidParameterError
>>> @click.command(cls=Command)
... def broken() -> None:
...     raise InvalidParameterError("--size must be positive; got -1.")
>>> result = CliRunner().invoke(broken, [])
>>> result.exit_code, result.output
(2, 'Error: --size must be positive; got -1.\\n')
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from transferkit.exceptions import TransferKitError

#: Exit status of a command stopped by one of transferkit's errors (click's usage errors share it).
ERROR_EXIT_CODE = 2


class CommandError(click.ClickException):
    """A transferkit error shown as one line, exit status 2."""

    exit_code = ERROR_EXIT_CODE


def debug_requested(ctx: click.Context | None) -> bool:
    """Whether ``--debug`` was given to the root ``transferkit`` group."""
    if ctx is None:
        return False
    root = ctx.find_root()
    return isinstance(root.obj, dict) and bool(root.obj.get("debug"))


@contextmanager
def clean_errors(ctx: click.Context | None) -> Iterator[None]:
    """Turn a :class:`TransferKitError` raised inside the block into a one-line
    :class:`CommandError`, unless ``--debug`` asks for the traceback."""
    try:
        yield
    except TransferKitError as error:
        if debug_requested(ctx):
            raise
        raise CommandError(str(error)) from error


class Command(click.Command):
    """A click command whose transferkit errors are one clean line (see the module)."""

    def invoke(self, ctx: click.Context) -> Any:
        with clean_errors(ctx):
            return super().invoke(ctx)


class Group(click.Group):
    """A click group whose commands (and sub-groups) report errors as :class:`Command` does."""

    command_class = Command
    group_class = type  # sub-groups made with ``@group.group()`` are of this class too

    def invoke(self, ctx: click.Context) -> Any:
        with clean_errors(ctx):
            return super().invoke(ctx)
