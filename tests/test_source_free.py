"""Source-free and test-time adaptation (transferkit.deep.source_free) on a real shifted pair.

One LeNet is trained on 400 MNIST digits (the module fixture); every method then adapts it with
unlabelled MNIST-M digits alone and is scored on separate MNIST-M test digits.
"""

from __future__ import annotations

import copy
import warnings
from collections import OrderedDict

import numpy as np
import pytest

from transferkit.datasets import get_data_home, load_pair
from transferkit.exceptions import (
    DegenerateResultWarning,
    FeatureSpaceMismatchError,
    InvalidParameterError,
    NonFiniteDataError,
    NotApplicableError,
    NotFittedError,
    ParameterValueError,
)

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from transferkit.deep.source_free import (  # noqa: E402
    SHOT,
    TENT,
    AdaBN,
    SourceFreeTENT,
    SourceModel,
    adabn,
    adapt_stream,
    centroid_pseudo_labels,
    find_head,
    information_maximization,
    prediction_entropy,
    shot,
    tent,
)
from transferkit.registry import make_method  # noqa: E402

pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    pytest.mark.skipif(
        not (get_data_home() / "mnist" / "mnist.pkl.gz").is_file(),
        reason=f"data home {get_data_home()} lacks mnist/mnist.pkl.gz (set TRANSFERKIT_DATA)",
    ),
]

SOURCE_SETTINGS = {"epochs": 2, "patience": 0, "random_state": 0}


@pytest.fixture(scope="module")
def pair():
    return load_pair(
        "digits", "mnist", "mnistm", random_state=0, n_source=400, n_target=400, n_test=300
    )


@pytest.fixture(scope="module")
def trained(pair):
    """The source model as a user would hold it: an nn.Module in eval mode, plus the target rows
    in its input format."""
    with warnings.catch_warnings():
        # two epochs on 400 digits: on MNIST-M the unadapted model collapses onto few classes,
        # which is the shift the methods must undo
        warnings.simplefilter("ignore", DegenerateResultWarning)
        estimator = SourceModel(**SOURCE_SETTINGS).fit(pair)
    model = nn.Sequential(
        OrderedDict(encoder=estimator.encoder_, classifier=estimator.classifier_)
    ).eval()
    X_target = estimator.input_encoder_(pair.X_target)
    X_test = estimator.input_encoder_(pair.X_test)
    y_test = pair.encode_labels(pair.y_test)
    return estimator, model, X_target, X_test, y_test


def accuracy(predicted, y) -> float:
    return float(np.mean(np.asarray(predicted) == y))


def source_accuracy(model, X, y) -> float:
    with torch.no_grad():
        return accuracy(model(X).argmax(1).numpy(), y)


def state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def same_state(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ----------------------------------------------------------------------------- the math


def test_information_maximization_rewards_confident_and_diverse_predictions():
    confident_diverse = torch.eye(4).repeat(5, 1) * 20  # every class, each row sure of its class
    collapsed = torch.zeros(20, 4)
    collapsed[:, 0] = 20  # every row sure of one class
    uncertain = torch.zeros(20, 4)
    assert float(prediction_entropy(confident_diverse)) < 1e-6
    assert float(prediction_entropy(uncertain)) == pytest.approx(np.log(4), rel=1e-5)
    im = [float(information_maximization(x)) for x in (confident_diverse, collapsed, uncertain)]
    assert im[0] == pytest.approx(-np.log(4), abs=1e-4)
    assert im[0] < im[1] and im[0] < im[2]


def test_centroid_pseudo_labels_correct_a_noisy_classifier():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16)) * 5
    truth = np.repeat(np.arange(3), 50)
    features = torch.tensor(centres[truth] + rng.normal(size=(150, 16)), dtype=torch.float32)
    logits = torch.nn.functional.one_hot(torch.tensor(truth), 3).float() * 2
    wrong = rng.choice(150, 40, replace=False)  # 27 % of the predictions point elsewhere
    logits[wrong] = logits[wrong].roll(1, dims=1)
    assert accuracy(logits.argmax(1).numpy(), truth) < 0.8
    assert accuracy(centroid_pseudo_labels(features, logits).numpy(), truth) == 1.0


