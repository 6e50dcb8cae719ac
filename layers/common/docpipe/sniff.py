"""Identify a document by its bytes, never by its name, and refuse what no parser should touch.

Only the first bytes of the object are needed (HEAD_BYTES); image dimensions are read from the header so a
decompression bomb is refused before anything decodes it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import PurePosixPath

from docpipe.errors import DocumentRejected
from docpipe.readers.text import decode_sample

HEAD_BYTES = 64 * 1024

MEDIA_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "text": "text/plain",
    "markdown": "text/markdown",
    "html": "text/html",
    "png": "image/png",
    "jpeg": "image/jpeg",
    "tiff": "image/tiff",
}

# What a file name claims; a claim the content contradicts is refused (a disguised file is suspect).
_EXTENSIONS = {
    ".pdf": "pdf", ".docx": "docx", ".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".tif": "tiff",
    ".tiff": "tiff", ".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
    ".html": "html", ".htm": "html",
}
_TEXT_FAMILY = {"text", "markdown", "html"}
_DESCRIPTIONS = {
    "pdf": "a PDF document", "docx": "a Word document", "png": "a PNG image", "jpeg": "a JPEG image",
    "tiff": "a TIFF image", "text": "plain text", "markdown": "Markdown text", "html": "an HTML page",
}
_OTHER_SIGNATURES = [
    (b"GIF8", "a GIF image"), (b"BM", "a BMP image"), (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"), (b"Rar!", "a RAR archive"), (b"\xd0\xcf\x11\xe0", "a legacy Office file"),
    (b"\x7fELF", "an executable"), (b"MZ", "a Windows executable"),
]


@dataclass(frozen=True)
class Sniffed:
    kind: str
    media_type: str
    width: int | None = None
    height: int | None = None


def sniff(head: bytes, key: str, *, max_pixels: int, max_side: int) -> Sniffed:
    """Return the document kind of an object from its first bytes; raise DocumentRejected otherwise."""
    kind = _kind_from_bytes(head, key)
    claimed = _EXTENSIONS.get(PurePosixPath(key).suffix.lower())
    if claimed and claimed != kind and not (claimed in _TEXT_FAMILY and kind in _TEXT_FAMILY):
        raise DocumentRejected(
            f"the file name says {_DESCRIPTIONS[claimed]} ({PurePosixPath(key).suffix}) but the content is "
            f"{_DESCRIPTIONS[kind]}: refusing a disguised file")
    width = height = None
    if kind in ("png", "jpeg", "tiff"):
        width, height = image_size(head, kind)
        if width is not None and height is not None:
            _check_pixels(width, height, max_pixels=max_pixels, max_side=max_side)
    return Sniffed(kind, MEDIA_TYPES[kind], width, height)


def _kind_from_bytes(head: bytes, key: str) -> str:
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head.startswith(b"PK\x03\x04"):
        if b"word/" in head or b"[Content_Types].xml" in head:
            return "docx"
        raise DocumentRejected("the content is a ZIP archive that is not a Word (.docx) document")
    for signature, description in _OTHER_SIGNATURES:
        if head.startswith(signature):
            raise DocumentRejected(f"the content is {description}, which docpipe does not process")
    return _text_kind(head, key)


def _text_kind(head: bytes, key: str) -> str:
    try:
        sample = decode_sample(head)
    except DocumentRejected as err:
        raise DocumentRejected(f"the content is neither a known binary format nor text: {err}") from None
    lead = sample.lstrip().lower()
    if lead.startswith(("<!doctype html", "<html")):
        return "html"
    if PurePosixPath(key).suffix.lower() in (".md", ".markdown"):
        return "markdown"
    return "text"


def _check_pixels(width: int, height: int, *, max_pixels: int, max_side: int) -> None:
    if width <= 0 or height <= 0:
        raise DocumentRejected(f"the image declares impossible dimensions {width}x{height}")
    if width * height > max_pixels or max(width, height) > max_side:
        raise DocumentRejected(
            f"the image is {width}x{height} pixels ({width * height / 1e6:.0f} megapixels), over the cap of "
            f"{max_pixels / 1e6:.0f} megapixels and {max_side} pixels a side (a decompression bomb is refused "
            f"before decoding)")


def image_size(head: bytes, kind: str) -> tuple[int | None, int | None]:
    """Width and height from the image header, or (None, None) when they lie beyond `head`."""
    try:
        if kind == "png":
            return struct.unpack(">II", head[16:24])
        if kind == "jpeg":
            return _jpeg_size(head)
        return _tiff_size(head)
    except struct.error:
        return None, None


def _jpeg_size(head: bytes) -> tuple[int | None, int | None]:
    pos = 2
    while pos + 9 < len(head):
        if head[pos] != 0xFF:
            return None, None
        marker = head[pos + 1]
        length = struct.unpack(">H", head[pos + 2: pos + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", head[pos + 5: pos + 9])
            return width, height
        pos += 2 + length
    return None, None


def _tiff_size(head: bytes) -> tuple[int | None, int | None]:
    endian = "<" if head[:2] == b"II" else ">"
    offset = struct.unpack(endian + "I", head[4:8])[0]
    count = struct.unpack(endian + "H", head[offset: offset + 2])[0]
    found: dict[int, int] = {}
    for index in range(count):
        entry = head[offset + 2 + 12 * index: offset + 14 + 12 * index]
        tag, field_type = struct.unpack(endian + "HH", entry[:4])
        if tag in (256, 257):
            fmt = "H" if field_type == 3 else "I"
            found[tag] = struct.unpack(endian + fmt, entry[8: 8 + struct.calcsize(fmt)])[0]
    return found.get(256), found.get(257)
