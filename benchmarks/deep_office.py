"""Office-Caltech10 images with pre-trained CNN features: source-only, shallow methods, DANN.

Usage: nice -n 10 python benchmarks/deep_office.py [--backbone mobilenet_v2] [--protocol harness]
       [--draws 10] [--first-draw 0] [--methods source_only,coral,sa,ot] [--params JSON] [--dann-epochs 30]
Features come from transferkit's on-disk cache (run benchmarks/deep_extract.py or
`transferkit extract-features` first; missing ones are computed). ``--backbone`` is
``mobilenet_v2`` or ``efficientnet_lite0`` (pooled 1,280-d penultimate layers), or ``both``: the
two feature sets, each pre-processed on its own, side by side (2,560-d). Protocols:

* harness — the OfficeCaltechDomainAdaptation protocol (docs/protocols.md): features L1-normalised and
  standardised per domain, 20 source images per class (8 from dslr), the whole target is the
  adaptation and test set, 1-NN, 10 draws; SA d = 80, TCA linear d = 80 μ = 1, OT =
  SinkhornLpl1 (reg_e 2, reg_cl 1, median-normalised cost), CORAL λ = 1, JDA k = 100 λ = 1;
  ``jda_ot`` uses its registered defaults unless ``--params`` says otherwise.
* full — every source image, the same pre-processing, logistic regression (C = 1); one run.

``--params '{"jda_ot": {"n_components": 20, "reg_e": 0.5}}'`` replaces a method's parameters (the
settings benchmarks/deep_office_settings.py picks without target labels).

`--dann` adds DANN (an MLP with gradient reversal on the features; transferkit.deep.methods.DANN)
with the protocol's source subset and a logistic head.

`--finetune` (one backbone only) adds fine-tuning with the built-in suite's settings (the top 2
stages and a new head, backbone lr 1e-4, head lr 1e-3, 10 epochs; no early stopping, so every
source image trains; transferkit.deep.finetune.FineTunedClassifier) on the protocol's source
images. Two columns: ``finetune`` scores the protocol's classifier on the fine-tuned network's pooled
features (pre-processed as the frozen ones), ``finetune_head`` its own new head.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from transferkit.datasets.office import (
    HARNESS_PER_CLASS,
    harness_preprocess,
    load_office_caltech_features,
)
from transferkit.datasets.office import load_office_caltech_images as load_images
from transferkit.datasets.office import per_class_sample as per_class
from transferkit.problem import TransferProblem
from transferkit.registry import make_classifier, make_method

DOMAINS = ("amazon", "caltech10", "dslr", "webcam")
SHORT = {"amazon": "A", "caltech10": "C", "dslr": "D", "webcam": "W"}
HARNESS_PARAMS = {
    "source_only": {},
    "coral": {"regularization": 1.0},
    "sa": {"n_components": 80},
    "tca": {"n_components": 80, "mu": 1.0, "kernel": "linear"},
    "ot": {"method": "lpl1", "reg_e": 2.0, "reg_cl": 1.0, "norm": "median"},
    "jda": {"n_components": 100, "regularization": 1.0, "n_iterations": 10},
    "jda_ot": {},
}
BACKBONES = ("mobilenet_v2", "efficientnet_lite0")


def load_features(backbone: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Harness-pre-processed features and labels of every domain; ``both`` = the two backbones'
    features, each L1-normalised and standardised on its own, then concatenated."""
    features, labels = {}, {}
    for domain in DOMAINS:
        features[domain], labels[domain] = load_office_caltech_features(domain, backbone)
    return features, labels