# ----------------------------------------------------------------------------- on real digits


@pytest.mark.parametrize(
    ("adapter", "params"),
    [(AdaBN, {}), (TENT, {"epochs": 1}), (SHOT, {"epochs": 1})],
)
def test_each_method_beats_the_source_model_and_leaves_it_untouched(trained, adapter, params):
    _, model, X_target, X_test, y_test = trained
    before = state(model)
    baseline = source_accuracy(model, X_test, y_test)
    adapted = adapter(model, random_state=0, **params).fit(X_target)
    assert accuracy(adapted.predict(X_test), y_test) > baseline + 0.05
    assert same_state(state(model), before)  # the user's model is not mutated
    assert adapted.model_ is not model


def test_functions_return_the_classes_models(trained):
    _, model, X_target, X_test, _ = trained
    for function, cls in ((adabn, AdaBN), (tent, TENT), (shot, SHOT)):
        params = {"epochs": 1, "random_state": 0}
        from_function = function(model, X_target[:128], **params)
        from_class = cls(model, **params).fit(X_target[:128]).model_
        with torch.no_grad():
            torch.testing.assert_close(from_function(X_test), from_class(X_test))


def test_copy_false_adapts_the_users_model_in_place(trained):
    _, model, X_target, _, _ = trained
    own = copy.deepcopy(model)
    before = state(own)
    adapter = TENT(own, copy=False).fit(X_target[:128])
    assert adapter.model_ is own and not same_state(state(own), before)


def test_stream_predicts_batch_by_batch_as_batches_arrive(trained):
    _, model, _, X_test, y_test = trained
    seen: list[int] = []

    def arriving():
        for start in range(0, len(X_test), 50):
            seen.append(start)
            yield X_test[start : start + 50].numpy()

    stream = adapt_stream(model, arriving(), method="tent")
    first = next(stream)
    assert first.shape == (50,) and seen == [0]  # one batch read, one batch predicted
    predictions = [first, *stream]
    assert [len(p) for p in predictions] == [50] * 6
    # online TENT on the stream beats the source model on the same rows
    assert accuracy(np.concatenate(predictions), y_test) > source_accuracy(model, X_test, y_test)


@pytest.mark.parametrize("method", ["adabn", "shot"])
def test_other_methods_stream_too(trained, method):
    _, model, _, X_test, y_test = trained
    batches = [X_test[i : i + 100] for i in range(0, len(X_test), 100)]
    predictions = list(adapt_stream(model, batches, method=method))
    assert [len(p) for p in predictions] == [100] * 3
    assert accuracy(np.concatenate(predictions), y_test) > source_accuracy(model, X_test, y_test)


def test_partial_fit_updates_once_per_batch(trained):
    _, model, X_target, _, _ = trained
    adapter = TENT(model)
    with pytest.raises(NotFittedError, match="fit"):
        adapter.predict(X_target[:5])
    adapter.partial_fit(X_target[:64]).partial_fit(X_target[64:128])
    assert adapter.n_updates_ == 2
    assert adapter.predict(X_target[:1]).shape == (1,)  # one row predicts with running statistics


def test_registered_tent_is_the_source_model_adapted_by_tent(pair):
    """The suite method trains the source model exactly as source_model does, then runs TENT."""
    small = load_pair("digits", "mnist", "mnistm", random_state=1, n_source=200, n_target=200)
    settings = {**SOURCE_SETTINGS, "epochs": 1}
    source = SourceModel(**settings).fit(small)
    registered = make_method("tent", {"epochs": 1, "patience": 0}, random_state=0)
    assert isinstance(registered, SourceFreeTENT)
    registered.fit(small)
    model = nn.Sequential(OrderedDict(encoder=source.encoder_, classifier=source.classifier_))
    expected = TENT(model.eval(), random_state=0).fit(source.input_encoder_(small.X_target))
    np.testing.assert_array_equal(
        registered.predict(small.X_target),
        small.classes[expected.predict(source.input_encoder_(small.X_target))],
    )


