"""Helpers shared by the benchmarks that drive the offline pipeline (bench/ingest, bench/pipeline)."""

from __future__ import annotations

import json
import threading


class HeldCalls:
    """Holds every call to one Lambda function (by name suffix) of an OfflineRuntime until released, then
    answers it with a Lambda error without running the handler: by then the benchmark has stopped the
    executions, so nothing reads that answer. What a benchmark measures then runs without the held stage
    (and everything after it) competing for the CPU. ``held`` counts the calls held so far (released ones
    included); :meth:`wait_for_more` wakes up when it grows; :meth:`release` answers the calls held so far,
    and later calls are held again."""

    def __init__(self, lambdas, suffix: str):
        from docpipe_local.emulators.base import streaming_body

        self.held = 0
        self._gates: list[threading.Event] = []
        self._arrived = threading.Condition()
        run = lambdas._run

        def held_run(function, event):
            if not function.name.endswith(suffix):
                return run(function, event)
            gate = threading.Event()
            with self._arrived:
                self._gates.append(gate)
                self.held += 1
                self._arrived.notify_all()
            gate.wait()
            error = {"errorType": "Benchmark.Held", "errorMessage": f"the benchmark does not run {suffix}"}
            return {"StatusCode": 200, "FunctionError": "Unhandled", "ExecutedVersion": "$LATEST",
                    "Payload": streaming_body(json.dumps(error).encode())}

        lambdas._run = held_run  # an instance attribute: Invoke() calls self._run

    def wait_for_more(self, seen: int, timeout: float) -> int:
        """Wait until more than ``seen`` calls were held, or ``timeout`` seconds; the count then."""
        with self._arrived:
            self._arrived.wait_for(lambda: self.held > seen, timeout)
            return self.held

    def release(self) -> None:
        with self._arrived:
            gates, self._gates = self._gates, []
        for gate in gates:
            gate.set()


def interval_union(intervals: list[tuple[float, float]]) -> float:
    """Total length covered by possibly overlapping (start, stop) intervals."""
    total, end = 0.0, float("-inf")
    for start, stop in sorted(intervals):
        if stop > end:
            total += stop - max(start, end)
            end = stop
    return total
