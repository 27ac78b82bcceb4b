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

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator

from transferkit.checks import check_choice, check_nonnegative, check_positive_int
from transferkit.exceptions import (
    EmptyDomainError,
    FeatureSpaceMismatchError,
    InvalidParameterError,
    NotApplicableError,
    NotFittedError,
)
from transferkit.registry import register_method
from transferkit.zeroshot.semantics import ClassEmbeddings

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


# --------------------------------------------------------------------------- estimators
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
            raise FeatureSpaceMismatchError(
                f"X has {X.shape[1]} features but {type(self).__name__} was fitted on "
                f"{self.n_features_in_}; give rows of the same features."
            )
        if self.standardize and hasattr(self, "mean_"):
            X = (X - self.mean_) / self.scale_
        return X

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
        labels = self.embeddings_.classes if classes is None else np.asarray(classes)
        scores = self.decision_function(X, labels)
        if stacking:
            scores = scores - stacking * np.isin(labels, self.seen_classes_)[None, :]
        return labels[scores.argmax(axis=1)]

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
        if X is not None and X.shape[1] != semantics.dim:
            raise NotApplicableError(
                f"EmbeddingSimilarity compares rows and class vectors in one space, but the rows "
                f"have {X.shape[1]} features and the class vectors {semantics.dim}; embed both "
                "with the same encoder, or learn a map (ESZSL, LinearEmbeddingMap)."
            )
        self.n_features_in_ = semantics.dim

    def _scores(self, X: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        if X.shape[1] != vectors.shape[1]:
            raise NotApplicableError(
                f"EmbeddingSimilarity compares rows and class vectors in one space, but the rows "
                f"have {X.shape[1]} features and the class vectors {vectors.shape[1]}; embed both "
                "with the same encoder, or learn a map (ESZSL, LinearEmbeddingMap)."
            )
        if self.center:
            X = X - X.mean(axis=0)
        return cosine_scores(X, vectors)


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

        started = time.perf_counter()
        report = evaluate_zero_shot(
            self.model, task, stacking=self.stacking, random_state=self.random_state
        )
        self.details_ = {**report.to_dict(), "total_seconds": time.perf_counter() - started}
        return report.unseen_accuracy

    def __repr__(self) -> str:
        return f"ZeroShotBenchMethod({self.model!r}, stacking={self.stacking!r})"


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
    "eszsl", "zeroshot", "ESZSL: closed-form bilinear compatibility (Romera-Paredes & Torr 2015)"
)
def _eszsl(
    estimator: Any,
    random_state: int | None,
    feature_regularization: float = 1000.0,
    semantic_regularization: float = 1.0,
    stacking: Any = "validation",
) -> ZeroShotBenchMethod:
    model = ESZSL(feature_regularization, semantic_regularization)
    return ZeroShotBenchMethod(model, stacking, random_state)


@register_method(
    "devise", "zeroshot", "DeViSE-style linear map to class embeddings (Frome et al. 2013)"
)
def _devise(
    estimator: Any,
    random_state: int | None,
    loss: str = "ridge",
    regularization: float = 1000.0,
    margin: float = 0.1,
    epochs: int = 100,
    learning_rate: float = 0.1,
    stacking: Any = "validation",
) -> ZeroShotBenchMethod:
    model = LinearEmbeddingMap(loss, regularization, margin, epochs, learning_rate, random_state)
    return ZeroShotBenchMethod(model, stacking, random_state)


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
