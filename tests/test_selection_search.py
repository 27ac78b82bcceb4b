"""DomainAwareSearchCV picks methods and hyper-parameters with validators; SourceFolds and
RegisteredMethod let scikit-learn's GridSearchCV do the same."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

from transferkit.alignment import CORAL
from transferkit.base import AdaptedClassifier
from transferkit.datasets import load_pair, make_rotated_moons, make_shifted_blobs
from transferkit.evaluation import TargetAccuracy
from transferkit.exceptions import InvalidParameterError, NotApplicableError
from transferkit.problem import TARGET, TransferProblem
from transferkit.registry import make_method
from transferkit.selection import (
    DomainAwareSearchCV,
    RegisteredMethod,
    SourceFolds,
    default_candidates,
    expand_candidates,
    make_validator,
    representation,
)


def test_search_picks_the_adapted_method_and_refits_it():
    problem = make_rotated_moons(n_samples=300, angle=35, random_state=0)
    search = DomainAwareSearchCV(
        {"source_only": {}, "coral": {"regularization": [1.0, 10.0]}},
        scoring=["im", "iwcv", "ensv", TargetAccuracy()],
        refit="im",
        cv=2,
        random_state=0,
    ).fit(problem)
    results = search.cv_results_
    assert results["method"] == ["source_only", "coral", "coral"]
    assert search.best_method_ == "coral"
    assert set(results) >= {"mean_iwcv", "std_im", "rank_ensv", "mean_oracle", "error"}
    X, y = problem.evaluation_split()
    assert search.score(X, y) > make_method("source_only").fit(problem).score(X, y)
    assert search.results_table(1)[0]["method"] == "coral"
    assert np.isfinite(results["mean_ensv"]).all()


def test_search_takes_estimators_and_deep_free_grids():
    problem = make_rotated_moons(n_samples=150, angle=30, random_state=0)
    candidate = AdaptedClassifier(CORAL(), LogisticRegression())
    search = DomainAwareSearchCV(
        [(candidate, {"adapter__regularization": [0.1, 1.0]}), "source_only"],
        scoring="snd",
        cv=None,
    ).fit(problem)
    assert search.cv_results_["method"] == ["AdaptedClassifier", "AdaptedClassifier", "source_only"]
    assert search.predict(problem.X_target).shape == (problem.n_target,)


def test_search_records_failures_and_refuses_bad_settings():
    problem = make_shifted_blobs(covariate_shift=1.0, n_samples=200, random_state=0)
    search = DomainAwareSearchCV(
        {"coral": {"regularization": [-1.0, 1.0]}}, scoring="im", cv=None
    ).fit(problem)
    assert search.cv_results_["error"][0].startswith("fit failed")
    assert search.best_params_ == {"regularization": 1.0}
    with pytest.raises(InvalidParameterError, match="held-out source rows"):
        DomainAwareSearchCV({"coral": {}}, scoring="iwcv", cv=None).fit(problem)
    with pytest.raises(InvalidParameterError, match="refit"):
        DomainAwareSearchCV({"coral": {}}, scoring="im", refit="dev", cv=2).fit(problem)
    with pytest.raises(NotApplicableError, match="Every candidate failed"):
        DomainAwareSearchCV({"coral": {"regularization": [-1.0]}}, cv=2).fit(problem)
    with pytest.raises(InvalidParameterError, match="Unknown method"):
        DomainAwareSearchCV({"no_such": {}}, cv=None, scoring="ensv").fit(problem)
    with pytest.raises(InvalidParameterError, match="held-out source rows"):
        DomainAwareSearchCV({"coral": {}}, cv=None).fit(problem)  # the default is guarded
    hetero = TransferProblem(
        problem.X_source, problem.y_source, problem.X_target[:, :1], feature_spaces="different"
    )
    with pytest.raises(NotApplicableError, match="Label-free model selection works in one.*hda_"):
        DomainAwareSearchCV({"coral": {}}, cv=2).fit(hetero)


def test_same_seed_same_search():
    problem = make_shifted_blobs(covariate_shift=1.0, n_samples=200, random_state=0)
    search = DomainAwareSearchCV(
        {"sa": {"n_components": [1, 2]}}, scoring=["dev", "reverse"], cv=2, random_state=3
    )
    a = clone(search).fit(problem).cv_results_
    b = clone(search).fit(problem).cv_results_
    assert a["mean_dev"] == b["mean_dev"] and a["mean_reverse"] == b["mean_reverse"]


def test_gridsearchcv_over_registered_methods_with_source_folds():
    problem = make_rotated_moons(n_samples=300, angle=35, random_state=0)
    X, y, domain = problem.stacked()
    grid = GridSearchCV(
        RegisteredMethod(random_state=0),
        [{"method": ["source_only"]}, {"method": ["coral"], "params": [{"regularization": 1.0}]}],
        scoring={"iwcv": make_validator("iwcv"), "im": make_validator("im")},
        refit="im",
        cv=SourceFolds(2, random_state=0),
    )
    grid.fit(X, y, groups=domain, domain=domain)
    assert grid.best_params_["method"] == "coral"
    assert len(grid.cv_results_["mean_test_im"]) == 2


def test_default_candidates_fit_the_data():
    candidates = dict(default_candidates(["sa", "coral"], n_features=15))
    assert candidates["sa"][0] == {}  # the method's own defaults come first
    assert all(c < 15 for c in candidates["sa"][1]["n_components"])
    names = [m for m, _ in default_candidates(sparse=False)]
    assert "msda" not in names and "source_only" in names
    assert "msda" in [m for m, _ in default_candidates(sparse=True)]


@pytest.mark.usefixtures("one_torch_thread")
def test_search_over_deep_methods_uses_their_representation():
    pytest.importorskip("torch")
    problem = make_rotated_moons(n_samples=100, angle=35, random_state=0)
    search = DomainAwareSearchCV(
        {"dann": {"trade_off": [0.1, 1.0], "epochs": [2]}, "deep_source_only": {"epochs": [2]}},
        scoring=["dev", "im", "ensv"],
        cv=2,
        random_state=0,
    ).fit(problem)
    assert not any(search.cv_results_["error"])
    assert np.isfinite(search.cv_results_["mean_dev"]).all()
    model = search.best_estimator_
    assert representation(model, problem.X_target, TARGET).shape == (100, model.hidden_dim)


def test_validators_on_sparse_data():
    import scipy.sparse as sp

    from transferkit.diagnose.calibration import make_planted_problem

    problem = make_planted_problem("none", family="sparse", n_source=200, n_target=200).problem
    assert sp.issparse(problem.X_source)
    search = DomainAwareSearchCV(
        {"source_only": {}, "density_ratio": {}}, scoring=["iwcv", "dev", "reverse", "ensv"], cv=2
    ).fit(problem)
    assert not any(search.cv_results_["error"])
    assert np.isfinite(search.cv_results_["mean_iwcv"]).all()


def test_auto_cv_holds_out_source_rows_only_when_a_validator_needs_them():
    problem = make_rotated_moons(n_samples=120, angle=35, random_state=0)
    target_only = DomainAwareSearchCV({"coral": {}}, scoring="ensv").fit(problem)
    assert target_only.n_splits_ == 1 and "mean_ensv" in target_only.cv_results_
    default = DomainAwareSearchCV({"coral": {}}).fit(problem)  # guarded: needs source folds
    assert default.n_splits_ == 3 and "mean_guarded_ensv_graph" in default.cv_results_
    with_source = DomainAwareSearchCV({"coral": {}}, scoring=["ensv", "iwcv"]).fit(problem)
    assert with_source.n_splits_ == 3
    with pytest.raises(InvalidParameterError, match="'auto'"):
        DomainAwareSearchCV({"coral": {}}, cv=1).fit(problem)


def test_a_collapsed_candidate_is_never_picked(moons, squash_adapter):
    Squash = squash_adapter
    from transferkit.alignment import OTMapping

    problem = moons[0]
    candidates = [
        AdaptedClassifier(Squash(), LogisticRegression()),  # confident and self-consistent
        AdaptedClassifier(OTMapping(), LogisticRegression()),
    ]
    for validator in ("entropy", "mixval", "ensv"):
        search = DomainAwareSearchCV(candidates, scoring=validator).fit(problem)
        assert search.cv_results_["error"][0].startswith("degenerate: 100 % of the")
        assert not np.isfinite(search.cv_results_[f"mean_{validator}"][0])
        assert search.best_index_ == 1, validator


def test_expanded_candidates_are_the_rows_of_the_results():
    candidates = [
        ("coral", [{"regularization": [0.1, 1.0]}, {}]),
        "source_only",
        ("sa", {"n_components": 1}),  # a single value is a one-point grid
    ]
    expanded = expand_candidates(candidates)
    assert expanded == [
        ("coral", {"regularization": 0.1}),
        ("coral", {"regularization": 1.0}),
        ("coral", {}),
        ("source_only", {}),
        ("sa", {"n_components": 1}),
    ]
    problem = make_shifted_blobs(covariate_shift=1.0, n_samples=120, random_state=0)
    search = DomainAwareSearchCV(candidates, scoring="im", cv=None).fit(problem)
    rows = list(zip(search.cv_results_["method"], search.cv_results_["params"], strict=True))
    assert rows == expanded
    with pytest.raises(InvalidParameterError, match="registered method name or an estimator"):
        expand_candidates([(3, {})])
    with pytest.raises(InvalidParameterError, match="no candidates"):
        expand_candidates({})


def test_make_candidate_builds_what_the_search_trains():
    problem = make_shifted_blobs(covariate_shift=1.0, n_samples=120, random_state=0)
    search = DomainAwareSearchCV({"coral": {"regularization": [10.0]}}, cv=None, scoring="im")
    search.set_params(random_state=4).fit(problem)
    again = search.make_candidate("coral", {"regularization": 10.0}).fit(problem)
    X = problem.X_target
    assert np.array_equal(again.predict(X), search.best_estimator_.predict(X))
    estimator = AdaptedClassifier(CORAL(), LogisticRegression())
    built = search.make_candidate(estimator, {"adapter__regularization": 0.5})
    assert built is not estimator and built.get_params()["adapter__regularization"] == 0.5


@pytest.mark.slow
def test_the_default_search_on_real_office_webcam_to_dslr():
    """The default (guarded ensv_graph) over the default grid on Office SURF webcam -> dslr
    (whole source, 3 source folds): the guard keeps exactly the candidates within its tolerance
    of the best held-out source accuracy, and the pick beats 85 % on the target, at least
    source-only's accuracy."""
    from threadpoolctl import threadpool_limits

    problem = load_pair("office-caltech-surf", "webcam", "dslr", random_state=5)
    with threadpool_limits(1):  # shared cores: more BLAS threads only spin (seconds, not minutes)
        search = DomainAwareSearchCV(
            default_candidates(n_features=problem.n_features), cv=3, random_state=5
        ).fit(problem)
    results = search.cv_results_
    guard = np.asarray(results["guard_source_accuracy"])
    kept = np.isfinite(results["mean_guarded_ensv_graph"])
    report = search.guards_["guarded_ensv_graph"]
    assert report["held_out_source_rows"] == problem.n_source
    assert report["tolerance"] == make_validator("guarded_ensv_graph").tolerance_for(
        np.nanmax(guard), problem.n_source
    )
    assert kept.any() and (kept == (guard >= np.nanmax(guard) - report["tolerance"])).all()
    X, y = problem.evaluation_split()
    pick = search.score(X, y)
    assert pick > 0.85 and pick >= make_method("source_only").fit(problem).score(X, y)
    # adaptation helps here, and the safety floor lets the adapted pick through, saying why
    assert search.safety_["applied"] and not search.safety_["kept_source_only"]
    assert search.best_method_ != "source_only"
    assert search.safety_["reason"].startswith(f"picked {search.best_method_}")
