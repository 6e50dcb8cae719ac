"""An execution's history (GetExecutionHistory, as AWS returns it) read as the console shows it: per state, its
status, input, output, duration and error; states inside a Map keyed by their iteration (a language row).

Events inside a Map iteration are told apart by following ``previousEventId`` back to their iteration's
MapIterationStarted event, as the Step Functions console does.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field

_FAILED_DETAILS = ("taskFailedEventDetails", "lambdaFunctionFailedEventDetails", "executionFailedEventDetails",
                   "taskTimedOutEventDetails", "lambdaFunctionTimedOutEventDetails", "mapRunFailedEventDetails",
                   "taskSubmitFailedEventDetails", "lambdaFunctionScheduleFailedEventDetails")

_RETRY_EVENTS = ("TaskScheduled", "TaskStarted", "LambdaFunctionScheduled", "LambdaFunctionStarted")


@dataclass
class StateRun:
    """One state's last visit (a state visited again, a poll loop, keeps its latest input and output)."""
    key: str  # NAME, or MAP.ROW.NAME inside a Map iteration
    name: str
    status: str = "running"  # running, succeeded, failed, caught
    input: object = None
    output: object = None
    entered: datetime.datetime | None = None
    exited: datetime.datetime | None = None
    error: str | None = None
    cause: str | None = None
    visits: int = 0
    events: list[int] = field(default_factory=list)

    @property
    def duration_ms(self) -> float | None:
        if self.entered and self.exited:
            return (self.exited - self.entered).total_seconds() * 1000
        return None

    @property
    def message(self) -> str | None:
        """What went wrong in words: a Lambda error's errorMessage (its cause is the whole error as JSON)."""
        cause = _json(self.cause)
        if isinstance(cause, dict) and isinstance(cause.get("errorMessage"), str):
            return cause["errorMessage"]
        return self.cause

    def as_json(self) -> dict:
        return {"key": self.key, "name": self.name, "status": self.status, "input": self.input,
                "output": self.output, "duration_ms": self.duration_ms, "error": self.error, "cause": self.cause,
                "message": self.message, "visits": self.visits}


def _json(text: str | None) -> object:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _time(value) -> datetime.datetime | None:
    if isinstance(value, datetime.datetime):
        return value
    if isinstance(value, str):
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


def read(events: list[dict]) -> dict[str, StateRun]:
    """State key -> its last run, in the order states were first entered."""
    by_id = {event["id"]: event for event in events}
    iteration_of: dict[int, str | None] = {}

    def iteration(event: dict) -> str | None:
        """'MAP.INDEX' for an event inside a Map iteration, None at the top level."""
        chain, found = [], None
        current = event
        while current is not None:
            details = current.get("mapIterationStartedEventDetails")
            if details is not None and current is not event:
                found = f"{details['name']}.{details['index']}"
                break
            if current["id"] in iteration_of:
                found = iteration_of[current["id"]]
                break
            chain.append(current["id"])
            if current["type"] in ("MapIterationSucceeded", "MapIterationFailed", "MapIterationAborted"):
                found = None  # the iteration ended: what follows it is back at the Map's level
                break
            if current["type"] == "MapStateExited" and current is not event:
                found = None
                break
            current = by_id.get(current.get("previousEventId"))
        for event_id in chain:
            iteration_of[event_id] = found
        return found

    runs: dict[str, StateRun] = {}
    open_by_scope: dict[str | None, StateRun] = {}
    for event in events:
        scope = iteration(event)
        entered = event.get("stateEnteredEventDetails")
        exited = event.get("stateExitedEventDetails")
        if entered:
            previous = open_by_scope.get(scope)
            if previous is not None and previous.status == "failed":
                previous.status = "caught"  # the execution went on: a Catch took the error to this state
            key = f"{scope}.{entered['name']}" if scope else entered["name"]
            run = runs.setdefault(key, StateRun(key, entered["name"]))
            run.status, run.input, run.entered, run.exited = "running", _json(entered.get("input")), _time(event["timestamp"]), None
            run.error = run.cause = None
            run.visits += 1
            run.events.append(event["id"])
            open_by_scope[scope] = run
        elif exited:
            key = f"{scope}.{exited['name']}" if scope else exited["name"]
            run = runs.get(key)
            if run is not None:
                run.output, run.exited = _json(exited.get("output")), _time(event["timestamp"])
                # a failure still standing when the state exits was caught (moto records the exit, AWS goes
                # straight to the Catch's state); after a retry that worked, the last error stays on the run
                run.status = "caught" if run.status == "failed" else "succeeded"
                run.events.append(event["id"])
        elif event["type"] in _RETRY_EVENTS:
            run = open_by_scope.get(scope)
            if run is not None and run.status == "failed":
                run.status = "running"  # the Retry tries again
        else:
            for name in _FAILED_DETAILS:
                details = event.get(name)
                if details is not None:
                    run = open_by_scope.get(scope)
                    if run is not None and run.status == "running":
                        run.error, run.cause = details.get("error"), details.get("cause")
                        run.events.append(event["id"])
                        run.status = "failed"
                    break
    if events and events[-1]["type"] in ("ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"):
        for run in runs.values():  # what was still running when the execution stopped, failed with it
            if run.status == "running":
                run.status = "failed"
    return runs


def rows_of(events: list[dict]) -> dict[str, list[str]]:
    """Per Map state, the label of each iteration: the item's language when the items name one."""
    rows: dict[str, list[str]] = {}
    for event in events:
        details = event.get("mapIterationStartedEventDetails")
        if details:
            labels = rows.setdefault(details["name"], [])
            while len(labels) <= details["index"]:
                labels.append(str(len(labels)))
    for event in events:  # the Map's input lists the items: label each row by its language
        entered = event.get("stateEnteredEventDetails")
        if entered and entered["name"] in rows:
            items = _items(_json(entered.get("input")))
            for index, item in enumerate(items[:len(rows[entered["name"]])]):
                if isinstance(item, dict) and item.get("language"):
                    rows[entered["name"]][index] = str(item["language"])
                elif isinstance(item, str):
                    rows[entered["name"]][index] = item
    return rows


def _items(value: object) -> list:
    """The list a Map iterates, found in its input (the first list of languages, or any list of items)."""
    if isinstance(value, dict):
        for key in ("languages", "items", "targets"):
            if isinstance(value.get(key), list):
                return value[key]
        for inner in value.values():
            found = _items(inner)
            if found:
                return found
    return []


def failed_state(runs: dict[str, StateRun]) -> str | None:
    """The state the page opens on: the first that failed (or whose failure was caught)."""
    for run in runs.values():
        if run.status in ("failed", "caught"):
            return run.key
    return None
