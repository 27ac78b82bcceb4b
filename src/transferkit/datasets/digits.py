"""Digit domains: MNIST, UCI optdigits, synthetic font-rendered digits and MNIST-M-style digits.

Every domain is returned as 28x28 images in [0, 1] (RGB for MNIST-M), so any two of them form a
transfer problem in one pixel space. :func:`load_pair` flattens them to float32 rows and records
the image shape in ``problem.metadata["image_shape"]`` for deep methods.
"""

from __future__ import annotations

import gzip
import logging
import os
import pickle
from dataclasses import replace
from functools import lru_cache
from typing import Any

import numpy as np

from transferkit.checks import check_count
from transferkit.datasets._home import verify_file
from transferkit.datasets._utils import RandomState, as_generator, check_domain
from transferkit.datasets.images import center_by_mass, resize_digits
from transferkit.exceptions import DataFormatError, InvalidParameterError
from transferkit.problem import TransferProblem

logger = logging.getLogger(__name__)

DIGIT_DOMAINS = ("synthetic", "mnist", "mnistm", "uci")
MNIST_SPLITS = ("train", "valid", "test")
IMAGE_SIZE = 28
#: Seed of the fixed split of the 1,797 UCI digits into an adaptation pool and a test pool.
_UCI_SPLIT_SEED = 0
_UCI_TEST_FRACTION = 1 / 3


