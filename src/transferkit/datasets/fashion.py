"""Fashion-MNIST under covariate shift: the original article photos and four corrupted captures.

Fashion-MNIST (Xiao, Rasul & Vollgraf 2017) holds 70,000 grey 28x28 images of Zalando articles in
ten classes, 60,000 for training and 10,000 for testing, in the IDX format of MNIST. Here each
*domain* is one way the images were captured, the same corruption for every class, so P(y | x)
does not change with the domain and the shift is a covariate shift:

- ``original``: the images as published;
- ``rotated``: each image rotated about its centre by an angle drawn uniformly in
  [20, 40] degrees, counter-clockwise (a camera held askew);
- ``low-contrast``: ``0.15 + 0.35 * x``, a dim, washed-out capture (black becomes dark grey,
  white becomes mid grey);
- ``noisy``: Gaussian noise of standard deviation 0.3 on every pixel, clipped to [0, 1] (a noisy
  sensor);
- ``blurred``: a Gaussian blur of standard deviation 1.5 pixels (out of focus).

Source rows always come from the training images and target rows from the test images, so no
image is in both; the random parts (which images, the angles, the noise) come from the seed.

The files are read from the data home's ``fashion_mnist/`` first, then from
``/usr/share/datasets/fashion-mnist`` (the Debian package ``dataset-fashion-mnist``), and are
verified against their published SHA-256.

Examples
--------
>>> from transferkit.datasets import load_pair
>>> problem = load_pair("fashion-mnist", "original", "rotated", random_state=0)  # doctest: +SKIP
>>> problem.X_source.shape, problem.metadata["image_shape"]  # doctest: +SKIP
((2000, 784), (28, 28))
"""

from __future__ import annotations

import gzip
import logging
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from transferkit.datasets._home import (
    SYSTEM_COPIES,
    expected_checksum,
    get_data_home,
    sha256_of,
    verify_file,
)
from transferkit.datasets._utils import RandomState, as_generator
from transferkit.datasets.corruptions import (
    add_gaussian_noise,
    draw_image_pair,
    gaussian_blur,
    rotate_images,
)
from transferkit.exceptions import (
    ChecksumMismatchError,
    DataFormatError,
    DatasetNotFoundError,
    InvalidParameterError,
    UnknownDatasetError,
)
from transferkit.problem import TransferProblem

logger = logging.getLogger(__name__)

#: The domains, in the order the catalogue lists them.
FASHION_DOMAINS = ("original", "rotated", "low-contrast", "noisy", "blurred")
FASHION_SPLITS = ("train", "test")
#: Class names of the labels 0..9, as published.
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
#: Folder of the files inside the data home.
DATA_HOME_FOLDER = "fashion_mnist"
#: Where the Debian package dataset-fashion-mnist installs the same four files.
SYSTEM_FOLDER = SYSTEM_COPIES[f"{DATA_HOME_FOLDER}/"]
APT_PACKAGE = "dataset-fashion-mnist"
PUBLIC_SOURCE = "https://github.com/zalandoresearch/fashion-mnist (data/fashion/)"
#: Why a download from GitHub fails the check (said in the missing-file error).
SUMS_NOTE = (
    "the packaged sums are those of the Debian package's files (version "
    "0.0~git20200523.55506a9-1), which hold the published images gzipped anew, so .gz files "
    "downloaded from GitHub fail the check: use the package's files."
)
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

#: Settings of the shifted domains (see the module docstring).
ROTATION_DEGREES = (20.0, 40.0)
LOW_CONTRAST = (0.15, 0.35)  # offset, gain
NOISE_STD = 0.3
BLUR_SIGMA = 1.5

#: IDX type codes (LeCun et al.'s MNIST file format) and the numpy types they hold.
_IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


