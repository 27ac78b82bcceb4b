"""Reading a fitted model: probabilities, labels and representation of either domain's rows."""

import numpy as np
import pytest
from sklearn.linear_model import RidgeClassifier
from sklearn.svm import LinearSVC

from transferkit.problem import SOURCE, TARGET
from transferkit.selection import (
    RegisteredMethod,
    predict_proba_rows,
    predict_rows,
    representation,
)
from transferkit.selection.access import count_rows, model_classes, softmax, unwrap_method


def test_source_rows_go_through_the_source_mapping(moons):
    problem, val, models, _ = moons
    ot = models["ot"]
    Xv = problem.X_source[val]
    mapped = ot.adapter_.transform(Xv, np.zeros(len(val), int))
    assert np.array_equal(predict_rows(ot, Xv, SOURCE), ot.estimator_.predict(mapped))
    assert np.allclose(predict_proba_rows(ot, Xv, SOURCE), ot.estimator_.predict_proba(mapped))
    # target rows go through the target mapping, which the model's own predict uses
    assert np.array_equal(predict_rows(ot, problem.X_target, TARGET), ot.predict(problem.X_target))
    assert representation(ot, Xv, SOURCE).shape == Xv.shape
    assert representation(models["source_only"], Xv, SOURCE) is Xv


def test_probabilities_of_models_without_predict_proba():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 3)), np.arange(60) % 3
    ridge = RidgeClassifier().fit(X, y)  # decision_function only: its softmax
    proba = predict_proba_rows(ridge, X, TARGET)
    assert proba.shape == (60, 3) and np.allclose(proba.sum(axis=1), 1.0)
    assert np.array_equal(proba.argmax(axis=1), ridge.predict(X))
    binary = LinearSVC().fit(X, y % 2)  # one decision value per row: two columns
    proba = predict_proba_rows(binary, X, TARGET)
    assert proba.shape == (60, 2)
    assert np.array_equal(binary.classes_[proba.argmax(axis=1)], binary.predict(X))


def test_wrapped_methods_are_unwrapped():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 2))
    y = np.where(np.arange(80) < 40, (X[:, 0] > 0).astype(int), -1)
    domain = (np.arange(80) >= 40).astype(int)
    wrapped = RegisteredMethod("coral", random_state=0).fit(X, y, domain=domain)
    assert unwrap_method(wrapped) is wrapped.method_
    assert model_classes(unwrap_method(wrapped)).tolist() == [0, 1]
    assert model_classes(object()).size == 0
    assert np.array_equal(
        predict_rows(wrapped, X[:40], SOURCE), predict_rows(wrapped.method_, X[:40], SOURCE)
    )


def test_softmax_and_row_counts():
    scores = np.array([[1000.0, 1000.0], [0.0, np.log(3.0)]])  # large scores do not overflow
    assert softmax(scores) == pytest.approx(np.array([[0.5, 0.5], [0.25, 0.75]]))
    assert count_rows(np.zeros((4, 2))) == 4 and count_rows([[1], [2]]) == 2
