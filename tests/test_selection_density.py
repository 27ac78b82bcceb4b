"""The domain-classifier density ratio that weights held-out source rows (IWCV, DEV)."""

import numpy as np
import pytest

from transferkit.selection import density_ratio


def test_importance_weights_grow_towards_the_target(band):
    problem, *_ = band
    w = density_ratio(problem.X_source, problem.X_target, random_state=0)
    assert w.mean() == pytest.approx(1.0)
    # the true ratio N(1.5, 1) / N(0, 1) = exp(1.5 x - 1.125) grows with x
    x = problem.X_source[:, 0]
    assert np.corrcoef(np.log(w), x)[0, 1] > 0.95
    assert w[x > 1].mean() > 3 * w[x < 0].mean()


def test_clipped_weights_keep_mean_one(band):
    problem, *_ = band
    free = density_ratio(problem.X_source, problem.X_target, random_state=0)
    clipped = density_ratio(problem.X_source, problem.X_target, max_weight=2.0, random_state=0)
    assert free.max() > 2.0
    assert clipped.mean() == pytest.approx(1.0)
    # clipped, then renormalised: the order of the rows' weights is kept, the spread shrinks
    assert clipped.max() / clipped.min() < free.max() / free.min()
    assert np.all(np.diff(clipped[np.argsort(free)]) >= -1e-12)
