"""A user's own trained network, read from its file: ``transferkit.deep.model_files``, then
``transferkit source-free`` (adapted without its source data), ``transferkit robustness``
(attacked and corrupted), ``transferkit harden`` (adversarially trained) and ``transferkit
adapt`` (adapted with its source data), on a digit classifier trained on MNIST by a user's script (its class
defined in the script itself) and MNIST-M photographs held as a folder of PNGs."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from transferkit.cli.errors import Group
from transferkit.datasets import get_data_home
from transferkit.exceptions import (
    DataFormatError,
    DatasetNotFoundError,
    DegenerateResultWarning,
    InvalidParameterError,
    NotApplicableError,
    ParameterValueError,
)

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from transferkit.deep.model_files import (  # noqa: E402
    class_columns,
    load_model,
    read_model_inputs,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

needs_mnist = pytest.mark.skipif(
    not (get_data_home() / "mnist" / "mnist.pkl.gz").is_file(),
    reason=f"data home {get_data_home()} lacks mnist/mnist.pkl.gz (set TRANSFERKIT_DATA)",
)

#: A user's training script: the network's class lives in the script, so the saved file names
#: ``__main__.DigitNet`` and loading it needs the script (``--code``).
TRAIN = textwrap.dedent(
    """
    import sys
    import torch
    from torch import nn
    from transferkit.datasets import load_pair


    class DigitNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 16, 5), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(16, 32, 5), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(),
            )
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            return self.fc(self.features(x))


    if __name__ == "__main__":
        torch.manual_seed(0)
        torch.set_num_threads(1)
        pair = load_pair("digits", "mnist", "mnistm", random_state=0, n_source=1500,
                         n_target=10, n_test=10)
        X = torch.tensor(pair.X_source, dtype=torch.float32).reshape(-1, 28, 28, 3)
        X = (X.permute(0, 3, 1, 2) - 0.5) / 0.5
        y = torch.tensor(pair.y_source)
        model = DigitNet()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        for epoch in range(3):
            for rows in torch.randperm(len(X)).split(64):
                optimizer.zero_grad()
                nn.functional.cross_entropy(model(X[rows]), y[rows]).backward()
                optimizer.step()
        torch.save(model.eval(), sys.argv[1])
    """
)

#: How the network reads the photographs: 28 pixels, no crop, values scaled to [-1, 1].
DIGITS = ["--image-size", "28", "--mean", "0.5", "--std", "0.5"]


@click.group(cls=Group)
def tool() -> None:
    """The root group's error handling around the command, as ``transferkit`` gives it."""


def _tool() -> click.Group:
    from transferkit.cli.adapt import adapt_command
    from transferkit.cli.harden import harden_command
    from transferkit.cli.robustness import robustness_command
    from transferkit.cli.source_free import source_free_command

    tool.add_command(source_free_command)
    tool.add_command(robustness_command)
    tool.add_command(harden_command)
    tool.add_command(adapt_command)
    return tool


def run(*args: str, command: str = "source-free"):
    return CliRunner().invoke(_tool(), [command, *map(str, args)])


@pytest.fixture(scope="module")
def user(tmp_path_factory) -> dict[str, Path]:
    """The user's script and network, and 400 MNIST-M photographs in class folders."""
    from PIL import Image

    from transferkit.datasets import load_pair

    if not (get_data_home() / "mnist" / "mnist.pkl.gz").is_file():
        pytest.skip("needs MNIST in the data home")
    folder = tmp_path_factory.mktemp("user")
    script = folder / "train_digits.py"
    script.write_text(TRAIN)
    model = folder / "digits.pt"
    # the script runs in the user's folder: a relative data home would point elsewhere from there
    home = {"TRANSFERKIT_DATA": str(get_data_home().resolve())}
    subprocess.run(
        [sys.executable, str(script), str(model)],
        check=True,
        cwd=folder,
        env={**os.environ, **home},
    )
    pair = load_pair("digits", "mnistm", "mnist", random_state=1, n_source=400, n_target=10)
    photos = folder / "mnistm"
    for index, (row, label) in enumerate(zip(pair.X_source, pair.y_source, strict=True)):
        (photos / str(label)).mkdir(parents=True, exist_ok=True)
        pixels = (np.clip(row, 0, 1) * 255).astype(np.uint8).reshape(28, 28, 3)
        Image.fromarray(pixels).save(photos / str(label) / f"{index:03d}.png")
    unlabelled = folder / "unlabelled"
    unlabelled.mkdir()
    for path in sorted(photos.glob("*/*.png"))[:40]:
        (unlabelled / path.name).write_bytes(path.read_bytes())
    return {"script": script, "model": model, "photos": photos, "unlabelled": unlabelled}


