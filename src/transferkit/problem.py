"""One description of a transfer problem, following Pan & Yang (2010).

A *domain* is a feature space with a marginal distribution P(X); a *task* is a label space with a
conditional P(Y|X). A :class:`TransferProblem` holds a labelled source domain, a target domain whose
labels are absent or partly known (a boolean mask says which ones a method may use), and optionally
a labelled target test split. Every estimator, diagnostic, benchmark and CLI command takes this one
object, so data does not change shape as it flows.

The stacked form
----------------
scikit-learn style calls take source and target rows in one matrix: ``fit(X, y, domain=domain)``.

* ``domain`` holds :data:`SOURCE` (0) or :data:`TARGET` (1) per row.
* ``y`` holds the user's own labels (integers, strings, ...), and :data:`UNLABELED` (-1) on target
  rows whose label a method may not see. :meth:`TransferProblem.stacked` returns this form (an
  ``int64`` array for integer labels, an ``object`` array otherwise, so ``'cat'``/``'dog'`` stay
  ``'cat'``/``'dog'``).
* When ``domain`` is not given, it is inferred by one convention, the same everywhere
  (:func:`infer_domain`): **rows with** ``y == -1`` **are unlabelled target rows, every other row
  is a labelled source row**. Visible target labels therefore need an explicit ``domain``, and so
  do problems where -1 is itself a class.
* If no row is marked as target at all (a plain scikit-learn ``fit(X, y)``), there is nothing to
  adapt to: the source rows stand in for the target (no shift, no adaptation) and
  :class:`NoTargetWarning` says so. Every method thus stays a working scikit-learn estimator
  (``cross_val_score``, the estimator checks) without hiding a forgotten ``domain=``.

Different feature spaces
------------------------
By default both domains must share one feature space (:class:`FeatureSpaceMismatchError`
otherwise). Heterogeneous transfer (the source and the target described by different features,
e.g. SURF histograms against CNN features) is asked for explicitly with
``TransferProblem(..., feature_spaces="different")``. Only the methods that declare they handle
it (:data:`HETEROGENEOUS_METHODS`, in :mod:`transferkit.heterogeneous`) accept such a problem;
every other method meets :func:`as_problem`'s :class:`NotApplicableError`, which names them.

Examples
--------
>>> import numpy as np
>>> from transferkit.problem import TransferProblem
>>> rng = np.random.default_rng(0)
>>> problem = TransferProblem(
...     X_source=rng.normal(size=(40, 3)), y_source=np.arange(40) % 2,
...     X_target=rng.normal(1.0, size=(30, 3)))
>>> problem.n_features, problem.n_source, problem.n_target, problem.n_target_labeled
(3, 40, 30, 0)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from transferkit.exceptions import (
    DataFormatError,
    EmptyDomainError,
    FeatureSpaceMismatchError,
    InvalidProblemError,
    LabelTypeError,
    NonFiniteDataError,
    NotApplicableError,
    NoTargetWarning,
    SingleClassError,
    TargetMaskError,
    UnseenClassWarning,
)

#: Label code of an unlabelled sample in the stacked (source + target) form.
UNLABELED = -1

#: Largest magnitude accepted in the data: the squares of larger values overflow float64 in the
#: covariances, Gram matrices and distances every shallow method computes (sqrt of the float64
#: maximum is about 1.3e154; the margin leaves room for sums over many rows).
LARGEST_VALUE = 1e150

#: Metadata keys that describe the layout of the features (not the problem), dropped by
#: :meth:`TransferProblem.map_features` because they are false of the mapped features.
FEATURE_LAYOUT_METADATA = ("image_shape",)

#: The two values of :attr:`TransferProblem.feature_spaces`.
FEATURE_SPACES = ("same", "different")

#: Registered methods that handle source and target described by different features (the
#: heterogeneous family, :mod:`transferkit.heterogeneous`), named by the error any other method
#: raises on such a problem.
HETEROGENEOUS_METHODS = ("hda_cluster", "hda_gw", "hda_coot", "hda_cca")

#: Domain code of source samples in the stacked form.
SOURCE = 0
#: Domain code of target samples in the stacked form.
TARGET = 1


class ImageCollection(Sequence):
    """Images on disk, loaded lazily, one RGB ``uint8`` array of shape (H, W, 3) per item.

    Parameters
    ----------
    paths : sequence of str or Path
        Image files (anything Pillow reads).
    size : tuple of int or None, default None
        If given, every image is resized to (width, height) when loaded.
    """

    def __init__(self, paths: Sequence[str | Path], size: tuple[int, int] | None = None):
        self.paths = [Path(p) for p in paths]
        self.size = size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice | np.ndarray | list):
            indices = np.arange(len(self))[index]
            return ImageCollection([self.paths[i] for i in indices], self.size)
        return self.load(int(index))

    def load(self, index: int) -> np.ndarray:
        """Read image ``index`` as an RGB ``uint8`` array.

        Raises :class:`~transferkit.exceptions.DataFormatError` naming the file when Pillow
        cannot read it (not an image, truncated, missing).
        """
        from PIL import Image, UnidentifiedImageError

        path = self.paths[index]
        try:
            with Image.open(path) as image:
                image = image.convert("RGB")
                if self.size is not None:
                    image = image.resize(self.size, Image.BILINEAR)
                return np.asarray(image, dtype=np.uint8)
        except (UnidentifiedImageError, OSError, SyntaxError) as error:
            raise DataFormatError(
                f"{path} is not an image Pillow can read ({error}); remove it from the folder "
                "or replace it."
            ) from error

    def to_array(self, size: tuple[int, int] = (32, 32)) -> np.ndarray:
        """Load every image resized to ``size`` into one (n, H, W, 3) ``uint8`` array."""
        resized = ImageCollection(self.paths, size)
        return np.stack([resized.load(i) for i in range(len(resized))])

    def __repr__(self) -> str:
        return f"ImageCollection({len(self)} images, size={self.size})"


DataMatrix = np.ndarray | sp.spmatrix | sp.sparray | ImageCollection


def _n_samples(X: Any) -> int:
    if hasattr(X, "shape"):
        return X.shape[0]
    return len(X) if hasattr(X, "__len__") else np.asarray(X).shape[0]


def _feature_shape(X: Any) -> tuple[int, ...] | None:
    """Shape of one sample, or None for images of unknown size."""
    if isinstance(X, ImageCollection):
        return None if X.size is None else (X.size[1], X.size[0], 3)
    return tuple(X.shape[1:])


def _as_matrix(X: Any, what: str) -> DataMatrix:
    """Accept a dense array, a scipy sparse matrix or an image collection."""
    if isinstance(X, ImageCollection):
        return X
    if sp.issparse(X):
        X = sp.csr_matrix(X)
        if not np.issubdtype(X.dtype, np.number):
            raise InvalidProblemError(f"{what} is a sparse matrix of non-numeric dtype {X.dtype}.")
        return X
    try:
        X = np.asarray(X)
    except Exception as error:  # pragma: no cover - numpy raises many kinds
        raise InvalidProblemError(f"{what} could not be converted to an array: {error}") from error
    if X.dtype == object:  # numbers held as Python objects (e.g. from pandas) are numbers
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError):
            pass
    if np.issubdtype(X.dtype, np.complexfloating):
        raise InvalidProblemError(
            f"Complex data not supported: {what} holds complex numbers. Give real features "
            "(e.g. the modulus, or the real and imaginary parts as two columns)."
        )
    if X.dtype == object or not np.issubdtype(X.dtype, np.number) and X.dtype != bool:
        raise InvalidProblemError(
            f"{what} must be numeric, got dtype {X.dtype}. Encode categorical columns first "
            "(e.g. with sklearn.preprocessing.OneHotEncoder)."
        )
    if X.ndim == 1:
        raise InvalidProblemError(
            f"{what} is 1-D with shape {X.shape}; expected (n_samples, n_features). "
            "Reshape your data: X.reshape(-1, 1) for a single feature, X.reshape(1, -1) for a "
            "single sample."
        )
    if X.ndim == 2 and X.shape[1] == 0:
        raise InvalidProblemError(
            f"{what} has 0 feature(s) (shape={X.shape}) while a minimum of 1 is required; "
            "give at least one feature column."
        )
    if X.ndim > 2 and not _is_image_stack(X.shape):
        raise InvalidProblemError(
            f"{what} is {X.ndim}-D with shape {X.shape}; expected (n_samples, n_features), or "
            "images as (n, height, width) or (n, height, width, channels) with 1, 3 or 4 "
            f"channels. Flatten each sample with {what}.reshape(len({what}), -1)."
        )
    return X


def check_data_matrix(X: Any, what: str = "X") -> DataMatrix:
    """``X`` as a dense array, a CSR matrix or an image collection, refused (with our errors)
    when it is 1-D, complex, non-numeric, holds NaN/inf or values whose squares overflow: the
    checks :class:`TransferProblem` makes on its data, for rows given to a fitted method."""
    X = _as_matrix(X, what)
    _check_finite(X, what)
    return X


def _is_image_stack(shape: tuple[int, ...]) -> bool:
    """Whether an array of this shape reads as images: (n, H, W) or (n, H, W, C), C in 1, 3, 4,
    with H and W above 1 (an (n, d, 1) array is a column of features with a stray axis)."""
    if len(shape) == 3:
        return shape[1] > 1 and shape[2] > 1
    if len(shape) == 4:
        return shape[1] > 1 and shape[2] > 1 and shape[3] in (1, 3, 4)
    return False


def _check_finite(X: DataMatrix, what: str) -> None:
    if isinstance(X, ImageCollection):
        return
    values = X.data if sp.issparse(X) else X
    if np.issubdtype(values.dtype, np.floating) and not np.isfinite(values).all():
        n_nan = int(np.isnan(values).sum())
        n_inf = int(np.isinf(values).sum())
        raise NonFiniteDataError(
            f"{what} holds {n_nan} NaN and {n_inf} infinite values. Impute or drop them first "
            "(e.g. sklearn.impute.SimpleImputer)."
        )
    if values.size and np.issubdtype(values.dtype, np.number):
        largest = float(np.abs(values).max())
        if largest > LARGEST_VALUE:
            raise NonFiniteDataError(
                f"{what} holds values as large as {largest:.3g} in magnitude; their squares "
                f"overflow float64 (beyond {LARGEST_VALUE:.0e}), so covariances, kernels and "
                "distances would come out infinite. Rescale the features first (e.g. "
                "sklearn.preprocessing.StandardScaler, or a log transform)."
            )


def _label_kind(y: np.ndarray) -> str:
    if y.dtype.kind in "iub":
        return "integer"
    if y.dtype.kind == "f":
        return "integer" if np.all(np.mod(y, 1) == 0) else "float"
    if y.dtype.kind in "USO":
        return "string"
    return y.dtype.kind


def _as_labels(y: Any, n: int, what: str, samples: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1:
        raise InvalidProblemError(f"{what} must be 1-D, got shape {y.shape}.")
    if len(y) != n:
        raise InvalidProblemError(
            f"{what} has {len(y)} labels but {samples} has {n} samples; give one label per sample."
        )
    if _label_kind(y) == "float":
        raise LabelTypeError(
            f"{what} holds non-integer floats (continuous values, e.g. "
            f"{y[np.mod(y, 1) != 0][0]!r}); classification labels must be integers or strings."
        )
    if y.dtype.kind == "f":
        y = y.astype(np.int64)
    if y.dtype.kind == "f" or (y.dtype.kind == "O" and any(v is None for v in y)):
        raise LabelTypeError(f"{what} contains missing labels (None/NaN); use the target mask.")
    return y


#: The kind of benchmark task a :class:`TransferProblem` is (``TransferProblem.kind``).
TRANSFER_KIND = "transfer"


@dataclass
class TransferProblem:
    """A source domain with labels and a target domain with few or no labels.

    Parameters
    ----------
    X_source : array (n_s, d), scipy sparse matrix, or ImageCollection
        Source samples.
    y_source : array (n_s,)
        Source labels (integers or strings).
    X_target : array (n_t, d), scipy sparse matrix, or ImageCollection
        Target samples available for adaptation.
    y_target : array (n_t,), optional
        Target labels. Only those where ``target_labeled`` is True may be used by a method; the rest
        serve evaluation only (e.g. transductive protocols, the target oracle).
    target_labeled : bool array (n_t,), optional
        Which target labels a method may see. Default: none (unsupervised adaptation).
    X_test, y_test : optional
        A labelled target test split. If absent, evaluation uses the target itself (transductive).
    feature_names : sequence of str, optional
        Names of the d features, when known.
    name, source_name, target_name : str
        Human-readable names used by reports.
    metadata : dict
        Free-form facts about the problem (dataset, protocol, ...).
    feature_spaces : {"same", "different"}, default "same"
        ``"same"``: both domains share one feature space, and data of different widths is
        refused (:class:`~transferkit.exceptions.FeatureSpaceMismatchError`). ``"different"``:
        heterogeneous transfer, the source and the target are described by different features
        (feature matrices of any two widths; ``X_test`` has the target's). Only the
        heterogeneous methods (:data:`HETEROGENEOUS_METHODS`) accept such a problem;
        :attr:`n_features` is then the target's, the features a fitted model predicts from.

    Notes
    -----
    The class attribute ``kind`` is ``"transfer"``: the kind of benchmark task a transfer
    problem is (the datasets of other kinds give continual streams, few-shot episodes...; see
    :func:`transferkit.datasets.dataset_kind`).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> problem = TransferProblem(
    ...     X_source=rng.normal(size=(40, 8)), y_source=np.arange(40) % 2,
    ...     X_target=rng.normal(size=(30, 5)), feature_spaces="different")
    >>> problem.n_source_features, problem.n_target_features, problem.n_features
    (8, 5, 5)
    """

    kind: ClassVar[str] = TRANSFER_KIND

    X_source: DataMatrix
    y_source: np.ndarray
    X_target: DataMatrix
    y_target: np.ndarray | None = None
    target_labeled: np.ndarray | None = None
    X_test: DataMatrix | None = None
    y_test: np.ndarray | None = None
    feature_names: Sequence[str] | None = None
    name: str = "problem"
    source_name: str = "source"
    target_name: str = "target"
    metadata: dict[str, Any] = field(default_factory=dict)
    feature_spaces: str = "same"

    def __post_init__(self) -> None:
        if self.feature_spaces not in FEATURE_SPACES:
            raise InvalidProblemError(
                f"feature_spaces must be 'same' (one feature space for both domains) or "
                f"'different' (heterogeneous transfer); got {self.feature_spaces!r}."
            )
        self.X_source = _as_matrix(self.X_source, "X_source")
        self.X_target = _as_matrix(self.X_target, "X_target")
        for what, X in (("source", self.X_source), ("target", self.X_target)):
            if _n_samples(X) == 0:
                raise EmptyDomainError(
                    f"The {what} domain '{getattr(self, what + '_name')}' has no samples; "
                    f"give X_{what} at least one row."
                )
        _check_finite(self.X_source, "X_source")
        _check_finite(self.X_target, "X_target")
        self._check_same_space(self.X_target, "X_target")

        self.y_source = _as_labels(self.y_source, self.n_source, "y_source", "X_source")
        if len(np.unique(self.y_source)) < 2:
            raise SingleClassError(
                f"y_source holds one class only ({self.y_source[0]!r}); a classifier needs at "
                "least two. Check the labels, or pick a source domain with several classes."
            )
        if self.y_target is not None:
            self.y_target = _as_labels(self.y_target, self.n_target, "y_target", "X_target")
            self._check_label_type(self.y_target, "y_target")
        self.target_labeled = self._check_mask(self.target_labeled)

        if (self.X_test is None) != (self.y_test is None):
            raise InvalidProblemError("Give both X_test and y_test, or neither.")
        if self.X_test is not None:
            self.X_test = _as_matrix(self.X_test, "X_test")
            if _n_samples(self.X_test) == 0:
                raise EmptyDomainError("X_test has no samples; drop the test split or fill it.")
            _check_finite(self.X_test, "X_test")
            self._check_test_space(self.X_test)
            self.y_test = _as_labels(self.y_test, _n_samples(self.X_test), "y_test", "X_test")
            self._check_label_type(self.y_test, "y_test")

        self._warn_unseen_classes()

        if self.feature_names is not None:
            self.feature_names = [str(n) for n in self.feature_names]
            if self.n_features is not None and len(self.feature_names) != self.n_features:
                raise InvalidProblemError(
                    f"feature_names has {len(self.feature_names)} names for "
                    f"{self.n_features} features."
                )

    # ----------------------------------------------------------------- validation helpers
    def _check_same_space(self, X: DataMatrix, what: str) -> None:
        source_shape = _feature_shape(self.X_source)
        shape = _feature_shape(X)
        source_images = isinstance(self.X_source, ImageCollection)
        if self.heterogeneous:
            for name, data in (("X_source", self.X_source), (what, X)):
                if isinstance(data, ImageCollection) or len(_feature_shape(data)) != 1:
                    raise InvalidProblemError(
                        f"With feature_spaces='different', {name} must be a feature matrix "
                        "(n_samples, n_features); extract features from the images first "
                        "(transferkit.deep, or the office-caltech-images dataset's features=)."
                    )
            return
        if source_images != isinstance(X, ImageCollection):
            raise FeatureSpaceMismatchError(
                f"X_source and {what} are of different kinds (images vs. arrays); extract "
                "features from the images first, or give both as images."
            )
        if source_shape is not None and shape is not None and source_shape != shape:
            raise FeatureSpaceMismatchError(
                f"X_source has {int(np.prod(source_shape))} features {source_shape} but {what} has "
                f"{int(np.prod(shape))} {shape}. Both domains must share one feature space: map "
                "them to common features first (scenario 1, 'feature spaces differ'; e.g. a "
                "shared vocabulary, or transferkit.datasets.resize_digits for images). If the "
                "two domains are described by different features on purpose (heterogeneous "
                "transfer), build TransferProblem(..., feature_spaces='different') and use a "
                f"heterogeneous method ({', '.join(HETEROGENEOUS_METHODS)})."
            )

    def _check_test_space(self, X_test: DataMatrix) -> None:
        """X_test lies in the target's feature space (the source's, when they are one)."""
        if not self.heterogeneous:
            self._check_same_space(X_test, "X_test")
            return
        if isinstance(X_test, ImageCollection) or _feature_shape(X_test) != _feature_shape(
            self.X_target
        ):
            raise FeatureSpaceMismatchError(
                f"X_test has features {_feature_shape(X_test)} but X_target has "
                f"{_feature_shape(self.X_target)}; the test split is target data, so it must "
                "have the target's features (the same columns, after the same preprocessing)."
            )

    def _check_label_type(self, y: np.ndarray, what: str) -> None:
        if _label_kind(y) != _label_kind(self.y_source):
            raise LabelTypeError(
                f"y_source holds {_label_kind(self.y_source)} labels but {what} holds "
                f"{_label_kind(y)} labels (e.g. {self.y_source[0]!r} vs {y[0]!r}). Encode both "
                "with the same label set."
            )

    def _warn_unseen_classes(self) -> None:
        known = self.classes
        for what, y in (("y_target", self.y_target), ("y_test", self.y_test)):
            if y is None:
                continue
            unseen = np.setdiff1d(y, known)
            if len(unseen):
                n_rows = int(np.isin(y, unseen).sum())
                warnings.warn(
                    UnseenClassWarning(
                        f"{what} holds {len(unseen)} class(es) that no usable labelled row "
                        f"contains: {[plain_label(c) for c in unseen[:10]]} ({n_rows} of {len(y)} "
                        "rows). No model can predict them, so accuracy counts those rows as "
                        "errors. Drop those rows, or reveal a few of their target labels "
                        "(target_labeled) if the task is open to new classes."
                    ),
                    stacklevel=4,
                )

    def _check_mask(self, mask: Any) -> np.ndarray:
        if mask is None:
            return np.zeros(self.n_target, dtype=bool)
        mask = np.asarray(mask)
        if mask.ndim != 1 or len(mask) != self.n_target:
            raise TargetMaskError(
                f"target_labeled has shape {mask.shape} but X_target has {self.n_target} samples; "
                "give one boolean per target sample."
            )
        if mask.dtype != bool:
            if not np.isin(mask, [0, 1]).all():
                raise TargetMaskError(
                    "target_labeled must be boolean (or 0/1); got values "
                    f"{np.unique(mask)[:5].tolist()}."
                )
            mask = mask.astype(bool)
        if mask.any() and self.y_target is None:
            raise TargetMaskError(
                f"target_labeled marks {int(mask.sum())} target samples as labelled but y_target "
                "is missing; pass their labels in y_target."
            )
        return mask

    # ----------------------------------------------------------------- descriptive properties
    @property
    def n_source(self) -> int:
        return _n_samples(self.X_source)

    @property
    def n_target(self) -> int:
        return _n_samples(self.X_target)

    @property
    def n_target_labeled(self) -> int:
        return int(self.target_labeled.sum())

    @property
    def heterogeneous(self) -> bool:
        """Whether source and target are described by different features (``feature_spaces``)."""
        return self.feature_spaces == "different"

    @property
    def feature_shape(self) -> tuple[int, ...] | None:
        """Shape of one sample: the target's, the space a fitted model predicts in (the same as
        the source's unless :attr:`heterogeneous`)."""
        return _feature_shape(self.X_target if self.heterogeneous else self.X_source)

    @property
    def n_source_features(self) -> int | None:
        """Number of source features (None for images of unknown size)."""
        shape = _feature_shape(self.X_source)
        return None if shape is None else int(np.prod(shape))

    @property
    def n_target_features(self) -> int | None:
        """Number of target features (None for images of unknown size)."""
        shape = _feature_shape(self.X_target)
        return None if shape is None else int(np.prod(shape))

    @property
    def n_features(self) -> int | None:
        shape = self.feature_shape
        return None if shape is None else int(np.prod(shape))

    @property
    def is_sparse(self) -> bool:
        return sp.issparse(self.X_source)

    @property
    def is_images(self) -> bool:
        return isinstance(self.X_source, ImageCollection)

    @property
    def source_classes(self) -> np.ndarray:
        return np.unique(self.y_source)

    @property
    def target_classes(self) -> np.ndarray | None:
        """Classes among the target labels a method may see (None when it sees none)."""
        if not self.target_labeled.any():
            return None
        return np.unique(self.y_target[self.target_labeled])

    @property
    def classes(self) -> np.ndarray:
        """The label set of the problem: source classes plus any visible target ones."""
        target = self.target_classes
        return self.source_classes if target is None else np.union1d(self.source_classes, target)

    @property
    def has_evaluation_labels(self) -> bool:
        return self.y_test is not None or self.y_target is not None

    # ----------------------------------------------------------------- views on the data
    def labeled_target(self) -> tuple[DataMatrix, np.ndarray]:
        """The target samples whose labels a method may use, with those labels."""
        index = np.flatnonzero(self.target_labeled)
        y = self.y_target[index] if self.y_target is not None else np.empty(0)
        return _take(self.X_target, index), y

    def evaluation_split(self) -> tuple[DataMatrix, np.ndarray]:
        """Labelled target data to score on: the test split, else the target (transductive)
        without the rows whose labels methods may see (a method is never scored on them)."""
        if self.X_test is not None:
            return self.X_test, self.y_test
        if self.y_target is None:
            raise InvalidProblemError(
                f"Problem '{self.name}' has no target labels to evaluate on; give X_test/y_test "
                "or y_target."
            )
        if self.n_target_labeled:
            hidden = np.flatnonzero(~self.target_labeled)
            return _take(self.X_target, hidden), self.y_target[hidden]
        return self.X_target, self.y_target

    def encode_labels(self, y: np.ndarray) -> np.ndarray:
        """Integer codes of ``y`` in :attr:`classes` (unknown labels raise)."""
        classes = self.classes
        codes = np.searchsorted(classes, y)
        codes = np.clip(codes, 0, len(classes) - 1)
        if not np.array_equal(classes[codes], y):
            unknown = np.setdiff1d(y, classes)
            raise LabelTypeError(f"Labels {unknown[:5].tolist()} are not among {classes.tolist()}.")
        return codes

    def stacked(self) -> tuple[DataMatrix, np.ndarray, np.ndarray]:
        """Source and target in one matrix, the form scikit-learn style adapters take.

        Returns ``X`` (source rows first), ``y`` with the problem's own labels (``int64`` for
        integer labels, ``object`` otherwise) and :data:`UNLABELED` (-1) for target samples whose
        label is not visible, and ``domain`` (:data:`SOURCE` = 0 or :data:`TARGET` = 1 per row).
        A model fitted on it predicts the problem's labels. See the module notes on the stacked
        form.
        """
        refuse_different_feature_spaces(self, "stacked()")
        if self.is_images:
            raise InvalidProblemError(
                "stacked() needs feature matrices; extract features from the images first "
                "(transferkit.deep) or load them as arrays."
            )
        if self.is_sparse or sp.issparse(self.X_target):
            X = sp.vstack([sp.csr_matrix(self.X_source), sp.csr_matrix(self.X_target)]).tocsr()
        else:
            X = np.concatenate([self.X_source, self.X_target])
        integer = self.y_source.dtype.kind in "iu"
        y = np.full(self.n_source + self.n_target, UNLABELED, dtype=np.int64 if integer else object)
        y[: self.n_source] = self.y_source
        if self.target_labeled.any():
            labeled = np.flatnonzero(self.target_labeled)
            visible = self.y_target[labeled]
            if integer and np.any(visible == UNLABELED):
                raise InvalidProblemError(
                    f"Visible target labels include the class {UNLABELED}, which the stacked "
                    "form uses to mark unlabelled rows; recode the labels (e.g. 0 and 1 instead "
                    "of -1 and 1), or pass the TransferProblem itself to methods."
                )
            y[self.n_source + labeled] = visible
        domain = np.repeat([SOURCE, TARGET], [self.n_source, self.n_target])
        return X, y, domain

    # ----------------------------------------------------------------- derived problems
    def with_target_labels(
        self, n_per_class: int, random_state: int | None = None
    ) -> TransferProblem:
        """A copy in which ``n_per_class`` target labels per class become visible (semi-supervised)."""
        if self.y_target is None:
            raise InvalidProblemError("with_target_labels needs y_target.")
        rng = np.random.default_rng(random_state)
        mask = np.zeros(self.n_target, dtype=bool)
        for label in np.unique(self.y_target):
            index = np.flatnonzero(self.y_target == label)
            mask[rng.choice(index, size=min(n_per_class, len(index)), replace=False)] = True
        return replace(self, target_labeled=mask)

    def subsample_source(
        self, n_per_class: int, random_state: int | None = None
    ) -> TransferProblem:
        """A copy with at most ``n_per_class`` source samples per class, drawn at random."""
        rng = np.random.default_rng(random_state)
        keep = []
        for label in np.unique(self.y_source):
            index = np.flatnonzero(self.y_source == label)
            keep.append(rng.choice(index, size=min(n_per_class, len(index)), replace=False))
        index = np.sort(np.concatenate(keep))
        return replace(self, X_source=_take(self.X_source, index), y_source=self.y_source[index])

    def map_features(self, transform: Callable[[DataMatrix], DataMatrix]) -> TransferProblem:
        """A copy with ``transform`` applied to every data matrix (source, target and test).

        What describes the old feature layout is dropped, since the new features are not the
        old ones: ``feature_names`` and the :data:`FEATURE_LAYOUT_METADATA` keys (e.g.
        ``image_shape``, which would make a deep method fold PCA components into an image).
        """
        refuse_different_feature_spaces(self, "map_features (one transform for both domains)")
        metadata = {k: v for k, v in self.metadata.items() if k not in FEATURE_LAYOUT_METADATA}
        return replace(
            self,
            X_source=transform(self.X_source),
            X_target=transform(self.X_target),
            X_test=None if self.X_test is None else transform(self.X_test),
            feature_names=None,
            metadata=metadata,
        )

    @property
    def title(self) -> str:
        """How reports head the problem (:func:`pair_title`)."""
        return pair_title(self.name, self.source_name, self.target_name)

    def summary(self) -> dict[str, Any]:
        """Sizes and label sets, for reports and the CLI."""
        return {
            "name": self.name,
            "source": self.source_name,
            "target": self.target_name,
            "n_source": self.n_source,
            "n_target": self.n_target,
            "n_target_labeled": self.n_target_labeled,
            "n_test": None if self.X_test is None else _n_samples(self.X_test),
            "n_features": self.n_features,
            "feature_spaces": self.feature_spaces,
            "n_source_features": self.n_source_features,
            "sparse": self.is_sparse,
            "images": self.is_images,
            "source_classes": [plain_label(c) for c in self.source_classes],
        }

    def __repr__(self) -> str:
        test = "" if self.X_test is None else f", n_test={_n_samples(self.X_test)}"
        return (
            f"TransferProblem({self.name!r}: {self.source_name}->{self.target_name}, "
            f"n_source={self.n_source}, n_target={self.n_target}, "
            f"n_target_labeled={self.n_target_labeled}{test}, n_features={self.n_features}"
            + (f", n_source_features={self.n_source_features})" if self.heterogeneous else ")")
        )


