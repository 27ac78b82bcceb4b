"""transferkit's continual strategies beside avalanche-lib 0.6's on the identical stream.

Both libraries train the same initial MLP (same seed, same weights) on the same rows of a
transferkit stream, with the same optimiser (a fresh Adam per experience), batch size, epochs and
strategy settings; each trained model is tested by the same function (transferkit's masks: in the
class scenario the classes seen so far, in the domain scenario the shared units), so the accuracy
matrices are comparable cell by cell. Seconds per epoch: the wall time of training each experience
(each library's consolidation after it included, testing excluded) over the epochs run.

Run (2-core CPU, one torch thread)::

    TRANSFERKIT_DATA=../shared/datasets nice python benchmarks/continual_peers.py \\
        --stream split-mnist --scenarios class domain --n-train 2000 --n-test 1000 --epochs 3 \\
        --seeds 0 1 2

Each seed draws its own rows, initial weights and strategy randomness, the same for both
libraries (avalanche's memory draws use Python's ``random``, seeded here too); one line per seed
and strategy, then the mean and sample standard deviation over the seeds.

What differs inside avalanche, beyond the code: its EWC estimates the Fisher from squared
mini-batch gradients over the whole experience with the true labels (transferkit: per-row
gradients of the model's own prediction on ``fisher_samples`` rows) and has no 1/2 before lambda
(passed here as lambda / 2); avalanche 0.6 keeps Adam's moments from one experience to the next
unless told otherwise, so a two-line plugin here forgets them at each experience as transferkit's
fresh Adam does (kept, they delay learning the new classes: with 16 steps per task its naive
model still predicted the previous task's classes); in the class scenario it trains all ten
output units from the first experience on (transferkit opens the units of the classes seen so
far); its A-GEM walks each task's memory in order for the reference batch, ``sample_size // k``
rows from each of the ``k`` earlier tasks, and keeps each task's short last batch, so with 256
rows per task and ``k = 3`` every fourth reference gradient comes from 3 rows (transferkit draws
``sample_size // k`` rows of each task at random, every step the same number);
``--avalanche-agem-whole-batches`` drops that short batch. The task scenario is not compared:
avalanche builds it from multi-head modules, a different model.

avalanche-lib 0.6 needs torchvision, whose wheels on PyPI are CUDA builds that cannot load their
operators beside the CPU build of torch; avalanche only needs torchvision's Python side here, so
the script declares the two operators (``nms``, ``qnms``) that torchvision registers fake
kernels for at import, and stubs ``wandb`` and ``torch.utils.tensorboard`` (imported by
avalanche's loggers, unused here).
"""

from __future__ import annotations

import argparse
import copy
import random
import sys
import time
import types
from collections import defaultdict
from typing import Any

import numpy as np
import torch
from torch import nn


def _prepare_avalanche_imports() -> None:
    for name in ("wandb", "torch.utils.tensorboard"):
        if name not in sys.modules:
            stub = types.ModuleType(name)
            stub.SummaryWriter = object  # type: ignore[attr-defined]
            sys.modules[name] = stub
    try:
        import torchvision  # noqa: F401
    except RuntimeError:
        # the CUDA wheel's _C did not load: declare the ops torchvision registers fake kernels for
        library = torch.library.Library("torchvision", "DEF")
        library.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        library.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _prepare_avalanche_imports.library = library  # type: ignore[attr-defined]
        for module in [m for m in sys.modules if m.startswith("torchvision")]:
            del sys.modules[module]
        import torchvision  # noqa: F401


def _model(stream: Any, hidden: tuple[int, ...], seed: int) -> nn.Module:
    from transferkit.deep.backbones import MLPEncoder

    torch.manual_seed(seed)
    encoder = MLPEncoder(stream.n_features, hidden=hidden)
    return nn.Sequential(encoder, nn.Linear(encoder.out_features, stream.n_outputs))


@torch.no_grad()
def _accuracy(model: nn.Module, stream: Any, seen: int, j: int) -> float:
    model.eval()
    experience = stream.experiences[j]
    logits = model(torch.as_tensor(experience.X_test))
    mask = torch.as_tensor(stream.output_mask([j], seen=seen))
    predicted = logits.masked_fill(~mask, float("-inf")).argmax(dim=1).numpy()
    return float(np.mean(predicted == experience.y_test))


