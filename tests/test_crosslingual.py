"""Cross-lingual alignment on synthetic spaces: Procrustes, NN/CSLS, self-learning, GW, BLI, errors.

Synthetic "languages" are point clouds whose true translation is known (row i of one is row i of the
other), so each test checks a property of the method rather than a number of one draw.
"""

from __future__ import annotations

import numpy as np
import pytest

from transferkit.crosslingual import (
    BLITask,
    CrossLingualMap,
    evaluate_bli,
    fit_procrustes,
    gromov_wasserstein_dictionary,
    identical_spelling_pairs,
    induce_dictionary,
    mean_neighbor_similarity,
    mutual_nearest_neighbors,
    normalize_embeddings,
    pairs_to_indices,
    retrieve,
    robust_self_learning,
    run_bli,
    self_learning,
    similarity_distribution_features,
    unsupervised_dictionary,
)
from transferkit.datasets.wordvectors import WordVectors
from transferkit.exceptions import (
    EmptyDomainError,
    FeatureSpaceMismatchError,
    InvalidParameterError,
    NonFiniteDataError,
)


def random_orthogonal(rng: np.random.Generator, n: int, m: int | None = None) -> np.ndarray:
    """A random matrix with orthonormal columns (n x m, m <= n)."""
    Q, R = np.linalg.qr(rng.normal(size=(n, m or n)))
    return Q * np.sign(np.diag(R))


def identity_pairs(rows) -> np.ndarray:
    rows = np.asarray(rows)
    return np.stack([rows, rows], axis=1)


