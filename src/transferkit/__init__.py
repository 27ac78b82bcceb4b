"""transferkit: diagnose a transfer problem, adapt with a method that fits it, trust the numbers."""

from transferkit.problem import ImageCollection, TransferProblem

__version__ = "0.1.0"

__all__ = ["ImageCollection", "TransferProblem", "__version__"]
