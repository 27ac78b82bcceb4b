"""`transferkit diagnose` on every standard pair of every built-in dataset, as one table.

Each pair is loaded with its dataset's default options (random_state 0) and diagnosed with the
defaults of :func:`transferkit.diagnose.diagnose` (α = 0.05, 200 permutations, 5-fold domain classifier; no
target label is revealed, so the label-space and conditional-shift checks are "not testable").
Image pairs are diagnosed on RGB thumbnails, as the command does. Prints a markdown table: the
verdict of each check (yes / no / –), how many features are used in one domain only (a vocabulary
shift: same feature space, P(X) differs; counted under covariate shift, not feature_space), the
domain classifier's AUC with its 95 % interval, the largest change of a class prior that
black-box shift estimation finds, and the seconds taken.

Usage:
    TRANSFERKIT_DATA=../shared/datasets python benchmarks/diagnose_all.py [--datasets a,b]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from transferkit.datasets import list_datasets, load_pair  # noqa: E402
from transferkit.diagnose import diagnose  # noqa: E402
from transferkit.diagnose.results import FLAGS  # noqa: E402

WORD = {True: "yes", False: "no", None: "–"}


def row(dataset: str, source: str, target: str) -> str:
    started = time.perf_counter()
    problem = load_pair(dataset, source, target, random_state=0)
    result = diagnose(problem)
    seconds = time.perf_counter() - started
    domain = result.details["marginal"]["domain_classifier"]
    bbse = result.details["labels"].get("bbse") or {}
    if bbse.get("target_priors") is not None:
        change = np.max(np.abs(np.subtract(bbse["target_priors"], bbse["source_priors"])))
        prior = f"{change:.2f}"
    else:
        prior = "–"
    flags = " | ".join(WORD[result.flags[flag]] for flag in FLAGS)
    specific = result.details["feature_space"].get("domain_specific")
    vocabulary = (
        "–" if specific is None else str(specific["n_only_source"] + specific["n_only_target"])
    )
    auc = f"{domain['auc']:.2f} [{domain['auc_ci'][0]:.2f}, {domain['auc_ci'][1]:.2f}]"
    return (
        f"| {dataset} | {source}→{target} | {result.summary['n_source']} / "
        f"{result.summary['n_target']} | {flags} | {vocabulary} | {auc} | {prior} | "
        f"{seconds:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="all", help="comma-separated names, or 'all'")
    args = parser.parse_args()
    infos = list_datasets()
    if args.datasets != "all":
        wanted = args.datasets.split(",")
        infos = [info for info in infos if info.name in wanted]
    warnings.simplefilter("ignore")
    started = time.perf_counter()
    print(
        "| dataset | pair | n source / target | "
        + " | ".join(FLAGS)
        + " | features in one domain only | domain AUC [95 % CI] | largest prior change (BBSE) "
        "| seconds |"
    )
    print("|" + " --- |" * (len(FLAGS) + 7))
    for info in infos:
        for source, target in info.pairs:
            print(row(info.name, source, target), flush=True)
    print(f"\n{sum(len(i.pairs) for i in infos)} pairs in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