# ---------------------------------------------------------------------------- UCI digits
@lru_cache(maxsize=2)
def _uci(size: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = (digits.images / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    if size == 8:
        return X, y
    # MNIST fits each digit in a 20x20 box inside 28x28, centred by mass: do the same
    inner = round(size * 20 / 28)
    margin = size - inner
    X = resize_digits(X, inner)
    X = np.pad(
        X, ((0, 0), (margin // 2, margin - margin // 2), (margin // 2, margin - margin // 2))
    )
    return np.clip(center_by_mass(X), 0.0, 1.0), y


def load_uci_digits(size: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 UCI optdigits (Alpaydin & Kaynak 1998), scaled to [0, 1].

    Parameters
    ----------
    size : int, default 8
        8 gives the original 8x8 images (values 0..16 divided by 16). Any other size (28 to pair
        with MNIST) resizes each digit to a 20/28 share of the frame, pads it and centres it by
        mass, as MNIST was prepared.

    Returns
    -------
    X : float32 array (1797, size, size) in [0, 1]
    y : int64 array (1797,), digits 0..9

    Examples
    --------
    >>> from transferkit.datasets import load_uci_digits
    >>> X, y = load_uci_digits(28)
    >>> X.shape, X.dtype, int(y.max())
    ((1797, 28, 28), dtype('float32'), 9)
    """
    size = check_count(size, "size", 4)
    X, y = _uci(size)
    return X.copy(), y.copy()


# ---------------------------------------------------------------------------- MNIST
@lru_cache(maxsize=1)
def _mnist(path: str, size: int, mtime_ns: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every split of mnist.pkl.gz, read once per process; arrays are read-only."""
    try:
        with gzip.open(path, "rb") as handle:
            # safe to unpickle: the file's SHA-256 was checked against the published one
            splits = pickle.load(handle, encoding="latin1")
    except (OSError, EOFError, pickle.UnpicklingError) as error:
        raise DataFormatError(f"Could not read {path} as a pickled MNIST: {error}") from error
    out = {}
    for name, (X, y) in zip(MNIST_SPLITS, splits, strict=True):
        X = np.asarray(X, dtype=np.float32).reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
        y = np.asarray(y, dtype=np.int64)
        X.setflags(write=False)
        y.setflags(write=False)
        out[name] = (X, y)
    return out


def _mnist_split(
    split: str, data_home: str | os.PathLike[str] | None
) -> tuple[np.ndarray, np.ndarray]:
    if split not in MNIST_SPLITS:
        raise InvalidParameterError(
            f"MNIST split must be one of {', '.join(MNIST_SPLITS)}; got {split!r}."
        )
    path = verify_file("mnist/mnist.pkl.gz", data_home)
    stat = path.stat()
    return _mnist(str(path.resolve()), stat.st_size, stat.st_mtime_ns)[split]


def load_mnist(
    split: str = "train", data_home: str | os.PathLike[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """MNIST handwritten digits (LeCun et al. 1998) from the data home's ``mnist/mnist.pkl.gz``.

    The deeplearning.net tutorials' pickle: 50,000 train, 10,000 valid and 10,000 test images.
    The file is verified against its SHA-256 and parsed once per process.

    Parameters
    ----------
    split : {"train", "valid", "test"}, default "train"
    data_home : str or Path or None, default None
        See :func:`~transferkit.datasets.get_data_home`.

    Returns
    -------
    X : float32 array (n, 28, 28) in [0, 1]
    y : int64 array (n,), digits 0..9

    Examples
    --------
    >>> from transferkit.datasets import load_mnist
    >>> X, y = load_mnist("test")  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (10000, 28, 28)
    """
    X, y = _mnist_split(split, data_home)
    return X.copy(), y.copy()


# ---------------------------------------------------------------------------- pairs
def _take(n: int, available: int, what: str) -> int:
    if n > available:
        logger.info(
            "%s: %d samples requested, %d available; using %d", what, n, available, available
        )
    return min(n, available)


def _uci_pools() -> tuple[np.ndarray, np.ndarray]:
    """A fixed split of the UCI digits: (adaptation pool, test pool), the same for every seed."""
    order = np.random.default_rng(_UCI_SPLIT_SEED).permutation(1797)
    n_test = round(1797 * _UCI_TEST_FRACTION)
    return np.sort(order[n_test:]), np.sort(order[:n_test])


class _DomainSampler:
    """Draws disjoint samples of one digit domain for the source, the target and the test split."""

    def __init__(
        self, domain: str, data_home: str | os.PathLike[str] | None, rng: np.random.Generator
    ):
        self.domain = domain
        self.data_home = data_home
        self.rng = rng
        self._used: dict[str, np.ndarray] = {}

    def _pool(self, part: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Images, labels, and the indices a part may draw from."""
        if self.domain in ("mnist", "mnistm"):
            split = "test" if part == "test" else "train"
            X, y = _mnist_split(split, self.data_home)
            return X, y, np.arange(len(y))
        X, y = _uci(IMAGE_SIZE)
        adaptation, test = _uci_pools()
        if part == "test":
            return X, y, test
        # as a source the whole domain may be used; as a target, only the adaptation pool
        return X, y, adaptation if part == "target" else np.arange(len(y))

    def draw(
        self, part: str, n: int, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.domain == "synthetic":
            from transferkit.datasets.synthetic import make_synthetic_digits

            X, y = make_synthetic_digits(n, size=IMAGE_SIZE, random_state=self.rng)
            return X, y, np.arange(n)
        X, y, pool = self._pool(part)
        if exclude is not None and len(exclude):
            pool = np.setdiff1d(pool, exclude)
        n = _take(n, len(pool), f"digits {self.domain} {part}")
        index = np.sort(self.rng.choice(pool, size=n, replace=False))
        images = X[index]
        if self.domain == "mnistm":
            from transferkit.datasets.mnistm import make_mnistm

            images = make_mnistm(images, random_state=self.rng)
        return images, y[index].copy(), index


def _flatten(X: np.ndarray, rgb: bool) -> np.ndarray:
    if rgb and X.ndim == 3:
        X = np.repeat(X[..., None], 3, axis=3)
    return np.ascontiguousarray(X.reshape(len(X), -1), dtype=np.float32)


def _digits_pair(
    source: str,
    target: str,
    *,
    data_home: str | os.PathLike[str] | None = None,
    random_state: RandomState = None,
    n_source: int = 2000,
    n_target: int = 2000,
    n_test: int = 1000,
) -> TransferProblem:
    """load_pair("digits", source, target): flattened float32 images, target labels hidden.

    Source, target and test images never overlap: when both domains come from the MNIST training
    images (mnist and mnistm) they are drawn from disjoint indices; the test split comes from the
    MNIST test images, or from a fixed third of the UCI digits held out from the target.
    """
    for domain in (source, target):
        check_domain(domain, DIGIT_DOMAINS, "digits")
    n_source = check_count(n_source, "n_source", 2)
    n_target = check_count(n_target, "n_target", 1)
    n_test = check_count(n_test, "n_test", 1)
    rng = as_generator(random_state)
    source_sampler = _DomainSampler(source, data_home, rng)
    target_sampler = _DomainSampler(target, data_home, rng)
    X_source, y_source, source_index = source_sampler.draw("source", n_source)
    same_pool = {source, target} <= {"mnist", "mnistm"}
    X_target, y_target, _ = target_sampler.draw(
        "target", n_target, exclude=source_index if same_pool else None
    )
    X_test, y_test, _ = target_sampler.draw("test", n_test)

    rgb = "mnistm" in (source, target)
    image_shape = (IMAGE_SIZE, IMAGE_SIZE, 3) if rgb else (IMAGE_SIZE, IMAGE_SIZE)
    return TransferProblem(
        X_source=_flatten(X_source, rgb),
        y_source=y_source,
        X_target=_flatten(X_target, rgb),
        y_target=y_target,
        X_test=_flatten(X_test, rgb),
        y_test=y_test,
        name="digits",
        source_name=source,
        target_name=target,
        metadata={
            "dataset": "digits",
            "image_shape": image_shape,
            "channels_repeated": [d for d in (source, target) if rgb and d != "mnistm"],
            "class_names": [str(i) for i in range(10)],
        },
    )


#: The digits domains drawn from one pool of images (MNIST-M blends MNIST's training images).
_SHARED_POOL = frozenset({"mnist", "mnistm"})


def _digits_sources(
    sources: list[str],
    target: str,
    *,
    data_home: str | os.PathLike[str] | None = None,
    random_state: int | None = None,
    **options: Any,
) -> list[TransferProblem]:
    """The single-source pairs of ``load_pair("digits", "a+b", target)``, on one shared target.

    Each source's rows are those of its own pair (the same seed), but a pair draws its target
    after its source, so the pairs' targets differ. The target kept is that of the source drawn
    from the target's pool of images (mnist for an mnistm target, and the other way round), whose
    pair keeps the two disjoint; else the first source's. The other sources come from other
    pools, so no image is both a source and a target one. When one pair is RGB (mnistm), every
    grey image is repeated to three channels, so that all the pairs share one feature space.
    """
    pairs = {
        s: _digits_pair(s, target, data_home=data_home, random_state=random_state, **options)
        for s in sources
    }
    keep = next((s for s in sources if {s, target} <= _SHARED_POOL), sources[0])
    rgb = any(len(p.metadata["image_shape"]) == 3 for p in pairs.values())
    shared = pairs[keep]

    def width(X: np.ndarray) -> np.ndarray:
        if rgb and X.shape[1] == IMAGE_SIZE * IMAGE_SIZE:
            return _flatten(X.reshape(len(X), IMAGE_SIZE, IMAGE_SIZE), rgb=True)
        return X

    image_shape = (IMAGE_SIZE, IMAGE_SIZE, 3) if rgb else (IMAGE_SIZE, IMAGE_SIZE)
    repeated = [d for d in (*sources, target) if rgb and d != "mnistm"]
    out = []
    for source in sources:
        pair = pairs[source]
        out.append(
            replace(
                pair,
                X_source=width(pair.X_source),
                X_target=width(shared.X_target),
                y_target=shared.y_target,
                target_labeled=shared.target_labeled,
                X_test=width(shared.X_test),
                y_test=shared.y_test,
                metadata={
                    **pair.metadata,
                    "image_shape": image_shape,
                    "channels_repeated": repeated,
                    "target_drawn_with": keep,
                },
            )
        )
    return out
