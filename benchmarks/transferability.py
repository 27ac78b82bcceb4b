"""Which pre-trained model to transfer from: do the transferability scores order backbones × layers
as trained heads do?

Data
----
Office-Caltech10 images (``office_caltech10/images`` in the data home), one labelled target
domain at a time: amazon and caltech10 sub-sampled to ``--per-class`` images per class (30 by
default, drawn with ``--seed``), dslr and webcam whole (157 and 295 images); and MNIST
(``mnist/mnist.pkl.gz``, the test split, ``--per-class`` digits per class), far from ImageNet.

Candidates
----------
MobileNetV2 and EfficientNet-Lite0 (ImageNet-pre-trained, ``transferkit.deep.backbones``) ×
layers: ``penultimate`` (pooled last 1×1 convolution, 1,280-d), ``last_block`` (pooled last
block, 320-d), ``logits`` (the 1,000 ImageNet logits), ``stage14`` and ``stage11`` (the pooled
output of the first 14 / 11 stages): ten candidates per target. LEEP and NCE read each backbone's
ImageNet softmax, so the five layers of one backbone share their value.

Protocol
--------
Scores: LogME, H-score (Ledoit–Wolf covariance), LEEP, NCE on all the target's labelled images,
features as extracted (no scaling). Ground truth: 5-fold stratified cross-validated accuracy
(``--seed``) of a logistic regression (C = 1, standardised features) on each candidate. Check:
Kendall's τ-b between each score and that accuracy over the ten candidates. Robustness of the
check: τ again against the accuracy averaged over the fold seeds ``--cv-seeds`` (0–4). BLAS/torch
use one thread.

Run (the first time, feature extraction takes about 40 minutes on the 2 shared cores; with the
features cached by ``extract_features``, about a minute):

    TRANSFERKIT_DATA=../shared/datasets PYTHONPATH=src python benchmarks/transferability.py

Writes ``benchmarks/results/transferability/<domain>.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau

from transferkit.datasets import load_mnist
from transferkit.datasets.office import load_office_caltech_images, per_class_sample
from transferkit.transferability import SCORES, backbone_candidates, head_accuracy, rank_models

BACKBONES = ("mobilenet_v2", "efficientnet_lite0")
LAYERS = ("penultimate", "last_block", "logits", "stage14", "stage11")
RESULTS = Path(__file__).parent / "results" / "transferability"


def run_target(domain: str, per_class: int | None, seed: int, cv_seeds: list[int]) -> dict:
    """Rank every candidate on one labelled target domain; the ranking and its timings."""
    if domain == "mnist":
        # the test split's 28×28 grey digits; extract_features scales them to the 224-px RGB input
        images, y = load_mnist("test")
    else:
        images, y = load_office_caltech_images(domain)
    if per_class is not None:
        index = per_class_sample(y, per_class, np.random.default_rng(seed))
        images, y = images[index], y[index]
    started = time.perf_counter()
    features, probabilities = backbone_candidates(images, BACKBONES, LAYERS)
    extracted = time.perf_counter()
    ranking = rank_models(features, y, source_probabilities=probabilities, random_state=seed)
    finished = time.perf_counter()
    # robustness of the check itself: the heads' accuracy averaged over several fold splits
    repeated = np.array(
        [
            np.mean([head_accuracy(features[name], y, random_state=s)[0] for s in cv_seeds])
            for name in ranking.candidates
        ]
    )
    repeated_tau = {
        score: float(kendalltau(values, repeated).statistic)
        for score, values in ranking.scores.items()
    }
    return {
        "dataset": "mnist" if domain == "mnist" else "office-caltech-images",
        "domain": domain,
        "per_class": per_class,
        "seed": seed,
        **ranking.to_dict(),
        "repeated_folds": {
            "cv_seeds": list(cv_seeds),
            "accuracy": [float(a) for a in repeated],
            "kendall_tau": {k: None if np.isnan(v) else v for k, v in repeated_tau.items()},
        },
        "seconds": {
            "features": round(extracted - started, 1),
            "scores_and_heads": round(finished - extracted, 1),
        },
        "machine": f"{platform.machine()}, {platform.python_version()}, 2 shared CPU cores",
    }


def markdown(results: list[dict]) -> str:
    """Kendall's τ per target and score, then each target's candidates, best head first."""
    lines = [
        "| target | images | head accuracy (min–max) | " + " | ".join(SCORES) + " |",
        "| --- | ---: | --- | " + " | ".join("---:" for _ in SCORES) + " |",
    ]
    for result in results:
        accuracy = np.array(result["accuracy"]) * 100
        taus = [result["kendall_tau"].get(score, {}).get("tau") for score in SCORES]
        lines.append(
            f"| {result['domain']} | {result['protocol']['n_samples']} | "
            f"{accuracy.min():.1f}–{accuracy.max():.1f} | "
            + " | ".join("–" if tau is None else f"{tau:.2f}" for tau in taus)
            + " |"
        )
    lines += [
        "",
        "Kendall's τ against the accuracy averaged over the fold seeds "
        + ", ".join(str(s) for s in results[0]["repeated_folds"]["cv_seeds"])
        + ":",
        "",
        "| target | " + " | ".join(SCORES) + " |",
        "| --- | " + " | ".join("---:" for _ in SCORES) + " |",
    ]
    for result in results:
        taus = [result["repeated_folds"]["kendall_tau"].get(score) for score in SCORES]
        lines.append(
            f"| {result['domain']} | "
            + " | ".join("–" if tau is None else f"{tau:.2f}" for tau in taus)
            + " |"
        )
    for result in results:
        lines += [
            "",
            f"**{result['domain']}**",
            "",
            "| candidate | head accuracy | " + " | ".join(SCORES) + " |",
            "| --- | ---: | " + " | ".join("---:" for _ in SCORES) + " |",
        ]
        order = np.argsort(-np.array(result["accuracy"]), kind="stable")
        for i in order:
            values = [result["scores"][score][i] for score in SCORES]
            lines.append(
                f"| {result['candidates'][i]} | {100 * result['accuracy'][i]:.1f} | "
                + " | ".join(f"{v:.3f}" for v in values)
                + " |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", default="amazon,caltech10,dslr,webcam,mnist")
    parser.add_argument("--per-class", type=int, default=30, help="for amazon, caltech10 and mnist")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--cv-seeds",
        type=lambda text: [int(v) for v in text.split(",")],
        default=[0, 1, 2, 3, 4],
        help="fold seeds of the repeated check",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    args.output.mkdir(parents=True, exist_ok=True)
    results = []
    with threadpool_limits(limits=1):
        for domain in args.domains.split(","):
            per_class = args.per_class if domain in ("amazon", "caltech10", "mnist") else None
            result = run_target(domain, per_class, args.seed, args.cv_seeds)
            (args.output / f"{domain}.json").write_text(json.dumps(result, indent=2) + "\n")
            results.append(result)
    print(markdown(results))


if __name__ == "__main__":
    main()
