"""The one place where transferkit's errors become console messages.

Every error transferkit raises on purpose (:class:`~transferkit.exceptions.TransferKitError`)
becomes one line, ``Error: ...``, and exit status 2; ``transferkit --debug ...`` lets the traceback
through instead. The root group (:class:`Group`) applies the rule once, around whichever command
runs under it; a command module raises our errors and never formats them itself.

Examples
--------
>>> import click
>>> from click.testing import CliRunner
>>> from transferkit.exceptions import InvalidParameterError
>>> @click.group(cls=Group)
... def tool() -> None:
...     pass
>>> @tool.command()
... def broken() -> None:
...     raise InvalidParameterError("--size must be positive; got -1.")
>>> result = CliRunner().invoke(tool, ["broken"])
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


class Group(click.Group):
    """The ``transferkit`` group: every command under it, sub-groups' commands included, runs
    inside :func:`clean_errors`."""

    def invoke(self, ctx: click.Context) -> Any:
        with clean_errors(ctx):
            return super().invoke(ctx)
