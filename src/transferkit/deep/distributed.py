"""Where deep training runs: the device, mixed precision, and data-parallel training over processes.

Three settings reach every deep method and :func:`~transferkit.deep.backbones.extract_features`
without a parameter on each of them, through environment variables that spawned worker processes
inherit (the CLI's ``--device``, ``--amp`` and ``--ddp``; :func:`deep_settings` sets them for a
block of Python):

=======================  ==============================  =================================================
variable                 :func:`deep_settings` argument  effect
=======================  ==============================  =================================================
``TRANSFERKIT_DEVICE``   ``device``                      what ``device="auto"`` means (``cpu``, ``cuda``)
``TRANSFERKIT_AMP``      ``amp``                         mixed precision (``torch.autocast``) in training
``TRANSFERKIT_DDP``      ``processes``                   processes per deep benchmark cell (see below)
=======================  ==============================  =================================================

A method's own ``device`` other than ``"auto"`` wins over the setting.

**Data parallel.** When a ``torch.distributed`` process group is running (started by ``torchrun``
and :func:`init_distributed`, or by :func:`launch` / :class:`DataParallel`), the one training loop
(:func:`~transferkit.deep.training.train`) trains data-parallel as PyTorch's
``DistributedDataParallel`` does: every rank starts from rank 0's weights, sees its share of each
global batch (:func:`shard`), and the gradients are averaged over the ranks before each optimiser
step (:func:`average_gradients`), so the ranks' weights stay identical. The global batches are those
of a one-process run with the same seed; rank ``r`` takes the ``r``-th of ``world_size`` near-equal
slices of each. Losses that are a mean over rows (cross-entropy, the domain classifiers of DANN,
domain confusion and ADDA, self-ensembling's consistency) are computed per rank: the averaged
gradient is the global batch's. Losses of the batch as a whole (MMD, CORAL, MCC's class
confusion) are computed on the rows of every rank, gathered with gradients (:func:`gather_rows`).
Batch normalisation uses each rank's rows (as DDP without ``SyncBatchNorm``); its running
statistics are rank 0's, copied to every rank after each step (DDP's ``broadcast_buffers``).

Without a process group (or with one process) nothing here changes a number.

Examples
--------
>>> from transferkit.deep.distributed import deep_settings, settings
>>> with deep_settings(device="cpu", amp=False):
...     settings()["device"]
'cpu'
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from torch import Tensor, nn

from transferkit.allocator import reuse_freed_memory
from transferkit.exceptions import InvalidParameterError, NotApplicableError

__all__ = [
    "AMP_VARIABLE",
    "DDP_VARIABLE",
    "DEVICE_VARIABLE",
    "DataParallel",
    "average_gradients",
    "barrier",
    "broadcast_buffers",
    "broadcast_states",
    "broadcast_value",
    "data_parallel",
    "deep_settings",
    "default_backend",
    "gather_rows",
    "init_distributed",
    "launch",
    "local_rank",
    "process_rank",
    "reduce_mean",
    "settings",
    "shard",
    "world_size",
]

DEVICE_VARIABLE = "TRANSFERKIT_DEVICE"
AMP_VARIABLE = "TRANSFERKIT_AMP"
DDP_VARIABLE = "TRANSFERKIT_DDP"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


# ----------------------------------------------------------------------------- settings


def settings() -> dict[str, Any]:
    """The current ``device`` (str), ``amp`` (bool) and ``processes`` (int) settings.

    Read from the environment each time (so a worker process sees its parent's), checked: a bad
    value raises :class:`~transferkit.exceptions.InvalidParameterError` naming the variable.
    """
    device = os.environ.get(DEVICE_VARIABLE, "").strip() or "auto"
    amp_text = os.environ.get(AMP_VARIABLE, "").strip().lower()
    if amp_text not in _TRUE | _FALSE:
        raise InvalidParameterError(
            f"{AMP_VARIABLE}={os.environ[AMP_VARIABLE]!r} is not a switch; set it to 1 or 0."
        )
    processes_text = os.environ.get(DDP_VARIABLE, "").strip() or "1"
    try:
        processes = int(processes_text)
    except ValueError:
        processes = 0
    if processes < 1:
        raise InvalidParameterError(
            f"{DDP_VARIABLE}={processes_text!r} must be a whole number of processes >= 1."
        )
    return {"device": device, "amp": amp_text in _TRUE, "processes": processes}


@contextmanager
def deep_settings(
    device: str | None = None, amp: bool | None = None, processes: int | None = None
) -> Iterator[None]:
    """Inside the block, deep methods run on ``device`` with mixed precision ``amp``, and a
    benchmark's deep cells in ``processes`` data-parallel processes; None leaves a setting as it
    is. The previous values come back at the end of the block.

    Parameters
    ----------
    device : str or None
        ``"auto"`` (CUDA when present, else MPS, else the CPU), ``"cpu"``, ``"cuda"``,
        ``"cuda:N"``.
    amp : bool or None
        Mixed precision in the training loop (float16 with loss scaling on CUDA, bfloat16 on the
        CPU).
    processes : int or None
        Processes per deep cell of ``transferkit bench`` (``--ddp``).

    Examples
    --------
    >>> from transferkit.deep.distributed import deep_settings, settings
    >>> with deep_settings(amp=True, processes=2):
    ...     settings()["amp"], settings()["processes"]
    (True, 2)
    >>> settings()["processes"]
    1
    """
    if processes is not None and (
        isinstance(processes, bool) or not isinstance(processes, int) or processes < 1
    ):
        raise InvalidParameterError(f"processes must be an integer >= 1, got {processes!r}.")
    values = {
        DEVICE_VARIABLE: device,
        AMP_VARIABLE: None if amp is None else ("1" if amp else "0"),
        DDP_VARIABLE: None if processes is None else str(processes),
    }
    previous = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value is not None:
                os.environ[name] = value
        settings()  # a bad value fails here, not in a worker
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# ----------------------------------------------------------------------------- the process group


def _group_running() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    """Processes in the running ``torch.distributed`` group (1 without one)."""
    if not _group_running():
        return 1
    return dist.get_world_size()


def process_rank() -> int:
    """This process's rank in the running group (0 without one)."""
    if not _group_running():
        return 0
    return dist.get_rank()


def local_rank() -> int:
    """This process's rank on its machine (``LOCAL_RANK``, set by ``torchrun`` and :func:`launch`)."""
    return int(os.environ.get("LOCAL_RANK", process_rank()))


def default_backend(device: str | None = None) -> str:
    """``nccl`` when training runs on CUDA, else ``gloo``; ``device`` None or ``"auto"`` means
    the device setting."""
    name = settings()["device"] if device in (None, "auto") else str(device)
    on_cuda = name.startswith("cuda") or (name == "auto" and torch.cuda.is_available())
    return "nccl" if on_cuda else "gloo"


def init_distributed(backend: str | None = None) -> None:
    """Join the process group that ``torchrun`` describes in the environment.

    ``backend`` None: ``nccl`` on CUDA, else ``gloo``. On CUDA, this process uses GPU
    ``LOCAL_RANK``. Call it once at the start of a script run by ``torchrun``; then every
    ``fit`` trains data-parallel (see the module's notes).

    Examples
    --------
    >>> # torchrun --nproc-per-node 2 train.py, where train.py holds:
    >>> from transferkit.deep.distributed import init_distributed  # doctest: +SKIP
    >>> init_distributed()  # doctest: +SKIP
    """
    missing = [name for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR") if name not in os.environ]
    if missing:
        raise NotApplicableError(
            f"init_distributed() reads the process group from the environment, and "
            f"{', '.join(missing)} is not set: start the script with `torchrun --nproc-per-node N "
            "script.py`, or use DataParallel(method, processes=N) from one process."
        )
    backend = default_backend() if backend is None else backend
    if backend == "nccl":
        torch.cuda.set_device(local_rank() % max(torch.cuda.device_count(), 1))
    dist.init_process_group(backend)


def shard(index: np.ndarray) -> np.ndarray:
    """This rank's slice of a global batch's row indices: the ``rank``-th of ``world_size``
    near-equal contiguous slices (the whole batch without a process group)."""
    size = world_size()
    if size == 1:
        return index
    return np.array_split(index, size)[process_rank()]


def gather_rows(tensor: Tensor) -> Tensor:
    """The rows of every rank's ``tensor``, rank 0's first, with gradients flowing back to each
    rank's own rows (``torch.distributed.nn.all_gather``); ``tensor`` itself without a group.

    The ranks may hold different numbers of rows (the last batch of an epoch): they are padded
    to the largest for the exchange and cut back after.

    Notes
    -----
    The gather's backward pass sums the gradients of every rank's copy of the loss; with the
    gradients then averaged over the ranks (:func:`average_gradients`), each weight gets exactly
    the gradient of the loss computed once on the global batch.
    """
    size = world_size()
    if size == 1:
        return tensor

    counts = [torch.zeros(1, dtype=torch.long, device=tensor.device) for _ in range(size)]
    dist.all_gather(counts, torch.tensor([tensor.shape[0]], device=tensor.device))
    rows = [int(c) for c in counts]
    longest = max(rows)
    padded = tensor
    if tensor.shape[0] < longest:
        padding = tensor.new_zeros((longest - tensor.shape[0], *tensor.shape[1:]))
        padded = torch.cat([tensor, padding])
    gathered = _GatherRows.apply(padded.contiguous())
    return torch.cat([gathered[r * longest : r * longest + n] for r, n in enumerate(rows)])


class _GatherRows(torch.autograd.Function):
    """All-gather along the first dimension; the backward pass sums every rank's gradient of the
    gathered tensor and returns this rank's rows (as ``torch.distributed.nn.all_gather``)."""

    @staticmethod
    def forward(ctx: Any, tensor: Tensor) -> Tensor:  # type: ignore[override]
        parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, tensor)
        ctx.rows = tensor.shape[0]
        return torch.cat(parts)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:  # type: ignore[override]
        grad = grad.contiguous()
        dist.all_reduce(grad)
        start = dist.get_rank() * ctx.rows
        return grad[start : start + ctx.rows]


def _parameters(optimizer: torch.optim.Optimizer) -> list[Tensor]:
    return [p for group in optimizer.param_groups for p in group["params"]]


def average_gradients(optimizer: torch.optim.Optimizer) -> None:
    """Replace the gradient of every parameter of ``optimizer`` by its mean over the ranks.

    One flat all-reduce per dtype and device (DDP's buckets, without overlapping the backward
    pass). Parameters without a gradient on this rank have none on the others either (the ranks
    run the same code on batches of the same shapes), and keep none.
    """
    size = world_size()
    if size == 1:
        return

    buckets: dict[tuple[Any, Any], list[Tensor]] = {}
    for parameter in _parameters(optimizer):
        if parameter.grad is not None:
            key = (parameter.grad.dtype, parameter.grad.device)
            buckets.setdefault(key, []).append(parameter.grad)
    for grads in buckets.values():
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= size
        offset = 0
        for grad in grads:
            grad.copy_(flat[offset : offset + grad.numel()].view_as(grad))
            offset += grad.numel()


def broadcast_states(modules: dict[str, nn.Module]) -> None:
    """Copy rank 0's parameters and buffers of ``modules`` to every rank (DDP's start)."""
    if world_size() == 1:
        return

    for module in modules.values():
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, 0)


