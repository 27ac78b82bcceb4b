"""Cross-lingual distillation through parallel text: the source-language model labels the source
side of unlabelled translation pairs, and a target-language student learns from the other side.

Documents in two languages (scenario 1 of the article) rarely come with labels on the target
side, but often with *unlabelled* parallel text: sentences and their translations (a parallel
corpus, a translated manual, subtitles). Xu & Yang (2017, "Cross-lingual distillation for text
classification", ACL) use it to hand a source-language classifier's knowledge to the target
language: the classifier (the teacher) predicts the source side of each pair, and a classifier on
the target side (the student) learns those predictions from the translations. No target label
is read. Here the teacher's hard labels are the student's targets, and the student also keeps
the labelled source rows when both languages share one feature space (a multilingual encoder).

A problem carries its parallel corpus in ``metadata`` (:data:`PARALLEL_SOURCE`,
:data:`PARALLEL_TARGET`: one row per pair, in the source's and the target's feature space);
:func:`with_parallel_corpus` attaches one, and ``load_pair("bible-en-es", ..., parallel=True)``
attaches the training chapters' verse pairs.

- :func:`with_parallel_corpus` / :func:`parallel_corpus`: attach and read the pairs;
- :class:`ParallelDistillation`: teacher, pseudo-labels, student; registered as
  ``parallel_distillation``.

Examples
--------
>>> import numpy as np
>>> from transferkit.problem import TransferProblem
>>> rng = np.random.default_rng(0)
>>> y = np.arange(200) % 2
>>> english = rng.normal(size=(200, 2)) + 3 * y[:, None]
>>> spanish = english[:, ::-1] * [1.0, -1.0]  # the same documents, other features
>>> problem = TransferProblem(english[:100], y[:100], spanish[100:150], y[100:150])
>>> problem = with_parallel_corpus(problem, english[150:], spanish[150:])
>>> model = ParallelDistillation(include_source=False).fit(problem)
>>> float(np.mean(model.predict(problem.X_target) == problem.y_target)) > 0.9
True
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from transferkit.base import check_rows, default_estimator, stack_rows
from transferkit.exceptions import (
    DataFormatError,
    FeatureSpaceMismatchError,
    NotApplicableError,
)
from transferkit.problem import TransferProblem, as_problem
from transferkit.registry import register_method

#: ``problem.metadata`` key of the parallel corpus's source-language rows.
PARALLEL_SOURCE = "parallel_source"
#: ``problem.metadata`` key of their translations, in the target's feature space.
PARALLEL_TARGET = "parallel_target"


def with_parallel_corpus(
    problem: TransferProblem, X_parallel_source: Any, X_parallel_target: Any
) -> TransferProblem:
    """A copy of ``problem`` carrying unlabelled translation pairs in its metadata.

    Parameters
    ----------
    problem : TransferProblem
    X_parallel_source : array or sparse matrix (m, d_source)
        Source-language documents, in the source rows' feature space.
    X_parallel_target : array or sparse matrix (m, d_target)
        Their translations, row for row, in the target rows' feature space.

    Raises
    ------
    DataFormatError
        When the two sides do not hold the same number of rows, or a side is empty.
    FeatureSpaceMismatchError
        When a side's width is not that of the problem's rows in its language.
    """
    sides = []
    for name, X, rows in (
        ("source", X_parallel_source, problem.X_source),
        ("target", X_parallel_target, problem.X_target),
    ):
        X = sp.csr_matrix(X, dtype=np.float64) if sp.issparse(X) else np.asarray(X, np.float64)
        if X.ndim != 2 or X.shape[0] == 0:
            raise DataFormatError(
                f"The parallel corpus's {name} side must be a non-empty 2-D array of rows; got "
                f"shape {X.shape}."
            )
        if X.shape[1] != rows.shape[1]:
            raise FeatureSpaceMismatchError(
                f"The parallel corpus's {name} side has {X.shape[1]} features, the problem's "
                f"{name} rows {rows.shape[1]}: encode each side like the rows of its language."
            )
        sides.append(X)
    if sides[0].shape[0] != sides[1].shape[0]:
        raise DataFormatError(
            f"A parallel corpus pairs each source row with its translation, but the source side "
            f"has {sides[0].shape[0]} rows and the target side {sides[1].shape[0]}."
        )
    metadata = {**problem.metadata, PARALLEL_SOURCE: sides[0], PARALLEL_TARGET: sides[1]}
    return dataclasses.replace(problem, metadata=metadata)


def parallel_corpus(problem: TransferProblem) -> tuple[np.ndarray, np.ndarray] | None:
    """The problem's translation pairs ``(X_parallel_source, X_parallel_target)``, or None."""
    if PARALLEL_SOURCE not in problem.metadata or PARALLEL_TARGET not in problem.metadata:
        return None
    return problem.metadata[PARALLEL_SOURCE], problem.metadata[PARALLEL_TARGET]