def two_languages(seed: int = 0, n: int = 600, d: int = 20, noise: float = 0.0):
    """Source X and target Y = X Q + noise: row i of Y translates row i of X."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    Q = random_orthogonal(rng, d)
    Y = X @ Q + noise * rng.normal(size=(n, d))
    return X.astype(np.float32), Y.astype(np.float32), Q


# ---------------------------------------------------------------- Procrustes


def test_procrustes_recovers_a_random_orthogonal_map_exactly():
    X, Y, Q = two_languages(seed=1, n=200, d=30)
    mapping = fit_procrustes(X, Y, identity_pairs(range(100)))
    np.testing.assert_allclose(mapping.matrix, Q, atol=1e-4)
    np.testing.assert_allclose(mapping.matrix.T @ mapping.matrix, np.eye(30), atol=1e-5)
    # Both maps send each pair to the same point of the shared space, unseen rows included.
    np.testing.assert_allclose(mapping.transform_source(X), mapping.transform_target(Y), atol=1e-3)


def test_procrustes_between_spaces_of_different_dimension_is_an_isometric_embedding():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 10)).astype(np.float32)
    W = random_orthogonal(rng, 40, 10).T  # 10 x 40 with orthonormal rows: an isometric embedding
    Y = (X @ W + 0.05 * rng.normal(size=(300, 40))).astype(np.float32)
    mapping = fit_procrustes(X, Y, identity_pairs(range(150)))
    assert mapping.source_map.shape == (10, 10) and mapping.target_map.shape == (40, 10)
    assert mapping.matrix.shape == (10, 40)
    np.testing.assert_allclose(mapping.matrix @ mapping.matrix.T, np.eye(10), atol=1e-5)
    np.testing.assert_allclose(mapping.matrix, W, atol=0.02)
    # Lengths (hence the source's geometry) are kept by the map.
    np.testing.assert_allclose(
        np.linalg.norm(X @ mapping.matrix, axis=1), np.linalg.norm(X, axis=1), rtol=1e-4
    )
    # The held-out rows find their translation in the shared space.
    test = identity_pairs(range(150, 300))
    shared = mapping.transform_source(X), mapping.transform_target(Y)
    assert evaluate_bli(*shared, test, ks=(1,))["P@1"] == 1.0


def test_rectangular_map_the_other_way_round_maps_target_into_the_smaller_space():
    rng = np.random.default_rng(3)
    Y_small = rng.normal(size=(200, 8)).astype(np.float32)
    W = random_orthogonal(rng, 24, 8).T
    X_big = (Y_small @ W).astype(np.float32)  # the source has more dimensions than the target
    mapping = fit_procrustes(X_big, Y_small, identity_pairs(range(100)))
    assert mapping.source_map.shape == (24, 8) and mapping.target_map.shape == (8, 8)
    np.testing.assert_allclose(mapping.matrix, W.T, atol=1e-4)


def test_normalize_embeddings_gives_unit_centred_rows():
    rng = np.random.default_rng(4)
    X = rng.normal(loc=3.0, size=(500, 6))
    Z = normalize_embeddings(X)
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1.0, atol=1e-5)
    # Centring removed the common offset (what is left is only the second normalisation's effect).
    assert np.abs(Z.mean(axis=0)).max() < 0.1 < np.abs(normalize_embeddings(X, False).mean(0)).max()


# ---------------------------------------------------------------- retrieval


def hubby_example(seed: int = 0, n: int = 200, d: int = 16):
    """Targets = the queries' translations, slightly noisy, plus one "hub" target near the centre
    of the queries: it is the cosine nearest neighbour of many queries although it translates none."""
    rng = np.random.default_rng(seed)
    queries = rng.normal(size=(n, d)) + 2.0  # a shared offset: every query leans the same way
    targets = queries + 1.6 * rng.normal(size=(n, d))
    hub = queries.mean(axis=0, keepdims=True)
    return queries, np.vstack([targets, hub]), identity_pairs(range(n))


def test_csls_beats_nearest_neighbour_on_a_hubby_example():
    queries, targets, gold = hubby_example()
    hub = targets.shape[0] - 1
    nn, _ = retrieve(queries, targets, k=1, method="nn")
    csls, _ = retrieve(queries, targets, k=1, method="csls")
    assert (nn[:, 0] == hub).mean() > 0.3  # the hub steals many queries under cosine
    assert (csls[:, 0] == hub).mean() < (nn[:, 0] == hub).mean() / 3
    nn_p1 = evaluate_bli(queries, targets, gold, ks=(1,), method="nn")["P@1"]
    csls_p1 = evaluate_bli(queries, targets, gold, ks=(1,), method="csls")["P@1"]
    assert csls_p1 > nn_p1 + 0.1


def test_blocked_retrieval_equals_the_full_computation():
    rng = np.random.default_rng(5)
    queries, targets = rng.normal(size=(70, 9)), rng.normal(size=(130, 9))
    qn = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    tn = targets / np.linalg.norm(targets, axis=1, keepdims=True)
    cosine = qn @ tn.T
    r_target = np.sort(cosine.T, axis=1)[:, -10:].mean(axis=1)
    r_query = np.sort(cosine, axis=1)[:, -10:].mean(axis=1)
    csls = 2 * cosine - r_target[None, :] - r_query[:, None]
    for method, full in (("nn", cosine), ("csls", csls)):
        indices, scores = retrieve(queries, targets, k=5, method=method, batch_size=16)
        np.testing.assert_array_equal(indices, np.argsort(-full, axis=1)[:, :5])
        np.testing.assert_allclose(scores, np.sort(full, axis=1)[:, ::-1][:, :5], atol=1e-5)
    np.testing.assert_allclose(
        mean_neighbor_similarity(queries, targets, k=10, batch_size=7), r_query, atol=1e-5
    )


def test_mutual_nearest_neighbours_keep_only_pairs_both_sides_agree_on():
    X = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
    Y = np.array([[1.0, 0.1], [0.1, 1.0]])
    pairs = mutual_nearest_neighbors(X, Y, method="nn")
    assert pairs.tolist() == [[0, 0], [1, 1]]  # row 2 of X has no partner that picks it back


# ---------------------------------------------------------------- self-learning and GW


def test_self_learning_improves_p_at_1_over_a_weak_seed():
    X, Y, _ = two_languages(seed=6, n=800, d=20, noise=0.5)
    X, Y = normalize_embeddings(X), normalize_embeddings(Y)
    rng = np.random.default_rng(6)
    seed = identity_pairs(rng.choice(np.arange(400), 25, replace=False))
    seed[:5, 1] = rng.choice(np.arange(400), 5)  # a fifth of the seed is wrong
    test = identity_pairs(range(400, 800))
    start = fit_procrustes(X, Y, seed)
    before = evaluate_bli(start.transform_source(X), start.transform_target(Y), test, ks=(1,))
    result = self_learning(X, Y, seed, max_vocab=400, max_iter=10, keep_seed=False)
    after = evaluate_bli(
        result.mapping.transform_source(X), result.mapping.transform_target(Y), test, ks=(1,)
    )
    assert after["P@1"] > before["P@1"] + 0.1
    assert result.converged and result.n_iter == len(result.history)
    assert result.history[-1] > len(seed)  # the dictionary grew


def test_gromov_wasserstein_recovers_a_permutation_of_isometric_clouds():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(60, 5))
    permutation = rng.permutation(60)
    Y = (X @ random_orthogonal(rng, 5))[permutation]  # row j of Y is row permutation[j] of X
    pairs = gromov_wasserstein_dictionary(X, Y, n_words=60, epsilon=5e-3, max_iter=300)
    assert len(pairs) >= 54  # nearly every word is matched mutually
    correct = np.mean(permutation[pairs[:, 1]] == pairs[:, 0])
    assert correct >= 0.95


def rotated_and_permuted(seed: int = 9, n: int = 400, d: int = 20, d_target: int = 30):
    """Source X (a decaying spectrum, like word vectors) and target Y: X embedded isometrically
    in ``d_target`` dims, rows shuffled, a little noise. Source row i is target row
    ``translation[i]``."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * np.linspace(3.0, 0.5, d)
    permutation = rng.permutation(n)
    Y = (X @ random_orthogonal(rng, d_target, d).T)[permutation]
    Y += 0.05 * rng.normal(size=Y.shape)
    return normalize_embeddings(X), normalize_embeddings(Y), np.argsort(permutation)


