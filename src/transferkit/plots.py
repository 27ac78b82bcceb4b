"""Pictures that show adaptation at work: domain-score histograms and 2-D embeddings.

* :func:`plot_domain_scores` — the article's Figure 18: a domain classifier is trained (with
  cross-validation) on a representation to tell source from target; the histograms of its scores
  on source and target samples separate for a plain model and overlap once the representation is
  adapted. Each panel also gives the domain classifier's accuracy and the proxy A-distance
  (Ben-David et al. 2007) ``2 (1 - 2 ε)`` from its balanced error. The domain classifier is the
  one of :mod:`transferkit.domain_classifier`.
* :func:`plot_embedding` — source and target projected to 2-D (PCA or t-SNE), before and after.
* :func:`plot_accuracy_matrix` — a continual learner's accuracy matrix (accuracy on each task
  after training each task) as an annotated heat map.
* :func:`plot_image_grid` — the same images under several treatments (clean, attacked,
  corrupted) side by side, each captioned with what a network predicts for it.

Both write PNG files with matplotlib's Agg canvas directly (no pyplot, no global backend
change), and take a dictionary ``{panel title: (Z_source, Z_target)}`` of representations;
:func:`representations` builds it from fitted models. :func:`held_out_halves` splits a problem
so that the models are fitted on one half of each domain and the figures show the other: a map
fitted on the rows it shows can pin the domains' means (CORAL, optimal transport), and the
cross-validated domain classifier then scores below chance instead of measuring overlap.

Examples
--------
>>> import numpy as np, tempfile, os
>>> rng = np.random.default_rng(0)
>>> panels = {"plain": (rng.normal(size=(100, 5)), rng.normal(2, size=(100, 5))),
...           "adapted": (rng.normal(size=(100, 5)), rng.normal(size=(100, 5)))}
>>> path = plot_domain_scores(panels, os.path.join(tempfile.mkdtemp(), "scores.png"))
>>> path.exists()
True
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from transferkit.domain_classifier import (
    centred_separately,
    domain_scores,
    means_matched,
    proxy_a_distance_from_error,
)
from transferkit.exceptions import DegenerateResultWarning, InvalidParameterError
from transferkit.problem import SOURCE, TARGET, TransferProblem

Representation = tuple[Any, Any]

_SOURCE_COLOUR = "#1f77b4"
_TARGET_COLOUR = "#ff7f0e"


def _dense(X: Any) -> np.ndarray:
    return np.asarray(X.todense() if sp.issparse(X) else X, dtype=np.float64)


def domain_classifier_scores(
    Z_source: Any, Z_target: Any, n_folds: int = 5, random_state: int | None = 0
) -> tuple[np.ndarray, np.ndarray, float]:
    """Out-of-fold P(target) of the default domain classifier on a representation.

    The classifier and its folds are :func:`transferkit.domain_classifier.domain_scores`'
    (standardised logistic regression, balanced class weights). Returns the scores of the
    source rows, of the target rows, and the classifier's cross-validated accuracy.
    """
    result = _domain_scores(Z_source, Z_target, n_folds, random_state)
    proba = result.probabilities()
    n_source = int(np.sum(result.domain == SOURCE))
    accuracy = float(np.mean(result.decisions == result.domain))
    return proba[:n_source], proba[n_source:], accuracy


def _domain_scores(Z_source: Any, Z_target: Any, n_folds: int, random_state: int | None) -> Any:
    Zs, Zt = _dense(Z_source), _dense(Z_target)
    if len(Zs) < n_folds or len(Zt) < n_folds:
        raise InvalidParameterError(
            f"Domain scores need at least {n_folds} rows per domain; got {len(Zs)} source and "
            f"{len(Zt)} target rows."
        )
    return domain_scores(Zs, Zt, n_folds=n_folds, random_state=random_state)


def _figure(n_panels: int, height: float = 3.2) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.2 * n_panels, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _check_panels(panels: Mapping[str, Representation]) -> None:
    if not panels:
        raise InvalidParameterError("Give at least one representation to plot.")


def _below_chance_cause(Zs: Any, Zt: Any) -> tuple[str, str]:
    """A below-chance panel's cause where the columns show it: a short heading and the end of
    the warning's sentence (nothing but the full stop when they show none)."""
    ending = ", so leaving rows out moves the rest of their domain away from them."
    if centred_separately(Zs, Zt):
        return "a domain centred on its own mean", (
            ". A domain is centred on its own mean (every feature's mean is 0 in it)" + ending
        )
    if means_matched(Zs, Zt):
        return "the domains' means matched", (
            ". The two domains' means are closer than two independent samples' would be (as "
            "when each domain is standardised on its own, or after CORAL or optimal transport's "
            "barycentric mapping)" + ending
        )
    return "", "."


