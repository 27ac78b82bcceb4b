"""What the command line writes besides its results: progress bars only on a terminal, and no
torch import for the commands that do not train a deep model."""

from __future__ import annotations

import io
import sys

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
