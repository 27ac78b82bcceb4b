"""Multi-source adaptation on Office-Caltech10 SURF features (small harness draws)."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest
from sklearn.base import clone

from transferkit.datasets import get_data_home, load_pair
from transferkit.diagnose import diagnose
from transferkit.exceptions import (
    DegenerateResultWarning,
    FeatureSpaceMismatchError,
    InvalidParameterError,
    InvalidProblemError,
    NotApplicableError,
    ParameterValueError,
    UnknownDatasetError,
)
from transferkit.multisource import (
    SOURCE_DOMAINS,
    CentroidRefinement,
    JCPOTClassifier,
    MomentMatching,
    SourceWeightedEnsemble,
    combine_sources,
    domain_distance,
    is_multi_source,
    select_source_rows,
    source_domains,
    split_sources,
    target_centroids,
)
from transferkit.registry import make_classifier, make_method
from transferkit.selection import DomainAwareSearchCV, default_candidates
from transferkit.selection.search import MULTI_SOURCE_METHODS

SURF = [f"office_caltech10/surf/{d}.mat" for d in ("amazon", "caltech10", "dslr", "webcam")]
needs_surf = pytest.mark.skipif(
    not all((get_data_home() / f).is_file() for f in SURF),
    reason=f"data home {get_data_home()} lacks the Office-Caltech10 SURF files "
    "(set TRANSFERKIT_DATA)",
)

needs_mnist = pytest.mark.skipif(
    not (get_data_home() / "mnist" / "mnist.pkl.gz").is_file(),
    reason=f"data home {get_data_home()} lacks mnist/mnist.pkl.gz (set TRANSFERKIT_DATA)",
)


def surf(source: str, target: str = "webcam", seed: int = 0):
    return load_pair(
        "office-caltech-surf", source, target, random_state=seed, source_per_class="harness"
    )


def accuracy(model, problem) -> float:
    X, y = problem.evaluation_split()
    return float(np.mean(model.predict(X) == y))


@needs_surf
def test_load_pair_joins_sources_and_names_each_row():
    problem = surf("amazon+dslr")
    amazon, dslr = surf("amazon"), surf("dslr")
    domains = source_domains(problem)
    assert problem.source_name == "amazon+dslr"
    assert problem.metadata["sources"] == ["amazon", "dslr"]
    assert list(domains).count("amazon") == amazon.n_source == 200
    assert list(domains).count("dslr") == dslr.n_source == 80
    np.testing.assert_array_equal(problem.X_source[domains == "dslr"], dslr.X_source)
    np.testing.assert_array_equal(problem.X_target, amazon.X_target)
    parts = split_sources(problem)
    assert list(parts) == ["amazon", "dslr"]
    np.testing.assert_array_equal(parts["amazon"].y_source, amazon.y_source)
    assert SOURCE_DOMAINS not in parts["amazon"].metadata
    named = replace(problem, feature_names=[f"surf{i}" for i in range(problem.n_features)])
    assert split_sources(named)["dslr"].feature_names == named.feature_names


@needs_surf
def test_weighting_beats_pooling_when_one_source_misleads():
    # dslr is a good source for webcam; caltech10 is made misleading: its labels rolled by one
    # class and its features stretched, so it is far from the target
    good = surf("dslr")
    bad = surf("caltech10")
    misleading = (bad.X_source * 3.0, (bad.y_source % 10) + 1)
    problem = combine_sources(
        [good, misleading], good.X_target, good.y_target, source_names=["dslr", "bad"]
    )
    for seed in (0, 1):
        pooled = accuracy(make_method("source_only", random_state=seed).fit(problem), problem)
        model = make_method("ms_weighted", random_state=seed).fit(problem)
        assert model.source_names_ == ["dslr", "bad"]
        assert model.weights_[0] > 0.95
        assert accuracy(model, problem) > pooled + 0.15
        alone = accuracy(make_method("source_only", random_state=seed).fit(good), good)
        assert accuracy(model, problem) >= alone - 0.02


@needs_surf
def test_moments_and_jcpot_beat_the_mean_single_source():
    problem = surf("amazon+caltech10", "dslr")
    single = np.mean(
        [
            accuracy(make_method("source_only", classifier="1nn").fit(p), problem)
            for p in split_sources(problem).values()
        ]
    )
    jcpot = make_method("ms_jcpot", classifier="1nn").fit(problem)
    proportions = jcpot.target_proportions_
    assert proportions.shape == (10,) and np.isclose(proportions.sum(), 1.0)
    assert accuracy(jcpot, problem) > single
    moments = make_method("ms_moments", classifier="1nn").fit(problem)
    assert accuracy(moments, problem) > single


@needs_surf
def test_jcpot_estimates_a_shifted_target_prior():
    problem = surf("amazon+caltech10", "webcam")
    classes = problem.classes
    y = np.searchsorted(classes, problem.y_target)
    # the target keeps all of its first five classes and a sixth of the others
    keep = (y < 5) | (np.arange(len(y)) % 6 == 0)
    shifted = combine_sources(
        list(split_sources(problem).values()), problem.X_target[keep], problem.y_target[keep]
    )
    proportions = JCPOTClassifier().fit(shifted).target_proportions_
    true = np.bincount(y[keep], minlength=10) / keep.sum()
    uniform = np.full(10, 0.1)
    assert np.abs(proportions - true).sum() < np.abs(uniform - true).sum()


@needs_surf
def test_centroid_refinement_beats_its_first_stage_on_a_shifted_target():
    # caltech10 + dslr -> webcam on SURF: JCPOT's transported sources leave the target's own
    # clusters cut across; relabelling the target around its class centroids repairs part of it
    for seed in (0, 1):
        problem = surf("caltech10+dslr", "webcam", seed=seed)
        jcpot = make_method("ms_jcpot", classifier="1nn", random_state=seed).fit(problem)
        refined = make_method("ms_refined", classifier="1nn", random_state=seed).fit(problem)
        assert accuracy(refined, problem) > accuracy(jcpot, problem) + 0.04
        assert refined.n_rounds_ == 2 and 0.0 < refined.relabelled_share_ < 0.5
        assert refined.refined_ and refined.agreement_ > 0.5
        assert refined.source_names_ == ["caltech10", "dslr"]
        # the class is the function over the first stage's votes, centred target rows
        Xt = problem.X_target
        votes = np.eye(10)[np.searchsorted(problem.classes, jcpot.predict(Xt))]
        centroids, labels, rounds = target_centroids(Xt - Xt.mean(axis=0), votes)
        np.testing.assert_allclose(refined.centroids_, centroids)
        np.testing.assert_array_equal(refined.predict(Xt), problem.classes[labels])
        assert refined.n_rounds_ == rounds
    # the class forwards its first stage and n_rounds
    model = CentroidRefinement(JCPOTClassifier(make_classifier("1nn")), n_rounds=1)
    assert clone(model).get_params()["n_rounds"] == 1
    once = model.fit(problem)
    assert once.n_rounds_ == 1 and once.model_.estimator.n_neighbors == 1


@needs_mnist
def test_centroid_refinement_is_set_aside_where_the_target_clusters_are_not_classes():
    # MNIST-M's raw pixels: the centroids carry the classes to the wrong clusters and overturn
    # most of the first stage's labels; the model warns and predicts with the first stage
    problem = load_pair(
        "digits", "mnist+synthetic", "mnistm", random_state=0, n_source=400, n_target=400
    )
    X, y = problem.evaluation_split()
    with pytest.warns(DegenerateResultWarning, match="kept only .* surest of.*first stage"):
        model = make_method("ms_refined", {"base": "source_only"}, random_state=0).fit(problem)
    assert not model.refined_ and model.agreement_ < 0.5
    np.testing.assert_array_equal(model.predict(X), model.model_.predict(X))
    by_centroids = problem.classes[model.decision_function(X).argmax(axis=1)]
    assert np.mean(by_centroids == y) < np.mean(model.predict(X) == y)


def test_target_centroids_moves_a_wrong_label_to_its_cluster():
    rng = np.random.default_rng(0)
    y = np.arange(60) % 3
    X = np.eye(3)[y] * 5.0 + rng.normal(scale=0.5, size=(60, 3))
    votes = np.eye(3)[np.where(np.arange(60) < 12, (y + 1) % 3, y)]  # 12 rows mislabelled
    centroids, labels, rounds = target_centroids(X, votes, n_rounds=10)
    np.testing.assert_array_equal(labels, y)
    np.testing.assert_allclose(np.linalg.norm(centroids, axis=1), 1.0)
    assert 2 <= rounds < 10  # stops once no label changes


def test_centroid_refinement_bad_input_is_named():
    rng = np.random.default_rng(0)
    sources = [(rng.normal(i, size=(40, 3)), np.arange(40) % 2) for i in range(2)]
    problem = combine_sources(sources, rng.normal(size=(30, 3)))
    with pytest.raises(ParameterValueError, match="n_rounds"):
        CentroidRefinement(n_rounds=0).fit(problem)
    with pytest.raises(InvalidParameterError, match="model must be a classifier.*make_method"):
        CentroidRefinement(model="ms_jcpot").fit(problem)
    with pytest.raises(ParameterValueError, match="base"):
        make_method("ms_refined", {"base": "coral"})
    with pytest.raises(InvalidParameterError, match="proba has shape"):
        target_centroids(rng.normal(size=(30, 3)), np.ones((20, 2)))
    model = make_method("ms_refined", {"base": "ms_moments"}).fit(problem)
    with pytest.raises(FeatureSpaceMismatchError, match="expecting 3 features"):
        model.predict(rng.normal(size=(5, 4)))
    # a single source: the first stage warns and runs with it
    single = load_pair("moons", "source", "rotated", random_state=0)
    with pytest.warns(UserWarning, match="needs several source domains"):
        assert make_method("ms_refined").fit(single).predict(single.X_target).shape == (
            single.n_target,
        )


def test_select_source_rows_keeps_each_row_named_by_its_source():
    # a source fold (model selection, subsampling) must stay a multi-source problem: replacing
    # X_source and y_source alone leaves one domain name per row of the full source
    rng = np.random.default_rng(0)
    sources = [(rng.normal(i, size=(30, 3)), np.arange(30) % 2) for i in range(3)]
    problem = combine_sources(sources, rng.normal(size=(20, 3)), source_names=["a", "b", "c"])
    rows = np.flatnonzero(np.arange(90) % 3 != 0)
    fold = select_source_rows(problem, rows)
    np.testing.assert_array_equal(fold.X_source, problem.X_source[rows])
    np.testing.assert_array_equal(source_domains(fold), source_domains(problem)[rows])
    assert make_method("ms_jcpot").fit(fold).source_names_ == ["a", "b", "c"]
    with pytest.raises(InvalidProblemError, match="one source-domain name per source row"):
        make_method("ms_jcpot").fit(
            replace(problem, X_source=problem.X_source[rows], y_source=problem.y_source[rows])
        )


@needs_surf
def test_model_selection_trains_multi_source_methods_on_source_folds():
    # each source fold keeps every row's source name, so a multi-source candidate fits and is
    # scored on the folds instead of failing with a source-name mismatch
    problem = surf("amazon+caltech10+dslr")
    search = DomainAwareSearchCV(
        {"source_only": {}, "ms_jcpot": {}}, scoring="ensv", cv=2, safety=None, random_state=0
    ).fit(problem)
    assert search.cv_results_["method"] == ["source_only", "ms_jcpot"]
    assert search.cv_results_["error"] == ["", ""]
    assert np.all(np.isfinite(search.cv_results_["mean_ensv"]))


def test_default_selection_pool_offers_multi_source_methods_on_multi_source_problems():
    rng = np.random.default_rng(0)
    sources = [(rng.normal(i, size=(30, 3)), np.arange(30) % 2) for i in range(2)]
    problem = combine_sources(sources, rng.normal(size=(20, 3)))
    assert is_multi_source(problem)
    assert not is_multi_source(replace(problem, metadata={}))
    for budget in ("fast", "default", "thorough"):
        pooled = [m for m, _ in default_candidates(budget=budget, multi_source=True)]
        single = [m for m, _ in default_candidates(budget=budget)]
        assert [m for m in pooled if m not in single] == list(MULTI_SOURCE_METHODS)


def test_diagnose_recommends_multi_source_methods_for_several_named_sources():
    rng = np.random.default_rng(0)
    sources = [(rng.normal(i, size=(60, 4)), np.arange(60) % 2) for i in range(3)]
    problem = combine_sources(sources, rng.normal(1.0, size=(60, 4)), source_names=["a", "b", "c"])
    families = {r.family: r for r in diagnose(problem, random_state=0).recommendations}
    assert families["multi-source adaptation"].methods[:2] == ["ms_refined", "ms_jcpot"]
    assert "3 named domains (a, b, c)" in families["multi-source adaptation"].reason
    single = diagnose(replace(problem, metadata={}), random_state=0).recommendations
    assert "multi-source adaptation" not in {r.family for r in single}


def test_the_covariance_distance_is_not_pushed_up_by_a_small_source():
    import scipy.sparse as sp

    from transferkit.alignment.common import covariance_square_norm

    rng = np.random.default_rng(0)
    target = rng.normal(size=(500, 50))
    small = rng.normal(size=(20, 50))  # the target's covariance, few rows
    large = rng.normal(size=(2000, 50)) * np.sqrt(1.5)  # another covariance, many rows
    naive = [
        np.linalg.norm(np.cov(X, rowvar=False) - np.cov(target, rowvar=False))
        for X in (small, large)
    ]
    assert naive[0] > naive[1]  # the sample covariances' noise ranks them the wrong way round
    assert domain_distance(small, target) < domain_distance(large, target)
    # the squared norm is estimated without bias: its mean over draws is the true tr(Σ²) = 50
    draws = [covariance_square_norm(rng.normal(size=(10, 50)) + 3.0) for _ in range(400)]
    assert abs(np.mean(draws) - 50.0) < 3 * np.std(draws) / np.sqrt(len(draws))
    assert np.isclose(covariance_square_norm(sp.csr_matrix(small)), covariance_square_norm(small))
    with pytest.raises(InvalidParameterError, match="at least 4 rows per domain"):
        domain_distance(small[:3], target)


@needs_surf
def test_dslr_is_the_nearest_source_of_webcam_by_covariance_on_surf():
    from transferkit.datasets import load_office_caltech_surf
    from transferkit.datasets.office import harness_preprocess

    domains = {
        name: harness_preprocess(load_office_caltech_surf(name)[0])
        for name in ("amazon", "caltech10", "dslr", "webcam")
    }
    distances = {
        name: domain_distance(domains[name], domains["webcam"])
        for name in ("amazon", "caltech10", "dslr")
    }
    assert min(distances, key=distances.get) == "dslr", distances


def test_distance_and_parameters():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(80, 3)), rng.normal(size=(80, 3)) * [1.0, 4.0, 1.0]
    for distance in ("coral", "mmd", "pad"):
        near = domain_distance(a, rng.normal(size=(80, 3)), distance, random_state=0)
        assert near < domain_distance(a, b + 3.0, distance, random_state=0)
    problem = combine_sources(
        [(a, np.arange(80) % 2), (b, np.arange(80) % 2)], rng.normal(size=(40, 3))
    )
    model = SourceWeightedEnsemble(temperature=0.5, distance="mmd")
    assert clone(model).get_params() == model.get_params()
    with pytest.raises(ParameterValueError, match="temperature"):
        SourceWeightedEnsemble(temperature=0).fit(problem)
    with pytest.raises(ParameterValueError, match="distance"):
        SourceWeightedEnsemble(distance="cosine").fit(problem)
    with pytest.raises(ParameterValueError, match="combine"):
        MomentMatching(combine="max").fit(problem)
    with pytest.raises(ParameterValueError, match="reg_e"):
        JCPOTClassifier(reg_e=-1).fit(problem)


def test_bad_input_is_named():
    rng = np.random.default_rng(0)
    y = np.arange(30) % 2
    with pytest.raises(FeatureSpaceMismatchError, match="Source 'wide'.*target's feature space"):
        combine_sources(
            [(rng.normal(size=(30, 3)), y), (rng.normal(size=(30, 5)), y)],
            rng.normal(size=(20, 3)),
            source_names=["narrow", "wide"],
        )
    with pytest.raises(InvalidParameterError, match="at least two sources"):
        combine_sources([(rng.normal(size=(30, 3)), y)], rng.normal(size=(20, 3)))
    single = load_pair("moons", "source", "rotated", random_state=0)
    with pytest.raises(NotApplicableError, match="needs several source domains.*combine"):
        split_sources(single)
    for name in ("ms_weighted", "ms_moments", "ms_jcpot"):
        with pytest.warns(UserWarning, match="needs several source domains.*as one source"):
            model = make_method(name).fit(single)
        assert model.source_names_ == ["source"]
    # with one source, the weighted vote is that source's classifier
    alone = make_method("source_only").fit(single).predict(single.X_target)
    with pytest.warns(UserWarning):
        voted = make_method("ms_weighted").fit(single).predict(single.X_target)
    np.testing.assert_array_equal(voted, alone)


@needs_surf
def test_load_pair_refuses_unknown_or_repeated_domains():
    with pytest.raises(UnknownDatasetError, match="'kitchen'.*Its domains: amazon"):
        surf("amazon+kitchen")
    with pytest.raises(InvalidParameterError, match="different domains"):
        surf("amazon+webcam", "webcam")
    with pytest.raises(InvalidParameterError, match="different domains"):
        surf("amazon+amazon", "webcam")


def test_deep_m3sda_moment_loss_and_fit():
    torch = pytest.importorskip("torch")
    from transferkit.deep.losses import moment_distance
    from transferkit.deep.multisource import DeepM3SDA

    a = torch.randn(50, 4)
    assert float(moment_distance([a, a], a)) == pytest.approx(0.0, abs=1e-6)
    shifted = float(moment_distance([a, a + 1.0], a))
    assert shifted > float(moment_distance([a, a + 0.1], a)) > 0.0
    rng = np.random.default_rng(0)
    sources = [(rng.normal(i, size=(80, 4)), np.arange(80) % 2) for i in range(2)]
    problem = combine_sources(sources, rng.normal(size=(40, 4)), source_names=["a", "b"])
    model = DeepM3SDA(epochs=2, random_state=0).fit(problem)
    assert model.source_names_ == ["a", "b"]
    assert set(model.predict(problem.X_target)) <= {0, 1}
    assert "transfer" in model.history_.epochs[-1]
    with pytest.warns(UserWarning, match="m3sda needs several source domains"):
        DeepM3SDA(epochs=1).fit(load_pair("moons", "source", "rotated", random_state=0))
    assert clone(model).get_params() == model.get_params()
    for bad, name in (({"order": 0}, "order"), ({"gamma": -1}, "gamma"), ({"norm": 1}, "norm")):
        with pytest.raises(ParameterValueError, match=name):
            DeepM3SDA(epochs=1, loss_params=bad).fit(problem)


def test_normalised_moment_distance_ignores_the_scale_of_the_features():
    # the raw distance rewards shrinking every feature (all-zero features match every moment);
    # the normalised one is the same at any scale, so it holds nothing to gain by shrinking
    torch = pytest.importorskip("torch")
    from transferkit.deep.losses import moment_distance

    generator = torch.Generator().manual_seed(0)
    a, b, c = (torch.rand(40, 8, generator=generator) * s for s in (1.0, 2.0, 3.0))
    raw = [float(moment_distance([a * f, b * f], c * f)) for f in (1.0, 0.1)]
    assert raw[1] < 0.2 * raw[0]
    normalised = [float(moment_distance([a * f, b * f], c * f, normalize=True)) for f in (1, 0.1)]
    assert normalised[1] == pytest.approx(normalised[0], rel=1e-4) and normalised[0] > 0.1


@needs_mnist
def test_deep_m3sda_defaults_keep_the_lenet_alive_on_mnistm():
    # MNIST + synthetic -> MNIST-M with the LeNet: matching the moments of the raw features at
    # full weight from the first step drives every ReLU unit to zero and all images to one or
    # two classes; the defaults (features divided by their RMS, DANN's ramp) keep it learning
    pytest.importorskip("torch")
    from transferkit.deep.multisource import DeepM3SDA
    from transferkit.exceptions import DegenerateResultWarning

    problem = load_pair(
        "digits",
        "mnist+synthetic",
        "mnistm",
        random_state=0,
        n_source=200,
        n_target=200,
        n_test=200,
    )
    X_test, y_test = problem.evaluation_split()
    raw = {"trade_off": 1.0, "loss_params": {"normalize": False, "gamma": 0}}
    with pytest.warns(DegenerateResultWarning, match="collapsed onto one class"):
        collapsed = DeepM3SDA(epochs=2, patience=0, random_state=0, **raw).fit(problem)
    assert np.mean(collapsed.transform(problem.X_target) > 0) < 0.01
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateResultWarning)
        model = DeepM3SDA(epochs=2, patience=0, random_state=0).fit(problem)
    assert np.mean(model.transform(problem.X_target) > 0) > 0.2
    predicted = model.predict(X_test)
    assert len(np.unique(predicted)) >= 8
    assert np.mean(predicted == y_test) > 0.25  # chance is 0.1; the collapsed model gets 0.14


@needs_mnist
def test_digits_sources_share_the_target_of_the_source_from_its_pool():
    # each digits pair draws its target after its source; a multi-source load keeps one target:
    # the pair of mnist (the pool of mnistm's images, drawn disjoint from it) wherever it is listed
    sizes = {"n_source": 60, "n_target": 50, "n_test": 40}
    single = load_pair("digits", "mnist", "mnistm", random_state=3, **sizes)
    for sources in ("mnist+synthetic", "synthetic+mnist"):
        problem = load_pair("digits", sources, "mnistm", random_state=3, **sizes)
        assert problem.metadata["target_drawn_with"] == "mnist"
        np.testing.assert_array_equal(problem.X_target, single.X_target)
        np.testing.assert_array_equal(problem.X_test, single.X_test)
        domains = source_domains(problem)
        np.testing.assert_array_equal(problem.X_source[domains == "mnist"], single.X_source)
    # a grey source beside an RGB one is repeated to three channels: one feature space
    mixed = load_pair("digits", "synthetic+mnistm", "mnist", random_state=3, **sizes)
    assert mixed.n_features == 28 * 28 * 3 and mixed.metadata["image_shape"] == (28, 28, 3)
    grey = load_pair("digits", "synthetic", "mnist", random_state=3, **sizes)
    synthetic = mixed.X_source[source_domains(mixed) == "synthetic"].reshape(-1, 28, 28, 3)
    np.testing.assert_array_equal(synthetic[..., 1], grey.X_source.reshape(-1, 28, 28))
    with pytest.raises(InvalidParameterError, match="colour"):
        load_pair("digits", "synthetic+uci", "mnist", colour=1)
