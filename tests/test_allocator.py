"""reuse_freed_memory: freed blocks stay in the process; bad settings are named."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from transferkit.allocator import KEEP_VARIABLE, reuse_freed_memory
from transferkit.exceptions import InvalidParameterError

# 64 MiB made and freed ten times: the page faults it costs after the first time
FAULTS = """
import resource
import numpy as np
from transferkit.allocator import reuse_freed_memory
applied = reuse_freed_memory()
np.ones(8 << 20)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    np.ones(8 << 20)
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

glibc_only = pytest.mark.skipif(
    not (hasattr(os, "confstr") and str(os.confstr("CS_GNU_LIBC_VERSION")).startswith("glibc")),
    reason="the thresholds are glibc's",
)


def _faults(keep: str) -> tuple[str, int]:
    env = {**os.environ, KEEP_VARIABLE: keep}
    out = subprocess.run(
        [sys.executable, "-c", FAULTS], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    return out[0], int(out[1])


@glibc_only
def test_freed_arrays_are_reused_instead_of_mapped_again():
    applied, kept = _faults("")
    assert applied == "True" and kept < 50  # the same memory, no new pages
    applied, returned = _faults("0")
    # glibc's default: fresh pages every time, 320 at least even if the kernel maps 2 MiB pages
    assert applied == "False" and returned > 250


def test_zero_leaves_the_allocator_alone():
    assert reuse_freed_memory(0) is False


@pytest.mark.parametrize("bad", [-1, 2048, 1.5, True, "512"])
def test_a_bad_size_is_named(bad):
    with pytest.raises(InvalidParameterError, match="keep_mib"):
        reuse_freed_memory(bad)


def test_a_bad_variable_is_named(monkeypatch):
    monkeypatch.setenv(KEEP_VARIABLE, "lots")
    with pytest.raises(InvalidParameterError, match=f"{KEEP_VARIABLE}='lots'"):
        reuse_freed_memory()


def test_the_command_line_applies_it_and_names_a_bad_variable(monkeypatch):
    from click.testing import CliRunner

    from transferkit.cli import main

    monkeypatch.setenv(KEEP_VARIABLE, "lots")
    result = CliRunner().invoke(main, ["datasets"])
    assert result.exit_code != 0
    assert f"{KEEP_VARIABLE}='lots' is not a whole number of MiB" in result.output
