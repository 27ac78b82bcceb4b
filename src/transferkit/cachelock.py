"""One process at a time fills a cache folder; the others wait, then read what it wrote.

Two processes that need the same CNN features or sentence vectors (the two workers of ``pytest
-n 2``, two benchmark workers that start cells of the same pair, the ranks of a data-parallel
run) would otherwise both compute every row the cache lacks, on cores they share. The feature
and text caches take :func:`filling` around the work that fills them: the first process computes
and writes its rows; the next one waits for it, looks its own rows up again, and computes only
those still missing. The lock is an operating-system file lock (`filelock
<https://py-filelock.readthedocs.io>`_), released when its holder ends, even by a crash.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from transferkit.cachelock import filling
>>> folder = Path(tempfile.mkdtemp()) / "features"
>>> with filling(folder, "features"):
...     pass  # read the cache again, compute what is still missing, write it
>>> folder.is_dir()
True
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

__all__ = ["LOCK_NAME", "filling"]

logger = logging.getLogger(__name__)

#: The lock file inside the folder being filled.
LOCK_NAME = ".filling.lock"


@contextmanager
def filling(folder: str | Path, what: str) -> Iterator[None]:
    """Hold ``folder``'s fill lock inside the block (the folder is created if need be).

    Parameters
    ----------
    folder : str or Path
        The cache folder of one representation (one backbone and layer, one text encoder).
    what : str
        What is being filled, for the log line of a process that has to wait.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(folder / LOCK_NAME)
    try:
        lock.acquire(blocking=False)
    except Timeout:
        logger.info("Another process is filling the %s cache %s; waiting for it.", what, folder)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()
