"""The shape every Lambda handler shares: parse the payload, correlate logs, time the stage, dump the result.

A handler module is one line: ``handler = lambda_task("extract", TaskInput, extract_text)``. The logic
function receives the parsed model and returns either a `StageResult` (a pipeline stage: it is recorded
in the state, which goes on) or any other pydantic model, returned as JSON (a final result, an answer).
"""

from __future__ import annotations

import time
from functools import lru_cache, wraps
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from aws_lambda_powertools.logging.lambda_context import build_lambda_context_model
from pydantic import BaseModel

from docpipe.errors import READABLE
from docpipe.models import PipelineResult, PipelineState, StageRecord, Usage, utc_now
from docpipe.observability import add_metric, log_metrics, logger, tracer

M = TypeVar("M", bound=BaseModel)


@dataclass
class StageResult:
    state: PipelineState
    usage: Usage = field(default_factory=Usage)
    detail: dict[str, Any] = field(default_factory=dict)


def lambda_task(stage: str, input_model: type[M], logic: Callable[[M], StageResult | BaseModel]):
    """Build the Lambda handler for one pipeline stage (or one request/response function)."""

    def run(event: dict, context: Any) -> dict:
        payload = input_model.model_validate(event)
        # an execution's tasks share its id; a direct invocation is correlated by its event or request id
        logger.thread_safe_append_keys(
            correlation_id=getattr(payload, "execution_id", None) or event.get("id") or context.aws_request_id)
        started_at, start = utc_now(), time.perf_counter()
        try:
            result = logic(payload)
        except Exception as exc:
            if type(exc).__name__ not in READABLE:  # a bug or a service failure: the reason points here
                logger.exception("task failed", extra={"stage": stage, "error": type(exc).__name__})
            raise
        duration_ms = (time.perf_counter() - start) * 1000
        add_metric(f"{stage}_ms", "Milliseconds", duration_ms)
        if isinstance(result, PipelineResult):
            logger.info("document finished", extra={"stage": stage, "status": result.status, "doc_id": result.doc_id})
        if not isinstance(result, StageResult):
            return result.model_dump(mode="json")
        result.state.stages.append(StageRecord(
            name=stage, started_at=started_at, duration_ms=round(duration_ms, 3),
            memory_mb=int(getattr(context, "memory_limit_in_mb", 0) or 0), usage=result.usage, detail=result.detail,
        ))
        logger.info("stage done", extra={"stage": stage, "doc_id": result.state.document.doc_id,
                                         "duration_ms": round(duration_ms, 1), "route": result.state.route})
        return result.state.model_dump(mode="json")

    @lru_cache(maxsize=1)
    def traced() -> Callable[[dict, Any], dict]:
        # responses may carry document text: keep them out of traces
        return tracer().capture_lambda_handler(run, capture_response=False)

    @_lambda_context_keys
    @log_metrics
    def handler(event: dict, context: Any) -> dict:
        return traced()(event, context)

    return handler


_cold_start = True


def _lambda_context_keys(handler: Callable[[dict, Any], dict]) -> Callable[[dict, Any], dict]:
    """powertools' ``inject_lambda_context(clear_state=True)``, with the keys kept per thread.

    Deployed, a process serves one invocation at a time and either way works. Offline, concurrent executions
    run their handlers in one process, one thread each: process-wide keys (the Lambda context, the
    correlation id) would cross from one execution's log lines into another's.
    """
    @wraps(handler)
    def with_keys(event: dict, context: Any) -> dict:
        global _cold_start
        cold_start, _cold_start = _cold_start, False
        logger.thread_safe_clear_keys()
        logger.thread_safe_append_keys(cold_start=cold_start, **build_lambda_context_model(context).__dict__)
        return handler(event, context)

    return with_keys
