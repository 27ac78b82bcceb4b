"""What the command line writes besides its results: progress bars only on a terminal, and no
torch import for the commands that do not train a deep model."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from transferkit.cli.options import progress_bar
from transferkit.deep.progress import TqdmProgress, as_progress


class _Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def _train(progress, steps: int = 4) -> None:
    """Drive a progress callback as the training loop does: one epoch of ``steps`` steps."""
    progress.on_start(total_epochs=1, steps_per_epoch=steps, first_epoch=0)
    for _ in range(steps):
        progress.on_step({"loss": 0.25})
    progress.on_epoch_end(0, {"loss": 0.25})
    progress.on_end()


def test_training_bar_is_drawn_on_a_terminal_only():
    log, terminal = io.StringIO(), _Terminal()
    _train(TqdmProgress("DANN fit", file=log))
    _train(TqdmProgress("DANN fit", file=terminal))
    assert log.getvalue() == ""
    drawn = terminal.getvalue()
    assert "DANN fit" in drawn and "4/4" in drawn and "loss=0.25" in drawn
    # the caller can still ask for the bar in a log
    forced = io.StringIO()
    _train(TqdmProgress("DANN fit", file=forced, disable=False))
    assert "4/4" in forced.getvalue()


def test_progress_true_follows_standard_error(monkeypatch):
    """``progress=True`` (what the CLI passes to deep methods) draws on stderr only if it is a
    terminal."""
    log, terminal = io.StringIO(), _Terminal()
    monkeypatch.setattr(sys, "stderr", log)
    _train(as_progress(True, "SDA layer 1"))
    monkeypatch.setattr(sys, "stderr", terminal)
    _train(as_progress(True, "SDA layer 1"))
    assert log.getvalue() == "" and "SDA layer 1" in terminal.getvalue()


def test_cli_bar_is_drawn_on_a_terminal_only_and_never_when_quiet(monkeypatch):
    for stream, quiet, drawn in (
        (io.StringIO(), False, False),
        (_Terminal(), False, True),
        (_Terminal(), True, False),
    ):
        monkeypatch.setattr(sys, "stderr", stream)
        with progress_bar(3, "candidates", quiet=quiet) as bar:
            for done in range(1, 4):
                bar.n = done
                bar.refresh()
        assert ("candidates" in stream.getvalue() and "3/3" in stream.getvalue()) is drawn


TINY_SUITE = """
[suite]
name = "console-tiny"
seeds = [0]
classifier = "logreg"

[[datasets]]
name = "moons"
options = { angle = 30, n_samples = 100, n_test = 100 }

[[methods]]
name = "source_only"
"""


def _torch_imported_by(*args: str) -> tuple[bool, str]:
    """Run ``transferkit ARGS`` in a fresh interpreter; (was torch imported?, its output)."""
    import transferkit

    script = (
        "import sys\n"
        "from transferkit.cli import main\n"
        "try:\n"
        f"    main({list(args)!r})\n"
        "except SystemExit as stop:\n"
        "    code = stop.code\n"
        "print('TORCH', 'torch' in sys.modules, 'EXIT', code, file=sys.stderr)\n"
    )
    source_root = str(Path(transferkit.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": source_root}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    last = done.stderr.strip().splitlines()[-1]
    assert last.endswith("EXIT 0"), done.stdout + done.stderr
    return last.startswith("TORCH True"), done.stdout


@pytest.fixture(scope="module")
def stored_suite(tmp_path_factory) -> tuple[Path, Path]:
    """A results database holding one tiny shallow suite, and the suite's TOML file."""
    from click.testing import CliRunner

    from transferkit.cli import main

    folder = tmp_path_factory.mktemp("console")
    suite, db = folder / "console-tiny.toml", folder / "r.sqlite"
    suite.write_text(TINY_SUITE)
    result = CliRunner().invoke(main, ["bench", str(suite), "--db", str(db), "-q"])
    assert result.exit_code == 0, result.output
    return suite, db


@pytest.mark.parametrize(
    "command",
    [
        ["--help"],
        ["datasets"],
        ["results", "list"],
        ["results", "show", "console-tiny"],
        ["results", "export", "console-tiny", "--format", "json"],
        ["select", "--help"],
        ["plot", "--help"],
    ],
)
def test_commands_that_train_nothing_deep_do_not_import_torch(command, stored_suite):
    pytest.importorskip("torch")  # without torch installed the check proves nothing
    _, db = stored_suite
    if command[0] == "results":
        command = [*command, "--db", str(db)]
    torch_imported, output = _torch_imported_by(*command)
    assert not torch_imported
    if command[:2] == ["results", "show"]:
        assert "| source → rotated |" in output


def test_results_show_of_a_suite_file_does_not_import_torch(stored_suite):
    pytest.importorskip("torch")
    suite, db = stored_suite
    torch_imported, output = _torch_imported_by("results", "show", str(suite), "--db", str(db))
    assert "| source → rotated |" in output
    assert not torch_imported


_BLOCK_TORCH = (
    "import importlib.abc, sys\n"
    "class _NoTorch(importlib.abc.MetaPathFinder):\n"
    "    def find_spec(self, name, path, target=None):\n"
    "        if name.split('.')[0] == 'torch':\n"
    "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
    "sys.meta_path.insert(0, _NoTorch())\n"
)


def _without_torch(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``transferkit ARGS`` in a fresh interpreter where ``import torch`` fails as if absent."""
    import transferkit

    script = _BLOCK_TORCH + f"from transferkit.cli import main\nmain({list(args)!r})\n"
    source_root = str(Path(transferkit.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": source_root, "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


def test_deep_commands_stay_listed_and_say_what_to_install_without_torch(tmp_path):
    listing = _without_torch("--help", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    commands = listing.stdout.partition("Commands:")[2].split()
    assert "plot" in commands and "extract-features" in commands

    install = "Install it with: pip install 'transferkit[deep]'"
    features = _without_torch("extract-features", cwd=tmp_path)
    assert features.returncode == 2 and "Traceback" not in features.stderr
    assert features.stderr.startswith("Error: transferkit extract-features needs the deep extra")
    assert install in features.stderr

    figure = tmp_path / "scores.png"
    args = ("plot", "domain-scores", "moons", "source", "rotated", "-o", str(figure))
    deep = _without_torch(*args, cwd=tmp_path)  # the default --method is dann
    assert deep.returncode == 2 and "Traceback" not in deep.stderr
    assert "--method dann needs the deep extra" in deep.stderr and install in deep.stderr
    assert not figure.exists()
    # the shallow methods still draw without torch
    shallow = _without_torch(*args, "--method", "coral", "--option", "n_samples=100", "-q",
                             cwd=tmp_path)  # fmt: skip
    assert shallow.returncode == 0, shallow.stderr
    assert shallow.stdout.strip() == f"Wrote {figure}" and figure.stat().st_size > 1000
