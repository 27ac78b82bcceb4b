"""Amazon product reviews (Blitzer et al. 2007) in the split and features of Ganin et al. (2016).

Four domains (books, dvd, electronics, kitchen); each has a ``_train`` file of 2,000 labelled
reviews and a ``_test`` file with the rest, as 5,000 uni- and bigram counts in svmlight format
(zero-based feature indices, labels -1/1).
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np
import scipy.sparse as sp

from transferkit.datasets._home import verify_file
from transferkit.datasets._utils import RandomState, check_domain
from transferkit.exceptions import DataFormatError, InvalidParameterError
from transferkit.problem import TransferProblem

AMAZON_DOMAINS = ("books", "dvd", "electronics", "kitchen")
AMAZON_SPLITS = ("train", "test")
#: Number of uni+bigram features of the published split.
AMAZON_N_FEATURES = 5000


@lru_cache(maxsize=8)
def _read(path: str, size: int, mtime_ns: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """Parse one svmlight file (cached per process by path, size and modification time)."""
    from sklearn.datasets import load_svmlight_file

    try:
        X, y = load_svmlight_file(
            path, n_features=AMAZON_N_FEATURES, zero_based=True, dtype=np.float64
        )
    except ValueError as error:
        raise DataFormatError(f"Could not read {path} as svmlight: {error}") from error
    labels = np.unique(y)
    if not set(labels.tolist()) <= {-1.0, 1.0}:
        raise DataFormatError(f"{path} holds labels {labels.tolist()}; expected -1 and 1.")
    return X.tocsr(), (y > 0).astype(np.int64)


def load_amazon_reviews(
    domain: str, split: str = "train", data_home: str | os.PathLike[str] | None = None
) -> tuple[sp.csr_matrix, np.ndarray]:
    """One domain and split of the Amazon reviews, as sparse counts and 0/1 sentiment labels.

    Blitzer, Dredze & Pereira (2007) collected the reviews; Ganin et al. (2016, JMLR, Table 1) fixed
    this split and its 5,000 uni+bigram features. The file is verified against its SHA-256 first.

    Parameters
    ----------
    domain : {"books", "dvd", "electronics", "kitchen"}
        The product category.
    split : {"train", "test"}, default "train"
        ``"train"``: the 2,000 labelled reviews; ``"test"``: the rest (3,586 to 5,945).
    data_home : str or Path or None, default None
        See :func:`~transferkit.datasets.get_data_home`.

    Returns
    -------
    X : scipy.sparse.csr_matrix of float64, shape (n, 5000)
        Feature counts (feature names are not published).
    y : int64 array (n,)
        1 for a positive review, 0 for a negative one.

    Examples
    --------
    >>> from transferkit.datasets import load_amazon_reviews
    >>> X, y = load_amazon_reviews("books")  # doctest: +SKIP
    >>> X.shape, sorted(set(y))  # doctest: +SKIP
    ((2000, 5000), [0, 1])
    """
    check_domain(domain, AMAZON_DOMAINS, "Amazon reviews")
    if split not in AMAZON_SPLITS:
        raise InvalidParameterError(f"split must be 'train' or 'test'; got {split!r}.")
    path = verify_file(f"amazon_reviews/{domain}_{split}.svmlight", data_home)
    stat = path.stat()
    X, y = _read(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    return X.copy(), y.copy()


def _amazon_pair(
    source: str,
    target: str,
    *,
    data_home: str | os.PathLike[str] | None = None,
    random_state: RandomState = None,
) -> TransferProblem:
    """load_pair("amazon-reviews", source, target): the DANN paper's protocol (no randomness)."""
    X_source, y_source = load_amazon_reviews(source, "train", data_home)
    X_target, y_target = load_amazon_reviews(target, "train", data_home)
    X_test, y_test = load_amazon_reviews(target, "test", data_home)
    return TransferProblem(
        X_source=X_source,
        y_source=y_source,
        X_target=X_target,
        y_target=y_target,
        X_test=X_test,
        y_test=y_test,
        name="amazon-reviews",
        source_name=source,
        target_name=target,
        metadata={
            "dataset": "amazon-reviews",
            "protocol": "Ganin et al. 2016: source train labelled, target train unlabelled, "
            "target test for evaluation",
            "class_names": ["negative", "positive"],
        },
    )
