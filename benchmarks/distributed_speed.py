"""Wall time of a suite in one process, with ``--jobs 2`` and on Dask ``local:2``; Dask's cost per
cell.

Usage: TRANSFERKIT_DATA=../shared/datasets nice -n 5 python benchmarks/distributed_speed.py
[--seeds 0,1] [--cells 200] [--json out.json]

1. **The office-caltech-surf suite** (12 pairs, 8 methods, 1-NN; ``--seeds`` of its 10 seeds,
   "all" for the full 960 cells) three times into fresh databases: in this process, in a pool of
   2 worker processes (``jobs=2``) and on a Dask LocalCluster of 2 single-threaded workers
   started by the run (``scheduler="local:2"``, its start included). Wall time, CPU seconds of
   this process and its workers, and whether the three stored tables are identical.
2. **Dask's cost per cell**: ``--cells`` cells of a method that does nothing (fit stores nothing,
   predict returns zeros) on one small moons problem, run in this process and then on an already
   started LocalCluster of one worker (warmed up by a first run, so neither run pays imports or
   loads): (wall on Dask - wall here) / cells is what Dask adds to every cell (sending it to the
   scheduler and a worker, the result back, the row stored as here). Then the same on two
   workers, against two processes of ``jobs=2``, both started beforehand (their start timed
   apart).

Every cell runs on one BLAS thread wherever it runs. The load average of the machine is printed
before and after each run: on shared cores, the walls of runs made under different loads do not
compare.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from transferkit import registry
from transferkit.bench import parse_suite, run_suite

TRIVIAL_SUITE = """
[suite]
name = "trivial"
seeds = [0]

[[datasets]]
name = "moons"
options = {{ n_samples = 50, n_test = 50 }}

{methods}
"""


class DoNothing:
    """A method whose fit and predict cost nothing: the cell's time is the runner's own."""

    def fit(self, problem: Any) -> DoNothing:
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.zeros(len(X), dtype=int)


# registered at import: the worker processes (spawned) import this script too
registry.register_method("do_nothing", "benchmark", "fits nothing, predicts class 0")(
    lambda estimator, random_state, tag=0: DoNothing()
)


def trivial_suite(cells: int) -> Any:
    """``cells`` cells of ``do_nothing`` on one moons problem (one label per cell)."""
    methods = "\n".join(
        f'[[methods]]\nname = "do_nothing"\nlabel = "t{i}"\nparams = {{ tag = {i} }}\n'
        for i in range(cells)
    )
    return parse_suite(TRIVIAL_SUITE.format(methods=methods))


def cpu_seconds() -> float:
    """CPU seconds of this process and of its children that have exited."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def stored(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return sorted(
            connection.execute(
                "SELECT dataset, source, target, method, seed, status, accuracy FROM cells"
            ).fetchall()
        )


def timed(label: str, **kwargs: Any) -> dict[str, Any]:
    """One run of ``run_suite(**kwargs)`` into a fresh database: wall, CPU, load, rows."""
    folder = Path(tempfile.mkdtemp(prefix="distributed-speed-"))
    db = folder / "results.sqlite"
    load = os.getloadavg()[0]
    cpu, start = cpu_seconds(), time.perf_counter()
    run_suite(db=db, **kwargs)
    wall = time.perf_counter() - start
    result = {
        "run": label,
        "wall_s": wall,
        "cpu_s": cpu_seconds() - cpu,
        "load_before": load,
        "load_after": os.getloadavg()[0],
        "rows": stored(db),
    }
    print(
        f"{label}: {len(result['rows'])} cells, wall {wall:.1f} s, CPU {result['cpu_s']:.1f} s, "
        f"load {load:.1f} -> {result['load_after']:.1f}",
        flush=True,
    )
    return result