def pair_title(name: str, source: str, target: str) -> str:
    """How reports head a problem: ``"name: source → target"``, or ``"source → target"`` when
    the name is the pair itself (users' files and folders are named so).

    >>> pair_title("office-caltech-surf", "amazon", "webcam")
    'office-caltech-surf: amazon → webcam'
    >>> pair_title("amazon->webcam", "amazon", "webcam")
    'amazon → webcam'
    """
    pair = f"{source} → {target}"
    return pair if name == f"{source}->{target}" else f"{name}: {pair}"


def refuse_different_feature_spaces(problem: TransferProblem, who: str) -> None:
    """Raise :class:`~transferkit.exceptions.NotApplicableError` when ``problem``'s domains
    have different features (``feature_spaces="different"``) and ``who`` (a method, a step)
    needs one feature space shared by both; the message names the heterogeneous methods."""
    if not problem.heterogeneous:
        return
    raise NotApplicableError(
        f"{who} works in one feature space shared by source and target, but problem "
        f"'{problem.name}' describes them by different features (X_source: "
        f"{problem.n_source_features}, X_target: {problem.n_target_features}; "
        f"feature_spaces='different'). Use a heterogeneous method "
        f"({', '.join(HETEROGENEOUS_METHODS)}; transferkit.heterogeneous): hda_cluster, hda_gw "
        "and hda_coot need no target label, hda_cca a few labelled target rows per class."
    )


