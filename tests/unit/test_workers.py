"""The container-wide worker pools (docpipe.workers): order, errors, reuse across invocations.

The work items coordinate through events (which one finishes first, which run together), never through
sleeps, so the tests say the same on an idle machine and on a saturated one. A wait's timeout only bounds a
hang."""

import threading

import pytest

from docpipe import workers

BOUND = 60  # seconds: only ever reached if the code under test hangs


def test_results_come_back_in_order_however_the_work_finishes():
    # items 0-3 run at once on 4 workers and finish in reverse order: 3 first, then 2, 1, 0 (item 4 follows)
    finished = [threading.Event() for _ in range(5)]
    order: list[int] = []

    def reverse(n):
        if n < 3:
            assert finished[n + 1].wait(BOUND), f"item {n + 1} never finished"
        order.append(n)
        finished[n].set()
        return n * n

    assert workers.map_in_order("test-order", 4, reverse, range(5)) == [0, 1, 4, 9, 16]
    assert order.index(3) < order.index(2) < order.index(1) < order.index(0)  # finished out of order


def test_the_pool_and_its_threads_are_reused_by_later_calls():
    seen: set[int] = set()
    together = threading.Barrier(2, timeout=BOUND)  # items run in pairs: both workers are started

    def record(_):
        seen.add(threading.get_ident())
        together.wait()

    workers.map_in_order("test-reuse", 2, record, range(6))
    first = set(seen)
    workers.map_in_order("test-reuse", 2, record, range(6))
    assert workers.pool("test-reuse", 2) is workers.pool("test-reuse", 2)
    assert len(first) == 2 and seen == first  # the same two threads: none started for the second call


def test_an_error_cancels_the_items_not_started_and_is_raised():
    started: list[int] = []
    one_is_running, release = threading.Event(), threading.Event()

    def work(n):
        started.append(n)
        if n == 0:
            assert one_is_running.wait(BOUND)
            raise ValueError("item 0 failed")
        one_is_running.set()
        assert release.wait(BOUND)  # the other workers stay busy until the error has been raised
        return n

    with pytest.raises(ValueError, match="item 0 failed"):
        workers.map_in_order("test-errors", 2, work, range(50))
    release.set()
    workers.pool("test-errors", 2).submit(lambda: None).result(BOUND)  # the queue behind it has drained
    # item 1 was running; the worker freed by item 0 may have taken item 2 before the cancel: no others ran
    assert set(started) <= {0, 1, 2} and {0, 1} <= set(started)
