"""Benchmark cells and selection candidates on a Dask cluster (``dask.distributed``).

``--scheduler local:N`` starts a ``LocalCluster`` of N worker processes on this machine, one
thread each; ``--scheduler tcp://host:8786`` uses a running cluster, however it was started
(``dask scheduler`` and ``dask worker`` by hand, dask-jobqueue on SLURM or PBS, dask-kubernetes):
the project owns no cluster, only the client. The process that calls runs the client: it sends
the tasks in order and receives each result as it arrives; what to do with a result (store it,
draw the progress bar) stays with the caller, so the bench runner alone writes its database.

A worker that dies (out of memory, a crash in native code, a node taken away) takes its task
back to the queue: the scheduler runs it elsewhere, up to
``distributed.scheduler.allowed-failures`` deaths (:data:`WORKER_DEATHS_ALLOWED` on a local
cluster; a running cluster keeps its own setting, 3 by default), after which the task fails with
``KilledWorker`` (:func:`is_lost_worker`). Each worker holds only the task it runs
(:data:`WORKER_SATURATION`), so a death counts against that task alone. A task that *raises* is
not run again: the exception comes back to the caller, who decides.

Dask is optional: ``pip install 'transferkit[distributed]'``. Nothing here imports it until a
cluster is used.

Examples
--------
>>> from transferkit.bench.distributed import map_on_cluster    # doctest: +SKIP
>>> map_on_cluster(abs, [-1, 2, -3], scheduler="local:2")        # doctest: +SKIP
[1, 2, 3]
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import uuid4

from transferkit.exceptions import InvalidParameterError, missing_dependency

logger = logging.getLogger(__name__)

#: ``--scheduler local:N``: a LocalCluster of N worker processes started (and stopped) here.
LOCAL_PREFIX = "local:"
#: Deaths of the worker running a task before the task fails with ``KilledWorker`` (local
#: clusters; Dask's own default). One crash is retried, a cell that kills every worker it
#: lands on is not retried forever.
WORKER_DEATHS_ALLOWED = 3
#: Tasks the scheduler sends a worker per thread: exactly one, so that a worker holds only the
#: cell it runs. Dask's default (1.1) lets a worker hold a second one, which its death would
#: count as a failure too, and which an idle worker could not take meanwhile.
WORKER_SATURATION = 1.0
#: Seconds to wait for a running scheduler to answer.
CONNECT_TIMEOUT_SECONDS = 30
#: Environment variables that size the BLAS/OpenMP pools of a local worker process (set before
#: it imports numpy; each task also limits its threads where it runs).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

_ADDRESS = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$")


def check_scheduler(scheduler: str) -> str | int:
    """The number of local workers of ``"local:N"``, or the address of a running scheduler.

    Raises :class:`InvalidParameterError` naming the accepted forms for anything else.

    Examples
    --------
    >>> check_scheduler("local:2")
    2
    >>> check_scheduler("tcp://10.0.0.5:8786")
    'tcp://10.0.0.5:8786'
    """
    text = str(scheduler).strip()
    if text.lower().startswith(LOCAL_PREFIX):
        count = text[len(LOCAL_PREFIX) :]
        if count.isdigit() and int(count) >= 1:
            return int(count)
        raise InvalidParameterError(
            f"--scheduler {scheduler!r}: local:N takes a number of worker processes >= 1, "
            "e.g. local:2."
        )
    if _ADDRESS.match(text):
        return text
    raise InvalidParameterError(
        f"--scheduler {scheduler!r} is neither local:N (N worker processes started here) nor "
        "the address of a running Dask scheduler such as tcp://host:8786."
    )


def require_distributed(feature: str = "Running on a Dask cluster") -> Any:
    """The ``distributed`` module, or :class:`MissingDependencyError` naming the extra."""
    try:
        import distributed
    except ImportError as error:
        raise missing_dependency("dask[distributed]", "distributed", feature) from error
    return distributed


@contextmanager
def dask_client(scheduler: str, threads: int = 1) -> Iterator[Any]:
    """A ``distributed.Client`` of the cluster ``scheduler`` names, closed on leaving.

    Parameters
    ----------
    scheduler : str
        ``"local:N"``: a LocalCluster of N worker processes with one thread each, stopped on
        leaving the block; an address (``tcp://host:8786``): a running scheduler, left running.
    threads : int, default 1
        BLAS/OpenMP threads of each local worker process (the tasks set their own limits too).
    """
    target = check_scheduler(scheduler)
    distributed = require_distributed()
    import dask

    if isinstance(target, int):
        variables = dict.fromkeys(THREAD_VARIABLES, str(threads))
        settings = {
            "distributed.scheduler.allowed-failures": WORKER_DEATHS_ALLOWED,
            "distributed.scheduler.worker-saturation": WORKER_SATURATION,
        }
        with dask.config.set(settings):
            cluster = distributed.LocalCluster(
                n_workers=target,
                threads_per_worker=1,
                processes=True,
                # a free port on this machine only: two runs at once never collide
                dashboard_address="127.0.0.1:0",
                env=variables,
            )
        try:
            with distributed.Client(cluster) as client:
                yield client
        finally:
            cluster.close()
        return
    try:
        client = distributed.Client(target, timeout=CONNECT_TIMEOUT_SECONDS)
    except OSError as error:
        raise InvalidParameterError(
            f"No Dask scheduler answered at {target} within {CONNECT_TIMEOUT_SECONDS} s "
            f"({error}); check the address (the scheduler prints it when it starts), or run "
            "on this machine with --scheduler local:N."
        ) from error
    with client:
        warn_about_threaded_workers(client)
        yield client


def warn_about_threaded_workers(client: Any) -> None:
    """Log a warning when a worker runs several tasks at once: they then share one process's
    thread limits and memory measurement, and the times of a cell depend on its neighbours."""
    workers = client.scheduler_info().get("workers", {})
    threaded = sorted(a for a, w in workers.items() if w.get("nthreads", 1) > 1)
    if threaded:
        logger.warning(
            "%d Dask worker(s) run several threads (e.g. %s): start workers with --nthreads 1 "
            "(and --nworkers N for N cores) so that each cell has a process to itself.",
            len(threaded),
            threaded[0],
        )


def submit_in_order(
    client: Any, function: Callable[..., Any], items: Sequence[Any], **shared: Any
) -> list[Any]:
    """Submit ``function(item, **shared)`` for every item, first item first; the futures.

    The tasks run in the order given (an earlier one has a higher priority), so that the cells
    of one pair stay together and reuse the problem a worker has loaded. A task that raises is
    not retried (``retries=0``): its exception comes back in its future.

    A value of ``shared`` other than a number, a string or a path (a problem, its splits) is sent
    to the cluster once, as the result of a task that returns it, rather than with every task.
    Not with ``client.scatter``: scattered data dies with the worker holding it, and every task
    that needs it fails; a task's result is computed again elsewhere.
    """
    sent = {}
    for name, value in shared.items():
        if value is None or isinstance(value, bool | int | float | str | os.PathLike):
            sent[name] = value
        else:
            sent[name] = client.submit(hold, value, pure=False, key=f"transferkit-{name}-{uuid4()}")
    total = len(items)
    return [
        client.submit(function, item, **sent, pure=False, priority=total - index, retries=0)
        for index, item in enumerate(items)
    ]


def hold(value: Any) -> Any:
    """The task that keeps a shared value on the cluster: it returns its argument."""
    return value


def completed(futures: Sequence[Any]) -> Iterator[Any]:
    """The futures in the order they finish (with a result, an exception or cancelled)."""
    distributed = require_distributed()
    yield from distributed.as_completed(futures)


def is_lost_worker(error: BaseException | None) -> bool:
    """Whether a task failed because the workers running it kept dying (``KilledWorker``)."""
    distributed = require_distributed()
    return isinstance(error, distributed.KilledWorker)


def lost_worker_message(error: BaseException) -> str:
    """The error text stored for a task whose workers kept dying."""
    return (
        f"KilledWorker: the worker process running it died every time it was tried ({error}); "
        "it may need more memory than a worker has, or crash in native code. Run it alone "
        "(transferkit bench SUITE --methods ... --pairs ...) to see why, then --retry-errors."
    )


def cancel_unfinished(client: Any, futures: Sequence[Any]) -> None:
    """Cancel every future not finished yet (queued tasks never start; running ones are
    dropped when they end)."""
    pending = [f for f in futures if not f.done()]
    if pending:
        client.cancel(pending)


def map_on_cluster(
    function: Callable[..., Any],
    items: Sequence[Any],
    *,
    scheduler: str,
    threads: int = 1,
    progress: Callable[[int, int], None] | None = None,
    **shared: Any,
) -> list[Any]:
    """``[function(item, **shared) for item in items]`` computed on a Dask cluster.

    Parameters
    ----------
    function : callable
        Picklable (a module-level function, or a bound method of a picklable object).
    items : sequence
        One task each, sent in this order.
    scheduler : str
        ``"local:N"`` or a scheduler's address, see :func:`dask_client`.
    threads : int, default 1
        BLAS/OpenMP threads of each local worker.
    progress : callable or None
        ``progress(done, total)`` after each result arrives.
    **shared
        Keyword arguments of every call, sent to the cluster once.

    Returns
    -------
    list
        The results, in the order of ``items``.

    Raises
    ------
    Exception
        The first exception a task raised, or ``KilledWorker`` when a task's workers kept dying;
        the tasks not finished are cancelled.
    """
    if not items:
        return []
    with dask_client(scheduler, threads) as client:
        futures = submit_in_order(client, function, items, **shared)
        index = {future.key: i for i, future in enumerate(futures)}
        results: list[Any] = [None] * len(futures)
        try:
            for done, future in enumerate(completed(futures), start=1):
                results[index[future.key]] = future.result()
                if progress is not None:
                    progress(done, len(futures))
        except BaseException:
            cancel_unfinished(client, futures)
            raise
    return results
