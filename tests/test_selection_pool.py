"""Pool validators: EnsV, its de-duplicated and graph-propagated consensus, and the source guard
that keeps a pick among the candidates accurate on the held-out source."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin

from transferkit.datasets import make_rotated_moons
from transferkit.exceptions import InvalidParameterError, NotApplicableError
from transferkit.problem import TransferProblem
from transferkit.selection import (
    DedupEnsembleValidator,
    DomainAwareSearchCV,
    EnsembleValidator,
    GraphEnsembleValidator,
    SourceGuardedValidator,
    centred_cosine_neighbors,
    make_validator,
)


def _probas(labels, k=3, confidence=0.9):
    out = np.full((len(labels), k), (1 - confidence) / (k - 1))
    out[np.arange(len(labels)), labels] = confidence
    return out


def _clusters(n_per=20, k=3, seed=0):
    """k well-separated clusters in 5 dimensions, with a shared offset on every row."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=5.0, size=(k, 5))
    labels = np.repeat(np.arange(k), n_per)
    return centres[labels] + rng.normal(size=(k * n_per, 5)) + 50.0, labels


# --------------------------------------------------------------------------- EnsV and dedup
def test_ensemble_validator_scores_agreement_with_the_pool():
    good = np.eye(3)[[0, 1, 2, 0]]
    bad = np.eye(3)[[1, 1, 1, 1]]
    scores = EnsembleValidator().score_pool([good, good, bad, None])
    assert scores[0] == 1.0 and scores[2] == 0.25 and np.isnan(scores[3])
    with pytest.raises(NotApplicableError, match="ensemble"):
        EnsembleValidator().score(None, None, None, None)


def test_duplicates_do_not_outvote_distinct_candidates():
    truth = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    copy = _probas([0] * 10)  # a source-like model, four times in the pool
    right = _probas(truth, confidence=0.95)
    near = _probas([0, 2, 1, 0, 2, 2, 0, 1, 2, 0], confidence=0.8)  # 3 rows wrong
    pool = [copy, copy, copy, copy, right, near, None]
    plain = EnsembleValidator().score_pool(pool)
    dedup = DedupEnsembleValidator().score_pool(pool)
    assert np.argmax(plain[:-1]) == 0  # the copies are the consensus
    assert np.argmax(dedup[:-1]) == 4 and dedup[4] == 1.0  # counted once, they are not
    assert np.isnan(dedup[-1])
    weights = DedupEnsembleValidator().weights([copy, copy, copy, copy, right, near])
    assert weights.sum() == pytest.approx(1.0)
    assert weights[:4] == pytest.approx([1 / 12] * 4) and weights[4] == pytest.approx(1 / 3)
    # with distinct predictions only, it is EnsV
    assert DedupEnsembleValidator(1.0).score_pool([copy, right]) == EnsembleValidator().score_pool(
        [copy, right]
    )
    assert np.isnan(DedupEnsembleValidator().score_pool([None, None])).all()


def test_a_bad_threshold_is_refused():
    with pytest.raises(InvalidParameterError, match="threshold"):
        DedupEnsembleValidator(threshold=0).weights([_probas([0, 1])])


# --------------------------------------------------------------------------- graph consensus


def test_neighbours_are_the_same_dense_and_sparse_and_exclude_the_row():
    X, labels = _clusters()
    dense = centred_cosine_neighbors(X, 5)
    assert dense.shape == (60, 5)
    assert not (dense == np.arange(60)[:, None]).any()
    # the shared offset of 50 would make every row look alike without the centring
    assert (labels[dense] == labels[:, None]).mean() > 0.95
    assert np.array_equal(centred_cosine_neighbors(sp.csr_matrix(X), 5), dense)
    assert np.array_equal(centred_cosine_neighbors(X, 5, chunk=7), dense)
    with pytest.raises(InvalidParameterError, match="n_neighbors"):
        centred_cosine_neighbors(X, 60)


