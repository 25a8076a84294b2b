"""One way to run many independent tasks: a pool of processes with a progress bar.

Callers hand over a picklable function and an iterable of work items and get results
back as they finish (in completion order). Keeping submission bounded keeps memory
flat for tens of thousands of items. Nothing here knows what a task does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import TypeVar

from tqdm import tqdm

Item = TypeVar("Item")
Result = TypeVar("Result")


def default_workers() -> int:
    """All cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def map_unordered(
    func: Callable[[Item], Result],
    items: Iterable[Item],
    *,
    workers: int | None = None,
    total: int | None = None,
    desc: str = "",
    progress: bool = True,
) -> Iterator[Result]:
    """Yield ``func(item)`` for every item, as each finishes, showing count, rate and ETA.

    ``func`` must not raise for expected failures: return them as results so the run
    goes on. With ``workers=1`` everything runs in this process (easy to debug).
    """
    workers = workers or default_workers()
    bar = tqdm(total=total, desc=desc, unit="task", disable=not progress, smoothing=0.05, dynamic_ncols=True)
    try:
        if workers == 1:
            for item in items:
                result = func(item)
                bar.update()
                yield result
            return
        with ProcessPoolExecutor(max_workers=workers) as pool:
            pending: set[Future] = set()
            queue = iter(items)
            for item in queue:
                pending.add(pool.submit(func, item))
                if len(pending) >= 4 * workers:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        bar.update()
                        yield future.result()
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    bar.update()
                    yield future.result()
    finally:
        bar.close()
