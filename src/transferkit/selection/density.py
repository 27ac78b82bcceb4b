"""The density ratio ``p_t(x) / p_s(x)`` of source rows from a cross-fitted domain classifier.

The importance-weighted validators (IWCV, DEV) weight held-out source rows by it. It lives in its
own file so that one import moves when the domain classifier gets a single home for the whole
library.

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> weights = density_ratio(rng.normal(0, 1, (200, 1)), rng.normal(1, 1, (200, 1)), random_state=0)
>>> round(float(weights.mean()), 6)
1.0
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold

from transferkit.base import stack_rows
from transferkit.selection.access import count_rows

__all__ = ["density_ratio"]


def density_ratio(
    X_source: Any,
    X_target: Any,
    classifier: Any = None,
    n_folds: int = 5,
    max_weight: float | None = None,
    random_state: int | None = None,
) -> np.ndarray:
    """Weights ``p_t(x) / p_s(x)`` of source rows from a cross-fitted domain classifier, mean 1.

    Bickel, Brückner & Scheffer (2007): ``w(x) = P(target | x) / P(source | x) · n_s / n_t``;
    each source row's weight comes from a classifier that did not see it.
    """
    from transferkit.diagnose.statistics import default_domain_classifier

    X = stack_rows(X_source, X_target, dtype=None)
    ns = count_rows(X_source)
    domain = np.repeat([0, 1], [ns, count_rows(X_target)])
    base = (
        default_domain_classifier(sp.issparse(X), random_state)
        if classifier is None
        else classifier
    )
    n_folds = max(2, min(n_folds, ns, count_rows(X_target)))
    folds = StratifiedKFold(n_folds, shuffle=True, random_state=random_state)
    weights = np.ones(ns)
    for train, test in folds.split(np.zeros(len(domain)), domain):
        model = clone(base).fit(X[train], domain[train])
        source_test = test[test < ns]
        if len(source_test) == 0:
            continue
        if hasattr(model, "decision_function"):
            # balanced class weights: the decision value is the log density ratio
            weights[source_test] = np.exp(np.clip(model.decision_function(X[source_test]), -20, 20))
        else:
            p = np.clip(model.predict_proba(X[source_test])[:, 1], 1e-6, 1 - 1e-6)
            weights[source_test] = p / (1 - p)
    weights = weights / weights.mean()
    if max_weight is not None:
        weights = np.minimum(weights, max_weight)
        weights = weights / weights.mean()
    return weights
