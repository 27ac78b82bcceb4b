"""Every registered domain-adaptation method, with its defaults, on a small real problem.

The methods are discovered from the registry (every non-deep method of the transfer task kind),
so a new method is covered as soon as it is registered. Each gives finite predictions of more
than one class on Office-Caltech SURF amazon→webcam, or refuses with our own
:class:`~transferkit.exceptions.NotApplicableError` because the problem lacks what it needs
(target labels, several sources, two feature spaces, a parallel corpus); it is then fitted on a
problem that has it.
``benchmarks/defaults.py`` runs the same check on every built-in suite.
"""

from __future__ import annotations

import numpy as np
import pytest

from transferkit.crosslingual import with_parallel_corpus
from transferkit.datasets import get_data_home, load_pair
from transferkit.exceptions import NotApplicableError
from transferkit.multisource import is_multi_source
from transferkit.problem import TRANSFER_KIND, TransferProblem
from transferkit.registry import available_methods, make_method

SURF_FILES = [f"office_caltech10/surf/{d}.mat" for d in ("amazon", "webcam", "caltech10", "dslr")]
OPTIONS = {"preprocess": "harness", "source_per_class": "harness", "random_state": 0}

pytestmark = pytest.mark.skipif(
    not all((get_data_home() / f).is_file() for f in SURF_FILES),
    reason="data home lacks the Office-Caltech SURF files (set TRANSFERKIT_DATA)",
)


def domain_adaptation_methods() -> list[str]:
    """Registered non-deep methods that fit transfer problems (built with their defaults)."""
    names = []
    for name, spec in available_methods(include_deep=False).items():
        if spec.deep:
            continue
        method = make_method(name, random_state=0)
        if getattr(method, "task_kind", TRANSFER_KIND) == TRANSFER_KIND:
            names.append(name)
    return names


METHODS = domain_adaptation_methods()


@pytest.fixture(scope="module")
def plain() -> TransferProblem:
    """One source, one feature space, no target label: what most methods need."""
    return load_pair("office-caltech-surf", "amazon", "webcam", **OPTIONS)


@pytest.fixture(scope="module")
def problems(plain: TransferProblem) -> dict[str, TransferProblem]:
    """The plain problem, and one with each thing a method may need that it lacks."""
    out = {
        "plain": plain,
        "target labels": plain.with_target_labels(3, random_state=0),
        "several sources": load_pair("office-caltech-surf", "caltech10+dslr", "webcam", **OPTIONS),
        # the target rows stand for their own translations: a corpus of the right shape
        "parallel corpus": with_parallel_corpus(plain, plain.X_target, plain.X_target),
    }
    return out


def hetero_problem() -> TransferProblem:
    """SURF source rows, EfficientNet target rows (3 labels per class), from the feature cache."""
    try:
        problem = load_pair(
            "office-caltech-hetero", "amazon", "webcam", source_per_class=10, random_state=0
        )
    except Exception as error:  # noqa: BLE001 - missing files or torch: skip with the reason
        pytest.skip(f"Office-Caltech10 SURF or cached CNN features unavailable: {error}")
    return problem.with_target_labels(3, random_state=0)


def check_fitted(name: str, problem: TransferProblem) -> None:
    """Fit ``name`` with its defaults; finite predictions (and scores) of several classes."""
    model = make_method(name, random_state=0).fit(problem)
    X, y = problem.evaluation_split()
    predicted = np.asarray(model.predict(X))
    assert len(predicted) == len(y)
    assert len(np.unique(predicted)) > 1, f"{name} predicts one class for every target row"
    for scores in ("predict_proba", "decision_function"):
        if hasattr(model, scores):
            values = np.asarray(getattr(model, scores)(X), dtype=float)
            assert np.isfinite(values).all(), f"{name}.{scores} gives NaN or inf"


def test_the_registry_gives_every_family():
    """The discovery finds the methods of every shallow family (so none is silently left out)."""
    families = {available_methods()[name].family for name in METHODS}
    assert {
        "baseline",
        "alignment",
        "reweighting",
        "label_shift",
        "self_training",
        "invariant",
        "label_spaces",
        "multi-source",
        "heterogeneous",
        "crosslingual",
    } <= families


def problem_for(name: str, problems: dict[str, TransferProblem]) -> TransferProblem:
    """The problem ``name`` is meant for: the plain one unless it needs more."""
    spec = available_methods()[name]
    if spec.family == "heterogeneous":
        return hetero_problem()
    if spec.family == "multi-source":
        assert is_multi_source(problems["several sources"])
        return problems["several sources"]
    if spec.family == "crosslingual":
        return problems["parallel corpus"]
    return problems["target labels" if spec.needs_target_labels else "plain"]


@pytest.mark.parametrize("name", METHODS)
def test_defaults_give_finite_predictions_of_several_classes(name, problems):
    check_fitted(name, problem_for(name, problems))


NEEDY = [
    name
    for name in METHODS
    if available_methods()[name].needs_target_labels
    or available_methods()[name].family in ("multi-source", "crosslingual")
]


@pytest.mark.parametrize("name", NEEDY)
def test_what_a_method_needs_and_lacks_is_named(name, problems):
    """Without the target labels (or the several sources) it needs, a method refuses with our
    error naming them, or runs all the same (a multi-source method pools a single source)."""
    spec = available_methods()[name]
    try:
        check_fitted(name, problems["plain"])
    except NotApplicableError as error:
        needed = {"multi-source": "source", "crosslingual": "translation pairs"}
        assert needed.get(spec.family, "label") in str(error), str(error)
