"""Users' own data files: read one, or build a transfer problem from a source and a target file.

Formats, chosen by the file's extension:

- ``.npz``: arrays ``X`` (required), ``y`` and ``feature_names`` (optional); a scipy sparse matrix
  saved with ``scipy.sparse.save_npz`` is read as ``X`` without labels.
- ``.csv``, ``.tsv``: a header row; a column named ``label`` or ``y`` holds the labels, all others
  are numeric features named by the header. Comma, semicolon or tab separated.
- ``.svmlight``, ``.svm``, ``.libsvm``: sparse rows ``label index:value ...``.
- ``.mat``: MATLAB (up to v7.2) with features in ``X`` or ``fts`` and labels in ``y`` or ``labels``.

Texts: :func:`load_text_file` reads a text column and an optional label column of a ``.csv`` or
``.tsv`` file (:func:`transferkit.text.problem_from_text_files` encodes them into features).

Images: :func:`load_image_folder` reads a folder of images, one sub-folder per class (or, for an
unlabelled target, the images themselves); :func:`transferkit.deep.folders.problem_from_image_folders`
turns them into features of a pre-trained CNN.

Examples
--------
>>> import numpy as np, tempfile, pathlib
>>> from transferkit.datasets import load_file
>>> path = pathlib.Path(tempfile.mkdtemp()) / "source.csv"
>>> _ = path.write_text("height,weight,label\\n1.5,60,0\\n1.8,80,1\\n")
>>> X, y, names = load_file(path)
>>> X.shape, y.tolist(), names
((2, 2), [0, 1], ['height', 'weight'])
"""

from __future__ import annotations

import csv
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from transferkit.exceptions import (
    DataFormatError,
    DatasetNotFoundError,
    FeatureSpaceMismatchError,
    InvalidParameterError,
)
from transferkit.problem import (
    FEATURE_SPACES,
    HETEROGENEOUS_METHODS,
    ImageCollection,
    TransferProblem,
)

SVMLIGHT_SUFFIXES = (".svmlight", ".svm", ".libsvm")
TABLE_SUFFIXES = (".csv", ".tsv")
SUPPORTED_SUFFIXES = (".npz", *TABLE_SUFFIXES, *SVMLIGHT_SUFFIXES, ".mat")
LABEL_COLUMNS = ("label", "y")
#: Extensions :func:`load_image_folder` reads as images (any case).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")

FileContent = tuple[Any, np.ndarray | None, list[str] | None]


def _as_path(path: str | os.PathLike[str]) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise DatasetNotFoundError(f"Data file {path} does not exist (or is not a file).")
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise DataFormatError(
            f"{path}: unsupported extension {path.suffix!r}; use one of "
            f"{', '.join(SUPPORTED_SUFFIXES)}."
        )
    return path


