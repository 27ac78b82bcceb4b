"""Amazon reviews, 12 pairs: the shallow DANN of Ganin et al. (2016, Algorithm 1), raw and mSDA.

Usage: nice -n 10 python benchmarks/deep_amazon.py [--features raw|msda] [--adaptation 0.1]
       [--learning-rate 0.01[,0.001,auto,...]] [--epochs 10] [--seed 0] [--decimals 1]
Protocol (docs/protocols.md): 2,000 labelled source reviews, 2,000 unlabelled target reviews, scored on
the target test file. Prints a markdown table (per pair: plain network λ = 0 at the first learning
rate, DANN at each learning rate) and the means. Several learning rates share one mSDA fit.
``auto`` is ShallowDANN's ``learning_rate="auto"`` (μ = 2 / mean ‖x‖² of the pair's rows); the
table then adds the μ it used on each pair.
``--reverse-validation`` prints, instead, each learning rate's reverse-validation score (Ganin et
al. 2016, Sec. 5.1.3; no target labels), the paper's way of choosing it.
``--select-by-reverse-validation`` runs the paper's protocol on every pair: score each learning
rate by reverse validation, keep the highest (a tie goes to the rate listed first), fit it on the
whole problem and report its target accuracy; the table ends with the mean of those choices.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from transferkit.datasets import load_pair, standard_pairs
from transferkit.deep.shallow_dann import ShallowDANN, reverse_validation_score

PUBLISHED_RAW = {("books", "dvd"): 78.4, ("books", "electronics"): 73.3,
                 ("books", "kitchen"): 77.9, ("dvd", "books"): 72.3,
                 ("dvd", "electronics"): 75.4, ("dvd", "kitchen"): 78.3,
                 ("electronics", "books"): 71.3, ("electronics", "dvd"): 73.8,
                 ("electronics", "kitchen"): 85.4, ("kitchen", "books"): 70.9,
                 ("kitchen", "dvd"): 74.0, ("kitchen", "electronics"): 84.3}  # fmt: skip
PUBLISHED_MSDA = {("books", "dvd"): 82.9, ("books", "electronics"): 80.4,
                  ("books", "kitchen"): 84.3, ("dvd", "books"): 82.5,
                  ("dvd", "electronics"): 80.9, ("dvd", "kitchen"): 84.9,
                  ("electronics", "books"): 77.4, ("electronics", "dvd"): 78.1,
                  ("electronics", "kitchen"): 88.1, ("kitchen", "books"): 71.8,
                  ("kitchen", "dvd"): 78.9, ("kitchen", "electronics"): 85.6}  # fmt: skip


def msda_features(problem, n_layers: int, noise: float):
    """mSDA (Chen et al. 2012) from transferkit.invariant, fitted on source + target."""
    from transferkit.invariant import MSDA

    adapter = MSDA(n_layers=n_layers, noise=noise).fit(problem)
    return problem.map_features(adapter.transform)


def parse_rate(text: str) -> float | str:
    return "auto" if text.strip() == "auto" else float(text)


def label(rate: float | str) -> str:
    return rate if isinstance(rate, str) else f"{rate:g}"


def _model(
    args: argparse.Namespace, rate: float | str, adaptation: float | None = None
) -> ShallowDANN:
    return ShallowDANN(
        adaptation=args.adaptation if adaptation is None else adaptation,
        learning_rate=rate,
        epochs=args.epochs,
        random_state=args.seed,
        batch_size=args.batch_size,
    )


def select_by_reverse_validation(args, pairs, rates, published) -> None:
    """Per pair: reverse-validate each rate, fit the best one (ties: first listed), score it."""
    rv_columns = " | ".join(f"RV μ={label(rate)}" for rate in rates)
    print(f"| pair | {rv_columns} | chosen μ | shallow DANN | published DANN | seconds |")
    print("| --- " * (len(rates) + 5) + "|")
    chosen_scores, started_all = [], time.perf_counter()
    for source, target in pairs:
        started = time.perf_counter()
        problem = load_pair("amazon-reviews", source, target)
        if args.features == "msda":
            problem = msda_features(problem, args.msda_layers, args.msda_noise)
        validation = [reverse_validation_score(_model(args, rate), problem) for rate in rates]
        best = int(np.argmax(validation))  # argmax keeps the first of tied maxima
        model = _model(args, rates[best]).fit(problem)
        score = 100 * float(np.mean(model.predict(problem.X_test) == problem.y_test))
        chosen_scores.append(score)
        cells = " | ".join(f"{value:.4f}" for value in validation)
        print(
            f"| {source[0].upper()}→{target[0].upper()} | {cells} | {label(rates[best])} | "
            f"{score:.1f} | {published[(source, target)]:.1f} | "
            f"{time.perf_counter() - started:.0f} |",
            flush=True,
        )
    mean_published = np.mean([published[p] for p in pairs])
    print(
        f"| **mean** |{' |' * len(rates)} | {np.mean(chosen_scores):.1f} | "
        f"{mean_published:.1f} | {time.perf_counter() - started_all:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--features", choices=["raw", "msda"], default="raw")
    parser.add_argument("--adaptation", type=float, default=0.1)
    parser.add_argument("--learning-rate", default="0.01", help="one value or a comma list")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--msda-layers", type=int, default=5)
    parser.add_argument("--msda-noise", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=1, help="1 = Algorithm 1 exactly")
    parser.add_argument("--skip-plain", action="store_true", help="do not run λ = 0")
    parser.add_argument("--pairs", default="all")
    parser.add_argument("--decimals", type=int, default=1, help="of the accuracies in the table")
    parser.add_argument(
        "--reverse-validation",
        action="store_true",
        help="only print each learning rate's reverse-validation score (no target labels)",
    )
    parser.add_argument(
        "--select-by-reverse-validation",
        action="store_true",
        help="per pair, fit and score the learning rate with the best reverse-validation score",
    )
    args = parser.parse_args()
    published = PUBLISHED_RAW if args.features == "raw" else PUBLISHED_MSDA
    rates = [parse_rate(r) for r in args.learning_rate.split(",")]
    pairs = standard_pairs("amazon-reviews")
    if args.pairs != "all":
        wanted = {tuple(p.split(":")) for p in args.pairs.split(",")}
        pairs = [p for p in pairs if p in wanted]
    print(
        f"features={args.features}, λ={args.adaptation}, μ={args.learning_rate}, "
        f"epochs={args.epochs}, hidden=50, seed={args.seed}"
    )
    if args.select_by_reverse_validation:
        select_by_reverse_validation(args, pairs, rates, published)
        return
    if args.reverse_validation:
        for source, target in pairs:
            problem = load_pair("amazon-reviews", source, target)
            if args.features == "msda":
                problem = msda_features(problem, args.msda_layers, args.msda_noise)
            for rate in rates:
                score = reverse_validation_score(_model(args, rate), problem)
                print(
                    f"{source}->{target} μ={label(rate)}: reverse validation {score:.4f}",
                    flush=True,
                )
        return
    dann_columns = (
        ["shallow DANN"] if len(rates) == 1 else [f"shallow DANN μ={label(r)}" for r in rates]
    )
    auto = "auto" in rates

    plain = [] if args.skip_plain else ["plain NN (λ=0)"]
    columns = [*plain, *dann_columns, "published DANN", *(["μ (auto)"] if auto else []), "seconds"]
    print("| pair | " + " | ".join(columns) + " |")
    print("| --- " * (len(columns) + 1) + "|")
    plain_scores, started_all = [], time.perf_counter()
    dann_scores: list[list[float]] = [[] for _ in rates]
    for source, target in pairs:
        started = time.perf_counter()
        problem = load_pair("amazon-reviews", source, target)
        if args.features == "msda":
            problem = msda_features(problem, args.msda_layers, args.msda_noise)
        scores, used = [], ""
        settings = [(args.adaptation, rate) for rate in rates]
        if not args.skip_plain:
            settings.insert(0, (0.0, rates[0]))
        for adaptation, rate in settings:
            model = _model(args, rate, adaptation).fit(problem)
            scores.append(100 * float(np.mean(model.predict(problem.X_test) == problem.y_test)))
            if rate == "auto" and adaptation > 0:
                used = f" | {model.learning_rate_:.5f}"
        if not args.skip_plain:
            plain_scores.append(scores[0])
        for column, score in zip(dann_scores, scores[len(plain) :], strict=True):
            column.append(score)
        cells = " | ".join(f"{score:.{args.decimals}f}" for score in scores)
        print(
            f"| {source[0].upper()}→{target[0].upper()} | {cells} | "
            f"{published[(source, target)]:.1f}{used} | {time.perf_counter() - started:.0f} |",
            flush=True,
        )
    mean_published = np.mean([published[p] for p in pairs])
    means = " | ".join(
        f"{np.mean(column):.{args.decimals}f}"
        for column in ([] if args.skip_plain else [plain_scores]) + dann_scores
    )
    print(
        f"| **mean** | {means} | {mean_published:.1f}{' |' if auto else ''} | "
        f"{time.perf_counter() - started_all:.0f} |"
    )


if __name__ == "__main__":
    main()