# ---------------------------------------------------------------------------- IDX files
def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (the format of MNIST and Fashion-MNIST), gzipped or not.

    The header is two zero bytes, a type code (``0x08`` unsigned bytes, ``0x09`` signed bytes,
    ``0x0B`` int16, ``0x0C`` int32, ``0x0D`` float32, ``0x0E`` float64), the number of dimensions,
    and each dimension as a big-endian int32; the values follow, big-endian, in C order.

    Parameters
    ----------
    path : str or Path
        The file; a name ending in ``.gz`` is decompressed.

    Returns
    -------
    array
        Of the file's shape, in the native byte order.

    Raises
    ------
    DataFormatError
        The file is not IDX: bad magic bytes, unknown type, or a length that does not match the
        header's shape.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from transferkit.datasets.fashion import read_idx
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny-idx1-ubyte")
    >>> with open(path, "wb") as handle:
    ...     _ = handle.write(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]))
    >>> read_idx(path).tolist()
    [7, 8, 9]
    """
    path = Path(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as error:
        raise DataFormatError(f"Could not read the IDX file {path}: {error}") from error
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise DataFormatError(
            f"{path} is not an IDX file: it must start with two zero bytes and a type code "
            f"({', '.join(f'0x{code:02X}' for code in _IDX_TYPES)}); it starts with "
            f"{data[:4].hex() or 'nothing'}. Give the uncompressed file or its .gz."
        )
    dtype = _IDX_TYPES[data[2]]
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataFormatError(
            f"{path} is truncated: its header announces {ndim} dimensions but the file has "
            f"{len(data)} bytes. Replace it with a complete copy."
        )
    shape = tuple(int(n) for n in np.frombuffer(data, dtype=">i4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise DataFormatError(
            f"{path} holds {len(data) - header} bytes of values but its header announces shape "
            f"{shape} of {dtype.name} ({expected} bytes); the file is truncated or not IDX. "
            "Replace it with a complete copy."
        )
    values = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return values.astype(dtype.newbyteorder("="))


def _locate(name: str, data_home: str | os.PathLike[str] | None) -> Path:
    """A verified Fashion-MNIST file: the data home's copy first, then the Debian package's."""
    relative = f"{DATA_HOME_FOLDER}/{name}"
    home = get_data_home(data_home)
    if (home / relative).is_file():
        return verify_file(relative, data_home)
    system = SYSTEM_FOLDER / name
    if system.is_file():
        found, expected = sha256_of(system), expected_checksum(relative)
        if found != expected:
            raise ChecksumMismatchError(
                f"Fashion-MNIST file {system} is corrupt or a different version: its SHA-256 is "
                f"{found} but the published one is {expected}. Reinstall it (apt-get install "
                f"--reinstall {APT_PACKAGE}) or put a fresh copy from {PUBLIC_SOURCE} at "
                f"{home / relative}."
            )
        return system
    raise DatasetNotFoundError(
        f"Fashion-MNIST file '{name}' is missing: looked for {home / relative} (the data home) "
        f"and {system}. Install the Debian package {APT_PACKAGE} (apt-get install {APT_PACKAGE}), "
        f"or copy its four files into {home / DATA_HOME_FOLDER}; expected SHA-256 of this one: "
        f"{expected_checksum(relative)}. The published dataset is {PUBLIC_SOURCE}; "
        f"{SUMS_NOTE}"
    )


@lru_cache(maxsize=2)
def _read_split(images: str, labels: str, stamp: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """One split's images in [0, 1] and labels, parsed once per process and version of the files
    (``stamp``: their sizes and modification times); arrays are read-only."""
    X = read_idx(images)
    y = read_idx(labels)
    if X.ndim != 3 or y.ndim != 1 or len(X) != len(y):
        raise DataFormatError(
            f"{images} and {labels} do not form an image split: shapes {X.shape} and {y.shape} "
            "(expected (n, 28, 28) and (n,)). Replace them with the published files."
        )
    X = (X / np.float32(255.0)).astype(np.float32)
    y = y.astype(np.int64)
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


def _split(split: str, data_home: str | os.PathLike[str] | None) -> tuple[np.ndarray, np.ndarray]:
    if split not in FASHION_SPLITS:
        raise InvalidParameterError(
            f"Fashion-MNIST split must be one of {', '.join(FASHION_SPLITS)}; got {split!r}."
        )
    images, labels = (_locate(name, data_home).resolve() for name in FILES[split])
    stamp = tuple(value for path in (images, labels) for value in _stat(path))
    return _read_split(str(images), str(labels), stamp)


def _stat(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def load_fashion_mnist(
    split: str = "train", data_home: str | os.PathLike[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST article images (Xiao, Rasul & Vollgraf 2017), one split.

    Read from the data home's ``fashion_mnist/`` folder, else from the Debian package
    ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``); each file is checked
    against its published SHA-256 and parsed once per process.

    Parameters
    ----------
    split : {"train", "test"}, default "train"
        60,000 training or 10,000 test images.
    data_home : str or Path or None, default None
        See :func:`~transferkit.datasets.get_data_home`.

    Returns
    -------
    X : float32 array (n, 28, 28) in [0, 1]
    y : int64 array (n,), classes 0..9 (names in ``FASHION_CLASSES``)

    Examples
    --------
    >>> from transferkit.datasets import load_fashion_mnist
    >>> X, y = load_fashion_mnist("test")  # doctest: +SKIP
    >>> X.shape, int(y.max())  # doctest: +SKIP
    ((10000, 28, 28), 9)
    """
    X, y = _split(split, data_home)
    return X.copy(), y.copy()


