"""Publish: the normalized text and manifest.json under out/<doc_id>/, then mark the document done."""

from __future__ import annotations

from docpipe import ledger
from docpipe.manifest import build_manifest
from docpipe.models import PipelineResult, TaskInput, Usage
from docpipe.storage import copy_object, out_key, put_json
from docpipe.errors import ExtractionFailed


def publish_results(payload: TaskInput) -> PipelineResult:
    state = payload.state
    document = state.document
    if state.text is None:
        raise ExtractionFailed("no extracted text to publish: an earlier stage produced none")
    text_key = out_key(document.doc_id, "text.json")
    copy_object(state.text.bucket, state.text.key, None, text_key)
    manifest_key = out_key(document.doc_id, "manifest.json")
    outputs = [text_key, manifest_key]
    # this task's own writes: the text copy, the manifest and the ledger update
    manifest = build_manifest(document, "SUCCEEDED", state.execution_id, state.stages, outputs,
                              own_usage=Usage(s3_put=2, dynamodb_writes=1))
    put_json(document.bucket, manifest_key, manifest)
    ledger.finish(document.doc_id, "SUCCEEDED", state.execution_id)
    return PipelineResult(status="SUCCEEDED", doc_id=document.doc_id, source=document.uri, outputs=outputs,
                          manifest=manifest_key)
