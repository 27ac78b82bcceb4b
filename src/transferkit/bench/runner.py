"""The resumable benchmark runner: every cell of a suite, once, each result stored as it finishes.

A *cell* is one (dataset, source → target pair, method with its parameters and classifier, seed).
:func:`run_suite` skips the cells the database already holds (errored ones too, unless
``retry_errors``), runs the others in this process or in ``jobs`` worker processes, and writes each
result the moment it arrives (or on a Dask cluster, see :mod:`transferkit.bench.distributed`).
A problem is loaded once per (dataset, pair, seed, options) per process
and kept in a small cache, so the methods of one pair share it.

A method's accuracy is measured on ``problem.evaluation_split()``: the target test split, or the
target itself in transductive protocols; an open-set problem (``metadata["label_space"] ==
"open_set"``) is scored by HOS instead (:func:`transferkit.evaluation.problem_score`), stored in
the same column. A method with ``score_problem(problem)`` (the target
oracle) scores itself; its time counts as fit time.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
import platform
import re
import shutil
import signal
import socket
import sys
import threading
import time
import tracemalloc
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from transferkit.allocator import reuse_freed_memory
from transferkit.bench.distributed import (
    cancel_unfinished,
    check_scheduler,
    completed,
    dask_client,
    is_lost_worker,
    lost_worker_message,
    submit_in_order,
)
from transferkit.bench.store import KEY_COLUMNS, ResultStore
from transferkit.bench.suite import (
    BACKBONE_OPTION,
    FEATURE_SPACES_OPTION,
    FILES_DATASET,
    NO_BACKBONE,
    PCA_OPTION,
    PROBE_SHAPE,
    TARGET_LABELS_OPTION,
    TEXT_COLUMN_OPTION,
    Cell,
    FileDigests,
    Suite,
    as_list,
    file_names,
    load_suite,
)
from transferkit.bench.tables import ResultsTable
from transferkit.exceptions import DataFormatError, InvalidParameterError, TransferKitError
from transferkit.problem import TRANSFER_KIND, TransferProblem, refuse_different_feature_spaces
from transferkit.registry import method_spec

logger = logging.getLogger(__name__)

#: ``progress(done, total, row)``: called with ``(0, total, None)`` before the first cell and after
#: every stored cell with its row.
ProgressCallback = Callable[[int, int, dict[str, Any] | None], None]

#: Problems kept per process; a suite's cells are ordered so that one pair's cells are adjacent.
PROBLEM_CACHE_SIZE = 4


# --------------------------------------------------------------------- one cell
@cache
def library_versions() -> dict[str, str]:
    """Versions of Python and the numeric libraries (torch only when already imported)."""
    import numpy
    import scipy
    import sklearn

    import transferkit

    versions = {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "sklearn": sklearn.__version__,
        "transferkit": transferkit.__version__,
    }
    return versions


def _versions_now() -> dict[str, str]:
    versions = dict(library_versions())
    torch = sys.modules.get("torch")
    if torch is not None:
        versions["torch"] = str(getattr(torch, "__version__", "unknown"))
    return versions


@lru_cache(maxsize=PROBLEM_CACHE_SIZE)
def _cached_problem(dataset: str, source: str, target: str, seed: int, options: str) -> Any:
    return load_problem(dataset, source, target, seed, json.loads(options))


def load_problem(dataset: str, source: str, target: str, seed: int, options: dict[str, Any]) -> Any:
    """The :class:`~transferkit.problem.TransferProblem` of one cell (or, for a dataset of another
    kind, its benchmark task: :func:`transferkit.datasets.load_task`).

    ``options`` go to :func:`transferkit.datasets.load_pair`, except ``pca`` (see
    :func:`project_on_principal_components`) and ``target_labels`` (that many target labels per
    class become visible to the methods, drawn with the seed; they are left out of scoring).
    """
    from transferkit import datasets

    options = dict(options)
    components = options.pop(PCA_OPTION, None)
    revealed = options.pop(TARGET_LABELS_OPTION, None)
    if dataset == FILES_DATASET:
        check_files_unchanged(options)
        sources = as_list(options["source"])
        if len(sources) > 1:
            problem = _multi_source_files(options, sources)
        else:
            problem = _files_problem(options, sources[0])
    else:
        problem = datasets.load_task(dataset, source, target, random_state=seed, **options)
    if not isinstance(problem, TransferProblem) and (components, revealed) != (None, None):
        raise InvalidParameterError(
            f"Dataset {dataset!r} gives {datasets.dataset_kind(dataset)} tasks: the suite options "
            f"{PCA_OPTION!r} and {TARGET_LABELS_OPTION!r} apply to transfer problems only."
        )
    if components is not None:
        problem = project_on_principal_components(problem, components, seed)
    if revealed is not None:
        problem = problem.with_target_labels(revealed, random_state=seed)
    return problem


def _files_problem(options: dict[str, Any], source: str) -> Any:
    """The problem of one source file (or folder) and the target of a files entry."""
    if BACKBONE_OPTION in options:
        from transferkit.deep.folders import problem_from_image_folders

        return problem_from_image_folders(
            source,
            options["target"],
            options.get("test"),
            backbone=None if options[BACKBONE_OPTION] == NO_BACKBONE else options[BACKBONE_OPTION],
            name=FILES_DATASET,
        )
    if TEXT_COLUMN_OPTION in options:
        from transferkit.text import problem_from_text_files, split_languages

        source_language, target_language = split_languages(options.get("language"))
        return problem_from_text_files(
            source,
            options["target"],
            text_column=options[TEXT_COLUMN_OPTION],
            label_column=options.get("label_column", "label"),
            encoder=options.get("encoder", "use"),
            source_language=source_language,
            target_language=target_language,
            name=FILES_DATASET,
            parallel=options.get("parallel"),
            parallel_columns=tuple(options.get("parallel_columns", "source,target").split(",")),
        )
    from transferkit.datasets import problem_from_files

    return problem_from_files(
        source,
        options["target"],
        options.get("test"),
        name=FILES_DATASET,
        feature_spaces=options.get(FEATURE_SPACES_OPTION, "same"),
    )


def _multi_source_files(options: dict[str, Any], sources: list[str]) -> Any:
    """Several source files (or folders) and one target: each source read with the target as
    in a single-source pair, then combined (:func:`transferkit.multisource.combine_pairs`)."""
    from transferkit.multisource import combine_pairs, read_pairs

    pairs = read_pairs(sources, lambda source: _files_problem(options, source))
    metadata = {key: value for key, value in pairs[0].metadata.items() if key != "files"}
    return combine_pairs(
        pairs, source_names=file_names(sources), name=FILES_DATASET, metadata=metadata
    )


def check_files_unchanged(options: dict[str, Any]) -> None:
    """Raise :class:`DataFormatError` when a user's file no longer has the SHA-256 its cells are
    keyed on (it was rewritten after the run started), so that its new contents are never
    stored under the old key.

    Hashed afresh at each load (once per pair and seed per process, see
    :data:`PROBLEM_CACHE_SIZE`), which costs less than the parsing that follows; a cache kept
    across runs could vouch for old bytes after a rewrite that keeps size and time.
    """
    digests = FileDigests()
    for role in ("source", "target", "test", "parallel"):
        expected = options.get(f"{role}_sha256")
        if expected is None:
            continue
        for path, digest in zip(as_list(options[role]), as_list(expected), strict=True):
            if digests.sha256(path) != digest:
                raise DataFormatError(
                    f"{path} changed after the run started (its SHA-256 is no longer "
                    f"{digest[:12]}...); run the command again to benchmark its new contents."
                )


def project_on_principal_components(problem: Any, n_components: int, seed: int) -> Any:
    """The problem with every domain projected on the first principal components of the
    unlabelled source and target rows together (no label is used; sparse data: truncated SVD).

    A cheap, method-independent dimension reduction, so that a suite can run every method on
    high-dimensional data (e.g. 784 pixels) in a short time.
    """
    import numpy as np
    import scipy.sparse as sp
    from sklearn.decomposition import PCA, TruncatedSVD

    if problem.heterogeneous:
        raise InvalidParameterError(
            f"pca = {n_components} projects both domains on one set of components, and "
            f"'{problem.name}' describes them by different features; remove pca from the "
            "suite's [[datasets]] entry (the heterogeneous methods reduce each domain on its own)."
        )
    if problem.is_images:
        raise InvalidParameterError(
            f"pca = {n_components} needs feature matrices, but '{problem.name}' holds images; "
            "remove pca from the suite's [[datasets]] entry."
        )
    limit = min(problem.n_features, problem.n_source + problem.n_target)
    n_components = min(int(n_components), limit)
    if sp.issparse(problem.X_source) or sp.issparse(problem.X_target):
        rows = sp.vstack([sp.csr_matrix(problem.X_source), sp.csr_matrix(problem.X_target)])
        reducer: Any = TruncatedSVD(min(n_components, limit - 1), random_state=seed)
    else:
        rows = np.concatenate([problem.X_source, problem.X_target])
        reducer = PCA(n_components, random_state=seed)
    reducer.fit(rows)
    return problem.map_features(reducer.transform)


def _max_rss_mb() -> float | None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # kilobytes on Linux, bytes on macOS
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def cell_checkpoint(checkpoints: Path, cell: Cell) -> Path:
    """The folder holding ``cell``'s training checkpoints under ``checkpoints``."""
    digest = hashlib.sha1(repr(cell.key).encode()).hexdigest()[:16]
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{cell.method}-{cell.source}-{cell.target}")
    return checkpoints / f"{readable}-{cell.seed}-{digest}"