# ---------------------------------------------------------------------------- domains
def _rotate(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each image rotated clockwise about its centre by its own angle, bilinear, zero outside."""
    return rotate_images(X, -rng.uniform(*ROTATION_DEGREES, size=len(X)))


def shift_fashion_images(
    X: np.ndarray, domain: str, random_state: RandomState = None
) -> np.ndarray:
    """Capture grey images as in one Fashion-MNIST domain (rotated, low contrast, noisy, blurred).

    Parameters
    ----------
    X : array (n, h, w) in [0, 1]
        Images.
    domain : str
        One of ``FASHION_DOMAINS``; ``"original"`` returns a float32 copy.
    random_state : int, Generator or None, default None
        Seed of the angles (``rotated``) and the noise (``noisy``).

    Returns
    -------
    float32 array (n, h, w) in [0, 1]

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.datasets import shift_fashion_images
    >>> images = np.zeros((2, 28, 28)); images[:, 10:18, 12:16] = 1.0
    >>> shifted = shift_fashion_images(images, "low-contrast")
    >>> float(shifted.min()), float(shifted.max())
    (0.15000000596046448, 0.5)
    """
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 3:
        raise InvalidParameterError(
            f"shift_fashion_images needs grey images of shape (n, h, w); got {X.shape}."
        )
    rng = as_generator(random_state)
    if domain == "original":
        out = X.copy()
    elif domain == "rotated":
        out = _rotate(X, rng)
    elif domain == "low-contrast":
        offset, gain = LOW_CONTRAST
        out = offset + gain * X
    elif domain == "noisy":
        out = add_gaussian_noise(X, NOISE_STD, rng)
    elif domain == "blurred":
        out = gaussian_blur(X, BLUR_SIGMA)
    else:
        raise UnknownDatasetError(
            f"Unknown Fashion-MNIST domain {domain!r}; choose one of {', '.join(FASHION_DOMAINS)}."
        )
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _fashion_pair(
    source: str,
    target: str,
    *,
    data_home: str | os.PathLike[str] | None = None,
    random_state: RandomState = None,
    n_source: int = 2000,
    n_target: int = 2000,
    n_test: int = 2000,
) -> TransferProblem:
    """load_pair("fashion-mnist", source, target): flattened float32 images, target labels hidden.

    The source is drawn from the 60,000 training images; the target and the test split are
    disjoint draws from the 10,000 test images; each side is then captured as its domain.
    """
    return draw_image_pair(
        source,
        target,
        domains=FASHION_DOMAINS,
        domains_of="Fashion-MNIST",
        dataset="fashion-mnist",
        images="Fashion-MNIST",
        load=lambda split: _split(split, data_home),
        shift=shift_fashion_images,
        random_state=random_state,
        n_source=n_source,
        n_target=n_target,
        n_test=n_test,
        metadata={
            "dataset": "fashion-mnist",
            "image_shape": (28, 28),
            "class_names": list(FASHION_CLASSES),
        },
    )
