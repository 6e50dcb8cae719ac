"""Malformed files of every accepted kind, through Validate's sniffing and the extract stages, in-process.

Given valid seeds (a PDF, a Word document, HTML, text, PNG, JPEG, TIFF) damaged by hypothesis (cut short,
bytes overwritten, PDF keywords and huge numbers spliced in, random bytes behind a magic number), when the
Validate and Extract logic (and Textract, through the emulator, for images and scans) run on them, then each
ends with extracted text or a DocumentRejected / ExtractionFailed whose reason is a sentence without a
class name: never any other exception.
"""

from __future__ import annotations

import io
import re

import boto3
import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st
from moto import mock_aws

from docpipe.errors import DocumentRejected, ExtractionFailed
from docpipe.logic.extract import extract_text
from docpipe.logic.ocr import detect_text, poll_text_detection, start_text_detection
from docpipe.logic.validate import classify, identify, route_for
from docpipe.models import PipelineState, TaskInput
from docpipe.settings import get_settings
from docpipe_local.emulators.base import EmulatorHub
from docpipe_local.emulators.textract import TextractEmulator
from tests.conftest import pdf_of
from tests.hostile_files import docx, one_page, stream, text_content, text_image
from tests.unit.test_errors import CLASS_NAME

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:docpipe-dev-document-pipeline:hypothesis"


def _image(fmt: str) -> bytes:
    buffer = io.BytesIO()
    text_image(["Seed image"], width=240, line_px=40, font_px=24).save(buffer, format=fmt)
    return buffer.getvalue()


def _blank_png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (400, 300), 255).save(buffer, format="PNG")
    return buffer.getvalue()


SEEDS = {
    "report.pdf": pdf_of(["First page of the seed report.", "Second page, with more words."]),
    "form.pdf": one_page(stream(b"/Fm1 Do " + text_content("Form seed")), xobjects=b"/Fm1 6 0 R",
                         extra=(stream(text_content("inside the form"), b"/Type /XObject /Subtype /Form "
                                       b"/BBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >>"),)),
    "memo.docx": docx('<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
                      "<w:body><w:p><w:r><w:t>Seed memo</w:t></w:r></w:p></w:body></w:document>"),
    "page.html": b"<!DOCTYPE html><html><body><h1>Seed</h1><p>A paragraph &amp; a table"
                 b"<table><tr><td>a</td></tr></table></p></body></html>",
    "notes.txt": "Seed notes: café, Straße, Γειά, Мост.\fSecond page.".encode(),
    "photo.png": _image("PNG"),
    "photo.jpg": _image("JPEG"),
    "scan.tiff": _image("TIFF"),
}
SPLICES = [b"obj", b"endobj", b"<<", b">>", b"stream\n", b"endstream", b"/Count 2147483647", b"%%EOF", b"/Kids [",
           b"BI /W 99999 /H 99999 ID", b"/Filter /FlateDecode", b"\x00" * 8, b"\xff\xfe", b"\xef\xbb\xbf", b"PK\x03\x04",
           b"<!DOCTYPE x [<!ENTITY a 'b'>]>", b"&a;", b"<div>" * 50, b"\xc3(", b"IHDR", b"\xff\xc0\x00\x11",
           b"99999999999999999999", b"-1", b"R", b"[", b"(unbalanced"]


@st.composite
def damaged(draw) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[name])
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        action = draw(st.sampled_from(["truncate", "cut", "overwrite", "splice", "random-body"]))
        position = draw(st.integers(min_value=0, max_value=max(0, len(data) - 1)))
        if action == "truncate":
            del data[position:]
        elif action == "cut":  # a slice out of the middle: the end (a PDF's %%EOF) stays
            del data[position: position + draw(st.integers(min_value=1, max_value=512))]
        elif action == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=16))
            data[position: position + len(chunk)] = chunk
        elif action == "splice":
            data[position:position] = draw(st.sampled_from(SPLICES))
        else:  # the format's magic number, then anything
            data[8:] = draw(st.binary(max_size=2048))
    return name, bytes(data)


