"""The contracts between states: every task's input and output is one of these models.

States pass pointers (bucket, key, version, sha256), never document bodies: Step Functions payloads stop
at 256 KiB.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["unknown", "pdf", "docx", "text", "markdown", "html", "png", "jpeg", "tiff"]
Route = Literal["native", "ocr_sync", "ocr_async", "duplicate"]
Outcome = Literal["SUCCEEDED", "QUARANTINED", "DUPLICATE"]

NATIVE_KINDS: frozenset[str] = frozenset({"pdf", "docx", "text", "markdown", "html"})
IMAGE_KINDS: frozenset[str] = frozenset({"png", "jpeg", "tiff"})


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class S3Pointer(BaseModel):
    bucket: str
    key: str
    version_id: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class DocumentRef(S3Pointer):
    """The uploaded object that one execution processes; `doc_id` names it everywhere downstream."""

    doc_id: str
    sha256: str
    size: int
    kind: Kind
    media_type: str
    received_at: datetime = Field(default_factory=utc_now)
    # what the uploader asked for in the object's metadata (x-amz-meta-languages, x-amz-meta-audio-formats)
    metadata: dict[str, str] = Field(default_factory=dict)


class Usage(BaseModel):
    """Units that AWS bills, counted where they are spent (see data/prices.json)."""

    model_config = ConfigDict(extra="forbid")

    pages: int = 0
    characters: int = 0
    textract_pages: int = 0
    s3_get: int = 0
    s3_put: int = 0
    dynamodb_reads: int = 0
    dynamodb_writes: int = 0
    embedding_calls: int = 0
    embedding_cache_hits: int = 0
    embedding_input_tokens: int = 0
    vectors_put_bytes: int = 0
    vector_queries: int = 0
    generation_input_tokens: int = 0
    generation_output_tokens: int = 0
    batch_inference_input_tokens: int = 0  # Bedrock batch inference: half the on-demand price
    batch_inference_output_tokens: int = 0
    guardrail_text_units: int = 0
    characters_translated: int = 0
    characters_synthesized: int = 0

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(**{name: getattr(self, name) + getattr(other, name) for name in Usage.model_fields})


class StageRecord(BaseModel):
    name: str
    status: Literal["SUCCEEDED", "FAILED"] = "SUCCEEDED"
    started_at: datetime
    duration_ms: float
    memory_mb: int
    usage: Usage = Field(default_factory=Usage)
    detail: dict[str, Any] = Field(default_factory=dict)


class OcrJob(BaseModel):
    job_id: str
    started_at: datetime
    status: Literal["IN_PROGRESS", "SUCCEEDED", "FAILED", "PARTIAL_SUCCESS"] = "IN_PROGRESS"
    polls: int = 0
    wait_seconds: int = 1


class PipelineState(BaseModel):
    """What flows from state to state of the document pipeline."""

    execution_id: str
    document: DocumentRef
    route: Route
    pages: int | None = None
    text: S3Pointer | None = None
    chunks: S3Pointer | None = None
    embeddings: S3Pointer | None = None
    summary: S3Pointer | None = None
    languages: list[str] = Field(default_factory=list)
    translations: list[dict[str, Any]] = Field(default_factory=list)  # the Map's per-language results
    ocr_job: OcrJob | None = None
    stages: list[StageRecord] = Field(default_factory=list)


class TaskInput(BaseModel):
    """The Payload every Lambda task receives: the state plus the execution id for log correlation."""

    execution_id: str
    state: PipelineState


class ValidateInput(BaseModel):
    execution_id: str
    event: dict[str, Any]  # the EventBridge event, parsed by the validate logic


class QuarantineInput(BaseModel):
    """The state as the failing task left it (a PipelineState, or the raw event if Validate failed)."""

    execution_id: str
    state: dict[str, Any]


class PipelineResult(BaseModel):
    """The execution's output: what happened to the document and where its results are."""

    status: Outcome
    doc_id: str
    source: str
    reason: str | None = None
    outputs: list[str] = Field(default_factory=list)
    manifest: str | None = None


class TextLine(BaseModel):
    text: str
    confidence: float | None = None
    bbox: tuple[float, float, float, float] | None = None  # left, top, width, height; page fractions


class TextPage(BaseModel):
    page: int
    text: str
    lines: list[TextLine] = Field(default_factory=list)
    confidence: float | None = None


class ExtractedText(BaseModel):
    """Normalized text of a document, whatever engine read it: work/<doc_id>/text.json."""

    doc_id: str
    source: str
    engine: str
    pages: list[TextPage]

    @property
    def characters(self) -> int:
        return sum(len(page.text) for page in self.pages)


class SpeechJob(BaseModel):
    task_id: str
    output_uri: str
    status: str = "scheduled"
    polls: int = 0
    wait_seconds: int = 5


class LanguageState(BaseModel):
    """One branch of the translate-and-speak Map: one target language of one document."""

    execution_id: str
    language: str
    document: DocumentRef
    summary: S3Pointer
    translation: S3Pointer | None = None
    outputs: list[str] = Field(default_factory=list)
    speech_job: SpeechJob | None = None
    route: Literal["sync", "async", "done"] = "sync"
    stages: list[StageRecord] = Field(default_factory=list)


class LanguageInput(BaseModel):
    execution_id: str
    state: LanguageState
