"""Fashion-MNIST: the IDX parser, the file checks, the shifted captures and a real shifted pair."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from transferkit.datasets import (
    fashion,
    load_fashion_mnist,
    load_pair,
    read_idx,
    shift_fashion_images,
    standard_pairs,
)
from transferkit.exceptions import (
    ChecksumMismatchError,
    DataFormatError,
    DatasetNotFoundError,
    UnknownDatasetError,
)


def _idx_bytes(values: np.ndarray, code: int = 0x08) -> bytes:
    header = bytes([0, 0, code, values.ndim]) + struct.pack(f">{values.ndim}i", *values.shape)
    return header + values.astype(values.dtype.newbyteorder(">")).tobytes()


def _files_installed() -> bool:
    try:
        load_fashion_mnist("test")
    except DatasetNotFoundError:
        return False
    return True


# ---------------------------------------------------------------------------- IDX parser
def test_idx_parser_reads_images_and_labels_gzipped_or_not(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    labels = np.array([7, 1], dtype=np.uint8)
    (tmp_path / "images-idx3-ubyte").write_bytes(_idx_bytes(images))
    with gzip.open(tmp_path / "labels-idx1-ubyte.gz", "wb") as handle:
        handle.write(_idx_bytes(labels))
    np.testing.assert_array_equal(read_idx(tmp_path / "images-idx3-ubyte"), images)
    np.testing.assert_array_equal(read_idx(tmp_path / "labels-idx1-ubyte.gz"), labels)
    # big-endian wider types come back in native order with their values
    wide = np.array([[-3, 70000]], dtype=np.int32)
    (tmp_path / "wide-idx2-int").write_bytes(_idx_bytes(wide, code=0x0C))
    np.testing.assert_array_equal(read_idx(tmp_path / "wide-idx2-int"), wide)


def test_idx_parser_names_a_file_that_is_not_idx_or_truncated(tmp_path):
    bad = tmp_path / "photo.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not idx")
    with pytest.raises(DataFormatError, match="photo.jpg is not an IDX file"):
        read_idx(bad)
    short = tmp_path / "short-idx3-ubyte"
    short.write_bytes(_idx_bytes(np.zeros((2, 3, 4), dtype=np.uint8))[:-5])
    with pytest.raises(DataFormatError, match=r"short-idx3-ubyte holds 19 bytes.*\(2, 3, 4\)"):
        read_idx(short)


# ---------------------------------------------------------------------------- file checks
def test_missing_file_names_the_file_both_places_the_apt_package_and_the_source(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(fashion, "SYSTEM_FOLDER", tmp_path / "no-debian-package")
    with pytest.raises(DatasetNotFoundError) as caught:
        load_fashion_mnist("train", data_home=tmp_path)
    message = str(caught.value)
    assert "train-images-idx3-ubyte.gz" in message
    assert str(tmp_path / "fashion_mnist") in message and "no-debian-package" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "zalandoresearch/fashion-mnist" in message


def test_corrupt_file_in_the_data_home_or_the_package_folder_names_both_sums(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / "fashion_mnist").mkdir(parents=True)
    corrupt = home / "fashion_mnist" / "t10k-images-idx3-ubyte.gz"
    corrupt.write_bytes(b"not the published file")
    with pytest.raises(ChecksumMismatchError, match="t10k-images-idx3-ubyte.gz") as caught:
        load_fashion_mnist("test", data_home=home)
    assert "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa" in str(caught.value)

    system = tmp_path / "debian"
    system.mkdir()
    (system / "t10k-images-idx3-ubyte.gz").write_bytes(b"also not it")
    monkeypatch.setattr(fashion, "SYSTEM_FOLDER", system)
    with pytest.raises(ChecksumMismatchError, match="--reinstall dataset-fashion-mnist"):
        load_fashion_mnist("test", data_home=tmp_path / "empty-home")


# ---------------------------------------------------------------------------- captures
def test_shifted_captures_are_seeded_bounded_and_do_what_they_name():
    rng = np.random.default_rng(0)
    images = np.zeros((5, 28, 28), dtype=np.float32)
    images[:, 6:22, 12:16] = rng.uniform(0.5, 1.0, size=(5, 16, 4))  # an upright bar
    for domain in fashion.FASHION_DOMAINS:
        first = shift_fashion_images(images, domain, random_state=1)
        again = shift_fashion_images(images, domain, random_state=1)
        np.testing.assert_array_equal(first, again)
        assert first.shape == images.shape and 0.0 <= first.min() and first.max() <= 1.0
    np.testing.assert_array_equal(shift_fashion_images(images, "original"), images)
    dim = shift_fashion_images(images, "low-contrast")
    assert dim.min() == pytest.approx(0.15) and dim.max() <= 0.5 + 1e-6
    # a rotated upright bar spills out of its columns; a blur keeps its mass but spreads it
    rotated = shift_fashion_images(images, "rotated", random_state=0)
    outside = np.ones((28, 28), dtype=bool)
    outside[:, 11:17] = False
    assert rotated[:, outside].sum() > 0.2 * rotated.sum()
    blurred = shift_fashion_images(images, "blurred")
    assert blurred.max() < images.max() and (blurred > 0.01).sum() > (images > 0).sum()
    noisy = shift_fashion_images(images, "noisy", random_state=0)
    assert noisy[:, :, :5].std() > 0.1  # the black background is noisy now
    with pytest.raises(UnknownDatasetError, match="'sepia'.*original, rotated"):
        shift_fashion_images(images, "sepia")


# ---------------------------------------------------------------------------- real pair
@pytest.mark.skipif(
    not _files_installed(),
    reason="Fashion-MNIST files absent (apt-get install dataset-fashion-mnist, or the data home's "
    "fashion_mnist/)",
)
def test_rotation_hurts_source_only_on_real_images():
    assert ("original", "rotated") in standard_pairs("fashion-mnist")
    problem = load_pair(
        "fashion-mnist", "original", "rotated", random_state=0, n_source=1500, n_target=500
    )
    again = load_pair(
        "fashion-mnist", "original", "rotated", random_state=0, n_source=1500, n_target=500
    )
    np.testing.assert_array_equal(problem.X_test, again.X_test)
    assert problem.X_source.shape == (1500, 784) and problem.n_target_labeled == 0
    assert problem.metadata["class_names"][9] == "Ankle boot"
    # source-only: trained on 1,000 original images, scored in-domain on 500 held-out ones and
    # on the rotated target's labelled test split
    model = LogisticRegression(max_iter=300).fit(problem.X_source[:1000], problem.y_source[:1000])
    in_domain = model.score(problem.X_source[1000:], problem.y_source[1000:])
    shifted = model.score(problem.X_test, problem.y_test)
    assert in_domain > 0.7
    assert shifted < in_domain - 0.2


def test_datasets_command_counts_the_system_package_copies(tmp_path, monkeypatch):
    import json

    from click.testing import CliRunner

    from transferkit.cli import main
    from transferkit.datasets import _home

    system = tmp_path / "system"
    system.mkdir()
    (system / "t10k-labels-idx1-ubyte.gz").write_bytes(b"x")
    monkeypatch.setitem(_home.SYSTEM_COPIES, "fashion_mnist/", system)
    monkeypatch.setenv("TRANSFERKIT_DATA", str(tmp_path / "home"))
    result = CliRunner().invoke(main, ["datasets", "--json"])
    assert result.exit_code == 0, result.output
    entry = next(e for e in json.loads(result.output) if e["name"] == "fashion-mnist")
    assert entry["files"]["n_present"] == 1 and len(entry["files"]["missing"]) == 3
    assert entry["files"]["system_copies"] == {
        "fashion_mnist/t10k-labels-idx1-ubyte.gz": str(system / "t10k-labels-idx1-ubyte.gz")
    }
