"""Settings from environment variables, parsed once by one pydantic model."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, Field, field_validator


class Settings(BaseModel):
    stage: str = "dev"
    documents_bucket: str = Field(min_length=3)
    documents_table: str = Field(min_length=3)
    state_machine_name: str = "docpipe-dev-document-pipeline"
    inbox_prefix: str = "inbox/"
    work_prefix: str = "work/"
    out_prefix: str = "out/"
    quarantine_prefix: str = "quarantine/"
    # Limits that guard every parser (DESIGN.md section 5); a document over one is quarantined naming it.
    max_document_bytes: int = 500 * 1024 * 1024
    max_pages: int = 3000
    max_image_pixels: int = 100_000_000
    max_image_side: int = 10_000
    max_archive_member_bytes: int = 200 * 1024 * 1024
    # a PDF's compressed streams, inflated: each, and all together (decompression bombs)
    max_inflated_stream_bytes: int = 128 * 1024 * 1024
    max_inflated_bytes: int = 1024 * 1024 * 1024
    max_text_chars: int = 20_000_000
    # Textract: what the synchronous API accepts (S3 objects); larger or multi-page goes async.
    textract_sync_max_bytes: int = 10 * 1024 * 1024
    # "ocr": every PDF goes to Textract, text layer or not (the template's ExtractionMode; costs a page each)
    extraction_mode: Literal["direct", "ocr"] = "direct"
    # Textract async polling: the Wait state sleeps this long, doubling up to the max, for at most max_polls.
    textract_poll_initial_seconds: int = 5
    textract_poll_max_seconds: int = 30
    textract_max_polls: int = 120
    # A claim on a document expires after this long, so an execution that ended without an outcome (aborted,
    # timed out) does not block its document forever. It must outlast the longest execution the ASL allows,
    # every retry and poll included (10.2 days: tests/template/test_claim_ttl.py computes it); a redriven
    # execution keeps its id, and so its claim.
    claim_ttl_seconds: int = 14 * 24 * 3600
    # Knowledge: chunking, embeddings (with a DynamoDB cache), the S3 Vectors index, and answering.
    vector_bucket: str = ""
    vector_index: str = "documents"
    embedding_model_id: str = "amazon.titan-embed-text-v2:0"
    embedding_dimensions: int = 1024
    embedding_normalize: bool = True
    embedding_concurrency: int = Field(default=8, ge=1, le=64)
    embedding_cache_table: str = ""
    embedding_cache_ttl_days: int = 90
    chunk_max_tokens: int = 300
    chunk_overlap_tokens: int = 40
    document_language: str = "en"
    generation_model_id: str = "amazon.nova-lite-v1:0"
    response_cache_table: str = ""
    response_cache_ttl_days: int = 30
    # Summaries: each model call reads at most this many tokens of document text (map-reduce beyond it).
    summary_input_tokens: int = 1500
    # ...and a summary reads at most this many sections, spread evenly over a longer document: a megabyte of
    # prose is ~170 sections, which would hold Summarize past its Lambda timeout (the manifest says so)
    summary_max_sections: int = Field(default=24, ge=1, le=200)
    summary_max_tokens: int = 160
    summary_temperature: float = 0.2
    guardrail_id: str = ""
    guardrail_version: str = "DRAFT"
    # pages of one document screened at a time (ApplyGuardrail calls in flight; throttling is retried)
    guardrail_concurrency: int = Field(default=4, ge=1, le=25)
    # cosine distance above which a passage does not count as relevant to a question
    ask_max_distance: float = 0.7
    ask_max_tokens: int = 120
    # Translate and speak: languages per document come from the object's `languages` metadata, else these.
    target_languages: str = "es,ca"
    summary_language: str = "en"  # the language summaries are written in ("auto" to detect)
    translate_terminologies: str = ""  # comma-separated custom terminology names
    # per request, at most Translate's 10,000-byte limit (lower it to exercise the splitting)
    translate_max_bytes: int = Field(default=9_000, ge=100, le=10_000)
    voice_overrides: str = ""  # e.g. "es=Lucia,en=Joanna"
    speech_formats: str = "mp3"  # mp3 and/or ogg; the object's `audio-formats` metadata overrides
    # SynthesizeSpeech takes up to 3,000 billed characters; beyond, StartSpeechSynthesisTask
    polly_sync_max_chars: int = Field(default=3_000, ge=50, le=3_000)
    polly_poll_seconds: int = 5
    polly_max_polls: int = 120
    # PDF pages with fewer characters than this in their text layer count as scanned.
    min_text_chars_per_page: int = 16
    # Idle endpoints (issue 8). Generation goes to this SageMaker endpoint (OpenAI-style chat body) instead of
    # Bedrock when set; a scaled-to-zero component (NoCapacity / ModelNotReady) is retried with backoff.
    generation_endpoint: str = ""
    generation_inference_component: str = ""
    endpoint_capacity_max_wait_seconds: float = Field(default=600.0, ge=0)
    endpoint_capacity_initial_backoff_seconds: float = Field(default=2.0, gt=0)
    endpoint_capacity_max_backoff_seconds: float = Field(default=30.0, gt=0)
    # The idle reaper: endpoints tagged `reaper_tag_key` = `reaper_tag_value` with no Invocations for
    # `endpoint_idle_minutes` are scaled to zero (inference components) or recorded and deleted.
    reaper_tag_key: str = "docpipe:idle-reaper"
    reaper_tag_value: str = "enabled"
    endpoint_idle_minutes: float = Field(default=60.0, gt=0)
    reaper_dry_run: bool = False
    reaper_table: str = ""
    reaper_interval_minutes: float = 15  # the schedule's rate: what one observation of an endpoint stands for

    @field_validator("embedding_dimensions")
    @classmethod
    def _titan_v2_sizes(cls, value: int) -> int:
        if value not in (256, 512, 1024):
            raise ValueError("Titan Text Embeddings V2 produces 256, 512 or 1024 dimensions")
        return value


def _env_name(field: str) -> str:
    return f"DOCPIPE_{field.upper()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read once per cold start: DOCPIPE_<FIELD> environment variables."""
    values = {name: os.environ[_env_name(name)] for name in Settings.model_fields if _env_name(name) in os.environ}
    return Settings.model_validate(values)
