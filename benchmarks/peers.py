"""Our shallow methods against skada's and POT's: same data, same hyper-parameters, one run.

For every Office-Caltech SURF pair (harness protocol, one source draw per seed) each method is fitted
and applied to source and target by transferkit and by each peer; the adapted data are scored the
same way (1-NN for feature mappings, as in the harness; logistic regression C=1 with the weights for
re-weighting methods). Reported: mean accuracy, fit+transform CPU time on one BLAS thread (best of
``--repeat`` runs, summed over pairs; CPU time because the machine is shared), and peak traced memory (tracemalloc: NumPy and Python allocations, max over
pairs), with the peer/ours ratios (> 1: ours is faster / smaller) as the median over pairs.

Hyper-parameters are matched as follows (see each runner):

* CORAL: ours ``regularization=1`` (``C + I``); skada ``reg=0.5`` (shrinkage ``0.5 C + 0.5 mu I``);
  on standardised domains (``mu = tr(C)/d ~ 1``) the two give the same map up to a scalar that
  cancels between whitening and re-colouring.
* SA: 80 components. TCA: linear kernel, 80 components, ``mu = 1`` (skada's ``mu`` multiplies
  ``K L K``, the paper's divides it; both are 1).
* OT: class-regularised Sinkhorn (``lpl1``) with ``reg_e = 2``, ``reg_cl = 1`` on the cost divided by
  its median; POT's ``SinkhornLpl1Transport(norm="median")`` takes that directly, skada's adapter
  has no cost normalisation, so it gets ``reg_e`` and ``reg_cl`` multiplied by the median cost
  (the same optimisation problem, scaled).
* KMM: Gaussian kernel with the median-heuristic ``gamma`` (computed once, given to both),
  ``B = 1000``, ``epsilon = (sqrt(n_s) - 1) / sqrt(n_s)``, ``tol = 1e-6``, 1,000 iterations.
* KLIEP: the same ``gamma`` (no cross-validation), 100 centres, ``tol = 1e-6``, 1,000 iterations.

Run (prints a Markdown table; ``--markdown FILE`` also writes it):

    TRANSFERKIT_DATA=../shared/datasets python benchmarks/peers.py --seeds 0 --repeat 3
"""

from __future__ import annotations

import argparse
import gc
import platform
import time
import tracemalloc
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

Runner = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[str, Any, Any]]


# ------------------------------------------------------------------------------- transferkit
def ours_coral(Xs, ys, Xt, **_):
    from transferkit.alignment import CORAL

    return _ours_map(CORAL(regularization=1.0), Xs, ys, Xt)


def ours_sa(Xs, ys, Xt, **_):
    from transferkit.alignment import SubspaceAlignment

    return _ours_map(SubspaceAlignment(n_components=80), Xs, ys, Xt)


def ours_tca(Xs, ys, Xt, **_):
    from transferkit.alignment import TCA

    return _ours_map(TCA(n_components=80, mu=1.0, kernel="linear"), Xs, ys, Xt)


def ours_ot(Xs, ys, Xt, **_):
    from transferkit.alignment import OTMapping

    return _ours_map(OTMapping(method="lpl1", reg_e=2.0, reg_cl=1.0, norm="median"), Xs, ys, Xt)


def ours_kmm(Xs, ys, Xt, gamma, **_):
    from transferkit.reweighting import kmm_weights

    return "weights", kmm_weights(Xs, Xt, gamma=gamma, B=1000.0, tol=1e-6, max_iter=1000), None


def ours_kliep(Xs, ys, Xt, gamma, **_):
    from transferkit.reweighting import kliep_weights

    weights = kliep_weights(
        Xs, Xt, gamma=gamma, n_centers=100, max_iter=1000, tol=1e-6, random_state=0
    )
    return "weights", weights, None


def _ours_map(adapter, Xs, ys, Xt):
    from transferkit.problem import TransferProblem

    adapter.fit(TransferProblem(Xs, ys, Xt))
    return "map", adapter.transform(Xs, np.zeros(len(Xs), dtype=int)), adapter.transform(Xt)


# ------------------------------------------------------------------------------- skada / POT
def _skada_map(adapter, Xs, ys, Xt):
    X = np.concatenate([Xs, Xt])
    y = np.concatenate([ys, np.full(len(Xt), -1)])
    domain = np.concatenate([np.ones(len(Xs), dtype=int), np.full(len(Xt), -2)])
    adapter.fit(X, y, sample_domain=domain)
    Z = adapter.transform(X, sample_domain=domain, allow_source=True)
    return "map", Z[: len(Xs)], Z[len(Xs) :]


