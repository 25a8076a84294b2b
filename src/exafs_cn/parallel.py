"""One way to run many independent tasks: local processes or a Dask cluster.

Callers hand over a picklable function and an iterable of work items and get results
back as they finish (in completion order), with a progress bar (count, rate, ETA) on
the client. Submission is bounded so memory stays flat for tens of thousands of items.
Nothing here knows what a task does.

Schedulers (``scheduler=``):

* ``None``: a local process pool (``workers`` processes);
* ``"local:N"``: a ``distributed.LocalCluster`` of N single-threaded worker processes;
* ``"tcp://host:port"`` (or any address Dask accepts): an existing Dask scheduler,
  e.g. one started by dask-jobqueue on Slurm/PBS.

On Dask, a task whose worker dies is re-run elsewhere; after the scheduler's bounded
number of attempts (``distributed.scheduler.allowed-failures``, set from ``retries``)
it is given to ``on_error``, whose return value is yielded like a result, so a lost
worker costs only its own tasks.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import closing, contextmanager
from functools import partial
from typing import TypeVar

from threadpoolctl import ThreadpoolController
from tqdm import tqdm

from exafs_cn.exceptions import SchedulerError

Item = TypeVar("Item")
Result = TypeVar("Result")

#: How often Dask may lose a worker while it runs one task before giving it up.
DEFAULT_RETRIES = 2


def lost_reason(exc: BaseException) -> str:
    """The recorded reason for a task that raised or was lost with its worker."""
    return f"worker lost or task error: {type(exc).__name__}: {' '.join(str(exc).split())[:150]}"


def default_workers() -> int:
    """All cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def map_unordered(
    func: Callable[[Item], Result],
    items: Iterable[Item],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    total: int | None = None,
    desc: str = "",
    progress: bool = True,
    on_error: Callable[[Item, BaseException], Result] | None = None,
    retries: int = DEFAULT_RETRIES,
    ahead: int = 4,
) -> Iterator[Result]:
    """Yield ``func(item)`` for every item, as each finishes.

    ``func`` should return expected failures as results. ``on_error`` turns what it
    could not (a task lost with its worker, an unexpected exception) into a result;
    without it such an exception propagates. A local pool keeps ``ahead`` tasks per worker
    submitted, so that its workers go on while the caller works on what came back.
    """
    bar = tqdm(total=total, desc=desc, unit="task", disable=not progress, smoothing=0.05, dynamic_ncols=True)
    try:
        if scheduler:
            runner = _dask_map(func, items, scheduler, on_error, retries)
        elif (workers or default_workers()) == 1:
            runner = _serial_map(func, items, on_error)
        else:
            runner = _pool_map(func, items, workers or default_workers(), on_error, ahead)
        # closing(): a caller that leaves early (Ctrl-C, an error, or it has what it needs) shuts the
        # pool or cluster down as this generator is closed, not whenever the runner is collected.
        with closing(runner):
            for result in runner:
                bar.update()
                yield result
    finally:
        bar.close()


def _outcome(get: Callable[[], Result], item, on_error) -> Result:
    """The task's result, or what ``on_error`` makes of its exception."""
    try:
        return get()
    except Exception as exc:  # a task that raised, or one lost with its worker
        if on_error is None:
            raise
        return on_error(item, exc)


def _serial_map(func, items, on_error) -> Iterator:
    for item in items:
        yield _outcome(partial(func, item), item, on_error)


