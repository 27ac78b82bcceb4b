"""Image helpers shared by the digit domains: resizing and centring stacks of small images.

Both :mod:`transferkit.datasets.digits` (UCI digits brought to 28x28, MNIST-style centring) and
:mod:`transferkit.datasets.synthetic` (smooth backgrounds) need them, so they live here rather than
in either module, which would make the two import each other.

Examples
--------
>>> import numpy as np
>>> from transferkit.datasets.images import resize_digits
>>> resize_digits(np.ones((2, 8, 8)), 28).shape
(2, 28, 28)
"""

from __future__ import annotations

import numpy as np

from transferkit.checks import check_count
from transferkit.exceptions import InvalidParameterError

__all__ = ["center_by_mass", "resize_digits"]


def _resampling_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights: linear interpolation when enlarging, pixel-area averaging when
    shrinking (so thin strokes are not skipped)."""
    weights = np.zeros((n_out, n_in))
    if n_out >= n_in:
        centres = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        low = np.floor(centres).astype(int)
        high = np.minimum(low + 1, n_in - 1)
        fraction = centres - low
        rows = np.arange(n_out)
        np.add.at(weights, (rows, low), 1 - fraction)
        np.add.at(weights, (rows, high), fraction)
        return weights
    scale = n_in / n_out
    edges_in = np.arange(n_in + 1)
    for i in range(n_out):
        start, stop = i * scale, (i + 1) * scale
        overlap = np.minimum(edges_in[1:], stop) - np.maximum(edges_in[:-1], start)
        weights[i] = np.clip(overlap, 0, None) / scale
    return weights


def resize_digits(X: np.ndarray, size: int) -> np.ndarray:
    """Resize a stack of square-ish images to ``size`` x ``size``, vectorised.

    Linear interpolation when enlarging, area averaging when shrinking; values stay within the
    input range.

    Parameters
    ----------
    X : array (n, h, w) or (n, h, w, c)
        Images.
    size : int
        Output height and width.

    Returns
    -------
    float32 array (n, size, size) or (n, size, size, c)

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.datasets import resize_digits
    >>> resize_digits(np.ones((2, 8, 8)), 28).shape
    (2, 28, 28)
    """
    X = np.asarray(X)
    size = check_count(size, "size", 1)
    if X.ndim not in (3, 4):
        raise InvalidParameterError(
            f"resize_digits needs images of shape (n, h, w) or (n, h, w, c); got {X.shape}."
        )
    rows = _resampling_matrix(X.shape[1], size).astype(np.float32)
    cols = _resampling_matrix(X.shape[2], size).astype(np.float32)
    X = X.astype(np.float32, copy=False)
    if X.ndim == 3:
        return np.einsum("ih,nhw,jw->nij", rows, X, cols, optimize=True)
    return np.einsum("ih,nhwc,jw->nijc", rows, X, cols, optimize=True)


def center_by_mass(X: np.ndarray, max_shift: int = 4) -> np.ndarray:
    """Shift each (n, h, w) image by whole pixels so its centre of mass sits at the centre
    (LeCun et al. 1998 centred MNIST this way); shifts are limited to ``max_shift`` pixels."""
    n, height, width = X.shape
    total = X.sum(axis=(1, 2))
    total = np.where(total == 0, 1.0, total)
    row_mass = (X.sum(axis=2) * np.arange(height)).sum(axis=1) / total
    col_mass = (X.sum(axis=1) * np.arange(width)).sum(axis=1) / total
    # MNIST's centres of mass sit at pixel coordinate (14, 14) of 28x28, i.e. h/2, w/2
    shift_rows = np.clip(np.rint(height / 2 - row_mass), -max_shift, max_shift).astype(int)
    shift_cols = np.clip(np.rint(width / 2 - col_mass), -max_shift, max_shift).astype(int)
    out = np.zeros_like(X)
    for i in range(n):
        out[i] = _shift(X[i], shift_rows[i], shift_cols[i])
    return out


def _shift(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Translate without wrapping around (vacated pixels become 0)."""
    out = np.zeros_like(image)
    h, w = image.shape
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = image[
        max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)
    ]
    return out
