import struct
import zlib

import pytest

from docpipe.errors import DocumentRejected
from docpipe.sniff import sniff

CAPS = {"max_pixels": 100_000_000, "max_side": 10_000}


def png(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))


def jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x00" * 9
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof


@pytest.mark.parametrize("head,key,kind", [
    (b"%PDF-1.7\n...", "inbox/a.pdf", "pdf"),
    (b"%PDF-1.4", "inbox/no-extension", "pdf"),
    (b"PK\x03\x04....[Content_Types].xml....word/document.xml", "inbox/m.docx", "docx"),
    (b"hello world", "inbox/notes.txt", "text"),
    (b"# Title\n\ntext", "inbox/faq.md", "markdown"),
    (b"  <!DOCTYPE html><html>", "inbox/page.html", "html"),
    (b"<html><body>x", "inbox/page.txt", "html"),
    ("r\u00e9sum\u00e9".encode(), "inbox/r\u00e9sum\u00e9 2024.txt", "text"),
])
def test_kinds_come_from_bytes(head, key, kind):
    assert sniff(head, key, **CAPS).kind == kind


def test_image_dimensions_are_read_from_headers():
    assert (sniff(png(640, 480), "x.png", **CAPS).width, sniff(png(640, 480), "x.png", **CAPS).height) == (640, 480)
    found = sniff(jpeg(1200, 800), "x.jpg", **CAPS)
    assert (found.kind, found.width, found.height) == ("jpeg", 1200, 800)


def test_decompression_bomb_is_refused_from_the_header():
    with pytest.raises(DocumentRejected, match="decompression bomb"):
        sniff(png(50_000, 50_000), "inbox/bomb.png", **CAPS)


def test_png_named_pdf_is_refused_as_disguised():
    with pytest.raises(DocumentRejected, match=r"says a PDF document \(\.pdf\) but the content is a PNG image"):
        sniff(png(10, 10), "inbox/scan.pdf", **CAPS)


@pytest.mark.parametrize("head,message", [
    (b"GIF89a....", "GIF"), (b"\x7fELF\x02\x01", "executable"), (b"\x00\x01\x02binary", "binary data"),
    (b"PK\x03\x04 just a zip", "not a Word"), (b"\xff\xfe\xfa\xfb\xfc text?" + b"x" * 20, "neither"),
])
def test_unsupported_content_is_refused(head, message):
    with pytest.raises(DocumentRejected, match=message):
        sniff(head, "inbox/file", **CAPS)


def test_a_utf8_character_cut_by_the_sample_is_fine():
    head = ("caf\u00e9 " * 10).encode()[:-1]
    assert sniff(head, "x.txt", **CAPS).kind == "text"
