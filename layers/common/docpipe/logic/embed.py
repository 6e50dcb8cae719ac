"""Embed: chunk the extracted text (work/<doc_id>/chunks.jsonl) and embed every chunk."""

from __future__ import annotations

import base64
import json
from concurrent import futures

from docpipe import workers
from docpipe.chunking import chunk_pages
from docpipe.clients import client
from docpipe.embeddings import embed_texts
from docpipe.models import ExtractedText, S3Pointer, TaskInput, Usage
from docpipe.settings import get_settings
from docpipe.storage import get_json, work_key
from docpipe.task import StageResult


def put_jsonl(bucket: str, key: str, rows: list[dict]) -> S3Pointer:
    body = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()
    client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/x-ndjson")
    return S3Pointer(bucket=bucket, key=key)


def embed_document(payload: TaskInput) -> StageResult:
    state, settings = payload.state, get_settings()
    document = state.document
    text = ExtractedText.model_validate(get_json(state.text.bucket, state.text.key))
    chunks = chunk_pages([page.model_dump() for page in text.pages], document.doc_id,
                         max_tokens=settings.chunk_max_tokens, overlap_tokens=settings.chunk_overlap_tokens)
    chunk_rows = [chunk.model_dump(mode="json") for chunk in chunks]
    # chunks.jsonl is written while the chunks are embedded (Index reads it only after this stage)
    writing = workers.pool("embed-writes", 2).submit(put_jsonl, document.bucket,
                                                      work_key(document.doc_id, "chunks.jsonl"), chunk_rows)
    try:
        run = embed_texts([chunk.text for chunk in chunks])
    finally:
        futures.wait([writing])  # not left running behind a failed embedding
    chunks_at = writing.result()
    # vectors as base64 of their float32 bytes (embeddings.pack_vector): about a quarter of the JSON numbers' size
    vectors_at = put_jsonl(document.bucket, work_key(document.doc_id, "embeddings.jsonl"),
                           [{"chunk_id": c.chunk_id, "float32": base64.b64encode(v).decode()}
                            for c, v in zip(chunks, run.packed)])
    usage = Usage(s3_get=1, s3_put=2, embedding_calls=run.calls, embedding_cache_hits=run.cache_hits,
                  embedding_input_tokens=run.input_tokens, dynamodb_reads=run.cache_reads,
                  dynamodb_writes=run.cache_writes)
    state = state.model_copy(update={"chunks": chunks_at, "embeddings": vectors_at})
    return StageResult(state, usage, {"chunks": len(chunks), "model_id": settings.embedding_model_id,
                                      "dimensions": settings.embedding_dimensions, "embedding_calls": run.calls,
                                      "cache_hits": run.cache_hits})