# ----------------------------------------------------------------------------- the network file


@needs_mnist
def test_a_network_saved_from_a_script_loads_with_its_code(user):
    with pytest.raises(DataFormatError, match=r"DigitNet.*--code net\.py"):
        load_model(user["model"])
    model = load_model(user["model"], code=user["script"])
    assert type(model).__name__ == "DigitNet" and not model.training
    assert model(torch.zeros(2, 3, 28, 28)).shape == (2, 10)
    # the code is run once: a second load shares the class, so the first can be saved again
    again = load_model(user["model"], code=user["script"])
    assert type(again) is type(model)
    torch.save(model, user["model"].parent / "again.pt")


def test_what_is_not_a_whole_network_is_named(tmp_path):
    network = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 3)).eval()
    torch.save(network.state_dict(), tmp_path / "weights.pt")
    with pytest.raises(DataFormatError, match=r"dictionary \(0\.weight.*load_state_dict"):
        load_model(tmp_path / "weights.pt")
    torch.jit.save(torch.jit.trace(network, torch.zeros(2, 4)), tmp_path / "scripted.pt")
    with pytest.raises(NotApplicableError, match=r"TorchScript.*torch\.save\(model, path\)"):
        load_model(tmp_path / "scripted.pt")
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    with pytest.raises(DataFormatError, match="holds a Tensor, not a network"):
        load_model(tmp_path / "tensor.pt")
    (tmp_path / "notes.pt").write_text("not a model")
    with pytest.raises(DataFormatError, match=r"notes\.pt is not a network saved with torch\.save"):
        load_model(tmp_path / "notes.pt")
    with pytest.raises(DatasetNotFoundError, match="missing.pt does not exist"):
        load_model(tmp_path / "missing.pt")
    torch.save(network, tmp_path / "whole.pt")
    with pytest.raises(DatasetNotFoundError, match=r"code file .*net\.txt"):
        load_model(tmp_path / "whole.pt", code=tmp_path / "net.txt")
    assert isinstance(load_model(tmp_path / "whole.pt"), nn.Sequential)


# ----------------------------------------------------------------------------- what it reads


@needs_mnist
def test_images_are_read_as_the_network_was_trained(user):
    inputs = read_model_inputs(user["photos"], image_size=28, mean=(0.5,), std=(0.5,))
    assert inputs.X.shape == (400, 3, 28, 28) and inputs.X.dtype == torch.float32
    assert -1.0 <= float(inputs.X.min()) and float(inputs.X.max()) <= 1.0
    assert len(inputs.y) == 400 and len(set(inputs.names)) == 400
    assert all(
        name.split("/")[0] == label for name, label in zip(inputs.names, inputs.y, strict=True)
    )
    grey = read_model_inputs(user["unlabelled"], image_size=32, grey=True, mean=(0.5,), std=(1,))
    assert grey.X.shape == (40, 1, 32, 32) and grey.y is None
    with pytest.raises(InvalidParameterError, match="mean has 2 values; give one per channel"):
        read_model_inputs(user["unlabelled"], mean=(0.5, 0.5))
    with pytest.raises(InvalidParameterError, match="std must be positive"):
        read_model_inputs(user["unlabelled"], std=(0,))