def suite_comparison(seeds: list[int] | None) -> list[dict[str, Any]]:
    runs = [
        timed("1 process", suite="office-caltech-surf", seeds=seeds),
        timed("--jobs 2", suite="office-caltech-surf", seeds=seeds, jobs=2),
        timed("--scheduler local:2", suite="office-caltech-surf", seeds=seeds, scheduler="local:2"),
    ]
    same = all(run["rows"] == runs[0]["rows"] for run in runs)
    print(f"the three runs stored the same rows: {same}", flush=True)
    for run in runs:
        run["same_rows_as_1_process"] = run["rows"] == runs[0]["rows"]
    return runs


def overhead(cells: int) -> list[dict[str, Any]]:
    import dask
    import distributed

    from transferkit.bench.distributed import WORKER_SATURATION

    suite = trivial_suite(cells)
    warm = trivial_suite(4)
    out = []
    timed("warm-up here", suite=warm)
    here = timed(f"{cells} do-nothing cells here", suite=suite)
    out.append(here)
    for workers in (1, 2):
        start = time.perf_counter()
        with dask.config.set({"distributed.scheduler.worker-saturation": WORKER_SATURATION}):
            cluster = distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address="127.0.0.1:0",
            )
        with cluster:
            started = time.perf_counter() - start
            timed(
                f"warm-up on {workers} Dask worker(s)",
                suite=warm,
                scheduler=cluster.scheduler_address,
            )
            run = timed(
                f"{cells} do-nothing cells on {workers} Dask worker(s)",
                suite=suite,
                scheduler=cluster.scheduler_address,
            )
        run["cluster_start_s"] = started
        run["per_cell_ms"] = 1000 * (run["wall_s"] / cells)
        run["overhead_per_cell_ms"] = 1000 * (run["wall_s"] - here["wall_s"]) / cells
        print(
            f"  {workers} worker(s): {run['per_cell_ms']:.1f} ms a cell, "
            f"{run['overhead_per_cell_ms']:.1f} ms more than here; cluster start {started:.1f} s",
            flush=True,
        )
        out.append(run)
    pooled = timed(f"{cells} do-nothing cells, jobs=2", suite=suite, jobs=2)
    pooled["per_cell_ms"] = 1000 * pooled["wall_s"] / cells
    print(f"  jobs=2 (pool start included): {pooled['per_cell_ms']:.1f} ms a cell", flush=True)
    out.append(pooled)
    here["per_cell_ms"] = 1000 * here["wall_s"] / cells
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1", help="office-caltech-surf seeds, or 'all'")
    parser.add_argument("--cells", type=int, default=200, help="do-nothing cells")
    parser.add_argument("--skip-suite", action="store_true", help="only the cost per cell")
    parser.add_argument("--json", type=Path, help="write every number here")
    args = parser.parse_args()
    seeds = None if args.seeds == "all" else [int(s) for s in args.seeds.split(",")]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores", flush=True)
    report: dict[str, Any] = {"seeds": args.seeds, "cells": args.cells}
    report["overhead"] = overhead(args.cells)
    if not args.skip_suite:
        report["suite"] = suite_comparison(seeds)
    print()
    print("| run | cells | wall | CPU s | load average (before → after) |")
    print("| --- | ---: | ---: | ---: | --- |")
    for run in report.get("suite", []):
        minutes, seconds = divmod(run["wall_s"], 60)
        print(
            f"| {run['run']} | {len(run['rows'])} | {int(minutes)} min {seconds:.0f} s | "
            f"{run['cpu_s']:.0f} | {run['load_before']:.1f} → {run['load_after']:.1f} |"
        )
    print()
    print("| run | cells | wall | ms a cell | added by Dask, ms a cell |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for run in report["overhead"]:
        extra = run.get("overhead_per_cell_ms")
        print(
            f"| {run['run']} | {len(run['rows'])} | {run['wall_s']:.1f} s | "
            f"{run['per_cell_ms']:.1f} | {'' if extra is None else f'{extra:.1f}'} |"
        )
    if args.json:
        for run in report.get("suite", []) + report["overhead"]:
            run["cells"] = len(run.pop("rows"))
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
