"""Each source of a multi-source problem against the target: how far, and which classes it lacks.

The verdicts of :func:`~transferkit.diagnose.diagnose` compare the pooled sources with the
target; :func:`compare_sources` adds one row per source, so that a user can see which source is
nearest the target and which one misses classes (the multi-source methods differ there:
``ms_jcpot`` needs every class in every source).

Per source: its rows and classes, the classes of the other sources it lacks, the held-out AUC of
a domain classifier between it and the target (:func:`transferkit.domain_classifier.domain_scores`;
0.5: the classifier cannot tell them apart; below chance when the domains' means are pinned, see
:func:`~transferkit.domain_classifier.centred_separately`) and the covariance distance
(:func:`transferkit.multisource.domain_distance` with ``"coral"``, the distance ``ms_weighted``
weighs the sources by, estimated without the bias of the sample covariances so that a small
source is not pushed away by its own noise; computed up to :data:`MAX_COVARIANCE_FEATURES`
features).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from transferkit.diagnose.statistics import draw_rows
from transferkit.domain_classifier import domain_scores
from transferkit.multisource import domain_distance

#: Widest data whose covariance distance is computed (a d x d covariance per domain).
MAX_COVARIANCE_FEATURES = 2000


def compare_sources(
    X_source: Any,
    y_source: np.ndarray | None,
    domains: np.ndarray,
    X_target: Any,
    *,
    max_samples: int = 4000,
    n_folds: int = 5,
    random_state: int | None = None,
) -> list[dict[str, Any]]:
    """One row per source domain (in the order the sources come), each against ``X_target``.

    Parameters
    ----------
    X_source : array or sparse matrix (n, d)
        The pooled sources' rows.
    y_source : array (n,) or None
    domains : array (n,)
        Each source row's source name.
    X_target : array or sparse matrix (m, d)
    max_samples : int, default 4000
        Rows drawn per domain for the domain classifier when a domain is larger.
    n_folds : int, default 5
    random_state : int or None, default None

    Returns
    -------
    list of dict
        ``name``, ``n_rows``, ``n_classes``, ``missing_classes``, ``domain_auc`` (None for a
        source of one row), ``below_chance`` and ``covariance_distance`` (None above the width
        limit, or with fewer than 4 rows in the source or the target).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(size=(60, 3)), rng.normal(2.0, size=(60, 3))])
    >>> y = np.tile([0, 1, 2], 40)
    >>> y[60:][y[60:] == 2] = 1  # the second source lacks class 2
    >>> rows = compare_sources(X, y, np.repeat(["near", "far"], 60), rng.normal(size=(50, 3)))
    >>> [(row["name"], row["missing_classes"]) for row in rows]
    [('near', []), ('far', [2])]
    >>> rows[0]["domain_auc"] < rows[1]["domain_auc"]
    True
    """
    rng = np.random.default_rng(random_state)
    domains = np.asarray(domains).astype(str)
    classes = None if y_source is None else np.unique(y_source)
    target = X_target[draw_rows(X_target.shape[0], max_samples, rng)]
    narrow = X_target.shape[1] <= MAX_COVARIANCE_FEATURES
    rows = []
    for name in dict.fromkeys(domains):
        mask = domains == name
        X = X_source[np.flatnonzero(mask)]
        row: dict[str, Any] = {
            "name": str(name),
            "n_rows": int(mask.sum()),
            "n_classes": None,
            "missing_classes": [],
            "domain_auc": None,
            "below_chance": False,
            "covariance_distance": None,
        }
        if row["n_rows"] >= 2:  # a domain classifier needs two rows a side
            scores = domain_scores(
                X[draw_rows(X.shape[0], max_samples, rng)],
                target,
                n_folds=n_folds,
                random_state=random_state,
            )
            row["domain_auc"], row["below_chance"] = scores.auc, bool(scores.below_chance)
        if classes is not None:
            own = np.unique(y_source[mask])
            row["n_classes"] = int(len(own))
            row["missing_classes"] = [c.item() for c in np.setdiff1d(classes, own)]
        if narrow and min(row["n_rows"], X_target.shape[0]) >= 4:  # the estimate needs 4 rows
            row["covariance_distance"] = domain_distance(X, X_target, "coral")
        rows.append(row)
    return rows


def nearest_source(rows: list[dict[str, Any]]) -> str | None:
    """The source nearest the target by covariance distance (None when it was not computed)."""
    measured = [row for row in rows if row["covariance_distance"] is not None]
    if len(measured) < 2:
        return None
    return min(measured, key=lambda row: row["covariance_distance"])["name"]


def format_sources(rows: list[dict[str, Any]]) -> list[str]:
    """The rows as lines of the verdict table."""
    width = max(len(row["name"]) for row in rows)
    lines = []
    for row in rows:
        auc = (
            "too few rows to compare"
            if row["domain_auc"] is None
            else f"domain AUC {row['domain_auc']:.2f}"
            + (" (below chance)" if row["below_chance"] else "")
        )
        distance = (
            ""
            if row["covariance_distance"] is None
            else f", covariance distance {row['covariance_distance']:.1f}"
        )
        missing = row["missing_classes"]
        lacks = (
            f", lacks {len(missing)} class{'es' if len(missing) > 1 else ''} "
            f"({', '.join(map(str, missing[:5]))}{', ...' if len(missing) > 5 else ''})"
            if missing
            else ""
        )
        rows_text = f"{row['n_rows']:>6} row" + ("s" if row["n_rows"] != 1 else "")
        lines.append(f"  {row['name']:<{width}}  {rows_text}, {auc}{distance}{lacks}")
    return lines
