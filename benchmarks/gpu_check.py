"""What runs where, and how much faster: deep training and feature extraction on the CPU and on
CUDA (full and mixed precision), and data-parallel training in 1 and N processes.

Run it on a machine with a GPU (it also runs without one, and says what it skipped)::

    TRANSFERKIT_DATA=/path/to/datasets python benchmarks/gpu_check.py
    python benchmarks/gpu_check.py --epochs 3 --images 128 --only training,ddp

Each row of the printed table says what ran, on which device, for how long, the speed-up over the
same work on the CPU, and the accuracy where there is one:

* ``training``: DANN on digits mnist -> mnistm (2,000 source, 2,000 target, 1,000 test images, the
  LeNet of the digits-deep suite, batch 64, no early stopping), ``--epochs`` epochs, seed 0;
* ``extraction``: MobileNetV2 pooled features of the first ``--images`` Office-Caltech10 amazon
  images, cache off (the CPU in batches of 32; CUDA in batches sized to its free memory);
* ``ddp``: the training row again in 1 process and in ``--ddp`` processes (gloo on the CPU; nccl on
  as many GPUs, when there are that many), means over ``--seeds``; the seconds are the training
  loop's (rank 0), the wall time includes starting the processes.

CPU rows use ``--threads`` torch threads (default: every core), CUDA rows one.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from typing import Any

import numpy as np
import torch

from transferkit.datasets import load_pair
from transferkit.deep.backbones import device_batch_size, extract_features, load_backbone
from transferkit.deep.distributed import DataParallel, deep_settings
from transferkit.deep.methods import DANN

PAIR = ("digits", "mnist", "mnistm", {"n_source": 2000, "n_target": 2000, "n_test": 1000})


def _problem() -> Any:
    name, source, target, options = PAIR
    return load_pair(name, source, target, random_state=0, **options)


def _accuracy(model: Any, problem: Any) -> float:
    return float(np.mean(model.predict(problem.X_test) == problem.y_test))


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _train(problem: Any, device: str, amp: bool, epochs: int) -> dict[str, Any]:
    model = DANN(epochs=epochs, patience=0, random_state=0, device=device)
    with deep_settings(amp=amp):
        started = time.perf_counter()
        model.fit(problem)
        _sync(device)
        seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "per_epoch": model.history_.seconds / model.history_.n_epochs,
        "accuracy": _accuracy(model, problem),
    }


def training_rows(epochs: int, cuda: bool) -> list[dict[str, Any]]:
    problem = _problem()
    rows = []
    runs = [("cpu", False)] + ([("cuda", False), ("cuda", True)] if cuda else [])
    for device, amp in runs:
        result = _train(problem, device, amp, epochs)
        what = f"DANN digits, {epochs} epochs"
        rows.append({"group": "training", "what": what, "device": device, "amp": amp, **result})
    return rows


def _images(count: int) -> Any:
    from transferkit.datasets.office import load_office_caltech_images

    images, _ = load_office_caltech_images("amazon")
    return images[: min(count, len(images))]


def extraction_rows(count: int, cuda: bool) -> list[dict[str, Any]]:
    images = _images(count)
    backbone = load_backbone("mobilenet_v2")
    rows = []
    runs = [("cpu", False)] + ([("cuda", False), ("cuda", True)] if cuda else [])
    for device, amp in runs:
        batch = device_batch_size(backbone.to(device), device, amp=amp)
        started = time.perf_counter()
        features = extract_features(
            images, backbone, device=device, use_cache=False, batch_size=batch, amp=amp
        )
        _sync(device)
        seconds = time.perf_counter() - started
        rows.append(
            {
                "group": "extraction",
                "what": f"MobileNetV2 features, {len(images)} images (batch {batch})",
                "device": device,
                "amp": amp,
                "seconds": seconds,
                "per_second": features.shape[0] / seconds,
            }
        )
    return rows


def ddp_rows(epochs: int, processes: int, cuda: bool, seeds: list[int]) -> list[dict[str, Any]]:
    problem = _problem()
    rows = []
    runs = [("cpu", "gloo")]
    if cuda and torch.cuda.device_count() >= processes:
        runs.append(("cuda", "nccl"))
    for device, backend in runs:
        for count in (1, processes):
            seconds, walls, accuracies = [], [], []
            for seed in seeds:
                model = DANN(epochs=epochs, patience=0, random_state=seed, device=device)
                started = time.perf_counter()
                if count == 1:
                    fitted = model.fit(problem)
                else:
                    parallel = DataParallel(model, processes=count, backend=backend)
                    fitted = parallel.fit(problem).method_
                walls.append(time.perf_counter() - started)
                seconds.append(fitted.history_.seconds)
                accuracies.append(_accuracy(fitted, problem))
            rows.append(
                {
                    "group": f"ddp {device}",
                    "what": f"DANN digits, {epochs} epochs, {count} process(es) ({backend})",
                    "device": device,
                    "amp": False,
                    "seconds": float(np.mean(seconds)),
                    "wall": float(np.mean(walls)),
                    "accuracy": float(np.mean(accuracies)),
                    "seeds": ", ".join(f"{100 * a:.1f}" for a in accuracies),
                }
            )
    return rows


def _speed_ups(rows: list[dict[str, Any]]) -> None:
    """Each row's speed-up over the first row of its group (the CPU's, or 1 process's)."""
    reference: dict[str, float] = {}
    for row in rows:
        reference.setdefault(row["group"], row["seconds"])
        row["speed_up"] = reference[row["group"]] / row["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--ddp", type=int, default=2, help="Processes of the data-parallel rows.")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--only", default="training,extraction,ddp")
    parser.add_argument("--seeds", default="0", help="Seeds of the ddp rows (mean reported).")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available()
    print(
        f"torch {torch.__version__}, Python {platform.python_version()}, {os.cpu_count()} CPU cores "
        f"({args.threads} torch threads on the CPU rows)"
    )
    if cuda:
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            print(f"cuda:{index}: {props.name}, {props.total_memory / 2**30:.0f} GiB")
    else:
        print("No CUDA device: the CUDA rows are skipped (the CPU rows still run).")
    parts = set(args.only.split(","))
    rows: list[dict[str, Any]] = []
    if "training" in parts:
        rows += training_rows(args.epochs, cuda)
    if "extraction" in parts:
        rows += extraction_rows(args.images, cuda)
    if "ddp" in parts:
        rows += ddp_rows(args.epochs, args.ddp, cuda, [int(s) for s in args.seeds.split(",")])
    _speed_ups(rows)
    print()
    print("| what | device | amp | seconds | speed-up | accuracy | other |")
    print("| --- | --- | --- | ---: | ---: | ---: | --- |")
    for row in rows:
        accuracy = f"{100 * row['accuracy']:.1f}" if "accuracy" in row else ""
        other = []
        if "per_epoch" in row:
            other.append(f"{row['per_epoch']:.2f} s/epoch")
        if "per_second" in row:
            other.append(f"{row['per_second']:.1f} images/s")
        if "wall" in row:
            other.append(f"wall {row['wall']:.1f} s")
        if "seeds" in row:
            other.append(f"seeds: {row['seeds']}")
        print(
            f"| {row['what']} | {row['device']} | {'yes' if row['amp'] else 'no'} | "
            f"{row['seconds']:.1f} | {row['speed_up']:.2f}x | {accuracy} | {', '.join(other)} |"
        )


if __name__ == "__main__":
    main()