def test_the_graph_corrects_the_consensus_where_candidates_share_mistakes():
    X, truth = _clusters()
    rng = np.random.default_rng(1)
    right = _probas(truth)
    # two distinct candidates that share mistakes on a fifth of the rows (different wrong
    # rows for the rest), so the row-by-row consensus follows their shared mistakes
    shared = rng.choice(60, 12, replace=False)
    noisy = []
    for seed in (2, 3):
        labels = truth.copy()
        labels[shared] = (truth[shared] + 1) % 3
        own = np.random.default_rng(seed).choice(np.setdiff1d(np.arange(60), shared), 6, False)
        labels[own] = (truth[own] + 2) % 3
        noisy.append(_probas(labels, confidence=0.95))
    pool = [right, *noisy, None]
    dedup = DedupEnsembleValidator().score_pool(pool)
    graph = GraphEnsembleValidator().score_pool(pool, X_target=X)
    assert np.argmax(dedup[:3]) != 0  # the consensus keeps the shared mistakes
    assert np.argmax(graph[:3]) == 0 and graph[0] > 0.95  # the clusters overrule them
    assert np.isnan(graph[3])
    assert np.isnan(GraphEnsembleValidator().score_pool([None, None], X_target=X)).all()
    # alpha = 0 is the de-duplicated consensus itself
    assert GraphEnsembleValidator(alpha=0.0).score_pool(pool, X_target=X) == pytest.approx(
        dedup, nan_ok=True
    )


def test_propagating_each_candidate_removes_the_advantage_of_smooth_predictions():
    """A smooth candidate, wrong on the whole of a small cluster, against one whose mistakes are
    isolated unsure rows: row by row the smooth one agrees more with the propagated consensus;
    propagated too, the isolated mistakes vanish and the other one ranks first."""
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=5.0, size=(4, 5))
    cluster = np.repeat(np.arange(4), [20, 20, 20, 8])
    X = centres[cluster] + rng.normal(size=(68, 5)) + 50.0
    truth = np.minimum(cluster, 2)  # the small fourth cluster is class 2 as well
    smooth = np.where(cluster == 3, 1, truth)  # 8 of 68 rows wrong, all in one cluster
    isolated = np.array([0, 7, 14, 20, 27, 34, 40, 47, 54])  # 3 rows in each large cluster
    unsure = _probas(truth)
    unsure[isolated] = 0.25
    unsure[isolated, truth[isolated]] = 0.35
    unsure[isolated, (truth[isolated] + 1) % 3] = 0.4  # 9 of 68 wrong, without confidence
    pool = [_probas(truth), _probas(smooth, confidence=0.95), unsure]
    plain = GraphEnsembleValidator(
        threshold=1.0, n_neighbors=5, propagate_candidates=False
    ).score_pool(pool, X_target=X)
    propagated = GraphEnsembleValidator(
        threshold=1.0, n_neighbors=5, propagate_candidates=True
    ).score_pool(pool, X_target=X)
    assert plain == pytest.approx([1.0, 60 / 68, 59 / 68])
    assert propagated == pytest.approx([1.0, 60 / 68, 1.0])
    with pytest.raises(InvalidParameterError, match="propagate_candidates"):
        GraphEnsembleValidator(propagate_candidates="yes").score_pool(pool, X_target=X)


def test_large_targets_are_subsampled_and_bad_input_is_refused():
    X, truth = _clusters(n_per=40)
    pool = [_probas(truth), _probas((truth + 1) % 3, confidence=0.6)]
    full = GraphEnsembleValidator().score_pool(pool, X_target=X)
    sub = GraphEnsembleValidator(max_rows=50).score_pool(pool, X_target=X)
    assert full == [1.0, 0.0] and sub == [1.0, 0.0]
    assert GraphEnsembleValidator(max_rows=50).score_pool(
        pool, X_target=sp.csr_matrix(X)
    ) == pytest.approx(sub)
    with pytest.raises(InvalidParameterError, match="needs the target's features"):
        GraphEnsembleValidator().score_pool(pool)
    with pytest.raises(InvalidParameterError, match="120 rows but X_target has 119"):
        GraphEnsembleValidator().score_pool(pool, X_target=X[:-1])
    with pytest.raises(InvalidParameterError, match="alpha"):
        GraphEnsembleValidator(alpha=1.0).score_pool(pool, X_target=X)
    with pytest.raises(InvalidParameterError, match="n_neighbors"):
        GraphEnsembleValidator(n_neighbors=0).score_pool(pool, X_target=X)
    with pytest.raises(NotApplicableError, match="at least 2 target rows"):
        GraphEnsembleValidator().score_pool([_probas([0])], X_target=X[:1])
    guarded = make_validator("guarded_ensv_graph")
    assert guarded.name == "guarded_ensv_graph" and guarded.pool and guarded.uses_target_features
    dedup = SourceGuardedValidator(DedupEnsembleValidator())
    assert dedup.name == "guarded_ensv_dedup" and dedup.pool and not dedup.uses_target_features