class ParallelDistillation(ClassifierMixin, BaseEstimator):
    """A target-language classifier taught by the source-language one through parallel text.

    The teacher, ``estimator`` fitted on the labelled source rows, predicts the source side of
    every translation pair; the student, another copy of ``estimator``, is fitted on the target
    side of the pairs with those predictions as labels (and on the labelled source rows too when
    ``include_source`` and both languages share a feature space). The student classifies the
    target rows. Xu & Yang (2017) distil soft probabilities into a neural student; a
    scikit-learn student learns the teacher's hard labels.

    Parameters
    ----------
    estimator : sklearn classifier, default LogisticRegression
    include_source : bool, default True
        Also fit the student on the labelled source rows (it needs one feature space for both
        languages, e.g. a multilingual encoder's); False: on the translations alone.

    Attributes
    ----------
    teacher_ : the classifier fitted on the source rows
    estimator_ : the student
    classes_ : array
    n_parallel_ : int
        Translation pairs the student learnt from.
    teacher_label_shares_ : dict
        Share of the pairs the teacher gave each class.

    Raises
    ------
    NotApplicableError
        When the problem carries no parallel corpus (:func:`with_parallel_corpus`).
    FeatureSpaceMismatchError
        When ``include_source`` and the problem has two feature spaces
        (``feature_spaces="different"``).
    """

    def __init__(self, estimator: Any = None, include_source: bool = True):
        self.estimator = estimator
        self.include_source = include_source

    def fit(self, X: Any, y: Any = None, domain: Any = None) -> ParallelDistillation:
        """Fit on a TransferProblem that carries a parallel corpus."""
        # the student may read the target language's own features (include_source=False)
        problem = as_problem(X, y, domain, feature_spaces="different")
        corpus = parallel_corpus(problem)
        if corpus is None:
            raise NotApplicableError(
                "parallel_distillation learns from unlabelled translation pairs, and this problem "
                "carries none: attach them with transferkit.crosslingual.with_parallel_corpus "
                "(load_pair('bible-en-es', ..., parallel=True) attaches the training chapters' "
                "verse pairs)."
            )
        X_parallel_source, X_parallel_target = corpus
        if self.include_source and problem.heterogeneous:
            raise FeatureSpaceMismatchError(
                f"ParallelDistillation(include_source=True) fits one student on source rows "
                f"({problem.X_source.shape[1]} features) and translations "
                f"({problem.X_target.shape[1]}); with two feature spaces use "
                "include_source=False."
            )
        base = default_estimator() if self.estimator is None else self.estimator
        teacher = clone(base).fit(problem.X_source, problem.y_source)
        pseudo = teacher.predict(X_parallel_source)
        if self.include_source:
            rows = stack_rows(problem.X_source, X_parallel_target)
            labels = np.concatenate([problem.y_source, pseudo])
        else:
            rows, labels = X_parallel_target, pseudo
        self.teacher_ = teacher
        self.estimator_ = clone(base).fit(rows, labels)
        self.classes_ = self.estimator_.classes_
        self.n_parallel_ = int(X_parallel_source.shape[0])
        values, counts = np.unique(pseudo, return_counts=True)
        self.teacher_label_shares_ = dict(
            zip(values.tolist(), (counts / len(pseudo)).tolist(), strict=True)
        )
        self.n_features_in_ = problem.X_target.shape[1]
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.estimator_.predict_proba(check_rows(self, X))

    def predict(self, X: Any) -> np.ndarray:
        return self.estimator_.predict(check_rows(self, X))


@register_method(
    "parallel_distillation",
    "crosslingual",
    "Cross-lingual distillation through unlabelled parallel text (Xu & Yang 2017)",
)
def _parallel_distillation(
    estimator: Any, random_state: int | None, include_source: bool = True
) -> ParallelDistillation:
    return ParallelDistillation(estimator, include_source=include_source)
