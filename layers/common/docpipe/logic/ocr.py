"""Textract: synchronous detection for images and single pages, an async job polled by the state machine
for everything else. Textract's permanent refusals become ExtractionFailed (quarantined, reason kept);
throttling and server errors propagate under their own names for the state machine to retry.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from docpipe.clients import client
from docpipe.errors import ExtractionFailed
from docpipe.logic.extract import save_text
from docpipe.models import DocumentRef, OcrJob, PipelineState, TaskInput, Usage, utc_now
from docpipe.settings import get_settings
from docpipe.task import StageResult
from docpipe.textract_blocks import pages_from_blocks

# Textract errors that no retry can fix: the document goes to quarantine with Textract's own words.
PERMANENT_ERRORS = {
    "BadDocumentException": "Textract could not read the document",
    "DocumentTooLargeException": "the document is too large for Textract",
    "UnsupportedDocumentException": "Textract does not support this document",
    "InvalidS3ObjectException": "Textract could not get the document from S3",
    "InvalidParameterException": "Textract refused the request",
    "AccessDeniedException": "docpipe is not allowed to call Textract",
    "InvalidKMSKeyException": "Textract could not use the document's KMS key",
}


def _refusal(code: str, message: str) -> ExtractionFailed:
    return ExtractionFailed(f"{PERMANENT_ERRORS.get(code, 'Textract failed')}: {message or 'no reason given'}")


def _s3_object(document: DocumentRef) -> dict:
    location = {"Bucket": document.bucket, "Name": document.key}
    if document.version_id:
        location["Version"] = document.version_id
    return {"S3Object": location}


def _call(operation: str, **params):
    try:
        return getattr(client("textract"), operation)(**params)
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        if code in PERMANENT_ERRORS:
            raise _refusal(code, err.response.get("Error", {}).get("Message", "")) from None
        raise


def _finish(state: PipelineState, blocks: list[dict], page_count: int, detail: dict) -> StageResult:
    pages = pages_from_blocks(blocks, page_count)
    pointer = save_text(state, "textract", pages)
    characters = sum(len(page.text) for page in pages)
    state = state.model_copy(update={"pages": len(pages), "text": pointer})
    return StageResult(state, Usage(pages=len(pages), textract_pages=page_count, characters=characters, s3_put=1),
                       {"engine": "textract", "pages": len(pages), "characters": characters, **detail})


def detect_text(payload: TaskInput) -> StageResult:
    state = payload.state
    response = _call("detect_document_text", Document=_s3_object(state.document))
    pages = response.get("DocumentMetadata", {}).get("Pages", 1)
    return _finish(state, response["Blocks"], pages, {"api": "DetectDocumentText"})


def start_text_detection(payload: TaskInput) -> StageResult:
    state, settings = payload.state, get_settings()
    document = state.document
    response = _call("start_document_text_detection", DocumentLocation=_s3_object(document),
                     # the same document restarts the same job if this task is retried
                     ClientRequestToken=document.doc_id[-64:], JobTag=document.doc_id[-64:])
    job = OcrJob(job_id=response["JobId"], started_at=utc_now(), wait_seconds=settings.textract_poll_initial_seconds)
    return StageResult(state.model_copy(update={"ocr_job": job}), detail={"job_id": job.job_id})


def poll_text_detection(payload: TaskInput) -> StageResult:
    """One poll; when the job is done, read every page of results (NextToken) and save the text."""
    state, settings = payload.state, get_settings()
    job = state.ocr_job
    if job is None:
        raise ExtractionFailed("no Textract job to poll: the state lost its job id")
    response = _call("get_document_text_detection", JobId=job.job_id, MaxResults=1000)
    status = response["JobStatus"]
    if status == "IN_PROGRESS":
        if job.polls + 1 >= settings.textract_max_polls:
            raise ExtractionFailed(f"the Textract job {job.job_id} did not finish after {job.polls + 1} polls")
        waited = job.model_copy(update={"polls": job.polls + 1,
                                        "wait_seconds": min(job.wait_seconds * 2, settings.textract_poll_max_seconds)})
        return StageResult(state.model_copy(update={"ocr_job": waited}), detail={"job_status": status})
    if status == "FAILED":  # Textract's StatusMessage starts with the error code: "BadDocumentException: ..."
        code, _, message = response.get("StatusMessage", "").partition(": ")
        raise _refusal(code, message) if message else _refusal("", code)
    blocks, token = list(response["Blocks"]), response.get("NextToken")
    while token:
        more = _call("get_document_text_detection", JobId=job.job_id, MaxResults=1000, NextToken=token)
        blocks.extend(more["Blocks"])
        token = more.get("NextToken")
    done = job.model_copy(update={"status": status, "polls": job.polls + 1})
    state = state.model_copy(update={"ocr_job": done})
    seconds = (utc_now() - job.started_at).total_seconds()
    return _finish(state, blocks, response["DocumentMetadata"]["Pages"],
                   {"api": "StartDocumentTextDetection", "job_id": job.job_id, "job_status": status,
                    "job_seconds": round(seconds, 3), "polls": job.polls + 1,
                    "warnings": response.get("Warnings", [])})
