"""Choosing a method and its hyper-parameters without target labels.

The target has no labels, so ordinary cross-validation cannot score a domain-adaptation model. The
*validators* here score a fitted model from what is available — labelled source rows held out from
training and the unlabelled target — and :class:`DomainAwareSearchCV` picks among candidates with
them. Higher is better for every validator.

The package, one job per file:

=================  ==============================================================================
``access``         reading a fitted model: probabilities, labels and representation of either
                   domain's rows (:func:`predict_proba_rows`, :func:`predict_rows`,
                   :func:`representation`)
``density``        the domain-classifier density ratio behind IWCV and DEV (:func:`density_ratio`)
``validators``     validators of one model: ``iwcv``, ``dev``, ``reverse``, ``entropy``, ``im``,
                   ``snd``, ``mixval``, ``source_accuracy``
``pool``           validators of a candidate against the whole pool: EnsV, its de-duplicated and
                   graph-propagated consensus, and the source guard
``catalogue``      the names a user picks from (:data:`VALIDATORS`) and :func:`make_validator`
``safety``         :class:`SourceOnlyFloor`: the pick is source-only unless an adapted candidate
                   shows it is not worse
``search``         :class:`DomainAwareSearchCV`, :class:`SourceFolds`, :class:`RegisteredMethod`,
                   :func:`default_candidates`
=================  ==============================================================================

The default validator, ``guarded_ensv_graph``, is
``SourceGuardedValidator(GraphEnsembleValidator())``, and the search keeps source-only unless
its pick passes :class:`SourceOnlyFloor`'s checks. Scoring with the target's labels (the oracle,
for evaluating validators) lives in :mod:`transferkit.evaluation`.

Examples
--------
>>> from transferkit.selection import UNSUPERVISED_VALIDATORS, make_validator
>>> "guarded_ensv_graph" in UNSUPERVISED_VALIDATORS
True
>>> make_validator("snd", temperature=0.1).temperature
0.1

A search over methods is shown in :mod:`transferkit.selection.search`.
"""

from transferkit.selection.access import (
    predict_proba_rows,
    predict_rows,
    predictions_with_confidence,
    representation,
)
from transferkit.selection.catalogue import (
    UNSUPERVISED_VALIDATORS,
    VALIDATORS,
    guarded_ensv_graph,
    make_validator,
)
from transferkit.selection.density import density_ratio
from transferkit.selection.pool import (
    GUARDABLE_VALIDATORS,
    DedupEnsembleValidator,
    EnsembleValidator,
    GraphEnsembleValidator,
    SourceGuardedValidator,
    centred_cosine_neighbors,
)
from transferkit.selection.safety import SourceOnlyFloor
from transferkit.selection.search import (
    DEFAULT_GRIDS,
    DomainAwareSearchCV,
    RegisteredMethod,
    SourceFolds,
    default_candidates,
    expand_candidates,
)
from transferkit.selection.validators import (
    BaseValidator,
    DeepEmbeddedValidator,
    EntropyValidator,
    ImportanceWeightedValidator,
    InformationMaximizationValidator,
    MixValValidator,
    ReverseValidator,
    SoftNeighborhoodDensityValidator,
    SourceAccuracyValidator,
)

__all__ = [
    "DEFAULT_GRIDS",
    "GUARDABLE_VALIDATORS",
    "UNSUPERVISED_VALIDATORS",
    "VALIDATORS",
    "BaseValidator",
    "DedupEnsembleValidator",
    "DeepEmbeddedValidator",
    "DomainAwareSearchCV",
    "EnsembleValidator",
    "EntropyValidator",
    "GraphEnsembleValidator",
    "ImportanceWeightedValidator",
    "InformationMaximizationValidator",
    "MixValValidator",
    "RegisteredMethod",
    "ReverseValidator",
    "SoftNeighborhoodDensityValidator",
    "SourceAccuracyValidator",
    "SourceFolds",
    "SourceGuardedValidator",
    "SourceOnlyFloor",
    "centred_cosine_neighbors",
    "default_candidates",
    "density_ratio",
    "expand_candidates",
    "guarded_ensv_graph",
    "make_validator",
    "predict_proba_rows",
    "predictions_with_confidence",
    "predict_rows",
    "representation",
]
