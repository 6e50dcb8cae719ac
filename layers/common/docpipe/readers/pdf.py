"""Born-digital PDFs through PDFium's text layer; a PDF whose pages carry no text needs OCR instead.

The raw bytes are checked for decompression and pixel bombs first (pdf_guard); a page PDFium cannot load
(a page tree that loops, or claims pages it does not hold) refuses the document, naming the page.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from docpipe.errors import DocumentRejected
from docpipe.readers.pdf_guard import check_pdf_bytes

# PDFium is not thread-safe: every call into it, from any thread of this process, holds this lock. A Lambda
# container runs one invocation at a time; the offline runtime runs many handlers (and Textract) at once.
PDFIUM_LOCK = threading.RLock()

# PDF 1.7 (7.5.5): a file ends with %%EOF; tolerate trailing garbage as readers do, within this window.
_EOF_WINDOW = 2048


@dataclass
class PdfText:
    pages: list[str]
    scanned_pages: int  # pages whose text layer is (nearly) empty


def read_pdf(data: bytes, *, max_pages: int, min_chars_per_page: int, max_inflated_stream_bytes: int,
             max_inflated_bytes: int, max_image_pixels: int, **_: object) -> PdfText:
    import pypdfium2 as pdfium

    if b"%%EOF" not in data[-_EOF_WINDOW:]:
        raise DocumentRejected("the PDF is truncated: it has no end-of-file marker (%%EOF), so pages may be missing")
    check_pdf_bytes(data, max_stream_bytes=max_inflated_stream_bytes, max_total_bytes=max_inflated_bytes,
                    max_pixels=max_image_pixels)
    with PDFIUM_LOCK:
        return _read(pdfium, data, max_pages=max_pages, min_chars_per_page=min_chars_per_page)


def _read(pdfium, data: bytes, *, max_pages: int, min_chars_per_page: int) -> PdfText:
    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as err:
        message = str(err).lower()
        if "password" in message:
            raise DocumentRejected("the PDF is password-protected (encrypted); upload an unprotected copy") from None
        raise DocumentRejected(f"the PDF is damaged and cannot be opened ({err})") from None
    try:
        page_count = len(document)
        if page_count == 0:
            raise DocumentRejected("the PDF has no pages")
        if page_count > max_pages:
            raise DocumentRejected(f"the PDF has {page_count} pages, over the cap of {max_pages}")
        pages, scanned = [], 0
        for index in range(page_count):
            text = _page_text(pdfium, document, index, page_count)
            if len(text.strip()) < min_chars_per_page:
                scanned += 1
            pages.append(text)
        return PdfText(pages=pages, scanned_pages=scanned)
    finally:
        document.close()


def _page_text(pdfium, document, index: int, page_count: int) -> str:
    try:
        page = document[index]
    except pdfium.PdfiumError:
        raise DocumentRejected(
            f"page {index + 1} of the {page_count} pages the PDF declares cannot be loaded: its page tree is "
            "damaged, loops, or claims pages the file does not hold") from None
    try:
        textpage = page.get_textpage()
        try:
            return textpage.get_text_bounded().replace("\r\n", "\n").replace("\r", "\n")
        finally:
            textpage.close()
    except pdfium.PdfiumError:
        raise DocumentRejected(f"the text of page {index + 1} of the PDF cannot be read: the page is damaged") from None
    finally:
        page.close()