def broadcast_buffers(modules: dict[str, nn.Module]) -> None:
    """Copy rank 0's floating-point buffers (batch-norm running statistics) to every rank."""
    if world_size() == 1:
        return

    buffers = [
        b for module in modules.values() for b in module.buffers() if b.dtype.is_floating_point
    ]
    if not buffers:
        return
    flat = torch.cat([b.reshape(-1) for b in buffers])
    dist.broadcast(flat, 0)
    offset = 0
    for buffer in buffers:
        buffer.copy_(flat[offset : offset + buffer.numel()].view_as(buffer))
        offset += buffer.numel()


def reduce_mean(values: dict[str, float]) -> dict[str, float]:
    """The mean over the ranks of each of ``values`` (the same keys on every rank)."""
    size = world_size()
    if size == 1 or not values:
        return values

    flat = torch.tensor(list(values.values()), dtype=torch.float64)
    if dist.get_backend() == "nccl":
        flat = flat.cuda()
    dist.all_reduce(flat)
    return dict(zip(values, (flat / size).tolist(), strict=True))


def broadcast_value(value: Any) -> Any:
    """Rank 0's ``value`` on every rank (a validation score, so that every rank stops together)."""
    if world_size() == 1:
        return value

    box = [value]
    dist.broadcast_object_list(box, 0)
    return box[0]


