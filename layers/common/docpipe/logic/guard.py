"""Guard: the extracted text passes the guardrail (source INPUT) before any model reads it.

BLOCKED (a prompt injection inside the document, a denied topic, secrets) raises GuardrailBlocked and the
document is quarantined with the policy named. ANONYMIZED replaces the text with its masked form, so
everything downstream (chunks, vectors, summary, outputs, logs) only ever sees the masked text.

Unmasked text never outlives this stage. The bucket is versioned, so overwriting work/<doc_id>/text.json
keeps the raw text as an older version, and so does every retried write of the extraction. Guard therefore
ends by deleting every version of the key except the one that goes on (the masked write, or the raw text the
guardrail found nothing in), and a blocked document loses every version. A retry after a failure between the
masked write and the deletion reads the masked text, which its metadata marks, guards it again (nothing
left to mask) and deletes what the failed attempt left behind.

Pages are screened ``guardrail_concurrency`` at a time (one ApplyGuardrail call each, answered in page
order): the calls wait on the service, not on this function.
"""

from __future__ import annotations

import json

from docpipe import guardrail, workers
from docpipe.clients import client
from docpipe.guardrail import GuardrailBlocked
from docpipe.models import ExtractedText, TaskInput, TextPage, Usage
from docpipe.observability import logger
from docpipe.settings import get_settings
from docpipe.storage import delete_versions, put_json
from docpipe.task import StageResult

# user metadata on the text this stage masked: a retry knows the text it reads is masked already
GUARDRAIL_METADATA = "docpipe-guardrail"


def guard_text(payload: TaskInput) -> StageResult:
    state = payload.state
    pointer = state.text
    current = client("s3").get_object(Bucket=pointer.bucket, Key=pointer.key)
    masked_before = current.get("Metadata", {}).get(GUARDRAIL_METADATA) == "ANONYMIZED"
    text = ExtractedText.model_validate(json.loads(current["Body"].read()))
    pages, policies, units, masked, not_evaluated = [], [], 0, False, []
    outcomes = list(zip(text.pages, workers.map_in_order(
        "guard", get_settings().guardrail_concurrency, lambda page: guardrail.apply(page.text, "INPUT"),
        text.pages)))
    for page, outcome in outcomes:
        units += outcome.text_units
        policies += [p for p in outcome.policies if p not in policies]
        not_evaluated += [n for n in outcome.not_evaluated if n not in not_evaluated]
        if outcome.action == "BLOCKED":
            logger.warning("guardrail blocked the document", extra={"doc_id": state.document.doc_id,
                                                                     "policies": outcome.policies})
            delete_versions(pointer.bucket, pointer.key)  # no model may read it, no copy of it stays
            raise GuardrailBlocked(f"{outcome.reason} (page {page.page})")
        masked |= outcome.action == "ANONYMIZED"
        # masked pages keep no line geometry: lines would still carry the unmasked words
        pages.append(page if outcome.action == "NONE" else TextPage(page=page.page, text=outcome.text,
                                                                   confidence=page.confidence))
    usage = Usage(s3_get=1, guardrail_text_units=units)
    kept = current.get("VersionId") or "null"
    if masked:
        kept = put_json(pointer.bucket, pointer.key, text.model_copy(update={"pages": pages}).model_dump(mode="json"),
                        metadata={GUARDRAIL_METADATA: "ANONYMIZED"})
        usage = usage + Usage(s3_put=1)
    deleted = delete_versions(pointer.bucket, pointer.key, keep=kept)
    action = "ANONYMIZED" if masked or masked_before else "NONE"
    return StageResult(state, usage, {"guardrail_action": action, "policies": policies, "text_units": units,
                                      "versions_deleted": deleted,
                                      **({"guardrail_not_evaluated": not_evaluated} if not_evaluated else {})})
