"""Handlers' log keys stay with their own invocation when several run at once in one process (offline)."""

from __future__ import annotations

import io
import json
import threading
from types import SimpleNamespace

from pydantic import BaseModel

from docpipe.observability import logger
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
