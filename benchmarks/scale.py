"""Scale probe: TCA and KMM at 10k, 50k and 100k samples per domain, 100 features; ours vs peers.

Each (method, library, size) runs in its own subprocess under an address-space cap
(``resource.setrlimit(RLIMIT_AS)``, ``--memory-cap-gb``) and a wall-clock limit (``--timeout``), so
a peer that needs an ``n x n`` kernel fails cleanly (MemoryError) instead of taking the machine down.
Reported: wall seconds for fit + transform of both domains, the child's peak resident memory
(``ru_maxrss``), and the accuracy of a logistic regression on the result (a sanity check that the
low-rank forms still adapt: the data have a covariate shift that re-weighting or alignment helps).

Data: two Gaussian classes in 100 dimensions whose label depends on a non-linear function of the
first two coordinates; the target is the source moved by 1.5 standard deviations along a random
direction and shrunk by half (a covariate shift).

Ours: ``TCA(kernel="rbf", gamma=1/100, n_components=30, mu=1)`` and ``KMM(kernel="rbf")`` with the
median-heuristic ``gamma``, otherwise defaults (``approximation="auto"``: Nyström with 500 landmarks
above 2,000 / 5,000 samples). Peers: skada's ``TransferComponentAnalysisAdapter(kernel="rbf",
n_components=30, mu=1)`` (its rbf is sklearn's, gamma = 1/n_features = 1/100; its ``mu`` is the
inverse of the paper's, 1 either way) and ``KMMReweightAdapter`` with the same ``gamma`` as ours,
``B = 1000`` and its default Frank-Wolfe solver.

    python benchmarks/scale.py --sizes 10000,50000,100000 --memory-cap-gb 8 --timeout 600
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np

N_FEATURES = 100


def make_data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=N_FEATURES)
    direction /= np.linalg.norm(direction)

    def label(X):
        return (X[:, 1] > np.sin(2 * X[:, 0])).astype(int)

    Xs = rng.normal(size=(n, N_FEATURES))
    Xt = 0.5 * rng.normal(size=(n, N_FEATURES)) + 1.5 * direction
    Xt[:, 0] += 0.8  # move the target along the first (label-relevant) coordinate as well
    return Xs, label(Xs), Xt, label(Xt)


def run_child(method: str, library: str, n: int, cap_gb: float, threads: int) -> dict:
    """Body of the subprocess: cap memory, fit, transform, score, report."""
    if cap_gb > 0:
        limit = int(cap_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)
    from sklearn.linear_model import LogisticRegression

    from transferkit.kernels import median_heuristic

    Xs, ys, Xt, yt = make_data(n)
    gamma = median_heuristic(Xs, Xt, random_state=0)
    start = time.perf_counter()
    cpu = time.process_time()
    if library == "transferkit":
        from transferkit.problem import TransferProblem

        problem = TransferProblem(Xs, ys, Xt)
        if method == "TCA":
            from transferkit.alignment import TCA

            adapter = TCA(
                n_components=30, mu=1.0, kernel="rbf", gamma=1.0 / N_FEATURES, random_state=0
            )
            adapter.fit(problem)
            Zs = adapter.transform(Xs, np.zeros(n, dtype=int))
            Zt = adapter.transform(Xt)
            weights = None
        else:
            from transferkit.reweighting import KMM

            weights = KMM(kernel="rbf", gamma=gamma, random_state=0).fit(problem).weights_
    else:
        X = np.concatenate([Xs, Xt])
        y = np.concatenate([ys, np.full(n, -1)])
        domain = np.concatenate([np.ones(n, dtype=int), np.full(n, -2)])
        if method == "TCA":
            from skada import TransferComponentAnalysisAdapter

            # skada's kernel is a metric name for sklearn's pairwise_kernels: its "rbf" takes
            # gamma = 1 / n_features, which ours is given too (see run_child's TCA branch)
            adapter = TransferComponentAnalysisAdapter(kernel="rbf", n_components=30, mu=1.0)
            adapter.fit(X, y, sample_domain=domain)
            Z = adapter.transform(X, sample_domain=domain, allow_source=True)
            Zs, Zt = Z[:n], Z[n:]
            weights = None
        else:
            from skada import KMMReweightAdapter

            adapter = KMMReweightAdapter(gamma=gamma, B=1000.0)
            _, params = adapter.fit_transform(X, y, sample_domain=domain)
            weights = np.asarray(params["sample_weight"])[:n]
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu
    if weights is None:
        model = LogisticRegression(max_iter=500).fit(Zs, ys)
        accuracy = float(np.mean(model.predict(Zt) == yt))
    else:
        model = LogisticRegression(max_iter=500).fit(Xs, ys, sample_weight=weights)
        accuracy = float(np.mean(model.predict(Xt) == yt))
    baseline = LogisticRegression(max_iter=500).fit(Xs, ys)
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "accuracy": 100 * accuracy,
        "source_only": 100 * float(np.mean(baseline.predict(Xt) == yt)),
    }


def run(method: str, library: str, n: int, cap_gb: float, timeout: float, threads: int) -> dict:
    command = [
        sys.executable,
        __file__,
        "--child",
        json.dumps(
            {"method": method, "library": library, "n": n, "cap": cap_gb, "threads": threads}
        ),
    ]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"over the {timeout:.0f} s limit"}
    if done.returncode != 0:
        tail = (
            done.stderr.strip().splitlines()[-1]
            if done.stderr.strip()
            else f"exit {done.returncode}"
        )
        if "MemoryError" in done.stderr or "Unable to allocate" in done.stderr:
            tail = f"MemoryError under the {cap_gb:g} GB cap"
        elif done.returncode < 0:
            tail = f"killed by signal {-done.returncode}"
        return {"error": tail[:90], "wall": time.perf_counter() - start}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,50000,100000")
    parser.add_argument("--methods", default="TCA,KMM")
    parser.add_argument("--libraries", default="transferkit,skada")
    parser.add_argument("--memory-cap-gb", type=float, default=8.0)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--threads", type=int, default=2, help="BLAS threads per run")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--markdown", default=None, help="also write the table to this file")
    args = parser.parse_args()
    if args.child:
        spec = json.loads(args.child)
        print(
            json.dumps(
                run_child(spec["method"], spec["library"], spec["n"], spec["cap"], spec["threads"])
            )
        )
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    lines = [
        f"{N_FEATURES} features, n samples per domain (2n in all); cap {args.memory_cap_gb:g} GB of "
        f"address space and {args.timeout:.0f} s per run; {args.threads} BLAS threads; "
        f"{platform.machine()}, {os.cpu_count()} CPUs (shared machine: wall seconds are pessimistic).",
        "",
        "| method | library | n per domain | wall s | CPU s | peak RSS MB | accuracy % (source-only) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for method in args.methods.split(","):
        for library in args.libraries.split(","):
            failed = False
            for n in sizes:
                if failed:  # a peer that failed at a smaller size fails at a larger one
                    lines.append(
                        f"| {method} | {library} | {n:,} | not run (failed at a smaller n) | | | |"
                    )
                    continue
                result = run(method, library, n, args.memory_cap_gb, args.timeout, args.threads)
                if "error" in result:
                    failed = True
                    lines.append(
                        f"| {method} | {library} | {n:,} | failed: {result['error']} | | | |"
                    )
                else:
                    lines.append(
                        f"| {method} | {library} | {n:,} | {result['seconds']:.1f} | "
                        f"{result['cpu_seconds']:.1f} | {result['peak_mb']:.0f} | "
                        f"{result['accuracy']:.1f} ({result['source_only']:.1f}) |"
                    )
                print(lines[-1], flush=True)
    table = "\n".join(lines) + "\n"
    print()
    print(table)
    if args.markdown:
        with open(args.markdown, "w") as handle:
            handle.write(table)


if __name__ == "__main__":
    main()