def plot_domain_scores(
    panels: Mapping[str, Representation],
    path: str | Path,
    title: str | None = None,
    bins: int = 30,
    random_state: int | None = 0,
) -> Path:
    """Histograms of a domain classifier's scores, one panel per representation (Figure 18).

    Parameters
    ----------
    panels : mapping of title → (Z_source, Z_target)
    path : str or Path
        PNG file to write (folders are created).
    title : str or None
    bins : int, default 30
    random_state : int or None, default 0

    Returns
    -------
    Path of the written file.
    """
    _check_panels(panels)
    figure = _figure(len(panels))
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    edges = np.linspace(0, 1, bins + 1)
    for ax, (name, (Zs, Zt)) in zip(axes, panels.items(), strict=True):
        result = _domain_scores(Zs, Zt, 5, random_state)
        proba = result.probabilities()
        accuracy = float(np.mean(result.decisions == result.domain))
        pad = proxy_a_distance_from_error(result.balanced_error)
        for domain, colour, label in (
            (SOURCE, _SOURCE_COLOUR, "source"),
            (TARGET, _TARGET_COLOUR, "target"),
        ):
            ax.hist(
                proba[result.domain == domain], bins=edges, alpha=0.6, color=colour, label=label
            )
        heading = f"{name}\ndomain accuracy {accuracy:.2f}, PAD {pad:.2f}"
        if result.below_chance:
            short, cause = _below_chance_cause(Zs, Zt)
            heading += "\nbelow chance" + (f": {short}" if short else "")
            warnings.warn(
                f"{name}: the domain classifier scores below chance (held-out AUC "
                f"{result.auc:.2f}): its scores, accuracy and PAD do not measure how far the "
                f"domains overlap here{cause}",
                DegenerateResultWarning,
                stacklevel=2,
            )
        ax.set_title(heading)
        ax.set_xlabel("domain classifier's P(target)")
        ax.set_xlim(0, 1)
    axes[0].set_ylabel("samples")
    axes[0].legend(loc="upper center")
    if title:
        figure.suptitle(title, fontsize="medium")
    return _save(figure, path)


def embed_2d(X: np.ndarray, method: str = "pca", random_state: int | None = 0) -> np.ndarray:
    """2-D coordinates of the rows of ``X`` by PCA or t-SNE (after standardising)."""
    from sklearn.preprocessing import StandardScaler

    X = StandardScaler().fit_transform(_dense(X))
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=random_state).fit_transform(X)
    if method == "tsne":
        from sklearn.manifold import TSNE

        if X.shape[1] > 50:
            from sklearn.decomposition import PCA

            X = PCA(n_components=50, random_state=random_state).fit_transform(X)
        perplexity = float(min(30.0, max(5.0, (len(X) - 1) / 3)))
        return TSNE(
            n_components=2, perplexity=perplexity, init="pca", random_state=random_state
        ).fit_transform(X)
    raise InvalidParameterError(f"Unknown projection {method!r}; use 'pca' or 'tsne'.")


def plot_embedding(
    panels: Mapping[str, Representation],
    path: str | Path,
    method: str = "pca",
    labels: tuple[np.ndarray, np.ndarray] | None = None,
    max_points: int = 1000,
    title: str | None = None,
    random_state: int | None = 0,
) -> Path:
    """Source and target in 2-D (PCA or t-SNE), one panel per representation.

    Colours tell the domains apart; with ``labels = (y_source, y_target)`` the markers tell the
    classes apart (up to ten marker shapes). At most ``max_points`` rows per domain are drawn (a
    seeded random subset).
    """
    _check_panels(panels)
    rng = np.random.default_rng(random_state)
    figure = _figure(len(panels), height=4.0)
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    markers = "o^sDv<>pX*"
    for ax, (name, (Zs, Zt)) in zip(axes, panels.items(), strict=True):
        Zs, Zt = _dense(Zs), _dense(Zt)
        keep_s = np.sort(rng.permutation(len(Zs))[:max_points])
        keep_t = np.sort(rng.permutation(len(Zt))[:max_points])
        coordinates = embed_2d(np.concatenate([Zs[keep_s], Zt[keep_t]]), method, random_state)
        parts = (
            ("source", coordinates[: len(keep_s)], _SOURCE_COLOUR, keep_s, 0),
            ("target", coordinates[len(keep_s) :], _TARGET_COLOUR, keep_t, 1),
        )
        for domain_name, points, colour, keep, which in parts:
            if labels is None:
                ax.scatter(points[:, 0], points[:, 1], s=6, c=colour, alpha=0.5, label=domain_name)
                continue
            y = np.asarray(labels[which])[keep]
            for index, label in enumerate(np.unique(y)):
                chosen = y == label
                ax.scatter(
                    points[chosen, 0],
                    points[chosen, 1],
                    s=8,
                    c=colour,
                    alpha=0.5,
                    marker=markers[index % len(markers)],
                    label=domain_name if index == 0 else None,
                )
        ax.set_title(f"{name} ({method.upper() if method == 'pca' else 't-SNE'})")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].legend(loc="best")
    if title:
        figure.suptitle(title, fontsize="medium")
    return _save(figure, path)


