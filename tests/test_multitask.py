"""Multi-task learning (transferkit.multitask): the losses and the surgery against their papers'
formulas, missing labels, the low-resource benefit on real MultiMNIST, bad input."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.base import clone  # noqa: E402
from torch import nn  # noqa: E402

from transferkit.datasets import get_data_home  # noqa: E402
from transferkit.datasets.multitask import (  # noqa: E402
    MultiTaskData,
    load_amazon_multitask,
    load_multimnist,
    make_multimnist,
)
from transferkit.exceptions import (  # noqa: E402
    InvalidParameterError,
    InvalidProblemError,
    NotApplicableError,
    ParameterValueError,
)
from transferkit.multitask import (  # noqa: E402
    MultiTaskClassifier,
    PooledClassifier,
    SingleTaskClassifiers,
    SmallLeNet,
    UncertaintyWeighting,
    encode_task_labels,
    masked_cross_entropy,
    pcgrad,
    top_up_batch,
    uncertainty_weighted_loss,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _two_tasks(n: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two related tasks on 6 features: the sign of x0, and the sign of x0 + x1."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    Y = np.column_stack([X[:, 0] > 0, X[:, 0] + X[:, 1] > 0]).astype(float)
    return X, Y


# ----------------------------------------------------------------------------- the math
def test_masked_cross_entropy_is_the_mean_over_known_labels_only():
    logits = torch.randn(6, 3, requires_grad=True)
    y = torch.tensor([0, -1, 2, -1, 1, 1])
    known = y >= 0
    expected = nn.functional.cross_entropy(logits[known], y[known])
    assert torch.allclose(masked_cross_entropy(logits, y), expected)
    empty = masked_cross_entropy(logits, torch.full((6,), -1))
    empty.backward()
    assert float(empty.detach()) == 0.0 and torch.all(logits.grad == 0)


def test_uncertainty_loss_follows_kendall_and_its_weights_learn():
    losses = torch.tensor([2.0, 0.5])
    s = torch.tensor([0.3, -0.2], requires_grad=True)
    value = uncertainty_weighted_loss(losses, s, torch.tensor([True, True]))
    expected = sum(
        float(np.exp(-si) * li + si / 2) for si, li in zip([0.3, -0.2], [2.0, 0.5], strict=True)
    )
    assert float(value.detach()) == pytest.approx(expected, rel=1e-6)
    value.backward()
    # d/ds (e^-s L + s/2) = -e^-s L + 1/2: a task with a large loss gets a larger variance
    np.testing.assert_allclose(s.grad.numpy(), [-np.exp(-0.3) * 2 + 0.5, -np.exp(0.2) * 0.5 + 0.5])
    absent = uncertainty_weighted_loss(losses, s.detach(), torch.tensor([True, False]))
    assert float(absent) == pytest.approx(float(np.exp(-0.3) * 2 + 0.15), rel=1e-6)


def test_pcgrad_projects_conflicting_gradients_and_keeps_agreeing_ones():
    g = torch.tensor([[1.0, 0.0], [-1.0, 1.0]])  # g1 . g2 = -1 < 0
    merged = pcgrad(g, random_state=0)
    # g1 - (g1.g2)/|g2|^2 g2 = (0.5, 0.5), orthogonal to g2; g2 - (g2.g1)/|g1|^2 g1 = (0, 1)
    np.testing.assert_allclose(merged.numpy(), [0.5, 1.5])
    assert float(torch.dot(torch.tensor([0.5, 0.5]), g[1])) == 0.0
    agreeing = torch.tensor([[1.0, 2.0], [0.5, 0.1], [0.0, 3.0]])
    np.testing.assert_allclose(pcgrad(agreeing, random_state=1).numpy(), agreeing.sum(0).numpy())
    with pytest.raises(InvalidParameterError, match="n_tasks, n_parameters"):
        pcgrad(torch.ones(3))


def test_pcgrad_on_two_identical_tasks_trains_as_the_plain_sum():
    # identical tasks never conflict, so the surgery leaves the summed gradient unchanged
    X, Y = _two_tasks()
    Y = np.column_stack([Y[:, 0], Y[:, 0]])
    settings = dict(epochs=3, random_state=0, device="cpu", hidden_dim=16)
    plain = MultiTaskClassifier(**settings).fit(X, Y)
    surgery = MultiTaskClassifier(weighting="pcgrad", **settings).fit(X, Y)
    for a, b in zip(plain.predict_proba(X), surgery.predict_proba(X), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)


# ----------------------------------------------------------------------------- missing labels
def test_missing_labels_are_masked_whatever_their_code():
    X, Y = _two_tasks()
    hidden = np.arange(len(Y)) >= 80  # the second task keeps 80 labels
    with_nan, with_minus_one = Y.copy(), Y.copy()
    with_nan[hidden, 1] = np.nan
    with_minus_one[hidden, 1] = -1
    settings = dict(epochs=15, random_state=0, device="cpu")
    a = MultiTaskClassifier(**settings).fit(X, with_nan)
    b = MultiTaskClassifier(**settings).fit(X, with_minus_one)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    # the hidden labels were not seen, yet the task is learned from its 80 rows
    assert np.mean(a.predict(X[hidden])[:, 1] == Y[hidden, 1]) > 0.85
    assert a.task_scores(X, with_nan)[1] == pytest.approx(
        np.mean(a.predict(X[:80])[:, 1] == Y[:80, 1])
    )


def test_tasks_keep_their_own_label_sets():
    X, Y = _two_tasks(n=200)
    labels = np.empty((200, 2), dtype=object)
    labels[:, 0] = np.where(Y[:, 0] > 0, "pos", "neg")
    labels[:, 1] = np.where(Y[:, 1] > 0, 7, 3)
    labels[:50, 1] = None
    model = MultiTaskClassifier(epochs=10, random_state=0, device="cpu").fit(X, labels)
    assert [c.tolist() for c in model.classes_] == [["neg", "pos"], [3, 7]]
    predicted = model.predict(X[:5])
    assert set(predicted[:, 0]) <= {"neg", "pos"} and set(predicted[:, 1]) <= {3, 7}
    codes, classes = encode_task_labels(labels)
    assert codes[:50, 1].tolist() == [-1] * 50 and classes[1].tolist() == [3, 7]


def test_top_up_batch_gives_every_task_its_quota_and_masks_the_others():
    X_pool = torch.arange(40.0).reshape(20, 2)
    Y_pool = torch.full((20, 2), -1)
    Y_pool[:, 0] = torch.arange(20) % 3
    Y_pool[[4, 9, 15], 1] = torch.tensor([0, 1, 1])  # task 1: three labelled rows
    xs, ys = X_pool[:8], Y_pool[:8]  # row 4 is the batch's one task-1 label
    rows = [np.arange(20), np.array([4, 9, 15])]
    tx, ty = top_up_batch(xs, ys, X_pool, Y_pool, rows, 5, np.random.default_rng(0))
    assert torch.equal(tx[:8], xs) and torch.equal(ty[:8], ys)  # the batch itself is kept
    added_x, added_y = tx[8:], ty[8:]
    assert len(added_y) == 4 and int((ty[:, 1] >= 0).sum()) == 5
    assert torch.all(added_y[:, 0] == -1)  # task 0 sees exactly the rows it saw before
    for x, y in zip(added_x, added_y, strict=True):
        source = int(x[0]) // 2  # the pool row it was drawn from
        assert source in (4, 9, 15) and int(y[1]) == int(Y_pool[source, 1])
    again = top_up_batch(xs, ys, X_pool, Y_pool, rows, 5, np.random.default_rng(0))
    assert torch.equal(again[1], ty)
    full = top_up_batch(xs, ys, X_pool, Y_pool, rows, 1, np.random.default_rng(0))
    assert full[0] is xs  # every task has its quota: nothing added


needs_mnist = pytest.mark.skipif(
    not (get_data_home() / "mnist" / "mnist.pkl.gz").is_file(),
    reason=f"data home {get_data_home()} lacks mnist/mnist.pkl.gz (set TRANSFERKIT_DATA)",
)


@pytest.fixture(scope="module")
def multimnist_few_right():
    """MultiMNIST from MNIST digits of the data home: 500 training images whose right digit keeps
    40 labels, 1,000 test images."""
    task = load_multimnist(n_train=500, n_test=1000, n_labels={"right": 40}, random_state=0)
    return task.X, task.Y, task.X_test, task.Y_test


@needs_mnist
def test_balanced_sampling_tops_up_each_rank_s_share_from_its_own_draws(monkeypatch):
    """Data-parallel: a rank holds its share of the global batch, so it tops up to its share of
    the quota, and two ranks draw different rows."""
    import transferkit.multitask as multitask

    X, Y = _two_tasks()
    Y[20:, 1] = np.nan  # task 1 labelled on 20 rows only
    calls: dict[int, list] = {0: [], 1: []}
    real = multitask.top_up_batch
    for rank in (0, 1):
        monkeypatch.setattr(multitask, "world_size", lambda: 2)
        monkeypatch.setattr(multitask, "process_rank", lambda rank=rank: rank)

        def spy(xs, ys, X_pool, Y_pool, rows, quota, draws, rank=rank):
            out = real(xs, ys, X_pool, Y_pool, rows, quota, draws)
            calls[rank].append((quota, out[0][len(xs) :].clone()))
            return out

        monkeypatch.setattr(multitask, "top_up_batch", spy)
        MultiTaskClassifier(
            task_sampling="balanced", batch_size=64, epochs=1, patience=None, random_state=0
        ).fit(X, Y)
    assert {quota for quota, _ in calls[0] + calls[1]} == {16}  # 64 rows / 2 ranks / 2 tasks
    added = [torch.cat([rows for _, rows in calls[rank]]) for rank in (0, 1)]
    assert len(added[0]) and not torch.equal(added[0], added[1])


def test_balanced_sampling_trains_a_task_with_few_labels_harder(multimnist_few_right):
    """500 MultiMNIST training images, the right digit labelled on 40: natural batches of 32
    hold two or three of its labels, balanced ones 16, so in the same number of steps the right
    digit's head fits its 40 labels much further (lower training loss), and the left digit,
    which sees the same rows and labels either way, is not hurt."""
    X, Y, X_test, Y_test = multimnist_few_right
    settings = dict(
        network="small_lenet",
        image_shape=(28, 28),
        epochs=6,
        batch_size=32,
        random_state=0,
        device="cpu",
    )
    natural = MultiTaskClassifier(**settings).fit(X, Y)
    balanced = MultiTaskClassifier(task_sampling="balanced", **settings).fit(X, Y)
    assert balanced.history_.n_epochs == natural.history_.n_epochs == 6
    natural_loss = natural.history_.epochs[-1]["loss_1"]
    balanced_loss = balanced.history_.epochs[-1]["loss_1"]
    assert balanced_loss < 0.5 * natural_loss
    natural_scores = natural.task_scores(X_test, Y_test)
    balanced_scores = balanced.task_scores(X_test, Y_test)
    assert balanced_scores[1] > natural_scores[1]
    assert balanced_scores[0] > natural_scores[0] - 0.03


# ----------------------------------------------------------------------------- the methods
def test_uncertainty_weights_move_during_training():
    X, Y = _two_tasks()
    Y[:, 1] = np.where(np.random.default_rng(1).random(len(Y)) < 0.3, 1 - Y[:, 1], Y[:, 1])
    model = MultiTaskClassifier(
        weighting="uncertainty", epochs=15, learning_rate=0.01, random_state=0, device="cpu"
    )
    model.fit(X, Y)
    weights = model.task_weights_
    assert isinstance(model.uncertainty_, UncertaintyWeighting)
    assert np.all(np.abs(weights - 1.0) > 0.05)
    # the task with 30 % flipped labels keeps a higher loss, so it is trusted less
    assert weights[1] < weights[0]


def test_soft_sharing_couples_the_encoders():
    X, Y = _two_tasks()
    settings = dict(sharing="soft", epochs=10, learning_rate=0.01, random_state=0, device="cpu")
    loose = MultiTaskClassifier(coupling=0.0, **settings).fit(X, Y)
    tight = MultiTaskClassifier(coupling=1.0, **settings).fit(X, Y)

    def distance(model):
        a, b = (torch.cat([p.flatten() for p in e.parameters()]) for e in model.network_.encoders)
        return float((a - b).norm().detach())

    assert len(tight.network_.encoders) == 2
    assert distance(tight) < 0.5 * distance(loose)
    assert tight.score(X, Y) > 0.85


def test_user_encoder_is_copied_and_used():
    X, Y = _two_tasks()
    encoder = nn.Sequential(nn.Linear(6, 8), nn.Tanh())
    before = [p.detach().clone() for p in encoder.parameters()]
    model = MultiTaskClassifier(encoder=encoder, epochs=5, random_state=0, device="cpu")
    model.fit(X, Y)
    assert model.network_.heads[0].in_features == 8
    for p, q in zip(encoder.parameters(), before, strict=True):
        assert torch.equal(p, q)  # the user's module is left as it was
    assert isinstance(clone(model).get_params()["encoder"], nn.Sequential)


def test_head_hidden_gives_each_task_a_two_layer_head():
    X, Y = _two_tasks()
    settings = dict(hidden_dim=16, epochs=15, learning_rate=0.01, random_state=0, device="cpu")
    model = MultiTaskClassifier(head_hidden=8, **settings).fit(X, Y)
    for head in model.network_.heads:
        assert [type(m) for m in head] == [nn.Linear, nn.ReLU, nn.Linear]
        assert head[0].in_features == 16 and head[0].out_features == 8
        assert head[2].out_features == 2
    assert model.score(X, Y) > 0.85
    single = SingleTaskClassifiers(head_hidden=8, **settings).fit(X, Y)
    assert all(n.heads[0][0].out_features == 8 for n in single.networks_)


def test_pooled_needs_one_label_set_and_single_task_trains_one_network_per_task():
    X, Y = _two_tasks()
    pooled = PooledClassifier(epochs=5, random_state=0, device="cpu").fit(X, Y)
    assert np.array_equal(pooled.predict(X)[:, 0], pooled.predict(X)[:, 1])
    single = SingleTaskClassifiers(epochs=5, random_state=0, device="cpu").fit(X, Y)
    assert len(single.networks_) == 2 and single.score(X, Y) > 0.8
    shifted = Y.copy()
    shifted[:, 1] += 5
    with pytest.raises(NotApplicableError, match="share one label set"):
        PooledClassifier(epochs=1, device="cpu").fit(X, shifted)
    # two digits of one image (MultiMNIST): one label set, but rows carry two different labels
    digits = np.random.default_rng(0).integers(0, 10, size=(len(X), 2))
    with pytest.raises(NotApplicableError, match="label different things of the same input"):
        PooledClassifier(epochs=1, device="cpu").fit(X, digits)


needs_amazon = pytest.mark.skipif(
    not (get_data_home() / "amazon_reviews" / "books_train.svmlight").is_file(),
    reason=f"data home {get_data_home()} lacks amazon_reviews/ (set TRANSFERKIT_DATA)",
)


@needs_amazon
def test_sharing_the_sentiment_tasks_beats_one_network_per_domain():
    """Four Amazon domains with 40 labels each: one network trained on the 160 labels together
    beats four networks on their own 40, even with as many gradient steps each (match_steps)."""
    task = load_amazon_multitask(n_labels=40, n_test=150, random_state=0)
    settings = dict(epochs=10, random_state=0, device="cpu")
    single = SingleTaskClassifiers(**settings)
    pooled = PooledClassifier(**settings)
    single_score = single.score_problem(task)
    pooled_score = pooled.score_problem(task)
    assert single.task_epochs_ == [40, 40, 40, 40]  # 160 labelled rows / 40 per task
    assert pooled_score > single_score + 0.03
    assert single_score == pytest.approx(
        np.mean([single.details_[f"accuracy_{t}"] for t in task.task_names])
    )


def test_make_multimnist_overlays_a_shifted_partner():
    images = np.zeros((3, 28, 28), dtype=np.float32)
    images[0, :4, :4] = 1.0  # a square in the top-left corner of image 0
    X, Y = make_multimnist(images, np.array([4, 5, 6]), random_state=0)
    assert Y[:, 0].tolist() == [4, 5, 6]
    assert np.all(Y[:, 1] != Y[:, 0])  # the partner is never the image itself
    # as the left digit the square stays in the corner; as a partner it moves 6/36 of the way
    assert X[0, 0, 0] > 0.9
    partner_of_0 = [i for i in (1, 2) if Y[i, 1] == 4]
    for i in partner_of_0:
        assert X[i, 0, 0] == 0 and X[i, 5, 5] > 0.5
    again, _ = make_multimnist(images, np.array([4, 5, 6]), random_state=0)
    np.testing.assert_array_equal(X, again)
    with pytest.raises(InvalidParameterError, match="28, 28"):
        make_multimnist(np.zeros((3, 8, 8)), np.zeros(3))


# ----------------------------------------------------------------------------- bad input
def test_bad_input_names_the_problem():
    X, Y = _two_tasks(n=60)
    model = MultiTaskClassifier(epochs=1, device="cpu")
    with pytest.raises(InvalidProblemError, match="at least two"):
        model.fit(X, Y[:, :1])
    with pytest.raises(InvalidProblemError, match="one column per task"):
        model.fit(X, Y[:, 0])
    missing = Y.copy()
    missing[:, 1] = np.nan
    with pytest.raises(InvalidProblemError, match="Task 1 has no label"):
        model.fit(X, missing)
    one_class = Y.copy()
    one_class[:, 0] = 1
    with pytest.raises(InvalidProblemError, match="Task 0 has a single class"):
        model.fit(X, one_class)
    with pytest.raises(InvalidProblemError, match="X has 59 rows but Y has 60"):
        model.fit(X[:59], Y)
    with pytest.raises(ParameterValueError, match="pcgrad"):
        MultiTaskClassifier(sharing="soft", weighting="pcgrad").fit(X, Y)
    with pytest.raises(ParameterValueError, match="task_weights"):
        MultiTaskClassifier(task_weights=[1.0], epochs=1, device="cpu").fit(X, Y)
    with pytest.raises(ParameterValueError, match="head_hidden"):
        MultiTaskClassifier(head_hidden=-5, epochs=1, device="cpu").fit(X, Y)
    with pytest.raises(ParameterValueError, match=r"task_sampling='equal'.*'balanced'"):
        MultiTaskClassifier(task_sampling="equal", epochs=1, device="cpu").fit(X, Y)
    with pytest.raises(ParameterValueError, match="nn.Module"):
        MultiTaskClassifier(encoder="lenet").fit(X, Y)
    frozen = nn.Linear(6, 4).requires_grad_(False)
    with pytest.raises(InvalidParameterError, match="no trainable parameter"):
        MultiTaskClassifier(encoder=frozen, device="cpu").fit(X, Y)
    with pytest.raises(InvalidParameterError, match=r"\(batch, width\)"):
        MultiTaskClassifier(encoder=nn.Unflatten(1, (2, 3)), device="cpu").fit(X, Y)
    with pytest.raises(NotApplicableError, match="image_shape"):
        MultiTaskClassifier(network="small_lenet", device="cpu").fit(X, Y)
    fitted = MultiTaskClassifier(epochs=1, device="cpu").fit(X, Y)
    with pytest.raises(InvalidProblemError, match="6"):
        fitted.predict(X[:, :5])
    with pytest.raises(NotApplicableError, match="multi-task data"):
        fitted.score_problem(object())


def test_multitask_data_checks_its_label_matrix():
    X = np.zeros((4, 2))
    with pytest.raises(InvalidProblemError, match="one column per task"):
        MultiTaskData(X, np.zeros((4, 3), int), X, np.zeros((4, 2), int), ("a", "b"))
    with pytest.raises(InvalidProblemError, match="'b' has no label"):
        Y = np.array([[0, -1], [1, -1], [0, -1], [1, -1]])
        MultiTaskData(X, Y, X, Y, ("a", "b"))


def test_small_lenet_matches_the_sener_koltun_encoder():
    net = SmallLeNet()
    assert net(torch.zeros(2, 784)).shape == (2, 50)
    n_parameters = sum(p.numel() for p in net.parameters())
    # 5x5 convolutions with 10 and 20 maps, 320 -> 50 units
    assert n_parameters == (25 * 10 + 10) + (250 * 20 + 20) + (320 * 50 + 50)


def test_small_lenet_conv_shares_only_the_convolutions():
    """network="small_lenet_conv" with head_hidden=50: the shared encoder is SmallLeNet's two
    convolutions (320 features) and each task's head holds its own 320 -> 50 layer, so a task's
    path through the network is the single-task network's."""
    X, Y = _two_tasks(n=120)
    X = np.repeat(X, 131, axis=1)[:, :784]  # any 28x28 rows will do for the shapes
    model = MultiTaskClassifier(
        network="small_lenet_conv", head_hidden=50, image_shape=(28, 28), epochs=1,
        random_state=0, device="cpu",
    ).fit(X, Y)  # fmt: skip
    encoder = model.network_.encoders[0]
    assert len(model.network_.encoders) == 1
    assert not any(isinstance(m, nn.Linear) for m in encoder.modules())
    assert encoder(torch.zeros(2, 784)).shape == (2, 320)
    for head in model.network_.heads:
        assert (head[0].in_features, head[0].out_features, head[2].out_features) == (320, 50, 2)
    shared = sum(p.numel() for p in encoder.parameters())
    assert shared == (25 * 10 + 10) + (250 * 20 + 20)
    with pytest.raises(NotApplicableError, match="image_shape"):
        MultiTaskClassifier(network="small_lenet_conv", device="cpu").fit(X, Y)