# ----------------------------------------------------------------------------- bad input


def test_no_norm_layers_is_named(trained):
    _, _, X_target, _, _ = trained
    plain = nn.Sequential(nn.Flatten(), nn.Linear(X_target.shape[1], 10)).eval()
    with pytest.raises(NotApplicableError, match=r"Sequential has none.*norm='batch'.*SHOT"):
        TENT(plain).fit(X_target)
    with pytest.raises(NotApplicableError, match="Sequential has no batch-norm layer"):
        AdaBN(plain).fit(X_target)


def test_missing_head_says_how_to_name_it(trained):
    _, model, X_target, _, _ = trained

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = model.encoder
            self.out = model.classifier

        def forward(self, x):
            return self.out(self.body(x))

    with pytest.raises(NotApplicableError, match=r"head of Net.*children: body, out.*head='"):
        SHOT(Net().eval()).fit(X_target)
    with pytest.raises(NotApplicableError, match="no submodule 'last'"):
        SHOT(Net().eval(), head="last").fit(X_target)
    assert find_head(Net(), "out")[0] == "out"


def test_wrong_shape_nan_mode_and_type_are_named(trained):
    _, model, X_target, _, _ = trained
    with pytest.raises(FeatureSpaceMismatchError, match=r"cannot take rows of shape \(100,\)"):
        TENT(model).fit(np.zeros((10, 100), dtype=np.float32))
    with pytest.raises(FeatureSpaceMismatchError, match="one row per sample"):
        TENT(model).fit(np.zeros(2352, dtype=np.float32))
    bad = X_target[:20].clone()
    bad[3, 7] = float("nan")
    with pytest.raises(NonFiniteDataError, match="1 row.*row 3"):
        SHOT(model).fit(bad)
    model.train()
    try:
        with pytest.raises(NotApplicableError, match=r"training mode.*model.eval\(\)"):
            AdaBN(model).fit(X_target)
    finally:
        model.eval()
    with pytest.raises(InvalidParameterError, match="nn.Module"):
        TENT("model.pt").fit(X_target)
    scripted = torch.jit.trace(model, X_target[:2])
    for adapter in (AdaBN, TENT, SHOT):  # not "no batch-norm layer": the layers are compiled
        with pytest.raises(NotApplicableError, match=r"TorchScript.*load_state_dict"):
            adapter(scripted).fit(X_target)
    with pytest.raises(ParameterValueError, match="epochs"):
        TENT(model, epochs=0).fit(X_target)
    with pytest.raises(ParameterValueError, match=r"Unknown loss_params \['lr'\]"):
        make_method("shot", {"loss_params": {"lr": 0.1}}, random_state=0).check_params()


def test_source_free_suite_loads():
    from transferkit.bench import load_suite

    suite = load_suite("source-free")
    labels = [m.label for m in suite.methods]
    assert {"source_model", "adabn", "tent", "shot", "deep_oracle"} <= set(labels)
    assert [len(d.pairs) for d in suite.datasets] == [4, 12]
    assert suite.datasets[1].options == {"features": "efficientnet_lite0", "preprocess": "none"}


def test_adapters_and_suite_classes_clone_with_their_parameters(trained):
    from sklearn.base import clone

    _, model, _, _, _ = trained
    adapter = clone(SHOT(model, head="classifier", epochs=3, pseudo_label_weight=0.1))
    assert adapter.get_params()["head"] == "classifier" and adapter.epochs == 3
    assert adapter.pseudo_label_weight == 0.1 and isinstance(adapter.model, nn.Sequential)
    suite = clone(SourceFreeTENT(epochs=4, loss_params={"epochs": 2}))
    assert suite.epochs == 4 and suite.loss_params == {"epochs": 2}