def _avalanche_strategy(name: str, model: nn.Module, settings: dict[str, Any], args: Any) -> Any:
    from avalanche.core import SupervisedPlugin
    from avalanche.training.plugins import EvaluationPlugin, ReplayPlugin
    from avalanche.training.storage_policy import ReservoirSamplingBuffer
    from avalanche.training.supervised import (
        AGEM,
        EWC,
        Cumulative,
        LwF,
        Naive,
        SynapticIntelligence,
    )

    class FreshAdam(SupervisedPlugin):
        """Adam's moments forgotten at each experience, as transferkit does (avalanche 0.6 keeps
        them by default: the old classes' momentum then delays learning the new ones)."""

        def before_training_exp(self, strategy: Any, **kwargs: Any) -> None:
            strategy.optimizer.state = defaultdict(dict)

    class WholeReferenceBatches(SupervisedPlugin):
        """A-GEM's memory loader rebuilt so that it drops each task's short last batch.

        avalanche walks each earlier task's memory in order in batches of ``sample_size // k``
        rows (``k`` earlier tasks) and keeps the short last one: with 256 rows per task and
        ``k = 3`` the reference batch is 255, 255, 255, then 3 rows. Dropping it gives every
        step a reference batch of ``k * (sample_size // k)`` rows, as transferkit's A-GEM has.
        """

        def before_training_exp(self, strategy: Any, **kwargs: Any) -> None:
            from avalanche.benchmarks.utils.data_loader import GroupBalancedInfiniteDataLoader
            from avalanche.training.plugins import AGEMPlugin

            agem = next(p for p in strategy.plugins if isinstance(p, AGEMPlugin))
            if agem.buffers:
                agem.buffer_dataloader = GroupBalancedInfiniteDataLoader(
                    agem.buffers,
                    batch_size=agem.sample_size // len(agem.buffers),
                    num_workers=0,
                    drop_last=True,
                )
                agem.buffer_dliter = iter(agem.buffer_dataloader)

    common = {
        "model": model,
        "optimizer": torch.optim.Adam(model.parameters(), lr=args.learning_rate),
        "criterion": nn.CrossEntropyLoss(),
        "train_mb_size": args.batch_size,
        "train_epochs": args.epochs,
        "eval_mb_size": 1024,
        "device": "cpu",
        "evaluator": EvaluationPlugin(loggers=[]),
    }
    if name != "replay":
        common["plugins"] = [FreshAdam()]
    if name == "naive":
        return Naive(**common)
    if name == "joint":
        return Cumulative(**common)
    if name == "ewc":
        return EWC(ewc_lambda=settings["ewc_lambda"] / 2, mode="separate", **common)
    if name == "online_ewc":
        return EWC(ewc_lambda=settings["ewc_lambda"] / 2, mode="online", decay_factor=1.0, **common)
    if name == "si":
        return SynapticIntelligence(si_lambda=settings["c"], eps=settings["damping"], **common)
    if name == "lwf":
        return LwF(alpha=settings["alpha"], temperature=settings["temperature"], **common)
    if name == "replay":
        size = settings["memory_size"]
        plugin = ReplayPlugin(mem_size=size, storage_policy=ReservoirSamplingBuffer(size))
        return Naive(plugins=[FreshAdam(), plugin], **common)
    if name == "agem":
        if args.avalanche_agem_whole_batches:
            common["plugins"].append(WholeReferenceBatches())
        return AGEM(
            patterns_per_exp=settings["memory_per_experience"],
            sample_size=settings["sample_size"],
            **common,
        )
    raise ValueError(name)