def test_images_on_disk_fall_back_to_the_dedup_consensus(tmp_path):
    from PIL import Image

    from transferkit.alignment import CORAL
    from transferkit.problem import ImageCollection

    rng = np.random.default_rng(0)
    paths = []
    for i in range(6):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(paths[-1])
    images = ImageCollection(paths)
    pool = [_probas([0, 1, 2, 0, 1, 2]), _probas([0, 0, 2, 0, 1, 1]), None]
    with pytest.warns(UserWarning, match="no neighbour graph"):
        scores = GraphEnsembleValidator().score_pool(pool, X_target=images)
    assert scores == pytest.approx(DedupEnsembleValidator().score_pool(pool), nan_ok=True)
    with pytest.warns(UserWarning, match="no neighbour graph"):
        GraphEnsembleValidator().score_pool(pool, X_target=np.array(list("abcdef"), dtype=object))
    # image arrays in memory are numeric: their pixels make the graph
    pixels = np.stack([images[i] for i in range(6)])
    assert np.isfinite(
        GraphEnsembleValidator(n_neighbors=2).score_pool(pool, X_target=pixels)[:2]
    ).all()
    # a shallow method says that it needs features
    problem = TransferProblem(images, np.array([0, 1, 2, 0, 1, 2]), images)
    with pytest.raises(NotApplicableError, match="CORAL works on feature matrices"):
        CORAL().fit(problem)


# --------------------------------------------------------------------------- source guard
class _ClusterRule(ClassifierMixin, BaseEstimator):
    """Labels rows by the side of a nuisance feature with two far-apart clusters."""

    def fit(self, X, y=None):
        self.classes_ = np.array([0, 1])
        return self

    def predict(self, X):
        return (np.asarray(X)[:, 1] > 0).astype(int)

    def predict_proba(self, X):
        return np.eye(2)[self.predict(X)]


def test_source_guard_keeps_mixval_from_picking_clean_clusters_with_wrong_classes():
    """MixVal rewards the nuisance clusters (near 1.0); the guard rules them out on source."""
    rng = np.random.default_rng(0)

    def rows(n, shift):
        informative = rng.normal(shift, 1.0, n)
        nuisance = rng.choice([-5.0, 5.0], n) + rng.normal(0, 0.3, n)
        return np.c_[informative, nuisance], (informative > shift).astype(int)

    (Xs, ys), (Xt, yt) = rows(400, 0.0), rows(400, 0.5)
    problem = TransferProblem(Xs, ys, Xt, yt)
    candidates = [_ClusterRule(), "source_only"]
    search = DomainAwareSearchCV(
        candidates,
        scoring=["mixval", SourceGuardedValidator("mixval")],
        refit="guarded_mixval",
        cv=2,
    ).fit(problem)
    results = search.cv_results_
    assert results["mean_mixval"][0] > max(0.98, results["mean_mixval"][1])
    assert results["guard_source_accuracy"][0] < 0.6 < 0.9 < results["guard_source_accuracy"][1]
    assert not np.isfinite(results["mean_guarded_mixval"][0])
    assert results["mean_guarded_mixval"][1] == results["mean_mixval"][1]
    assert search.best_index_ == 1
    # a tolerance wide enough lets the clusters through the guard again...
    loose = DomainAwareSearchCV(
        candidates, scoring=SourceGuardedValidator(tolerance=1.0), cv=2, safety=None
    ).fit(problem)
    assert loose.best_index_ == 0
    # ...but not through the safety floor, which compares them with source-only
    floored = DomainAwareSearchCV(
        candidates, scoring=SourceGuardedValidator(tolerance=1.0), cv=2
    ).fit(problem)
    assert floored.best_index_ == 1 and floored.safety_["kept_source_only"]


