"""Extract text from text-native documents; a PDF without a text layer is handed on to Textract."""

from __future__ import annotations

import re

from docpipe.errors import DocumentRejected, ExtractionFailed, internal_failure
from docpipe.models import ExtractedText, PipelineState, S3Pointer, TaskInput, TextPage, Usage
from docpipe.observability import logger
from docpipe.readers import reader_for
from docpipe.readers.pdf import PdfText
from docpipe.settings import get_settings
from docpipe.storage import put_json, read_bytes, work_key
from docpipe.task import StageResult

_READABLE = re.compile(r"[^\W_]")  # a letter or a digit, in any script


def save_text(state: PipelineState, engine: str, pages: list[TextPage]) -> S3Pointer:
    """Write the normalized text to work/<doc_id>/text.json; states carry only the pointer.

    A document without a letter or digit ends here: nothing downstream (summary, translation, speech)
    has anything to work on, and a summary of nothing would be invented."""
    document, cap = state.document, get_settings().max_text_chars
    characters = sum(len(page.text) for page in pages)
    if characters > cap:
        raise DocumentRejected(f"the document holds {characters} characters of text, over the cap of {cap}")
    if not any(_READABLE.search(page.text) for page in pages):
        raise DocumentRejected(f"no text: the document holds no readable text (not one letter or digit; "
                               f"{characters} characters of white space or symbols)")
    text = ExtractedText(doc_id=document.doc_id, source=document.uri, engine=engine, pages=pages)
    pointer = S3Pointer(bucket=document.bucket, key=work_key(document.doc_id, "text.json"))
    put_json(pointer.bucket, pointer.key, text.model_dump(mode="json"))
    return pointer


def read_document(state: PipelineState, data: bytes) -> "PdfText | list[str]":
    """The reader's pages. A reader that breaks on a file is a permanent failure for that file, recorded
    once with its traceback: the same bytes would break it again on a retry."""
    settings, kind = get_settings(), state.document.kind
    try:
        return reader_for(kind)(
            data, max_pages=settings.max_pages, min_chars_per_page=settings.min_text_chars_per_page,
            max_archive_member_bytes=settings.max_archive_member_bytes,
            max_inflated_stream_bytes=settings.max_inflated_stream_bytes,
            max_inflated_bytes=settings.max_inflated_bytes, max_image_pixels=settings.max_image_pixels,
            max_text_chars=settings.max_text_chars)
    except (DocumentRejected, ExtractionFailed):
        raise
    except Exception:  # noqa: BLE001 - classified here, once, with the traceback in the log
        logger.exception("the reader failed", extra={"kind": kind, "doc_id": state.document.doc_id})
        raise internal_failure(f"its {kind} reader failed on it", state.execution_id) from None


def extract_text(payload: TaskInput) -> StageResult:
    state, settings = payload.state, get_settings()
    document = state.document
    data = read_bytes(document.bucket, document.key, document.version_id)
    result = read_document(state, data)
    if isinstance(result, PdfText) and (result.scanned_pages or settings.extraction_mode == "ocr"):
        # Scanned (or partly scanned), or OCR asked for every PDF: OCR the whole document, synchronously only
        # where Textract allows it.
        single = len(result.pages) == 1 and document.size <= settings.textract_sync_max_bytes
        state = state.model_copy(update={"route": "ocr_sync" if single else "ocr_async", "pages": len(result.pages)})
        return StageResult(state, Usage(s3_get=1), {"scanned_pages": result.scanned_pages,
                                                    "pages": len(result.pages)})
    texts = result.pages if isinstance(result, PdfText) else result
    pages = [TextPage(page=number, text=text) for number, text in enumerate(texts, start=1)]
    engine = "pdfium" if isinstance(result, PdfText) else f"{document.kind}-reader"
    pointer = save_text(state, engine, pages)
    characters = sum(len(page.text) for page in pages)
    state = state.model_copy(update={"pages": len(pages), "text": pointer})
    return StageResult(state, Usage(pages=len(pages), characters=characters, s3_get=1, s3_put=1),
                       {"engine": engine, "pages": len(pages), "characters": characters})