def _skada_weights(adapter, Xs, ys, Xt):
    X = np.concatenate([Xs, Xt])
    y = np.concatenate([ys, np.full(len(Xt), -1)])
    domain = np.concatenate([np.ones(len(Xs), dtype=int), np.full(len(Xt), -2)])
    _, params = adapter.fit_transform(X, y, sample_domain=domain)
    return "weights", np.asarray(params["sample_weight"])[: len(Xs)], None


def skada_coral(Xs, ys, Xt, **_):
    from skada import CORALAdapter

    return _skada_map(CORALAdapter(reg=0.5), Xs, ys, Xt)


def skada_sa(Xs, ys, Xt, **_):
    from skada import SubspaceAlignmentAdapter

    return _skada_map(SubspaceAlignmentAdapter(n_components=80, random_state=0), Xs, ys, Xt)


def skada_tca(Xs, ys, Xt, **_):
    from skada import TransferComponentAnalysisAdapter

    return _skada_map(
        TransferComponentAnalysisAdapter(kernel="linear", n_components=80, mu=1.0), Xs, ys, Xt
    )


def skada_ot(Xs, ys, Xt, median_cost, **_):
    from skada import ClassRegularizerOTMappingAdapter

    adapter = ClassRegularizerOTMappingAdapter(reg_e=2.0 * median_cost, reg_cl=1.0 * median_cost)
    return _skada_map(adapter, Xs, ys, Xt)


def pot_ot(Xs, ys, Xt, **_):
    import ot

    transport = ot.da.SinkhornLpl1Transport(reg_e=2.0, reg_cl=1.0, norm="median")
    transport.fit(Xs=Xs, ys=ys, Xt=Xt)
    return "map", transport.transform(Xs=Xs), Xt


def skada_kmm(Xs, ys, Xt, gamma, **_):
    from skada import KMMReweightAdapter

    adapter = KMMReweightAdapter(gamma=gamma, B=1000.0, tol=1e-6, max_iter=1000)
    return _skada_weights(adapter, Xs, ys, Xt)


def skada_kliep(Xs, ys, Xt, gamma, **_):
    from skada import KLIEPReweightAdapter

    adapter = KLIEPReweightAdapter(
        gamma=gamma, n_centers=100, tol=1e-6, max_iter=1000, random_state=0
    )
    return _skada_weights(adapter, Xs, ys, Xt)


METHODS: dict[str, tuple[Runner, dict[str, Runner]]] = {
    "CORAL": (ours_coral, {"skada": skada_coral}),
    "SA": (ours_sa, {"skada": skada_sa}),
    "TCA": (ours_tca, {"skada": skada_tca}),
    "OT (lpl1)": (ours_ot, {"skada": skada_ot, "POT": pot_ot}),
    "KMM": (ours_kmm, {"skada": skada_kmm}),
    "KLIEP": (ours_kliep, {"skada": skada_kliep}),
}


# ------------------------------------------------------------------------------- measuring
def score(output: tuple[str, Any, Any], Xs, ys, Xt, yt) -> float:
    kind, first, second = output
    if kind == "map":
        model = KNeighborsClassifier(n_neighbors=1).fit(first, ys)
        return float(np.mean(model.predict(second) == yt))
    model = LogisticRegression(C=1.0, max_iter=1000).fit(Xs, ys, sample_weight=first)
    return float(np.mean(model.predict(Xt) == yt))


def measure(runner: Runner, repeat: int, data: dict[str, Any]) -> dict[str, float]:
    """CPU seconds (best of ``repeat``; one BLAS thread, so it is the single-core run time and
    does not depend on what else the machine runs), peak traced MiB and accuracy."""
    times = []
    output = None
    for _ in range(repeat):
        gc.collect()
        start = time.process_time()
        output = runner(**data)
        times.append(time.process_time() - start)
    gc.collect()
    tracemalloc.start()
    runner(**data)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    accuracy = score(output, data["Xs"], data["ys"], data["Xt"], data["yt"])
    return {"time": min(times), "memory": peak / 2**20, "accuracy": 100 * accuracy}


