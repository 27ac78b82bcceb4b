"""Deep methods and the training loop on a small shifted problem (seconds, CPU)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.base import clone  # noqa: E402

from transferkit.deep.methods import (  # noqa: E402
    ADDA,
    DAN,
    DANN,
    DDC,
    DeepCORAL,
    DeepSourceOnly,
    DeepTargetOracle,
    DomainConfusion,
)
from transferkit.deep.training import TqdmProgress, resolve_device  # noqa: E402
from transferkit.exceptions import InvalidParameterError, NotApplicableError  # noqa: E402
from transferkit.problem import TransferProblem  # noqa: E402
from transferkit.registry import available_methods, make_method  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


FAST = {"epochs": 20, "hidden_dim": 32, "learning_rate": 1e-2, "patience": None}


def _accuracy(model, problem):
    return float(np.mean(model.predict(problem.X_test) == problem.y_test))


@pytest.fixture(scope="module")
def problem(nuisance_problem):
    return nuisance_problem()


@pytest.fixture(scope="module")
def source_only_accuracy(problem):
    return np.mean(
        [_accuracy(DeepSourceOnly(random_state=s, **FAST).fit(problem), problem) for s in (0, 1)]
    )


@pytest.mark.parametrize("method", [DDC, DAN, DANN, DomainConfusion])
def test_adaptation_beats_source_only_on_a_shifted_problem(method, problem, source_only_accuracy):
    adapted = np.mean(
        [_accuracy(method(random_state=s, **FAST).fit(problem), problem) for s in (0, 1)]
    )
    assert source_only_accuracy < 0.72
    assert adapted > source_only_accuracy + 0.12


def test_deep_coral_beats_source_only(problem, source_only_accuracy):
    adapted = np.mean(
        [_accuracy(DeepCORAL(random_state=s, **FAST).fit(problem), problem) for s in (0, 1)]
    )
    assert adapted > source_only_accuracy + 0.03


def test_adda_trains_a_separate_target_encoder(problem):
    model = ADDA(random_state=0, **{**FAST, "epochs": 8}).fit(problem)
    assert model.encoder_ is not model.source_encoder_
    # the source encoder is untouched by the adversarial stage; the target one has moved
    source_weights = next(model.source_encoder_.parameters())
    target_weights = next(model.encoder_.parameters())
    assert not torch.allclose(source_weights, target_weights)
    Z_source = model.transform(problem.X_source, domain=0)
    with torch.no_grad():
        expected = model.source_encoder_(model.input_encoder_(problem.X_source)).numpy()
    assert np.allclose(Z_source, expected, atol=1e-5)
    assert model.history_.epochs[-1]["domain_accuracy"] >= 0
    assert _accuracy(model, problem) > 0.55


def _translated_problem(seed, n=300, shift=2.5, d=4):
    """Three Gaussian classes; the target is the source moved by ``shift`` along x0 and x1 -- a
    shift a target encoder can undo, ADDA's setting (one encoder per domain)."""
    rng = np.random.default_rng(seed)
    centres = np.c_[np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]]), np.zeros((3, d - 2))]
    offset = np.r_[shift, shift, np.zeros(d - 2)]

    def draw(move):
        y = rng.integers(0, 3, n)
        return centres[y] + 0.7 * rng.normal(size=(n, d)) + move, y

    (Xs, ys), (Xt, yt), (Xe, ye) = draw(0.0), draw(offset), draw(offset)
    return TransferProblem(Xs, ys, Xt, y_target=yt, X_test=Xe, y_test=ye)


def test_adda_beats_its_source_only_stage_on_a_translated_target():
    """Stage 1 of ADDA *is* source-only training; the adversarial stage must improve on it."""
    settings = {
        **FAST,
        "epochs": 10,
        "loss_params": {"mapping_lr_factor": 1.0, "hidden": (64, 64)},
    }
    gains = []
    for seed in (0, 1):
        problem = _translated_problem(seed)
        model = ADDA(random_state=seed, **settings).fit(problem)
        features = torch.as_tensor(model.transform(problem.X_test, domain=0), dtype=torch.float32)
        with torch.no_grad():
            source_only = model.classes_[model.classifier_(features).argmax(1).numpy()]
        gains.append(_accuracy(model, problem) - np.mean(source_only == problem.y_test))
    assert np.mean(gains) > 0.05


def test_estimator_interface(problem):
    model = DANN(random_state=0, **{**FAST, "epochs": 3})
    assert clone(model).get_params() == model.get_params()
    model.fit(problem)
    proba = model.predict_proba(problem.X_test)
    assert proba.shape == (len(problem.y_test), 2)
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert set(model.predict(problem.X_test)) <= {0, 1}
    assert model.transform(problem.X_test).shape == (len(problem.y_test), 32)
    # the stacked calling convention gives the same network as fit(problem)
    X, y, domain = problem.stacked()
    stacked = DANN(random_state=0, **{**FAST, "epochs": 3}).fit(X, y, domain=domain)
    assert np.allclose(stacked.predict_proba(problem.X_test), proba, atol=1e-5)


