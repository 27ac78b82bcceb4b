"""transferkit's few-shot classifiers beside easyfsl's, on the identical episodes.

Each setting is a ``fewshot-office-caltech`` task (EfficientNet-Lite0 features, raw): its seed
draws the episodes once, and every method, ours and easyfsl's (with an identity backbone on the
same features), classifies the same shots and queries. Prints a Markdown table of mean accuracy
± 95 % interval per method and setting, and the seconds each took.

easyfsl 1.5.0 goes in without its dependencies (it would pull torchvision and another torch):
``pip install --no-deps easyfsl==1.5.0``. Its package imports torchvision's ResNet blocks at import
time for its ResNet backbones, which are not used here; where torchvision is absent or built for
another torch, this script registers a stand-in ``torchvision.models.resnet`` module holding those
four names, so the classifiers import.

Usage::

    python benchmarks/fewshot_peers.py --episodes 200
"""

from __future__ import annotations

import argparse
import sys
import time
import types

import numpy as np
import torch

from transferkit.datasets import load_task
from transferkit.fewshot import episode_accuracy_summary
from transferkit.registry import make_method

SETTINGS = {
    "amazon 5-way 1-shot": ("amazon", "amazon", 1),
    "amazon 5-way 5-shot": ("amazon", "amazon", 5),
    "amazon→webcam 5-way 1-shot": ("amazon", "webcam", 1),
}


def import_easyfsl() -> types.ModuleType:
    """easyfsl.methods, with a stand-in for the torchvision ResNet blocks its package imports."""
    try:
        import torchvision.models.resnet  # noqa: F401
    except (ImportError, RuntimeError):  # absent, or built for another torch
        for name in [m for m in sys.modules if m.split(".")[0] == "torchvision"]:
            del sys.modules[name]
        stand_in = types.ModuleType("torchvision.models.resnet")
        for name in ("BasicBlock", "Bottleneck", "conv1x1", "conv3x3"):
            setattr(stand_in, name, type(name, (), {}))
        models = types.ModuleType("torchvision.models")
        models.resnet = stand_in
        package = types.ModuleType("torchvision")
        package.models = models
        sys.modules.update(
            {
                "torchvision": package,
                "torchvision.models": models,
                "torchvision.models.resnet": stand_in,
            }
        )
    import easyfsl.methods

    return easyfsl.methods


def easyfsl_classifiers(methods: types.ModuleType) -> dict[str, object]:
    """easyfsl's classifiers on features: the backbone is the identity; rows made unit length
    (``feature_normalization=2``) as ours are, except SimpleShot (cosine by construction)."""
    return {
        "easyfsl PrototypicalNetworks": methods.PrototypicalNetworks(feature_normalization=2),
        "easyfsl SimpleShot": methods.SimpleShot(),
        "easyfsl BDCSPN (transductive)": methods.BDCSPN(feature_normalization=2),
        "easyfsl TIM (transductive)": methods.TIM(feature_normalization=2),
        "easyfsl Finetune": methods.Finetune(feature_normalization=2),
    }


def run_easyfsl(model: object, task: object) -> tuple[dict[str, float], float]:
    start = time.perf_counter()
    X_query, _ = task.query_pool
    support_pool = torch.as_tensor(np.asarray(task.X_support, dtype=np.float32))
    query_pool = torch.as_tensor(np.asarray(X_query, dtype=np.float32))
    accuracies = []
    for episode in task.episodes():
        model.process_support_set(
            support_pool[episode.support_index], torch.as_tensor(episode.support_labels)
        )
        with torch.enable_grad():  # the fine-tuning methods train inside forward
            scores = model(query_pool[episode.query_index])
        predicted = scores.argmax(dim=1).numpy()
        accuracies.append(float(np.mean(predicted == episode.query_labels)))
    return episode_accuracy_summary(accuracies), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--settings", nargs="*", default=list(SETTINGS), choices=list(SETTINGS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    methods = import_easyfsl()
    ours = ["prototypes", "transductive", "linear_probe", "fewshot_finetune"]
    rows: dict[str, dict[str, str]] = {}
    seconds: dict[str, float] = {}
    for setting in args.settings:
        shots, queries, k_shot = SETTINGS[setting]
        task = load_task(
            "fewshot-office-caltech",
            shots,
            queries,
            random_state=args.seed,
            k_shot=k_shot,
            episodes=args.episodes,
        )
        for name in ours:
            method = make_method(name, random_state=args.seed)
            start = time.perf_counter()
            details = method.evaluate(task)
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start
            rows.setdefault(name, {})[setting] = (
                f"{100 * details['accuracy']:.1f} ± {100 * details['ci95']:.1f}"
            )
        for name, model in easyfsl_classifiers(methods).items():
            summary, took = run_easyfsl(model, task)
            seconds[name] = seconds.get(name, 0.0) + took
            rows.setdefault(name, {})[setting] = (
                f"{100 * summary['accuracy']:.1f} ± {100 * summary['ci95']:.1f}"
            )
        print(f"done: {setting}", file=sys.stderr, flush=True)
    print(f"| method | {' | '.join(args.settings)} | seconds |")
    print(f"| --- | {' | '.join('---:' for _ in args.settings)} | ---: |")
    for name, cells in rows.items():
        print(f"| {name} | {' | '.join(cells[s] for s in args.settings)} | {seconds[name]:.0f} |")


if __name__ == "__main__":
    main()
