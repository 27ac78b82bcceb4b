"""Fixtures shared by several test modules."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest
import scipy.sparse as sp

from transferkit.problem import TransferProblem


@pytest.fixture(scope="session", autouse=True)
def one_blas_thread() -> Iterator[None]:
    """The test workers (``-n 2`` on 2 cores) share the cores: more BLAS/OpenMP threads per worker
    only spin against each other (a real-digits test went from 4 s to 100 s next to other work).
    Subprocesses the tests start are not affected; the bench runner limits its own workers."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="session", autouse=True)
def freed_memory_reused() -> None:
    """The tests run in-process what the command line runs after :func:`reuse_freed_memory`:
    without it, CNN feature extraction spent twice as long in the kernel as computing."""
    from transferkit.allocator import reuse_freed_memory

    reuse_freed_memory()


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Other test workers share the cores: several torch threads only spin against each other.

    Deep test modules use it for all their tests: ``pytestmark = pytest.mark.usefixtures(...)``.
    """
    torch = pytest.importorskip("torch")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _nuisance_problem(
    seed: int = 0, n: int = 300, d_noise: int = 10, noise: float = 3.0, sparse: bool = False
) -> TransferProblem:
    """Two classes told apart by x0; ten nuisance features are near 0 in the source and loud in
    the target, so a source-only network keeps random weights on them that hurt on the target.
    Making the two domains' representations alike is exactly what removes them."""
    rng = np.random.default_rng(seed)

    def draw(scale):
        y = rng.integers(0, 2, n)
        signal = rng.normal(size=(n, 2)) + np.c_[np.where(y == 1, 1.5, -1.5), np.zeros(n)]
        X = np.c_[signal, rng.normal(size=(n, d_noise)) * scale]
        return (sp.csr_matrix(X) if sparse else X), y

    Xs, ys = draw(0.1)
    Xt, yt = draw(noise)
    Xe, ye = draw(noise)
    return TransferProblem(Xs, ys, Xt, y_target=yt, X_test=Xe, y_test=ye)


@pytest.fixture(scope="session")
def nuisance_problem() -> Callable[..., TransferProblem]:
    """``nuisance_problem(seed=0, n=300, d_noise=10, noise=3.0, sparse=False)``: a shifted
    two-class problem where adaptation must silence nuisance features (deep and shallow DANN)."""
    return _nuisance_problem


def _pivot_problem(seed=0, n=400, words=20):
    """Bag-of-words reviews: pivot words (both domains) and domain-specific words, all tied to
    the sentiment. Source reviews use source words, target reviews target words; only the pivots
    co-occur with both, which is what a denoising autoencoder on both domains picks up."""
    rng = np.random.default_rng(seed)

    def draw(specific):
        y = rng.integers(0, 2, n)
        X = np.zeros((n, 3 * words))
        for i, label in enumerate(y):
            sign = slice(0, words // 2) if label else slice(words // 2, words)
            for offset, rate in ((0, 0.25), (specific, 0.6)):
                block = X[i, offset : offset + words]
                block[sign] = rng.random(words // 2) < rate
        X += rng.random(X.shape) < 0.02
        return np.minimum(X, 1.0), y

    Xs, ys = draw(words)
    Xt, yt = draw(2 * words)
    return TransferProblem(Xs, ys, Xt, y_target=yt)


@pytest.fixture(scope="session")
def pivot_problem() -> Callable[..., TransferProblem]:
    """``pivot_problem(seed=0, n=400, words=20)``: bag-of-words reviews where only pivot words
    link the domains (stacked denoising autoencoders and mSDA)."""
    return _pivot_problem


class Interrupted(Exception):
    """What :func:`interrupt_after` raises: a run killed between two epochs."""


class _InterruptAfter:
    """A training progress callback that raises :class:`Interrupted` at the end of epoch
    ``epochs`` (counted from 1) of the ``run``-th training run it reports (stages, layers)."""

    Interrupted = Interrupted

    def __init__(self, epochs: int, run: int = 1):
        self.epochs, self.run, self.runs = epochs, run, 0

    def on_start(self, total_epochs: int, steps_per_epoch: int, first_epoch: int) -> None:
        self.runs += 1

    def on_step(self, logs: dict[str, float]) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if self.runs == self.run and epoch + 1 == self.epochs:
            raise Interrupted

    def on_end(self) -> None:
        pass


@pytest.fixture(scope="session")
def interrupt_after() -> Callable[..., _InterruptAfter]:
    """``interrupt_after(epochs, run=1)``: a progress callback that stops training with
    :class:`Interrupted` (also ``interrupt_after.Interrupted``), to test resuming checkpoints."""
    return _InterruptAfter


@pytest.fixture(scope="session")
def squash_adapter():
    """An adapter class that maps every target row onto one source point: predictions on the
    target collapse onto one class (for the degenerate-result checks)."""
    import numpy as np

    from transferkit.base import BaseAdapter

    class Squash(BaseAdapter):
        def _fit(self, problem):
            self.point_ = np.asarray(problem.X_source)[0]

        def _transform(self, X, domain):
            X = np.asarray(X, dtype=float)
            return X if domain == 0 else np.tile(self.point_, (len(X), 1))

    return Squash


@pytest.fixture(scope="module")
def moons():
    """Rotated moons, where OT mapping clearly beats source-only; a source fold held out.

    ``(problem, held-out source indices, {"source_only": model, "ot": model}, target accuracy
    of each model)``, the models trained without the held-out rows.
    """
    from dataclasses import replace

    from transferkit.datasets import make_rotated_moons
    from transferkit.registry import make_method

    problem = make_rotated_moons(n_samples=400, angle=35, random_state=0)
    rng = np.random.default_rng(0)
    val = rng.choice(problem.n_source, 100, replace=False)
    train = np.setdiff1d(np.arange(problem.n_source), val)
    fold = replace(problem, X_source=problem.X_source[train], y_source=problem.y_source[train])
    models = {m: make_method(m, random_state=0).fit(fold) for m in ("source_only", "ot")}
    X_test, y_test = problem.evaluation_split()
    accuracy = {k: float(np.mean(m.predict(X_test) == y_test)) for k, m in models.items()}
    return problem, val, models, accuracy


@pytest.fixture(scope="module")
def band():
    """Covariate shift with P(y|x) fixed: y = 1 inside |x| < 1; the target sits at x ~ N(1.5, 1).

    A linear model cannot fit the band: right on the source (68%), wrong on most of the target.
    ``(problem, source-only model, held-out source X, their labels, the model's target
    accuracy)``.
    """
    from transferkit.registry import make_method

    rng = np.random.default_rng(0)
    xs, xt = rng.normal(0, 1, (2000, 1)), rng.normal(1.5, 1, (2000, 1))
    ys, yt = (np.abs(xs[:, 0]) < 1).astype(int), (np.abs(xt[:, 0]) < 1).astype(int)
    problem = TransferProblem(xs[:1000], ys[:1000], xt, yt)
    model = make_method("source_only", random_state=0).fit(problem)
    return problem, model, xs[1000:], ys[1000:], float(np.mean(model.predict(xt) == yt))