def test_rows_of_a_file_take_the_networks_shape(tmp_path):
    np.savez(tmp_path / "rows.npz", X=np.arange(24.0).reshape(2, 12), y=["a", "b"])
    inputs = read_model_inputs(tmp_path / "rows.npz", shape=(3, 2, 2))
    assert inputs.X.shape == (2, 3, 2, 2) and inputs.y.tolist() == ["a", "b"]
    assert float(inputs.X[1, 0, 0, 0]) == 12.0 and inputs.names == ["0", "1"]
    with pytest.raises(InvalidParameterError, match="a row has 12 values.*5x5"):
        read_model_inputs(tmp_path / "rows.npz", shape=(5, 5))


def test_labels_are_matched_to_the_output_columns():
    names, columns = class_columns(np.array(["dog", "cat", "dog"]), 2)
    assert names == ["cat", "dog"] and columns.tolist() == [1, 0, 1]  # ImageFolder's order
    names, columns = class_columns(np.array([2, 0]), 3)
    assert names == ["0", "1", "2"] and columns.tolist() == [2, 0]
    names, columns = class_columns(np.array(["dog", "cat"]), 3, ["dog", "cat", "bird"])
    assert columns.tolist() == [0, 1]
    with pytest.raises(NotApplicableError, match="name 2 classes and the network has 3 outputs"):
        class_columns(np.array(["dog", "cat"]), 3)
    with pytest.raises(NotApplicableError, match="outside the network's 3 output columns"):
        class_columns(np.array([0, 5]), 3)
    with pytest.raises(NotApplicableError, match="The labels fox are not among"):
        class_columns(np.array(["fox"]), 2, ["dog", "cat"])
    with pytest.raises(NotApplicableError, match="3 class names are given for a network with 2"):
        class_columns(np.array(["dog"]), 2, ["dog", "cat", "bird"])


# ----------------------------------------------------------------------------- the command


