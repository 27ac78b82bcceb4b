"""`transferkit bench` and `select` on a Dask cluster: the same numbers as a local run, a worker
that dies loses and duplicates nothing, a driver killed mid-run resumes; real worker processes
(a LocalCluster of two), real cells of the demo suite."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from transferkit.bench import run_suite
from transferkit.bench import runner as runner_module
from transferkit.bench.distributed import check_scheduler, require_distributed
from transferkit.exceptions import InvalidParameterError, MissingDependencyError

needs_dask = pytest.mark.skipif(
    __import__("importlib").util.find_spec("distributed") is None,
    reason="needs dask.distributed: pip install 'transferkit[distributed]'",
)

#: The demo's two pairs (synthetic -> UCI digits on 50 components, rotated moons), two methods.
DEMO_METHODS = ["source_only", "coral"]


@pytest.fixture(scope="module")
def cluster_address():
    """A LocalCluster of two single-threaded worker processes for the module's tests; a task
    whose worker dies is tried once more (allowed-failures = 1), then fails with KilledWorker;
    each worker holds only the task it runs, as on the clusters ``local:N`` starts."""
    distributed = pytest.importorskip("distributed")
    import dask

    from transferkit.bench.distributed import WORKER_SATURATION

    settings = {
        "distributed.scheduler.allowed-failures": 1,
        "distributed.scheduler.worker-saturation": WORKER_SATURATION,
    }
    with dask.config.set(settings):
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0"
        )
    with cluster:
        yield cluster.scheduler_address


def _numbers(db: Path) -> list[tuple]:
    """Every stored cell's identity and result, sorted."""
    with sqlite3.connect(db) as connection:
        return sorted(
            connection.execute(
                "SELECT dataset, options, source, target, method, params, seed, status, "
                "accuracy, n_eval, details FROM cells"
            ).fetchall()
        )


# --------------------------------------------------------------------- no cluster needed
@pytest.mark.parametrize(
    "text, names",
    [("local:0", "local:N"), ("local:two", "e.g. local:2"), ("10.0.0.5:8786", "tcp://host:8786")],
)
def test_a_bad_scheduler_names_the_accepted_forms(text, names):
    with pytest.raises(InvalidParameterError, match=names):
        check_scheduler(text)
    assert check_scheduler(" local:3 ") == 3
    assert check_scheduler("tls://node7:8786") == "tls://node7:8786"


def test_missing_dask_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'transferkit\[distributed\]'"):
        require_distributed()


def test_jobs_and_scheduler_together_are_refused(tmp_path):
    with pytest.raises(InvalidParameterError, match="local:2"):
        run_suite("demo", db=tmp_path / "r.sqlite", jobs=2, scheduler="local:2")


@pytest.mark.parametrize(
    "args, message",
    [
        (["bench", "demo", "--scheduler", "local:x"], "local:N takes a number"),
        (["bench", "demo", "--scheduler", "local:2", "-j", "2"], "give one of them"),
        (["select", "--dataset", "moons", "--scheduler", "8786"], "tcp://host:8786"),
    ],
)
def test_the_cli_checks_scheduler_before_running(tmp_path, args, message):
    from click.testing import CliRunner

    from transferkit.cli import main

    result = CliRunner().invoke(main, [*args], env={"TRANSFERKIT_RESULTS": str(tmp_path / "r")})
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "r").exists()  # nothing ran


# --------------------------------------------------------------------- on a cluster
@needs_dask
def test_a_cluster_gives_exactly_the_numbers_of_the_local_run(tmp_path, cluster_address):
    local = run_suite("demo", db=tmp_path / "local.sqlite", methods=DEMO_METHODS, seeds=[0])
    calls = []
    remote = run_suite(
        "demo",
        db=tmp_path / "dask.sqlite",
        methods=DEMO_METHODS,
        seeds=[0],
        scheduler=cluster_address,
        progress=lambda done, total, row: calls.append((done, total)),
    )
    assert _numbers(tmp_path / "dask.sqlite") == _numbers(tmp_path / "local.sqlite")
    assert {row[7] for row in _numbers(tmp_path / "dask.sqlite")} == {"ok"}
    assert remote.to_markdown() == local.to_markdown()
    assert calls == [(0, 4)] + [(done, 4) for done in range(1, 5)]


MOONS_SUITE = """
[suite]
name = "moons"
seeds = [0, 1]

[[datasets]]
name = "moons"
options = { angle = 30, n_samples = 150, n_test = 150 }

[[methods]]
name = "source_only"

[[methods]]
name = "coral"
"""


