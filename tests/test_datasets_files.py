"""Users' files: every format round-trips, bad files raise DataFormatError naming the problem."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp
from sklearn.datasets import dump_svmlight_file

from transferkit.datasets import load_file, problem_from_files
from transferkit.exceptions import (
    DataFormatError,
    DatasetNotFoundError,
    FeatureSpaceMismatchError,
    InvalidParameterError,
)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = np.round(rng.normal(size=(30, 4)), 6)
    y = np.arange(30) % 3
    return X, y


def write_csv(path, X, y=None, names=None, label="label", delimiter=","):
    names = names or [f"f{i}" for i in range(X.shape[1])]
    header = list(names) + ([label] if y is not None else [])
    lines = [delimiter.join(header)]
    for i, row in enumerate(X):
        values = [repr(float(v)) for v in row] + ([str(y[i])] if y is not None else [])
        lines.append(delimiter.join(values))
    path.write_text("\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------------------- round trips
def test_npz_round_trip(tmp_path, data):
    X, y = data
    np.savez(tmp_path / "a.npz", X=X, y=y, feature_names=np.array(["a", "b", "c", "d"]))
    X2, y2, names = load_file(tmp_path / "a.npz")
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)
    assert names == ["a", "b", "c", "d"] and y2.dtype == np.int64
    np.savez(tmp_path / "b.npz", X=X)
    assert load_file(tmp_path / "b.npz")[1:] == (None, None)
    sp.save_npz(tmp_path / "sparse.npz", sp.csr_matrix(X))
    X3, y3, _ = load_file(tmp_path / "sparse.npz")
    assert sp.issparse(X3) and y3 is None
    np.testing.assert_array_equal(X3.toarray(), X)


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
@pytest.mark.parametrize("label", ["label", "y", "Label"])
def test_csv_round_trip(tmp_path, data, delimiter, label):
    X, y = data
    path = write_csv(
        tmp_path / "a.csv",
        X,
        y,
        names=["h", "w", "age", "income"],
        label=label,
        delimiter=delimiter,
    )
    X2, y2, names = load_file(path)
    np.testing.assert_allclose(X2, X)
    np.testing.assert_array_equal(y2, y)
    assert names == ["h", "w", "age", "income"]


def test_csv_label_column_anywhere_and_string_labels(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("label,x1,x2\ncat,1,2\ndog,3,4\ncat,5,6\n")
    X, y, names = load_file(path)
    assert names == ["x1", "x2"] and y.tolist() == ["cat", "dog", "cat"]
    np.testing.assert_array_equal(X, [[1, 2], [3, 4], [5, 6]])
    unlabelled = write_csv(tmp_path / "b.csv", np.ones((3, 2)))
    assert load_file(unlabelled)[1] is None


@pytest.mark.parametrize("suffix", [".svmlight", ".svm", ".libsvm"])
def test_svmlight_round_trip(tmp_path, data, suffix):
    X, y = data
    X = np.where(np.abs(X) > 0.5, X, 0.0)
    dump_svmlight_file(X, y, str(tmp_path / f"a{suffix}"), zero_based=True)
    X2, y2, names = load_file(tmp_path / f"a{suffix}")
    assert sp.issparse(X2) and names is None and y2.dtype == np.int64
    np.testing.assert_allclose(X2.toarray(), X)
    np.testing.assert_array_equal(y2, y)


def test_mat_round_trip(tmp_path, data):
    X, y = data
    scipy.io.savemat(tmp_path / "a.mat", {"X": X, "y": y.reshape(-1, 1)})
    X2, y2, names = load_file(tmp_path / "a.mat")
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)
    assert names is None
    # the Office-Caltech layout: fts and labels (as uint8, 1-based)
    scipy.io.savemat(
        tmp_path / "b.mat", {"fts": X.astype(np.uint8), "labels": (y + 1).astype(np.uint8)}
    )
    X3, y3, _ = load_file(tmp_path / "b.mat")
    assert X3.dtype == np.float64 and y3.tolist() == (y + 1).tolist()
    scipy.io.savemat(tmp_path / "c.mat", {"X": sp.csr_matrix(X)})
    X4, y4, _ = load_file(tmp_path / "c.mat")
    assert sp.issparse(X4) and y4 is None


# ---------------------------------------------------------------------------- bad files
@pytest.mark.parametrize(
    "name, content, match",
    [
        ("empty.csv", "", "empty file"),
        ("header.csv", "a,b,label\n", "only a header"),
        ("text.csv", "a,b,label\n1,x,0\n", "line 2, column 'b'.*'x', not a number"),
        ("hole.csv", "a,b,label\n1,2,0\n3,,1\n", "line 3, column 'b'.*empty"),
        ("ragged.csv", "a,b,label\n1,2,0\n3,4\n", "line 3: 2 values.*3 columns"),
        ("two.csv", "a,label,y\n1,0,0\n", "several label columns"),
        ("float.csv", "a,label\n1,0.5\n2,1\n", "non-integer"),
        ("nolabel.csv", "a,label\n1,0\n2,\n", "line 3: the label is empty"),
        ("bad.svmlight", "1 3:x\n", "not valid svmlight"),
        ("bad.npz", "not a zip", "not a readable .npz"),
        ("bad.mat", "not matlab", "not a readable MATLAB"),
        ("data.txt", "1,2\n", "unsupported extension '.txt'"),
    ],
)
def test_bad_files_raise_data_format_error_naming_them(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataFormatError, match=match) as caught:
        load_file(path)
    assert name in str(caught.value)


def test_bad_arrays_raise_data_format_error(tmp_path):
    np.savez(tmp_path / "nox.npz", features=np.ones((3, 2)))
    with pytest.raises(DataFormatError, match="no array named 'X'.*features"):
        load_file(tmp_path / "nox.npz")
    np.savez(tmp_path / "short.npz", X=np.ones((3, 2)), y=[0, 1])
    with pytest.raises(DataFormatError, match="2 labels for 3 samples"):
        load_file(tmp_path / "short.npz")
    np.savez(tmp_path / "names.npz", X=np.ones((3, 2)), feature_names=np.array(["a"]))
    with pytest.raises(DataFormatError, match="1 feature_names for 2 features"):
        load_file(tmp_path / "names.npz")
    np.savez(tmp_path / "strings.npz", X=np.array([["a", "b"]]))
    with pytest.raises(DataFormatError, match="numeric"):
        load_file(tmp_path / "strings.npz")
    np.savez(tmp_path / "objects.npz", X=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataFormatError, match="object arrays"):
        load_file(tmp_path / "objects.npz")
    scipy.io.savemat(tmp_path / "nofts.mat", {"features": np.ones((3, 2))})
    with pytest.raises(DataFormatError, match="'X' or 'fts'.*features"):
        load_file(tmp_path / "nofts.mat")
    with pytest.raises(DatasetNotFoundError, match="missing.csv"):
        load_file(tmp_path / "missing.csv")


# ---------------------------------------------------------------------------- problems
def test_problem_from_files_hides_target_labels(tmp_path, data):
    X, y = data
    write_csv(tmp_path / "source.csv", X, y)
    write_csv(tmp_path / "target.csv", X + 1, y)
    write_csv(tmp_path / "test.csv", X + 1, y)
    problem = problem_from_files(
        tmp_path / "source.csv", tmp_path / "target.csv", tmp_path / "test.csv"
    )
    assert (problem.source_name, problem.target_name, problem.name) == (
        "source",
        "target",
        "source->target",
    )
    assert problem.n_target_labeled == 0
    np.testing.assert_array_equal(problem.y_target, y)
    np.testing.assert_allclose(problem.X_test, X + 1)
    assert problem.feature_names == ["f0", "f1", "f2", "f3"]
    assert problem.metadata["files"]["test"].endswith("test.csv")
    _, stacked_y, domain = problem.stacked()
    assert (stacked_y[domain == 1] == -1).all()


def test_problem_from_files_reorders_named_columns(tmp_path, data):
    X, y = data
    write_csv(tmp_path / "source.csv", X, y, names=["a", "b", "c", "d"])
    write_csv(tmp_path / "target.csv", X[:, [3, 1, 0, 2]], names=["d", "b", "a", "c"])
    problem = problem_from_files(tmp_path / "source.csv", tmp_path / "target.csv", name="mine")
    np.testing.assert_allclose(problem.X_target, X)
    assert problem.name == "mine" and problem.y_target is None
    write_csv(tmp_path / "other.csv", X, names=["a", "b", "c", "e"])
    with pytest.raises(DataFormatError, match=r"missing: \['d'\], extra: \['e'\]"):
        problem_from_files(tmp_path / "source.csv", tmp_path / "other.csv")


def test_problem_from_svmlight_files_shares_the_feature_space(tmp_path):
    # the target uses fewer features and never feature 0: read alone it would look one-based
    X_source = sp.csr_matrix(np.array([[1.0, 0, 2, 0, 3], [0, 1.0, 0, 0, 0], [4.0, 0, 0, 5, 0]]))
    X_target = sp.csr_matrix(np.array([[0, 1.0, 2], [0, 3.0, 0]]))
    dump_svmlight_file(X_source, [0, 1, 0], str(tmp_path / "s.svmlight"), zero_based=True)
    dump_svmlight_file(X_target, [1, 0], str(tmp_path / "t.svm"), zero_based=True)
    problem = problem_from_files(tmp_path / "s.svmlight", tmp_path / "t.svm")
    assert problem.n_features == 5 and problem.is_sparse
    np.testing.assert_array_equal(problem.X_target.toarray()[:, :3], X_target.toarray())
    np.testing.assert_array_equal(problem.y_target, [1, 0])


def test_problem_from_files_needs_source_and_test_labels(tmp_path, data):
    X, y = data
    np.savez(tmp_path / "s.npz", X=X)
    np.savez(tmp_path / "t.npz", X=X)
    with pytest.raises(DataFormatError, match="s.npz: the source file has no labels"):
        problem_from_files(tmp_path / "s.npz", tmp_path / "t.npz")
    np.savez(tmp_path / "s.npz", X=X, y=y)
    with pytest.raises(DataFormatError, match="t.npz: the test file has no labels"):
        problem_from_files(tmp_path / "s.npz", tmp_path / "t.npz", tmp_path / "t.npz")
    np.savez(tmp_path / "narrow.npz", X=X[:, :2])
    with pytest.raises(FeatureSpaceMismatchError, match="--feature-spaces different"):
        problem_from_files(tmp_path / "s.npz", tmp_path / "narrow.npz")


def test_files_of_different_features_on_purpose_keep_their_own_columns(tmp_path, data):
    X, y = data
    write_csv(tmp_path / "source.csv", X, y, names=["a", "b", "c", "d"])
    write_csv(tmp_path / "target.csv", X[:, :2] * 10, y, names=["u", "v"])
    write_csv(tmp_path / "test.csv", X[:, [1, 0]], y, names=["v", "u"])
    with pytest.raises(DataFormatError, match="feature_spaces='different'"):
        problem_from_files(tmp_path / "source.csv", tmp_path / "target.csv")
    problem = problem_from_files(
        tmp_path / "source.csv",
        tmp_path / "target.csv",
        tmp_path / "test.csv",
        feature_spaces="different",
    )
    assert problem.heterogeneous and problem.feature_names is None
    assert (problem.n_source_features, problem.n_target_features) == (4, 2)
    np.testing.assert_allclose(problem.X_test, X[:, :2])  # put in the target's column order
    write_csv(tmp_path / "other.csv", X[:, :2], y, names=["u", "w"])
    with pytest.raises(DataFormatError, match="differ from the target's") as error:
        problem_from_files(
            tmp_path / "source.csv",
            tmp_path / "target.csv",
            tmp_path / "other.csv",
            feature_spaces="different",
        )
    assert "feature_spaces" not in str(error.value)  # the way out for the source only
    with pytest.raises(InvalidParameterError, match="feature_spaces must be one of same, diff"):
        problem_from_files(tmp_path / "source.csv", tmp_path / "target.csv", feature_spaces="x")


def test_svmlight_files_of_different_features_are_not_padded_to_one_width(tmp_path):
    rng = np.random.default_rng(0)
    dump_svmlight_file(rng.random((6, 7)), np.arange(6) % 2, str(tmp_path / "s.svm"))
    dump_svmlight_file(rng.random((5, 3)), np.arange(5) % 2, str(tmp_path / "t.svm"))
    dump_svmlight_file(rng.random((4, 3)), np.arange(4) % 2, str(tmp_path / "test.svm"))
    problem = problem_from_files(
        tmp_path / "s.svm", tmp_path / "t.svm", tmp_path / "test.svm", feature_spaces="different"
    )
    assert (problem.n_source_features, problem.n_target_features) == (7, 3)
    assert problem.X_test.shape == (4, 3)
