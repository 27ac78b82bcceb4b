"""Which data a command works on: a built-in pair or the user's own files, read in one place.

``--dataset NAME --pair SOURCE:TARGET [--option KEY=VALUE ...]`` names a built-in pair;
``--source FILE --target FILE`` the user's files (``.npz``, ``.csv``/``.tsv``, ``.svmlight`` or
``.mat``, see :mod:`transferkit.datasets.files`), ``--source`` once per source for several (a
multi-source problem, :func:`transferkit.multisource.combine_pairs`); with ``--text-column``,
CSV/TSV files of texts encoded by ``--encoder``
(:func:`transferkit.text.problem_from_text_files`), with a progress bar; two folders of images
(one sub-folder per class), the features of ``--backbone``
(:func:`transferkit.deep.folders.problem_from_image_folders`), with a progress bar.
:data:`data_options` declares the options, :func:`load_data` turns them into a
:class:`~transferkit.problem.TransferProblem`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from transferkit.cli.options import (
    backbone_option,
    feature_spaces_option,
    option_group,
    parse_options,
    require_torch,
    role_progress,
)
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
    click.option(
        "--source",
        "source_file",
        type=click.Path(),
        multiple=True,
        help="Source file, or folder of images with one sub-folder per class; once per source "
        "for several sources (multi-source).",
    ),
    click.option(
        "--target",
        "target_file",
        type=click.Path(),
        help="Target file, or folder of images (class sub-folders, or the images alone).",
    ),
    backbone_option(
        "Pre-trained CNN whose features describe --source/--target folders of images "
        "[default: mobilenet_v2].",
        default=None,
    ),
    click.option(
        "--text-column",
        help="The --source/--target files are CSV/TSV of texts: the header of their text column.",
    ),
    click.option(
        "--label-column",
        help="Header of the label column of text files [default: label]; a target without it "
        "is unlabelled.",
    ),
    click.option(
        "--encoder",
        help="Text encoder of --text-column files [default: use]: use, minilm, e5, glove, "
        "spacy-en or spacy-fr, or several joined by + (use+e5; see the text guide).",
    ),
    click.option(
        "--language",
        metavar="LANG|SOURCE:TARGET",
        help="ISO 639-1 language of the texts (en, or en:es when they differ); an encoder "
        "that does not cover it is an error.",
    ),
    feature_spaces_option,
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
    source_file: str | tuple[str, ...] | None,
    target_file: str | None,
    reveal: int,
    seed: int,
    allow_raw: bool,
    text_column: str | None = None,
    label_column: str | None = None,
    encoder: str | None = None,
    language: str | None = None,
    feature_spaces: str = "same",
    backbone: str | None = None,
) -> Any:
    """A TransferProblem, or (``allow_raw``, for files whose feature spaces differ) a dict of the
    raw parts: ``X_source``, ``X_target``, ``y_source``, ``y_target``, ``target_labeled``,
    ``source_feature_names``, ``target_feature_names`` and ``name``."""
    from transferkit.exceptions import DataFormatError, FeatureSpaceMismatchError

    if dataset and (source_file or target_file):
        raise InvalidParameterError("Give --dataset/--pair or --source/--target, not both.")
    text_options = {"--label-column": label_column, "--encoder": encoder, "--language": language}
    if text_column is None and any(value is not None for value in text_options.values()):
        given = ", ".join(option for option, value in text_options.items() if value is not None)
        raise InvalidParameterError(
            f"{given} apply to files of texts: name their text column with --text-column."
        )
    sources = [source_file] if isinstance(source_file, str) else list(source_file or ())
    if len(sources) > 1:
        problem = load_sources(sources, target_file, text_column, feature_spaces, backbone)
        return problem.with_target_labels(reveal, random_state=seed) if reveal else problem
    source_file = sources[0] if sources else None
    if feature_spaces != "same" and (dataset or text_column is not None):
        raise InvalidParameterError(
            "--feature-spaces different applies to --source/--target files of features (not to "
            "--dataset or --text-column)."
        )
    folders = bool(source_file and target_file) and image_folders(source_file, target_file)
    if backbone is not None and not folders:
        raise InvalidParameterError(
            "--backbone applies to folders of images: give --source DIR --target DIR."
        )
    if folders and (text_column is not None or feature_spaces != "same"):
        raise InvalidParameterError(
            "--source and --target are folders of images, described by one backbone's features: "
            "--text-column and --feature-spaces apply to files."
        )
    if folders:
        from transferkit.bench.suite import DEFAULT_BACKBONE

        problem = load_image_folders(
            source_file, target_file, backbone=backbone or DEFAULT_BACKBONE
        )
    elif text_column is not None:
        if dataset or not (source_file and target_file):
            raise InvalidParameterError(
                "--text-column reads texts from --source FILE --target FILE (CSV or TSV); give "
                "both files and no --dataset."
            )
        problem = load_text_files(
            source_file,
            target_file,
            text_column=text_column,
            label_column=label_column or "label",
            encoder=encoder or "use",
            language=language,
        )
    elif dataset:
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
            problem = problem_from_files(source_file, target_file, feature_spaces=feature_spaces)
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


def load_sources(
    sources: list[str],
    target: str | None,
    text_column: str | None,
    feature_spaces: str,
    backbone: str | None,
) -> Any:
    """The multi-source problem of several ``--source`` files (or folders of images) and one
    ``--target``: each source read with the target as a pair, the pairs combined
    (:func:`transferkit.multisource.combine_pairs`), each source named by its file."""
    from transferkit.bench.suite import DEFAULT_BACKBONE, check_sources, file_names
    from transferkit.datasets import problem_from_files
    from transferkit.multisource import combine_pairs, read_pairs

    if target is None:
        raise InvalidParameterError("Several --source need one --target, file or folder.")
    check_sources(sources, text=text_column is not None, feature_spaces=feature_spaces)
    folders = image_folders(*sources, target)
    if backbone is not None and not folders:
        raise InvalidParameterError(
            "--backbone applies to folders of images: give a folder to every --source and to "
            "--target."
        )
    pairs = read_pairs(
        sources,
        lambda source: (
            load_image_folders(source, target, backbone=backbone or DEFAULT_BACKBONE)
            if folders
            else problem_from_files(source, target)
        ),
    )
    names = file_names(sources)
    return combine_pairs(
        pairs, source_names=names, name=f"{'+'.join(names)}->{pairs[0].target_name}"
    )


def load_text_files(
    source_file: str,
    target_file: str,
    *,
    text_column: str,
    label_column: str,
    encoder: str,
    language: str | None,
) -> Any:
    """The TransferProblem of two CSV/TSV files of texts, encoded with a progress bar per side."""
    from transferkit.text import problem_from_text_files, split_languages

    source_language, target_language = split_languages(language)
    with role_progress(encoder, "text") as report:
        return problem_from_text_files(
            source_file,
            target_file,
            text_column=text_column,
            label_column=label_column,
            encoder=encoder,
            source_language=source_language,
            target_language=target_language,
            progress=report,
        )


def image_folders(*paths: str | None) -> bool:
    """Whether the given ``--source``/``--target``/``--test`` are folders (of images); a folder
    beside a file is an error."""
    given = [Path(path) for path in paths if path is not None]
    folders = [path.is_dir() for path in given]
    if any(folders) and not all(folders):
        named = ", ".join(
            f"{path} ({'folder' if f else 'file'})" for path, f in zip(given, folders, strict=True)
        )
        raise InvalidParameterError(
            f"Give files, or folders of images, for all of --source/--target/--test: got {named}."
        )
    return bool(given) and all(folders)


def load_image_folders(source: str, target: str, *, backbone: str) -> Any:
    """The TransferProblem of two folders of images, encoded by ``backbone`` with a progress bar
    per folder."""
    require_torch("Folders of images")
    from transferkit.deep.folders import problem_from_image_folders

    with role_progress(backbone, "image") as report:
        return problem_from_image_folders(source, target, backbone=backbone, progress=report)


def reveal_mask(y: Any, per_class: int, seed: int) -> Any:
    """A boolean mask over ``y`` marking up to ``per_class`` random rows of every class."""
    import numpy as np

    rng = np.random.default_rng(seed)
    mask = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        index = np.flatnonzero(y == label)
        mask[rng.choice(index, size=min(per_class, len(index)), replace=False)] = True
    return mask
