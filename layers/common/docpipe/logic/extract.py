"""Extract text from text-native documents; a PDF without a text layer is handed on to Textract."""

from __future__ import annotations

from docpipe.models import ExtractedText, PipelineState, TaskInput, TextPage, Usage
from docpipe.readers import reader_for
from docpipe.readers.pdf import PdfText
from docpipe.settings import get_settings
from docpipe.storage import put_json, read_bytes, work_key
from docpipe.task import StageResult
from docpipe.models import S3Pointer
from docpipe.errors import DocumentRejected


def save_text(state: PipelineState, engine: str, pages: list[TextPage]) -> S3Pointer:
    """Write the normalized text to work/<doc_id>/text.json; states carry only the pointer."""
    document, cap = state.document, get_settings().max_text_chars
    characters = sum(len(page.text) for page in pages)
    if characters > cap:
        raise DocumentRejected(f"the document holds {characters} characters of text, over the cap of {cap}")
    text = ExtractedText(doc_id=document.doc_id, source=document.uri, engine=engine, pages=pages)
    pointer = S3Pointer(bucket=document.bucket, key=work_key(document.doc_id, "text.json"))
    put_json(pointer.bucket, pointer.key, text.model_dump(mode="json"))
    return pointer


def extract_text(payload: TaskInput) -> StageResult:
    state, settings = payload.state, get_settings()
    document = state.document
    data = read_bytes(document.bucket, document.key, document.version_id)
    result = reader_for(document.kind)(
        data, max_pages=settings.max_pages, min_chars_per_page=settings.min_text_chars_per_page,
        max_archive_member_bytes=settings.max_archive_member_bytes)
    if isinstance(result, PdfText) and result.scanned_pages:
        # Scanned (or partly scanned): OCR the whole document, synchronously only where Textract allows it.
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