def barrier() -> None:
    """Wait until every rank gets here (nothing without a group)."""
    if world_size() > 1:
        dist.barrier()


# ----------------------------------------------------------------------------- local launch


def _rank_main(
    rank: int,
    function: Callable[..., Any],
    args: Sequence[Any],
    processes: int,
    folder: str,
    backend: str,
    threads: int,
) -> None:
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(processes),
        LOCAL_WORLD_SIZE=str(processes),
    )
    reuse_freed_memory()
    torch.set_num_threads(threads)
    try:
        if backend == "nccl":
            torch.cuda.set_device(rank)
        dist.init_process_group(
            backend, init_method=f"file://{folder}/store", rank=rank, world_size=processes
        )
    except BaseException as error:
        _save_error(folder, rank, error)
        raise
    try:
        result = function(*args)
        if rank == 0:
            with open(Path(folder) / "result.pkl", "wb") as handle:
                pickle.dump(result, handle)
        dist.barrier()
        (Path(folder) / f"done-{rank}").touch()
    except BaseException as error:
        # saved before the group closes: the other ranks' errors are then its consequence
        _save_error(folder, rank, error)
        raise
    finally:
        dist.destroy_process_group()
    # the work is done and saved: leave without the interpreter's teardown, where a communication
    # thread still alive can abort the process (gloo, under load)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _save_error(folder: str, rank: int, error: BaseException) -> None:
    """Save a rank's error for the launcher, and claim ``first-error`` if no rank has yet."""
    try:
        with open(Path(folder) / f"error-{rank}.pkl", "wb") as handle:
            pickle.dump(error, handle)
    except Exception:  # it does not pickle: the launcher reports the rank's traceback
        return
    try:
        with open(Path(folder) / "first-error", "x") as handle:
            handle.write(str(rank))
    except FileExistsError:
        pass


