"""``python -m transferkit.cli``: the ``transferkit`` command."""

from transferkit.cli.main import main

main()
