"""Plain text and Markdown: UTF-8 (a BOM is fine); form feeds separate pages."""

from __future__ import annotations

from docpipe.errors import DocumentRejected


def read_text(data: bytes, **_: object) -> list[str]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DocumentRejected(f"the text is not valid UTF-8 (invalid byte at offset {err.start})") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.split("\f")
