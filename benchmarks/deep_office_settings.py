"""Choose the backbone and ``jda_ot``'s settings for Office-Caltech10 images without target labels.

The approach of benchmarks/jda_ot_settings.py (whose grid and per-problem fitting it reuses),
applied to pre-trained CNN features: every (backbone, setting) pair of the 48-setting ``jda_ot``
grid is fitted on each of the 12 pairs for a few source draws, exactly as
benchmarks/deep_office.py runs it (harness protocol, transductive, 1-NN; the draw ``d`` is
``numpy.random.default_rng(d)``). Label-free scores per problem:

* **EnsV**: agreement of a candidate's target predictions with the majority vote of *all*
  candidates (every backbone, every setting) on that problem;
* **reverse validation** (Zhong et al. 2010): a 1-NN trained on the target with the candidate's
  predicted labels, scored on the (adapted) labelled source.

The candidate with the best mean EnsV over pairs and draws fixes the backbone and the settings
once for all 12 pairs; the best EnsV within each backbone is printed too (the settings used for
that backbone's rows). Target accuracy is printed only to show, labelled as hindsight, how far the
label-free pick lies from the best candidate.

    TRANSFERKIT_DATA=../shared/datasets nice -n 10 python benchmarks/deep_office_settings.py \\
        --seeds 0,1 --backbones mobilenet_v2,efficientnet_lite0,both
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from deep_office import DOMAINS, load_features, per_class  # noqa: E402
from jda_ot_settings import majority, predictions, settings  # noqa: E402

from transferkit.datasets.office import HARNESS_PER_CLASS  # noqa: E402
from transferkit.problem import TransferProblem  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1", help="comma-separated source draws")
    parser.add_argument("--backbones", default="mobilenet_v2,efficientnet_lite0,both")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    backbones = args.backbones.split(",")
    grid = settings()
    candidates = [(backbone, setting) for backbone in backbones for setting in grid]
    data = {backbone: load_features(backbone) for backbone in backbones}
    labels = data[backbones[0]][1]
    pairs = [(s, t) for s in DOMAINS for t in DOMAINS if s != t]
    ensv, reverse, accuracy = ([] for _ in range(3))
    start = time.perf_counter()
    for source, target in pairs:
        for seed in seeds:
            index = per_class(
                labels[source], HARNESS_PER_CLASS[source], np.random.default_rng(seed)
            )
            votes, reversed_scores = [], []
            for backbone in backbones:
                features = data[backbone][0]
                problem = TransferProblem(
                    features[source][index], labels[source][index], features[target]
                )
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    runs = predictions(problem, grid)
                votes += [runs[i][0] for i in range(len(grid))]
                reversed_scores += [runs[i][1] for i in range(len(grid))]
            votes = np.stack(votes)
            ensv.append((votes == majority(votes)).mean(axis=1))
            reverse.append(reversed_scores)
            accuracy.append((votes == labels[target]).mean(axis=1))
            print(
                f"done {source}->{target}/{seed} ({time.perf_counter() - start:.0f} s)", flush=True
            )
    ensv, reverse, accuracy = (np.array(a).mean(axis=0) for a in (ensv, reverse, accuracy))
    print(render(candidates, ensv, reverse, accuracy, seeds, time.perf_counter() - start))


def render(candidates, ensv, reverse, accuracy, seeds, seconds, top: int = 15) -> str:
    order = np.argsort(-ensv, kind="stable")
    lines = [
        f"office-caltech images, harness protocol, 12 pairs x source draws {seeds}; "
        f"{len(candidates)} candidates (backbone x jda_ot setting); wall {seconds:.0f} s.",
        "",
        "| rank (EnsV) | backbone | k | pseudo-labels | reg_e | reg_cl | EnsV | reverse "
        "| target acc. % (hindsight) |",
        "| ---: | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for rank, index in enumerate(order[:top], 1):
        backbone, s = candidates[index]
        lines.append(
            f"| {rank} | {backbone} | {s['n_components']} | {s['pseudo_labels']} | {s['reg_e']} | "
            f"{s['reg_cl']} | {ensv[index]:.3f} | {reverse[index]:.3f} | "
            f"{100 * accuracy[index]:.1f} |"
        )
    best = int(np.argmax(accuracy))
    lines += ["", f"EnsV's pick: {_name(candidates[order[0]])} -> {100 * accuracy[order[0]]:.1f} %"]
    for backbone in dict.fromkeys(b for b, _ in candidates):
        mine = [i for i in order if candidates[i][0] == backbone]
        lines.append(
            f"EnsV's pick for {backbone}: {_name(candidates[mine[0]])} -> "
            f"{100 * accuracy[mine[0]]:.1f} %; best in hindsight for it: "
            f"{100 * max(accuracy[i] for i in mine):.1f} %"
        )
    pick_reverse = int(np.argmax(reverse))
    lines += [
        f"reverse validation's pick: {_name(candidates[pick_reverse])} -> "
        f"{100 * accuracy[pick_reverse]:.1f} %",
        f"best in hindsight (target labels): {_name(candidates[best])} -> "
        f"{100 * accuracy[best]:.1f} %",
        f"mean over all candidates: {100 * accuracy.mean():.1f} %",
    ]
    return "\n".join(lines)


def _name(candidate: tuple[str, dict]) -> str:
    backbone, setting = candidate
    return f"{backbone} {setting}"


if __name__ == "__main__":
    main()
