"""Readers for text-native formats face hostile input: they refuse it with a reason, never crash."""

import io
import zipfile

import pytest

from docpipe.errors import DocumentRejected
from docpipe.readers import reader_for
from docpipe.readers.pdf import read_pdf
from tests.conftest import SAMPLES
from tests.hostile_files import HOSTILE

CAPS = {"max_pages": 3000, "min_chars_per_page": 16, "max_archive_member_bytes": 10_000_000,
        "max_inflated_stream_bytes": 128 << 20, "max_inflated_bytes": 512 << 20, "max_image_pixels": 100_000_000}
_W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def docx(document_xml: str, compress=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compress) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", document_xml)
    return buffer.getvalue()


def test_docx_paragraphs_tables_and_page_breaks():
    xml = (f'<w:document {_W}><w:body><w:p><w:r><w:t>Title</w:t></w:r></w:p>'
           '<w:tbl><w:tr><w:tc><w:p><w:r><w:t>a</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>b</w:t></w:r></w:p></w:tc></w:tr></w:tbl>'
           '<w:p><w:r><w:br w:type="page"/><w:t>Second</w:t></w:r></w:p></w:body></w:document>')
    pages = reader_for("docx")(docx(xml), **CAPS)
    assert pages == ["Title\na\tb\n", "Second"]


