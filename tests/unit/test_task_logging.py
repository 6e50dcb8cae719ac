"""Handlers' log keys stay with their own invocation when several run at once in one process (offline), and
their metrics are published per invocation where enabled and neither kept nor printed where disabled."""

from __future__ import annotations

import io
import json
import threading
from types import SimpleNamespace

from pydantic import BaseModel

from docpipe.observability import logger, metrics
from docpipe.task import lambda_task


class Ping(BaseModel):
    execution_id: str


class Pong(BaseModel):
    execution_id: str


def _context(name: str) -> SimpleNamespace:
    return SimpleNamespace(function_name=name, memory_limit_in_mb=128, aws_request_id=f"req-{name}",
                           invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}")


def test_concurrent_invocations_keep_their_own_correlation_id_and_context(monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    both_started = threading.Barrier(2)

    def logic(payload: Ping) -> Pong:
        both_started.wait(timeout=10)  # both invocations have set their keys before either logs
        logger.info("working")
        return Pong(execution_id=payload.execution_id)

    handler = lambda_task("ping", Ping, logic)
    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)
    try:
        threads = [threading.Thread(target=handler, args=({"execution_id": f"exec-{n}"}, _context(f"fn-{n}")))
                   for n in (1, 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        logger.registered_handler.setStream(previous)

    lines = [json.loads(line) for line in stream.getvalue().splitlines() if '"working"' in line]
    assert sorted((line["correlation_id"], line["function_name"]) for line in lines) == [
        ("exec-1", "fn-1"), ("exec-2", "fn-2")]
    assert all(line["function_request_id"] == f"req-{line['function_name']}" for line in lines)


def _invoke_many(handler, times: int, capsys) -> list[dict]:
    """Invoke ``handler`` ``times`` times; the EMF blobs it printed to stdout."""
    capsys.readouterr()
    for n in range(times):
        handler({"execution_id": f"exec-{n}"}, _context("fn"))
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]


def test_disabled_metrics_are_neither_kept_nor_printed(monkeypatch, capsys):
    # powertools alone keeps a disabled Metrics' values and prints them once a metric holds 100
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    handler = lambda_task("ping", Ping, lambda payload: Pong(execution_id=payload.execution_id))
    assert _invoke_many(handler, 150, capsys) == []
    assert metrics.metric_set == {}


def test_enabled_metrics_are_published_once_per_invocation(monkeypatch, capsys):
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)
    handler = lambda_task("ping", Ping, lambda payload: Pong(execution_id=payload.execution_id))
    blobs = _invoke_many(handler, 3, capsys)
    assert len(blobs) == 3
    assert all(len(blob["ping_ms"]) == 1 for blob in blobs)  # its own value, not a growing list
    assert [m["Name"] for m in blobs[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"]] == ["ping_ms"]
    assert metrics.metric_set == {}
