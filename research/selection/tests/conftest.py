"""Research tests import the scripts beside them and the benchmark harness that saves their runs."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from transferkit.problem import TransferProblem
from transferkit.selection import DomainAwareSearchCV, default_candidates

_ROOT = Path(__file__).resolve().parents[3]
# research/selection (selection_pool, selection_rules) and benchmarks (selection, the harness)
for folder in (_ROOT / "research" / "selection", _ROOT / "benchmarks"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


def _default_grid_picks(
    problem: TransferProblem, validators: list | dict, seed: int, cv: int = 2
) -> tuple:
    """Search the default grid with ``validators`` (names, or a dict of names to validators;
    ``cv`` source folds, no refit); return each validator's pick's target accuracy after training
    on everything, source-only's, and the search's ``cv_results_``."""
    # shared cores: more BLAS threads only spin against other processes (minutes instead of
    # seconds for the default grid)
    with threadpool_limits(1):
        search = DomainAwareSearchCV(
            default_candidates(n_features=problem.n_features),
            scoring=validators,
            refit=False,
            cv=cv,
            random_state=seed,
        ).fit(problem)
        results = search.cv_results_
        X, y = problem.evaluation_split()

        def accuracy(method: str, params: dict) -> float:
            model = search.make_candidate(method, params).fit(problem)
            return float(np.mean(model.predict(X) == y))

        picks = {}
        for name in validators:
            i = int(np.nanargmax(results[f"mean_{name}"]))
            picks[name] = accuracy(results["method"][i], results["params"][i])
        return picks, accuracy("source_only", {}), results


@pytest.fixture
def default_grid_picks() -> Callable[..., tuple]:
    """``default_grid_picks(problem, validators, seed, cv=2)``: see ``_default_grid_picks``."""
    return _default_grid_picks
