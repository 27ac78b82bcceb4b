"""Data-parallel training (two gloo processes on the CPU), device and mixed-precision settings."""

from __future__ import annotations

import json
import os
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from transferkit.cli import main  # noqa: E402
from transferkit.datasets import load_pair  # noqa: E402
from transferkit.deep import training  # noqa: E402
from transferkit.deep.distributed import (  # noqa: E402
    DataParallel,
    deep_settings,
    gather_rows,
    launch,
    process_rank,
    settings,
    world_size,
)
from transferkit.deep.methods import DANN, DeepCORAL  # noqa: E402
from transferkit.deep.training import resolve_device, train  # noqa: E402
from transferkit.exceptions import InvalidParameterError  # noqa: E402
from transferkit.problem import TransferProblem  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: Deep CORAL (a loss on the gathered batch) with a small network, on a real pair of 157 → 295
PARAMS = {"epochs": 8, "hidden_dim": 32, "patience": None, "random_state": 0}
EPOCHS_BEFORE_INTERRUPT = 3
no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without a GPU")


@pytest.fixture(scope="module")
def problem():
    return load_pair("office-caltech-surf", "dslr", "webcam", random_state=0)


def _accuracy(model, problem) -> float:
    return float(np.mean(model.predict(problem.X_target) == problem.y_target))


class Interrupted(Exception):
    """A run stopped between two epochs."""


class InterruptAfter:
    """A progress callback raising :class:`Interrupted` at the end of epoch ``epochs``."""

    def __init__(self, epochs: int):
        self.epochs = epochs

    def on_start(self, total_epochs: int, steps_per_epoch: int, first_epoch: int) -> None:
        pass

    def on_step(self, logs: dict[str, float]) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if epoch + 1 == self.epochs:
            raise Interrupted

    def on_end(self) -> None:
        pass


#: Plain SGD on batches that split evenly: one process and two must compute the same steps
EVEN = {
    "epochs": 3,
    "batch_size": 64,
    "validation_fraction": 0,
    "patience": None,
    "optimizer": "sgd",
    "learning_rate": 0.05,
    "hidden_dim": 16,
    "random_state": 0,
}


def _even_problem(problem):
    """The first 128 source and target rows of the real pair: two batches of 64 an epoch."""
    return TransferProblem(problem.X_source[:128], problem.y_source[:128], problem.X_target[:128])


def _weights_after_sgd(method, problem, seed: int = 0) -> np.ndarray:
    model = method(**{**EVEN, "random_state": seed}).fit(_even_problem(problem))
    modules = [model.encoder_, model.classifier_]
    return torch.cat([p.detach().reshape(-1) for m in modules for p in m.parameters()]).numpy()


def _on_every_rank(problem, folder: str) -> list[dict]:
    """What each rank sees: the gather, a full run, an interrupted run and its resumption."""
    rank = process_rank()
    report: dict = {"rank": rank, "world_size": world_size()}

    # rows of different lengths per rank, gathered in rank order; gradients reach their owner
    rows = torch.full((rank + 2, 3), float(rank), requires_grad=True)
    gathered = gather_rows(rows)
    (gathered * gathered).sum().backward()
    report["gathered"] = gathered.detach().numpy()
    report["gradient"] = rows.grad.numpy()

    # the gradient of two half batches, averaged (per-rank DANN loss, gathered CORAL loss), is the
    # gradient of the whole batch: the weights follow one process's up to rounding
    report["sgd"] = {m.__name__: _weights_after_sgd(m, problem) for m in (DeepCORAL, DANN)}

    saves = []
    save = torch.save
    torch.save = lambda *args, **kwargs: (saves.append(rank), save(*args, **kwargs))[1]
    try:
        model = DeepCORAL(**PARAMS).fit(problem)
        report["weights"] = torch.cat(
            [p.detach().reshape(-1) for p in model.encoder_.parameters()]
        ).numpy()
        report["accuracy"] = _accuracy(model, problem)
        report["proba"] = model.predict_proba(problem.X_target)
        report["again"] = DeepCORAL(**PARAMS).fit(problem).predict_proba(problem.X_target)
        try:
            DeepCORAL(
                **PARAMS, checkpoint=folder, progress=InterruptAfter(EPOCHS_BEFORE_INTERRUPT)
            ).fit(problem)
        except Interrupted:
            pass
        report["saves_before_resume"] = len(saves)
        resumed = DeepCORAL(**PARAMS, checkpoint=folder).fit(problem)
        report["resumed_from"] = resumed.history_.resumed_from
        report["resumed_proba"] = resumed.predict_proba(problem.X_target)
    finally:
        torch.save = save
    everyone: list = [None] * world_size()
    dist.all_gather_object(everyone, report)
    return everyone