def test_similarity_distributions_ignore_rotation_and_dimension():
    X, Y, translation = rotated_and_permuted(n=200)
    source = similarity_distribution_features(X, n_words=200)
    target = similarity_distribution_features(Y, n_words=200)
    assert source.shape == target.shape == (200, 200)
    # A word and its translation have nearly the same sorted similarities, other words do not.
    matched = np.sum(source * target[translation], axis=1)
    assert np.median(matched) > 0.9
    assert np.median(source @ target.T) < 0.5


def test_unsupervised_start_recovers_a_rotated_and_permuted_space_without_a_dictionary():
    X, Y, translation = rotated_and_permuted()
    seed = unsupervised_dictionary(X, Y, n_words=400)
    assert np.mean(seed[:, 1] == translation[seed[:, 0]]) > 0.8
    result = robust_self_learning(X, Y, seed, max_vocab=400, patience=2, random_state=0)
    assert result.converged and result.objective is not None
    test = np.stack([np.arange(400), translation], axis=1)
    shared = result.mapping.transform_source(X), result.mapping.transform_target(Y)
    assert evaluate_bli(*shared, test, ks=(1,), method="csls")["P@1"] > 0.98
    # The baseline it beats: a map from a dictionary of random pairs finds almost nothing.
    rng = np.random.default_rng(0)
    chance = fit_procrustes(X, Y, np.stack([np.arange(400), rng.permutation(400)], axis=1))
    shuffled = chance.transform_source(X), chance.transform_target(Y)
    assert evaluate_bli(*shuffled, test, ks=(1,), method="csls")["P@1"] < 0.2


