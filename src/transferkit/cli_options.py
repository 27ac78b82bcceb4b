"""Helpers shared by the click command modules (:mod:`transferkit.cli_deep`,
:mod:`transferkit.cli_diagnose`).

Example
-------
>>> import click
>>> pair_arguments = option_group(click.argument("source"), click.argument("target"))
>>> @click.command()
... @pair_arguments
... def show(source: str, target: str) -> None:
...     click.echo(f"{source} -> {target}")
>>> [parameter.name for parameter in show.params]
['source', 'target']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

Command = TypeVar("Command", bound=Callable[..., Any])


def option_group(*decorators: Callable[[Any], Any]) -> Callable[[Command], Command]:
    """One decorator that applies click arguments and options as if stacked in the order given.

    Several commands can then share a set of options, listed once, and ``--help`` shows them in
    that order.
    """

    def apply(function: Command) -> Command:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply
