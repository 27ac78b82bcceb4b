"""The shallow DANN of Ganin et al. (2016, JMLR), Algorithm 1: one hidden layer, plain SGD.

A single hidden layer of sigmoid units ``G_f(x) = sigm(W x + b)`` feeds a softmax label predictor
``G_y = softmax(V G_f + c)`` and a logistic domain regressor ``G_d = sigm(u·G_f + d)``. Each step
takes one labelled source sample and one random target sample; the label loss and the domain
regressor are descended, while the hidden layer *ascends* the domain loss (weighted by λ), which is
what gradient reversal does. This is the algorithm the paper runs on the Amazon reviews (5,000-d
counts, or mSDA features), written in numpy with sparse rows, so it needs no torch.

:func:`reverse_validation_score` implements the paper's hyper-parameter selection (Section 5.1.3):
train on source → target, pseudo-label the target, train a *reverse* model on the pseudo-labelled
target → source, and score it on held-out source labels.

Examples
--------
>>> import numpy as np
>>> from transferkit.problem import TransferProblem
>>> rng = np.random.default_rng(0)
>>> Xs = rng.normal(size=(200, 5)); ys = (Xs[:, 0] > 0).astype(int)
>>> Xt = rng.normal(size=(200, 5)) + 0.5
>>> model = ShallowDANN(epochs=3, random_state=0).fit(TransferProblem(Xs, ys, Xt))
>>> model.predict(Xt).shape
(200,)
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from transferkit.base import check_features
from transferkit.checks import check_nonnegative, check_positive_int
from transferkit.deep.progress import as_progress
from transferkit.exceptions import InvalidParameterError
from transferkit.problem import DataMatrix, TransferProblem, as_problem
from transferkit.registry import register_method

logger = logging.getLogger(__name__)


def _sigmoid(z: np.ndarray | float) -> Any:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


#: A sparse matrix at least this dense is stored dense for the per-sample loop: indexing a
#: CSR row with ~30,000 stored values (mSDA features: raw counts + dense hidden layers) and
#: scattering the update into ``W[:, cols]`` costs several times a dense row's BLAS product.
DENSIFY_ABOVE = 0.25

#: μ · mean ‖x‖² for ``learning_rate="auto"`` (see :class:`ShallowDANN`).
AUTO_STEP = 2.0


class _Rows:
    """Fast access to one row of a dense or CSR matrix as (column indices, values)."""

    def __init__(self, X: DataMatrix):
        self.matrix = X  # as given, for the vectorised mini-batch path
        if sp.issparse(X) and X.nnz > DENSIFY_ABOVE * X.shape[0] * X.shape[1]:
            X = X.toarray()
        if sp.issparse(X):
            X = sp.csr_matrix(X, dtype=np.float64)
            self.sparse = True
            self.indptr, self.indices, self.data = X.indptr, X.indices, X.data
        else:
            self.sparse = False
            self.dense = np.asarray(X, dtype=np.float64)
        self.n = X.shape[0]

    def row(self, i: int) -> tuple[Any, np.ndarray]:
        if self.sparse:
            start, stop = self.indptr[i], self.indptr[i + 1]
            return self.indices[start:stop], self.data[start:stop]
        return slice(None), self.dense[i]


@dataclass
class _State:
    """Everything a run needs to go on after an epoch: what a checkpoint holds."""

    params: list[Any]  # W, b, V, c, u, d
    training: np.ndarray
    validation: np.ndarray
    history: list[dict[str, float]]
    best: float = -np.inf
    bad: int = 0
    best_params: list[Any] | None = None
    epoch: int = -1  # the last finished epoch
    stop: bool = False  # early stopping triggered (not saved: ``finished`` covers it)
    finished: bool = False
    rng: dict[str, Any] = field(default_factory=dict)

    def save(self, path: Path, fingerprint: dict[str, Any]) -> None:
        """Write atomically: a temporary file, then a rename."""
        arrays = {f"param{i}": np.asarray(p) for i, p in enumerate(self.params)}
        if self.best_params is not None:
            arrays.update({f"best{i}": np.asarray(p) for i, p in enumerate(self.best_params)})
        meta = {
            "fingerprint": fingerprint,
            "history": self.history,
            "best": self.best,
            "bad": self.bad,
            "epoch": self.epoch,
            "finished": self.finished,
            "rng": self.rng,
            "has_best": self.best_params is not None,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        with open(partial, "wb") as handle:
            np.savez(
                handle,
                training=self.training,
                validation=self.validation,
                meta=np.array(json.dumps(meta)),
                **arrays,
            )
        os.replace(partial, path)

    @classmethod
    def load(cls, path: Path, fingerprint: dict[str, Any]) -> _State:
        """Read a checkpoint; refuse one written for other data or settings."""
        try:
            with np.load(path, allow_pickle=False) as saved:
                meta = json.loads(str(saved["meta"]))
                arrays = {name: saved[name] for name in saved.files}
        except (OSError, ValueError, KeyError) as error:
            raise InvalidParameterError(
                f"Cannot resume from checkpoint {path}: not a shallow DANN checkpoint ({error})."
            ) from error
        changed = sorted(
            key
            for key in set(fingerprint) | set(meta["fingerprint"])
            if fingerprint.get(key) != meta["fingerprint"].get(key)
        )
        if changed:
            raise InvalidParameterError(
                f"Checkpoint {path} was written for other data or settings ({', '.join(changed)} "
                "differ); delete it or pass another checkpoint path."
            )

        def params(prefix: str) -> list[Any]:
            values: list[Any] = [arrays[f"{prefix}{i}"] for i in range(5)]
            return values + [float(arrays[f"{prefix}5"])]

        return cls(
            params=params("param"),
            training=arrays["training"],
            validation=arrays["validation"],
            history=meta["history"],
            best=float(meta["best"]),
            bad=int(meta["bad"]),
            best_params=params("best") if meta["has_best"] else None,
            epoch=int(meta["epoch"]),
            finished=bool(meta["finished"]),
            rng=meta["rng"],
        )


class ShallowDANN(ClassifierMixin, BaseEstimator):
    """Shallow domain-adversarial network trained by the JMLR paper's Algorithm 1.

    Parameters
    ----------
    hidden_size : int, default 50
        Sigmoid hidden units (the paper's D).
    adaptation : float, default 0.1
        λ, the weight of the domain regressor's (reversed) loss; 0 gives a plain network.
    learning_rate : float or "auto", default 0.01
        μ, the SGD step. ``"auto"`` scales it to the input: μ = ``AUTO_STEP`` / mean ‖x‖² over
        the source and target rows (a normalised-LMS step), because the hidden layer's update
        grows with ‖x‖². ``AUTO_STEP`` = 2 gives μ ≈ 0.01, the paper's step, on the Amazon
        reviews' raw counts (mean ‖x‖² about 190–230) and μ = 0.0013–0.0018 on their 30,000-d
        mSDA features (about 1,100–1,600), where the raw step is too large. The value used is
        ``learning_rate_``. It is measured on the Amazon reviews only (docs/benchmarks.md); on
        rotated moons, digits and Office SURF features a one-seed check found 0.01 better.
    epochs : int, default 10
        Passes over the source; each source sample is paired with one random target sample.
    patience : int or None, default 3
        Early stopping on a source validation split (``validation_fraction``); None: no stopping.
    validation_fraction : float, default 0.1
    random_state : int or None
    batch_size : int, default 1
        1 is Algorithm 1 exactly (one source and one target sample per step). Larger values
        take the *summed* gradients of ``batch_size`` source and as many random target samples in
        one vectorised step (so ``learning_rate`` keeps its per-sample meaning): much faster on
        dense, high-dimensional inputs such as mSDA features.
    progress : bool or callback, default False
        True draws a tqdm bar over the epochs; or a
        :class:`~transferkit.deep.progress.ProgressCallback`.
    checkpoint : str, Path or None, default None
        A ``.npz`` file written (atomically) after every epoch: the weights, the early-stopping
        state and the random generator. A second ``fit`` with the same file resumes after the
        last finished epoch, exactly as an uninterrupted run would go on, or returns at once if
        the run had finished. A file written for other data or settings is refused.
    """

    def __init__(
        self,
        hidden_size: int = 50,
        adaptation: float = 0.1,
        learning_rate: float | str = 0.01,
        epochs: int = 10,
        patience: int | None = 3,
        validation_fraction: float = 0.1,
        random_state: int | None = None,
        batch_size: int = 1,
        progress: Any = False,
        checkpoint: str | Path | None = None,
    ):
        self.hidden_size = hidden_size
        self.adaptation = adaptation
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.batch_size = batch_size
        self.progress = progress
        self.checkpoint = checkpoint

    def check_params(self) -> None:
        """Raise :class:`~transferkit.exceptions.ParameterValueError` naming a bad value."""
        name = "ShallowDANN"
        for count in ("hidden_size", "epochs", "batch_size"):
            check_positive_int(getattr(self, count), count, name)
        if self.learning_rate != "auto":
            check_nonnegative(self.learning_rate, "learning_rate", name, strict=True)
        check_nonnegative(self.adaptation, "adaptation", name)

    def fit(self, X: Any, y: Any = None, domain: Any = None) -> ShallowDANN:
        """Algorithm 1 on a problem (labelled source, unlabelled target)."""
        problem = as_problem(X, y, domain)
        self.check_params()
        check_features(problem, type(self).__name__)
        rng = np.random.default_rng(self.random_state)
        self.classes_ = problem.classes
        self.learning_rate_ = self._resolve_learning_rate(problem)
        labels = problem.encode_labels(problem.y_source)
        X_source = problem.X_source
        n = problem.n_source
        order = rng.permutation(n)
        n_validation = int(round(self.validation_fraction * n)) if self.patience else 0
        validation, training = order[:n_validation], order[n_validation:]
        source = _Rows(X_source)
        target = _Rows(problem.X_target)
        n_features = X_source.shape[1]
        n_classes = len(self.classes_)
        D = self.hidden_size
        # the paper initialises W, V at random (uniform in ±1/sqrt(fan-in)) and biases at zero
        W = rng.uniform(-1, 1, (D, n_features)) / np.sqrt(n_features)
        V = rng.uniform(-1, 1, (n_classes, D)) / np.sqrt(D)
        b, c = np.zeros(D), np.zeros(n_classes)
        u, d = rng.uniform(-1, 1, D) / np.sqrt(D), 0.0
        state = _State(
            params=[W, b, V, c, u, d], training=training, validation=validation, history=[]
        )
        path = None if self.checkpoint is None else Path(self.checkpoint)
        fingerprint = self._fingerprint(problem)
        if path is not None and path.exists():
            state = _State.load(path, fingerprint)
            rng.bit_generator.state = state.rng
            logger.info("shallow DANN: resuming from %s after epoch %d", path, state.epoch + 1)
        reporter = None if state.finished else as_progress(self.progress, "shallow DANN")
        if reporter is not None:
            reporter.on_start(self.epochs, 1, state.epoch + 1)
        try:
            for epoch in range(state.epoch + 1, self.epochs):
                logs = self._epoch(epoch, state, rng, labels, X_source, source, target)
                state.finished = state.stop or epoch + 1 == self.epochs
                if path is not None:
                    state.rng = rng.bit_generator.state
                    state.save(path, fingerprint)
                if reporter is not None:
                    reporter.on_step(logs)
                    reporter.on_epoch_end(epoch, logs)
                if state.stop:
                    break
        finally:
            if reporter is not None:
                reporter.on_end()
        self.history_ = state.history
        chosen = state.best_params if state.best_params is not None else state.params
        self.W_, self.b_, self.V_, self.c_, self.u_, self.d_ = chosen
        self.n_features_in_ = n_features
        return self

    def _resolve_learning_rate(self, problem: TransferProblem) -> float:
        """The step μ: the given number, or ``AUTO_STEP`` / mean ‖x‖² for ``"auto"``."""
        from transferkit.kernels import squared_norms

        if self.learning_rate != "auto":
            return float(self.learning_rate)
        total = sum(squared_norms(X).sum() for X in (problem.X_source, problem.X_target))
        mean = total / (problem.n_source + problem.X_target.shape[0])
        if not mean > 0:
            raise InvalidParameterError(
                "learning_rate='auto' needs inputs with a non-zero norm; every row is zero."
            )
        return AUTO_STEP / float(mean)

    def _fingerprint(self, problem: TransferProblem) -> dict[str, Any]:
        """What a checkpoint must match to be resumed: the data's shape and the settings."""
        fingerprint = {
            "n_source": int(problem.n_source),
            "n_target": int(problem.X_target.shape[0]),
            "n_features": int(problem.X_source.shape[1]),
            "classes": [str(c) for c in problem.classes],
            **{
                name: getattr(self, name)
                for name in (
                    "hidden_size", "adaptation", "learning_rate", "patience",
                    "validation_fraction", "random_state", "batch_size",
                )
            },
        }  # fmt: skip
        # as JSON gives it back (numpy scalars become Python numbers)
        return json.loads(json.dumps(fingerprint, default=_json_scalar))

    def _epoch(
        self,
        epoch: int,
        state: _State,
        rng: np.random.Generator,
        labels: np.ndarray,
        X_source: DataMatrix,
        source: _Rows,
        target: _Rows,
    ) -> dict[str, float]:
        """One epoch of Algorithm 1 and its early-stopping bookkeeping (updates ``state``)."""
        W, b, V, c, u, d = state.params
        training, validation = state.training, state.validation
        lam, mu = self.adaptation, self.learning_rate_
        if self.batch_size > 1:
            W, b, V, c, u, d = self._minibatch_epoch(
                rng, training, labels, X_source, target.matrix, (W, b, V, c, u, d)
            )
        else:
            for i in rng.permutation(training):
                cols, x = source.row(i)
                hidden = _sigmoid(b + W[:, cols] @ x)
                scores = c + V @ hidden
                scores -= scores.max()
                proba = np.exp(scores)
                proba /= proba.sum()
                delta_c = proba.copy()
                delta_c[labels[i]] -= 1.0  # -(e(y) - G_y)
                delta_V = np.outer(delta_c, hidden)
                delta_b = (V.T @ delta_c) * hidden * (1.0 - hidden)
                if lam:
                    # domain regressor on the source sample (domain label 1)
                    g_source = _sigmoid(d + u @ hidden)
                    delta_d = lam * (1.0 - g_source)
                    delta_u = lam * (1.0 - g_source) * hidden
                    tmp_source = lam * (1.0 - g_source) * u * hidden * (1.0 - hidden)
                    # ... and on a random target sample (domain label 0)
                    j = int(rng.integers(target.n))
                    cols_t, x_t = target.row(j)
                    hidden_t = _sigmoid(b + W[:, cols_t] @ x_t)
                    g_target = _sigmoid(d + u @ hidden_t)
                    delta_d -= lam * g_target
                    delta_u -= lam * g_target * hidden_t
                    tmp_target = -lam * g_target * u * hidden_t * (1.0 - hidden_t)
                    W[:, cols_t] -= mu * np.outer(tmp_target, x_t)
                    b -= mu * tmp_target
                    delta_b = delta_b + tmp_source
                    u += mu * delta_u
                    d += mu * delta_d
                W[:, cols] -= mu * np.outer(delta_b, x)
                b -= mu * delta_b
                V -= mu * delta_V
                c -= mu * delta_c
        self.W_, self.b_, self.V_, self.c_, self.u_, self.d_ = W, b, V, c, u, d
        state.params = [W, b, V, c, u, d]
        logs: dict[str, float] = {"epoch": float(epoch)}
        if len(validation):
            predicted = self._scores(_take(X_source, validation)).argmax(1)
            score = float(np.mean(predicted == labels[validation]))
            logs["validation"] = score
            if score >= state.best:
                state.best, state.bad = score, 0
                state.best_params = [np.copy(p) for p in (W, b, V, c, u)] + [d]
            else:
                state.bad += 1
        state.history.append(logs)
        state.epoch = epoch
        logger.debug("shallow DANN epoch %d: %s", epoch, logs)
        state.stop = (
            self.patience is not None and len(validation) > 0 and state.bad >= self.patience
        )
        return logs

    def _minibatch_epoch(
        self,
        rng: np.random.Generator,
        training: np.ndarray,
        labels: np.ndarray,
        X_source: DataMatrix,
        X_target: DataMatrix,
        params: tuple[Any, ...],
    ) -> tuple[Any, ...]:
        """One epoch of Algorithm 1 with the updates of ``batch_size`` sample pairs summed."""
        W, b, V, c, u, d = params
        lam, mu = self.adaptation, self.learning_rate_
        n_target = X_target.shape[0]
        order = rng.permutation(training)
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            xs = _take(X_source, index)
            hidden = _sigmoid(_matmul(xs, W.T) + b)  # (B, D)
            scores = hidden @ V.T + c
            scores -= scores.max(axis=1, keepdims=True)
            proba = np.exp(scores)
            proba /= proba.sum(axis=1, keepdims=True)
            delta_c = proba
            delta_c[np.arange(len(index)), labels[index]] -= 1.0
            delta_V = delta_c.T @ hidden
            delta_b = (delta_c @ V) * hidden * (1.0 - hidden)
            if lam:
                g_source = _sigmoid(d + hidden @ u)  # (B,)
                delta_d = lam * np.sum(1.0 - g_source)
                delta_u = lam * (1.0 - g_source) @ hidden
                delta_b = delta_b + lam * (1.0 - g_source)[:, None] * u * hidden * (1.0 - hidden)
                xt = _take(X_target, rng.integers(n_target, size=len(index)))
                hidden_t = _sigmoid(_matmul(xt, W.T) + b)
                g_target = _sigmoid(d + hidden_t @ u)
                delta_d -= lam * np.sum(g_target)
                delta_u -= lam * g_target @ hidden_t
                tmp_target = -lam * g_target[:, None] * u * hidden_t * (1.0 - hidden_t)
                W -= mu * _rmatmul(tmp_target.T, xt)
                b -= mu * tmp_target.sum(axis=0)
                u = u + mu * delta_u
                d = d + mu * delta_d
            W -= mu * _rmatmul(delta_b.T, xs)
            b -= mu * delta_b.sum(axis=0)
            V -= mu * delta_V
            c -= mu * delta_c.sum(axis=0)
        return W, b, V, c, u, d

    def _hidden(self, X: DataMatrix) -> np.ndarray:
        if sp.issparse(X):
            pre = np.asarray(sp.csr_matrix(X) @ self.W_.T)
        else:
            pre = np.asarray(X, dtype=np.float64) @ self.W_.T
        return _sigmoid(pre + self.b_)

    def _scores(self, X: DataMatrix) -> np.ndarray:
        return self._hidden(X) @ self.V_.T + self.c_

    def transform(self, X: DataMatrix) -> np.ndarray:
        """The hidden representation G_f(x)."""
        check_is_fitted(self, "W_")
        return self._hidden(X)

    def domain_scores(self, X: DataMatrix) -> np.ndarray:
        """The domain regressor's probability that each row is a *source* row."""
        check_is_fitted(self, "W_")
        return _sigmoid(self._hidden(X) @ self.u_ + self.d_)

    def decision_function(self, X: DataMatrix) -> np.ndarray:
        check_is_fitted(self, "W_")
        return self._scores(X)

    def predict_proba(self, X: DataMatrix) -> np.ndarray:
        scores = self.decision_function(X)
        scores = scores - scores.max(axis=1, keepdims=True)
        proba = np.exp(scores)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X: DataMatrix) -> np.ndarray:
        return self.classes_[self.decision_function(X).argmax(axis=1)]


