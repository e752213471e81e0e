"""Thread pools for work that releases the GIL (pyproj, scipy's k-d tree, numpy).

Two separate pools, so that a task of :func:`run_together` may itself cut its arrays
into slices with :func:`map_slices` without waiting on its own pool.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

#: Number of threads per pool: one per core.
CORES = os.cpu_count() or 1


@cache
def _pool(name: str) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=CORES, thread_name_prefix=f"geo-{name}")


def map_slices(fn: Callable[[int, int], Any], n: int) -> list[Any]:
    """Call ``fn(start, stop)`` on one slice of ``range(n)`` per core, in parallel."""
    step = max(1, -(-n // CORES))
    starts = range(0, n, step)
    return list(_pool("slices").map(lambda lo: fn(lo, min(lo + step, n)), starts))


def each_in_parallel(fn: Callable[[int], None], n: int) -> None:
    """Call ``fn(0)`` … ``fn(n - 1)`` spread over the cores (for calls that release the
    GIL and write to disjoint places)."""
    list(_pool("slices").map(fn, range(n)))


def run_together(*calls: Callable[[], Any]) -> list[Any]:
    """Run independent calls in parallel threads; return their results in order.

    The calls must not share lazily built state (build it before), and must not call
    :func:`run_together` themselves (its threads would wait on each other).
    """
    if CORES == 1:
        return [call() for call in calls]
    futures = [_pool("tasks").submit(call) for call in calls]
    return [future.result() for future in futures]
