"""The density ratio ``p_t(x) / p_s(x)`` of source rows behind IWCV and DEV.

One implementation serves the library: :func:`transferkit.domain_classifier.density_ratio`. The
validators use it without a cap (``max_weight=None``): IWCV and DEV control the variance of the
weights themselves (DEV with its control variate).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> weights = density_ratio(rng.normal(0, 1, (200, 1)), rng.normal(1, 1, (200, 1)), random_state=0)
>>> round(float(weights.mean()), 6)
1.0
"""

from __future__ import annotations

from typing import Any

import numpy as np

from transferkit import domain_classifier

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

    :func:`transferkit.domain_classifier.density_ratio` with no cap by default (Bickel, Brückner
    & Scheffer 2007); each source row's weight comes from a classifier that did not see it.
    """
    return domain_classifier.density_ratio(
        X_source,
        X_target,
        classifier=classifier,
        n_folds=n_folds,
        max_weight=max_weight,
        random_state=random_state,
    )
