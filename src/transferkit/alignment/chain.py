"""Composition of adapters: :class:`AdapterChain` fits each step on the previous one's output.

Registered here, beside the class it builds: ``jda_ot``, JDA's embedding followed by the
class-regularised transport of the source inside it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from sklearn.base import clone

from transferkit.alignment.kernel_components import JDA
from transferkit.alignment.transport import OTMapping
from transferkit.base import AdaptedClassifier, BaseAdapter
from transferkit.checks import check_choice
from transferkit.exceptions import InvalidParameterError
from transferkit.problem import FEATURE_LAYOUT_METADATA, DataMatrix, TransferProblem
from transferkit.registry import register_method


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


class _CompactJDA(JDA):
    """JDA whose default subspace is 20-dimensional (the setting of ``jda_ot``)."""

    _default_n_components = 20


@register_method(
    "jda_ot",
    "alignment",
    "JDA, then class-regularised OT of the source inside the JDA space (JDA + Courty et al.)",
)
def _jda_ot(
    estimator: Any,
    random_state: int | None,
    n_components: int | None = None,
    regularization: float = 1.0,
    n_iterations: int = 10,
    pseudo_labels: str = "logreg",
    reg_e: float = 0.5,
    reg_cl: float = 1.0,
    source_mass: str = "uniform",
) -> Any:
    """JDA's embedding with its pseudo-labels, then the source mapped onto the target in it.

    JDA aligns marginal and class-conditional means but leaves each source sample where the
    projection puts it; the class-regularised transport (``lpl1``) then moves every source sample
    onto the barycentre of target samples it is coupled with, so a nearest-neighbour classifier
    compares target samples with target-like prototypes. ``pseudo_labels`` is "logreg" (a
    logistic regression on the embedded source gives JDA's pseudo-labels) or "1nn" (the paper's).
    ``source_mass`` is :class:`OTMapping`'s ("target_priors": each source class carries its
    estimated target share of the mass).
    """
    check_choice(pseudo_labels, "pseudo_labels", "jda_ot", ("logreg", "1nn"))
    labeler = None
    if pseudo_labels == "logreg":
        from sklearn.linear_model import LogisticRegression

        labeler = LogisticRegression(max_iter=1000)
    jda = _CompactJDA(
        n_components=n_components,
        regularization=regularization,
        n_iterations=n_iterations,
        pseudo_label_estimator=labeler,
        random_state=random_state,
    )
    transport = OTMapping(method="lpl1", reg_e=reg_e, reg_cl=reg_cl, source_mass=source_mass)
    return AdaptedClassifier(AdapterChain([jda, transport]), estimator)