# ----------------------------------------------------------------------------- the benchmark


def test_multitask_suites_load_with_their_published_numbers():
    from transferkit.bench import load_suite

    multimnist = load_suite("multitask-multimnist")
    assert {d.name for d in multimnist.datasets} == {"multimnist"}
    assert multimnist.published["single_task"].mean == 96.6
    amazon = load_suite("multitask-amazon")
    assert {m.name for m in amazon.methods} == {
        "single_task",
        "pooled",
        "mtl_hard",
        "mtl_uncertainty",
        "mtl_pcgrad",
        "mtl_soft",
    }


@needs_amazon
def test_amazon_multitask_task_from_the_catalog_and_its_registered_methods():
    from transferkit.datasets import dataset_kind, load_task
    from transferkit.registry import make_method

    assert dataset_kind("amazon-multitask") == "multitask"
    task = load_task("amazon-multitask", "train", "test", random_state=0, n_labels=20, n_test=30)
    assert task.n_labelled == dict.fromkeys(("books", "dvd", "electronics", "kitchen"), 20)
    # each review is scored by its own domain's task only
    assert task.n_eval == 120 and (task.Y_test >= 0).sum(axis=1).tolist() == [1] * 120
    method = make_method("mtl_uncertainty", {"epochs": 2}, random_state=0)
    assert method.task_kind == "multitask" and method.weighting == "uncertainty"