def launch(
    function: Callable[..., Any],
    processes: int,
    *args: Any,
    backend: str | None = None,
    threads: int | None = None,
) -> Any:
    """Run ``function(*args)`` in ``processes`` new local processes joined in one
    ``torch.distributed`` group, and return rank 0's result.

    The processes are spawned (``torch.multiprocessing``) and meet through a file in a temporary
    folder (no network port). ``function`` and ``args`` must pickle (a module-level function).
    If a rank raises, the others are stopped and its exception is raised here; if a rank dies
    (a signal), ``torch.multiprocessing.ProcessExitedException`` says which.

    Parameters
    ----------
    function : callable
    processes : int
        World size.
    *args
        Arguments of ``function``.
    backend : {"gloo", "nccl"} or None
        None: ``nccl`` when the device setting is CUDA, else ``gloo``. ``nccl`` needs one GPU per
        process.
    threads : int or None
        Torch threads per process; None: this process's ``torch.get_num_threads()``.

    Returns
    -------
    object
        What ``function`` returned on rank 0.
    """
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise InvalidParameterError(f"processes must be an integer >= 1, got {processes!r}.")
    backend = default_backend() if backend is None else backend
    if backend not in ("gloo", "nccl"):
        raise InvalidParameterError(f"backend must be 'gloo' or 'nccl', got {backend!r}.")
    if backend == "nccl" and torch.cuda.device_count() < processes:
        raise InvalidParameterError(
            f"{processes} processes on CUDA need {processes} GPUs (one each, nccl); this "
            f"machine has {torch.cuda.device_count()}: use fewer processes or device 'cpu'."
        )
    threads = torch.get_num_threads() if threads is None else threads
    with tempfile.TemporaryDirectory(prefix="transferkit-ddp-") as folder:
        context = mp.start_processes(
            _rank_main,
            args=(function, tuple(args), processes, folder, backend, threads),
            nprocs=processes,
            join=False,
            start_method="spawn",
        )
        try:
            while not context.join():
                pass
        except (mp.ProcessRaisedException, mp.ProcessExitedException) as failure:
            if _finished(folder, processes):
                warnings.warn(
                    f"{failure} while closing the process group, after every rank had finished "
                    "its work: the result is complete.",
                    RuntimeWarning,
                    stacklevel=2,
                )
                return _load(Path(folder) / "result.pkl")
            error = _first_failure(context.processes, folder)
            if error is None:
                raise
            raise error from failure
        return _load(Path(folder) / "result.pkl")


def _first_failure(ranks: Sequence[Any], folder: str) -> BaseException | None:
    """The error that stopped a launch: a rank killed by a signal it was not sent by the launcher's
    clean-up (an abort, a segfault), else the error of the rank that failed first (the other
    ranks' are then its consequence: a closed connection)."""
    for rank, process in enumerate(ranks):
        code = process.exitcode
        if code is not None and code < 0 and -code not in (signal.SIGTERM, signal.SIGKILL):
            name = signal.Signals(-code).name
            return mp.ProcessExitedException(
                f"process {rank} terminated with signal {name}",
                error_index=rank,
                error_pid=process.pid,
                exit_code=code,
                signal_name=name,
            )
    first = Path(folder) / "first-error"
    return _load(Path(folder) / f"error-{first.read_text()}.pkl") if first.exists() else None


