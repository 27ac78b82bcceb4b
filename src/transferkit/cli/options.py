"""Options, value parsers and the progress bar shared by the command modules.

Examples
--------
>>> import click
>>> pair_arguments = option_group(click.argument("source"), click.argument("target"))
>>> @click.command()
... @pair_arguments
... def show(source: str, target: str) -> None:
...     click.echo(f"{source} -> {target}")
>>> [parameter.name for parameter in show.params]
['source', 'target']
>>> parse_options(("angle=40", "label_shift=0.5", "name=moons", "scale=none"))
{'angle': 40, 'label_shift': 0.5, 'name': 'moons', 'scale': None}
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from transferkit.exceptions import InvalidParameterError, MissingDependencyError

Command = TypeVar("Command", bound=Callable[..., Any])

#: The pre-trained CNNs a ``--backbone`` option offers (see transferkit.deep.backbones).
BACKBONES = ("mobilenet_v2", "efficientnet_lite0")


def backbone_option(help: str, *, default: str | None = BACKBONES[0], none: bool = False) -> Any:
    """``--backbone``, one of :data:`BACKBONES` (and ``none`` when ``none``); ``default`` None
    leaves it unset, for commands where it applies only to some inputs."""
    return click.option(
        "--backbone",
        type=click.Choice([*BACKBONES, "none"] if none else list(BACKBONES)),
        default=default,
        show_default=default is not None,
        help=help,
    )


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


def labelled_file_options(backbone_help: str) -> Callable[[Command], Command]:
    """The options of the commands that read labelled domains one file (or folder) each
    (``fewshot``, ``continual``, ``multitask``): ``--text-column``, ``--label-column``,
    ``--encoder`` and ``--backbone`` (described by ``backbone_help``)."""
    return option_group(
        click.option(
            "--text-column",
            default=None,
            help="Column of texts (CSV/TSV) to encode with --encoder; without it the files hold "
            "features.",
        ),
        click.option(
            "--label-column",
            default="label",
            show_default=True,
            help="Column of labels of a text table (feature tables use 'label' or 'y').",
        ),
        click.option(
            "--encoder", default="use", show_default=True, help="Text encoder for --text-column."
        ),
        backbone_option(backbone_help),
    )


def param_option(what: str, examples: str, listed_in: str) -> Any:
    """``--param KEY=VALUE`` (repeated; see :func:`method_params`): a parameter of the chosen
    ``what`` (e.g. "strategy"), ``examples`` of keys, the module whose classes list them."""
    return click.option(
        "--param",
        "params",
        multiple=True,
        metavar="KEY=VALUE",
        help=f"A {what} parameter (repeat), given to every chosen {what} that has it, e.g. "
        f"{examples} ({listed_in}'s classes list them).",
    )


seed_option = click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of the split and the training."
)


def test_fraction_option(scored: str) -> Any:
    """``--test-fraction``: the share of each class of each task held out (to ``scored``)."""
    return click.option(
        "--test-fraction",
        type=float,
        default=0.3,
        show_default=True,
        help=f"Share of each class of each task held out to {scored}.",
    )


# --------------------------------------------------------------------------- values
def parse_value(text: str) -> Any:
    """``"40"`` → 40, ``"0.5"`` → 0.5, ``"true"``/``"false"``/``"none"`` → True/False/None,
    ``"[256, 256]"`` → a list (JSON), anything else stays text."""
    if text.startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def parse_options(options: tuple[str, ...]) -> dict[str, Any]:
    """The ``--option KEY=VALUE`` pairs of a command as a dict (values via :func:`parse_value`)."""
    parsed = {}
    for item in options:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidParameterError(
                f"--option takes KEY=VALUE (e.g. --option angle=40); got {item!r}."
            )
        parsed[key.strip()] = parse_value(value.strip())
    return parsed


def check_family(names: Sequence[str], family: str, option: str, kind: str) -> None:
    """Raise :class:`InvalidParameterError` when a method named with ``option`` is not of
    ``family`` (``kind`` names it for the user, e.g. "few-shot method"; the message lists the
    family's methods), or is named twice."""
    from transferkit.registry import available_methods, method_spec

    for name in names:
        if method_spec(name).family != family:
            members = [n for n, spec in available_methods().items() if spec.family == family]
            raise InvalidParameterError(
                f"{option} {name!r} is not a {kind}; use {', '.join(members)}."
            )
    if len(set(names)) != len(names):
        raise InvalidParameterError(f"{option}: a method is given twice; give each once.")


def method_params(
    names: Sequence[str],
    params: tuple[str, ...],
    reserved: dict[str, str] | None = None,
    known: dict[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Each named method's parameters from ``--param KEY=VALUE`` options: a key goes to every
    method of ``names`` that has it (values via :func:`parse_value`), and a key none of them has
    is an error naming the ones they have. ``reserved`` maps the keys the command sets itself to
    the option that sets them (``{"random_state": "--seed"}``): such a key is an error naming
    the option. ``known`` maps each name to its parameter names when they are not the
    registered methods' (default: the registry's)."""
    reserved = {"random_state": "--seed", "progress": "--quiet", **(reserved or {})}
    if known is None:
        from transferkit.registry import make_method

        known = {name: make_method(name).get_params() for name in names}
    chosen: dict[str, dict[str, Any]] = {name: {} for name in names}
    for item in params:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidParameterError(
                f"--param takes KEY=VALUE (e.g. --param epochs=5); got {item!r}."
            )
        if key in reserved:
            raise InvalidParameterError(f"--param {key}: give it with {reserved[key]}.")
        takers = [name for name in names if key in known[name]]
        if not takers:
            offered = sorted({k for keys in known.values() for k in keys} - {"model", *reserved})
            raise InvalidParameterError(
                f"--param {key}: none of {', '.join(names)} has a parameter {key!r}; they have "
                f"{', '.join(offered)}."
            )
        for name in takers:
            chosen[name][key] = parse_value(value.strip())
    return chosen


def split_list(value: str | None) -> list[str] | None:
    """``"a, b,,c"`` → ``["a", "b", "c"]``; None or an empty list → None."""
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None


def list_callback(kind: Callable[[str], Any], what: str) -> Callable[..., list[Any] | None]:
    """A click callback: a comma-separated list of ``kind`` values (``what`` names them in the
    error, e.g. "integers"); nothing given → None."""

    def parse(ctx: click.Context, param: click.Parameter, value: str | None) -> list[Any] | None:
        items = split_list(value)
        if items is None:
            return None
        try:
            return [kind(v) for v in items]
        except ValueError:
            raise click.BadParameter(
                f"'{value}' is not a comma-separated list of {what}."
            ) from None

    return parse


#: Click callback: a comma-separated list of integer seeds.
seeds_callback = list_callback(int, "integers")


def budgets_callback(
    ctx: click.Context, param: click.Parameter, value: str
) -> list[tuple[str, float]]:
    """``--eps``: comma-separated numbers or fractions (``8/255``, ``0.5/255``), each kept with
    its text."""
    budgets = []
    for text in (v.strip() for v in value.split(",")):
        if not text:
            continue
        numerator, _, denominator = text.partition("/")
        try:
            budgets.append((text, float(numerator) / float(denominator or 1)))
        except (ValueError, ZeroDivisionError):
            raise click.BadParameter(
                f"{text!r} is not a number or a fraction like 8/255."
            ) from None
    return budgets


def json_object_callback(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> dict[str, Any]:
    """Click callback: a JSON object (``'{"epochs": 5}'``); nothing given → ``{}``."""
    if not value:
        return {}
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as error:
        raise click.BadParameter(f"not valid JSON ({error.msg}): {value!r}") from error
    if not isinstance(parsed, dict):
        raise click.BadParameter(f"expected a JSON object like '{{\"epochs\": 5}}', got {value!r}")
    return parsed


# --------------------------------------------------------------------------- shared options
threads_option = click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="BLAS/torch threads per cell (the same whatever --jobs, so numbers never depend on it).",
)

#: ``--device`` of the commands that run a network themselves (the bench suites' is in
#: ``bench.deep_execution_options``, with its own default).
device_option = click.option(
    "--device",
    default="auto",
    show_default=True,
    help="auto (CUDA when present), cpu, cuda or cuda:N.",
)

#: ``--norm``: the norm that bounds an attack's perturbation (robustness, harden).
norm_option = click.option(
    "--norm",
    type=click.Choice(["linf", "l2"]),
    default="linf",
    show_default=True,
    help="The norm that bounds each perturbation.",
)

#: ``--feature-spaces``: files described by different features on purpose (bench, diagnose,
#: select read them with :func:`transferkit.datasets.problem_from_files`).
feature_spaces_option = click.option(
    "--feature-spaces",
    type=click.Choice(["same", "different"]),
    default="same",
    show_default=True,
    help="different: the --source and --target files are described by different features on "
    "purpose (heterogeneous transfer; the hda_* methods).",
)

db_option = click.option(
    "--db",
    type=click.Path(dir_okay=False),
    default=None,
    help="Results database (default: $TRANSFERKIT_RESULTS, else ./transferkit-results.sqlite).",
)


# --------------------------------------------------------------------------- console
def progress_bar(
    total: int | None, description: str, *, quiet: bool = False, leave: bool = False, **kwargs: Any
) -> Any:
    """A tqdm bar on standard error, drawn only when standard error is a terminal.

    Logs and pipes get no bar (tqdm's ``disable=None``), so a redirected run does not fill its log
    with carriage returns; ``quiet`` turns the bar off everywhere.
    """
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=description,
        file=sys.stderr,
        leave=leave,
        disable=True if quiet else None,
        **kwargs,
    )


@contextmanager
def role_progress(prefix: str, unit: str) -> Iterator[Callable[[str, int, int], None]]:
    """A ``progress(role, done, total)`` that draws one bar per role ("source", "target"...),
    named ``"<prefix> <role>"``, as an encoder reports; the bars are closed on leaving."""
    bars: dict[str, Any] = {}

    def report(role: str, done: int, total: int) -> None:
        if role not in bars:
            bars[role] = progress_bar(total, f"{prefix} {role}", unit=unit)
        bars[role].n = done
        bars[role].refresh()

    try:
        yield report
    finally:
        for bar in bars.values():
            bar.close()


def echo_task_table(
    label: str,
    columns: Sequence[tuple[str, int]],
    task_names: Sequence[str],
    last: str,
    rows: Sequence[tuple[str, Sequence[str], Sequence[float], str]],
) -> None:
    """Print one row per method of a command that scores several tasks (``continual``,
    ``multitask``): the method's name under ``label``, its summary cells (already formatted,
    right-aligned to each of ``columns``' (title, width)), its accuracy on each task in %, and a
    last cell under ``last`` (seconds)."""
    task_width = max(8, *(len(name) for name in task_names))
    width = max(len(label), *(len(row[0]) for row in rows))
    last_width = max(7, len(last))
    click.echo(
        f"{label:<{width}}  "
        + "".join(f"{title:>{size}}  " for title, size in columns)
        + "  ".join(f"{name:>{task_width}}" for name in task_names)
        + f"  {last:>{last_width}}"
    )
    for name, cells, accuracies, end in rows:
        click.echo(
            f"{name:<{width}}  "
            + "".join(f"{cell:>{size}}  " for cell, (_, size) in zip(cells, columns, strict=True))
            + "  ".join(f"{100 * a:.1f} %".rjust(task_width) for a in accuracies)
            + f"  {end:>{last_width}}"
        )


@contextmanager
def reading_progress(folders: bool, quiet: bool) -> Iterator[Callable[[int, int], None]]:
    """A ``progress(done, total)`` for the encoding of texts or images (``folders``) while
    labelled files are read, on a bar named "reading" that is closed on leaving."""
    bar = progress_bar(None, "reading", quiet=quiet)

    def encoding(done: int, total: int) -> None:
        bar.set_description(f"encoding {done}/{total} {'images' if folders else 'texts'}")

    try:
        yield encoding
    finally:
        bar.close()


def require_torch(feature: str, detail: str = "") -> None:
    """Raise :class:`~transferkit.exceptions.MissingDependencyError` naming the deep extra when
    PyTorch is not installed (``feature`` says what needed it, ``detail`` adds why)."""
    try:
        found = importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):  # a blocked or half-installed torch
        found = False
    if not found:
        raise MissingDependencyError(
            f"{feature} needs the deep extra: PyTorch is not installed{detail}. Install it with: "
            "pip install 'transferkit[deep]'"
        )
