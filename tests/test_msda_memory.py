"""Bug 9: mSDA's memory is estimated up front, and a fit that would need too much says so."""

from __future__ import annotations

import logging
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from transferkit import invariant
from transferkit.exceptions import InvalidParameterError, MemoryCostWarning
from transferkit.invariant import MSDA, msda_fit, msda_memory_estimate, msda_transform
from transferkit.problem import TransferProblem


def _traced_peak(function):
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        result = function()
        return result, tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize(
    "n, d, n_layers, n_pivots, block_size",
    [(600, 400, 2, None, 400), (800, 300, 3, 300, 100), (2000, 200, 2, 100, 50)],
)
def test_the_estimate_follows_what_msda_allocates(sparse, n, d, n_layers, n_pivots, block_size):
    X = (np.random.default_rng(0).random((n, d)) > 0.9).astype(float)
    X = sp.csr_matrix(X) if sparse else X
    estimate = msda_memory_estimate(n, d, n_layers, n_pivots, block_size, True, sparse)
    layers, fit_peak = _traced_peak(
        lambda: msda_fit(X, n_layers=n_layers, n_pivots=n_pivots, block_size=block_size)
    )
    assert sum(W.nbytes for layer in layers for W in layer.weights) == estimate["model"]
    representation, transform_peak = _traced_peak(lambda: msda_transform(X, layers))
    # a model of the arrays, not an exact count: within a factor of two, and not below half
    assert 0.5 < fit_peak / estimate["fit"] < 1.5
    assert 0.7 < transform_peak / (n * estimate["transform_per_row"]) < 1.3
    stored = (
        representation.data.nbytes + representation.indices.nbytes
        if sparse
        else representation.nbytes
    )
    assert 0.9 < stored / (n * estimate["stored_per_row"]) < 1.3


def test_the_amazon_setting_is_estimated_in_gigabytes_and_the_advice_reduces_it():
    """The amazon-dann suite's msda_shallow_dann: 4,000 rows of 5,000 words, 5 layers."""
    amazon = msda_memory_estimate(4000, 5000, n_layers=5)
    per_row = amazon["stored_per_row"] + amazon["transform_per_row"]
    assert amazon["model"] == 8 * 5 * 5000 * 5001  # five 5,000 x (5,000 + 1) maps
    assert amazon["model"] + 4000 * per_row > 5e9
    assert amazon["stored_per_row"] == 12 * 5 * 5000  # 25,000 dense values a row, kept sparse
    narrower = msda_memory_estimate(4000, 5000, n_layers=5, n_pivots=1000)
    shallower = msda_memory_estimate(4000, 5000, n_layers=2)
    smaller_blocks = msda_memory_estimate(4000, 5000, n_layers=5, block_size=1000)
    assert narrower["stored_per_row"] == amazon["stored_per_row"] / 5
    assert narrower["fit"] < amazon["fit"]
    assert smaller_blocks["fit"] < amazon["fit"]
    assert shallower["transform_per_row"] == pytest.approx(amazon["transform_per_row"] * 2 / 5)


def _problem(n: int = 80, d: int = 30) -> TransferProblem:
    X = (np.random.default_rng(0).random((2 * n, d)) > 0.8).astype(float)
    return TransferProblem(X[:n], np.arange(n) % 2, X[n:])


def test_a_costly_fit_warns_and_logs_the_estimate_and_how_to_reduce_it(monkeypatch, caplog):
    monkeypatch.setattr(invariant, "MEMORY_WARNING_BYTES", 1e5)
    with caplog.at_level(logging.WARNING, logger="transferkit.invariant"):
        with pytest.warns(MemoryCostWarning) as record:
            MSDA(n_layers=2).fit(_problem())
    message = str(record[0].message)
    assert "MSDA on 160 rows x 30 features with n_layers=2" in message
    assert " GB" in message and "lower n_pivots" in message and "n_layers" in message
    assert record[0].filename == __file__  # points at the caller's fit
    assert message in caplog.text


def test_a_small_fit_stays_quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("error", MemoryCostWarning)
        MSDA(n_layers=2).fit(_problem())


@pytest.mark.parametrize("params", [{"n_layers": "3"}, {"n_pivots": 0}, {"block_size": 2.5}])
def test_bad_sizes_still_get_msdas_own_error(params):
    with pytest.raises(InvalidParameterError, match=r"^msda: .* must be a positive integer"):
        MSDA(**params).fit(_problem())
