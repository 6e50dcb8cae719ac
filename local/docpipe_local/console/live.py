"""From the runtime to open pages: a watcher thread that reads what changed when an execution records an event,
and a broker that hands each page's server-sent-event stream its messages on the server's event loop.

The watcher wakes on moto's history events (:mod:`.changes`) while a page is open, waits a few milliseconds
so that a burst of events is read once, and reads what changed; every second it also looks for changes that
record no history event (a delete), whether a page is open or not. A finished document commits the offline
state, as `docpipe run` does after each one.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from docpipe_local.console import changes, history
from docpipe_local.console.catalog import Catalog, Row

COALESCE_SECONDS = 0.03  # a burst of history events (a state exits, the next enters) is read once
IDLE_SECONDS = 2.0  # the rows are read again at least this often
WHOLE_LEDGER_SECONDS = 30.0  # and the whole documents table and inbox (besides after uploads and deletes)
# The table's running rows (their current state) are read at most this often: each costs a GetExecutionHistory
# (moto answers every event of it, ~10-50 ms), while a document's page, whose graph a person is watching, is
# read on every history event.
ROWS_SECONDS = 1.0
_STOP = object()


@dataclass
class Subscriber:
    queue: asyncio.Queue
    execution: str | None = None  # a document page follows one execution's states
    seen_events: int = field(default=-1)
    fresh: bool = True  # connected after its page was drawn: gets every row once (what changed in between)


class Broker:
    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.subscribers: list[Subscriber] = []
        self._lock = threading.Lock()

    def subscribe(self, execution: str | None = None) -> Subscriber:
        subscriber = Subscriber(asyncio.Queue(), execution)
        with self._lock:
            self.subscribers.append(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            if subscriber in self.subscribers:
                self.subscribers.remove(subscriber)

    def send(self, subscriber: Subscriber, event: str, data: dict) -> None:
        """From any thread: queue one message on the server's loop."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(subscriber.queue.put_nowait, {"event": event, "data": json.dumps(data)})

    def close(self) -> None:
        """Each stream ends (a sentinel in its queue), so the server can shut down without waiting for them."""
        with self._lock:
            for subscriber in self.subscribers:
                if self.loop is not None and not self.loop.is_closed():
                    self.loop.call_soon_threadsafe(subscriber.queue.put_nowait, _STOP)

    @staticmethod
    def is_stop(message: object) -> bool:
        return message is _STOP

    @property
    def watched(self) -> list[Subscriber]:
        with self._lock:
            return list(self.subscribers)


class Watcher:
    def __init__(self, catalog: Catalog, broker: Broker, render_row: Callable[[Row], str],
                 on_finished: Callable[[], None]):
        self.catalog, self.broker = catalog, broker
        self.render_row, self.on_finished = render_row, on_finished
        self._bell = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="docpipe-console-watcher", daemon=True)
        self._unsubscribe: Callable[[], None] | None = None
        self._everything = True  # the next tick reads everything, not only the running rows
        self._rows_at, self._rows_due = 0.0, False
        self.running: set[str] = set()

    def start(self) -> None:
        self._unsubscribe = changes.subscribe(self._bell.set)
        self.catalog.refresh()
        self.running = {row.id for row in self.catalog.rows.values() if row.status == "RUNNING"}
        self._thread.start()

    def stop(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()
        self._stop.set()
        self._bell.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def ring(self) -> None:
        """Read everything now (after an upload, a delete: changes that may record no history event)."""
        self._everything = True
        self._bell.set()

    def _run(self) -> None:
        last = last_whole = 0.0
        while not self._stop.is_set():
            rang = self._bell.wait(ROWS_SECONDS if self._rows_due else IDLE_SECONDS)
            if self._stop.is_set():
                return
            if rang and not self.broker.watched and time.monotonic() - last < IDLE_SECONDS:
                self._bell.clear()  # nobody is looking: the read every IDLE_SECONDS will do
                continue
            if rang:
                time.sleep(COALESCE_SECONDS)
            self._bell.clear()
            asked, self._everything = self._everything, False
            everything = asked or not rang or time.monotonic() - last >= IDLE_SECONDS
            whole = asked or time.monotonic() - last_whole >= WHOLE_LEDGER_SECONDS
            if everything:
                last = time.monotonic()
            if whole:
                last_whole = time.monotonic()
            try:
                self.tick(everything, whole)
            except Exception as err:  # a read that failed mid-change is read again on the next tick
                self.catalog.runtime.warnings.append(f"console: {err}")

    def tick(self, everything: bool = True, whole_ledger: bool = False) -> None:
        subscribers = self.broker.watched
        read: dict[str, list[dict]] = {}  # each execution's history read once in this look, for all its readers

        def history_of(arn: str) -> list[dict]:
            if arn not in read:
                read[arn] = self.catalog.history(arn)
            return read[arn]
        for subscriber in subscribers:  # a document page first: its states are what a person is watching
            if subscriber.execution is not None:
                self._send_states(subscriber, history_of(subscriber.execution))
        now = time.monotonic()
        if not everything and now - self._rows_at < ROWS_SECONDS:
            self._rows_due = True  # the table's running rows move at most once a ROWS_SECONDS
            return
        self._rows_at, self._rows_due = now, False
        if everything:
            changed, gone = self.catalog.refresh(history_of, whole_ledger)
        else:
            changed, gone = self.catalog.refresh_running(history_of)
        running = {row.id for row in self.catalog.rows.values() if row.status == "RUNNING"}
        if self.running - running:
            self.on_finished()  # commit the offline state after each finished document
        self.running = running
        for subscriber in subscribers:
            if subscriber.execution is None:
                for row_id in gone:  # first: an execution's row goes before its document's row comes
                    self.broker.send(subscriber, "row", {"id": row_id, "gone": True})
                for row in (list(self.catalog.rows.values()) if subscriber.fresh else changed):
                    self.broker.send(subscriber, "row", {"id": row.id, "status": row.status,
                                                         "html": self.render_row(row)})
                subscriber.fresh = False

    def _send_states(self, subscriber: Subscriber, events: list[dict]) -> None:
        if len(events) != subscriber.seen_events:
            states = {key: run.status for key, run in history.read(events).items()}
            subscriber.seen_events = len(events)
            recorded = events[-1]["timestamp"] if events else None
            self.broker.send(subscriber, "states", {
                "states": states, "recorded_at": recorded.timestamp() if recorded else None,
                "done": bool(events) and events[-1]["type"].startswith("Execution")
                and events[-1]["type"] != "ExecutionStarted"})
