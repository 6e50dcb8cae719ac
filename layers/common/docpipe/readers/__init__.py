"""Readers for text-native formats: born-digital PDF, DOCX, plain text, Markdown, HTML.

Each returns the document's pages as plain text and refuses hostile input with DocumentRejected. The PDF
and DOCX readers import pypdfium2 / defusedxml lazily: they are bundled with the extract function only
(functions/extract_native/requirements.txt), not with the shared layer.
"""

from __future__ import annotations

from typing import Callable

from docpipe.readers.pdf import read_pdf


def reader_for(kind: str) -> Callable[..., "list[str] | None"]:
    from docpipe.readers import docx, html, text

    readers = {"pdf": read_pdf, "docx": docx.read_docx, "html": html.read_html,
               "text": text.read_text, "markdown": text.read_text}
    return readers[kind]
