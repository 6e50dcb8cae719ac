"""Validate: decode the key once, fingerprint and sniff the object, claim it, choose the route."""

from __future__ import annotations

import re

from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel

from docpipe import ledger
from docpipe.errors import DocumentRejected
from docpipe.ids import decode_event_key, doc_id_for
from docpipe.models import DocumentRef, PipelineState, Usage, ValidateInput
from docpipe.settings import get_settings
from docpipe.sniff import HEAD_BYTES, sniff
from docpipe.storage import fingerprint
from docpipe.task import StageResult

MAX_LANGUAGES = 10  # target languages per document (each is a Map iteration: translate, guard, speak)


def source_of(event: dict) -> tuple[str, str, str | None]:
    """Bucket, decoded key and version id of the object an S3 'Object Created' event names."""
    parsed = S3EventNotificationEventBridgeModel.model_validate(event)
    obj = parsed.detail.object
    return parsed.detail.bucket.name, decode_event_key(obj.key), obj.version_id


def identify(bucket: str, key: str, version_id: str | None, max_bytes: int) -> tuple[DocumentRef, bytes]:
    """Fingerprint the object (one streaming read) and name it; its kind is not known yet."""
    found = fingerprint(bucket, key, version_id, head_bytes=HEAD_BYTES, max_bytes=max_bytes)
    document = DocumentRef(bucket=bucket, key=key, version_id=version_id, sha256=found.sha256, size=found.size,
                           doc_id=doc_id_for(bucket, key, version_id, found.sha256), kind="unknown",
                           media_type="application/octet-stream", metadata=found.metadata)
    return document, found.head


def classify(document: DocumentRef, head: bytes) -> DocumentRef:
    """The document's kind from its bytes; DocumentRejected for what the pipeline must not process."""
    settings = get_settings()
    if document.size == 0:
        raise DocumentRejected("the file is empty (0 bytes)")
    kind = sniff(head, document.key, max_pixels=settings.max_image_pixels, max_side=settings.max_image_side)
    return document.model_copy(update={"kind": kind.kind, "media_type": kind.media_type})


def route_for(document: DocumentRef) -> str:
    """Text-native formats are read directly; images go to Textract, synchronously when it allows."""
    if document.kind in ("pdf", "docx", "text", "markdown", "html"):
        return "native"
    sync_ok = document.kind in ("png", "jpeg") and document.size <= get_settings().textract_sync_max_bytes
    return "ocr_sync" if sync_ok else "ocr_async"


def target_languages(document: DocumentRef) -> list[str]:
    """The uploader's `languages` metadata (e.g. "es,ca"), else the stack's TargetLanguages."""
    requested = document.metadata.get("languages") or get_settings().target_languages
    languages = [code.strip() for code in requested.split(",") if code.strip()]
    for code in languages:
        if not re.fullmatch(r"[a-z]{2,3}(-[A-Za-z]{2,4})?", code):
            raise DocumentRejected(f"the requested language {code!r} is not a language code such as 'es' or 'pt-PT'")
    return list(dict.fromkeys(languages))[:MAX_LANGUAGES]


def validate_document(payload: ValidateInput) -> StageResult:
    bucket, key, version_id = source_of(payload.event)
    settings = get_settings()
    if not key.startswith(settings.inbox_prefix):
        raise DocumentRejected(f"the object {key!r} is outside the inbox prefix {settings.inbox_prefix!r}")
    document = classify(*identify(bucket, key, version_id, settings.max_document_bytes))
    claimed = ledger.claim(document, payload.execution_id)
    state = PipelineState(execution_id=payload.execution_id, document=document,
                          route=route_for(document) if claimed else "duplicate",
                          languages=target_languages(document))
    return StageResult(state, Usage(s3_get=1, dynamodb_writes=1),
                       {"kind": document.kind, "size": document.size, "duplicate": not claimed})
