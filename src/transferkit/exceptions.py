"""All exceptions transferkit raises on bad input, in one place.

Every message says what was wrong, with which input, and how to fix it. Each class also derives
from the built-in exception a caller would naturally catch (``ValueError``, ``FileNotFoundError``,
...), so code written against plain Python keeps working.
"""

from __future__ import annotations


class TransferKitError(Exception):
    """Base class of every error transferkit raises on purpose."""


class InvalidProblemError(TransferKitError, ValueError):
    """A transfer problem was described with inconsistent or unusable data."""


class FeatureSpaceMismatchError(InvalidProblemError):
    """Source and target (or test) data have different numbers of features.

    ``widths``, where the raiser knows them, maps each domain's name (a file's path) to its
    number of features, so that a caller can word its own message without parsing this one.
    """

    def __init__(self, message: str, widths: dict[str, int] | None = None):
        super().__init__(message)
        self.widths = dict(widths or {})


class NonFiniteDataError(InvalidProblemError):
    """The data holds NaN or infinite values."""


class EmptyDomainError(InvalidProblemError):
    """A domain has no samples."""


class SingleClassError(InvalidProblemError):
    """The labelled source holds a single class, so no classifier can be learned from it."""


class LabelTypeError(InvalidProblemError):
    """Labels of two parts of a problem are of incompatible types (e.g. strings and integers)."""


class TargetMaskError(InvalidProblemError):
    """The mask saying which target samples are labelled does not fit the target data."""


class InvalidParameterError(TransferKitError, ValueError):
    """A method or command was given a parameter value it cannot use."""


class ParameterValueError(InvalidParameterError):
    """A parameter value is wrong whatever the data (a negative count, an unknown kernel name).

    Raised by the checks of :mod:`transferkit.checks` (and ``kernels.check_kernel``), so that a
    suite can refuse such values when it is loaded, before any cell runs.
    """


class NotApplicableError(TransferKitError, ValueError):
    """A method cannot run on this problem (for instance it needs target labels and has none)."""


class NotFittedError(TransferKitError, AttributeError):
    """A method was asked to predict or transform before ``fit``."""


class DatasetError(TransferKitError):
    """Base class for dataset problems."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """A dataset file is missing from the data home."""


class ChecksumMismatchError(DatasetError, ValueError):
    """A dataset file exists but its SHA-256 does not match the published one."""


class UnknownDatasetError(DatasetError, KeyError):
    """A dataset or a domain name is not known."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DataFormatError(DatasetError, ValueError):
    """A user's data file could not be read or has an unexpected layout."""


class SuiteError(TransferKitError, ValueError):
    """A benchmark suite file is malformed or names something unknown."""


class MissingDependencyError(TransferKitError, ImportError):
    """An optional dependency needed for this feature is not installed."""


class DegenerateResultWarning(UserWarning):
    """A fitted model gives a degenerate result (e.g. one class for almost every target row)."""


class MemoryCostWarning(UserWarning):
    """A method is estimated to need more memory than a laptop comfortably has.

    The message gives the estimate and the parameters that reduce it. A ``UserWarning`` rather
    than a ``ResourceWarning``: Python's default filters hide ``ResourceWarning``, and this one
    must be seen before the machine starts swapping.
    """


def missing_dependency(package: str, extra: str, feature: str) -> MissingDependencyError:
    """Build the error raised when ``feature`` needs the optional ``package``."""
    return MissingDependencyError(
        f"{feature} needs the optional package '{package}'. "
        f"Install it with: pip install 'transferkit[{extra}]'"
    )


class UnseenClassWarning(UserWarning):
    """Target labels hold classes that no labelled row a method may use contains, so no model
    can predict them and accuracy counts those rows as errors."""


class NoTargetWarning(UserWarning):
    """Stacked rows were given with no target row (no ``domain=``, no ``y == -1``): the source
    rows stand in for the target, so nothing is adapted."""


#: transferkit's own warnings: each message is written for the user and says what to do, so the
#: command line shows it alone ("Warning: ..."), without the file and line that raised it.
WARNINGS = (DegenerateResultWarning, MemoryCostWarning, UnseenClassWarning, NoTargetWarning)