def _json_scalar(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else str(value)


def _take(X: DataMatrix, index: np.ndarray) -> DataMatrix:
    return X[index]


def _matmul(X: DataMatrix, M: np.ndarray) -> np.ndarray:
    """``X @ M`` for dense or sparse ``X``, as a dense array."""
    return np.asarray(X @ M) if sp.issparse(X) else np.asarray(X, dtype=np.float64) @ M


def _rmatmul(M: np.ndarray, X: DataMatrix) -> np.ndarray:
    """``M @ X`` for dense or sparse ``X``, as a dense array."""
    if sp.issparse(X):
        return np.asarray((sp.csr_matrix(X).T @ M.T).T)
    return M @ np.asarray(X, dtype=np.float64)


def reverse_validation_score(
    model: ShallowDANN,
    problem: TransferProblem,
    validation_fraction: float = 0.1,
    random_state: int | None = 0,
) -> float:
    """Reverse validation (Ganin et al. 2016, Section 5.1.3; Zhong et al. 2010).

    Hold out ``validation_fraction`` of the source; fit ``model`` on the rest → target; label the
    target with it; fit a copy with the same hyper-parameters on that pseudo-labelled target →
    remaining source; return its accuracy on the held-out source. No target label is used.
    """
    from sklearn.base import clone

    rng = np.random.default_rng(random_state)
    order = rng.permutation(problem.n_source)
    n_validation = max(int(round(validation_fraction * problem.n_source)), 1)
    held, kept = order[:n_validation], order[n_validation:]
    forward_problem = TransferProblem(
        _take(problem.X_source, kept), problem.y_source[kept], problem.X_target
    )
    # the forward and reverse fits are separate runs on other data: no shared checkpoint file
    model = clone(model).set_params(checkpoint=None)
    forward = clone(model).fit(forward_problem)
    pseudo = forward.predict(problem.X_target)
    if len(np.unique(pseudo)) < 2:
        return 0.0  # a collapsed forward model cannot be validated
    reverse_problem = TransferProblem(problem.X_target, pseudo, _take(problem.X_source, kept))
    reverse = clone(model).fit(reverse_problem)
    return float(np.mean(reverse.predict(_take(problem.X_source, held)) == problem.y_source[held]))


@register_method(
    "shallow_dann",
    "deep",
    "Shallow DANN, JMLR Algorithm 1 (one sigmoid hidden layer, SGD; numpy, sparse-friendly).",
    deep=True,
)
def _shallow_dann(estimator: Any, random_state: int | None, **params: Any) -> ShallowDANN:
    return ShallowDANN(random_state=random_state, **params)


class AdaptedShallowDANN(ClassifierMixin, BaseEstimator):
    """An adapter's representation (e.g. mSDA), then the shallow DANN on it (the paper's mSDA+DANN).

    Parameters
    ----------
    adapter : BaseAdapter
        Fitted on source and target first; its ``transform`` feeds the network.
    dann : ShallowDANN
    """

    def __init__(self, adapter: Any = None, dann: ShallowDANN | None = None):
        self.adapter = adapter
        self.dann = dann

    def fit(self, X: Any, y: Any = None, domain: Any = None) -> AdaptedShallowDANN:
        from sklearn.base import clone

        problem = as_problem(X, y, domain)
        if self.adapter is None:
            raise InvalidParameterError("AdaptedShallowDANN needs an adapter (e.g. MSDA()).")
        self.adapter_ = clone(self.adapter).fit(problem)
        adapted = problem.map_features(self.adapter_.transform)
        self.dann_ = clone(self.dann if self.dann is not None else ShallowDANN()).fit(adapted)
        self.classes_ = self.dann_.classes_
        return self

    def transform(self, X: DataMatrix) -> np.ndarray:
        check_is_fitted(self, "dann_")
        return self.dann_.transform(self.adapter_.transform(X))

    def predict_proba(self, X: DataMatrix) -> np.ndarray:
        check_is_fitted(self, "dann_")
        return self.dann_.predict_proba(self.adapter_.transform(X))

    def predict(self, X: DataMatrix) -> np.ndarray:
        check_is_fitted(self, "dann_")
        return self.dann_.predict(self.adapter_.transform(X))


@register_method(
    "msda_shallow_dann",
    "deep",
    "mSDA representation (Chen et al. 2012) then the shallow DANN (Ganin et al. 2016, Table 1).",
    deep=True,
)
def _msda_shallow_dann(
    estimator: Any,
    random_state: int | None,
    msda: dict[str, Any] | None = None,
    **params: Any,
) -> AdaptedShallowDANN:
    from transferkit.invariant import MSDA

    return AdaptedShallowDANN(
        MSDA(**{"random_state": random_state, **(msda or {})}),
        ShallowDANN(random_state=random_state, **params),
    )
