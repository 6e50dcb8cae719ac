"""Index: put a document's chunk vectors into S3 Vectors, and retire the vectors of the versions it replaces.

Re-processing replaces, never duplicates: vectors are keyed by doc_id and chunk index (an upsert), a shorter
re-run deletes its surplus keys, and earlier versions of the same object lose their vectors.
"""

from __future__ import annotations

import base64
import json

from docpipe import ledger, vectors
from docpipe.clients import client
from docpipe.embeddings import unpack_vector
from docpipe.models import TaskInput, Usage
from docpipe.settings import get_settings
from docpipe.storage import read_bytes
from docpipe.task import StageResult


def _jsonl(pointer) -> list[dict]:
    return [json.loads(line) for line in read_bytes(pointer.bucket, pointer.key).splitlines() if line.strip()]


def language_of(document) -> str:
    """The uploader's `language` metadata on the object, else the configured default."""
    head = client("s3").head_object(Bucket=document.bucket, Key=document.key,
                                    **({"VersionId": document.version_id} if document.version_id else {}))
    return head.get("Metadata", {}).get("language") or get_settings().document_language


def index_document(payload: TaskInput) -> StageResult:
    state = payload.state
    document = state.document
    chunks, embeddings = _jsonl(state.chunks), _jsonl(state.embeddings)
    language = language_of(document)
    rows = [{"key": vectors.vector_key(document.doc_id, chunk["index"]),
             "data": {"float32": unpack_vector(base64.b64decode(row["float32"]))},
             "metadata": {"doc_id": document.doc_id, "page_start": chunk["page_start"], "page_end": chunk["page_end"],
                          "char_start": chunk["char_start"], "char_end": chunk["char_end"], "language": language,
                          "source_key": document.key, "heading": chunk.get("heading") or "", "text": chunk["text"],
                          **vectors.page_breaks_metadata(chunk.get("page_breaks", []))}}
             for chunk, row in zip(chunks, embeddings)]
    uploaded = vectors.put(rows)
    removed = 0
    for other in ledger.documents_from_source(document.key):
        keep = len(rows) if other["doc_id"] == document.doc_id else 0
        removed += vectors.delete(vectors.vector_key(other["doc_id"], i) for i in range(keep, other["vector_count"]))
        if other["doc_id"] != document.doc_id:
            ledger.set_vector_count(other["doc_id"], 0)
    ledger.set_vector_count(document.doc_id, len(rows))
    return StageResult(state, Usage(s3_get=3, vectors_put_bytes=uploaded, dynamodb_reads=1, dynamodb_writes=1),
                       {"vectors": len(rows), "replaced_vectors": removed, "language": language})
