"""The ``transferkit`` command (click): one module per command group.

================  ============================================================
module            commands
================  ============================================================
``main``          the ``transferkit`` group, ``--version``, ``--debug``
``datasets``      ``datasets`` (``--verify`` checks every file's SHA-256)
``bench``         ``bench``, ``results list|show|export``, ``demo``
``diagnose``      ``diagnose``
``select``        ``select``
``plot``          ``plot domain-scores``, ``plot embedding``
``features``      ``extract-features``
``errors``        the one error handler: our errors → one line, exit status 2
``data``          the one loader of a built-in pair or the user's files
``options``       options, value parsers and the progress bar the commands share
================  ============================================================

The console script ``transferkit`` runs :func:`main`; ``python -m transferkit.cli`` does too.
"""

from __future__ import annotations

from transferkit.cli.main import main

__all__ = ["main"]
