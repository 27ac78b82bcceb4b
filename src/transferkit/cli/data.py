"""Which data a command works on: a built-in pair or the user's own files, read in one place.

``--dataset NAME --pair SOURCE:TARGET [--option KEY=VALUE ...]`` names a built-in pair;
``--source FILE --target FILE`` the user's files (``.npz``, ``.csv``, ``.svmlight`` or ``.mat``,
see :mod:`transferkit.datasets.files`). :data:`data_options` declares the options,
:func:`load_data` turns them into a :class:`~transferkit.problem.TransferProblem`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from transferkit.cli.options import option_group, parse_options
from transferkit.exceptions import InvalidParameterError

#: Which data a command works on; the command passes them on to :func:`load_data` as keywords.
data_options = option_group(
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


def load_data(
    dataset: str | None,
    pair: str | None,
    options: tuple[str, ...],
    source_file: str | None,
    target_file: str | None,
    reveal: int,
    seed: int,
    allow_raw: bool,
) -> Any:
    """A TransferProblem, or (``allow_raw``, for files whose feature spaces differ) a dict of the
    raw parts: ``X_source``, ``X_target``, ``y_source``, ``y_target``, ``target_labeled``,
    ``source_feature_names``, ``target_feature_names`` and ``name``."""
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
        problem = load_pair(dataset, source, target, random_state=seed, **parse_options(options))
    elif source_file and target_file:
        from transferkit.datasets import load_file, problem_from_files

        try:
            problem = problem_from_files(source_file, target_file)
        except (FeatureSpaceMismatchError, DataFormatError) as error:
            if not allow_raw or "feature" not in str(error):
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
                else reveal_mask(yt, reveal, seed),
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


def reveal_mask(y: Any, per_class: int, seed: int) -> Any:
    """A boolean mask over ``y`` marking up to ``per_class`` random rows of every class."""
    import numpy as np

    rng = np.random.default_rng(seed)
    mask = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        index = np.flatnonzero(y == label)
        mask[rng.choice(index, size=min(per_class, len(index)), replace=False)] = True
    return mask