def _run_avalanche(
    name: str, stream: Any, model: nn.Module, settings: dict, args: Any, seed: int
) -> dict:
    from avalanche.benchmarks.scenarios.dataset_scenario import benchmark_from_datasets
    from avalanche.benchmarks.utils.classification_dataset import (
        _make_taskaware_tensor_classification_dataset as tensor_dataset,
    )

    train_sets = [
        tensor_dataset(torch.as_tensor(e.X_train), torch.as_tensor(e.y_train), task_labels=0)
        for e in stream.experiences
    ]
    test_sets = [
        tensor_dataset(torch.as_tensor(e.X_test), torch.as_tensor(e.y_test), task_labels=0)
        for e in stream.experiences
    ]
    benchmark = benchmark_from_datasets(train=train_sets, test=test_sets)
    strategy = _avalanche_strategy(name, model, settings, args)
    T = stream.n_tasks
    R = np.zeros((T, T))
    seconds = 0.0
    for i, experience in enumerate(benchmark.train_stream):
        torch.manual_seed(seed * 1000 + i)
        random.seed(seed * 1000 + i)
        started = time.perf_counter()
        strategy.train(experience, num_workers=0)
        seconds += time.perf_counter() - started
        R[i] = [_accuracy(strategy.model, stream, i, j) for j in range(T)]
    return {"R": R, "seconds_per_epoch": seconds / (T * args.epochs)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stream", default="split-mnist")
    parser.add_argument("--scenarios", nargs="+", default=["class", "domain"])
    parser.add_argument(
        "--strategies",
        nargs="+",
        default=["naive", "joint", "ewc", "online_ewc", "si", "lwf", "replay", "agem"],
    )
    parser.add_argument("--n-train", type=int, default=2000, help="training rows per task")
    parser.add_argument("--n-test", type=int, default=1000, help="test rows per task")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--hidden", type=int, nargs="+", default=[400, 400])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--avalanche-agem-whole-batches",
        action="store_true",
        help="avalanche's A-GEM without the short last batch of its memory loader: every "
        "reference batch of k * (sample_size // k) rows, as transferkit's",
    )
    parser.add_argument(
        "--matrices",
        action="store_true",
        help="also print each library's accuracy matrix (test accuracy on task j after training "
        "task i), averaged over the seeds",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    _prepare_avalanche_imports()
    import avalanche

    from transferkit.continual import average_accuracy, backward_transfer, load_stream
    from transferkit.continual.strategies import ContinualStrategy
    from transferkit.registry import make_method

    print(
        f"stream {args.stream}, {args.n_train} training / {args.n_test} test rows per task, "
        f"MLP {args.hidden}, {args.epochs} epochs of batches of {args.batch_size}, Adam "
        f"{args.learning_rate}, seeds {args.seeds}; avalanche-lib {avalanche.__version__}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} thread"
    )
    columns = ("acc tk", "acc av", "bwt tk", "bwt av", "s/ep tk", "s/ep av")
    print(f"{'scenario':<8} {'strategy':<11} {'seed':>4} " + " ".join(f"{c:>8}" for c in columns))
    results: dict[tuple[str, str], list[list[float]]] = defaultdict(list)
    matrices: dict[tuple[str, str], list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)
    for scenario in args.scenarios:
        for seed in args.seeds:
            stream = load_stream(
                args.stream,
                scenario,
                random_state=seed,
                n_train_per_task=args.n_train,
                n_test_per_task=args.n_test,
            )
            for name in args.strategies:
                initial = _model(stream, tuple(args.hidden), seed)
                ours: ContinualStrategy = make_method(
                    name,
                    {
                        "model": copy.deepcopy(initial),
                        "epochs": args.epochs,
                        "batch_size": args.batch_size,
                        "learning_rate": args.learning_rate,
                    },
                    random_state=seed,
                )
                ours.score_problem(stream)
                settings = ours.get_params()
                peer = _run_avalanche(name, stream, copy.deepcopy(initial), settings, args, seed)
                row = [
                    100 * ours.details_["average_accuracy"],
                    100 * average_accuracy(peer["R"]),
                    100 * ours.details_["bwt"],
                    100 * backward_transfer(peer["R"]),
                    ours.seconds_per_epoch_,
                    peer["seconds_per_epoch"],
                ]
                results[scenario, name].append(row)
                matrices[scenario, name].append((ours.accuracy_matrix_, peer["R"]))
                print(
                    f"{scenario:<8} {name:<11} {seed:>4} "
                    + " ".join(f"{v:8.2f}" if k < 4 else f"{v:8.3f}" for k, v in enumerate(row)),
                    flush=True,
                )
    print(f"\nmean ± sample std over seeds {args.seeds}")
    print(f"{'scenario':<8} {'strategy':<11} " + " ".join(f"{c:>15}" for c in columns))
    for (scenario, name), rows in results.items():
        values = np.asarray(rows)
        std = values.std(axis=0, ddof=1) if len(values) > 1 else np.zeros(values.shape[1])
        cells = [
            f"{m:7.2f} ± {d:5.2f}" if k < 4 else f"{m:6.3f} ± {d:5.3f}"
            for k, (m, d) in enumerate(zip(values.mean(axis=0), std, strict=True))
        ]
        print(f"{scenario:<8} {name:<11} " + " ".join(f"{c:>15}" for c in cells), flush=True)
    if args.matrices:
        for (scenario, name), pairs in matrices.items():
            for library, k in (("transferkit", 0), ("avalanche", 1)):
                mean = 100 * np.mean([pair[k] for pair in pairs], axis=0)
                print(f"\n{scenario} {name} {library}: mean accuracy matrix R[i, j] in %")
                print("\n".join(" ".join(f"{v:5.1f}" for v in row) for row in mean), flush=True)


if __name__ == "__main__":
    main()
