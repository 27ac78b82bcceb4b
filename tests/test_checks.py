"""The shared parameter and input checks of :mod:`transferkit.checks`."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from transferkit.checks import (
    check_choice,
    check_count,
    check_nonnegative,
    check_number,
    check_positive_int,
    check_probabilistic,
    densify,
    is_number,
)
from transferkit.exceptions import InvalidParameterError, NotApplicableError


def test_check_positive_int_returns_a_python_int_and_names_the_method():
    value = check_positive_int(np.int64(3), "n_components", "tca")
    assert value == 3 and type(value) is int
    for bad in (0, -1, 2.5, True, "3", None):
        with pytest.raises(InvalidParameterError, match=r"^tca: n_components=.* positive integer"):
            check_positive_int(bad, "n_components", "tca")


def test_check_nonnegative_bounds_and_strictness():
    assert check_nonnegative(0, "mu", "jda") == 0.0
    assert check_nonnegative(np.float32(0.5), "mu", "jda", strict=True) == 0.5
    with pytest.raises(InvalidParameterError, match="mu=0 must be a positive number"):
        check_nonnegative(0, "mu", "jda", strict=True)
    for bad in (-0.1, float("nan"), float("inf"), False, "1"):
        with pytest.raises(InvalidParameterError, match="must be a non-negative number"):
            check_nonnegative(bad, "mu", "jda")


def test_check_choice_lists_the_choices():
    assert check_choice("sigmoid", "nonlinearity", "msda", ("tanh", "sigmoid")) == "sigmoid"
    with pytest.raises(InvalidParameterError, match=r"use one of \('tanh', 'sigmoid'\)"):
        check_choice("relu", "nonlinearity", "msda", ("tanh", "sigmoid"))


def test_check_count_and_check_number_name_the_parameter_and_the_bounds():
    assert check_count(np.int32(2), "n_source", 2) == 2
    with pytest.raises(InvalidParameterError, match=r"^n_source must be an integer >= 2; got 1\.$"):
        check_count(1, "n_source", 2)
    with pytest.raises(InvalidParameterError, match="got True"):
        check_count(True, "n_test")
    assert check_number("0.5", "label_shift", 0.0, 1.0) == 0.5
    with pytest.raises(InvalidParameterError, match=r"label_shift must be a finite number in \[0"):
        check_number(1.5, "label_shift", low=0.0, high=1.0)
    with pytest.raises(InvalidParameterError, match="angle must be a number; got 'wide'"):
        check_number("wide", "angle")


def test_check_probabilistic_names_the_classifier_why_and_the_fix():
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    model = LogisticRegression()
    assert check_probabilistic(model, "ranking needs probabilities") is model
    with pytest.raises(
        NotApplicableError,
        match=r"LinearSVC has no predict_proba; ranking needs probabilities \(use Logistic",
    ):
        check_probabilistic(LinearSVC(), "ranking needs probabilities")
    with pytest.raises(NotApplicableError, match=r"\(use an SVC with probability=True\)"):
        check_probabilistic(LinearSVC(), "why", "use an SVC with probability=True")


def test_is_number():
    assert is_number(1) and is_number(np.float32(2.5)) and is_number(np.int8(-3))
    assert not any(is_number(v) for v in (float("nan"), float("inf"), "1", None, [1.0]))


def test_densify_warns_only_for_sparse():
    X = np.random.default_rng(0).normal(size=(150, 4))
    with pytest.warns(UserWarning, match=r"converts the sparse 150x4 input .*takes 0 MB"):
        out = densify(sp.csr_matrix(X), "CORAL", "the output is dense")
    np.testing.assert_array_equal(out, X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dense = densify(X.astype(np.float32), "CORAL", "unused")
    assert dense.dtype == np.float64
    np.testing.assert_allclose(dense, X, rtol=1e-6)
