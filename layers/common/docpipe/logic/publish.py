"""Publish: the normalized text, the summary, each language's results and manifest.json under
out/<doc_id>/, then mark the document done. Only the execution holding the document's claim publishes: a
late or duplicate execution leaves out/<doc_id>/ and the outcome to the owner."""

from __future__ import annotations

from docpipe import ledger
from docpipe.errors import ExtractionFailed, reason_from_error
from docpipe.manifest import build_manifest
from docpipe.models import DocumentRef, PipelineResult, StageRecord, TaskInput, Usage
from docpipe.observability import logger
from docpipe.storage import copy_object, out_key, put_json


def language_outcomes(translations: list[dict]) -> tuple[dict[str, dict], list[str], list[StageRecord]]:
    """Per language: status and reason; the outputs of the languages that succeeded; every branch's stages."""
    outcomes, outputs, stages = {}, [], []
    for branch in translations:
        language = branch["language"]
        failed = branch["status"] != "SUCCEEDED"
        outcomes[language] = {"status": branch["status"], "outputs": branch.get("outputs", []),
                              "reason": reason_from_error(branch.get("failure")) if failed else None}
        outputs += [] if failed else branch.get("outputs", [])
        stages += [StageRecord.model_validate({**stage, "name": f"{stage['name']}:{language}"})
                   for stage in branch.get("stages", [])]
    return outcomes, outputs, stages


def not_owner(document: DocumentRef) -> PipelineResult:
    """What an execution without the claim returns: the document is the owner's, its manifest theirs."""
    logger.warning("another execution owns the document: nothing written", extra={"doc_id": document.doc_id})
    return PipelineResult(status="DUPLICATE", doc_id=document.doc_id, source=document.uri,
                          reason="already processed or in progress under another execution",
                          manifest=out_key(document.doc_id, "manifest.json"))


def publish_results(payload: TaskInput) -> PipelineResult:
    state = payload.state
    document = state.document
    if state.text is None:
        raise ExtractionFailed("no extracted text to publish: an earlier stage produced none")
    if not ledger.holds(document.doc_id, state.execution_id):
        return not_owner(document)
    text_key = out_key(document.doc_id, "text.json")
    copy_object(state.text.bucket, state.text.key, None, text_key)
    outputs = [text_key]
    if state.summary is not None:
        summary_key = out_key(document.doc_id, "summary.md")
        copy_object(state.summary.bucket, state.summary.key, None, summary_key)
        outputs.append(summary_key)
    languages, language_outputs, language_stages = language_outcomes(state.translations)
    manifest_key = out_key(document.doc_id, "manifest.json")
    outputs += language_outputs + [manifest_key]
    # this task's own writes: the copies, the manifest and the ledger's claim check and update
    manifest = build_manifest(document, "SUCCEEDED", state.execution_id, state.stages + language_stages, outputs,
                              own_usage=Usage(s3_put=3, dynamodb_writes=2))
    manifest["languages"] = languages
    put_json(document.bucket, manifest_key, manifest)
    if not ledger.finish(document.doc_id, "SUCCEEDED", state.execution_id):
        return not_owner(document)
    failed = sorted(language for language, outcome in languages.items() if outcome["status"] != "SUCCEEDED")
    return PipelineResult(status="SUCCEEDED", doc_id=document.doc_id, source=document.uri, outputs=outputs,
                          manifest=manifest_key,
                          reason=f"languages that failed: {', '.join(failed)}" if failed else None)