def _finished(folder: str, processes: int) -> bool:
    """Whether every rank passed the final barrier and rank 0 saved its result."""
    done = all((Path(folder) / f"done-{rank}").exists() for rank in range(processes))
    return done and (Path(folder) / "result.pkl").exists()


def _load(path: Path) -> Any:
    with open(path, "rb") as handle:
        return pickle.load(handle)


# ----------------------------------------------------------------------------- the estimator


def _fit_on_rank(method: Any, problem: Any) -> Any:
    fitted = method.fit(problem)
    return fitted if process_rank() == 0 else None


def _score_on_rank(method: Any, problem: Any) -> tuple[float, dict[str, Any]]:
    if hasattr(method, "score_problem"):
        score = float(method.score_problem(problem))
    else:
        from transferkit.evaluation import problem_score

        X_eval, y_eval = problem.evaluation_split()
        method.fit(problem)
        score = float(
            problem_score(
                problem.metadata, np.asarray(y_eval).ravel(), np.asarray(method.predict(X_eval))
            )
        )
    return score, {"world_size": world_size()}


class DataParallel(ClassifierMixin, BaseEstimator):
    """Train a deep method data-parallel in ``processes`` local processes (``torch.distributed``).

    Not ``torch.nn.DataParallel`` (one process, several GPUs): each process here trains a whole
    copy of the method, as with ``DistributedDataParallel``.

    ``fit`` starts ``processes`` processes (:func:`launch`), each fits a copy of ``method`` on
    the whole problem, the training loop sharding the batches and averaging the gradients (see
    the module's notes); rank 0's fitted copy comes back as ``method_`` and predicts here.
    :meth:`score_problem` fits and scores in the processes and returns rank 0's score (what a
    benchmark cell stores).

    Parameters
    ----------
    method : estimator
        A deep method (:mod:`transferkit.deep.methods`, :mod:`transferkit.deep.source_free`...).
    processes : int, default 2
    backend : {"gloo", "nccl"} or None, default None
        None: ``nccl`` when ``method.device`` (or the device setting, for ``"auto"``) is CUDA,
        one GPU per process; else ``gloo``.

    Examples
    --------
    >>> from transferkit.datasets import load_pair                 # doctest: +SKIP
    >>> from transferkit.deep.methods import DeepCORAL             # doctest: +SKIP
    >>> problem = load_pair("office-caltech-surf", "dslr", "webcam")  # doctest: +SKIP
    >>> model = DataParallel(DeepCORAL(random_state=0), processes=2).fit(problem)  # doctest: +SKIP
    >>> model.predict(problem.X_target).shape                      # doctest: +SKIP
    (295,)
    """

    def __init__(self, method: Any, processes: int = 2, backend: str | None = None):
        self.method = method
        self.processes = processes
        self.backend = backend

    def fit(self, X: Any, y: Any = None, domain: Any = None) -> DataParallel:
        """Fit ``method`` in the processes; keep rank 0's fitted copy as ``method_``."""
        from transferkit.problem import as_problem

        problem = as_problem(X, y, domain)
        self.method_ = launch(
            _fit_on_rank, self.processes, clone(self.method), problem, backend=self._backend()
        )
        self.classes_ = getattr(self.method_, "classes_", None)
        return self

    def score_problem(self, problem: Any) -> float:
        """Fit and score in the processes: ``method.score_problem(problem)`` where the method has
        one, else the score on ``problem.evaluation_split()``; rank 0's value."""
        score, details = launch(
            _score_on_rank, self.processes, clone(self.method), problem, backend=self._backend()
        )
        self.details_ = details
        return score

    def _backend(self) -> str:
        """The backend asked for, else the one of the method's device (nccl on CUDA)."""
        if self.backend is not None:
            return self.backend
        return default_backend(getattr(self.method, "device", None))

    def predict(self, X: Any) -> np.ndarray:
        return self.method_.predict(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.method_.predict_proba(X)

    def decision_function(self, X: Any) -> np.ndarray:
        return self.method_.decision_function(X)

    def transform(self, X: Any, domain: Any = None) -> np.ndarray:
        return self.method_.transform(X, domain=domain)


def data_parallel(method: Any) -> Any:
    """``method`` wrapped in :class:`DataParallel` with the ``processes`` setting (``--ddp``)
    when it is above 1; ``method`` itself otherwise."""
    processes = settings()["processes"]
    return method if processes == 1 else DataParallel(method, processes)