def _use_checkpoints(method: Any, folder: Path) -> bool:
    """Point every ``checkpoint`` parameter of ``method`` (nested ones too) into ``folder``."""
    get_params = getattr(method, "get_params", None)
    if get_params is None:
        return False
    keys = [k for k in get_params(deep=True) if k == "checkpoint" or k.endswith("__checkpoint")]
    if keys:
        method.set_params(**{key: folder / key for key in keys})
    return bool(keys)


def execute_cell(
    cell: Cell, memory: bool = True, checkpoints: Path | None = None
) -> dict[str, Any]:
    """Run one cell and return its database row; a method's failure becomes an error row.

    A failure to *load the problem* (missing data, a bad dataset option) is raised instead: it
    concerns every method of the pair and needs the user, not a retry.

    With ``checkpoints``, a method that takes checkpoints (the deep ones) writes them in
    :func:`cell_checkpoint`'s folder after every epoch; a cell killed mid-training resumes there
    on the next run, and the folder is deleted once the cell has a result.
    """
    from transferkit.registry import make_method

    try:
        problem = _cached_problem(cell.dataset, cell.source, cell.target, cell.seed, cell.options)
    except TransferKitError as error:
        raise type(error)(
            f"Loading {cell.dataset_label} {cell.source}->{cell.target} (seed {cell.seed}): {error}"
        ) from error

    row: dict[str, Any] = {
        "suite": cell.suite,
        "dataset": cell.dataset,
        "options": cell.options,
        "source": cell.source,
        "target": cell.target,
        "method": cell.method,
        "method_name": cell.method_name,
        "params": cell.params,
        "classifier": cell.classifier,
        "seed": cell.seed,
        "dataset_label": cell.dataset_label,
        "n_source": getattr(problem, "n_source", None),
        "n_target": getattr(problem, "n_target", None),
        "details": None,
    }
    peak = None
    row.update(fit_seconds=None, predict_seconds=None, warnings=None)
    try:
        # built before tracing starts: the first lookup imports every method family
        method = make_method(
            cell.method_name,
            json.loads(cell.params),
            json.loads(cell.classifier),
            random_state=cell.seed,
        )
    except Exception as error:
        method = None
        _record_error(row, cell, error)
    folder = None if checkpoints is None else cell_checkpoint(Path(checkpoints), cell)
    if method is not None and folder is not None and not _use_checkpoints(method, folder):
        folder = None
    if method is not None:
        tracing = memory and not tracemalloc.is_tracing()
        if tracing:
            tracemalloc.start()
        elif memory:
            tracemalloc.reset_peak()
        caught: list[warnings.WarningMessage] = []
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                if isinstance(problem, TransferProblem):
                    if not getattr(method, "handles_different_feature_spaces", False):
                        refuse_different_feature_spaces(problem, f"Method '{cell.method_name}'")
                    if getattr(method, "task_kind", TRANSFER_KIND) != TRANSFER_KIND:
                        raise_kind_mismatch(cell, method, TRANSFER_KIND)
                    if method_spec(cell.method_name).deep:
                        from transferkit.deep.distributed import data_parallel

                        method = data_parallel(method)  # DataParallel under --ddp N (N > 1)
                    _fit_and_score(method, problem, row)
                else:
                    _score_task(cell, method, problem, row)
        except Exception as error:  # a method's failure is a result, recorded with its message
            _record_error(row, cell, error)
        finally:
            if memory:
                peak = tracemalloc.get_traced_memory()[1]
            if tracing:
                tracemalloc.stop()
        row["warnings"] = _summarise_warnings(caught)
        if row["warnings"]:
            logger.debug("cell %s warned: %s", cell.describe(), row["warnings"])
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)  # the cell has its result (or error)
    row.update(
        peak_memory_mb=None if peak is None else peak / 2**20,
        max_rss_mb=_max_rss_mb(),
        versions=_versions_now(),
        hostname=socket.gethostname(),
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    return row


def _fit_and_score(method: Any, problem: Any, row: dict[str, Any]) -> None:
    """Fit, predict and score one method on one problem; timings and accuracy go into ``row``."""
    X_eval, y_eval = problem.evaluation_split()
    start = time.perf_counter()
    if hasattr(method, "score_problem"):
        accuracy = float(method.score_problem(problem))
        row["fit_seconds"] = time.perf_counter() - start
        row["predict_seconds"] = 0.0
    else:
        method.fit(problem)
        row["fit_seconds"] = time.perf_counter() - start
        start = time.perf_counter()
        predicted = method.predict(X_eval)
        row["predict_seconds"] = time.perf_counter() - start
        accuracy = _score(problem, y_eval, predicted)
    row.update(status="ok", accuracy=accuracy, error=None, n_eval=len(y_eval))


def _score_task(cell: Cell, method: Any, task: Any, row: dict[str, Any]) -> None:
    """Score a method on a benchmark task of another kind than transfer (a continual stream,
    few-shot episodes...): ``method.score_problem(task)`` gives the primary score (a fraction)
    and leaves every other number in ``method.details_``, stored as JSON."""
    if getattr(method, "task_kind", TRANSFER_KIND) != task.kind:
        raise_kind_mismatch(cell, method, task.kind)
    start = time.perf_counter()
    score = float(method.score_problem(task))
    row["fit_seconds"] = time.perf_counter() - start
    row["predict_seconds"] = 0.0
    details = getattr(method, "details_", None)
    row.update(
        status="ok",
        accuracy=score,
        error=None,
        n_eval=getattr(task, "n_eval", None),
        details=None if details is None else json.dumps(details, sort_keys=True, default=float),
    )


def raise_kind_mismatch(cell: Cell, method: Any, kind: str) -> None:
    """Raise the error of a method run on a dataset of another kind of task than its own."""
    method_kind = getattr(method, "task_kind", TRANSFER_KIND)
    raise InvalidParameterError(
        f"Method '{cell.method_name}' works on {method_kind} tasks, but dataset "
        f"'{cell.dataset}' gives {kind} tasks; pair it with a dataset of its kind "
        "(`transferkit datasets` lists each dataset's kind)."
    )


def _score(problem: Any, y_eval: Any, predicted: Any) -> float:
    """Accuracy, or the score the problem's metadata names (HOS for an open-set target)."""
    from transferkit.evaluation import problem_score

    return problem_score(problem.metadata, _as_array(y_eval), _as_array(predicted))


def _summarise_warnings(caught: list[warnings.WarningMessage], limit: int = 5) -> str | None:
    """Distinct warnings of a cell, one line each with a count (e.g. non-converged solvers)."""
    counts: dict[str, int] = {}
    for warning in caught:
        text = f"{warning.category.__name__}: {str(warning.message).splitlines()[0][:200]}"
        counts[text] = counts.get(text, 0) + 1
    if not counts:
        return None
    lines = [f"{text} (x{n})" if n > 1 else text for text, n in list(counts.items())[:limit]]
    if len(counts) > limit:
        lines.append(f"... {len(counts) - limit} more kinds")
    return "\n".join(lines)


def _record_error(row: dict[str, Any], cell: Cell, error: BaseException) -> None:
    logger.info("cell %s failed: %s: %s", cell.describe(), type(error).__name__, error)
    row.update(status="error", accuracy=None, error=f"{type(error).__name__}: {error}")


def _as_array(values: Any) -> Any:
    import numpy as np

    return np.asarray(values).ravel()


#: ``prctl`` option asking the kernel to send a signal when the parent process dies (linux/prctl.h).
PR_SET_PDEATHSIG = 1
#: Seconds between two looks at the parent, where ``prctl`` is unavailable (not Linux).
PARENT_POLL_SECONDS = 1.0
#: Seconds a stopped worker gets to exit on SIGTERM before it is killed.
WORKER_STOP_SECONDS = 5.0


def exit_with_parent(parent: int) -> None:
    """End this process as soon as process ``parent`` dies, even if it dies by SIGKILL.

    On Linux the kernel sends this process SIGKILL when its parent dies
    (``prctl(PR_SET_PDEATHSIG)``): it arrives at once, even while a cell is deep in a solver
    that holds the GIL, and costs no thread. Elsewhere a daemon thread looks at ``os.getppid()``
    every :data:`PARENT_POLL_SECONDS`. A worker has nothing to save (only the parent writes
    results, and checkpoints are replaced atomically), so it exits without cleaning up.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
        if armed:
            if os.getppid() != parent:  # the parent died before the request was made
                os._exit(1)
            return
    threading.Thread(
        target=_exit_when_orphaned, args=(parent,), name="transferkit-parent-watch", daemon=True
    ).start()


def _exit_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)


def _init_worker(
    threads: int,
    parent: int | None = None,
    deep: bool = True,
    methods: Sequence[tuple[str, str, str]] = (),
) -> None:
    """Set up a worker process: it dies with ``parent``, leaves Ctrl-C to the parent (which stops
    it), and runs ``threads`` BLAS/OpenMP/torch threads with the method families imported (the
    torch ones only when ``deep``: a run of shallow methods never pays torch's import) and the
    trial fit of each of ``methods`` made (:func:`warm_up`)."""
    if parent is not None:
        exit_with_parent(parent)
    # a terminal sends Ctrl-C to the whole process group; the parent records what finished and
    # stops the workers, so a worker must not die half-way through sending a result
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    reuse_freed_memory()
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)
    from transferkit.registry import available_methods

    available_methods(include_deep=deep)  # import the families once, before any cell is timed
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    for method_name, params, classifier in methods:
        warm_up(method_name, params, classifier)


@contextmanager
def thread_limits(threads: int) -> Iterator[None]:
    """Limit BLAS/OpenMP (and torch, if imported) to ``threads`` threads inside the block.

    Every cell runs under the same limit whether it runs here or in a worker process, so the
    numbers do not depend on ``jobs`` (a BLAS reduction split over more threads may round
    differently, and iterative methods such as Sinkhorn can amplify that).
    """
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    torch_threads = torch.get_num_threads() if torch is not None else None
    with threadpool_limits(limits=threads):
        if torch is not None:
            torch.set_num_threads(threads)
        try:
            yield
        finally:
            if torch is not None:
                torch.set_num_threads(torch_threads)


# --------------------------------------------------------------------- the suite
def pending_cells(
    suite: Suite, store: ResultStore, retry_errors: bool = False
) -> tuple[list[Cell], int]:
    """The cells still to run, and how many are already stored."""
    statuses = store.statuses(suite.name)
    pending = []
    for cell in suite.cells():
        status = statuses.get(cell.key)
        if status is None or (status == "error" and retry_errors):
            pending.append(cell)
    return pending, len(suite.cells()) - len(pending)


def run_suite(
    suite: str | Path | Suite,
    *,
    db: str | os.PathLike[str] | None = None,
    methods: Sequence[str] | None = None,
    pairs: Sequence[tuple[str, str] | str] | None = None,
    seeds: Sequence[int] | None = None,
    jobs: int = 1,
    progress: ProgressCallback | None = None,
    retry_errors: bool = False,
    files: tuple[str | Path | Sequence[str | Path], str | Path, str | Path | None] | None = None,
    text: Mapping[str, str] | None = None,
    memory: bool = True,
    threads: int = 1,
    scheduler: str | None = None,
    feature_spaces: str = "same",
    reveal: int = 0,
    backbone: str | None = None,
) -> ResultsTable:
    """Run every cell of ``suite`` not yet in the database and return the table of its cells.

    Parameters
    ----------
    suite : str or Path or Suite
        A built-in suite name, a path to a TOML suite, or a :class:`Suite`.
    db : path or None, default None
        The SQLite results database; None: ``$TRANSFERKIT_RESULTS``, else
        ``./transferkit-results.sqlite``.
    methods, pairs, seeds : sequences or None
        Restrict the run (method labels or registered names; ``"source:target"`` strings or
        tuples; seeds). None: the suite's own.
    jobs : int, default 1
        Worker processes (spawned; each limited to one BLAS thread). Only this process writes.
    progress : callable or None
        ``progress(done, total, row)``, see :data:`ProgressCallback`.
    retry_errors : bool, default False
        Run again the cells stored with status "error".
    files : (source, target, test or None) or None
        Run the suite's methods on a user's own pair of files instead of its datasets; a
        sequence of sources makes a multi-source problem (see :meth:`Suite.with_files`).
    text : mapping or None
        ``text_column`` (and ``label_column``, ``encoder``, ``language``, ``parallel``...; see
        :meth:`Suite.with_files`): ``files`` are CSV/TSV files of texts.
    feature_spaces : {"same", "different"}, default "same"
        With ``files``: "different" reads the source and the target as described by different
        features (heterogeneous transfer), see :func:`transferkit.datasets.problem_from_files`.
    reveal : int, default 0
        With ``files``: that many labels per class of the target file become visible to the
        methods (drawn with each seed, left out of scoring), as for hda_cca or target_only.
    backbone : str or None, default None
        With ``files`` that are folders of images (one sub-folder per class): the pre-trained
        CNN whose features describe them (default ``"mobilenet_v2"``), or ``"none"``: the
        images themselves, for the methods that train on images (finetune, backbone_head...).
    memory : bool, default True
        Measure each cell's peak Python/numpy allocation with ``tracemalloc``.
    threads : int, default 1
        BLAS/OpenMP/torch threads per cell, the same in this process and in workers, so that
        ``jobs`` never changes a number. Raise it for a serial run of a few large cells.
    scheduler : str or None, default None
        Run the cells on a Dask cluster instead (``pip install 'transferkit[distributed]'``):
        ``"local:N"`` starts N worker processes here, ``"tcp://host:8786"`` uses a running
        scheduler. This process still writes every result, as it arrives; ``jobs`` must then be
        1. A worker that dies gives its cell back to the queue (see
        :mod:`transferkit.bench.distributed`); a cell whose workers keep dying is stored as an
        error.

    Returns
    -------
    ResultsTable
        The stored results of the requested cells (including ones finished by earlier runs).

    Examples
    --------
    >>> from transferkit.bench import run_suite            # doctest: +SKIP
    >>> table = run_suite("demo", db="results.sqlite")      # doctest: +SKIP
    >>> print(table.to_markdown())                          # doctest: +SKIP
    """
    for name, value in (("jobs", jobs), ("threads", threads)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidParameterError(f"{name} must be an integer >= 1, got {value!r}.")
    if scheduler is not None:
        check_scheduler(scheduler)
        if jobs != 1:
            raise InvalidParameterError(
                f"jobs={jobs} and scheduler={scheduler!r}: give one of them (local:{jobs} runs "
                f"{jobs} worker processes on Dask)."
            )
    suite = load_suite(suite)
    if files is not None:
        suite = suite.with_files(
            *files,
            digests=FileDigests(),
            text=text,
            feature_spaces=feature_spaces,
            reveal=reveal,
            backbone=backbone,
        )
    elif feature_spaces != "same" or reveal or backbone is not None:
        raise InvalidParameterError(
            "feature_spaces, reveal and backbone apply to a run on files: give files=(source, "
            "target, test) too (a suite's datasets take their options in the suite file)."
        )
    suite = suite.select(methods=methods, pairs=pairs, seeds=seeds)
    if files is not None:
        suite.check_runs_on_files()
    unwinds = jobs > 1 or scheduler is not None
    with sigterm_unwinds() if unwinds else nullcontext(), ResultStore(db) as store:
        pending, done = pending_cells(suite, store, retry_errors)
        logger.info(
            "suite %s: %d cells, %d already stored, %d to run with %d job(s)",
            suite.name,
            done + len(pending),
            done,
            len(pending),
            jobs,
        )
        # deep cells checkpoint every epoch beside the database: a killed run resumes mid-cell
        checkpoints = store.path.with_name(store.path.name + ".checkpoints")
        if pending:
            if progress is not None:
                progress(0, len(pending), None)
            if scheduler is not None:
                _run_on_cluster(pending, store, progress, memory, threads, checkpoints, scheduler)
            elif jobs == 1:
                with thread_limits(threads):
                    _run_serial(pending, store, progress, memory, checkpoints)
            else:
                _run_parallel(pending, store, progress, memory, jobs, threads, checkpoints)
        rows = store.rows(suite.name)
    return ResultsTable.from_rows(rows, suite, cells={c.key for c in suite.cells()})


def _run_serial(
    cells: list[Cell],
    store: ResultStore,
    progress: ProgressCallback | None,
    memory: bool,
    checkpoints: Path | None = None,
) -> None:
    for done, cell in enumerate(cells, start=1):
        row = execute_cell(cell, memory, checkpoints)
        store.record(row)
        if progress is not None:
            progress(done, len(cells), row)


def _run_parallel(
    cells: list[Cell],
    store: ResultStore,
    progress: ProgressCallback | None,
    memory: bool,
    jobs: int,
    threads: int,
    checkpoints: Path | None = None,
) -> None:
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    others = set(multiprocessing.active_children())
    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(cells)),
        mp_context=context,
        initializer=_init_worker,
        initargs=(
            threads,
            os.getpid(),
            any(method_spec(c.method_name).deep for c in cells),
            suite_methods(cells),
        ),
    )
    submitted = [pool.submit(execute_cell, cell, memory, checkpoints) for cell in cells]
    # every worker is started by now (one per submitted cell, up to max_workers)
    workers = [p for p in multiprocessing.active_children() if p not in others]
    recorded: set[Future[dict[str, Any]]] = set()
    try:
        waiting = set(submitted)
        while waiting:
            finished, waiting = wait(waiting, return_when=FIRST_COMPLETED)
            for future in finished:
                row = future.result()  # a problem that cannot be loaded stops the run
                store.record(row)
                recorded.add(future)
                if progress is not None:
                    progress(len(recorded), len(cells), row)
    except BaseException as error:
        if isinstance(error, Exception):
            # a cell's problem failed to load: let the running cells finish and keep them
            pool.shutdown(wait=True, cancel_futures=True)
        else:
            # Ctrl-C or SIGTERM: stop now; the running cells are lost, their checkpoints kept
            _stop_workers(pool, workers)
        # keep what the other workers finished before the run stopped
        for future in submitted:
            if future in recorded or not future.done() or future.cancelled():
                continue
            if future.exception() is None:
                store.record(future.result())
        raise
    pool.shutdown(wait=True)


def execute_cell_on_worker(
    cell: Cell,
    memory: bool,
    checkpoints: Path | None,
    threads: int,
    methods: Sequence[tuple[str, str, str]] = (),
) -> dict[str, Any]:
    """:func:`execute_cell` in a Dask worker, under the same thread limits as a local run,
    after the worker's trial fits of ``methods`` (see :func:`warm_up`).

    Checkpoints go beside the database only where the worker sees the database's folder (a file
    system shared with the driver); elsewhere a killed deep cell starts over.
    """
    if checkpoints is not None and not Path(checkpoints).parent.is_dir():
        checkpoints = None
    reuse_freed_memory()
    with thread_limits(threads):
        for method_name, params, classifier in methods:
            warm_up(method_name, params, classifier)
        return execute_cell(cell, memory, checkpoints)


def suite_methods(cells: Sequence[Cell]) -> tuple[tuple[str, str, str], ...]:
    """(method name, params, classifier) of each distinct method and classifier of ``cells``,
    with the parameters of its first cell."""
    first: dict[tuple[str, str], str] = {}
    for cell in cells:
        first.setdefault((cell.method_name, cell.classifier), cell.params)
    return tuple((name, params, classifier) for (name, classifier), params in first.items())


#: (method name, classifier) pairs this process has fitted once in :func:`warm_up`.
WARMED_UP: set[tuple[str, str]] = set()


def warm_up(method_name: str, params: str, classifier: str) -> None:
    """Fit a shallow method once on a tiny problem, untimed and untraced, in a fresh worker.

    A method imports some of its libraries on first use (``ot`` imports POT, which imports
    torch): seconds of imports, and many times that under ``tracemalloc``. The driver made
    those imports when it validated the suite, by a trial fit of each method; a worker makes
    the same trial fits of every method of the run before its first cell, so that no cell
    counts them in its time or its peak memory. Once per method and classifier per process;
    any failure is left to the real cells; deep methods are not trained here.
    """
    if (method_name, classifier) in WARMED_UP:
        return
    WARMED_UP.add((method_name, classifier))
    from transferkit.datasets import make_shifted_blobs
    from transferkit.registry import make_method, method_spec

    try:
        spec = method_spec(method_name)
        if spec.deep:
            return
        rows, features = PROBE_SHAPE
        problem = make_shifted_blobs(
            n_samples=rows, n_features=features, n_classes=2, n_test=rows, random_state=0
        )
        if spec.needs_target_labels:
            problem = problem.with_target_labels(2, random_state=0)
        method = make_method(method_name, json.loads(params), json.loads(classifier), 0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            method.fit(problem)
    except Exception:  # noqa: BLE001 - the cells themselves report what fails on their data
        logger.debug("warm-up fit of %s failed", method_name, exc_info=True)


def lost_cell_row(cell: Cell, message: str) -> dict[str, Any]:
    """The error row of a cell that produced no row of its own (its workers kept dying)."""
    row: dict[str, Any] = dict(zip(KEY_COLUMNS, cell.key, strict=True))
    row.update(
        dataset_label=cell.dataset_label,
        status="error",
        accuracy=None,
        error=message,
        versions=_versions_now(),
        hostname=socket.gethostname(),
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    return row


def _run_on_cluster(
    cells: list[Cell],
    store: ResultStore,
    progress: ProgressCallback | None,
    memory: bool,
    threads: int,
    checkpoints: Path | None,
    scheduler: str,
) -> None:
    """The cells on a Dask cluster; this process stores each row as its future completes."""
    with dask_client(scheduler, threads) as client:
        futures = submit_in_order(
            client,
            execute_cell_on_worker,
            cells,
            memory=memory,
            checkpoints=checkpoints,
            threads=threads,
            methods=suite_methods(cells),
        )
        cell_of = {future.key: cell for future, cell in zip(futures, cells, strict=True)}
        recorded: set[str] = set()
        try:
            for future in completed(futures):
                error = future.exception()
                if is_lost_worker(error):
                    row = lost_cell_row(cell_of[future.key], lost_worker_message(error))
                else:
                    row = future.result()  # a problem that cannot be loaded stops the run
                store.record(row)
                recorded.add(future.key)
                if progress is not None:
                    progress(len(recorded), len(cells), row)
        except BaseException:
            # Ctrl-C, SIGTERM or a problem that failed to load: nothing more starts, and what
            # finished in the meantime is kept
            cancel_unfinished(client, futures)
            for future in futures:
                if future.key not in recorded and future.status == "finished":
                    store.record(future.result())
            raise


def _stop_workers(pool: ProcessPoolExecutor, workers: list[Any]) -> None:
    """Cancel the cells not started, end the worker processes and wait until they are gone."""
    terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        terminate()
    else:
        for worker in workers:
            worker.terminate()
    pool.shutdown(wait=True, cancel_futures=True)
    for worker in workers:
        worker.join(WORKER_STOP_SECONDS)
        if worker.is_alive():
            worker.kill()
            worker.join()


class _Terminated(BaseException):
    """SIGTERM arrived during a parallel run (never leaves this module)."""


@contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """Inside the block, SIGTERM unwinds the run like Ctrl-C, so that the workers are stopped and
    every finished cell is stored; then the signal is delivered again with its default action,
    and the process ends as SIGTERM would have ended it.

    ``timeout``, job schedulers and ``docker stop`` send SIGTERM; its default action would end
    this process at once and leave its worker processes running. Nothing changes where this
    is not the main thread, or where the program has its own SIGTERM handler (or ignores it).
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return

    def unwind(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut the clean-up
        raise _Terminated

    signal.signal(signal.SIGTERM, unwind)
    try:
        yield
    except _Terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        raise SystemExit(128 + signal.SIGTERM) from None  # if the signal is slow to arrive
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def results_table(
    db: str | os.PathLike[str] | None, suite: str | Path | Suite, metric: str | None = None
) -> ResultsTable:
    """The table of everything stored for ``suite`` (showing ``details[metric]`` instead of the
    primary score when given: :meth:`ResultsTable.with_metric`).

    With a suite definition (a :class:`Suite`, a built-in name or a TOML path), only rows matching
    its current datasets, options, methods, parameters and classifiers are shown, plus runs on the
    user's own files and registered methods the suite does not hold run by name with their
    defaults (``--methods NAME``); with a bare suite name that no definition matches, every row
    of that name.
    """
    with ResultStore(db, create=False) as store:
        if isinstance(suite, Suite):
            return ResultsTable.from_rows(store.rows(suite.name), suite).with_metric(metric)
        try:
            definition = load_suite(suite)
        except TransferKitError:
            rows = store.rows(str(suite))
            if not rows:
                names = ", ".join(s["suite"] for s in store.suites()) or "none"
                raise InvalidParameterError(
                    f"No results for suite '{suite}' in {store.path}. Stored suites: {names}."
                ) from None
            return ResultsTable.from_rows(rows, None).with_metric(metric)
        table = ResultsTable.from_rows(store.rows(definition.name), definition)
    return table.with_metric(metric)