def plain_label(value: Any) -> Any:
    """A NumPy scalar label as its Python value (``np.int64(3)`` -> ``3``); others unchanged.

    For metadata and messages that must read (and serialise) as the user's labels.

    Examples
    --------
    >>> import numpy as np
    >>> plain_label(np.int64(3)), plain_label("cat")
    (3, 'cat')
    """
    return value.item() if hasattr(value, "item") else value


def _take(X: DataMatrix, index: np.ndarray) -> DataMatrix:
    if isinstance(X, ImageCollection):
        return X[index]
    return X[index]


def unlabeled_rows(y: Any) -> np.ndarray:
    """Boolean mask of the rows of stacked labels ``y`` that hold :data:`UNLABELED` (-1).

    Works for integer, string and ``object`` label arrays alike (a string label is never -1).
    """
    y = np.asarray(y)
    if y.dtype.kind in "iuf":
        return y == UNLABELED
    if y.dtype.kind == "O":
        return np.array([_is_unlabeled(v) for v in y], dtype=bool)
    return np.zeros(len(y), dtype=bool)


def _is_unlabeled(value: Any) -> bool:
    return isinstance(value, int | np.integer | float | np.floating) and value == UNLABELED


def infer_domain(y: Any) -> np.ndarray:
    """The domain of each stacked row when none is given: target where ``y == -1``, else source.

    This is the one convention of the stacked form (see the module notes): unlabelled rows are
    target rows, labelled rows are source rows. With no ``y == -1`` row every row is a source
    row, and :func:`as_problem` lets the source stand in for the target.
    """
    if y is None:
        raise InvalidProblemError(
            "Fitting on stacked rows requires y to be passed, but the target y is None: give the "
            "labels (-1 on unlabelled target rows, from which the domain is inferred), or domain= (0 "
            "for source rows, 1 for target rows), or pass a TransferProblem."
        )
    return np.where(unlabeled_rows(y), TARGET, SOURCE)


