"""Self-training deep methods: MCC and self-ensembling, their losses, on small shifted problems."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.base import clone  # noqa: E402

from transferkit.deep.losses import (  # noqa: E402
    MinimumClassConfusionLoss,
    class_balance,
    confident_consistency,
    minimum_class_confusion,
)
from transferkit.deep.methods import (  # noqa: E402
    MCC,
    DeepSourceOnly,
    SelfEnsembling,
    augment,
)
from transferkit.exceptions import InvalidParameterError  # noqa: E402
from transferkit.registry import available_methods, make_method  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FAST = {"epochs": 20, "hidden_dim": 32, "learning_rate": 1e-2, "patience": None}


def _accuracy(model, problem):
    return float(np.mean(model.predict(problem.X_test) == problem.y_test))


# ----------------------------------------------------------------------------- losses


def test_mcc_is_zero_without_confusion_and_grows_with_it():
    confident = torch.eye(4).repeat(8, 1) * 50.0
    assert float(minimum_class_confusion(confident)) == pytest.approx(0.0, abs=1e-6)
    confused = torch.zeros(32, 4)
    # uniform predictions: every row of the normalised class correlation is 1/4 everywhere
    assert float(minimum_class_confusion(confused)) == pytest.approx(3 / 4, abs=1e-6)
    half = confident.clone()
    half[:, 0] = 50.0
    assert 0 < float(minimum_class_confusion(half)) < 3 / 4
    assert MinimumClassConfusionLoss.acts_on == "logits"
    with pytest.raises(InvalidParameterError, match="temperature"):
        minimum_class_confusion(confused, temperature=0)


def test_mcc_gradient_sharpens_target_predictions():
    logits = torch.randn(64, 5, generator=torch.Generator().manual_seed(0)).requires_grad_()
    optimizer = torch.optim.Adam([logits], lr=0.1)
    before = float(minimum_class_confusion(logits.detach()))
    for _ in range(200):
        optimizer.zero_grad()
        minimum_class_confusion(logits).backward()
        optimizer.step()
    assert float(minimum_class_confusion(logits.detach())) < before / 2
    # not by collapsing onto one class
    assert len(set(logits.argmax(1).tolist())) >= 4


def test_consistency_counts_only_confident_teacher_predictions():
    student = torch.zeros(4, 3)
    teacher = torch.tensor([[10.0, 0, 0], [0, 10.0, 0], [0.1, 0, 0], [0, 0, 0.2]])
    loss, share = confident_consistency(student, teacher, threshold=0.968)
    assert share == 0.5
    probs_student = torch.full((3,), 1 / 3)
    expected = sum(
        float(((probs_student - torch.softmax(teacher[i], 0)) ** 2).sum()) for i in (0, 1)
    )
    assert float(loss) == pytest.approx(expected / 4, rel=1e-5)
    # the teacher gets no gradient
    teacher.requires_grad_()
    confident_consistency(student.requires_grad_(), teacher)[0].backward()
    assert teacher.grad is None


def test_class_balance_is_smallest_for_a_uniform_mean_prediction():
    balanced = torch.eye(3).repeat(4, 1) * 5.0
    collapsed = torch.zeros(12, 3)
    collapsed[:, 0] = 5.0
    assert float(class_balance(balanced)) < float(class_balance(collapsed))


def test_augment_shifts_images_and_keeps_shapes():
    torch.manual_seed(0)
    x = torch.zeros(5, 28 * 28)
    x.view(5, 28, 28)[:, 10:18, 10:18] = 1.0
    moved = augment(x, (28, 28), max_shift=2.0, noise=0.0)
    assert moved.shape == x.shape
    assert not torch.allclose(moved, x)
    assert float(moved.sum()) == pytest.approx(float(x.sum()), rel=0.05)
    rgb = torch.rand(3, 28 * 28 * 3)
    assert augment(rgb, (28, 28, 3)).shape == rgb.shape
    vectors = torch.zeros(4, 6)
    assert float(augment(vectors, None, noise=0.1).abs().sum()) > 0


# ----------------------------------------------------------------------------- estimators


@pytest.fixture(scope="module")
def problem(nuisance_problem):
    return nuisance_problem()


def test_self_ensembling_beats_source_only_on_a_shifted_problem(problem):
    source_only = np.mean(
        [_accuracy(DeepSourceOnly(random_state=s, **FAST).fit(problem), problem) for s in (0, 1)]
    )
    adapted = np.mean(
        [_accuracy(SelfEnsembling(random_state=s, **FAST).fit(problem), problem) for s in (0, 1)]
    )
    assert source_only < 0.72
    assert adapted > source_only + 0.1


def _rotated_blobs(seed: int = 0, n: int = 300, angle: float = 35.0):
    """Four well-separated classes on a ring; the target ring is rotated, so a source-only
    boundary cuts through target clusters, and sharpening target predictions (low-density
    separation) moves it back between them."""
    from transferkit.problem import TransferProblem

    rng = np.random.default_rng(seed)
    centres = 3.0 * np.array([[1, 0], [0, 1], [-1, 0], [0, -1]], dtype=float)

    def draw(degrees):
        turn = np.deg2rad(degrees)
        rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
        y = rng.integers(0, 4, n)
        return (centres[y] + 0.5 * rng.normal(size=(n, 2))) @ rotation.T, y

    Xs, ys = draw(0.0)
    Xt, yt = draw(angle)
    Xe, ye = draw(angle)
    return TransferProblem(Xs, ys, Xt, y_target=yt, X_test=Xe, y_test=ye)


def test_mcc_beats_source_only_on_rotated_blobs():
    problem = _rotated_blobs()
    params = {**FAST, "standardize": False}
    source_only = np.mean(
        [_accuracy(DeepSourceOnly(random_state=s, **params).fit(problem), problem) for s in (0, 1)]
    )
    adapted = np.mean(
        [_accuracy(MCC(random_state=s, **params).fit(problem), problem) for s in (0, 1)]
    )
    assert source_only < 0.9
    assert adapted > source_only + 0.05


def test_self_ensembling_teacher_is_a_moving_average_and_predicts(problem):
    model = SelfEnsembling(random_state=0, **{**FAST, "epochs": 3})
    assert clone(model).get_params() == model.get_params()
    model.fit(problem)
    assert model.encoder_ is not model.student_encoder_
    teacher = next(model.encoder_.parameters())
    student = next(model.student_encoder_.parameters())
    assert not teacher.requires_grad and student.requires_grad
    assert not torch.allclose(teacher, student)
    proba = model.predict_proba(problem.X_test)
    assert proba.shape == (len(problem.y_test), 2)
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert model.transform(problem.X_test).shape == (len(problem.y_test), 32)
    assert {"consistency", "confident", "validation"} <= set(model.history_.epochs[-1])
    with pytest.raises(InvalidParameterError, match="ema_decay"):
        SelfEnsembling(loss_params={"ema_decay": 1.0}, epochs=1).fit(problem)
    with pytest.raises(InvalidParameterError, match="Unknown loss_params"):
        SelfEnsembling(loss_params={"decay": 0.9}, epochs=1).fit(problem)


def test_self_ensembling_resumes_and_is_reproducible(problem, tmp_path, interrupt_after):
    params = {**FAST, "epochs": 4, "random_state": 0}
    reference = SelfEnsembling(**params).fit(problem).predict_proba(problem.X_test)
    again = SelfEnsembling(**params).fit(problem).predict_proba(problem.X_test)
    assert np.array_equal(reference, again)

    with pytest.raises(interrupt_after.Interrupted):
        SelfEnsembling(**params, checkpoint=tmp_path, progress=interrupt_after(2)).fit(problem)
    resumed = SelfEnsembling(**params, checkpoint=tmp_path).fit(problem)
    assert resumed.history_.resumed_from == 2
    assert np.allclose(resumed.predict_proba(problem.X_test), reference, atol=1e-5)


def test_self_training_methods_are_registered():
    methods = available_methods()
    for name in ("mcc", "self_ensembling"):
        assert methods[name].deep and methods[name].family == "deep"
    mcc = make_method("mcc", {"epochs": 1, "loss_params": {"temperature": 3.0}}, random_state=0)
    assert isinstance(mcc, MCC)
    assert (mcc.epochs, mcc.random_state) == (1, 0)
    assert mcc.get_params()["loss_params"] == {"temperature": 3.0}
    model = make_method("self_ensembling", {"epochs": 1}, random_state=2)
    assert isinstance(model, SelfEnsembling) and model.random_state == 2
    assert model.epochs == 1
    assert model.get_params()["batch_size"] == SelfEnsembling().batch_size  # defaults kept


def test_a_deep_model_that_collapses_is_flagged(monkeypatch):
    from transferkit.deep.methods import DeepSourceOnly
    from transferkit.exceptions import DegenerateResultWarning
    from transferkit.problem import TransferProblem

    rng = np.random.default_rng(0)
    y = np.arange(90) % 3
    problem = TransferProblem(
        rng.normal(size=(90, 4)) + 3 * np.eye(4)[y], y, rng.normal(size=(60, 4))
    )
    monkeypatch.setattr(DeepSourceOnly, "predict", lambda self, X: np.zeros(len(X), dtype=int))
    with pytest.warns(DegenerateResultWarning, match="DeepSourceOnly: 100 % of the 60 target"):
        DeepSourceOnly(epochs=1, random_state=0).fit(problem)
