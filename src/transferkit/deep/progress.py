"""Progress reporting for training loops, torch-free (the numpy shallow DANN uses it too).

A loop reports to a :class:`ProgressCallback`: ``on_start`` once, ``on_step`` after each step,
``on_epoch_end`` with the epoch's logs, ``on_end`` at the end (also after an exception).
:class:`TqdmProgress` draws a tqdm bar; :func:`as_progress` turns a ``progress=True`` argument
into one.
"""

from __future__ import annotations

from typing import Any, Protocol


class ProgressCallback(Protocol):
    """What :func:`train` reports to: start, each step, each epoch, the end."""

    def on_start(self, total_epochs: int, steps_per_epoch: int, first_epoch: int) -> None: ...

    def on_step(self, logs: dict[str, float]) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None: ...

    def on_end(self) -> None: ...


class TqdmProgress:
    """A tqdm progress bar over all training steps, showing the latest losses.

    The bar is drawn only when its stream (standard error unless ``file`` says otherwise) is a
    terminal, or in a notebook: tqdm's ``disable=None``. A training run whose output goes to a log
    file then leaves no carriage-return lines in it; pass ``disable=False`` to draw it anyway.

    Parameters
    ----------
    description : str, default "training"
    **tqdm_kwargs
        Passed to :class:`tqdm.tqdm` (``file``, ``leave``, ``disable``, ...).

    Examples
    --------
    >>> import io
    >>> log = io.StringIO()  # not a terminal: no bar
    >>> progress = TqdmProgress("demo", file=log)
    >>> progress.on_start(total_epochs=1, steps_per_epoch=3, first_epoch=0)
    >>> for _ in range(3):
    ...     progress.on_step({"loss": 0.5})
    >>> progress.on_end()
    >>> log.getvalue()
    ''
    """

    def __init__(self, description: str = "training", **tqdm_kwargs: Any):
        self.description = description
        self.tqdm_kwargs = tqdm_kwargs
        self.bar: Any = None

    def on_start(self, total_epochs: int, steps_per_epoch: int, first_epoch: int) -> None:
        from tqdm.auto import tqdm

        options = {"disable": None, **self.tqdm_kwargs}
        self.bar = tqdm(
            total=total_epochs * steps_per_epoch,
            initial=first_epoch * steps_per_epoch,
            desc=self.description,
            **options,
        )

    def on_step(self, logs: dict[str, float]) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if self.bar is not None:
            self.bar.set_postfix({k: f"{v:.3g}" for k, v in logs.items()})

    def on_end(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def as_progress(progress: bool | ProgressCallback | None, description: str) -> Any:
    """``True`` → a :class:`TqdmProgress` (drawn on a terminal only); ``False``/``None`` → no
    reporting; objects pass through."""
    if progress is True:
        return TqdmProgress(description)
    if not progress:
        return None
    return progress