def _clean_labels(y: Any, path: Path, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and 1 in y.shape:
        y = y.ravel()
    if y.ndim != 1:
        raise DataFormatError(f"{path}: labels have shape {y.shape}; expected one per sample.")
    if len(y) != n:
        raise DataFormatError(
            f"{path}: {len(y)} labels for {n} samples; give one label per sample."
        )
    if y.dtype.kind == "f":
        if not np.isfinite(y).all():
            raise DataFormatError(f"{path}: labels contain NaN or infinite values.")
        if np.all(np.mod(y, 1) == 0):
            return y.astype(np.int64)
        raise DataFormatError(
            f"{path}: labels are non-integer numbers (e.g. {y[np.mod(y, 1) != 0][0]}); "
            "classification needs integer or string labels."
        )
    if y.dtype.kind in "iub":
        return y.astype(np.int64)
    if y.dtype.kind in "US":
        return y.astype(str)
    raise DataFormatError(f"{path}: labels of dtype {y.dtype} are neither numbers nor strings.")


def _check_features(X: Any, path: Path) -> Any:
    if sp.issparse(X):
        X = sp.csr_matrix(X)
        if not np.issubdtype(X.dtype, np.number):
            raise DataFormatError(f"{path}: sparse features of non-numeric dtype {X.dtype}.")
        return X.astype(np.float64) if X.dtype.kind in "iub" else X
    X = np.asarray(X)
    if X.dtype.kind not in "iufb":
        raise DataFormatError(
            f"{path}: features must be numeric, got dtype {X.dtype}. Encode categorical "
            "columns as numbers first."
        )
    if X.ndim < 2:
        raise DataFormatError(
            f"{path}: features have shape {X.shape}; expected (n_samples, n_features)."
        )
    if X.shape[0] == 0:
        raise DataFormatError(f"{path}: holds no samples.")
    return X.astype(np.float64) if X.dtype.kind in "iub" else X


# ---------------------------------------------------------------------------- readers
def _read_npz(path: Path) -> FileContent:
    try:
        with np.load(path, allow_pickle=False) as content:
            arrays = {key: content[key] for key in content.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
        raise DataFormatError(
            f"{path}: not a readable .npz file (object arrays are refused for safety): {error}"
        ) from error
    if {"format", "indptr", "indices", "data", "shape"} <= set(arrays):
        try:
            return _check_features(sp.load_npz(path), path), None, None
        except (ValueError, OSError) as error:
            raise DataFormatError(f"{path}: unreadable sparse matrix: {error}") from error
    if "X" not in arrays:
        raise DataFormatError(
            f"{path}: no array named 'X' (found {', '.join(sorted(arrays)) or 'none'}). Save "
            "with np.savez(path, X=features, y=labels)."
        )
    X = _check_features(arrays["X"], path)
    y = _clean_labels(arrays["y"], path, X.shape[0]) if "y" in arrays else None
    names = None
    if "feature_names" in arrays:
        names = [str(name) for name in np.asarray(arrays["feature_names"]).ravel()]
        if len(names) != int(np.prod(X.shape[1:])):
            raise DataFormatError(
                f"{path}: {len(names)} feature_names for {int(np.prod(X.shape[1:]))} features."
            )
    return X, y, names


def _read_table(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the non-blank rows (with their line numbers) of a CSV/TSV file.

    A ``.tsv`` file is tab separated; a ``.csv`` file's separator (comma, semicolon or tab) is
    read from its header row. Quoted fields may hold separators and line breaks.
    """
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            first = handle.readline()
            if not first.strip():
                raise DataFormatError(f"{path}: empty file; expected a header row and data rows.")
            delimiter = "\t"
            if path.suffix.lower() != ".tsv":
                try:
                    delimiter = csv.Sniffer().sniff(first, delimiters=",;\t").delimiter
                except csv.Error:
                    delimiter = ","
            handle.seek(0)
            reader = csv.reader(handle, delimiter=delimiter)
            rows = []
            for row in reader:
                if any(cell.strip() for cell in row):
                    rows.append((reader.line_num, row))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataFormatError(f"{path}: not a readable UTF-8 text file: {error}") from error
    return [name.strip() for name in rows[0][1]], rows[1:]


def _read_csv(path: Path) -> FileContent:
    header, body = _read_table(path)
    if not body:
        raise DataFormatError(f"{path}: only a header row, no data.")
    label_columns = [i for i, name in enumerate(header) if name.lower() in LABEL_COLUMNS]
    if len(label_columns) > 1:
        raise DataFormatError(
            f"{path}: several label columns ({', '.join(header[i] for i in label_columns)}); "
            "keep one column named 'label' or 'y'."
        )
    label_column = label_columns[0] if label_columns else None
    feature_columns = [i for i in range(len(header)) if i != label_column]
    if not feature_columns:
        raise DataFormatError(f"{path}: no feature columns besides the label.")
    X = np.empty((len(body), len(feature_columns)), dtype=np.float64)
    labels = []
    for r, (line, row) in enumerate(body):
        if len(row) != len(header):
            raise DataFormatError(
                f"{path}, line {line}: {len(row)} values but the header has {len(header)} columns."
            )
        for j, c in enumerate(feature_columns):
            cell = row[c].strip()
            try:
                X[r, j] = float(cell)
            except ValueError:
                problem = "is empty" if not cell else f"holds {cell!r}, not a number"
                hint = (
                    ""
                    if not cell
                    else " If the column holds texts, read it as one (load_text_file, or "
                    "--text-column on the command line)."
                )
                raise DataFormatError(
                    f"{path}, line {line}, column '{header[c]}': the value {problem}.{hint}"
                ) from None
        if label_column is not None:
            labels.append(row[label_column].strip())
    y = None
    if label_column is not None:
        if any(not value for value in labels):
            empty = body[labels.index("")][0]
            raise DataFormatError(f"{path}, line {empty}: the label is empty.")
        y = _csv_labels(labels, path)
    return X, y, [header[c] for c in feature_columns]


def _csv_labels(values: list[str], path: Path) -> np.ndarray:
    try:
        numbers = np.array([float(value) for value in values])
    except ValueError:
        return np.array(values, dtype=str)
    return _clean_labels(numbers, path, len(values))


def _read_svmlight(path: Path) -> FileContent:
    X, y = _read_svmlight_files([path])[0]
    return X, y, None


def _read_svmlight_files(paths: list[Path]) -> list[tuple[sp.csr_matrix, np.ndarray]]:
    """Read svmlight files together: one feature count (the largest) and one index base."""
    from sklearn.datasets import load_svmlight_files

    try:
        loaded = load_svmlight_files([str(path) for path in paths], zero_based="auto")
    except (ValueError, RuntimeError) as error:
        names = ", ".join(str(path) for path in paths)
        raise DataFormatError(f"{names}: not valid svmlight/libsvm: {error}") from error
    out = []
    for path, X, y in zip(paths, loaded[0::2], loaded[1::2], strict=True):
        if X.shape[0] == 0:
            raise DataFormatError(f"{path}: holds no samples.")
        out.append((sp.csr_matrix(X), _clean_labels(y, path, X.shape[0])))
    return out


def svmlight_zero_based(paths: list[str | os.PathLike[str]]) -> bool:
    """Whether svmlight files read together (:func:`load_files`) count their features from 0:
    as scikit-learn's ``zero_based="auto"`` decides, from 1 only when no file uses index 0. A
    file read later alone must be read with the same base (:func:`load_svmlight_as`), or its
    columns shift by one."""
    from sklearn.datasets import load_svmlight_files

    loaded = load_svmlight_files([str(path) for path in paths], zero_based=True)
    return not all(X.nnz and X.indices.min() > 0 for X in loaded[0::2])


def load_svmlight_as(
    path: str | os.PathLike[str], *, n_features: int, zero_based: bool
) -> tuple[sp.csr_matrix, np.ndarray | None]:
    """An svmlight file read as files read earlier were: ``n_features`` columns and their index
    base (:func:`svmlight_zero_based`). An index beyond them is an error naming the file."""
    from sklearn.datasets import load_svmlight_file

    try:
        X, y = load_svmlight_file(str(path), n_features=n_features, zero_based=zero_based)
    except (ValueError, RuntimeError) as error:
        raise DataFormatError(
            f"{path}: not readable as svmlight rows of {n_features} features counted from "
            f"{0 if zero_based else 1}: {error}"
        ) from error
    return sp.csr_matrix(X), _clean_labels(y, Path(path), X.shape[0])


def _read_mat(path: Path) -> FileContent:
    import scipy.io

    try:
        content = scipy.io.loadmat(path)
    except NotImplementedError as error:  # MATLAB v7.3 files are HDF5
        raise DataFormatError(
            f"{path}: MATLAB v7.3 (HDF5) files are not supported; save with "
            "save(..., '-v7') or convert to .npz."
        ) from error
    except (ValueError, OSError, TypeError, scipy.io.matlab.MatReadError) as error:
        raise DataFormatError(f"{path}: not a readable MATLAB file: {error}") from error
    variables = sorted(key for key in content if not key.startswith("__"))
    feature_key = next((key for key in ("X", "fts") if key in content), None)
    if feature_key is None:
        raise DataFormatError(
            f"{path}: no features variable 'X' or 'fts' (found {', '.join(variables) or 'none'})."
        )
    X = _check_features(content[feature_key], path)
    label_key = next((key for key in ("y", "labels") if key in content), None)
    y = None if label_key is None else _clean_labels(content[label_key], path, X.shape[0])
    return X, y, None


def load_file(path: str | os.PathLike[str]) -> FileContent:
    """Read features, labels and feature names from a user's data file.

    Parameters
    ----------
    path : str or Path
        A ``.npz``, ``.csv``/``.tsv``, ``.svmlight``/``.svm``/``.libsvm`` or ``.mat`` file (see
        the module docstring for the layout each needs).

    Returns
    -------
    X : array (n, d) of float64, or scipy.sparse.csr_matrix (svmlight, sparse .npz/.mat)
    y : array (n,) of int64 or str, or None when the file holds no labels
    feature_names : list of str, or None when the format does not name features

    Raises
    ------
    DatasetNotFoundError
        The file does not exist.
    DataFormatError
        The file cannot be parsed or lacks what its format needs (the message says what).

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from transferkit.datasets import load_file
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "target.npz"
    >>> np.savez(path, X=np.ones((3, 2)))
    >>> X, y, names = load_file(path)
    >>> X.shape, y, names
    ((3, 2), None, None)
    """
    path = _as_path(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _read_npz(path)
    if suffix in TABLE_SUFFIXES:
        return _read_csv(path)
    if suffix == ".mat":
        return _read_mat(path)
    return _read_svmlight(path)


def load_files(paths: Sequence[str | os.PathLike[str]]) -> list[FileContent]:
    """Several data files of one feature space, in order, as :func:`load_file` reads each; the
    svmlight files among them are read together, so they share one feature count (the largest)
    and one index base, as :func:`problem_from_files` reads a pair (read alone, a file whose
    last features never occur is narrower, and one without feature 0 is taken as one-based).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.svmlight").write_text("1 1:0.5 4:1\\n0 2:1\\n")
    >>> _ = (folder / "b.svmlight").write_text("1 1:2\\n0 2:1\\n")
    >>> [X.shape for X, _, _ in load_files([folder / "a.svmlight", folder / "b.svmlight"])]
    [(2, 4), (2, 4)]
    """
    paths = [_as_path(path) for path in paths]
    together = [i for i, path in enumerate(paths) if path.suffix.lower() in SVMLIGHT_SUFFIXES]
    contents: dict[int, FileContent] = {}
    if together:
        loaded = _read_svmlight_files([paths[i] for i in together])
        for i, (X, y) in zip(together, loaded, strict=True):
            contents[i] = (X, y, None)
    return [contents[i] if i in contents else load_file(path) for i, path in enumerate(paths)]


def load_text_file(
    path: str | os.PathLike[str],
    text_column: str,
    label_column: str | None = "label",
    *,
    labels_required: bool = False,
) -> tuple[list[str], np.ndarray | None]:
    """Read the texts and labels of a ``.csv`` or ``.tsv`` file with a header row.

    Parameters
    ----------
    path : str or Path
        A ``.tsv`` file (tab separated) or a ``.csv`` file (comma, semicolon or tab, read from
        the header row); quoted fields may hold separators and line breaks.
    text_column : str
        Header of the column holding the texts. Every text must be non-empty.
    label_column : str or None, default "label"
        Header of the column holding the labels; None, or a file without that column, gives no
        labels (an unlabelled target).
    labels_required : bool, default False
        A file without ``label_column`` is an error (a source file needs labels).

    Returns
    -------
    texts : list of str
    labels : array (n,) of int64 (labels that are all integers) or str, or None

    Raises
    ------
    DataFormatError
        Not a CSV/TSV file, no column called ``text_column`` (or, when required,
        ``label_column``; the message lists the columns the file has), a row with the wrong
        number of fields, an empty text or label (the message gives its line).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from transferkit.datasets.files import load_text_file
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "reviews.tsv"
    >>> _ = path.write_text("review\tstars\nGreat pan, heats evenly.\t5\nBroke in a week.\t1\n")
    >>> texts, labels = load_text_file(path, "review", "stars")
    >>> texts, labels.tolist()
    (['Great pan, heats evenly.', 'Broke in a week.'], [5, 1])
    """
    path = Path(path).expanduser()
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise DataFormatError(
            f"{path}: texts are read from .csv or .tsv files with a header row, not "
            f"{path.suffix or 'a file without extension'!r}; save the texts and labels as CSV or "
            "TSV, or give a features file without a text column."
        )
    if not path.is_file():
        raise DatasetNotFoundError(f"Data file {path} does not exist (or is not a file).")
    header, body = _read_table(path)
    if not body:
        raise DataFormatError(f"{path}: only a header row, no data.")

    def column(name: str, what: str) -> int:
        if name not in header:
            raise DataFormatError(
                f"{path}: no {what} column {name!r}; its columns are "
                f"{', '.join(repr(h) for h in header)}. Name one of them."
            )
        return header.index(name)

    text_at = column(text_column, "text")
    label_at = None
    if label_column is not None and (labels_required or label_column in header):
        label_at = column(label_column, "label")
    texts: list[str] = []
    labels: list[str] = []
    for line, row in body:
        if len(row) != len(header):
            raise DataFormatError(
                f"{path}, line {line}: {len(row)} fields but the header has {len(header)} "
                "columns (a text with the separator in it must be quoted)."
            )
        text = row[text_at].strip()
        if not text:
            raise DataFormatError(
                f"{path}, line {line}: the text (column {text_column!r}) is empty; drop the row "
                "or fill it in."
            )
        texts.append(text)
        if label_at is not None:
            label = row[label_at].strip()
            if not label:
                raise DataFormatError(
                    f"{path}, line {line}: the label (column {label_column!r}) is empty."
                )
            labels.append(label)
    return texts, (None if label_at is None else _csv_labels(labels, path))


def align_columns(
    X: Any,
    names: list[str] | None,
    reference: list[str] | None,
    path: Path,
    against: str = "source",
) -> Any:
    """Reorder a dense file's columns to the ``against`` file's feature names ``reference`` (same
    set, other order); a file whose names differ is an error naming the missing and extra ones.
    Without names on either side, ``X`` is returned as it is."""
    if names is None or reference is None or names == reference:
        return X
    if sorted(names) != sorted(reference):
        missing = sorted(set(reference) - set(names))
        extra = sorted(set(names) - set(reference))
        raise DataFormatError(
            f"{path}: its features differ from the {against}'s (missing: {missing[:5]}, extra: "
            f"{extra[:5]}). Give both files the same columns"
            + (
                ", or (heterogeneous transfer) declare the spaces different: "
                "feature_spaces='different' (command line: --feature-spaces different)."
                if against == "source"
                else "."
            )
        )
    if sp.issparse(X):
        raise DataFormatError(f"{path}: its features are in another order than the {against}'s.")
    order = [names.index(name) for name in reference]
    return X[:, order]


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def _visible(paths: Any) -> list[Path]:
    """The entries not hidden (no leading dot: ``.DS_Store``, ``.ipynb_checkpoints``), sorted."""
    return sorted(path for path in paths if not path.name.startswith("."))


def load_image_folder(
    path: str | os.PathLike[str], *, labels_required: bool = False
) -> tuple[ImageCollection, np.ndarray | None]:
    """Read a folder of images: one sub-folder per class, or the images alone when unlabelled.

    The layout of torchvision's ``ImageFolder``: ``path/<class>/<image>`` (images may also sit
    deeper inside a class folder); the class folder's name is the label. A folder that holds the
    images directly, with no class folders, is an unlabelled domain (a target). Files of other
    extensions and hidden entries are skipped; the images are listed in sorted order, so the
    rows are the same on every run.

    Parameters
    ----------
    path : str or Path
        The folder.
    labels_required : bool, default False
        True for a source: a folder without class folders is an error.

    Returns
    -------
    images : ImageCollection
        The images, loaded lazily (decoded by Pillow when a backbone reads them).
    labels : array of str, or None
        The class folder of each image; None for a folder of images without class folders.

    Raises
    ------
    DatasetNotFoundError
        ``path`` is not a folder.
    DataFormatError
        No image in it, images beside class folders, or (``labels_required``) no class folder;
        the message names the folder and the extensions read (:data:`IMAGE_SUFFIXES`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> from transferkit.datasets import load_image_folder
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("cat/1.png", "cat/2.png", "dog/1.png"):
    ...     (root / name).parent.mkdir(exist_ok=True)
    ...     Image.new("RGB", (8, 8)).save(root / name)
    >>> images, labels = load_image_folder(root, labels_required=True)
    >>> len(images), labels.tolist()
    (3, ['cat', 'cat', 'dog'])
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DatasetNotFoundError(f"Image folder {folder} does not exist (or is not a folder).")
    entries = _visible(folder.iterdir())
    loose = [entry for entry in entries if _is_image(entry)]
    classes = [entry for entry in entries if entry.is_dir()]
    kinds = ", ".join(IMAGE_SUFFIXES)
    if loose and classes:
        raise DataFormatError(
            f"{folder} holds {len(loose)} images (e.g. {loose[0].name}) beside "
            f"{len(classes)} folders (e.g. {classes[0].name}): put every image in the folder of "
            "its class, or, for an unlabelled target, the images alone."
        )
    if loose:
        if labels_required:
            raise DataFormatError(
                f"{folder} holds images but no class folders: a labelled source needs one "
                "sub-folder per class, named by the class (source/cat/1.jpg, source/dog/7.jpg)."
            )
        return ImageCollection(loose), None
    files, labels = [], []
    for class_folder in classes:
        found = [
            image
            for image in _visible(class_folder.rglob("*"))
            if _is_image(image)
            and not any(p.startswith(".") for p in image.relative_to(class_folder).parts)
        ]
        files += found
        labels += [class_folder.name] * len(found)
    if not files:
        where = f"its {len(classes)} sub-folders" if classes else "it"
        raise DataFormatError(
            f"{folder}: no image in {where} (read: {kinds}). Lay it out as one sub-folder of "
            "images per class (source/cat/1.jpg), or the images alone for an unlabelled target."
        )
    return ImageCollection(files), np.array(labels, dtype=str)


def item_names(path: str | os.PathLike[str] | None, n_rows: int, images: Any = None) -> list[str]:
    """How each row of a domain is named in a file of predictions: for a folder of images, each
    image's path inside it (``mug/3.jpg``), in the rows' order (:func:`load_image_folder`'s;
    ``images``: the folder's images as it listed them already, so they are not listed again);
    otherwise, for a file or a built-in domain, the row's position, ``0`` first.

    Examples
    --------
    >>> item_names("features.csv", 3)
    ['0', '1', '2']
    """
    if path is not None and Path(path).is_dir():
        if images is None:
            images, _ = load_image_folder(path)
        return [str(image.relative_to(Path(path).expanduser())) for image in images.paths]
    return [str(i) for i in range(n_rows)]


def problem_from_files(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    test: str | os.PathLike[str] | None = None,
    *,
    name: str | None = None,
    feature_spaces: str = "same",
) -> TransferProblem:
    """Build a transfer problem from a labelled source file, a target file and an optional test file.

    Labels in the target file, if any, go to ``y_target`` and stay hidden from methods (they
    serve evaluation only). svmlight files are read together so they share one feature count
    (the largest) and one index base. Named columns (CSV, ``.npz`` with ``feature_names``) of
    the target and test files are put in the source's order; different names raise.

    With ``feature_spaces="different"`` the source and the target are described by different
    features on purpose (heterogeneous transfer, :mod:`transferkit.heterogeneous`): each keeps
    its own columns, and the test file is read in the target's (svmlight files: the target and
    test read together, the source apart).

    Parameters
    ----------
    source : str or Path
        Labelled source data (see :func:`load_file` for the formats).
    target : str or Path
        Target data, with or without labels.
    test : str or Path, optional
        Labelled target test data.
    name : str, optional
        Name of the problem (default ``"<source stem>-><target stem>"``).
    feature_spaces : {"same", "different"}, default "same"
        "different": the files' features need not correspond (see above).

    Raises
    ------
    FeatureSpaceMismatchError
        ``feature_spaces="same"`` and the files hold different numbers of features; the message
        says how to declare them different.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from transferkit.datasets import problem_from_files
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> rng = np.random.default_rng(0)
    >>> np.savez(folder / "s.npz", X=rng.normal(size=(20, 3)), y=np.arange(20) % 2)
    >>> np.savez(folder / "t.npz", X=rng.normal(1, size=(15, 3)))
    >>> problem_from_files(folder / "s.npz", folder / "t.npz").n_target
    15
    """
    paths = {"source": _as_path(source), "target": _as_path(target)}
    if test is not None:
        paths["test"] = _as_path(test)
    if feature_spaces not in FEATURE_SPACES:
        raise InvalidParameterError(
            f"feature_spaces must be one of {', '.join(FEATURE_SPACES)}; got {feature_spaces!r}."
        )
    different = feature_spaces == "different"
    contents: dict[str, FileContent] = {}
    svmlight = [role for role, path in paths.items() if path.suffix.lower() in SVMLIGHT_SUFFIXES]
    # files read together share one width: all of them, or (different spaces) the target's side
    groups = [[r for r in svmlight if r == "source"], [r for r in svmlight if r != "source"]]
    for group in groups if different else [svmlight]:
        if group:
            loaded = _read_svmlight_files([paths[role] for role in group])
            for role, (X, y) in zip(group, loaded, strict=True):
                contents[role] = (X, y, None)
    for role, path in paths.items():
        if role not in contents:
            contents[role] = load_file(path)

    X_source, y_source, names = contents["source"]
    if y_source is None:
        raise DataFormatError(
            f"{paths['source']}: the source file has no labels; add a 'label' column (CSV), a "
            "'y' array (.npz) or a 'y'/'labels' variable (.mat)."
        )
    X_target, y_target, target_names = contents["target"]
    if different:
        reference, names = target_names, None  # each side keeps its columns
    else:
        X_target = align_columns(X_target, target_names, names, paths["target"])
        reference = names
        widths = (X_source.shape[1], X_target.shape[1])
        if widths[0] != widths[1]:
            raise FeatureSpaceMismatchError(
                f"{paths['source']} has {widths[0]} features and {paths['target']} {widths[1]}. "
                "Both domains must share one feature space: map them to common features first. "
                "If they are described by different features on purpose (heterogeneous "
                "transfer), say so: feature_spaces='different' (command line: --feature-spaces "
                "different), and use a heterogeneous method "
                f"({', '.join(HETEROGENEOUS_METHODS)}).",
                widths={str(paths["source"]): widths[0], str(paths["target"]): widths[1]},
            )
    X_test = y_test = None
    if "test" in contents:
        X_test, y_test, test_names = contents["test"]
        if y_test is None:
            raise DataFormatError(
                f"{paths['test']}: the test file has no labels; a test split is for evaluation "
                "and needs them."
            )
        X_test = align_columns(
            X_test, test_names, reference, paths["test"], "target" if different else "source"
        )
    source_name, target_name = paths["source"].stem, paths["target"].stem
    return TransferProblem(
        X_source=X_source,
        y_source=y_source,
        X_target=X_target,
        y_target=y_target,
        X_test=X_test,
        y_test=y_test,
        feature_names=names,
        feature_spaces=feature_spaces,
        name=name or f"{source_name}->{target_name}",
        source_name=source_name,
        target_name=target_name,
        metadata={
            "dataset": "files",
            "files": {role: str(path) for role, path in paths.items()},
        },
    )
