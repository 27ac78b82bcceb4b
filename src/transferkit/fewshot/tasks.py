"""The few-shot benchmark tasks of the catalog, and tasks from users' files.

Each loader takes the catalog's pair ``(shots domain, queries domain)`` and returns a
:class:`~transferkit.fewshot.episodes.FewShotTask` (``kind = "fewshot"``) whose episodes come
from the cell's seed:

- ``fewshot-office-caltech``: Office-Caltech10 as pooled features of an ImageNet-pre-trained CNN
  (:func:`~transferkit.datasets.load_office_caltech_features`). The same domain twice gives
  episodes within it (shots and queries disjoint); two domains give cross-domain episodes,
  shots from the first, queries from the second.
- ``fewshot-mnist``: MNIST or Fashion-MNIST digits/articles as pixels; the base classes
  (default 0-4) of the training split are there to meta-train on, the episodes use the other
  classes of the test split only.
- ``fewshot-bible``: Bible verses by book through a sentence encoder; shots from one half of
  each book's chapters, queries from the other half, in the pair's languages (so a query is
  never a shot's translation nor its chapter neighbour).

:func:`task_from_files` builds a task from a user's CSV/TSV/npz file (features, or texts through
an encoder), as ``transferkit fewshot`` does.

Examples
--------
>>> from transferkit.datasets import load_task
>>> task = load_task("fewshot-office-caltech", "amazon", "webcam", random_state=0,
...                  k_shot=5, episodes=100)  # doctest: +SKIP
>>> task.kind, task.shots_domain, task.queries_domain, task.n_episodes  # doctest: +SKIP
('fewshot', 'amazon', 'webcam', 100)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.checks import check_count
from transferkit.datasets.labelled import load_labelled_domains
from transferkit.exceptions import InvalidParameterError
from transferkit.fewshot.episodes import FewShotTask

#: Defaults of every few-shot dataset's episode options (5-way, 1-shot, 15 queries per class,
#: 600 episodes as in Chen et al. 2019).
EPISODE_DEFAULTS = {"n_way": 5, "k_shot": 1, "n_query": 15, "episodes": 600}
EPISODE_OPTIONS = tuple(EPISODE_DEFAULTS)
#: Feature sets of ``fewshot-office-caltech`` (``load_office_caltech_features``' backbones).
OFFICE_FEATURES = ("efficientnet_lite0", "mobilenet_v2", "both")
#: Domains of ``fewshot-mnist``.
MNIST_DOMAINS = ("mnist", "fashion-mnist")
#: Default base classes of ``fewshot-mnist``: meta-trained on, never in an episode.
DEFAULT_BASE_CLASSES = (0, 1, 2, 3, 4)
BIBLE_LANGUAGE_DOMAINS = ("english", "spanish")


def _episode_settings(options: dict[str, Any]) -> dict[str, int]:
    settings = {**EPISODE_DEFAULTS, **{k: options[k] for k in EPISODE_OPTIONS if k in options}}
    for key, value in settings.items():
        check_count(value, key, 2 if key == "n_way" else 1)
    return {
        "n_way": settings["n_way"],
        "k_shot": settings["k_shot"],
        "n_query": settings["n_query"],
        "n_episodes": settings["episodes"],
    }


def _seed(random_state: Any) -> int | None:
    if random_state is None or isinstance(random_state, int | np.integer):
        return None if random_state is None else int(random_state)
    return int(np.random.default_rng(random_state).integers(2**31 - 1))


# --------------------------------------------------------------------------- Office-Caltech10
def office_task(
    source: str,
    target: str,
    *,
    data_home: str | os.PathLike[str] | None = None,
    random_state: Any = None,
    features: str = "efficientnet_lite0",
    preprocess: str = "none",
    **episode_options: Any,
) -> FewShotTask:
    """``load_task("fewshot-office-caltech", shots, queries)``: CNN features of the images.

    ``preprocess="none"`` keeps the raw pooled activations (the methods make rows unit length);
    ``"harness"`` standardises each domain on its own first, which can help cross-domain episodes.
    """
    from transferkit.datasets import load_office_caltech_features
    from transferkit.datasets.office import OFFICE_CLASSES

    if features not in OFFICE_FEATURES:
        raise InvalidParameterError(
            f"features must be one of {', '.join(OFFICE_FEATURES)}; got {features!r}."
        )
    settings = _episode_settings(episode_options)
    X_support, y_support = load_office_caltech_features(
        source, features, preprocess=preprocess, data_home=data_home
    )
    X_query = y_query = None
    if target != source:
        X_query, y_query = load_office_caltech_features(
            target, features, preprocess=preprocess, data_home=data_home
        )
    return FewShotTask(
        X_support,
        y_support,
        X_query=X_query,
        y_query=y_query,
        random_state=_seed(random_state),
        name="fewshot-office-caltech",
        shots_domain=source,
        queries_domain=target,
        metadata={
            "features": features,
            "preprocess": preprocess,
            "class_names": list(OFFICE_CLASSES),
        },
        **settings,
    )


# --------------------------------------------------------------------------- MNIST, Fashion-MNIST
def _split_of(domain: str, split: str, data_home: Any) -> tuple[np.ndarray, np.ndarray]:
    if domain == "mnist":
        from transferkit.datasets import load_mnist

        X, y = load_mnist(split, data_home)
    else:
        from transferkit.datasets import load_fashion_mnist

        X, y = load_fashion_mnist(split, data_home)
    return X.reshape(len(X), -1).astype(np.float32), y


def mnist_task(
    source: str,
    target: str,
    *,
    data_home: str | os.PathLike[str] | None = None,
    random_state: Any = None,
    base_classes: Sequence[int] = DEFAULT_BASE_CLASSES,
    n_base: int = 10000,
    per_class: int = 500,
    **episode_options: Any,
) -> FewShotTask:
    """``load_task("fewshot-mnist", domain, domain)``: base classes to meta-train on, episodes on
    the others.

    Parameters
    ----------
    base_classes : sequence of int, default (0, 1, 2, 3, 4)
        Classes of the training split given as ``X_base`` (meta-training); the episodes use the
        other classes only.
    n_base : int, default 10000
        Base rows drawn (from the seed) from the training split.
    per_class : int, default 500
        Rows per novel class drawn (from the seed) from the test split, the episodes' pool.
    """
    if source != target:
        raise InvalidParameterError(
            f"fewshot-mnist episodes stay within one domain; got shots from {source!r} and "
            f"queries from {target!r}. Use ({source!r}, {source!r})."
        )
    settings = _episode_settings(episode_options)
    n_base = check_count(n_base, "n_base", 10)
    per_class = check_count(per_class, "per_class", 2)
    base = sorted({int(c) for c in base_classes})
    if not base or not set(base) <= set(range(10)) or len(base) > 8:
        raise InvalidParameterError(
            f"base_classes must be 1 to 8 distinct classes among 0..9; got {list(base_classes)!r}."
        )
    seed = _seed(random_state)
    rng = np.random.default_rng(seed)
    X_train, y_train = _split_of(source, "train", data_home)
    base_rows = np.flatnonzero(np.isin(y_train, base))
    base_rows = np.sort(rng.choice(base_rows, size=min(n_base, len(base_rows)), replace=False))
    X_test, y_test = _split_of(source, "test", data_home)
    novel = [c for c in range(10) if c not in base]
    pool = np.sort(
        np.concatenate(
            [rng.choice(np.flatnonzero(y_test == c), size=per_class, replace=False) for c in novel]
        )
    )
    if source == "fashion-mnist":
        from transferkit.datasets.fashion import FASHION_CLASSES as names
    else:
        names = tuple(str(c) for c in range(10))
    return FewShotTask(
        X_test[pool],
        y_test[pool],
        X_base=X_train[base_rows],
        y_base=y_train[base_rows],
        image_shape=(28, 28),
        random_state=seed,
        name="fewshot-mnist",
        shots_domain=source,
        queries_domain=target,
        metadata={
            "base_classes": base,
            "novel_classes": novel,
            "class_names": list(names),
            "features": "pixels",
        },
        **settings,
    )


# --------------------------------------------------------------------------- Bible verses
def bible_task(
    source: str,
    target: str,
    *,
    data_home: str | os.PathLike[str] | None = None,
    random_state: Any = None,
    encoder: str = "use",
    label: str = "book",
    per_class: int = 60,
    progress: Callable[[int, int], None] | None = None,
    **episode_options: Any,
) -> FewShotTask:
    """``load_task("fewshot-bible", shots language, queries language)``: verses by book.

    Each book's chapters are split in two halves (:func:`~transferkit.datasets.split_by_chapter`,
    seed 0): shots come from the first half in the ``source`` language, queries from the second
    half in the ``target`` language, so a query is never a shot nor its translation. At most
    ``per_class`` verses per book and half are kept (drawn with seed 0, so every cell encodes,
    and caches, the same verses); books with fewer verses than an episode needs on either side
    are left out and listed in ``metadata["dropped_classes"]``.
    """
    from transferkit.datasets import load_bible, split_by_chapter
    from transferkit.datasets.bible import encode_verses
    from transferkit.datasets.office import per_class_sample

    settings = _episode_settings(episode_options)
    per_class = check_count(per_class, "per_class", 2)
    verses = load_bible(data_home)
    labels = verses.labels(label)
    second_half = split_by_chapter(verses, 0.5, random_state=0)
    pick = np.random.default_rng(0)
    halves = []
    for side in (~second_half, second_half):
        rows = np.flatnonzero(side)
        halves.append(rows[per_class_sample(labels[rows], per_class, pick)])
    shot_rows, query_rows = halves
    shot_counts = dict(zip(*np.unique(labels[shot_rows], return_counts=True), strict=True))
    query_counts = dict(zip(*np.unique(labels[query_rows], return_counts=True), strict=True))
    keep = sorted(
        c
        for c in shot_counts
        if shot_counts[c] >= settings["k_shot"] and query_counts.get(c, 0) >= settings["n_query"]
    )
    dropped = sorted((set(shot_counts) | set(query_counts)) - set(keep))
    shot_rows = shot_rows[np.isin(labels[shot_rows], keep)]
    query_rows = query_rows[np.isin(labels[query_rows], keep)]
    X_support = encode_verses(verses, shot_rows, source, encoder, progress=progress)
    X_query = encode_verses(verses, query_rows, target, encoder, progress=progress)
    return FewShotTask(
        X_support,
        labels[shot_rows],
        X_query=X_query,
        y_query=labels[query_rows],
        random_state=_seed(random_state),
        name="fewshot-bible",
        shots_domain=source,
        queries_domain=target,
        metadata={
            "encoder": encoder,
            "label": label,
            "per_class": per_class,
            "dropped_classes": [str(c) for c in dropped],
        },
        **settings,
    )


# --------------------------------------------------------------------------- users' files
def task_from_files(
    shots: str | os.PathLike[str],
    queries: str | os.PathLike[str] | None = None,
    *,
    text_column: str | None = None,
    label_column: str = "label",
    encoder: str = "use",
    backbone: str = "mobilenet_v2",
    n_way: int = 5,
    k_shot: int = 1,
    n_query: int = 15,
    n_episodes: int = 600,
    random_state: int | None = 0,
    progress: Callable[[int, int], None] | None = None,
) -> FewShotTask:
    """A few-shot task from a user's labelled file (and optionally a second file of queries).

    Parameters
    ----------
    shots : str or Path
        A ``.csv``/``.tsv`` (a label column, the rest numeric features, or a text column with
        ``text_column``), ``.npz`` (``X`` and ``y``), svmlight or ``.mat`` file
        (:func:`~transferkit.datasets.load_file`); or a folder of images, one sub-folder per
        class (:func:`~transferkit.datasets.load_image_folder`), described by ``backbone``.
    queries : str, Path or None, default None
        Another file with the same classes and features the queries are drawn from; None draws
        them from ``shots``, disjoint from each episode's shots.
    text_column : str or None, default None
        The column of texts, encoded with ``encoder`` (:func:`~transferkit.text.encode_texts`).
    label_column : str, default "label"
        The column of labels for texts (feature tables use ``label`` or ``y``).
    encoder : str, default "use"
    backbone : {"mobilenet_v2", "efficientnet_lite0"}, default "mobilenet_v2"
        The pre-trained CNN whose pooled penultimate features describe folders of images
        (:func:`~transferkit.deep.backbones.extract_features`, cached on disk; needs torch).
    n_way, k_shot, n_query, n_episodes, random_state
        As :class:`~transferkit.fewshot.episodes.FewShotTask`.
    progress : callable or None, default None
        ``progress(done, total)`` while texts or images are encoded.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from transferkit.fewshot.tasks import task_from_files
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "animals.npz"
    >>> rng = np.random.default_rng(0)
    >>> np.savez(path, X=rng.normal(size=(60, 3)), y=np.repeat(["cat", "dog", "owl"], 20))
    >>> task = task_from_files(path, n_way=3, k_shot=2, n_query=5, n_episodes=10)
    >>> task.n_way, task.shots_domain
    (3, 'animals.npz')
    """

    folders = [Path(path).is_dir() for path in (shots, queries) if path is not None]
    if any(folders) and (not all(folders) or text_column is not None):
        raise InvalidParameterError(
            "Give the shots and the queries both as files or both as folders of images (one "
            "sub-folder per class); a text column applies to files."
        )

    # read together: svmlight shots and queries then share one width and one index base
    domains = load_labelled_domains(
        [shots] if queries is None else [shots, queries],
        text_column=text_column,
        label_column=label_column,
        encoder=encoder,
        backbone=backbone,
        progress=progress,
        needed_for="few-shot episodes",
    )
    X_support, y_support = domains[0]
    X_query, y_query = domains[1] if queries is not None else (None, None)
    return FewShotTask(
        X_support,
        y_support,
        n_way=n_way,
        k_shot=k_shot,
        n_query=n_query,
        n_episodes=n_episodes,
        random_state=random_state,
        X_query=X_query,
        y_query=y_query,
        name="files",
        shots_domain=Path(shots).name,
        queries_domain=Path(queries).name if queries is not None else Path(shots).name,
        metadata=(
            {"encoder": encoder}
            if text_column is not None
            else {"backbone": backbone}
            if any(folders)
            else {}
        ),
    )
