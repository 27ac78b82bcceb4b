"""Issue 17, bug 3: stopping `bench --jobs N` (SIGTERM from `timeout`, schedulers and `docker
stop`; Ctrl-C; SIGKILL) leaves no worker process behind, and the run resumes without losing a
finished cell. Real processes: the runner in a subprocess, its children read from /proc."""

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

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="reads the process table from /proc (Linux)"
)

SUITE = """
[suite]
name = "stopped"
seeds = [0, 1, 2]

[[datasets]]
name = "moons"
options = { n_samples = 100, n_test = 100 }

[[methods]]
name = "source_only"

[[methods]]
name = "slow"
"""

# registration at import: the spawned workers import this script too (as __mp_main__)
SCRIPT = """
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
    run_suite(sys.argv[1], db=sys.argv[2], jobs=int(sys.argv[4]))
"""


def _process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state) of every process."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        table[int(entry.name)] = (int(fields[1]), fields[0])
    return table


def _descendants(pid: int) -> set[int]:
    table = _process_table()
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, (parent, _) in table.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pids: set[int]) -> set[int]:
    table = _process_table()
    return {p for p in pids if p in table and table[p][1] != "Z"}  # a zombie has exited


def _stored(db: Path) -> list[tuple]:
    try:
        with sqlite3.connect(db) as connection:
            return connection.execute(
                "SELECT id, method, seed, status, accuracy, finished_at FROM cells"
            ).fetchall()
    except sqlite3.OperationalError:
        return []


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT to the group", "SIGKILL"])
def test_stopping_a_parallel_run_leaves_no_worker_and_loses_no_cell(tmp_path, how):
    suite, script, db = tmp_path / "s.toml", tmp_path / "run.py", tmp_path / "r.sqlite"
    suite.write_text(SUITE)
    script.write_text(textwrap.dedent(SCRIPT))
    driver = subprocess.Popen(
        [sys.executable, str(script), str(suite), str(db), "1.0", "2"],
        start_new_session=True,  # its own process group, as a terminal's foreground job
        stderr=subprocess.PIPE,
    )
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and driver.poll() is None:
            if len(_stored(db)) >= 2:
                break
            time.sleep(0.05)
        workers = _descendants(driver.pid)
        assert driver.poll() is None and len(workers) >= 2, "the run should be going"
        before = _stored(db)
        if how == "SIGTERM":
            os.kill(driver.pid, signal.SIGTERM)
        elif how == "SIGKILL":
            os.kill(driver.pid, signal.SIGKILL)
        else:  # Ctrl-C in a terminal reaches the driver and its workers alike
            os.killpg(driver.pid, signal.SIGINT)
        code = driver.wait(timeout=30)
        deadline = time.monotonic() + 10
        while _alive(workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(workers), f"left running after {how}: {_alive(workers)}"
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()
        for pid in _alive(workers | _descendants(driver.pid)):  # do not leak them on failure
            os.kill(pid, signal.SIGKILL)
    if how == "SIGTERM":
        # unwound, then ended by the signal as its default action would have done
        assert code == -signal.SIGTERM, driver.stderr.read().decode()
    assert len(before) < 6, "the run should have been stopped part-way"
    stopped = _stored(db)
    assert set(before) <= set(stopped)

    if how == "SIGKILL":
        return  # the driver could do nothing; resuming after SIGKILL: test_bench.py's kill test
    # resume: the rows stored before the stop stay as they were, every cell is there once
    subprocess.run(
        [sys.executable, str(script), str(suite), str(db), "0", "1"], check=True, timeout=300
    )
    after = _stored(db)
    assert set(stopped) <= set(after)
    assert len(after) == 6 and {row[3] for row in after} == {"ok"}
    assert len({(row[1], row[2]) for row in after}) == 6
