"""Manifests, batch reports, training evaluations and endpoint observations as docpipe writes them, in an
in-memory manifest source, for the cost report's tests."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from docpipe.models import StageRecord, Usage
from docpipe.pricing import cost_breakdown

from docpipe_local.cost.source import StoredObject

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


class MemorySource:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def put(self, key: str, body: dict | list | bytes | str) -> None:
        if isinstance(body, (dict, list)):
            body = json.dumps(body, default=str)
        self.files[key] = body.encode() if isinstance(body, str) else body

    def objects(self, prefix: str):
        for key in sorted(self.files):
            if key.startswith(prefix):
                yield StoredObject(key, len(self.files[key]), T0)

    def read(self, key: str) -> bytes:
        return self.files[key]


def stage(name: str, ms: float, memory: int, detail: dict | None = None, **usage: int) -> StageRecord:
    return StageRecord(name=name, started_at=T0, duration_ms=ms, memory_mb=memory, usage=Usage(**usage),
                       detail=detail or {})


def manifest(doc_id: str, stages: list[StageRecord], finished: datetime = T0, transitions: int = 12,
             own: Usage | None = None, status: str = "SUCCEEDED", sha256: str = "ab" * 32) -> dict:
    """The same fields docpipe.manifest.build_manifest writes (its SFN history read replaced by a count)."""
    own = own or Usage(s3_put=3, dynamodb_writes=2)
    usage = sum((s.usage for s in stages), own)
    return {"manifest_version": 1, "doc_id": doc_id, "status": status, "reason": None,
            "source": {"key": f"inbox/{doc_id}", "sha256": sha256}, "execution_id": f"arn:exec:{doc_id}",
            "finished_at": finished.isoformat(), "stages": [s.model_dump(mode="json") for s in stages],
            "usage": {**usage.model_dump(), "lambda_invocations": len(stages),
                      "lambda_ms": sum(s.duration_ms for s in stages), "state_transitions": transitions},
            "cost": cost_breakdown(stages, usage, transitions), "outputs": []}


def born_digital(doc_id: str = "report-1", finished: datetime = T0, pages: int = 4) -> dict:
    return manifest(doc_id, [
        stage("validate", 40.2, 256, s3_get=1, dynamodb_writes=1),
        stage("extract", 350.5, 1024, {"engine": "pdfium", "pages": pages}, pages=pages, characters=5000,
              s3_get=1, s3_put=1),
        stage("guard", 3000, 512, s3_get=1, guardrail_text_units=40),
        stage("embed", 1500, 1024, {"embedding_calls": 8, "cache_hits": 0}, s3_get=1, s3_put=2,
              dynamodb_reads=8, dynamodb_writes=8, embedding_calls=8, embedding_input_tokens=1600),
        stage("index", 14, 512, s3_get=3, vectors_put_bytes=40000),
        stage("summarize", 20000, 512, {"model_id": "amazon.nova-lite-v1:0", "model_calls": 2, "cache_hits": 0},
              s3_get=1, s3_put=1, generation_input_tokens=2000, generation_output_tokens=400),
        stage("translate:es", 20, 256, s3_get=1, s3_put=1, guardrail_text_units=5, characters_translated=400),
        stage("speak:es", 200, 512, s3_get=1, s3_put=1, characters_synthesized=420),
    ], finished)


def rerun(doc_id: str = "report-2", finished: datetime = T0) -> dict:
    """The same content again: every chunk and the summary from the caches."""
    return manifest(doc_id, [
        stage("validate", 40, 256, s3_get=1, dynamodb_writes=1),
        stage("extract", 300, 1024, {"engine": "pdfium", "pages": 4}, pages=4, characters=5000, s3_get=1, s3_put=1),
        stage("guard", 2900, 512, s3_get=1, guardrail_text_units=40),
        stage("embed", 100, 1024, {"embedding_calls": 0, "cache_hits": 8}, s3_get=1, s3_put=2, dynamodb_reads=8,
              embedding_cache_hits=8),
        stage("summarize", 50, 512, {"model_id": "amazon.nova-lite-v1:0", "model_calls": 0, "cache_hits": 2},
              s3_get=1, s3_put=1, dynamodb_reads=2),
    ], finished)


def scanned(doc_id: str = "letter-1", finished: datetime = T0) -> dict:
    return manifest(doc_id, [
        stage("validate", 30, 256, s3_get=1, dynamodb_writes=1),
        stage("extract", 200, 1024, {"scanned_pages": [1, 2], "pages": 2}, s3_get=1),
        stage("textract_start", 100, 256),
        stage("textract_poll", 500, 512, {}, pages=2, textract_pages=2, characters=900, s3_put=1),
    ], finished, transitions=9)