def test_docx_with_external_entities_is_refused():
    xml = ('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           f'<w:document {_W}><w:body><w:p><w:r><w:t>&x;</w:t></w:r></w:p></w:body></w:document>')
    with pytest.raises(DocumentRejected, match="unsafe"):
        reader_for("docx")(docx(xml), **CAPS)


def test_docx_billion_laughs_is_refused():
    xml = ('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
           f'<w:document {_W}><w:body><w:p><w:r><w:t>&b;</w:t></w:r></w:p></w:body></w:document>')
    with pytest.raises(DocumentRejected):
        reader_for("docx")(docx(xml), **CAPS)


def test_docx_zip_bomb_is_refused_by_ratio():
    xml = f'<w:document {_W}><w:body><w:p><w:r><w:t>' + "a" * 3_000_000 + "</w:t></w:r></w:p></w:body></w:document>"
    with pytest.raises(DocumentRejected, match="compression ratio"):
        reader_for("docx")(docx(xml), **CAPS)


def test_docx_without_document_xml_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
    with pytest.raises(DocumentRejected, match="word/document.xml is missing"):
        reader_for("docx")(buffer.getvalue(), **CAPS)


def test_html_drops_scripts_and_styles_and_fetches_nothing():
    html = (b"<html><head><style>p{}</style><script>steal()</script></head><body><h1>Report</h1>"
            b"<img src='http://example.invalid/x.png'><p>Cost &amp; time</p><table><tr><td>a</td><td>b</td></tr></table></body></html>")
    text = reader_for("html")(html)[0]
    assert "steal" not in text and "p{}" not in text and "example.invalid" not in text
    assert "Report" in text and "Cost & time" in text


def test_text_pages_split_on_form_feed_and_bad_utf8_is_refused():
    assert reader_for("text")("one\fzwei\r\nlines".encode()) == ["one", "zwei\nlines"]
    with pytest.raises(DocumentRejected, match="not valid UTF-8: it holds UTF-8 characters and an invalid byte"):
        reader_for("text")("caf\u00e9 ok \xff broken".encode("utf-8", "surrogateescape") + b"\xff")


FRENCH = "D\u00e9j\u00e0 vu \u00e0 l'h\u00f4tel: le caf\u00e9 co\u00fbte 5 \u20ac, \u00ab tr\u00e8s bon \u00bb.\nDeuxi\u00e8me ligne."
GREEK_RUSSIAN = "\u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5 \u03ba\u03cc\u03c3\u03bc\u03b5\n\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440"


@pytest.mark.parametrize("data", [FRENCH.encode(), b"\xef\xbb\xbf" + FRENCH.encode()], ids=["utf8", "utf8-bom"])
def test_utf8_with_or_without_a_byte_order_mark(data):
    assert reader_for("text")(data) == [FRENCH]


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_with_a_byte_order_mark(codec):
    data = ("\ufeff" + GREEK_RUSSIAN).encode(codec)
    assert reader_for("text")(data) == [GREEK_RUSSIAN]
    assert reader_for("html")(("\ufeff<html><body><p>" + GREEK_RUSSIAN + "</p></body></html>").encode(codec)) \
        == [GREEK_RUSSIAN.replace("\n", " ")]  # HTML: a line break in a paragraph is a space


@pytest.mark.parametrize("codec", ["cp1252", "latin-1"])
def test_windows_1252_and_latin1_when_detection_is_confident(codec):
    text = FRENCH.replace("\u20ac", "EUR") if codec == "latin-1" else FRENCH
    assert reader_for("text")(text.encode(codec)) == [text]


@pytest.mark.parametrize("data,message", [
    ("\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u042d\u0442\u043e \u0442\u0435\u043a\u0441\u0442.".encode("koi8_r"), "bytes are not ASCII"),
    (bytes(range(128, 256)) * 8, "bytes are not ASCII"),
    (b"plain words \x81\x8d and more words", "is not a Windows-1252 character"),
    (b"\xff\xfe" + b"\x00\xd8" + b"a\x00", "UTF-16 byte-order mark but is not valid UTF-16"),
    (b"text\x00\x01\x02\x03" * 50, "not text"),
])
def test_text_in_no_encoding_read_with_confidence_is_refused(data, message):
    with pytest.raises(DocumentRejected, match=message):
        reader_for("text")(data)


def test_pdf_pages_and_caps():
    data = (SAMPLES / "bridge_report.pdf").read_bytes()
    result = read_pdf(data, **CAPS)
    assert len(result.pages) == 4 and result.scanned_pages == 0
    with pytest.raises(DocumentRejected, match="over the cap of 2"):
        read_pdf(data, **{**CAPS, "max_pages": 2})


def test_scanned_pdf_pages_are_counted_as_needing_ocr():
    result = read_pdf((SAMPLES / "scanned_letter.pdf").read_bytes(), **CAPS)
    assert result.scanned_pages == 2


@pytest.mark.parametrize("name,message", [("encrypted.pdf", "password-protected"), ("truncated.pdf", "truncated")])
def test_bad_pdfs(name, message):
    with pytest.raises(DocumentRejected, match=message):
        read_pdf((SAMPLES / "bad" / name).read_bytes(), **CAPS)


@pytest.mark.parametrize("name,message", [
    ("flate_bomb.pdf", r"inflates to more than 128 MiB, over the cap of 128 MiB per stream \(a decompression bomb\)"),
    ("flate_bomb_nested.pdf", r"over the cap of 128 MiB per stream"),
    ("flate_bomb_many_streams.pdf", r"inflate to more than 512 MiB in all, over the cap of 512 MiB per document"),
    ("pixel_bomb.pdf", r"image of 50000x50000 pixels .* over the cap of 100 megapixels"),
    ("page_tree_loop.pdf", r"page 2 of the 2 pages the PDF declares cannot be loaded"),
    ("million_pages.pdf", r"has 1000000 pages, over the cap of 3000"),
    ("page_count_lie.pdf", r"page 2 of the 40 pages the PDF declares cannot be loaded"),
])
def test_hostile_pdfs_are_refused_naming_the_cap(name, message):
    with pytest.raises(DocumentRejected, match=message):
        read_pdf(HOSTILE[name](), **CAPS)


def test_text_too_long_for_the_character_cap_is_refused_before_decoding():
    with pytest.raises(DocumentRejected, match="41 bytes, more than the cap of 10 characters"):
        reader_for("text")(b"a" * 41, **CAPS, max_text_chars=10)
    with pytest.raises(DocumentRejected, match="more than the cap of 10 characters"):
        reader_for("html")(b"<p>" + b"a" * 41, max_text_chars=10)
