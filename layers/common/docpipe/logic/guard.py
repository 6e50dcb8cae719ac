"""Guard: the extracted text passes the guardrail (source INPUT) before any model reads it.

BLOCKED (a prompt injection inside the document, a denied topic, secrets) raises GuardrailBlocked and the
document is quarantined with the policy named. ANONYMIZED replaces the text with its masked form, so
everything downstream (chunks, vectors, summary, outputs, logs) only ever sees the masked text; the
unmasked version of work/<doc_id>/text.json is deleted, not kept as an old version.

Pages are screened ``guardrail_concurrency`` at a time (one ApplyGuardrail call each, answered in page
order): the calls wait on the service, not on this function.
"""

from __future__ import annotations

from docpipe import guardrail, workers
from docpipe.clients import client
from docpipe.guardrail import GuardrailBlocked
from docpipe.models import ExtractedText, TaskInput, TextPage, Usage
from docpipe.observability import logger
from docpipe.settings import get_settings
from docpipe.storage import get_json, put_json
from docpipe.task import StageResult


def guard_text(payload: TaskInput) -> StageResult:
    state = payload.state
    pointer = state.text
    text = ExtractedText.model_validate(get_json(pointer.bucket, pointer.key))
    pages, policies, units, masked = [], [], 0, False
    outcomes = list(zip(text.pages, workers.map_in_order(
        "guard", get_settings().guardrail_concurrency, lambda page: guardrail.apply(page.text, "INPUT"),
        text.pages)))
    for page, outcome in outcomes:
        units += outcome.text_units
        policies += [p for p in outcome.policies if p not in policies]
        if outcome.action == "BLOCKED":
            logger.warning("guardrail blocked the document", extra={"doc_id": state.document.doc_id,
                                                                     "policies": outcome.policies})
            raise GuardrailBlocked(f"{outcome.reason} (page {page.page})")
        masked |= outcome.action == "ANONYMIZED"
        # masked pages keep no line geometry: lines would still carry the unmasked words
        pages.append(page if outcome.action == "NONE" else TextPage(page=page.page, text=outcome.text,
                                                                   confidence=page.confidence))
    usage = Usage(s3_get=1, guardrail_text_units=units)
    if masked:
        s3 = client("s3")
        previous = s3.head_object(Bucket=pointer.bucket, Key=pointer.key).get("VersionId")
        put_json(pointer.bucket, pointer.key, text.model_copy(update={"pages": pages}).model_dump(mode="json"))
        if previous and previous != "null":
            s3.delete_object(Bucket=pointer.bucket, Key=pointer.key, VersionId=previous)
        usage = usage + Usage(s3_put=1)
    action = "ANONYMIZED" if masked else "NONE"
    return StageResult(state, usage, {"guardrail_action": action, "policies": policies, "text_units": units})