def test_seeds_make_runs_reproducible(problem):
    a = DAN(random_state=3, **{**FAST, "epochs": 3}).fit(problem).predict_proba(problem.X_test)
    b = DAN(random_state=3, **{**FAST, "epochs": 3}).fit(problem).predict_proba(problem.X_test)
    assert np.array_equal(a, b)


def test_interrupted_run_resumes_from_its_checkpoint(problem, tmp_path, interrupt_after):
    params = {**FAST, "epochs": 6, "random_state": 0}
    reference = DANN(**params).fit(problem).predict_proba(problem.X_test)

    with pytest.raises(interrupt_after.Interrupted):
        DANN(**params, checkpoint=tmp_path, progress=interrupt_after(3)).fit(problem)
    assert (tmp_path / "train.pt").exists()
    resumed = DANN(**params, checkpoint=tmp_path).fit(problem)
    assert resumed.history_.resumed_from == 3
    assert np.allclose(resumed.predict_proba(problem.X_test), reference, atol=1e-5)
    # a finished run is not trained again
    again = DANN(**params, checkpoint=tmp_path).fit(problem)
    assert np.allclose(again.predict_proba(problem.X_test), reference, atol=1e-5)


def test_early_stopping_on_source_validation(problem):
    model = DeepSourceOnly(random_state=0, epochs=200, hidden_dim=16, patience=2).fit(problem)
    no_stop = DeepSourceOnly(random_state=0, epochs=4, hidden_dim=16, patience=0).fit(problem)
    assert no_stop.history_.n_epochs == 4 and not no_stop.history_.stopped_early
    assert model.history_.stopped_early
    assert model.history_.n_epochs < 200
    assert "validation" in model.history_.epochs[0]


def test_progress_bar_reports_every_step(problem):
    import io

    stream = io.StringIO()
    DeepSourceOnly(
        random_state=0, epochs=2, progress=TqdmProgress("test", file=stream, disable=False)
    ).fit(problem)
    assert "test" in stream.getvalue() and "100%" in stream.getvalue()


def test_oracle_scores_on_the_target_and_needs_its_labels(problem):
    oracle = DeepTargetOracle(random_state=0, **{**FAST, "epochs": 5})
    assert oracle.score_problem(problem) > 0.85
    unlabeled = TransferProblem(problem.X_source, problem.y_source, problem.X_target)
    with pytest.raises(NotApplicableError, match="y_target"):
        oracle.fit(unlabeled)


def test_bad_parameters_and_inputs_raise_our_errors(problem):
    with pytest.raises(InvalidParameterError, match="optimizer"):
        DANN(optimizer="lbfgs").fit(problem)
    with pytest.raises(NotApplicableError, match="image_shape"):
        DANN(network="lenet").fit(problem)
    with pytest.raises(InvalidParameterError, match="device"):
        resolve_device("quantum")
    assert resolve_device("auto").type in {"cpu", "cuda", "mps"}


def test_lenet_on_a_few_hundred_images():
    """Flattened 28x28 images with metadata['image_shape'] get the LeNet; bright blobs vs bars."""
    rng = np.random.default_rng(0)

    def images(n, brightness):
        y = rng.integers(0, 2, n)
        X = rng.random((n, 28, 28)) * 0.1
        X[y == 0, 10:18, 10:18] += brightness
        X[y == 1, :, 13:15] += brightness
        return np.clip(X, 0, 1).reshape(n, -1).astype(np.float32), y

    Xs, ys = images(200, 0.9)
    Xt, yt = images(200, 0.5)
    problem = TransferProblem(Xs, ys, Xt, y_target=yt, metadata={"image_shape": (28, 28)})
    model = DANN(random_state=0, epochs=3, patience=None).fit(problem)
    assert type(model.encoder_).__name__ == "LeNet"
    assert np.mean(model.predict(Xt) == yt) > 0.9


def test_deep_methods_are_registered():
    methods = available_methods()
    for name in (
        "deep_source_only",
        "ddc",
        "dan",
        "deep_coral",
        "dann",
        "domain_confusion",
        "adda",
        "deep_oracle",
    ):
        assert methods[name].deep and methods[name].family == "deep"
    # the methods registered in their own modules (finetune, sda, shallow DANN) are found too
    deep = {name for name, spec in methods.items() if spec.deep}
    assert {"finetune", "backbone_head", "sda", "shallow_dann", "msda_shallow_dann"} <= deep
    model = make_method("dann", {"epochs": 2, "hidden_dim": 8}, random_state=1)
    assert isinstance(model, DANN)
    params = model.get_params()
    assert (params["epochs"], params["hidden_dim"], params["random_state"]) == (2, 8, 1)
    # every other parameter keeps the class's default
    defaults = DANN().get_params()
    assert {
        k: v for k, v in params.items() if k not in ("epochs", "hidden_dim", "random_state")
    } == {k: v for k, v in defaults.items() if k not in ("epochs", "hidden_dim", "random_state")}
    with pytest.raises(InvalidParameterError, match="Bad parameters for method 'dann'"):
        make_method("dann", {"epoch": 2})
