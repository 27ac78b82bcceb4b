"""Feature augmentation: shared, source-only and target-only copies (Daumé III 2007).

:func:`augment_features` and the :class:`FeatureAugmentation` adapter, registered as
``feature_augmentation`` (it needs a few labelled target samples).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from transferkit.base import AdaptedClassifier, BaseAdapter
from transferkit.problem import SOURCE, DataMatrix, TransferProblem
from transferkit.registry import register_method


def augment_features(X: DataMatrix, domain: int) -> DataMatrix:
    """Daumé's augmented features: source ``<x, x, 0>``, target ``<x, 0, x>``.

    Daumé III (2007), "Frustratingly easy domain adaptation", ACL, Sec. 2 (the maps
    ``Phi^s`` and ``Phi^t``). Sparse input stays sparse.

    Examples
    --------
    >>> import numpy as np
    >>> augment_features(np.array([[1.0, 2.0]]), domain=1)
    array([[1., 2., 0., 0., 1., 2.]])
    """
    if sp.issparse(X):
        zeros = sp.csr_matrix(X.shape, dtype=X.dtype)
        blocks = [X, X, zeros] if domain == SOURCE else [X, zeros, X]
        return sp.hstack(blocks).tocsr()
    X = np.asarray(X, dtype=float)
    zeros = np.zeros_like(X)
    return np.hstack([X, X, zeros] if domain == SOURCE else [X, zeros, X])


class FeatureAugmentation(BaseAdapter):
    """ "Frustratingly easy" domain adaptation: shared, source-only and target-only copies.

    Daumé III (2007), ACL, Sec. 2: a classifier trained on the augmented source and the few
    labelled target samples learns which features mean the same in both domains. Needs some
    labelled target samples (raises :class:`~transferkit.exceptions.NotApplicableError` without).
    Sparse input stays sparse.

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.problem import TransferProblem
    >>> rng = np.random.default_rng(0)
    >>> problem = TransferProblem(rng.normal(size=(20, 2)), np.arange(20) % 2,
    ...     rng.normal(size=(10, 2)), y_target=np.arange(10) % 2, target_labeled=np.arange(10) < 4)
    >>> FeatureAugmentation().fit(problem).transform(problem.X_target).shape
    (10, 6)
    """

    needs_target_labels = True
    accepts_sparse = True

    def _fit(self, problem: TransferProblem) -> None:
        return None

    def _transform(self, X: DataMatrix, domain: int) -> DataMatrix:
        return augment_features(X, domain)


@register_method(
    "feature_augmentation",
    "alignment",
    "Frustratingly easy feature augmentation, needs a few target labels (Daume 2007)",
    needs_target_labels=True,
)
def _feature_augmentation(estimator: Any, random_state: int | None) -> Any:
    return AdaptedClassifier(FeatureAugmentation(), estimator)