def test_two_processes_train_like_one_keep_equal_weights_and_resume_rank_0s_checkpoint(
    problem, tmp_path
):
    one = DeepCORAL(**PARAMS).fit(problem)
    assert one.history_.n_epochs == PARAMS["epochs"]
    ranks = launch(_on_every_rank, 2, problem, str(tmp_path), backend="gloo", threads=1)
    first, second = ranks
    assert [r["rank"] for r in ranks] == [0, 1] and first["world_size"] == 2

    # the gather: rank 0's two rows, then rank 1's three; d(sum of squares of the gathered rows)
    # summed over the two ranks' copies of the loss is 2 x 2 x the row
    assert first["gathered"].shape == (5, 3)
    assert np.array_equal(first["gathered"][:, 0], [0, 0, 1, 1, 1])
    assert np.array_equal(first["gathered"], second["gathered"])
    assert np.allclose(first["gradient"], 0.0) and np.allclose(second["gradient"], 4.0)

    for method in (DeepCORAL, DANN):
        one_process = _weights_after_sgd(method, problem)
        assert np.allclose(first["sgd"][method.__name__], one_process, rtol=0, atol=1e-6)
        # (another seed, other weights and batches: far apart at this tolerance)
        assert not np.allclose(one_process, _weights_after_sgd(method, problem, 1), atol=1e-3)

    # every step averages the gradients: the two ranks hold the same weights to the last bit
    assert np.array_equal(first["weights"], second["weights"])
    assert np.array_equal(first["proba"], second["proba"])
    # the same seed and world size give the same numbers
    assert np.array_equal(first["proba"], first["again"])
    # the same global batches split in two: the accuracy stays within noise of one process (the
    # runs differ by rounding and, in batches of odd size, by the weight of each half's mean)
    assert abs(first["accuracy"] - _accuracy(one, problem)) <= 0.03
    assert first["accuracy"] > 0.5  # ten classes: far above chance (0.1)

    # only rank 0 writes checkpoints; both ranks resume from its file and end where a run that
    # was never interrupted ends
    assert first["saves_before_resume"] == EPOCHS_BEFORE_INTERRUPT
    assert second["saves_before_resume"] == 0
    assert (tmp_path / "train.pt").exists()
    for report in ranks:
        assert report["resumed_from"] == EPOCHS_BEFORE_INTERRUPT
        assert np.allclose(report["resumed_proba"], first["proba"], atol=1e-5)


def _abort_on_rank_1() -> int:
    if process_rank() == 1:
        os.abort()
    dist.barrier()
    return 0


def _raise_on_rank_0() -> int:
    if process_rank() == 0:
        raise InvalidParameterError("rank 0 met a bad value")
    dist.barrier()
    return 0


def test_a_rank_that_fails_before_the_end_fails_the_launch():
    # a Python error comes back as itself; a rank killed in its work is not taken for a result
    with pytest.raises(InvalidParameterError, match="rank 0 met a bad value"):
        launch(_raise_on_rank_0, 2, backend="gloo", threads=1)
    with pytest.raises(mp.ProcessExitedException, match="SIGABRT"):
        launch(_abort_on_rank_1, 2, backend="gloo", threads=1)


def test_data_parallel_estimator_scores_like_the_runner(problem):
    model = DataParallel(DeepCORAL(**{**PARAMS, "epochs": 2}), processes=2, backend="gloo")
    score = model.score_problem(problem)
    assert model.details_ == {"world_size": 2}
    single = DeepCORAL(**{**PARAMS, "epochs": 2}).fit(problem)
    assert abs(score - _accuracy(single, problem)) <= 0.05
    with pytest.raises(InvalidParameterError, match="processes must be an integer"):
        launch(print, 0)