@pytest.fixture(scope="module")
def pipeline():
    """Validate's sniffing and the extract stages, run as the state machine routes a document."""
    settings_ = get_settings()
    with mock_aws(), EmulatorHub() as hub:
        textract = hub.register(TextractEmulator(max_workers=2, page_time_limit_s=20))
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=settings_.documents_bucket)

        def run(name: str, data: bytes) -> str:
            key = f"{settings_.inbox_prefix}{name}"
            s3.put_object(Bucket=settings_.documents_bucket, Key=key, Body=data)
            document = classify(*identify(settings_.documents_bucket, key, None, settings_.max_document_bytes))
            state = PipelineState(execution_id=EXECUTION, document=document, route=route_for(document))
            if state.route == "native":
                state = extract_text(TaskInput(execution_id=EXECUTION, state=state)).state
            if state.route == "ocr_sync" and state.text is None:
                state = detect_text(TaskInput(execution_id=EXECUTION, state=state)).state
            elif state.route == "ocr_async" and state.text is None:
                state = start_text_detection(TaskInput(execution_id=EXECUTION, state=state)).state
                assert textract.wait(state.ocr_job.job_id, timeout=120)
                state = poll_text_detection(TaskInput(execution_id=EXECUTION, state=state)).state
            assert state.text is not None
            return state.route

        yield run


def check(pipeline, name: str, data: bytes) -> None:
    try:
        route = pipeline(name, data)
    except (DocumentRejected, ExtractionFailed) as refused:
        reason = str(refused)
        assert reason and not CLASS_NAME.search(reason), reason
        assert "\n" not in reason and len(reason) < 600, reason
        event(f"{name.rsplit('.', 1)[-1]}: {' '.join(reason.split()[:5])}")  # --hypothesis-show-statistics
    else:
        event(f"{name.rsplit('.', 1)[-1]}: text ({route})")


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_every_seed_is_read(pipeline, name):
    """The seeds themselves are valid: the property below starts from files that work."""
    pipeline(name, SEEDS[name])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(damaged())
def test_damaged_files_end_in_text_or_a_readable_refusal(pipeline, case):
    check(pipeline, *case)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from([".pdf", ".docx", ".html", ".txt", ".md", ".png", ".jpg", ".tiff", ""]),
       st.binary(max_size=4096))
def test_random_bytes_under_any_name_end_in_text_or_a_readable_refusal(pipeline, suffix, data):
    check(pipeline, "random" + suffix, data)


def test_a_reader_bug_is_classified_once_with_a_log_reference(pipeline, monkeypatch):
    """An exception no reader meant to raise is docpipe's failure, not the file's: ExtractionFailed (not
    retried), naming the execution whose log holds the traceback."""
    from docpipe.readers import text

    monkeypatch.setattr(text, "decode_text", lambda data: {}["boom"])
    with pytest.raises(ExtractionFailed) as failed:
        pipeline("notes.txt", SEEDS["notes.txt"])
    assert re.fullmatch(r"docpipe failed on this document: its text reader failed on it \(an internal error, not a "
                        r"rule the file broke\); the function log has the details under execution hypothesis",
                        str(failed.value)), str(failed.value)


@pytest.mark.parametrize("name,data", [
    ("blank.txt", b" \n\t\r\n" * 100), ("rules.md", b"----\n****\n====\n"), ("empty.html", b"<html><body> </body></html>"),
    ("blank.png", _blank_png()),
], ids=["whitespace", "symbols", "html", "blank-scan"])
def test_a_document_without_text_is_refused_before_any_summary(pipeline, name, data):
    """Nothing to summarize, translate or speak: quarantined as 'no text', whichever engine read it."""
    with pytest.raises(DocumentRejected, match=r"^no text: the document holds no readable text"):
        pipeline(name, data)