def _start_worker() -> None:
    """Pool workers leave Ctrl-C to the client, which stops the run and keeps its shards, and
    end when the client has ended.

    A worker the executor does not end (its client killed, or a worker it lost track of, as a
    Ctrl-C in the middle of a fork once made it: ``_interrupts_held``) ignores Ctrl-C and would
    wait on its task queue for ever, holding the client's stdout open, so that whoever reads it
    to the end hangs. Each worker therefore watches its parent and leaves when it is gone.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), name="exafs-cn parent watch", daemon=True).start()


def _exit_with_parent(parent: int, every_s: float = 0.5) -> None:
    while os.getppid() == parent:
        time.sleep(every_s)
    os._exit(1)


def _one_thread_each(func: Callable[[Item], Result], item: Item) -> Result:
    """``func(item)`` with BLAS and OpenMP held to one thread.

    The pool already runs one worker per core. A forked worker inherits its parent's
    BLAS thread pool (one thread per core), so every LAPACK call (Larch's pre_edge
    fits a polynomial) would put cores x cores threads on the cores, busy-waiting on
    each other: featurizing synthetic mixtures, which all go through pre_edge, ran 3x
    slower for it. Dask's nanny sets the same limit for its workers by environment.
    """
    with _thread_pools().limit(limits=1):
        return func(item)


#: This process's threadpoolctl controller and the number of modules loaded when it was made.
_THREAD_POOLS: tuple[int, ThreadpoolController] | None = None


def _thread_pools() -> ThreadpoolController:
    """The thread pools of the libraries this process has loaded, found again only after new
    modules were imported (an extension module may bring a pool of its own): finding them
    scans every loaded library, ~2 ms, which per task was 6% of a batch of measured spectra."""
    global _THREAD_POOLS
    loaded = len(sys.modules)
    if _THREAD_POOLS is None or _THREAD_POOLS[0] != loaded:
        _THREAD_POOLS = (loaded, ThreadpoolController())
    return _THREAD_POOLS[1]


@contextmanager
def _interrupts_held():
    """Ctrl-C held back while the executor's own code runs in this thread (a submit: the first
    forks the workers; a wait on the futures), then delivered here. A worker forked while a
    Ctrl-C reached the process group took it before its initializer could ignore it ("Exception
    ignored in _afterFork"), and the run went on to the end without stopping (seen once on
    Python 3.13); with the signal blocked, the workers are born with it blocked, ignore it, and
    the client stops with its one line.

    Blocking it in this thread does not hold it off in the client: the kernel hands it to another
    of the client's threads (the executor's manager, a BLAS pool), Python's handler still raises
    KeyboardInterrupt here, and one raised between a fork and the executor's record of the new
    worker leaves a worker nobody ends, which the client waits for at exit (about one interrupted
    run in ten hung so). So the client's own handler is set aside too: the Ctrl-C is recorded and
    raised once the workers exist."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no signal masks (and no fork)
        yield
        return
    held: list[int] = []
    handler = signal.getsignal(signal.SIGINT) if threading.current_thread() is threading.main_thread() else None
    if callable(handler):  # Python's handler (not SIG_IGN, SIG_DFL, or a thread that cannot set one)
        signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        if callable(handler):
            signal.signal(signal.SIGINT, handler)
    if held:
        raise KeyboardInterrupt


def _pool_map(func, items, workers: int, on_error, ahead: int = 4) -> Iterator:
    with ProcessPoolExecutor(max_workers=workers, initializer=_start_worker) as pool:
        pending: dict[Future, object] = {}
        try:
            for item in items:
                with _interrupts_held():
                    future = pool.submit(_one_thread_each, func, item)
                pending[future] = item
                if len(pending) >= ahead * workers:
                    yield from _finished(pending, on_error)
            while pending:
                yield from _finished(pending, on_error)
        except BaseException:  # Ctrl-C, or the caller stopped early (GeneratorExit): queued tasks are dropped, not run
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _finished(pending: dict[Future, object], on_error) -> Iterator:
    # A Ctrl-C is held while wait() takes the futures' locks one by one: raised in there, it could
    # leave one taken, which the executor's manager thread would then wait on for ever, and the
    # client with it at shutdown (a hazard read from concurrent.futures, not one seen to happen).
    # Waits of a tenth of a second keep Ctrl-C as quick as it was.
    done: set[Future] = set()
    while not done:
        with _interrupts_held():
            done, _ = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
    for future in done:
        yield _outcome(future.result, pending.pop(future), on_error)


def check_scheduler(scheduler: str | None) -> None:
    """Reject a malformed ``--scheduler`` before any work or output starts."""
    if scheduler is None:
        return
    if scheduler.startswith("local:"):
        count = scheduler.split(":", 1)[1]
        if not count.isdigit() or int(count) < 1:
            raise SchedulerError(f"--scheduler {scheduler}: expected local:N with N a number of workers")
    elif "://" not in scheduler:
        raise SchedulerError(f"--scheduler {scheduler}: expected local:N or a scheduler address like tcp://host:8786")


@contextmanager
def dask_client(scheduler: str, retries: int = DEFAULT_RETRIES):
    """A connected ``distributed.Client`` for ``local:N`` or a scheduler address."""
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": retries}):
        cluster = None
        try:
            check_scheduler(scheduler)
            if scheduler.startswith("local:"):
                cluster = LocalCluster(
                    n_workers=int(scheduler.split(":", 1)[1]), threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0", host="127.0.0.1"
                )
                client = Client(cluster)
            else:
                try:
                    client = Client(scheduler, timeout="10s")
                except OSError as exc:
                    raise SchedulerError(f"--scheduler {scheduler}: cannot reach it ({exc})") from None
            print(f"Dask dashboard: {client.dashboard_link}", file=sys.stderr)
            try:
                yield client
            finally:
                client.close()
        finally:
            if cluster is not None:
                cluster.close()


def _dask_map(func, items, scheduler: str, on_error, retries: int) -> Iterator:
    from distributed import as_completed

    with dask_client(scheduler, retries) as client:
        window = 4 * max(1, len(client.scheduler_info()["workers"]))
        queue = iter(items)
        pending = as_completed()
        owners: dict[str, object] = {}

        def submit_next() -> None:
            for item in queue:
                future = client.submit(func, item, pure=False)
                owners[future.key] = item
                pending.add(future)
                return

        for _ in range(window):
            submit_next()
        for future in pending:
            result = _outcome(future.result, owners.pop(future.key), on_error)
            future.release()
            submit_next()
            yield result
