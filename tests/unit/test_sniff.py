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
    (b"PK\x03\x04 just a zip", "not a Word"), (b"\xfa\xfb\xfc\x01\x02 text?" + b"x" * 20, "neither"),
    ("d\u00e9j\u00e0 vu".encode() + b" \xff broken", "neither a known binary format nor text.*not valid UTF-8"),
])
def test_unsupported_content_is_refused(head, message):
    with pytest.raises(DocumentRejected, match=message):
        sniff(head, "inbox/file", **CAPS)


@pytest.mark.parametrize("data", [
    "\ufeffcaf\u00e9 <b>".encode(),                        # UTF-8 with a byte-order mark
    "\ufeff\u0393\u03b5\u03b9\u03ac \u041f\u0440\u0438".encode("utf-16-le"),   # UTF-16 LE, BOM first
    "\ufeff\u0393\u03b5\u03b9\u03ac \u041f\u0440\u0438".encode("utf-16-be"),   # UTF-16 BE
    "Gr\u00fc\u00dfe aus M\u00fcnchen, \u20ac5".encode("cp1252"),      # Windows-1252
])
def test_text_as_people_save_it_is_text(data):
    assert sniff(data, "inbox/notes.txt", **CAPS).kind == "text"


def test_utf16_html_is_html():
    assert sniff("\ufeff<!DOCTYPE html><html>".encode("utf-16-le"), "inbox/p.html", **CAPS).kind == "html"


def test_a_utf8_character_cut_by_the_sample_is_fine():
    head = ("caf\u00e9 " * 10).encode()[:-1]
    assert sniff(head, "x.txt", **CAPS).kind == "text"