def _save(figure: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, format="png")
    return path


def representation_of(model: Any, X: Any, domain: int) -> Any:
    """The representation a fitted model gives rows of one domain.

    Deep methods and adapters have ``transform(X, domain=...)``; an
    :class:`~transferkit.base.AdaptedClassifier` uses its fitted adapter (raw features when it has
    none); anything else without ``transform`` gives the raw features.
    """
    if hasattr(model, "adapter_"):
        adapter = model.adapter_
        if adapter is None or not hasattr(adapter, "transform"):
            return X
        return adapter.transform(X, np.full(X.shape[0], domain))
    if hasattr(model, "transform"):
        try:
            return model.transform(X, domain=np.full(X.shape[0], domain))
        except TypeError:
            return model.transform(X)
    return X


def held_out_halves(
    problem: TransferProblem, random_state: int | None = 0
) -> tuple[TransferProblem, TransferProblem]:
    """``(fitted, shown)``: the problem cut in two halves of each domain's rows, drawn at random
    (the source's within each class), to fit models on ``fitted`` and draw ``shown``.

    ``fitted`` keeps the problem's test split; without one, its test split is the shown target
    rows with their labels (when the target has labels), so that accuracies are measured on rows
    the models never saw. A multi-source problem keeps each source row's name
    (:func:`transferkit.multisource.select_source_rows`).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> problem = TransferProblem(rng.normal(size=(40, 2)), np.arange(40) % 2,
    ...                           rng.normal(size=(30, 2)), np.arange(30) % 2)
    >>> fitted, shown = held_out_halves(problem)
    >>> fitted.n_source, shown.n_source, fitted.n_target, shown.n_target, len(fitted.y_test)
    (20, 20, 15, 15, 15)
    """
    from dataclasses import replace

    from transferkit.multisource import select_source_rows

    if problem.n_source < 4 or problem.n_target < 4:
        raise InvalidParameterError(
            f"Held-out halves need at least 4 rows per domain; got {problem.n_source} source and "
            f"{problem.n_target} target rows. Draw every row instead."
        )
    rng = np.random.default_rng(random_state)
    source_fit = np.sort(
        np.concatenate(
            [
                index[: (len(index) + 1) // 2]
                for index in (
                    rng.permutation(np.flatnonzero(problem.y_source == label))
                    for label in np.unique(problem.y_source)
                )
            ]
        )
    )
    source_shown = np.setdiff1d(np.arange(problem.n_source), source_fit)
    order = rng.permutation(problem.n_target)
    target_fit, target_shown = (
        np.sort(order[: problem.n_target // 2]),
        np.sort(order[problem.n_target // 2 :]),
    )

    def target_part(rows: np.ndarray, source_rows: np.ndarray, test: Any) -> TransferProblem:
        part = select_source_rows(problem, source_rows)
        labels = None if problem.y_target is None else problem.y_target[rows]
        mask = None if problem.target_labeled is None else problem.target_labeled[rows]
        return replace(
            part,
            X_target=problem.X_target[rows],
            y_target=labels,
            target_labeled=mask,
            X_test=test[0],
            y_test=test[1],
        )

    if problem.X_test is not None:
        test = (problem.X_test, problem.y_test)
    elif problem.y_target is not None:
        test = (problem.X_target[target_shown], problem.y_target[target_shown])
    else:
        test = (None, None)
    fitted = target_part(target_fit, source_fit, test)
    shown = target_part(target_shown, source_shown, (None, None))
    return fitted, shown


def representations(
    models: Mapping[str, Any], problem: TransferProblem
) -> dict[str, Representation]:
    """``{name: (Z_source, Z_target)}`` for fitted models on a problem's source and target."""
    return {
        name: (
            representation_of(model, problem.X_source, SOURCE),
            representation_of(model, problem.X_target, TARGET),
        )
        for name, model in models.items()
    }


def plot_accuracy_matrix(
    accuracy_matrix: Any,
    path: str | Path,
    title: str | None = None,
    task_names: list[str] | None = None,
) -> Path:
    """Draw a continual learner's accuracy matrix ``R[i, j]`` as an annotated heat map (PNG).

    Row ``i``: after training task ``i``; column ``j``: tested on task ``j`` (see
    :mod:`transferkit.continual.metrics`). The subtitle gives the average accuracy after the last
    task and the backward transfer.

    Parameters
    ----------
    accuracy_matrix : array-like (T, T)
        Accuracies in [0, 1], for example ``strategy.accuracy_matrix_``.
    path : str or Path
        The PNG file to write.
    title : str or None, default None
    task_names : list of str or None, default None
        Names of the tasks (default "task 1", "task 2", ...).

    Returns
    -------
    Path

    Examples
    --------
    >>> import tempfile, os
    >>> R = [[0.99, 0.0], [0.5, 0.98]]
    >>> plot_accuracy_matrix(R, os.path.join(tempfile.mkdtemp(), "R.png")).exists()
    True
    """
    from transferkit.continual.metrics import (
        average_accuracy,
        backward_transfer,
        check_accuracy_matrix,
    )

    R = check_accuracy_matrix(accuracy_matrix)
    T = R.shape[0]
    names = task_names or [f"task {k + 1}" for k in range(T)]
    if len(names) != T:
        raise InvalidParameterError(
            f"task_names holds {len(names)} names for a matrix of {T} tasks; give one per task."
        )
    figure = _figure(1, height=max(3.2, 0.45 * T + 1.5))
    ax = figure.subplots()
    image = ax.imshow(R, vmin=0.0, vmax=1.0, cmap="viridis")
    for i in range(T):
        for j in range(T):
            ax.text(
                j,
                i,
                f"{100 * R[i, j]:.0f}",
                ha="center",
                va="center",
                fontsize="small",
                color="white" if R[i, j] < 0.6 else "black",
            )
    ax.set_xticks(range(T), names, rotation=45, ha="right")
    ax.set_yticks(range(T), [f"after {name}" for name in names])
    ax.set_xlabel("tested on")
    figure.colorbar(image, ax=ax, label="accuracy")
    subtitle = (
        f"average accuracy {100 * average_accuracy(R):.1f} %, BWT "
        f"{100 * backward_transfer(R):+.1f} points"
    )
    ax.set_title(f"{title}\n{subtitle}" if title else subtitle, fontsize="medium")
    return _save(figure, path)


def plot_image_grid(
    columns: Mapping[str, Any],
    path: str | Path,
    captions: Mapping[str, list[str]] | None = None,
    correct: Mapping[str, Any] | None = None,
) -> Path:
    """Draw the same images under several treatments side by side (PNG): one column per entry
    of ``columns`` (its title: e.g. "clean", "pgd 4/255", "blur 5"), one row per image.

    Parameters
    ----------
    columns : mapping of str to array (n, channels, h, w) or (n, h, w), values in [0, 1]
        Every column holds the same n images, treated its way.
    path : str or Path
        The PNG file to write.
    captions : mapping of str to list of str, optional
        Under each image of a column, e.g. the class a network predicts for it.
    correct : mapping of str to array of bool, optional
        Whether each caption is right: right ones are drawn in green, wrong ones in red.

    Returns
    -------
    Path

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> X = np.random.default_rng(0).uniform(size=(2, 3, 8, 8))
    >>> path = plot_image_grid({"clean": X, "dimmer": X / 2}, os.path.join(tempfile.mkdtemp(), "g.png"))
    >>> path.exists()
    True
    """
    arrays = {title: np.asarray(images, dtype=np.float32) for title, images in columns.items()}
    if not arrays:
        raise InvalidParameterError("plot_image_grid needs at least one column of images.")
    sizes = {len(images) for images in arrays.values()}
    if len(sizes) != 1 or 0 in sizes or any(a.ndim not in (3, 4) for a in arrays.values()):
        shapes = ", ".join(f"{t}: {a.shape}" for t, a in arrays.items())
        raise InvalidParameterError(
            "plot_image_grid needs the same number of images, (n, channels, h, w) or (n, h, w), "
            f"in every column; got {shapes}."
        )
    n = sizes.pop()
    figure = _figure(1, height=1.0)
    figure.set_size_inches(1.6 * len(arrays) + 0.4, 1.75 * n + 0.4)
    axes = np.asarray(figure.subplots(n, len(arrays), squeeze=False))
    for column, (title, images) in enumerate(arrays.items()):
        for row in range(n):
            ax = axes[row, column]
            image = np.clip(images[row], 0.0, 1.0)
            if image.ndim == 3:  # channels first
                image = image[0] if image.shape[0] == 1 else np.moveaxis(image, 0, -1)
            ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0.0, vmax=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title, fontsize=9)
            if captions is not None and title in captions:
                right = None if correct is None or title not in correct else correct[title][row]
                colour = "black" if right is None else ("#2ca02c" if right else "#d62728")
                ax.set_xlabel(captions[title][row], fontsize=8, color=colour)
    return _save(figure, path)
