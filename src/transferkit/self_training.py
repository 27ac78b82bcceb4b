"""Self-training: the classifier labels the target rows it is sure of and learns from them too.

Yarowsky (1995) and McClosky, Charniak & Johnson (2006) train a model, let it label the
unlabelled data, and re-train on its own confident labels; in domain adaptation the unlabelled
data is the target domain. Picking the confident rows *per predicted class* (the most confident
``share`` of each class's rows, as in the class-balanced self-training of Zou, Yu, Kumar & Wang
2018, Sect. 3.2) keeps a class the source model favours from taking over the pseudo-labels.
Cross-lingual text classification uses the same loop on a multilingual encoder's features (Dong &
de Melo 2019): the target-language rows teach the classifier the target side's own regularities.

- :func:`confident_rows`: which target rows get a pseudo-label;
- :class:`SelfTraining`: the loop around any scikit-learn classifier with ``predict_proba``,
  registered as ``self_training``.

Examples
--------
>>> from transferkit.datasets import make_rotated_moons
>>> problem = make_rotated_moons(angle=30, random_state=0)
>>> model = SelfTraining(share=0.5, n_iter=3).fit(problem)
>>> round(float(model.pseudo_label_share_), 2)
0.5
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from transferkit.base import check_rows, default_estimator
from transferkit.checks import check_number, check_positive_int, check_probabilistic
from transferkit.exceptions import NotApplicableError
from transferkit.problem import as_problem
from transferkit.registry import register_method


def confident_rows(proba: np.ndarray, share: float) -> np.ndarray:
    """Rows to pseudo-label: for each predicted class, the ``share`` most confident of its rows.

    Parameters
    ----------
    proba : array of shape (n, n_classes)
        Class probabilities of the unlabelled rows.
    share : float
        In (0, 1]: the fraction of each predicted class's rows kept (rounded up, so a class
        predicted at least once keeps at least one row).

    Returns
    -------
    int array
        Sorted row indices.

    Examples
    --------
    >>> import numpy as np
    >>> confident_rows(np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]]), 0.5).tolist()
    [0, 2]
    """
    share = check_number(share, "share", 0.0, 1.0)
    predicted = proba.argmax(axis=1)
    confidence = proba.max(axis=1)
    keep = []
    for cls in np.unique(predicted):
        rows = np.flatnonzero(predicted == cls)
        order = rows[np.argsort(-confidence[rows], kind="stable")]
        keep.append(order[: int(np.ceil(share * len(rows)))])
    return np.sort(np.concatenate(keep)) if keep else np.empty(0, dtype=np.int64)


class SelfTraining(ClassifierMixin, BaseEstimator):
    """Train on the source, then ``n_iter`` times on the source plus confident target pseudo-labels.

    Parameters
    ----------
    estimator : sklearn classifier with ``predict_proba``, default LogisticRegression
    share : float, default 0.8
        Fraction of each predicted class's target rows pseudo-labelled per round, in (0, 1].
    n_iter : int, default 3
        Rounds of pseudo-labelling and re-training.

    Attributes
    ----------
    estimator_ : the last fitted classifier
    classes_ : array of the source classes
    pseudo_label_share_ : float
        Share of the target rows pseudo-labelled in the last round.

    Examples
    --------
    >>> from transferkit.datasets import make_rotated_moons
    >>> problem = make_rotated_moons(angle=30, random_state=0)
    >>> SelfTraining(n_iter=2).fit(problem).predict(problem.X_test[:3]).shape
    (3,)
    """

    def __init__(self, estimator: Any = None, share: float = 0.8, n_iter: int = 3):
        self.estimator = estimator
        self.share = share
        self.n_iter = n_iter

    def fit(self, X: Any, y: Any = None, domain: Any = None) -> SelfTraining:
        """Fit on a TransferProblem, or stacked rows with ``domain`` (0 source, 1 target)."""
        share = check_number(self.share, "SelfTraining share", 0.0, 1.0)
        if share == 0.0:
            raise NotApplicableError(
                "SelfTraining share=0 pseudo-labels no target row; give a share in (0, 1] "
                "(or use source_only)."
            )
        n_iter = check_positive_int(self.n_iter, "n_iter", "SelfTraining")
        problem = as_problem(X, y, domain)
        base = default_estimator() if self.estimator is None else self.estimator
        check_probabilistic(base, "self-training ranks target rows by confidence")
        Xs, ys, Xt = problem.X_source, problem.y_source, problem.X_target
        stack = sp.vstack if sp.issparse(Xs) else np.vstack
        model = clone(base).fit(Xs, ys)
        for _ in range(n_iter):
            rows = confident_rows(model.predict_proba(Xt), share)
            pseudo = model.classes_[model.predict_proba(Xt[rows]).argmax(axis=1)]
            model = clone(base).fit(stack([Xs, Xt[rows]]), np.concatenate([ys, pseudo]))
        self.estimator_ = model
        self.classes_ = model.classes_
        self.pseudo_label_share_ = len(rows) / problem.n_target
        self.n_features_in_ = problem.n_features
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.estimator_.predict_proba(check_rows(self, X))

    def predict(self, X: Any) -> np.ndarray:
        return self.estimator_.predict(check_rows(self, X))


@register_method(
    "self_training",
    "self_training",
    "Self-training on confident target pseudo-labels, class-balanced (Yarowsky 1995; Zou 2018)",
)
def _self_training(
    estimator: Any, random_state: int | None, share: float = 0.8, n_iter: int = 3
) -> SelfTraining:
    return SelfTraining(estimator, share=share, n_iter=n_iter)