def problems(seeds: list[int], pairs: list[tuple[str, str]] | None = None):
    from transferkit.datasets import dataset_info, load_pair

    for source, target in pairs or dataset_info("office-caltech-surf").pairs:
        for seed in seeds:
            problem = load_pair(
                "office-caltech-surf",
                source,
                target,
                random_state=seed,
                preprocess="harness",
                source_per_class="harness",
            )
            yield f"{source}->{target}/{seed}", problem


def main() -> None:
    from transferkit.kernels import median_heuristic

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0", help="comma-separated source draws")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per cell (best kept)")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--pairs", default=None, help="source:target,... (default: all 12)")
    parser.add_argument("--markdown", default=None, help="also write the table to this file")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # one BLAS thread for everyone: CPU time = single-core time
    seeds = [int(s) for s in args.seeds.split(",")]
    methods = args.methods.split(",")
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    pairs = [tuple(p.split(":")) for p in args.pairs.split(",")] if args.pairs else None
    for label, problem in problems(seeds, pairs):
        Xs, ys = np.asarray(problem.X_source), problem.y_source
        Xt, yt = np.asarray(problem.X_target), problem.y_target
        sq = ((Xs[:, None, :] - Xt[None, :, :]) ** 2).sum(-1) if len(Xs) * len(Xt) < 4e6 else None
        data = {
            "Xs": Xs,
            "ys": ys,
            "Xt": Xt,
            "yt": yt,
            "gamma": median_heuristic(Xs, Xt, random_state=0),
            "median_cost": float(np.median(sq)),
        }
        for method in methods:
            ours, peers = METHODS[method]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cells = {"transferkit": measure(ours, args.repeat, data)}
                for peer, runner in peers.items():
                    try:
                        cells[peer] = measure(runner, args.repeat, data)
                    except Exception as error:  # a peer failing is a result, not a crash
                        cells[peer] = {"error": f"{type(error).__name__}: {error}"[:80]}
            for name, cell in cells.items():
                results.setdefault((method, name), []).append(cell)
        print(f"done {label}", flush=True)
    table = render(results, methods, seeds, args.repeat)
    print(table)
    if args.markdown:
        with open(args.markdown, "w") as handle:
            handle.write(table)


def render(results, methods, seeds, repeat) -> str:

    lines = [
        f"Office-Caltech SURF, harness protocol, 12 pairs x seeds {seeds}; best of {repeat} runs; "
        f"{platform.processor() or platform.machine()}, one BLAS thread, CPU time; "
        f"numpy {np.__version__}.",
        "",
        "| method | library | accuracy % | fit+transform CPU s (sum) | peak MiB (max) | time ratio peer/ours (median) | memory ratio peer/ours (median) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for method in methods:
        ours = results[(method, "transferkit")]
        for (name_method, library), cells in results.items():
            if name_method != method:
                continue
            if any("error" in c for c in cells):
                error = next(c["error"] for c in cells if "error" in c)
                lines.append(f"| {method} | {library} | failed: {error} | | | | |")
                continue
            accuracy = np.mean([c["accuracy"] for c in cells])
            total = sum(c["time"] for c in cells)
            memory = max(c["memory"] for c in cells)
            if library == "transferkit":
                lines.append(
                    f"| {method} | **{library}** | {accuracy:.1f} | {total:.2f} | {memory:.1f} | 1 | 1 |"
                )
            else:
                time_ratio = np.median(
                    [c["time"] / o["time"] for c, o in zip(cells, ours, strict=True)]
                )
                memory_ratio = np.median(
                    [c["memory"] / max(o["memory"], 1e-9) for c, o in zip(cells, ours, strict=True)]
                )
                lines.append(
                    f"| {method} | {library} | {accuracy:.1f} | {total:.2f} | {memory:.1f} | "
                    f"{time_ratio:.2f} | {memory_ratio:.2f} |"
                )
    ratios = []
    for method in methods:
        ours = results[(method, "transferkit")]
        for (name_method, library), cells in results.items():
            if (
                name_method == method
                and library != "transferkit"
                and not any("error" in c for c in cells)
            ):
                ratios.append(
                    np.median([c["time"] / o["time"] for c, o in zip(cells, ours, strict=True)])
                )
    lines += [
        "",
        f"Median time ratio over all (method, peer) rows: {np.median(ratios):.2f}; "
        f"smallest: {min(ratios):.2f}.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