@needs_dask
def test_a_dead_worker_loses_and_duplicates_nothing(tmp_path, cluster_address, monkeypatch):
    """One cell kills its worker process the first time it runs: it goes back to the queue and
    its row is the local run's. Another kills every worker it lands on: after the allowed
    deaths it is an error row that says so, and the other cells are untouched."""
    suite = tmp_path / "moons.toml"
    suite.write_text(MOONS_SUITE)
    run_suite(suite, db=tmp_path / "local.sqlite")
    expected = _numbers(tmp_path / "local.sqlite")
    original = runner_module.execute_cell_on_worker
    marker = str(tmp_path / "killed-once")

    def dies(cell, *args, **kwargs):  # travels by value (cloudpickle)
        once = cell.method == "coral" and cell.seed == 0 and not os.path.exists(marker)
        if once or (cell.method == "coral" and cell.seed == 1):
            open(marker, "a").close()
            os.kill(os.getpid(), signal.SIGKILL)
        return original(cell, *args, **kwargs)

    monkeypatch.setattr(runner_module, "execute_cell_on_worker", dies)
    db = tmp_path / "dask.sqlite"
    run_suite(suite, db=db, scheduler=cluster_address)
    assert os.path.exists(marker), "a worker should have been killed"
    stored = _numbers(db)
    assert len(stored) == 4  # one row per cell, none twice

    def lost(row):
        return row[4] == "coral" and row[6] == 1

    assert [row for row in stored if not lost(row)] == [row for row in expected if not lost(row)]
    with sqlite3.connect(db) as connection:
        errors = connection.execute("SELECT method, seed, error FROM cells WHERE status = 'error'")
        ((method, seed, error),) = errors.fetchall()
    assert (method, seed) == ("coral", 1)
    assert error.startswith("KilledWorker") and "--retry-errors" in error

    # --retry-errors runs the lost cell again (here, where nothing kills it) and keeps the rest
    run_suite(suite, db=db, retry_errors=True)
    assert _numbers(db) == expected


@needs_dask
def test_selection_on_a_cluster_scores_like_the_local_search(cluster_address):
    from transferkit.datasets import make_rotated_moons
    from transferkit.selection import DomainAwareSearchCV

    problem = make_rotated_moons(angle=30, n_samples=200, random_state=0)
    candidates = {"source_only": {}, "coral": {"regularization": [0.1, 10.0]}, "sa": {}}

    def search(**kwargs):
        return DomainAwareSearchCV(
            candidates, scoring=["im", "dev"], cv=2, random_state=0, **kwargs
        )

    local = search().fit(problem)
    seen = []
    remote = search(scheduler=cluster_address, progress=lambda d, t: seen.append(d)).fit(problem)
    for key in ("method", "params", "mean_im", "mean_dev", "rank_dev", "error"):
        assert remote.cv_results_[key] == local.cv_results_[key], key
    assert (remote.best_method_, remote.best_params_) == (local.best_method_, local.best_params_)
    assert sorted(seen) == [1, 2, 3, 4]
    with pytest.raises(InvalidParameterError, match="n_jobs"):
        search(scheduler=cluster_address, n_jobs=2).fit(problem)


# the method is registered at import: Dask's worker processes import this script too
SLOW_SCRIPT = """
import sys, time
from transferkit import registry
from transferkit.baselines import SourceOnly
from transferkit.bench import run_suite


class Slow(SourceOnly):
    def fit(self, problem):
        time.sleep(float(sys.argv[3]))
        return super().fit(problem)


registry.register_method("slow", "test", "sleeps, then source-only")(
    lambda estimator, random_state: Slow(estimator)
)
if __name__ == "__main__":
    run_suite(sys.argv[1], db=sys.argv[2], scheduler=sys.argv[4] if len(sys.argv) > 4 else None)
"""

SLOW_SUITE = """
[suite]
name = "stopped"
seeds = [0, 1, 2, 3]

[[datasets]]
name = "moons"
options = { n_samples = 100, n_test = 100 }

[[methods]]
name = "slow"
"""


def _children(pid: int) -> set[int]:
    """Every descendant of ``pid`` that has not exited, from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            table[int(entry.name)] = (int(fields[1]), fields[0])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, (parent, _) in table.items() if parent in frontier} - found
        found |= frontier
    return {p for p in found if table[p][1] != "Z"}


def _alive(pids: set[int]) -> set[int]:
    return {p for p in pids if Path(f"/proc/{p}").exists() and "Z" not in _state(p)}


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def _stored(db: Path) -> list[tuple]:
    try:
        with sqlite3.connect(db) as connection:
            return connection.execute(
                "SELECT id, method, seed, status, accuracy, finished_at FROM cells"
            ).fetchall()
    except sqlite3.OperationalError:
        return []


@needs_dask
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_a_driver_killed_mid_run_leaves_no_worker_and_resumes(tmp_path):
    suite, script, db = tmp_path / "s.toml", tmp_path / "run.py", tmp_path / "r.sqlite"
    suite.write_text(SLOW_SUITE)
    script.write_text(textwrap.dedent(SLOW_SCRIPT))
    driver = subprocess.Popen(
        [sys.executable, str(script), str(suite), str(db), "1.5", "local:2"],
        start_new_session=True,
        stderr=subprocess.DEVNULL,
    )
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and driver.poll() is None and len(_stored(db)) < 1:
            time.sleep(0.05)
        workers = _children(driver.pid)
        before = _stored(db)
        assert driver.poll() is None and 1 <= len(before) < 4, "the run should be going"
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
        deadline = time.monotonic() + 20
        while _alive(workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(workers), "Dask workers outlived their driver"
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()
        for pid in _alive(workers):  # never leak them when the test fails
            os.kill(pid, signal.SIGKILL)
    # resumed here (the store does not care where a cell ran)
    subprocess.run(
        [sys.executable, str(script), str(suite), str(db), "0"],
        check=True,
        timeout=180,
        stderr=subprocess.DEVNULL,
    )
    after = _stored(db)
    assert set(before) <= set(after)  # what was stored stays as it was
    assert len(after) == 4 and {row[3] for row in after} == {"ok"}
    assert len({(row[1], row[2]) for row in after}) == 4