def _plain_labels(y: np.ndarray) -> np.ndarray:
    """``object`` labels (as stacked() returns for strings) back to their natural dtype."""
    return np.asarray(y.tolist()) if y.dtype == object and len(y) else y


def _source_as_target(X: Any, y: np.ndarray) -> TransferProblem:
    """The problem of labelled rows with no target: the rows are both domains (no shift)."""
    warnings.warn(
        NoTargetWarning(
            f"No target rows: domain= was not given and no row of y is -1, so the {len(y)} "
            "labelled rows stand in for the target and nothing is adapted. Pass domain= (0 for "
            "source rows, 1 for target rows), or mark the unlabelled target rows with y = -1."
        ),
        stacklevel=4,
    )
    y = _plain_labels(y)
    return TransferProblem(X_source=X, y_source=y, X_target=X, y_target=y)


def as_problem(
    X: Any, y: Any = None, domain: Any = None, *, feature_spaces: str = "same"
) -> TransferProblem:
    """Build a problem from the stacked form ``(X, y, domain)``, or pass a problem through.

    ``y`` holds the labels with :data:`UNLABELED` (-1) for unknown ones; ``domain`` is 0 for
    source rows and 1 for target rows. Without ``domain``, rows with ``y == -1`` are the target
    and the others the source (:func:`infer_domain`). This lets every method accept either
    calling convention.

    ``feature_spaces`` is what the calling method handles: ``"same"`` (every method working in
    one feature space) refuses a problem built with ``feature_spaces="different"``
    (:func:`refuse_different_feature_spaces`); ``"different"`` is how a heterogeneous method
    declares it takes one (stacked rows always share one space).
    """
    if feature_spaces not in FEATURE_SPACES:
        raise InvalidProblemError(
            f"feature_spaces must be one of {', '.join(FEATURE_SPACES)}; got {feature_spaces!r}."
        )
    if isinstance(X, TransferProblem):
        if feature_spaces == "same":
            refuse_different_feature_spaces(X, "This method")
        return X
    if not (sp.issparse(X) or isinstance(X, ImageCollection | np.ndarray)):
        X = np.asarray(X)  # lists and array-likes, so rows can be taken by index
    n = _n_samples(X)
    if y is not None:
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        if y.shape != (n,):
            raise InvalidProblemError(
                f"y has shape {y.shape} but X has {n} rows; give one label per row (-1 for "
                "unlabelled target rows)."
            )
    inferred = domain is None
    domain = infer_domain(y) if inferred else np.asarray(domain)
    if inferred and not np.any(domain == TARGET):
        return _source_as_target(X, y)
    if domain.shape != (n,):
        raise InvalidProblemError(f"domain has shape {domain.shape}; expected ({n},).")
    if not np.isin(domain, [SOURCE, TARGET]).all():
        raise InvalidProblemError("domain must hold only 0 (source) and 1 (target).")
    y = np.full(n, UNLABELED) if y is None else y
    source = np.flatnonzero(domain == SOURCE)
    target = np.flatnonzero(domain == TARGET)
    y_source = _plain_labels(y[source])
    y_target = y[target]
    labeled = ~unlabeled_rows(y_target)
    if labeled.any():
        y_target = _plain_labels(np.where(labeled, y_target, y_source[0]).astype(y.dtype))
    return TransferProblem(
        X_source=_take(X, source),
        y_source=y_source,
        X_target=_take(X, target),
        y_target=y_target if labeled.any() else None,
        target_labeled=labeled if labeled.any() else None,
    )