def test_settings_reach_the_device_and_are_checked(monkeypatch):
    with deep_settings(device="cpu", amp=True, processes=3):
        assert settings() == {"device": "cpu", "amp": True, "processes": 3}
        assert resolve_device("auto") == torch.device("cpu")
    assert settings()["processes"] == 1 and not settings()["amp"]
    monkeypatch.setenv("TRANSFERKIT_AMP", "maybe")
    with pytest.raises(InvalidParameterError, match="TRANSFERKIT_AMP='maybe'.*1 or 0"):
        settings()
    with pytest.raises(InvalidParameterError, match="processes must be an integer >= 1"):
        with deep_settings(processes=0):
            pass


@no_gpu
def test_cuda_without_a_gpu_is_a_clear_error():
    for device in ("cuda", "cuda:0"):
        with pytest.raises(InvalidParameterError, match="no CUDA device.*'cpu'"):
            resolve_device(device)
    with deep_settings(device="cuda"), pytest.raises(InvalidParameterError, match="GPU"):
        DeepCORAL(epochs=1).fit(np.zeros((4, 2)), [0, 1, -1, -1])


def test_mixed_precision_runs_the_step_in_bfloat16_on_the_cpu(problem):
    dtypes = []
    layer = torch.nn.Linear(4, 2)

    def step(xs, ys, xt, progress):
        logits = layer(xs)
        dtypes.append(logits.dtype)
        return torch.nn.functional.cross_entropy(logits.float(), ys), {}

    X, y = torch.randn(32, 4), torch.randint(0, 2, (32,))
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1)
    train({"layer": layer}, step, optimizer, X, y, epochs=1, batch_size=16, amp=True)
    with deep_settings(amp=True):
        train({"layer": layer}, step, optimizer, X, y, epochs=1, batch_size=16)
    train({"layer": layer}, step, optimizer, X, y, epochs=1, batch_size=16)
    assert dtypes == [torch.bfloat16] * 4 + [torch.float32] * 2
    assert training.autocast_dtype(torch.device("cpu")) == torch.bfloat16

    # a whole method under mixed precision learns the real pair as in full precision (seeds
    # move this accuracy by about 0.04)
    with deep_settings(amp=True):
        mixed = DeepCORAL(**PARAMS).fit(problem)
    assert (
        abs(_accuracy(mixed, problem) - _accuracy(DeepCORAL(**PARAMS).fit(problem), problem)) < 0.02
    )


SUITE = """
    [suite]
    name = "ddp-cli"
    seeds = [0]

    [[datasets]]
    name = "office-caltech-surf"
    pairs = [["dslr", "webcam"]]

    [[methods]]
    name = "deep_coral"
    params = { epochs = 2, hidden_dim = 16 }
"""


@pytest.mark.parametrize(
    "options",
    [["--device", "cpu"], ["--device", "cpu", "--amp"]],
    ids=["cpu", "cpu-amp"],
)
def test_bench_runs_deep_cells_with_device_and_amp(options, tmp_path):
    suite = tmp_path / "suite.toml"
    suite.write_text(textwrap.dedent(SUITE))
    result = CliRunner().invoke(
        main, ["bench", str(suite), "--db", str(tmp_path / "r.sqlite"), "-q", "--json", *options]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["results"]
    assert [(r["n_ok"], r["n_error"]) for r in rows] == [(1, 0)]
    assert settings() == {"device": "auto", "amp": False, "processes": 1}  # restored after


@no_gpu
def test_bench_with_cuda_and_no_gpu_stops_before_any_cell(tmp_path):
    result = CliRunner().invoke(
        main, ["bench", "demo", "--db", str(tmp_path / "r.sqlite"), "--device", "cuda"]
    )
    assert result.exit_code != 0
    assert "no CUDA device" in result.output and "--device cpu" in result.output
    assert not (tmp_path / "r.sqlite").exists()