def finetune(
    args, classifier, source_images, target_images, y_source, index, draw
) -> tuple[np.ndarray, np.ndarray]:
    """Fine-tune on the source images ``index``; predictions of (the protocol's ``classifier``
    on the fine-tuned pooled features, the network's own head) on the whole target."""
    from transferkit.deep.finetune import FineTunedClassifier

    problem = TransferProblem(source_images[index], y_source[index], target_images)
    model = FineTunedClassifier(
        backbone=args.backbone,
        trainable_stages=2,
        epochs=10,
        patience=None,
        validation_fraction=0.0,
        random_state=draw,
    ).fit(problem)
    Zs = harness_preprocess(model.transform(source_images[index]))
    Zt = harness_preprocess(model.transform(target_images))
    predicted = make_classifier(classifier, draw).fit(Zs, y_source[index]).predict(Zt)
    return predicted, model.predict(target_images)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backbone", choices=[*BACKBONES, "both"], default="mobilenet_v2")
    parser.add_argument("--protocol", choices=["harness", "full"], default="harness")
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument(
        "--first-draw", type=int, default=0, help="draws first..first+draws-1 (new source samples)"
    )
    parser.add_argument("--methods", default="source_only,coral,sa,ot")
    parser.add_argument("--params", default="{}", help="JSON {method: {param: value}}")
    parser.add_argument("--dann", action="store_true")
    parser.add_argument("--dann-epochs", type=int, default=30)
    parser.add_argument("--finetune", action="store_true", help="fine-tune the top 2 stages")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    wall = time.perf_counter()
    params = {**HARNESS_PARAMS, **json.loads(args.params)}
    if args.finetune and args.backbone == "both":
        parser.error("--finetune trains one backbone: choose --backbone mobilenet_v2 or ...lite0")
    features, labels = load_features(args.backbone)
    images = {domain: load_images(domain)[0] for domain in DOMAINS} if args.finetune else {}
    methods = [m for m in args.methods.split(",") if m] + (["dann"] if args.dann else [])
    if args.finetune:
        methods += ["finetune", "finetune_head"]
    classifier = "1nn" if args.protocol == "harness" else {"name": "logreg", "C": 1.0}
    draws = args.draws if args.protocol == "harness" else 1
    print(
        f"backbone={args.backbone} (penultimate, {features[DOMAINS[0]].shape[1]}-d), "
        f"protocol={args.protocol}, classifier={classifier}, "
        + (
            f"draws={args.first_draw}..{args.first_draw + draws - 1}"
            if args.protocol == "harness"
            else "every source image"
        )
    )
    shallow = [m for m in methods if m not in ("dann", "finetune", "finetune_head")]
    print("params: " + json.dumps({m: params.get(m, {}) for m in shallow}))
    print("| pair | " + " | ".join(methods) + " |")
    print("| --- | " + " | ".join("---" for _ in methods) + " |")
    means = {m: [] for m in methods}
    seconds = {m: 0.0 for m in methods}
    for source in DOMAINS:
        for target in DOMAINS:
            if source == target:
                continue
            cells = []
            finetuned: dict[int, tuple[np.ndarray, np.ndarray]] = {}
            for method in methods:
                scores = []
                for draw in range(args.first_draw, args.first_draw + draws):
                    rng = np.random.default_rng(draw)
                    if args.protocol == "harness":
                        index = per_class(labels[source], HARNESS_PER_CLASS[source], rng)
                    else:
                        index = np.arange(len(labels[source]))
                    problem = TransferProblem(
                        features[source][index],
                        labels[source][index],
                        features[target],
                        y_target=labels[target],
                    )
                    started = time.perf_counter()
                    if method in ("finetune", "finetune_head"):
                        if draw not in finetuned:
                            finetuned[draw] = finetune(
                                args, classifier, images[source], images[target],
                                labels[source], index, draw,
                            )  # fmt: skip
                        predicted = finetuned[draw][method == "finetune_head"]
                        seconds[method] += time.perf_counter() - started
                        scores.append(100 * float(np.mean(predicted == labels[target])))
                        continue
                    if method == "dann":
                        model = make_method(
                            "dann",
                            {
                                "epochs": args.dann_epochs,
                                "hidden_dim": 256,
                                "patience": None,
                                "batch_size": 32,
                                "trade_off": 1.0,
                                "standardize": False,
                                "validation_fraction": 0.0,
                            },
                            random_state=draw,
                        )
                    else:
                        model = make_method(
                            method, params.get(method, {}), classifier, random_state=draw
                        )
                    model.fit(problem)
                    predicted = model.predict(features[target])
                    seconds[method] += time.perf_counter() - started
                    scores.append(100 * float(np.mean(predicted == labels[target])))
                means[method].append(np.mean(scores))
                cells.append(
                    f"{np.mean(scores):.1f} ± {np.std(scores):.1f}"
                    if draws > 1
                    else f"{np.mean(scores):.1f}"
                )
            print(f"| {SHORT[source]}→{SHORT[target]} | " + " | ".join(cells) + " |", flush=True)
    print("| **mean** | " + " | ".join(f"**{np.mean(means[m]):.1f}**" for m in methods) + " |")
    print("| seconds | " + " | ".join(f"{seconds[m]:.0f}" for m in methods) + " |")
    print(f"wall {time.perf_counter() - wall:.0f} s")


if __name__ == "__main__":
    main()