@needs_mnist
@pytest.mark.parametrize(("method", "gain"), [("shot", 0.10), ("adabn", 0.03)])
def test_the_adapted_network_beats_the_users_on_the_new_domain(user, tmp_path, method, gain):
    output, predictions = tmp_path / "adapted.pt", tmp_path / "predictions.csv"
    result = run(
        user["model"], user["photos"], "--code", user["script"], *DIGITS, "--method", method,
        "-o", output, "--predictions", predictions, "--json", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["rows"] == 400 and report["labelled"] and report["method"] == method
    assert report["after"]["accuracy"] >= report["before"]["accuracy"] + gain, report
    assert report["after"]["classes_predicted"] == 10 and report["collapsed"] is None
    # the saved network is the adapted one, and the user's file is left as it was
    adapted = load_model(output, code=user["script"])
    inputs = read_model_inputs(user["photos"], image_size=28, mean=(0.5,), std=(0.5,))
    with torch.no_grad():
        classes = adapted(inputs.X).argmax(1).numpy()
        unchanged = load_model(user["model"], code=user["script"])(inputs.X).argmax(1).numpy()
    rows = list(csv.DictReader(predictions.open()))
    assert [r["item"] for r in rows] == inputs.names
    assert [int(r["prediction"]) for r in rows] == classes.tolist()
    assert [int(r["model_prediction"]) for r in rows] == unchanged.tolist()
    assert np.mean(classes == inputs.y.astype(int)) == pytest.approx(report["after"]["accuracy"])


@needs_mnist
def test_online_adaptation_predicts_each_batch_as_it_comes(user, tmp_path):
    result = run(
        user["model"], user["photos"], "--code", user["script"], *DIGITS, "--method", "tent",
        "--online", "--predictions", tmp_path / "p.csv", "--json", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["online"] and report["after"]["accuracy"] >= report["before"]["accuracy"] + 0.03
    rows = list(csv.DictReader((tmp_path / "p.csv").open()))
    labels = [r["item"].split("/")[0] for r in rows]  # back in the folder's order
    assert labels == sorted(labels)
    assert np.mean([r["prediction"] == label for r, label in zip(rows, labels, strict=True)]) == (
        pytest.approx(report["after"]["accuracy"])
    )


@needs_mnist
def test_unlabelled_photographs_get_named_classes_and_a_table(user, tmp_path):
    names = ",".join(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    )
    result = run(
        user["model"], user["unlabelled"], "--code", user["script"], *DIGITS, "--method", "tent",
        "--classes", names, "--predictions", tmp_path / "p.csv", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "TENT on 40 unlabelled images" in result.output and "accuracy" not in result.output
    assert "mean confidence" in result.output and "classes predicted" in result.output
    rows = list(csv.DictReader((tmp_path / "p.csv").open()))
    assert len(rows) == 40 and {r["prediction"] for r in rows} <= set(names.split(","))


@needs_mnist
def test_a_collapse_onto_one_class_is_called_so(user):
    # entropy minimisation alone, without SHOT's diversity term, at a large step: every photograph
    # ends in one class, confidently
    settings = ("diversity_weight=0", "pseudo_label_weight=0", "learning_rate=0.01")
    with pytest.warns(DegenerateResultWarning, match=r"collapsed: 100 % of the 400 target rows"):
        result = run(
            user["model"], user["photos"], "--code", user["script"], *DIGITS, "--json", "-q",
            *(item for setting in settings for item in ("--param", setting)),
        )  # fmt: skip
    report = json.loads(result.output[result.output.index("{") :])
    assert report["after"]["classes_predicted"] == 1 and report["collapsed"]
    assert "before adaptation" in report["collapsed"]


@needs_mnist
def test_bad_requests_name_the_problem(user, tmp_path):
    base = (user["model"], user["photos"], "--code", user["script"], *DIGITS, "-q")
    for extra, message in [
        (("--method", "adabn", "--epochs", "2"), "adabn does not train"),
        (("--online", "--epochs", "2"), "--online is one pass"),
        (("--method", "tent", "--head", "fc"), "--head names SHOT's head"),
        (("--param", "copy=false"), "--param copy: give it with --output"),
        (("--param", "lr=0.1"), "--param lr: none of shot has a parameter 'lr'"),
        (("--classes", "a,b"), "2 class names are given for a network with 10 outputs"),
        (("--head", "classifier"), "SHOT cannot find the classification head"),
        (("--image-size", "32"), "cannot take rows of shape (3, 32, 32)"),
    ]:
        result = run(*base, *extra)
        assert result.exit_code != 0 and message in result.output, (extra, result.output)
    result = run(user["model"], user["photos"], *DIGITS)
    assert result.exit_code != 0 and "--code" in result.output


# ----------------------------------------------------------------------------- robustness


@needs_mnist
def test_robustness_scores_the_users_network_under_attack_and_corruption(user, tmp_path):
    from transferkit.deep.model_files import Normalized
    from transferkit.robustness import robust_accuracy

    result = run(
        user["model"], user["photos"], "--code", user["script"], "--image-size", "28",
        "--mean", "0.5", "--std", "0.5", "--eps", "1/255,8/255", "--attack", "pgd",
        "--attack", "fgsm", "--corruption", "contrast", "--corruption", "blur",
        "--severity", "1,5", "--rows", "200", "--examples", tmp_path / "examples.png", "--json",
        "-q", command="robustness",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    from PIL import Image

    with Image.open(tmp_path / "examples.png") as figure:  # 6 rows, 1 + 2 + 2 columns
        assert report["examples"].endswith("examples.png") and figure.height > figure.width
    assert report["rows"] == 200 and [a["eps"] for a in report["attacks"]] == ["1/255", "8/255"] * 2
    pgd = {a["eps"]: a["accuracy"] for a in report["attacks"] if a["attack"] == "pgd"}
    assert report["clean"] > pgd["1/255"] > pgd["8/255"] + 0.1, report
    assert all(a["accuracy"] <= report["clean"] for a in report["attacks"])
    blur = {
        c["severity"]: c["accuracy"] for c in report["corruptions"] if c["corruption"] == "blur"
    }
    assert len(report["corruptions"]) == 4 and blur[5] < blur[1] - 0.1, report
    # the attacks leave the network as it was: the corruptions score the same without them
    alone = run(
        user["model"], user["photos"], "--code", user["script"], "--image-size", "28",
        "--mean", "0.5", "--std", "0.5", "--eps", "0", "--corruption", "contrast",
        "--corruption", "blur", "--severity", "1,5", "--rows", "200", "--json", "-q",
        command="robustness",
    )  # fmt: skip
    assert json.loads(alone.output)["corruptions"] == report["corruptions"]
    # the same numbers from Python: pixels in [0, 1], the standardisation inside the network
    inputs = read_model_inputs(user["photos"], image_size=28, mean=(0,), std=(1,))
    rows = np.sort(np.random.default_rng(0).choice(400, size=200, replace=False))
    network = Normalized(load_model(user["model"], code=user["script"]), (0.5,) * 3, (0.5,) * 3)
    X, y = inputs.X[rows], torch.tensor(inputs.y.astype(int)[rows])
    assert robust_accuracy(network, X, y, eps=0) == pytest.approx(report["clean"])
    assert robust_accuracy(network, X, y, eps=8 / 255, steps=10, batch_size=64) == pytest.approx(
        pgd["8/255"]
    )


@needs_mnist
def test_robustness_refuses_what_it_cannot_score(user, tmp_path):
    base = (user["model"], "--code", user["script"], "--image-size", "28", "-q")
    np.savez(tmp_path / "flat.npz", X=np.full((4, 5), 0.5), y=[0, 1, 0, 1])
    np.savez(tmp_path / "wide.npz", X=np.full((4, 3 * 28 * 28), 200.0), y=[0, 1, 0, 1])
    for data, extra, message in [
        (user["unlabelled"], (), "has no labels"),
        (user["photos"], ("--eps", "2"), "is above 1"),
        (user["photos"], ("--eps", "1/255,-1/255"), "--eps -1/255=-0.0039"),
        (user["photos"], ("--eps", "a/b"), "not a number or a fraction"),
        (user["photos"], ("--severity", "0,7"), "severities run from 1"),
        (user["photos"], ("--mean", "0.5,0.5"), "mean has 2 values; give one per channel (3)"),
        (tmp_path / "wide.npz", ("--input-shape", "3,28,28"), "give the network's --mean"),
        (tmp_path / "flat.npz", ("--mean", "0.5"), "flat.npz have shape (5,)"),
        (tmp_path / "flat.npz", ("--eps", "0"), "cannot take rows of shape (5,)"),
    ]:
        result = run(base[0], data, *base[1:], *extra, command="robustness")
        assert result.exit_code != 0 and message in result.output, (extra, result.output)


def test_photos_are_corrupted_in_torchs_layout():
    from transferkit.datasets.corruptions import corrupt_photo, corrupt_photos

    X = np.random.default_rng(0).uniform(size=(3, 3, 16, 12)).astype(np.float32)
    blurred = corrupt_photos(X, "blur", severity=5)
    assert blurred.shape == X.shape and blurred.std() < X.std()
    expected = np.moveaxis(corrupt_photo(np.moveaxis(X[1], 0, -1), "blur", 5), -1, 0)
    np.testing.assert_allclose(blurred[1], expected)
    noisy = corrupt_photos(X, "gaussian-noise", severity=1, random_state=3)
    np.testing.assert_array_equal(noisy, corrupt_photos(X, "gaussian-noise", 1, random_state=3))
    with pytest.raises(InvalidParameterError, match=r"needs images of shape \(n, channels"):
        corrupt_photos(X[:, 0], "blur")


@needs_mnist
def test_a_file_of_pixels_is_standardised_inside_the_network_as_a_folder_is(user, tmp_path):
    inputs = read_model_inputs(user["photos"], image_size=28, mean=(0,), std=(1,))
    np.savez(tmp_path / "pixels.npz", X=inputs.X.numpy(), y=inputs.y.astype(int))
    common = ("--code", user["script"], "--mean", "0.5", "--std", "0.5", "--eps", "0", "--json")
    folder = run(user["model"], user["photos"], "--image-size", "28", *common, command="robustness")
    rows = run(user["model"], tmp_path / "pixels.npz", *common, command="robustness")
    assert folder.exit_code == 0 and rows.exit_code == 0, (folder.output, rows.output)
    assert json.loads(rows.output)["clean"] == json.loads(folder.output)["clean"] > 0.4


def test_an_image_grid_needs_the_same_images_in_every_column(tmp_path):
    from transferkit.plots import plot_image_grid

    X = np.random.default_rng(0).uniform(size=(3, 1, 8, 8))
    path = plot_image_grid(
        {"clean": X, "dim": X / 2}, tmp_path / "grid.png", {"dim": ["a", "b", "c"]},
        {"dim": np.array([True, False, True])},
    )  # fmt: skip
    assert path.stat().st_size > 1000
    with pytest.raises(
        InvalidParameterError, match=r"same number of images.*clean: \(3, 1, 8, 8\)"
    ):
        plot_image_grid({"clean": X, "dim": X[:2]}, tmp_path / "bad.png")


@needs_mnist
def test_harden_trains_the_users_network_to_resist_the_attack(user, tmp_path):
    photos = sorted(user["photos"].glob("*/*.png"))
    for index, path in enumerate(photos):  # 300 photographs to train on, 100 held out
        folder = tmp_path / ("test" if index % 4 == 2 else "train") / path.parent.name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / path.name).write_bytes(path.read_bytes())
    original = user["model"].read_bytes()
    hardened = tmp_path / "robust.pt"
    common = ("--code", user["script"], *DIGITS, "-q")
    result = run(
        user["model"], tmp_path / "train", *common, "--eps", "8/255", "--epochs", "3",
        "--learning-rate", "1e-3", "--test", tmp_path / "test", "-o", hardened, "--json",
        command="harden",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["rows"] == 300 and report["epochs"] == 3 and len(report["losses"]) == 3
    before, after = report["before"], report["after"]
    assert after["pgd"] > before["pgd"] + 0.1, report  # held-out photographs, PGD-10 at 8/255
    assert after["clean"] > 0.4, report
    assert user["model"].read_bytes() == original  # MODEL is never changed
    # the file saved is the user's class, read as MODEL was, and scores as the command said
    assert type(load_model(hardened, code=user["script"])).__name__ == "DigitNet"
    scored = run(
        hardened, tmp_path / "test", *common, "--eps", "8/255", "--json", command="robustness"
    )
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.output)["attacks"][0]["accuracy"] == pytest.approx(after["pgd"])
    assert json.loads(scored.output)["clean"] == pytest.approx(after["clean"])
    for extra, message in [
        (("--eps", "0"), "training against no attack is plain training"),
        (("--eps", "1/255,2/255"), "--eps takes one budget"),
        (("--eps", "2"), "is above 1"),
    ]:
        result = run(user["model"], tmp_path / "train", *common, *extra, "-o", hardened,
                     command="harden")  # fmt: skip
        assert result.exit_code != 0 and message in result.output, (extra, result.output)
    result = run(user["model"], user["unlabelled"], *common, "--eps", "0.1", "-o", hardened,
                 command="harden")  # fmt: skip
    assert result.exit_code != 0 and "has no labels" in result.output, result.output


@needs_mnist
def test_adapt_aligns_the_users_network_with_its_source_data(user, tmp_path):
    from transferkit.datasets import load_pair

    pair = load_pair("digits", "mnist", "mnistm", random_state=2, n_source=800, n_target=10)
    rows = (pair.X_source.reshape(-1, 28, 28, 3).transpose(0, 3, 1, 2) - 0.5) / 0.5
    np.savez(tmp_path / "mnist.npz", X=rows.reshape(len(rows), -1), y=pair.y_source)
    original, adapted = user["model"].read_bytes(), tmp_path / "adapted.pt"
    common = ("--code", user["script"], *DIGITS, "--input-shape", "3,28,28", "-q")
    predictions = tmp_path / "photos.csv"
    result = run(
        user["model"], tmp_path / "mnist.npz", user["photos"], *common, "-o", adapted, "--json",
        "--predictions", predictions, command="adapt",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["method"] == "dan" and len(report["losses"]) == 5
    assert report["accuracy_after"] > report["accuracy_before"] + 0.05, report  # MNIST-M photos
    assert report["source_accuracy_after"] >= report["source_accuracy_before"] - 0.02, report
    assert user["model"].read_bytes() == original  # MODEL is never changed
    # the file saved scores the photographs as the command said
    network = load_model(adapted, code=user["script"])
    photos = read_model_inputs(user["photos"], image_size=28, mean=(0.5,), std=(0.5,))
    with torch.no_grad():
        predicted = network(photos.X).argmax(1).numpy()
    assert np.mean(predicted == photos.y.astype(int)) == pytest.approx(report["accuracy_after"])
    # the predictions file names each photograph, its class after and under MODEL
    rows = list(csv.DictReader(predictions.open()))
    assert [r["item"] for r in rows] == photos.names
    assert [int(r["prediction"]) for r in rows] == predicted.tolist()
    changed = np.mean([r["prediction"] != r["model_prediction"] for r in rows])
    assert changed == pytest.approx(report["changed"])
    # a target without one of the classes is scored in SOURCE's columns
    for path in user["photos"].glob("[0-8]/*.png"):
        (tmp_path / "partial" / path.parent.name).mkdir(parents=True, exist_ok=True)
        (tmp_path / "partial" / path.parent.name / path.name).write_bytes(path.read_bytes())
    result = run(
        user["model"], tmp_path / "mnist.npz", tmp_path / "partial", *common, "--epochs", "1",
        "--json", command="adapt",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["accuracy_before"] > 0.3
    for source, extra, message in [
        (user["unlabelled"], (), "has no labels: SOURCE is the labelled data"),
        (tmp_path / "mnist.npz", ("--method", "dann"), "'dann' is not one of"),
        (tmp_path / "mnist.npz", ("--head", "classifier"), "NetworkAdapter cannot find the"),
    ]:
        result = run(user["model"], source, user["photos"], *common, *extra, command="adapt")
        assert result.exit_code != 0 and message in result.output, (extra, result.output)


def test_an_alignment_that_costs_the_source_classes_warns(tmp_path):
    from transferkit.deep.network_adaptation import NetworkAdapter

    torch.manual_seed(0)
    network = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 2))
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-2)
    for _ in range(200):  # a network that separates the source classes
        optimizer.zero_grad()
        nn.functional.cross_entropy(network(torch.tensor(X)), torch.tensor(y)).backward()
        optimizer.step()
    torch.save(network.eval(), tmp_path / "net.pt")
    np.savez(tmp_path / "source.npz", X=X, y=y)
    target = X.copy()
    target[:, 0] = 3 + 0.1 * rng.normal(size=200)  # the feature that decides has no spread
    np.savez(tmp_path / "target.npz", X=target)
    args = (tmp_path / "net.pt", tmp_path / "source.npz", tmp_path / "target.npz", "-q")
    with pytest.warns(DegenerateResultWarning, match="classifies SOURCE .* points worse"):
        result = run(*args, "--trade-off", "1000", "--learning-rate", "1e-2", "--epochs", "30",
                     "--json", command="adapt")  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["source_accuracy_after"] < report["source_accuracy_before"] - 0.02
    with pytest.raises(ParameterValueError, match="method='mdd' is not supported"):
        NetworkAdapter(network, method="mdd").fit(X, y, X)
    with pytest.raises(InvalidParameterError, match="class columns 0 to 1"):
        NetworkAdapter(network).fit(X, y + 5, X)
