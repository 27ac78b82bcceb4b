"""Composition of adapters: :class:`AdapterChain` fits each step on the previous one's output."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from sklearn.base import clone

from transferkit.base import BaseAdapter
from transferkit.exceptions import InvalidParameterError
from transferkit.problem import FEATURE_LAYOUT_METADATA, DataMatrix, TransferProblem


class AdapterChain(BaseAdapter):
    """Adapters applied one after another: each is fitted on the previous one's output.

    Both domains go through every step with their own domain code, so a feature-space method
    (e.g. :class:`JDA`) can be followed by a mapping of the source onto the target inside that
    space (e.g. :class:`OTMapping`). Labels and the target label mask travel unchanged.

    Parameters
    ----------
    steps : list of BaseAdapter
        The adapters, in order (at least one).

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.alignment import JDA, OTMapping
    >>> from transferkit.problem import TransferProblem
    >>> rng = np.random.default_rng(0)
    >>> y = np.arange(60) % 2
    >>> problem = TransferProblem(rng.normal(size=(60, 4)) + y[:, None], y,
    ...                           rng.normal(size=(50, 4)) + 1.0)
    >>> chain = AdapterChain([JDA(n_components=3, n_iterations=2), OTMapping("sinkhorn")])
    >>> chain.fit(problem).transform(problem.X_target).shape
    (50, 3)
    """

    accepts_sparse = True

    def __init__(self, steps: list[Any] | None = None):
        self.steps = steps

    def _fit(self, problem: TransferProblem) -> None:
        if not self.steps or not all(isinstance(step, BaseAdapter) for step in self.steps):
            raise InvalidParameterError(
                f"AdapterChain: steps={self.steps!r} must be a non-empty list of adapters "
                "(BaseAdapter instances such as JDA() or OTMapping())."
            )
        fitted = []
        current = problem
        for index, step in enumerate(self.steps):
            step = clone(step).fit(current)
            fitted.append(step)
            if index < len(self.steps) - 1:
                current = replace(
                    current,
                    X_source=step.transform(current.X_source, np.zeros(current.n_source, int)),
                    X_target=step.transform(current.X_target),
                    X_test=None,
                    y_test=None,
                    feature_names=None,
                    metadata={
                        key: value
                        for key, value in current.metadata.items()
                        if key not in FEATURE_LAYOUT_METADATA
                    },
                )
        self.steps_ = fitted

    def _transform(self, X: DataMatrix, domain: int) -> DataMatrix:
        codes = np.full(X.shape[0], domain)
        for step in self.steps_:
            X = step.transform(X, codes)
        return X