def test_robust_self_learning_is_reproducible_and_repairs_a_half_wrong_seed():
    X, Y, translation = rotated_and_permuted(seed=10, n=300, d=10, d_target=10)
    rng = np.random.default_rng(1)
    rows = rng.choice(300, 60, replace=False)
    seed = np.stack([rows, translation[rows]], axis=1)
    seed[:30, 1] = rng.choice(300, 30)  # half the seed is wrong
    test = np.stack([np.arange(300), translation], axis=1)
    start = fit_procrustes(X, Y, seed)
    before = evaluate_bli(start.transform_source(X), start.transform_target(Y), test, ks=(1,))
    first = robust_self_learning(X, Y, seed, patience=1, random_state=3)
    again = robust_self_learning(X, Y, seed, patience=1, random_state=3)
    np.testing.assert_array_equal(first.pairs, again.pairs)
    shared = first.mapping.transform_source(X), first.mapping.transform_target(Y)
    after = evaluate_bli(*shared, test, ks=(1,))
    assert after["P@1"] > max(0.95, before["P@1"] + 0.2)
    assert first.history == again.history and len(first.history) == first.n_iter


def synthetic_task(shared_spellings: int) -> tuple[BLITask, np.ndarray]:
    X, Y, translation = rotated_and_permuted(n=300)
    source_words = [f"en{i}" for i in range(300)]
    target_words = [f"fr{j}" for j in range(300)]
    for i in range(shared_spellings):  # a few words spelled alike, as names are
        target_words[translation[i]] = source_words[i]
    test = np.stack([np.arange(100, 300), translation[100:]], axis=1)
    words = [(source_words[i], target_words[j]) for i, j in test]
    task = BLITask(
        WordVectors(source_words, X, "en"),
        WordVectors(target_words, Y, "fr"),
        X,
        Y,
        np.zeros((0, 2), dtype=np.int64),
        test,
        [],
        words,
        vocab=300,
        source_language=None,
        target_language=None,
        seed=0,
        dictionary="none",
    )
    return task, translation


@pytest.mark.parametrize("method", ["unsupervised", "identical"])
def test_run_bli_fits_the_dictionary_free_methods_by_name(method):
    task, _ = synthetic_task(shared_spellings=20)
    result = run_bli(task, method, init_words=300, ks=(1,))
    assert result.scores["csls"]["P@1"] > 0.95
    assert result.to_dict()["supervision"] in ("unsupervised", "no dictionary")


def test_identical_spellings_give_the_shared_words_or_a_clear_error():
    task, translation = synthetic_task(shared_spellings=5)
    pairs = identical_spelling_pairs(task)
    assert pairs.tolist() == [[i, int(translation[i])] for i in range(5)]
    bare, _ = synthetic_task(shared_spellings=0)
    with pytest.raises(EmptyDomainError, match="spelled the same.*method 'unsupervised'"):
        identical_spelling_pairs(bare)


def test_unsupervised_pieces_name_bad_input():
    X, Y, _ = rotated_and_permuted(n=50)
    with pytest.raises(InvalidParameterError, match="n_words must be an integer >= 2"):
        unsupervised_dictionary(X, Y, n_words=1)
    with pytest.raises(InvalidParameterError, match="2-d array"):
        unsupervised_dictionary(X[0], Y)
    with pytest.raises(NonFiniteDataError, match="NaN"):
        similarity_distribution_features(np.full((5, 3), np.nan))
    with pytest.raises(FeatureSpaceMismatchError, match="20 dimensions but target embeddings 30"):
        induce_dictionary(X, Y)
    with pytest.raises(InvalidParameterError, match="keep must be a probability"):
        induce_dictionary(X, X, keep=0)
    with pytest.raises(EmptyDomainError, match="seed dictionary has no pair"):
        robust_self_learning(X, Y, np.zeros((0, 2), dtype=int))
    with pytest.raises(InvalidParameterError, match="initial_keep must be a probability"):
        robust_self_learning(X, Y, identity_pairs(range(5)), initial_keep=1.5)
    with pytest.raises(InvalidParameterError, match="patience must be an integer"):
        robust_self_learning(X, Y, identity_pairs(range(5)), patience=0)


