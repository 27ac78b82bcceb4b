"""TransferProblem: the one description of a transfer problem, and every bad input it refuses."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from transferkit.exceptions import (
    EmptyDomainError,
    FeatureSpaceMismatchError,
    InvalidProblemError,
    LabelTypeError,
    NonFiniteDataError,
    SingleClassError,
    TargetMaskError,
)
from transferkit.problem import (
    UNLABELED,
    ImageCollection,
    NoTargetWarning,
    TransferProblem,
    UnseenClassWarning,
    as_problem,
)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _problem(rng, **overrides):
    arguments = dict(
        X_source=rng.normal(size=(30, 4)),
        y_source=np.arange(30) % 3,
        X_target=rng.normal(1.0, size=(20, 4)),
        y_target=np.arange(20) % 3,
    )
    arguments.update(overrides)
    return TransferProblem(**arguments)


def test_dense_problem_describes_both_domains(rng):
    problem = _problem(rng, feature_names=list("abcd"))
    assert (problem.n_source, problem.n_target, problem.n_features) == (30, 20, 4)
    assert problem.n_target_labeled == 0
    assert problem.target_classes is None
    assert list(problem.classes) == [0, 1, 2]
    assert problem.feature_names == ["a", "b", "c", "d"]
    X_eval, y_eval = problem.evaluation_split()  # transductive: the target itself
    assert X_eval is problem.X_target and len(y_eval) == 20


def test_sparse_problem_stays_sparse(rng):
    X_source = sp.random(50, 100, density=0.05, random_state=0, format="csr")
    X_target = sp.random(40, 100, density=0.05, random_state=1, format="coo")
    problem = TransferProblem(X_source, np.arange(50) % 2, X_target)
    assert problem.is_sparse and sp.issparse(problem.X_target)
    X, y, domain = problem.stacked()
    assert sp.issparse(X) and X.shape == (90, 100)
    assert (y[50:] == UNLABELED).all() and (domain[50:] == 1).all()


def test_target_mask_reveals_only_marked_labels(rng):
    mask = np.zeros(20, dtype=bool)
    mask[:4] = True
    problem = _problem(rng, target_labeled=mask)
    X_labeled, y_labeled = problem.labeled_target()
    assert X_labeled.shape == (4, 4)
    np.testing.assert_array_equal(y_labeled, problem.y_target[:4])
    _, y, _ = problem.stacked()
    assert (y[30:34] >= 0).all() and (y[34:] == UNLABELED).all()


def test_with_target_labels_and_subsample_source_are_seeded(rng):
    problem = _problem(rng)
    a = problem.with_target_labels(2, random_state=1)
    b = problem.with_target_labels(2, random_state=1)
    assert a.n_target_labeled == 6
    np.testing.assert_array_equal(a.target_labeled, b.target_labeled)
    small = problem.subsample_source(5, random_state=0)
    assert small.n_source == 15
    assert np.bincount(small.y_source).tolist() == [5, 5, 5]


def test_string_labels_survive_the_stacked_form(rng):
    # it used to code them to 0, 1, 2, so a model fitted on the stacked form predicted codes
    problem = TransferProblem(
        rng.normal(size=(6, 2)), np.array(list("aabbcc")), rng.normal(size=(3, 2))
    )
    X, y, domain = problem.stacked()
    assert y.tolist() == ["a", "a", "b", "b", "c", "c", UNLABELED, UNLABELED, UNLABELED]
    again = as_problem(X, y, domain)
    assert again.y_source.tolist() == list("aabbcc") and again.y_source.dtype.kind == "U"
    assert again.n_target == 3 and again.n_target_labeled == 0


def test_stacked_form_keeps_integer_labels_and_visible_target_labels(rng):
    problem = _problem(rng, y_source=np.arange(30) % 3 + 5, y_target=np.arange(20) % 3 + 5)
    problem = problem.with_target_labels(1, random_state=0)
    _, y, domain = problem.stacked()
    assert y.dtype == np.int64 and set(y[:30]) == {5, 6, 7}
    visible = y[30:][problem.target_labeled]
    np.testing.assert_array_equal(visible, problem.y_target[problem.target_labeled])
    assert (y[30:][~problem.target_labeled] == UNLABELED).all()


def test_visible_target_label_minus_one_cannot_be_stacked(rng):
    labels = np.where(np.arange(30) % 2 == 0, -1, 1)
    problem = _problem(rng, y_source=labels, y_target=labels[:20], target_labeled=[True] * 20)
    with pytest.raises(InvalidProblemError, match="recode the labels"):
        problem.stacked()


def test_domain_is_inferred_from_unlabelled_rows(rng):
    problem = _problem(rng, y_target=None)
    X, y, _ = problem.stacked()
    inferred = as_problem(X, y)
    assert inferred.n_source == 30 and inferred.n_target == 20
    np.testing.assert_array_equal(inferred.X_target, problem.X_target)
    strings = np.array(["cat", "dog"] * 15 + [UNLABELED] * 20, dtype=object)
    assert as_problem(X, strings).source_classes.tolist() == ["cat", "dog"]
    # no target row at all: the labelled rows stand in for the target, and it says so
    with pytest.warns(NoTargetWarning, match="no row of y is -1"):
        same = as_problem(X, np.arange(50) % 3)
    np.testing.assert_array_equal(same.X_target, X)
    assert same.n_source == 50 and same.n_target_labeled == 0
    with pytest.raises(InvalidProblemError, match="domain="):
        as_problem(X)


def test_map_features_drops_the_image_shape(rng):
    problem = _problem(rng, metadata={"image_shape": (2, 2), "dataset": "toy"})
    mapped = problem.map_features(lambda X: X[:, :3])
    assert mapped.n_features == 3
    assert "image_shape" not in mapped.metadata and mapped.metadata["dataset"] == "toy"
    assert problem.metadata["image_shape"] == (2, 2)  # the original is untouched


@pytest.mark.parametrize("shape", [(30, 4, 1), (30, 2, 2, 2), (30, 1, 4), (30, 2, 2, 3, 1)])
def test_arrays_that_are_not_images_must_be_2d(rng, shape):
    # (n, d, 1) used to be accepted and the shallow methods then failed with numpy's errors
    with pytest.raises(InvalidProblemError, match="expected \\(n_samples, n_features\\)"):
        _problem(rng, X_source=rng.normal(size=shape))


def test_image_arrays_are_accepted_and_refused_by_feature_methods(rng):
    from transferkit.alignment import CORAL
    from transferkit.exceptions import NotApplicableError

    images = rng.integers(0, 255, size=(30, 5, 5, 3)).astype(np.uint8)
    problem = _problem(rng, X_source=images, X_target=images[:20])
    assert problem.feature_shape == (5, 5, 3)
    with pytest.raises(NotApplicableError, match="images"):
        CORAL().fit(problem)


@pytest.mark.parametrize("where", ["X_source", "X_target"])
def test_values_whose_squares_overflow_are_refused(rng, where):
    # 1e200 used to reach CORAL/TCA and fail there with numpy's LinAlgError
    from transferkit.alignment import CORAL

    X = rng.normal(size=(30 if where == "X_source" else 20, 4))
    X[2, 1] = -1e200
    with pytest.raises(NonFiniteDataError, match=f"{where} holds values as large as 1e\\+200"):
        _problem(rng, **{where: X})
    # the limit sits where the squares overflow, not below ordinary large values
    problem = _problem(rng, X_source=rng.normal(size=(30, 4)) * 1e100)
    assert np.isfinite(CORAL().fit_transform(problem)).all()


def test_target_classes_the_source_never_saw_are_warned(rng):
    y_target = np.arange(20) % 5  # classes 3 and 4 are not in the source (0, 1, 2)
    with pytest.warns(UnseenClassWarning, match=r"y_target .* \[3, 4\] \(8 of 20 rows\)"):
        problem = _problem(rng, y_target=y_target)
    assert problem.source_classes.tolist() == [0, 1, 2]
    with pytest.warns(UnseenClassWarning, match="y_test"):
        _problem(rng, X_test=rng.normal(size=(4, 4)), y_test=np.array([0, 1, 2, 9]))
    # a class revealed through visible target labels can be learned: no warning
    mask = y_target >= 3
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnseenClassWarning)
        _problem(rng, y_target=y_target, target_labeled=mask)
        _problem(rng)


def test_different_feature_counts_are_refused(rng):
    with pytest.raises(
        FeatureSpaceMismatchError, match="X_source has 4 features .* X_target has 5"
    ):
        _problem(rng, X_target=rng.normal(size=(20, 5)))
    with pytest.raises(FeatureSpaceMismatchError, match="X_test"):
        _problem(rng, X_test=rng.normal(size=(5, 3)), y_test=np.zeros(5, dtype=int))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_values_are_refused(rng, bad):
    X = rng.normal(size=(20, 4))
    X[3, 2] = bad
    with pytest.raises(NonFiniteDataError, match="X_target holds"):
        _problem(rng, X_target=X)


def test_non_finite_values_in_sparse_data_are_refused(rng):
    X = sp.random(30, 4, density=0.5, random_state=0, format="csr")
    X.data[0] = np.nan
    with pytest.raises(NonFiniteDataError, match="X_source"):
        TransferProblem(X, np.arange(30) % 2, rng.normal(size=(5, 4)))


def test_empty_domain_is_refused(rng):
    with pytest.raises(EmptyDomainError, match="target domain"):
        _problem(rng, X_target=np.empty((0, 4)), y_target=None)


def test_single_class_source_is_refused(rng):
    with pytest.raises(SingleClassError, match="one class only"):
        _problem(rng, y_source=np.ones(30, dtype=int))


def test_mismatched_label_types_are_refused(rng):
    with pytest.raises(LabelTypeError, match="integer labels but y_target holds string"):
        _problem(rng, y_target=np.array(["x"] * 20))
    with pytest.raises(LabelTypeError, match="non-integer floats"):
        _problem(rng, y_source=np.linspace(0, 1, 30))


def test_target_mask_of_wrong_length_is_refused(rng):
    with pytest.raises(TargetMaskError, match="X_target has 20 samples"):
        _problem(rng, target_labeled=np.ones(7, dtype=bool))
    with pytest.raises(TargetMaskError, match="y_target is missing"):
        _problem(rng, y_target=None, target_labeled=np.ones(20, dtype=bool))
    with pytest.raises(TargetMaskError, match="boolean"):
        _problem(rng, target_labeled=np.full(20, 2))


def test_labels_of_wrong_length_and_1d_data_are_refused(rng):
    with pytest.raises(InvalidProblemError, match="y_source has 10 labels"):
        _problem(rng, y_source=np.arange(10) % 2)
    with pytest.raises(InvalidProblemError, match="1-D"):
        _problem(rng, X_source=np.arange(30.0))
    with pytest.raises(InvalidProblemError, match="numeric"):
        _problem(rng, X_source=np.array([["a"] * 4] * 30))


def test_stacked_form_round_trips(rng):
    problem = _problem(rng).with_target_labels(1, random_state=0)
    X, y, domain = problem.stacked()
    again = as_problem(X, y, domain)
    assert again.n_source == 30 and again.n_target == 20
    assert again.n_target_labeled == problem.n_target_labeled
    # without domain, the convention takes every labelled row (visible target ones too) as source
    inferred = as_problem(X, y)
    assert inferred.n_source == 30 + problem.n_target_labeled
    assert inferred.n_target == 20 - problem.n_target_labeled


def test_image_collection_loads_lazily(tmp_path, rng):
    from PIL import Image

    paths = []
    for i in range(4):
        path = tmp_path / f"{i}.png"
        Image.fromarray((rng.random((10, 12, 3)) * 255).astype(np.uint8)).save(path)
        paths.append(path)
    images = ImageCollection(paths)
    assert len(images) == 4 and images[0].shape == (10, 12, 3)
    assert images.to_array((8, 8)).shape == (4, 8, 8, 3)
    problem = TransferProblem(images, np.array([0, 1, 0, 1]), ImageCollection(paths[:2]))
    assert problem.is_images and problem.n_features is None
    with pytest.raises(FeatureSpaceMismatchError, match="images vs. arrays"):
        TransferProblem(images, np.array([0, 1, 0, 1]), rng.normal(size=(2, 3)))
