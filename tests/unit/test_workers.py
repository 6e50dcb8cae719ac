"""The container-wide worker pools (docpipe.workers): order, errors, reuse across invocations."""

import threading
import time

import pytest

from docpipe import workers


def test_results_come_back_in_order_however_the_work_finishes():
    def slow_for_small(n):
        time.sleep(0.01 * (5 - n))
        return n * n

    assert workers.map_in_order("test-order", 4, slow_for_small, range(5)) == [0, 1, 4, 9, 16]


def test_the_pool_and_its_threads_are_reused_by_later_calls():
    seen: set[int] = set()

    def record(_):
        seen.add(threading.get_ident())
        time.sleep(0.005)

    workers.map_in_order("test-reuse", 2, record, range(6))
    first = set(seen)
    workers.map_in_order("test-reuse", 2, record, range(6))
    assert workers.pool("test-reuse", 2) is workers.pool("test-reuse", 2)
    assert len(first) <= 2 and seen == first  # the same two threads: none started for the second call


def test_an_error_cancels_the_items_not_started_and_is_raised():
    started = []

    def work(n):
        started.append(n)
        time.sleep(0.02 if n == 0 else 0.01)
        if n == 0:
            raise ValueError("item 0 failed")
        return n

    with pytest.raises(ValueError, match="item 0 failed"):
        workers.map_in_order("test-errors", 2, work, range(50))
    time.sleep(0.05)
    assert len(started) < 10  # the queued items were cancelled, not run after the failure
