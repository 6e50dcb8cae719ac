"""Quarantine: keep a copy of the rejected input with a reason a person understands, and say so in the
manifest. Works from whatever the failing state left: a PipelineState, or the raw event if Validate failed.

A quarantined document keeps no extracted text in work/: it may have stopped before the guardrail masked it
(the guardrail service failing, a later stage's error), and the copy of the input under quarantine/ is what
a person reviews. Every version of work/<doc_id>/text.json goes.

Only the execution holding the document's claim quarantines it: one whose Validate failed before claiming
claims it here, and a re-delivered event for a document another execution owns or finished writes nothing.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from docpipe import ledger
from docpipe.errors import reason_from_error
from docpipe.ids import doc_id_for
from docpipe.logic.publish import not_owner
from docpipe.logic.validate import identify, source_of
from docpipe.manifest import build_manifest
from docpipe.models import DocumentRef, PipelineResult, PipelineState, QuarantineInput, StageRecord, Usage
from docpipe.observability import logger
from docpipe.storage import copy_object, delete_versions, out_key, put_json, quarantine_key, work_key

MISSING = "missing"


def _document_from(state: dict) -> tuple[DocumentRef, list[StageRecord]]:
    """The document the failed execution was about, identified as far as the object still allows."""
    if "document" in state:
        parsed = PipelineState.model_validate(state)
        return parsed.document, parsed.stages
    bucket, key, version_id = source_of(state)
    try:  # no size cap here: an oversized file is exactly what may need identifying
        return identify(bucket, key, version_id, max_bytes=2**63)[0], []
    except Exception:  # the object is gone or unreadable: name it by where it was
        logger.exception("could not read the object being quarantined")
        return DocumentRef(bucket=bucket, key=key, version_id=version_id, sha256=MISSING, size=0, kind="unknown",
                           doc_id=doc_id_for(bucket, key, version_id, MISSING),
                           media_type="application/octet-stream"), []


def quarantine_document(payload: QuarantineInput) -> PipelineResult:
    error = payload.state.get("error")
    reason = reason_from_error(error)
    document, stages = _document_from(payload.state)
    if not ledger.claim(document, payload.execution_id):  # this execution's own claim is renewed
        return not_owner(document)
    if document.sha256 != MISSING:
        delete_versions(document.bucket, work_key(document.doc_id, "text.json"))
    name = PurePosixPath(document.key).name or "document"
    stored = quarantine_key(document.doc_id, name)
    outputs = []
    if document.sha256 != MISSING:
        copy_object(document.bucket, document.key, document.version_id, stored)
        outputs.append(stored)
    reason_key = quarantine_key(document.doc_id, "reason.json")
    put_json(document.bucket, reason_key, {"doc_id": document.doc_id, "source": document.uri,
                                           "version_id": document.version_id, "reason": reason,
                                           "error": (error or {}).get("Error")})
    manifest_key = out_key(document.doc_id, "manifest.json")
    outputs += [reason_key, manifest_key]
    manifest = build_manifest(document, "QUARANTINED", payload.execution_id, stages, outputs,
                              own_usage=Usage(s3_put=3, dynamodb_writes=2), reason=reason)
    put_json(document.bucket, manifest_key, manifest)
    if not ledger.finish(document.doc_id, "QUARANTINED", payload.execution_id, reason):
        return not_owner(document)
    logger.warning("document quarantined", extra={"doc_id": document.doc_id, "reason": reason})
    return PipelineResult(status="QUARANTINED", doc_id=document.doc_id, source=document.uri, reason=reason,
                          outputs=outputs, manifest=manifest_key)
