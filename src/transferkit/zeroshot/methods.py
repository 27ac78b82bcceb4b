"""Zero-shot classifiers: a compatibility score between a sample and each class's semantic vector.

Every model scores ``F(x, c) = x^T V s_c`` (or a cosine) between a sample's features ``x`` and the
unit semantic vector ``s_c`` of class ``c`` (:class:`~transferkit.zeroshot.ClassEmbeddings`), so
any class with a vector can be predicted, including classes no training row had:

- :func:`eszsl_weights` / :class:`ESZSL`: "embarrassingly simple zero-shot learning"
  (Romera-Paredes & Torr 2015, ICML, Eq. 5), the bilinear map ``V`` in closed form from the seen
  classes' rows and vectors.
- :func:`ridge_embedding_map` / :func:`ranking_embedding_map` / :class:`LinearEmbeddingMap`: a
  DeViSE-style linear map ``W`` from features to the semantic space (Frome et al. 2013, NIPS),
  fitted by ridge regression onto each row's class vector, or by DeViSE's hinge ranking loss;
  classes are then ranked by the cosine between ``x W`` and their vectors.
- :class:`EmbeddingSimilarity`: no training at all, for documents already embedded in the
  classes' space (a text encoder): the cosine between a document and each class description.
- :func:`conse_embedding` / :class:`ConSE`: no training on the seen classes either: the
  backbone's own ImageNet classifier places each image at the probability-weighted mean of its
  top ImageNet classes' name vectors (Norouzi et al. 2014, ICLR, Eq. 1).
- :func:`transductive_prototypes` / :class:`TransductiveRefinement`: any of the above, then the
  class prototypes refined by soft k-means on the unlabelled rows being classified (the
  transductive setting).

The models follow scikit-learn's contract (``fit(X, y, class_embeddings)``, learned state ending
in ``_``, ``clone`` works); :func:`~transferkit.zeroshot.evaluate_zero_shot` scores them in the
zero-shot and the generalised zero-shot settings, and :class:`ZeroShotBenchMethod` is what
``transferkit bench`` runs (family ``"zeroshot"``).

Examples
--------
>>> import numpy as np
>>> from transferkit.zeroshot import ClassEmbeddings, ESZSL
>>> semantics = ClassEmbeddings(["a", "b", "c"], np.eye(3))
>>> X = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]] * 5)
>>> y = np.array(["a", "b"] * 5)
>>> model = ESZSL(feature_regularization=1.0).fit(X, y, semantics)
>>> model.predict(np.array([[1.0, 0.0, 0.0]]), classes=["a", "b"]).tolist()
['a']
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from scipy import special
from sklearn.base import BaseEstimator

from transferkit.checks import check_choice, check_nonnegative, check_positive_int
from transferkit.exceptions import (
    EmptyDomainError,
    FeatureSpaceMismatchError,
    InvalidParameterError,
    NotApplicableError,
    NotFittedError,
)
from transferkit.fewshot import l2_normalize, prototype_logits, soft_kmeans_prototypes
from transferkit.registry import register_method
from transferkit.zeroshot.semantics import (
    ClassEmbeddings,
    classes_naming,
    embed_classes,
    imagenet_class_names,
)

Progress = Callable[[int, int], None]


# --------------------------------------------------------------------------- the math
def eszsl_weights(
    X: np.ndarray,
    Y: np.ndarray,
    S: np.ndarray,
    feature_regularization: float = 1000.0,
    semantic_regularization: float = 1.0,
) -> np.ndarray:
    """The ESZSL bilinear map in closed form (Romera-Paredes & Torr 2015, Eq. 5).

    ``V = (X^T X + gamma I)^-1 X^T Y S (S^T S + lambda I)^-1``, minimising
    ``||X V S^T - Y||^2 + gamma ||V S^T||^2 + lambda ||X V||^2 + gamma lambda ||V||^2``.

    Parameters
    ----------
    X : array (n, d)
        Training rows (seen classes only).
    Y : array (n, z)
        ``+1`` in each row's class column, ``-1`` elsewhere (the paper's coding).
    S : array (z, a)
        The seen classes' semantic vectors, one row per class (the transpose of the paper's
        ``S``).
    feature_regularization : float, default 1000.0
        ``gamma``: ridge on the feature side.
    semantic_regularization : float, default 1.0
        ``lambda``: ridge on the semantic side.

    Returns
    -------
    V : array (d, a)
        Scores are ``X V S^T``.

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.zeroshot import eszsl_weights
    >>> V = eszsl_weights(np.eye(2), np.array([[1.0, -1.0], [-1.0, 1.0]]), np.eye(2), 0.0, 0.0)
    >>> np.round(V, 6).tolist()
    [[1.0, -1.0], [-1.0, 1.0]]
    """
    X = np.asarray(X, dtype=np.float64)
    S = np.asarray(S, dtype=np.float64)
    gram = X.T @ X + feature_regularization * np.eye(X.shape[1])
    left = np.linalg.solve(gram, X.T @ (np.asarray(Y, dtype=np.float64) @ S))
    right = S.T @ S + semantic_regularization * np.eye(S.shape[1])
    return np.linalg.solve(right, left.T).T  # right is symmetric


def ridge_embedding_map(
    X: np.ndarray, targets: np.ndarray, regularization: float = 1000.0
) -> np.ndarray:
    """The ridge map ``W = (X^T X + alpha I)^-1 X^T T`` sending each row onto its class vector.

    Parameters
    ----------
    X : array (n, d)
    targets : array (n, a)
        The semantic vector of each row's class.
    regularization : float, default 1000.0
        ``alpha``.

    Returns
    -------
    W : array (d, a)
    """
    X = np.asarray(X, dtype=np.float64)
    gram = X.T @ X + regularization * np.eye(X.shape[1])
    return np.linalg.solve(gram, X.T @ np.asarray(targets, dtype=np.float64))


def ranking_embedding_map(
    X: np.ndarray,
    labels: np.ndarray,
    S: np.ndarray,
    *,
    margin: float = 0.1,
    regularization: float = 1e-3,
    epochs: int = 100,
    learning_rate: float = 0.1,
    random_state: Any = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """DeViSE's hinge rank loss, by full-batch gradient descent (Frome et al. 2013, Eq. 1).

    Minimises ``mean_i sum_{j != y_i} max(0, margin - s_{y_i}^T W^T x_i + s_j^T W^T x_i)
    + regularization ||W||^2`` over the linear map ``W``.

    Parameters
    ----------
    X : array (n, d)
    labels : int array (n,)
        Each row's class, as a row of ``S``.
    S : array (z, a)
        The seen classes' unit semantic vectors.
    margin : float, default 0.1
    regularization : float, default 1e-3
    epochs : int, default 100
        Gradient steps.
    learning_rate : float, default 0.1
    random_state : int, Generator or None, default None
        Seed of the small random start.
    progress : callable or None, default None
        ``progress(step, epochs)`` after each step.

    Returns
    -------
    W : array (d, a)
    """
    X = np.asarray(X, dtype=np.float64)
    S = np.asarray(S, dtype=np.float64)
    n = len(X)
    rng = np.random.default_rng(random_state)
    W = rng.normal(scale=1e-3, size=(X.shape[1], S.shape[1]))
    rows = np.arange(n)
    for step in range(epochs):
        projected = X @ W  # (n, a)
        scores = projected @ S.T  # (n, z)
        violation = margin - scores[rows, labels][:, None] + scores
        violation[rows, labels] = 0.0
        active = (violation > 0).astype(np.float64)
        # d loss / d scores: +1 for each violating class, -(count) for the true class
        coefficient = active
        coefficient[rows, labels] = -active.sum(axis=1)
        gradient = X.T @ (coefficient @ S) / n + 2.0 * regularization * W
        W -= learning_rate * gradient
        if progress is not None:
            progress(step + 1, epochs)
    return W


def cosine_scores(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """The cosine between every row of ``A`` and every row of ``B`` (zero rows give 0)."""
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    a = np.linalg.norm(A, axis=1, keepdims=True)
    b = np.linalg.norm(B, axis=1, keepdims=True)
    return (A / np.where(a > 0, a, 1.0)) @ (B / np.where(b > 0, b, 1.0)).T


def conse_embedding(
    probabilities: np.ndarray, source_vectors: np.ndarray, top: int = 10
) -> np.ndarray:
    """ConSE: a convex combination of the semantic vectors of each row's ``top`` source classes.

    ``f(x) = 1/Z sum_{t=1..T} p(y_t | x) s(y_t)`` over the ``T`` most probable source classes
    ``y_t`` of a source classifier, ``Z = sum_t p(y_t | x)`` (Norouzi et al. 2014, Eq. 1).

    Parameters
    ----------
    probabilities : array (n, m)
        The source classifier's class probabilities of each row.
    source_vectors : array (m, a)
        The semantic vector of each source class.
    top : int, default 10
        ``T`` (the paper's default; capped at ``m``).

    Returns
    -------
    array (n, a)

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.zeroshot import conse_embedding
    >>> conse_embedding(np.array([[0.6, 0.3, 0.1]]), np.eye(3), top=2).round(3).tolist()
    [[0.667, 0.333, 0.0]]
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    top = min(int(top), probabilities.shape[1])
    best = np.argpartition(-probabilities, top - 1, axis=1)[:, :top]
    weights = np.take_along_axis(probabilities, best, axis=1)
    weights = weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-300)
    return np.einsum("nt,nta->na", weights, np.asarray(source_vectors, dtype=np.float64)[best])


