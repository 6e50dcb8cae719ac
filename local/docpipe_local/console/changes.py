"""Knowing the moment an execution records a history event, without polling every execution.

moto's ASL interpreter records each history event through ``EventManager.add_event`` (moto internals: the
public API only answers GetExecutionHistory when asked). The console wraps it to ring a bell after the event
is recorded; the console's watcher then reads what changed through the public API. The canary test
tests/console/test_changes.py fails if moto stops calling it.
"""

from __future__ import annotations

import functools
import threading
from typing import Callable

from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager

_listeners: list[Callable[[], None]] = []
_lock = threading.Lock()


def _install() -> None:
    if getattr(EventManager.add_event, "docpipe_ring", False):
        return
    original = EventManager.add_event

    @functools.wraps(original)
    def add_event(self, *args, **kwargs):
        event_id = original(self, *args, **kwargs)
        for listener in list(_listeners):
            listener()
        return event_id

    add_event.docpipe_ring = True
    EventManager.add_event = add_event


def subscribe(listener: Callable[[], None]) -> Callable[[], None]:
    """Call `listener` (cheaply: it runs on the interpreter's thread) after every history event; returns the
    function that unsubscribes."""
    with _lock:
        _install()
        _listeners.append(listener)

    def unsubscribe() -> None:
        with _lock:
            if listener in _listeners:
                _listeners.remove(listener)
    return unsubscribe
