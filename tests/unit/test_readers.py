"""Readers for text-native formats face hostile input: they refuse it with a reason, never crash."""

import io
import zipfile

import pytest

from docpipe.errors import DocumentRejected
from docpipe.readers import reader_for
from docpipe.readers.pdf import read_pdf
from tests.conftest import SAMPLES

CAPS = {"max_pages": 3000, "min_chars_per_page": 16, "max_archive_member_bytes": 10_000_000}
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
    with pytest.raises(DocumentRejected, match="not valid UTF-8"):
        reader_for("text")(b"ok \xff\xfe broken")


def test_pdf_pages_and_caps():
    data = (SAMPLES / "bridge_report.pdf").read_bytes()
    result = read_pdf(data, max_pages=3000, min_chars_per_page=16)
    assert len(result.pages) == 4 and result.scanned_pages == 0
    with pytest.raises(DocumentRejected, match="over the cap of 2"):
        read_pdf(data, max_pages=2, min_chars_per_page=16)


def test_scanned_pdf_pages_are_counted_as_needing_ocr():
    result = read_pdf((SAMPLES / "scanned_letter.pdf").read_bytes(), max_pages=3000, min_chars_per_page=16)
    assert result.scanned_pages == 2


@pytest.mark.parametrize("name,message", [("encrypted.pdf", "password-protected"), ("truncated.pdf", "truncated")])
def test_bad_pdfs(name, message):
    with pytest.raises(DocumentRejected, match=message):
        read_pdf((SAMPLES / "bad" / name).read_bytes(), max_pages=3000, min_chars_per_page=16)