# ---------------------------------------------------------------- BLI


def test_bli_counts_a_hit_when_any_gold_translation_is_retrieved():
    X = np.array([[1.0, 0.0], [0.0, 1.0]])
    Y = np.array([[1.0, 0.05], [0.0, 1.0], [0.95, 0.3]])
    # Word 0 has two translations (its nearest target is one); word 1's only one is its second.
    gold = np.array([[0, 2], [0, 0], [1, 2]])
    result = evaluate_bli(X, Y, gold, ks=(1, 2))
    assert result == {"P@1": 0.5, "P@2": 1.0, "n_queries": 2}


def test_bli_search_vocabulary_is_cut_at_max_vocab():
    X, Y, _ = two_languages(seed=8, n=50, d=6)
    mapping = fit_procrustes(X, Y, identity_pairs(range(50)))
    shared = mapping.transform_source(X), mapping.transform_target(Y)
    test = identity_pairs(range(40, 50))
    assert evaluate_bli(*shared, test, ks=(1,))["P@1"] == 1.0
    assert evaluate_bli(*shared, test, ks=(1,), max_vocab=40)["P@1"] == 0.0


def test_pairs_to_indices_keeps_pairs_in_both_vocabularies():
    pairs = [("cat", "chat"), ("dog", "chien"), ("cat", "minou"), ("sun", "soleil")]
    rows = pairs_to_indices(pairs, ["dog", "cat", "cat"], ["chien", "chat", "soleil"])
    assert rows.tolist() == [[0, 0], [1, 1]]


# ---------------------------------------------------------------- bad input


def test_mismatched_dimensions_without_a_map_raise_our_error():
    with pytest.raises(FeatureSpaceMismatchError, match="50 dimensions but targets 300"):
        retrieve(np.ones((3, 50)), np.ones((4, 300)))
    with pytest.raises(FeatureSpaceMismatchError, match="fit_procrustes"):
        evaluate_bli(np.ones((3, 50)), np.ones((4, 300)), np.array([[0, 0]]))


def test_a_dictionary_with_no_pair_in_the_vocabulary_raises_our_error():
    with pytest.raises(EmptyDomainError, match="None of the 2 dictionary pairs"):
        pairs_to_indices([("cat", "chat"), ("dog", "chien")], ["sun"], ["soleil"])
    X, Y, _ = two_languages(n=10, d=3)
    with pytest.raises(EmptyDomainError, match="seed dictionary has no pair"):
        fit_procrustes(X, Y, np.zeros((0, 2), dtype=int))


def test_empty_vocabularies_raise_our_error():
    with pytest.raises(EmptyDomainError, match="source vocabulary is empty"):
        pairs_to_indices([("cat", "chat")], [], ["chat"])
    with pytest.raises(EmptyDomainError, match="source embeddings has no rows"):
        fit_procrustes(np.zeros((0, 3)), np.ones((2, 3)), np.array([[0, 0]]))
    with pytest.raises(EmptyDomainError, match="targets has no rows"):
        retrieve(np.ones((2, 3)), np.zeros((0, 3)))


def test_other_bad_inputs_name_the_problem():
    X, Y, _ = two_languages(n=10, d=3)
    with pytest.raises(InvalidParameterError, match="names source row 10"):
        fit_procrustes(X, Y, np.array([[10, 0]]))
    with pytest.raises(InvalidParameterError, match="integer array of shape"):
        fit_procrustes(X, Y, np.array([[0.5, 1.0]]))
    with pytest.raises(InvalidParameterError, match="method must be one of"):
        retrieve(X, Y, method="cosine")
    with pytest.raises(NonFiniteDataError, match="NaN"):
        retrieve(np.full((2, 3), np.nan), Y)
    assert isinstance(fit_procrustes(X, Y, identity_pairs([0, 1, 2])), CrossLingualMap)
