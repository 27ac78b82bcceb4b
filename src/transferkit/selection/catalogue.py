"""The validators a user picks by name, and :func:`make_validator`.

The names are the standard published validators, the naive baseline and the search's default:

=======================  ===================================================================
name                     validator
=======================  ===================================================================
``iwcv``                 :class:`~transferkit.selection.ImportanceWeightedValidator`
``dev``                  :class:`~transferkit.selection.DeepEmbeddedValidator`
``reverse``              :class:`~transferkit.selection.ReverseValidator`
``entropy``              :class:`~transferkit.selection.EntropyValidator`
``im``                   :class:`~transferkit.selection.InformationMaximizationValidator`
``snd``                  :class:`~transferkit.selection.SoftNeighborhoodDensityValidator`
``mixval``               :class:`~transferkit.selection.MixValValidator`
``ensv``                 :class:`~transferkit.selection.EnsembleValidator` (search only)
``guarded_ensv_graph``   ``SourceGuardedValidator(GraphEnsembleValidator())`` (search only;
                         the default of :class:`~transferkit.selection.DomainAwareSearchCV`)
``source_accuracy``      :class:`~transferkit.selection.SourceAccuracyValidator`
=======================  ===================================================================

Other combinations are built from the classes, e.g. ``SourceGuardedValidator("mixval")`` or
``SourceGuardedValidator(DedupEnsembleValidator())``, and passed to the search as objects. The
target-label oracle is :class:`transferkit.evaluation.TargetAccuracy`, for evaluation only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from transferkit.exceptions import InvalidParameterError
from transferkit.selection.pool import (
    GUARDABLE_VALIDATORS,
    GraphEnsembleValidator,
    SourceGuardedValidator,
)
from transferkit.selection.validators import BaseValidator, validator_from

__all__ = ["UNSUPERVISED_VALIDATORS", "VALIDATORS", "guarded_ensv_graph", "make_validator"]


def guarded_ensv_graph(**params: Any) -> SourceGuardedValidator:
    """The search's default validator: :class:`GraphEnsembleValidator` among the candidates
    within 5 points of the best held-out source accuracy (more on a small source).

    ``params`` go to :class:`SourceGuardedValidator` (``tolerance``, ``confidence``).

    Examples
    --------
    >>> guarded_ensv_graph(tolerance=0.1).name
    'guarded_ensv_graph'
    """
    return SourceGuardedValidator(GraphEnsembleValidator(), **params)


#: Validators by name; every one of them scores without target labels.
VALIDATORS: dict[str, Callable[..., BaseValidator]] = {
    **GUARDABLE_VALIDATORS,
    "guarded_ensv_graph": guarded_ensv_graph,
}

#: Validators a user can run without target labels (all of :data:`VALIDATORS`).
UNSUPERVISED_VALIDATORS: tuple[str, ...] = tuple(VALIDATORS)


def make_validator(validator: str | BaseValidator | Callable[..., float], **params: Any) -> Any:
    """A validator from its name in :data:`VALIDATORS`, with ``params``; objects pass through.

    Examples
    --------
    >>> make_validator("snd", temperature=0.1).temperature
    0.1
    """
    if isinstance(validator, str) and validator == "oracle":
        raise InvalidParameterError(
            "The oracle reads the target labels, so it is no validator to pick with; for "
            "evaluation pass transferkit.evaluation.TargetAccuracy() as the scorer."
        )
    return validator_from(validator, VALIDATORS, **params)
