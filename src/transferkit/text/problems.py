"""Transfer problems made of texts: encode a labelled source and a target with one encoder.

:func:`problem_from_texts` turns lists of texts (and their labels) into a
:class:`~transferkit.problem.TransferProblem` whose features are the encoder's vectors, so every
method, ``diagnose`` and ``select`` work on texts as on any features.
:func:`problem_from_text_files` reads the texts from the user's CSV/TSV files first
(:func:`~transferkit.datasets.files.load_text_file`); the command line's
``--source/--target ... --text-column`` goes through it.

Examples
--------
>>> from transferkit.text import problem_from_texts
>>> problem = problem_from_texts(
...     ["The match ended in a draw.", "Stir the soup slowly."], ["sport", "food"],
...     ["El partido terminó en empate.", "Remueve la sopa despacio."],
...     encoder="use", target_language="es")  # doctest: +SKIP
>>> problem.X_source.shape, problem.n_target  # doctest: +SKIP
((2, 512), 2)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.datasets.files import load_text_file
from transferkit.exceptions import DataFormatError
from transferkit.problem import TransferProblem
from transferkit.text.encoders import check_language, check_texts, encode_texts, get_encoder

#: ``progress(role, done, total)``: role is "source", "target" or "parallel".
RoleProgress = Callable[[str, int, int], None]


def problem_from_texts(
    source_texts: Sequence[str],
    y_source: Any,
    target_texts: Sequence[str],
    y_target: Any = None,
    *,
    encoder: str = "use",
    source_language: str | None = None,
    target_language: str | None = None,
    cache_dir: str | Path | None = None,
    progress: RoleProgress | None = None,
    name: str | None = None,
) -> TransferProblem:
    """A transfer problem whose features are the texts encoded by one pre-trained encoder.

    Parameters
    ----------
    source_texts : sequence of str
        The labelled source texts.
    y_source : array-like of shape (n_source,)
        Their labels (strings or integers; they stay the user's).
    target_texts : sequence of str
        The target texts.
    y_target : array-like of shape (n_target,) or None, default None
        Target labels, for evaluation only (methods never see them); None for an unlabelled
        target.
    encoder : str, default "use"
        A key of :data:`~transferkit.text.encoders.TEXT_ENCODERS`.
    source_language, target_language : str or None, default None
        ISO 639-1 codes; when given, a language the encoder does not cover is an error.
    cache_dir : str, Path or None, default None
        Root of the embedding cache (see :func:`~transferkit.text.encoders.encode_texts`).
    progress : callable or None, default None
        Called as ``progress(role, done, total)`` while a side is encoded.
    name : str or None, default None
        Name of the problem (default ``"texts (<encoder>)"``).

    Returns
    -------
    TransferProblem
        ``metadata`` records the encoder and the languages.
    """
    spec = get_encoder(encoder)
    check_language(spec, source_language)
    check_language(spec, target_language)
    source_texts = check_texts(source_texts, "source texts")
    target_texts = check_texts(target_texts, "target texts")
    y_source = _labels(y_source, len(source_texts), "source")
    y_target = None if y_target is None else _labels(y_target, len(target_texts), "target")
    features = {}
    for role, texts, language in (
        ("source", source_texts, source_language),
        ("target", target_texts, target_language),
    ):
        report = None if progress is None else _role_progress(progress, role)
        features[role] = encode_texts(
            texts,
            spec.name,
            language=language,
            cache_dir=cache_dir,
            progress=report,
            what=f"{role} texts",
        )
    return TransferProblem(
        X_source=features["source"],
        y_source=y_source,
        X_target=features["target"],
        y_target=y_target,
        name=name or f"texts ({spec.name})",
        metadata={
            "dataset": "texts",
            "encoder": spec.name,
            "languages": {"source": source_language, "target": target_language},
        },
    )


def _labels(y: Any, n_texts: int, role: str) -> np.ndarray:
    labels = np.asarray(y)
    if labels.ndim != 1 or len(labels) != n_texts:
        raise DataFormatError(
            f"The {role} labels have shape {labels.shape} for {n_texts} {role} texts; give one "
            "label per text."
        )
    return labels


def _role_progress(progress: RoleProgress, role: str) -> Callable[[int, int], None]:
    return lambda done, total: progress(role, done, total)


def split_languages(languages: str | None) -> tuple[str | None, str | None]:
    """``"en:es"`` -> ``("en", "es")``, ``"en"`` -> ``("en", "en")``, None -> ``(None, None)``:
    the command line's ``--language`` as the source and target languages."""
    if not languages:
        return None, None
    source, _, target = languages.partition(":")
    return source or None, (target or source) or None


def problem_from_text_files(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    text_column: str,
    label_column: str = "label",
    encoder: str = "use",
    source_language: str | None = None,
    target_language: str | None = None,
    cache_dir: str | Path | None = None,
    progress: RoleProgress | None = None,
    name: str | None = None,
    parallel: str | os.PathLike[str] | None = None,
    parallel_columns: tuple[str, str] = ("source", "target"),
) -> TransferProblem:
    """A transfer problem from a labelled source CSV/TSV of texts and a target one.

    Parameters
    ----------
    source, target : str or Path
        ``.csv`` or ``.tsv`` files with a header row (see
        :func:`~transferkit.datasets.files.load_text_file`). The source needs the label column;
        a target without it is an unlabelled target, one with it keeps its labels for
        evaluation only.
    text_column : str
        Header of the text column (the same in both files).
    label_column : str, default "label"
        Header of the label column.
    encoder, source_language, target_language, cache_dir, progress
        As in :func:`problem_from_texts`.
    name : str or None, default None
        Name of the problem (default ``"<source stem>-><target stem>"``).
    parallel : str, Path or None, default None
        A CSV/TSV of unlabelled translation pairs: each row a text in the source's language and
        its translation in the target's, in the columns ``parallel_columns``. Both sides are
        encoded like the rows of their language and ride along as the problem's parallel corpus
        (:func:`transferkit.crosslingual.with_parallel_corpus`), for ``parallel_distillation``.
    parallel_columns : (str, str), default ("source", "target")
        Headers of the parallel file's source-language and target-language columns.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from transferkit.text import problem_from_text_files
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "en.csv").write_text("text,label\\nA great match.,sport\\nTasty soup.,food\\n")
    >>> _ = (folder / "es.csv").write_text("text\\nUn gran partido.\\nSopa sabrosa.\\n")
    >>> problem = problem_from_text_files(
    ...     folder / "en.csv", folder / "es.csv", text_column="text")  # doctest: +SKIP
    >>> problem.n_features, problem.y_target  # doctest: +SKIP
    (512, None)
    """
    # An unknown encoder or an uncovered language is named before any file is read.
    spec = get_encoder(encoder)
    check_language(spec, source_language)
    check_language(spec, target_language)
    source_texts, y_source = load_text_file(source, text_column, label_column, labels_required=True)
    target_texts, y_target = load_text_file(target, text_column, label_column)
    source_path, target_path = Path(source), Path(target)
    problem = problem_from_texts(
        source_texts,
        y_source,
        target_texts,
        y_target,
        encoder=spec.name,
        source_language=source_language,
        target_language=target_language,
        cache_dir=cache_dir,
        progress=progress,
        name=name or f"{source_path.stem}->{target_path.stem}",
    )
    problem = replace(
        problem,
        source_name=source_path.stem,
        target_name=target_path.stem,
        metadata={
            **problem.metadata,
            "files": {"source": str(source_path), "target": str(target_path)},
        },
    )
    if parallel is None:
        return problem
    from transferkit.crosslingual.distillation import with_parallel_corpus

    sides = []
    for column, language in zip(parallel_columns, (source_language, target_language), strict=True):
        texts, _ = load_text_file(parallel, column, label_column=None)
        report = None if progress is None else _role_progress(progress, "parallel")
        sides.append(
            encode_texts(
                texts,
                spec.name,
                language=language,
                cache_dir=cache_dir,
                progress=report,
                what=f"parallel texts ({column})",
            )
        )
    return with_parallel_corpus(problem, *sides)