def transductive_prototypes(
    scores: np.ndarray,
    X: np.ndarray,
    *,
    X_anchor: np.ndarray | None = None,
    y_anchor: np.ndarray | None = None,
    n_iter: int = 30,
    temperature: float = 10.0,
) -> np.ndarray:
    """Class prototypes in feature space, refined by soft k-means on the unlabelled rows ``X``.

    Each class without anchor rows starts at the mean of the rows a zero-shot model puts in it
    (the arg-max of ``scores`` over the classes without anchor rows; the mean of every row if
    none), and counts as one pseudo-shot;
    a class with labelled anchor rows starts at their mean. Then ``n_iter`` rounds of soft
    k-means over ``X`` (:func:`transferkit.fewshot.soft_kmeans_prototypes`, Ren et al. 2018,
    Eq. 4) move every prototype to the weighted mean of its shots and of the rows. Rows should
    be of unit length (the temperature is for squared distances in [0, 4]).

    Parameters
    ----------
    scores : array (n, k)
        A zero-shot model's compatibility of each row of ``X`` with each class.
    X : array (n, d)
        The unlabelled rows (unit length).
    X_anchor, y_anchor : array (m, d) and int array (m,), or None
        Labelled rows (unit length) of some classes (as columns of ``scores``), e.g. the seen
        classes' training rows in the generalised setting.
    n_iter : int, default 30
    temperature : float, default 10.0

    Returns
    -------
    array (k, d)

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.zeroshot import transductive_prototypes
    >>> X = np.array([[1.0, 0.0], [0.9, 0.44], [0.0, 1.0], [0.44, 0.9]])
    >>> scores = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])  # one row wrong
    >>> transductive_prototypes(scores, X, n_iter=5).argmax(axis=1).tolist()
    [0, 1]
    """
    X = np.asarray(X, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    n_classes = scores.shape[1]
    anchored = np.zeros(n_classes, dtype=bool)
    if X_anchor is not None and y_anchor is not None and len(y_anchor):
        anchored[np.unique(y_anchor)] = True
    # the classes without rows start from the rows they win among themselves: over all classes
    # the anchored (seen) ones would win nearly every row, as in uncalibrated GZSL; the seen
    # rows among them are then drawn to their own anchored prototypes by the soft k-means
    assigned = np.where(anchored[None, :], -np.inf, scores).argmax(axis=1)
    starts = [
        X[assigned == k].mean(axis=0) if (assigned == k).any() else X.mean(axis=0)
        for k in np.flatnonzero(~anchored)
    ]
    shots = np.vstack(starts) if starts else np.zeros((0, X.shape[1]))
    labels = np.flatnonzero(~anchored)
    if anchored.any():
        shots = np.vstack([shots, X_anchor])
        labels = np.concatenate([labels, y_anchor])
    return soft_kmeans_prototypes(
        shots, labels.astype(np.int64), X, n_classes, temperature=temperature, n_iter=n_iter
    )


# --------------------------------------------------------------------------- estimators
def stacked_prediction(
    model: Any, X: Any, classes: Sequence[Any] | None, stacking: float
) -> np.ndarray:
    """The arg-max class of ``model.decision_function`` after calibrated stacking (``stacking``
    subtracted from the seen classes' scores)."""
    labels = model.embeddings_.classes if classes is None else np.asarray(classes)
    scores = model.decision_function(X, labels)
    if stacking:
        scores = scores - stacking * np.isin(labels, model.seen_classes_)[None, :]
    return labels[scores.argmax(axis=1)]


def as_class_embeddings(class_embeddings: Any) -> ClassEmbeddings:
    """A :class:`ClassEmbeddings` from itself or a mapping of class to vector."""
    if isinstance(class_embeddings, ClassEmbeddings):
        return class_embeddings
    if isinstance(class_embeddings, Mapping):
        if not class_embeddings:
            raise InvalidParameterError("class_embeddings is empty: give one vector per class.")
        return ClassEmbeddings(
            list(class_embeddings), np.vstack([np.ravel(v) for v in class_embeddings.values()])
        )
    raise InvalidParameterError(
        "class_embeddings must be a ClassEmbeddings (transferkit.zeroshot.embed_classes) or a "
        f"mapping of class to vector; got {type(class_embeddings).__name__}."
    )


class ZeroShotClassifier(BaseEstimator):
    """Shared fitting and prediction of the compatibility models (not used on its own)."""

    #: Whether ``fit`` needs labelled rows of the seen classes.
    needs_training_rows: ClassVar[bool] = True
    #: Whether features are standardised with the training rows' statistics first.
    standardize: ClassVar[bool] = True

    def fit(
        self,
        X: np.ndarray | None,
        y: Sequence[Any] | np.ndarray | None,
        class_embeddings: ClassEmbeddings | Mapping[Any, Any],
        progress: Progress | None = None,
    ) -> ZeroShotClassifier:
        """Learn the compatibility from the seen classes' rows ``X, y`` and the class vectors.

        Parameters
        ----------
        X : array (n, d) or None
            Training rows, every one of a class with a vector (None for a model that needs none).
        y : array (n,) or None
            Their labels.
        class_embeddings : ClassEmbeddings or mapping of class to vector
            Every class the model may predict: the seen ones and the unseen ones.
        progress : callable or None, default None
            ``progress(done, total)`` during an iterative fit.
        """
        semantics = as_class_embeddings(class_embeddings)
        self._check_params()
        if X is None or y is None or len(np.asarray(y)) == 0:
            if self.needs_training_rows:
                raise EmptyDomainError(
                    f"{type(self).__name__} learns from labelled rows of the seen classes; got "
                    "none. Give training rows, or use EmbeddingSimilarity for documents already "
                    "in the classes' space."
                )
            self.embeddings_ = semantics
            self.seen_classes_ = semantics.classes[:0]
            self.n_features_in_ = None
            self._fit_rows(None, None, semantics, progress)
            return self
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y)
        if X.ndim != 2 or len(X) != len(y):
            raise InvalidParameterError(
                f"X has shape {X.shape} and y {y.shape}; give a 2-d X with one label per row."
            )
        if not np.isfinite(X).all():
            raise InvalidParameterError("X has NaN or infinite values; clean the features first.")
        semantics.index_of(np.unique(y), "training label")
        seen = np.unique(y)
        if len(seen) < 2 and self.needs_training_rows:
            raise InvalidParameterError(
                f"{type(self).__name__} needs rows of at least 2 seen classes; got only "
                f"{seen.tolist()}."
            )
        self.embeddings_ = semantics
        self.seen_classes_ = seen
        self.n_features_in_ = X.shape[1]
        if self.standardize:
            self.mean_ = X.mean(axis=0)
            scale = X.std(axis=0)
            self.scale_ = np.where(scale > 1e-12, scale, 1.0)
            X = (X - self.mean_) / self.scale_
        self._fit_rows(X, y, semantics, progress)
        return self

    def _transform(self, X: Any) -> np.ndarray:
        if not hasattr(self, "embeddings_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet; call fit first.")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise InvalidParameterError(f"X must be 2-d; got shape {X.shape}.")
        if self.n_features_in_ is not None and X.shape[1] != self.n_features_in_:
            raise FeatureSpaceMismatchError(self._mismatch_message(X.shape[1]))
        if self.standardize and hasattr(self, "mean_"):
            X = (X - self.mean_) / self.scale_
        return X

    def _mismatch_message(self, n_features: int) -> str:
        """What to say when rows have ``n_features`` instead of ``n_features_in_``."""
        return (
            f"X has {n_features} features but {type(self).__name__} was fitted on "
            f"{self.n_features_in_}; give rows of the same features."
        )

    def decision_function(self, X: Any, classes: Sequence[Any] | None = None) -> np.ndarray:
        """Compatibility of each row with each class of ``classes`` (default: every class).

        Returns
        -------
        array (n, len(classes))
        """
        semantics = self.embeddings_ if classes is None else self.embeddings_.subset(classes)
        return self._scores(self._transform(X), semantics.vectors)

    def predict(
        self, X: Any, classes: Sequence[Any] | None = None, stacking: float = 0.0
    ) -> np.ndarray:
        """The best class of ``classes`` for each row (default: every class with a vector).

        ``stacking`` is subtracted from the scores of the seen classes first: the calibrated
        stacking of Chao et al. (2016, Eq. 3) for the generalised setting.
        """
        return stacked_prediction(self, X, classes, stacking)

    # subclasses
    def _check_params(self) -> None:
        raise NotImplementedError

    def _fit_rows(self, X: Any, y: Any, semantics: ClassEmbeddings, progress: Any) -> None:
        raise NotImplementedError

    def _scores(self, X: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def _label_coding(y: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Each row's class as a row index of ``seen``."""
    return np.searchsorted(seen, y)


class ESZSL(ZeroShotClassifier):
    """Embarrassingly simple zero-shot learning (Romera-Paredes & Torr 2015), in closed form.

    A bilinear compatibility ``x^T V s_c`` learnt from the seen classes by :func:`eszsl_weights`
    on standardised features; any class with a semantic vector can then be scored.

    Parameters
    ----------
    feature_regularization : float, default 1000.0
        ``gamma`` of Eq. 5 (ridge on the feature side; the features are standardised, so it
        compares with the number of training rows).
    semantic_regularization : float, default 1.0
        ``lambda`` of Eq. 5 (ridge on the semantic side).

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.zeroshot import ESZSL
    >>> rng = np.random.default_rng(0)
    >>> vectors = {"a": [1.0, 0.0], "b": [0.0, 1.0], "c": [0.7, 0.7]}
    >>> X = np.vstack([rng.normal([3, 0], 1, (20, 2)), rng.normal([0, 3], 1, (20, 2))])
    >>> y = np.array(["a"] * 20 + ["b"] * 20)
    >>> ESZSL(feature_regularization=1.0).fit(X, y, vectors).predict([[3.0, 0.0]]).tolist()
    ['a']
    """

    def __init__(
        self, feature_regularization: float = 1000.0, semantic_regularization: float = 1.0
    ):
        self.feature_regularization = feature_regularization
        self.semantic_regularization = semantic_regularization

    def _check_params(self) -> None:
        check_nonnegative(self.feature_regularization, "feature_regularization", "ESZSL")
        check_nonnegative(self.semantic_regularization, "semantic_regularization", "ESZSL")

    def _fit_rows(self, X: Any, y: Any, semantics: ClassEmbeddings, progress: Any) -> None:
        seen = self.seen_classes_
        Y = -np.ones((len(y), len(seen)))
        Y[np.arange(len(y)), _label_coding(y, seen)] = 1.0
        self.weights_ = eszsl_weights(
            X,
            Y,
            semantics.vectors_of(seen),
            self.feature_regularization,
            self.semantic_regularization,
        )

    def _scores(self, X: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        return X @ self.weights_ @ vectors.T


class LinearEmbeddingMap(ZeroShotClassifier):
    """A DeViSE-style linear map from features to the semantic space (Frome et al. 2013).

    Each standardised row is mapped by ``W`` into the classes' space and compared with every
    class vector by the cosine. ``loss="ridge"`` fits ``W`` in closed form
    (:func:`ridge_embedding_map`: each row onto its class's vector); ``loss="ranking"`` uses
    DeViSE's hinge rank loss (:func:`ranking_embedding_map`), which only asks the true class to
    score ``margin`` above the others.

    Parameters
    ----------
    loss : {"ridge", "ranking"}, default "ridge"
    regularization : float, default 1000.0
        Ridge ``alpha`` (``loss="ridge"``); for ``"ranking"`` the weight decay is
        ``regularization * 1e-6`` so that one value means "weak" for both.
    margin : float, default 0.1
        Hinge margin (``loss="ranking"``).
    epochs : int, default 100
        Gradient steps (``loss="ranking"``).
    learning_rate : float, default 0.1
        Step size (``loss="ranking"``).
    random_state : int or None, default None
        Seed of the ranking loss's random start.

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.zeroshot import LinearEmbeddingMap
    >>> vectors = {"a": [1.0, 0.0], "b": [0.0, 1.0]}
    >>> X = np.array([[2.0, 0.1], [0.1, 2.0]] * 10)
    >>> y = np.array(["a", "b"] * 10)
    >>> LinearEmbeddingMap(regularization=1.0).fit(X, y, vectors).predict([[2.0, 0.0]]).tolist()
    ['a']
    """

    LOSSES: ClassVar[tuple[str, ...]] = ("ridge", "ranking")

    def __init__(
        self,
        loss: str = "ridge",
        regularization: float = 1000.0,
        margin: float = 0.1,
        epochs: int = 100,
        learning_rate: float = 0.1,
        random_state: int | None = None,
    ):
        self.loss = loss
        self.regularization = regularization
        self.margin = margin
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.random_state = random_state

    def _check_params(self) -> None:
        name = "LinearEmbeddingMap"
        check_choice(self.loss, "loss", name, self.LOSSES)
        check_nonnegative(self.regularization, "regularization", name)
        check_nonnegative(self.margin, "margin", name)
        check_positive_int(self.epochs, "epochs", name)
        check_nonnegative(self.learning_rate, "learning_rate", name, strict=True)

    def _fit_rows(self, X: Any, y: Any, semantics: ClassEmbeddings, progress: Any) -> None:
        seen = self.seen_classes_
        vectors = semantics.vectors_of(seen)
        codes = _label_coding(y, seen)
        if self.loss == "ridge":
            self.weights_ = ridge_embedding_map(X, vectors[codes], self.regularization)
        else:
            self.weights_ = ranking_embedding_map(
                X,
                codes,
                vectors,
                margin=self.margin,
                regularization=self.regularization * 1e-6,
                epochs=self.epochs,
                learning_rate=self.learning_rate,
                random_state=self.random_state,
                progress=progress,
            )

    def _scores(self, X: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        return cosine_scores(X @ self.weights_, vectors)


class EmbeddingSimilarity(ZeroShotClassifier):
    """Pure embedding similarity: each document goes to the class whose description it is
    closest to (cosine), with no training.

    For documents and class descriptions embedded by the same text encoder (the "dataless"
    classification of Chang et al. 2008, with sentence encoders in place of ESA). With
    ``center=True`` the mean of the scored documents is subtracted from each before the cosine:
    it removes what every document of the collection shares (its style, its language), which
    otherwise pulls all of them towards the same description; it reads no label.

    Parameters
    ----------
    center : bool, default False
        Subtract the mean of the rows being scored (transductive, unlabelled).

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.zeroshot import EmbeddingSimilarity
    >>> model = EmbeddingSimilarity().fit(None, None, {"a": [1.0, 0.0], "b": [0.0, 1.0]})
    >>> model.predict(np.array([[0.9, 0.1], [0.2, 0.8]])).tolist()
    ['a', 'b']
    """

    needs_training_rows: ClassVar[bool] = False
    standardize: ClassVar[bool] = False

    def __init__(self, center: bool = False):
        self.center = center

    def _check_params(self) -> None:
        if not isinstance(self.center, bool | np.bool_):
            raise InvalidParameterError(
                f"EmbeddingSimilarity: center={self.center!r} must be True or False."
            )

    def _fit_rows(self, X: Any, y: Any, semantics: ClassEmbeddings, progress: Any) -> None:
        if X is not None:
            self._check_one_space(X.shape[1], semantics.dim)
        self.n_features_in_ = semantics.dim

    @staticmethod
    def _check_one_space(n_features: int, n_dims: int) -> None:
        if n_features != n_dims:
            raise NotApplicableError(
                f"EmbeddingSimilarity compares rows and class vectors in one space, but the rows "
                f"have {n_features} features and the class vectors {n_dims}; embed both "
                "with the same encoder, or learn a map (ESZSL, LinearEmbeddingMap)."
            )

    def _scores(self, X: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        self._check_one_space(X.shape[1], vectors.shape[1])
        if self.center:
            X = X - X.mean(axis=0)
        return cosine_scores(X, vectors)


class ConSE(ZeroShotClassifier):
    """Convex combination of semantic embeddings (Norouzi et al. 2014) with a backbone's
    ImageNet classifier.

    The rows are a pre-trained backbone's pooled penultimate features (raw, as
    :func:`transferkit.datasets.load_office_caltech_features` gives them with
    ``preprocess="none"``). Its own 1,000-way ImageNet layer gives each row class probabilities;
    :func:`conse_embedding` places the row at the probability-weighted mean of the name vectors
    of its ``top`` ImageNet classes (:func:`~transferkit.zeroshot.imagenet_class_names`, embedded
    by the encoder of the class embeddings), and classes are ranked by the cosine with their
    vectors. Nothing is learnt from the seen classes: ``fit`` only loads the head and embeds the
    names.

    ImageNet's classes include many everyday objects (backpack, computer mouse, coffee mug,
    laptop...), so on such classes this is zero-shot with respect to the task's labels only,
    not with respect to the backbone's training. ``exclude="named"`` takes the ImageNet classes
    that name one of the task's classes out of the head (:func:`classes_naming`): each image is
    then placed among the other ImageNet classes only (a mug among cups, pitchers and beer
    glasses), the protocol of Norouzi et al., whose unseen classes are not among the head's.

    Parameters
    ----------
    backbone : {"mobilenet_v2", "efficientnet_lite0"}, default "mobilenet_v2"
        The backbone that made the features (:func:`transferkit.deep.load_backbone`).
    top : int, default 10
        ``T``: the number of ImageNet classes combined (the paper's default).
    encoder : str or None, default None
        Text encoder of the ImageNet names; None uses the one that made the class embeddings
        (:attr:`ClassEmbeddings.encoder`), which must then be known.
    exclude : "named", sequence of int or str, or None, default None
        ImageNet classes the head may not use: ``"named"``, those whose name names one of the
        class embeddings' classes (seen and unseen; :func:`classes_naming`); or ImageNet class
        indices and names (:func:`imagenet_class_names`). None: all 1,000.

    Attributes
    ----------
    excluded_classes_ : list of str
        The ImageNet class names left out of the head.

    Examples
    --------
    >>> from transferkit.datasets import load_task
    >>> from transferkit.zeroshot import ConSE, evaluate_zero_shot
    >>> task = load_task("zeroshot-office-caltech", "all", "split-7", random_state=0)  # doctest: +SKIP
    >>> evaluate_zero_shot(ConSE(), task).unseen_accuracy > 0.9  # doctest: +SKIP
    True
    """

    needs_training_rows: ClassVar[bool] = False
    standardize: ClassVar[bool] = False

    def __init__(
        self,
        backbone: str = "mobilenet_v2",
        top: int = 10,
        encoder: str | None = None,
        exclude: str | Sequence[int | str] | None = None,
    ):
        self.backbone = backbone
        self.top = top
        self.encoder = encoder
        self.exclude = exclude

    def _check_params(self) -> None:
        check_choice(self.backbone, "backbone", "ConSE", ("mobilenet_v2", "efficientnet_lite0"))
        check_positive_int(self.top, "top", "ConSE")
        if isinstance(self.exclude, str) and self.exclude != "named":
            raise InvalidParameterError(
                f"ConSE: exclude={self.exclude!r} is not understood; give 'named' (the ImageNet "
                "classes that name one of the task's classes), a list of ImageNet class indices "
                "or names, or None."
            )

    def _excluded(self, names: list[str], semantics: ClassEmbeddings) -> list[int]:
        """Indices of the ImageNet classes ``exclude`` takes out of the head."""
        if self.exclude is None:
            return []
        if isinstance(self.exclude, str):  # "named"
            return classes_naming(list(semantics.classes), names)
        position = {name.lower(): index for index, name in enumerate(names)}
        excluded = []
        for entry in self.exclude:
            if isinstance(entry, (int, np.integer)) and not isinstance(entry, bool):
                if not 0 <= entry < len(names):
                    raise InvalidParameterError(
                        f"ConSE: exclude holds the class index {entry}, but ImageNet's classes "
                        f"are numbered 0 to {len(names) - 1}."
                    )
                excluded.append(int(entry))
            elif str(entry).lower() in position:
                excluded.append(position[str(entry).lower()])
            else:
                raise InvalidParameterError(
                    f"ConSE: exclude names {entry!r}, which is not an ImageNet class name (see "
                    "transferkit.zeroshot.imagenet_class_names(); e.g. 'coffee mug')."
                )
        return sorted(set(excluded))

    def _fit_rows(self, X: Any, y: Any, semantics: ClassEmbeddings, progress: Any) -> None:
        encoder = self.encoder or semantics.encoder
        if encoder is None:
            raise InvalidParameterError(
                "ConSE embeds the ImageNet class names with the encoder of the class "
                "embeddings, but these were given as vectors; pass encoder= (the one that made "
                "them, e.g. 'use')."
            )
        from transferkit.datasets.wordvectors import import_optional

        import_optional("torch", "ConSE (the backbone's ImageNet classifier)")
        from transferkit.deep.backbones import load_backbone

        head = load_backbone(self.backbone).classifier
        self.n_features_in_ = head.weight.shape[1]
        if X is not None and X.shape[1] != self.n_features_in_:
            raise FeatureSpaceMismatchError(self._mismatch_message(X.shape[1]))
        imagenet_names = imagenet_class_names()
        excluded = self._excluded(imagenet_names, semantics)
        kept = np.setdiff1d(np.arange(len(imagenet_names)), excluded)
        if len(kept) == 0:
            raise InvalidParameterError("ConSE: exclude leaves no ImageNet class in the head.")
        self.excluded_classes_ = [imagenet_names[index] for index in excluded]
        self.source_weights_ = head.weight.detach().double().numpy()[kept]
        self.source_bias_ = head.bias.detach().double().numpy()[kept]
        names = embed_classes(list(range(len(imagenet_names))), imagenet_names, encoder)
        if names.dim != semantics.dim:
            raise NotApplicableError(
                f"ConSE compares the ImageNet names embedded by {encoder!r} ({names.dim}-d) with "
                f"class vectors of {semantics.dim} dimensions; give the encoder that made the "
                "class vectors (encoder=)."
            )
        self.source_vectors_ = names.vectors[kept]

    def _mismatch_message(self, n_features: int) -> str:
        return (
            f"ConSE reads {self.backbone}'s pooled features ({self.n_features_in_}), but the "
            f"rows have {n_features} features; give that backbone's features (ConSE classifies "
            "images through the backbone's ImageNet layer), or set backbone= to the one that "
            "made them."
        )

    def _scores(self, X: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        probabilities = special.softmax(X @ self.source_weights_.T + self.source_bias_, axis=1)
        return cosine_scores(
            conse_embedding(probabilities, self.source_vectors_, self.top), vectors
        )


class TransductiveRefinement(BaseEstimator):
    """A zero-shot model whose predictions are refined with the unlabelled rows being classified.

    The transductive setting: the rows to classify (the unseen classes' images, without their
    labels) are available together. The model's arg-max over the scored classes gives each
    class a first prototype in feature space (the mean of its rows); soft k-means on the rows
    then moves the prototypes to the clusters the features form
    (:func:`transductive_prototypes`), and rows are scored by their cosine with the refined
    prototypes. Classes with training rows (the seen ones, in the generalised setting) start at
    the mean of those rows, which stay in their cluster as labelled shots.

    Features are standardised with the training rows' statistics (with those of the scored rows
    when there are none) and scaled to unit length before the clustering.

    Parameters
    ----------
    model : ZeroShotClassifier
        The inductive model (cloned and fitted by :meth:`fit`).
    n_iter : int, default 30
        Soft k-means rounds.
    temperature : float, default 10.0
        Sharpness of the soft assignments (unit-length rows).

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.zeroshot import ESZSL, TransductiveRefinement
    >>> rng = np.random.default_rng(0)
    >>> vectors = {"a": [1.0, 0.0, 0.0], "b": [0.0, 1.0, 0.0], "c": [0.0, 0.0, 1.0]}
    >>> X = np.vstack([rng.normal([3, 0, 0], 1, (20, 3)), rng.normal([0, 3, 0], 1, (20, 3))])
    >>> y = np.array(["a"] * 20 + ["b"] * 20)
    >>> model = TransductiveRefinement(ESZSL(feature_regularization=1.0)).fit(X, y, vectors)
    >>> model.predict([[3.0, 0.0, 0.0], [0.0, 0.0, 3.0]], classes=["a", "c"]).tolist()
    ['a', 'c']
    """

    def __init__(self, model: Any, n_iter: int = 30, temperature: float = 10.0):
        self.model = model
        self.n_iter = n_iter
        self.temperature = temperature

    def fit(
        self,
        X: np.ndarray | None,
        y: Sequence[Any] | np.ndarray | None,
        class_embeddings: ClassEmbeddings | Mapping[Any, Any],
        progress: Progress | None = None,
    ) -> TransductiveRefinement:
        """Fit the inductive model (see :meth:`ZeroShotClassifier.fit`) and keep the training
        rows as the seen classes' shots."""
        from sklearn.base import clone

        name = "TransductiveRefinement"
        if not isinstance(self.model, ZeroShotClassifier):
            raise InvalidParameterError(
                f"{name}: model must be a zero-shot model (ESZSL, LinearEmbeddingMap, ConSE, "
                f"...); got {type(self.model).__name__}."
            )
        check_positive_int(self.n_iter, "n_iter", name)
        check_nonnegative(self.temperature, "temperature", name)
        self.model_ = clone(self.model).fit(X, y, class_embeddings, progress)
        self.embeddings_ = self.model_.embeddings_
        self.seen_classes_ = self.model_.seen_classes_
        if X is None or y is None or len(np.asarray(y)) == 0:
            self.mean_, self.scale_, self.train_rows_, self.train_labels_ = None, None, None, None
            return self
        X = np.asarray(X, dtype=np.float64)
        self.mean_ = X.mean(axis=0)
        scale = X.std(axis=0)
        self.scale_ = np.where(scale > 1e-12, scale, 1.0)
        self.train_rows_ = l2_normalize((X - self.mean_) / self.scale_)
        self.train_labels_ = np.asarray(y)
        return self

    def decision_function(self, X: Any, classes: Sequence[Any] | None = None) -> np.ndarray:
        """Cosine of each row with each class's refined prototype (default: every class)."""
        if not hasattr(self, "model_"):
            raise NotFittedError("TransductiveRefinement is not fitted yet; call fit first.")
        labels = self.embeddings_.classes if classes is None else np.asarray(classes)
        scores = self.model_.decision_function(X, labels)
        X = np.asarray(X, dtype=np.float64)
        if self.mean_ is None:
            mean, scale = X.mean(axis=0), X.std(axis=0)
            rows = l2_normalize((X - mean) / np.where(scale > 1e-12, scale, 1.0))
            anchor, anchor_labels = None, None
        else:
            rows = l2_normalize((X - self.mean_) / self.scale_)
            keep = np.isin(self.train_labels_, labels)
            anchor = self.train_rows_[keep]
            position = {label: i for i, label in enumerate(labels.tolist())}
            anchor_labels = np.array(
                [position[label] for label in self.train_labels_[keep].tolist()], dtype=np.int64
            )
        prototypes = transductive_prototypes(
            scores,
            rows,
            X_anchor=anchor,
            y_anchor=anchor_labels,
            n_iter=self.n_iter,
            temperature=self.temperature,
        )
        return prototype_logits(rows, prototypes, metric="cosine")

    def predict(
        self, X: Any, classes: Sequence[Any] | None = None, stacking: float = 0.0
    ) -> np.ndarray:
        """The best class of ``classes`` for each row, after the refinement (``stacking`` as in
        :meth:`ZeroShotClassifier.predict`)."""
        return stacked_prediction(self, X, classes, stacking)


# --------------------------------------------------------------------------- bench
class ZeroShotBenchMethod:
    """A zero-shot model as one cell of ``transferkit bench``: :meth:`score_problem` fits it on
    a :class:`~transferkit.zeroshot.ZeroShotTask` and returns the unseen-class accuracy.

    Parameters
    ----------
    model : ZeroShotClassifier
        Cloned for each task.
    stacking : "validation" or float, default "validation"
        The calibrated-stacking constant of the generalised setting (see
        :func:`~transferkit.zeroshot.evaluate_zero_shot`).
    random_state : int or None, default None

    Attributes
    ----------
    details_ : dict
        After :meth:`score_problem`: every number of the
        :class:`~transferkit.zeroshot.ZeroShotReport` (S, U, H, the stacking constant, the
        majority baseline, ...), JSON-serialisable.
    """

    task_kind = "zeroshot"

    def __init__(self, model: Any, stacking: Any = "validation", random_state: int | None = None):
        self.model = model
        self.stacking = stacking
        self.random_state = random_state

    def score_problem(self, task: Any) -> float:
        """Fit on ``task`` and return the accuracy on its unseen classes (a fraction)."""
        from transferkit.zeroshot.evaluation import evaluate_zero_shot

        check_backbone(self.model, task)
        started = time.perf_counter()
        report = evaluate_zero_shot(
            self.model, task, stacking=self.stacking, random_state=self.random_state
        )
        self.details_ = {**report.to_dict(), "total_seconds": time.perf_counter() - started}
        return report.unseen_accuracy

    def __repr__(self) -> str:
        return f"ZeroShotBenchMethod({self.model!r}, stacking={self.stacking!r})"


def check_backbone(model: Any, task: Any) -> None:
    """A model reading a backbone's classifier (ConSE) must get that backbone's features: the
    two backbones' pooled features have the same width, so a mismatch would not fail."""
    params = model.get_params()
    backbone = params.get("backbone", params.get("model__backbone"))
    features = getattr(task, "metadata", {}).get("features")
    if backbone is not None and features is not None and backbone != features:
        raise InvalidParameterError(
            f"The task's rows are {features} features but the model reads the ImageNet "
            f"classifier of {backbone}; set the method's backbone to {features!r} (or the "
            f"task's features to {backbone!r})."
        )


class MajorityBaseline:
    """The majority class of the scored unseen rows, as a bench column beside the zero-shot
    methods: the floor a zero-shot classifier must beat (it reads the test labels, so it is a
    reference, not a method)."""

    task_kind = "zeroshot"

    def score_problem(self, task: Any) -> float:
        """The share of the most frequent class among the task's unseen test rows."""
        from transferkit.zeroshot.evaluation import majority_share

        rows = task.unseen_test_rows()
        share = majority_share(task.y_test[rows])
        self.details_ = {"majority": share, "n_unseen_test": int(len(rows))}
        return share


@register_method(
    "embedding_similarity", "zeroshot", "Document vs class-description cosine, no training"
)
def _embedding_similarity(
    estimator: Any, random_state: int | None, center: bool = False
) -> ZeroShotBenchMethod:
    return ZeroShotBenchMethod(EmbeddingSimilarity(center), 0.0, random_state)


@register_method(
    "zeroshot_majority", "zeroshot", "Majority class of the unseen test rows (reference)"
)
def _zeroshot_majority(estimator: Any, random_state: int | None) -> MajorityBaseline:
    return MajorityBaseline()


def _register_bench_model(
    name: str, model_class: type, description: str, *, transductive: bool = False
) -> None:
    """Register ``name``: ``model_class(**params)`` (the seed as its ``random_state`` when it
    takes one), refined on the test rows by :class:`TransductiveRefinement` with ``n_iter`` and
    ``temperature`` when ``transductive``, scored by :class:`ZeroShotBenchMethod` with
    ``stacking``. The parameters and their defaults are the classes' own, written once there."""

    def factory(
        estimator: Any, random_state: int | None, stacking: Any = "validation", **params: Any
    ) -> ZeroShotBenchMethod:
        refinement = (
            {key: params.pop(key) for key in ("n_iter", "temperature") if key in params}
            if transductive
            else {}
        )
        if "random_state" in inspect.signature(model_class).parameters:
            params["random_state"] = random_state
        model = model_class(**params)
        if transductive:
            model = TransductiveRefinement(model, **refinement)
        return ZeroShotBenchMethod(model, stacking, random_state)

    factory.__name__ = factory.__qualname__ = f"_{name}"
    register_method(name, "zeroshot", description)(factory)


for _name, _model_class, _transductive, _description in (
    (
        "eszsl",
        ESZSL,
        False,
        "ESZSL: closed-form bilinear compatibility (Romera-Paredes & Torr 2015)",
    ),
    (
        "devise",
        LinearEmbeddingMap,
        False,
        "DeViSE-style linear map to class embeddings (Frome et al. 2013)",
    ),
    (
        "conse",
        ConSE,
        False,
        "ConSE: the backbone's ImageNet classifier and its class names (Norouzi et al. 2014)",
    ),
    (
        "eszsl_transductive",
        ESZSL,
        True,
        "ESZSL, then soft k-means of the class prototypes on the unlabelled test rows",
    ),
    (
        "conse_transductive",
        ConSE,
        True,
        "ConSE, then soft k-means of the class prototypes on the unlabelled test rows",
    ),
):
    _register_bench_model(_name, _model_class, _description, transductive=_transductive)
