"""One labelled domain as dense features and labels, whatever form the user holds it in.

The commands that take labelled domains one at a time (``fewshot``, ``continual``) read them here:
a file of features, a table of texts encoded by a text encoder, or a folder of images described
by a pre-trained CNN. It sits above :mod:`transferkit.datasets.files`, :mod:`transferkit.text`
and :mod:`transferkit.deep.folders`, which all read files themselves.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from transferkit.datasets.files import load_file, load_text_file
from transferkit.exceptions import DataFormatError

__all__ = ["load_labelled"]


def load_labelled(
    path: str | os.PathLike[str],
    *,
    text_column: str | None = None,
    label_column: str = "label",
    encoder: str = "use",
    backbone: str = "mobilenet_v2",
    progress: Any = None,
    needed_for: str = "this command",
) -> tuple[np.ndarray, np.ndarray]:
    """One labelled domain as dense features and labels, whatever the user holds: a file of
    features (:func:`~transferkit.datasets.load_file`), a table of texts (``text_column``, encoded with ``encoder``,
    :func:`transferkit.text.encode_texts`) or a folder of images with one sub-folder per class
    (described by ``backbone``'s cached features; needs torch).

    The reader of the commands that take labelled domains one by one (``fewshot``,
    ``continual``). ``progress(done, total)`` follows the encoding; ``needed_for`` names what
    needs the labels in the error a file without them raises.

    Returns
    -------
    X : float64 array (n, d)
    y : array (n,) of int64 or str

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from transferkit.datasets.labelled import load_labelled
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "day.npz"
    >>> np.savez(path, X=np.ones((4, 2)), y=[0, 1, 0, 1])
    >>> X, y = load_labelled(path)
    >>> X.shape, y.tolist()
    ((4, 2), [0, 1, 0, 1])
    """
    if Path(path).is_dir():
        if text_column is not None:
            raise DataFormatError(
                f"{path} is a folder of images; a text column applies to CSV/TSV files of texts."
            )
        from transferkit.deep.folders import image_folder_features

        return image_folder_features(path, backbone, progress=progress)
    if text_column is not None:
        from transferkit.text import encode_texts

        texts, labels = load_text_file(path, text_column, label_column, labels_required=True)
        return encode_texts(texts, encoder, progress=progress, what=str(path)), labels
    X, y, _ = load_file(path)
    if y is None:
        raise DataFormatError(
            f"{path} holds no labels: give a label per row for {needed_for} (a 'label' or "
            "'y' column, or y in the .npz)."
        )
    if sp.issparse(X):
        X = X.toarray()
    return np.asarray(X, dtype=np.float64), y
