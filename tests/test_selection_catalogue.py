"""The validator names users pick from, and make_validator."""

import pytest

from transferkit.exceptions import InvalidParameterError
from transferkit.selection import (
    UNSUPERVISED_VALIDATORS,
    VALIDATORS,
    EnsembleValidator,
    GraphEnsembleValidator,
    SourceGuardedValidator,
    make_validator,
)

PUBLISHED = {"iwcv", "dev", "reverse", "entropy", "im", "snd", "mixval", "ensv"}


def test_the_catalogue_holds_the_published_validators_the_baseline_and_the_default():
    assert set(VALIDATORS) == PUBLISHED | {"source_accuracy", "guarded_ensv_graph"}
    assert set(UNSUPERVISED_VALIDATORS) == set(VALIDATORS)
    for name in VALIDATORS:
        validator = make_validator(name)
        assert validator.name == name and not validator.uses_target_labels


def test_the_default_is_the_graph_consensus_behind_the_source_guard():
    default = make_validator("guarded_ensv_graph")
    assert isinstance(default, SourceGuardedValidator)
    assert isinstance(default.base_, GraphEnsembleValidator)
    assert default.pool and default.uses_target_features
    assert default.tolerance == 0.05 and default.confidence == 0.95
    assert make_validator("guarded_ensv_graph", tolerance=0.1).tolerance == 0.1


@pytest.mark.parametrize(
    "name", ["ensv_dedup", "ensv_graph", "guarded_mixval", "guarded_ensv_dedup"]
)
def test_research_variants_are_built_from_the_classes_not_named(name):
    with pytest.raises(InvalidParameterError, match="Known validators"):
        make_validator(name)


def test_make_validator_refuses_unknown_names_bad_parameters_and_the_oracle():
    with pytest.raises(InvalidParameterError, match="Known validators"):
        make_validator("accuracy_on_target")
    with pytest.raises(InvalidParameterError, match="Bad parameters"):
        make_validator("snd", bandwidth=3)
    with pytest.raises(InvalidParameterError, match="transferkit.evaluation.TargetAccuracy"):
        make_validator("oracle")
    ensv = EnsembleValidator()
    assert make_validator(ensv) is ensv  # objects pass through
