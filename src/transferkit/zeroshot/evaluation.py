"""Scoring zero-shot models: unseen-class accuracy, and the generalised setting with calibrated
stacking.

- **Zero-shot (ZSL)**: the test rows of the unseen classes, each predicted among the unseen
  classes only; the accuracy is the share of rows right (the primary score of the bench).
- **Generalised zero-shot (GZSL)**: held-out rows of the seen classes and the rows of the unseen
  ones, each predicted among *all* classes. ``S`` is the accuracy on the seen-class rows, ``U`` on
  the unseen-class rows, and ``H = 2 S U / (S + U)`` their harmonic mean (Xian, Schiele & Akata
  2017). Models trained on the seen classes score them higher, so plain GZSL sends most unseen rows
  to a seen class (``U`` near 0).
- **Calibrated stacking** (Chao, Changpinyo, Gong & Sha 2016, ECCV, Eq. 3) subtracts a constant
  ``gamma`` from every seen class's score: ``y = argmax_c f_c(x) - gamma 1[c in seen]``. Sweeping
  ``gamma`` traces the seen-unseen accuracy curve, whose area is AUSUC (their Sect. 4).
  :func:`select_stacking_constant` chooses ``gamma`` without any unseen class: a share of the seen
  classes plays the unseen ones, the model is refitted on the others, and the ``gamma`` with the
  best ``H`` on that split is kept (averaged over a few random splits).

All accuracies are per row (the share of test rows right), so the majority class's share is the
baseline they compare with; the per-class mean ("balanced") accuracy of the unseen rows is also
reported.

Examples
--------
>>> import numpy as np
>>> from transferkit.zeroshot import harmonic_mean
>>> round(harmonic_mean(0.8, 0.4), 4)
0.5333
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sklearn.base import clone

from transferkit.checks import check_count, check_number
from transferkit.exceptions import DegenerateResultWarning, EmptyDomainError, InvalidParameterError

Progress = Callable[[int, int], None]
RandomState = int | np.random.Generator | None


def harmonic_mean(seen: float, unseen: float) -> float:
    """``2 S U / (S + U)``, 0 when both are 0 (Xian et al. 2017's H)."""
    return 0.0 if seen + unseen == 0 else 2.0 * seen * unseen / (seen + unseen)


def majority_share(labels: np.ndarray) -> float:
    """The share of the most frequent label (0.0 for no label)."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        return 0.0
    return float(np.unique(labels, return_counts=True)[1].max() / len(labels))


def stacking_curve(
    scores: np.ndarray, y: np.ndarray, classes: np.ndarray, seen: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seen and unseen accuracy for every stacking constant that changes a prediction.

    Parameters
    ----------
    scores : array (n, k)
        Compatibility of each row with each of ``classes``.
    y : array (n,)
        True labels (each one of ``classes``).
    classes : array (k,)
    seen : array
        The seen classes (the others in ``classes`` are unseen); both kinds must be present.

    Returns
    -------
    gammas, seen_accuracy, unseen_accuracy : arrays of the same length
        Sorted by ``gamma``, from all rows predicted seen to all rows predicted unseen.
    """
    is_seen_class = np.isin(classes, seen)
    if is_seen_class.all() or not is_seen_class.any():
        raise InvalidParameterError(
            "A seen-unseen curve needs both seen and unseen classes among the scored ones."
        )
    seen_scores = np.where(is_seen_class, scores, -np.inf)
    unseen_scores = np.where(is_seen_class, -np.inf, scores)
    best_seen = classes[seen_scores.argmax(axis=1)]
    best_unseen = classes[unseen_scores.argmax(axis=1)]
    # a row goes to its best seen class while gamma < margin, to its best unseen class after
    margin = seen_scores.max(axis=1) - unseen_scores.max(axis=1)
    right_if_seen = best_seen == y
    right_if_unseen = best_unseen == y
    row_seen = np.isin(y, seen)
    if row_seen.all() or not row_seen.any():
        raise InvalidParameterError(
            "A seen-unseen curve needs rows of both seen and unseen classes."
        )
    cuts = np.unique(margin)
    gammas = np.concatenate([[cuts[0] - 1.0], cuts])
    # with gamma == cut the rows of that margin go to their unseen class (margin > gamma is seen)
    predicted_seen = margin[None, :] > gammas[:, None]
    right = np.where(predicted_seen, right_if_seen[None, :], right_if_unseen[None, :])
    return gammas, right[:, row_seen].mean(axis=1), right[:, ~row_seen].mean(axis=1)


def area_under_seen_unseen_curve(seen_accuracy: np.ndarray, unseen_accuracy: np.ndarray) -> float:
    """AUSUC (Chao et al. 2016): the area under seen accuracy as a function of unseen accuracy."""
    order = np.argsort(unseen_accuracy, kind="stable")
    u = np.concatenate([[0.0], unseen_accuracy[order]])
    s = np.concatenate([[seen_accuracy[order][0]], seen_accuracy[order]])
    return float(np.sum(np.diff(u) * (s[1:] + s[:-1]) / 2.0))


def stacked_accuracies(
    scores: np.ndarray, y: np.ndarray, classes: np.ndarray, seen: np.ndarray, gamma: float
) -> tuple[float, float]:
    """Seen and unseen accuracy of the GZSL predictions with stacking constant ``gamma``."""
    stacked = scores - gamma * np.isin(classes, seen)[None, :]
    right = classes[stacked.argmax(axis=1)] == y
    row_seen = np.isin(y, seen)
    return float(right[row_seen].mean()), float(right[~row_seen].mean())


def select_stacking_constant(
    model: Any,
    X: np.ndarray,
    y: np.ndarray,
    class_embeddings: Any,
    *,
    unseen_share: float = 0.3,
    n_splits: int = 3,
    validation_size: float = 0.3,
    random_state: RandomState = None,
    progress: Progress | None = None,
) -> float:
    """Choose the calibrated-stacking constant from the seen classes alone.

    Each of ``n_splits`` random splits makes ``round(unseen_share x n_seen)`` seen classes (at
    least one) play the unseen ones; the model is refitted on ``1 - validation_size`` of the other
    classes' rows, and scores the held-out rows of both kinds. The constant maximising the mean
    harmonic mean ``H`` over the splits is returned (the midpoint of the best interval).

    Parameters
    ----------
    model : ZeroShotClassifier
        Cloned for every split.
    X, y : training rows and labels of the seen classes (at least 3 classes)
    class_embeddings : ClassEmbeddings
    unseen_share : float, default 0.3
        Share of the seen classes held out as pseudo-unseen (the task's own share is a good
        choice).
    n_splits : int, default 3
    validation_size : float, default 0.3
        Share of each pseudo-seen class's rows held out for validation.
    random_state : int, Generator or None, default None
    progress : callable or None, default None
        ``progress(done, n_splits)`` after each split.

    Returns
    -------
    float
    """
    rng = np.random.default_rng(random_state)
    n_splits = check_count(n_splits, "n_splits")
    unseen_share = check_number(unseen_share, "unseen_share", 0.0, 1.0)
    validation_size = check_number(validation_size, "validation_size", 0.0, 1.0)
    seen = np.unique(y)
    if len(seen) < 3:
        raise InvalidParameterError(
            f"Choosing the stacking constant holds out seen classes, so it needs at least 3 seen "
            f"classes; got {len(seen)}. Give a number (stacking=0.0) instead."
        )
    n_pseudo = min(max(round(unseen_share * len(seen)), 1), len(seen) - 2)
    curves = []
    for split in range(n_splits):
        pseudo_unseen = rng.choice(seen, size=n_pseudo, replace=False)
        pseudo_seen = np.setdiff1d(seen, pseudo_unseen)
        fit_rows, validation_rows = [], []
        for label in pseudo_seen:
            rows = rng.permutation(np.flatnonzero(y == label))
            n_validation = min(max(round(validation_size * len(rows)), 1), len(rows) - 1)
            validation_rows.append(rows[:n_validation])
            fit_rows.append(rows[n_validation:])
        fit_rows_all = np.concatenate(fit_rows)
        held_out = np.concatenate(validation_rows + [np.flatnonzero(np.isin(y, pseudo_unseen))])
        fitted = clone(model).fit(X[fit_rows_all], y[fit_rows_all], class_embeddings.subset(seen))
        scores = fitted.decision_function(X[held_out], seen)
        curves.append(stacking_curve(scores, y[held_out], seen, pseudo_seen))
        if progress is not None:
            progress(split + 1, n_splits)
    # mean H over the splits on the union of every split's breakpoints
    grid = np.unique(np.concatenate([gammas for gammas, _, _ in curves]))
    grid = np.concatenate([grid, [grid[-1] + 1.0]])
    mean_h = np.zeros(len(grid))
    for gammas, seen_accuracy, unseen_accuracy in curves:
        at = np.clip(np.searchsorted(gammas, grid, side="right") - 1, 0, len(gammas) - 1)
        s, u = seen_accuracy[at], unseen_accuracy[at]
        mean_h += np.where(s + u > 0, 2 * s * u / np.where(s + u > 0, s + u, 1), 0.0)
    best = int(np.argmax(mean_h))
    # the curves are constant on [grid[best], grid[best + 1]): take its midpoint
    upper = grid[best + 1] if best + 1 < len(grid) else grid[best] + 1.0
    return float((grid[best] + upper) / 2.0)


@dataclass
class ZeroShotReport:
    """Every number of one zero-shot evaluation (accuracies are fractions in [0, 1]).

    Attributes
    ----------
    unseen_accuracy : float
        ZSL: the unseen-class test rows predicted among the unseen classes (primary score).
    unseen_balanced_accuracy : float
        The same, as the mean of the per-class accuracies.
    per_class : dict
        Each unseen class's accuracy (ZSL).
    majority : float
        Share of the most frequent class among the unseen test rows (the baseline).
    seen, unseen, harmonic : float or None
        GZSL ``S``, ``U``, ``H`` with the calibrated stacking constant (None without seen test
        rows or a trained model).
    seen_uncalibrated, unseen_uncalibrated, harmonic_uncalibrated : float or None
        The same with no stacking (``gamma = 0``).
    stacking : float or None
        The stacking constant used.
    ausuc : float or None
        Area under the seen-unseen accuracy curve.
    n_train, n_unseen_test, n_seen_test : int
    seen_classes, unseen_classes : list
    fit_seconds : float
    """

    unseen_accuracy: float
    unseen_balanced_accuracy: float
    per_class: dict[str, float]
    majority: float
    n_train: int
    n_unseen_test: int
    n_seen_test: int
    seen_classes: list[Any]
    unseen_classes: list[Any]
    fit_seconds: float
    seen: float | None = None
    unseen: float | None = None
    harmonic: float | None = None
    seen_uncalibrated: float | None = None
    unseen_uncalibrated: float | None = None
    harmonic_uncalibrated: float | None = None
    stacking: float | None = None
    ausuc: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (classes as strings)."""
        out = asdict(self)
        out["seen_classes"] = [str(c) for c in self.seen_classes]
        out["unseen_classes"] = [str(c) for c in self.unseen_classes]
        extra = out.pop("extra")
        return {**out, **extra}


def evaluate_zero_shot(
    model: Any,
    task: Any,
    *,
    stacking: float | str = "validation",
    random_state: RandomState = None,
    progress: Progress | None = None,
) -> ZeroShotReport:
    """Fit a zero-shot model on a task's seen classes and score it in ZSL and GZSL.

    Parameters
    ----------
    model : ZeroShotClassifier
        Cloned, then fitted on ``task.X_train, task.y_train`` with ``task.embeddings``.
    task : ZeroShotTask
        Needs test labels.
    stacking : "validation" or float, default "validation"
        The calibrated-stacking constant of the GZSL scores: ``"validation"`` chooses it with
        :func:`select_stacking_constant` on the seen classes (held out as pseudo-unseen, the
        task's unseen share), a number uses it as is.
    random_state : int, Generator or None, default None
        Seed of the stacking validation and of the model (when it takes one).
    progress : callable or None, default None
        ``progress(done, total)`` over the fits (the validation splits, then the final fit).

    Returns
    -------
    ZeroShotReport

    Examples
    --------
    >>> from transferkit.datasets import load_task
    >>> from transferkit.zeroshot import ESZSL, evaluate_zero_shot
    >>> task = load_task("zeroshot-office-caltech", "all", "split-0", random_state=0)  # doctest: +SKIP
    >>> report = evaluate_zero_shot(ESZSL(), task, random_state=0)  # doctest: +SKIP
    >>> report.unseen_accuracy > 1 / 3  # doctest: +SKIP
    True
    """
    if task.y_test is None:
        raise InvalidParameterError(
            f"Task {task.name!r} has no test labels, so it cannot be scored; use "
            "model.predict for its predictions."
        )
    if isinstance(stacking, str) and stacking != "validation":
        raise InvalidParameterError(f"stacking must be 'validation' or a number; got {stacking!r}.")
    if not isinstance(stacking, str):
        stacking = check_number(stacking, "stacking")
    rng = np.random.default_rng(random_state)
    model = clone(model)
    if "random_state" in model.get_params():
        model.set_params(random_state=int(rng.integers(2**31 - 1)))
    seen = task.seen_classes
    unseen = task.unseen_classes
    unseen_rows = task.unseen_test_rows()
    if len(unseen_rows) == 0:
        raise EmptyDomainError(
            f"Task {task.name!r} has no test row of an unseen class; a zero-shot score needs some."
        )
    seen_rows = np.flatnonzero(np.isin(task.y_test, seen))
    generalised = len(seen) >= 3 and len(seen_rows) > 0 and stacking is not None
    steps = (3 if generalised and stacking == "validation" else 0) + 1
    started = time.perf_counter()
    gamma: float | None = None
    if generalised and stacking == "validation":
        gamma = select_stacking_constant(
            model,
            task.X_train,
            task.y_train,
            task.embeddings,
            unseen_share=len(unseen) / (len(unseen) + len(seen)),
            random_state=rng,
            progress=None if progress is None else (lambda done, _: progress(done, steps)),
        )
    elif generalised:
        gamma = float(stacking)
    fitted = model.fit(task.X_train, task.y_train, task.embeddings)
    fit_seconds = time.perf_counter() - started
    if progress is not None:
        progress(steps, steps)
    y_unseen = task.y_test[unseen_rows]
    predicted = fitted.predict(task.X_test[unseen_rows], classes=unseen)
    right = predicted == y_unseen
    per_class = {str(c): float(right[y_unseen == c].mean()) for c in np.unique(y_unseen)}
    report = ZeroShotReport(
        unseen_accuracy=float(right.mean()),
        unseen_balanced_accuracy=float(np.mean(list(per_class.values()))),
        per_class=per_class,
        majority=majority_share(y_unseen),
        n_train=0 if task.y_train is None else int(len(task.y_train)),
        n_unseen_test=int(len(unseen_rows)),
        n_seen_test=int(len(seen_rows)),
        seen_classes=list(seen.tolist()),
        unseen_classes=list(unseen.tolist()),
        fit_seconds=fit_seconds,
    )
    if generalised:
        rows = np.concatenate([seen_rows, unseen_rows])
        classes = task.embeddings.classes
        scores = fitted.decision_function(task.X_test[rows], classes)
        y_rows = task.y_test[rows]
        s0, u0 = stacked_accuracies(scores, y_rows, classes, seen, 0.0)
        s, u = stacked_accuracies(scores, y_rows, classes, seen, gamma)
        _, curve_seen, curve_unseen = stacking_curve(scores, y_rows, classes, seen)
        report.seen, report.unseen, report.harmonic = s, u, harmonic_mean(s, u)
        report.seen_uncalibrated, report.unseen_uncalibrated = s0, u0
        report.harmonic_uncalibrated = harmonic_mean(s0, u0)
        report.stacking = gamma
        report.ausuc = area_under_seen_unseen_curve(curve_seen, curve_unseen)
    if not math.isfinite(report.unseen_accuracy):
        raise EmptyDomainError(f"Task {task.name!r}: no unseen test row could be scored.")
    warn_if_at_majority(report, type(model).__name__, task.name)
    return report


def warn_if_at_majority(report: ZeroShotReport, who: str, task: str) -> None:
    """Warn (:class:`~transferkit.exceptions.DegenerateResultWarning`) when the unseen-class
    accuracy is no better than always predicting the most frequent unseen class: the class
    vectors do not tell the unseen classes apart for this model, and a transductive refinement
    on top of such a start settles on the wrong clusters (it can score near 0)."""
    if len(report.unseen_classes) < 2 or report.unseen_accuracy > report.majority:
        return
    warnings.warn(
        DegenerateResultWarning(
            f"{who} on task {task!r}: {report.unseen_accuracy:.1%} of the unseen-class rows are "
            f"right, no better than always predicting the most frequent unseen class "
            f"({report.majority:.1%}): its class vectors do not tell these classes apart in this "
            "feature space. Try other class vectors (descriptions rather than names, another "
            "encoder) or ConSE, and do not trust this score."
        ),
        stacklevel=2,
    )
