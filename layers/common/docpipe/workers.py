"""Worker threads kept for the life of the container, like the clients (docpipe.clients).

Starting a thread costs little on an idle machine but several milliseconds while the CPU is busy (the new
thread must be scheduled before ``start()`` returns): a pool created per invocation paid that for each of
its workers on every document. A warm container reuses these. Deployed, a container runs one invocation
at a time, so a pool of N workers bounds that invocation's concurrency to N; offline, where the handlers
of concurrent executions share one process, they share the workers too (bounding them all together).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_lock = threading.Lock()
_pools: dict[tuple[str, int], ThreadPoolExecutor] = {}


def pool(name: str, workers: int) -> ThreadPoolExecutor:
    """The container's pool called ``name`` with ``workers`` threads (started as work arrives)."""
    with _lock:
        found = _pools.get((name, workers))
        if found is None:
            found = _pools[(name, workers)] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        return found


def map_in_order(name: str, workers: int, work: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``[work(item) for item in items]`` on the pool, results in order; on the first error the items not
    yet started are cancelled and the error is raised."""
    executor = pool(name, workers)
    futures: list[Future] = [executor.submit(work, item) for item in items]
    try:
        return [future.result() for future in futures]
    except BaseException:
        for future in futures:
            future.cancel()
        raise