def test_source_guard_refuses_what_it_cannot_do():
    problem = make_rotated_moons(n_samples=120, angle=35, random_state=0)
    with pytest.raises(InvalidParameterError, match="tolerance"):
        DomainAwareSearchCV({"coral": {}}, scoring=SourceGuardedValidator(tolerance=5)).fit(problem)
    with pytest.raises(InvalidParameterError, match="not itself guarded"):
        DomainAwareSearchCV(
            {"coral": {}}, scoring=SourceGuardedValidator(SourceGuardedValidator())
        ).fit(problem)
    with pytest.raises(InvalidParameterError, match="held-out source"):
        DomainAwareSearchCV({"coral": {}}, scoring=SourceGuardedValidator(), cv=None).fit(problem)
    with pytest.raises(NotApplicableError, match="DomainAwareSearchCV"):
        SourceGuardedValidator().score(None, None, None, None)
    assert SourceGuardedValidator().name == "guarded_mixval"  # MixVal is the default base
    with pytest.raises(InvalidParameterError, match="unknown base 'guarded_ensv_graph'"):
        SourceGuardedValidator("guarded_ensv_graph").check()
    assert SourceGuardedValidator("entropy").name == "guarded_entropy"


def test_source_guard_widens_its_tolerance_on_a_small_source():
    """With few held-out source rows a 5-point drop is noise: the guard widens to the 95 %
    interval of a difference of two accuracies, and keeps the fixed 5 points on a large source."""
    widened = SourceGuardedValidator("entropy")
    assert widened.confidence == 0.95  # the default
    # 1.96 * sqrt(2 * 0.75 * 0.25 / 157) = 0.0958: Office dslr as the source
    assert widened.tolerance_for(0.75, 157) == pytest.approx(0.0958, abs=5e-4)
    assert widened.tolerance_for(0.75, 2000) == 0.05
    assert widened.tolerance_for(0.75, None) == 0.05
    assert SourceGuardedValidator(confidence=None).tolerance_for(0.75, 157) == 0.05
    accuracy, scored = np.array([0.75, 0.68, 0.60]), np.ones(3, dtype=bool)
    assert widened.eligible(accuracy, scored, 157).tolist() == [True, True, False]
    assert widened.eligible(accuracy, scored, 2000).tolist() == [True, False, False]
    with pytest.raises(InvalidParameterError, match="confidence"):
        SourceGuardedValidator(confidence=1.5).check()

    problem = make_rotated_moons(n_samples=120, angle=35, random_state=0)
    candidates = {"coral": {"regularization": [0.01, 1.0, 100.0]}, "sa": {"n_components": [1]}}
    searches = {
        name: DomainAwareSearchCV(candidates, scoring=guard, cv=3, random_state=0).fit(problem)
        for name, guard in (
            ("fixed", SourceGuardedValidator("entropy", confidence=None)),
            ("wide", widened),
        )
    }
    wide = searches["wide"]
    report = wide.guards_["guarded_entropy"]
    assert report["held_out_source_rows"] == problem.n_source
    accuracy = np.asarray(wide.cv_results_["guard_source_accuracy"])
    kept = {
        name: np.isfinite(s.cv_results_["mean_guarded_entropy"]) for name, s in searches.items()
    }
    best = accuracy.max()
    assert (kept["wide"] == (accuracy >= best - widened.tolerance_for(best, 120))).all()
    assert report["tolerance"] == widened.tolerance_for(best, 120) > 0.05
    assert report["best_source_accuracy"] == best and report["kept"] == kept["wide"].sum()
    assert searches["fixed"].guards_["guarded_entropy"]["tolerance"] == 0.05
    # SA is 7.5 points below the CORALs on 120 rows: dropped at 5 points, kept at 9.4
    assert (kept["fixed"] <= kept["wide"]).all() and kept["wide"].sum() > kept["fixed"].sum()
