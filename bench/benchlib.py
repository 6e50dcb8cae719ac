"""Helpers shared by the benchmarks that drive the offline pipeline (bench/ingest, bench/pipeline)."""

from __future__ import annotations

import json
import threading


class HeldCalls:
    """Holds every call to one Lambda function (by name suffix) of an OfflineRuntime until released, then
    answers it with a Lambda error without running the handler: by then the benchmark has stopped the
    executions, so nothing reads that answer. What a benchmark measures then runs without the held stage
    (and everything after it) competing for the CPU. ``held`` counts the calls waiting so far."""

    def __init__(self, lambdas, suffix: str):
        from docpipe_local.emulators.base import streaming_body

        self.released, self.held = threading.Event(), 0
        run = lambdas._run

        def held_run(function, event):
            if not function.name.endswith(suffix):
                return run(function, event)
            self.held += 1
            self.released.wait()
            error = {"errorType": "Benchmark.Held", "errorMessage": f"the benchmark does not run {suffix}"}
            return {"StatusCode": 200, "FunctionError": "Unhandled", "ExecutedVersion": "$LATEST",
                    "Payload": streaming_body(json.dumps(error).encode())}

        lambdas._run = held_run  # an instance attribute: Invoke() calls self._run


def interval_union(intervals: list[tuple[float, float]]) -> float:
    """Total length covered by possibly overlapping (start, stop) intervals."""
    total, end = 0.0, float("-inf")
    for start, stop in sorted(intervals):
        if stop > end:
            total += stop - max(start, end)
            end = stop
    return total
