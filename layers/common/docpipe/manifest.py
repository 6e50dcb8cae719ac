"""manifest.json: what happened to a document, stage by stage, what it used and what that cost."""

from __future__ import annotations

from typing import Any

from docpipe.clients import client
from docpipe.models import DocumentRef, StageRecord, Usage, utc_now
from docpipe.pricing import cost_breakdown

MANIFEST_VERSION = 1


def state_transitions(execution_id: str) -> int | None:
    """States entered so far in this execution (what Step Functions Standard bills), from its history."""
    sfn, entered, token = client("stepfunctions"), 0, None
    try:
        while True:
            page = sfn.get_execution_history(executionArn=execution_id, maxResults=1000, includeExecutionData=False,
                                             **({"nextToken": token} if token else {}))
            entered += sum(1 for event in page["events"] if event["type"].endswith("StateEntered"))
            token = page.get("nextToken")
            if not token:
                return entered
    except Exception:  # history is bookkeeping: a manifest without it beats no manifest
        return None


def build_manifest(document: DocumentRef, status: str, execution_id: str, stages: list[StageRecord],
                   outputs: list[str], own_usage: Usage, reason: str | None = None) -> dict[str, Any]:
    """`own_usage`: what the task writing the manifest spends itself (it has no stage record yet)."""
    usage = sum((stage.usage for stage in stages), own_usage)
    transitions = state_transitions(execution_id)
    return {
        "manifest_version": MANIFEST_VERSION,
        "doc_id": document.doc_id,
        "status": status,
        "reason": reason,
        "source": document.model_dump(mode="json"),
        "execution_id": execution_id,
        "finished_at": utc_now().isoformat(),
        "stages": [stage.model_dump(mode="json") for stage in stages],
        "usage": {**usage.model_dump(), "lambda_invocations": len(stages),
                  "lambda_ms": round(sum(stage.duration_ms for stage in stages), 3),
                  "state_transitions": transitions},
        "cost": cost_breakdown(stages, usage, transitions),
        "outputs": outputs,
    }
