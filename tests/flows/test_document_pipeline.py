"""The document pipeline, end to end: the real state machine, handlers and engines on shipped samples."""

import json
import re
import struct
import zlib

import pytest

from tests.conftest import SAMPLES


def cer(expected: str, actual: str) -> float:
    """Character error rate: Levenshtein distance over whitespace-normalized text."""
    a, b = " ".join(expected.split()), " ".join(actual.split())
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1] / max(1, len(a))


def full_text(result) -> str:
    return "\n".join(page["text"] for page in result.text()["pages"])


def guarded(target, text: str) -> str:
    """The truth as the pipeline stores it: passed through the same guardrail (personal data masked)."""
    env = target.environment
    response = target.client("bedrock-runtime").apply_guardrail(
        guardrailIdentifier=env["DOCPIPE_GUARDRAIL_ID"], guardrailVersion=env["DOCPIPE_GUARDRAIL_VERSION"],
        source="INPUT", content=[{"text": {"text": text}}])
    return response["outputs"][0]["text"] if response["action"] == "GUARDRAIL_INTERVENED" else text


# --- documents that succeed ------------------------------------------------------------------------------
def test_born_digital_pdf_is_read_without_textract(target):
    result = target.process((SAMPLES / "bridge_report.pdf").read_bytes(), "bridge_report.pdf")
    assert result.result["status"] == "SUCCEEDED"
    text = result.text()
    assert text["engine"] == "pdfium" and len(text["pages"]) == 4
    assert "Harbor Bridge" in full_text(result)
    states = result.states_entered()
    assert "ExtractNative" in states and not {"DetectText", "StartTextDetection"} & set(states)
    manifest = result.manifest()
    assert manifest["status"] == "SUCCEEDED" and manifest["usage"]["pages"] == 4
    names = [s["name"] for s in manifest["stages"]]
    assert names[:6] == ["validate", "extract", "guard", "embed", "index", "summarize"]
    assert {"translate:es", "speak:es", "translate:ca", "speak:ca"} == set(names[6:])


def test_scanned_pdf_goes_through_async_textract_with_low_error_rate(target):
    result = target.process((SAMPLES / "scanned_letter.pdf").read_bytes(), "scanned_letter.pdf")
    assert result.result["status"] == "SUCCEEDED"
    states = result.states_entered()
    assert {"StartTextDetection", "WaitForTextDetection", "GetTextDetection"} <= set(states)
    assert result.text()["engine"] == "textract" and len(result.text()["pages"]) == 2
    truth = (SAMPLES / "scanned_letter.txt").read_text()
    error_rate = cer(guarded(target, truth) if target.name != "deployed" else truth, full_text(result))
    assert error_rate <= 0.02, f"OCR character error rate {error_rate:.2%}"
    manifest = result.manifest()
    assert manifest["usage"]["textract_pages"] == 2
    assert manifest["cost"]["lines"]["textract_pages"]["usd"] == pytest.approx(2 * 0.0015)


def test_single_page_scan_uses_synchronous_textract(target):
    result = target.process((SAMPLES / "scanned_notice.pdf").read_bytes(), "scanned_notice.pdf")
    assert result.result["status"] == "SUCCEEDED"
    assert "DetectText" in result.states_entered()
    truth = (SAMPLES / "scanned_notice.txt").read_text()
    assert cer(guarded(target, truth) if target.name != "deployed" else truth, full_text(result)) <= 0.02


def test_photo_of_text_is_ocred(target):
    result = target.process((SAMPLES / "site_photo.png").read_bytes(), "site_photo.png")
    assert result.result["status"] == "SUCCEEDED"
    assert "DetectText" in result.states_entered()
    lines = result.text()["pages"][0]["lines"]
    assert lines and all(0 <= line["confidence"] <= 100 for line in lines)
    truth = (SAMPLES / "site_photo.txt").read_text()
    assert cer(guarded(target, truth) if target.name != "deployed" else truth, full_text(result)) <= 0.10


@pytest.mark.parametrize("name,needle", [
    ("maintenance_memo.docx", "Harbor Bridge"), ("inspection_notes.txt", "Harbor Bridge"),
    ("faq.md", "Harbor Bridge"), ("press_release.html", "Harbor Bridge"),
])
def test_text_native_formats(target, name, needle):
    result = target.process((SAMPLES / name).read_bytes(), name)
    assert result.result["status"] == "SUCCEEDED"
    assert needle.lower() in full_text(result).lower()
    assert "<script" not in full_text(result)


@pytest.mark.parametrize("name", ["r\u00e9sum\u00e9 2024.pdf", "a+b c.txt"])
def test_keys_with_spaces_unicode_and_plus_are_decoded_exactly_once(target, name):
    sample = "bridge_report.pdf" if name.endswith(".pdf") else "inspection_notes.txt"
    result = target.process((SAMPLES / sample).read_bytes(), name)
    assert result.result["status"] == "SUCCEEDED"
    assert result.manifest()["source"]["key"] == target.inbox + name


def test_an_image_over_the_synchronous_limit_goes_to_the_async_api(target):
    image = (SAMPLES / "site_photo.png").read_bytes()
    padding = b"x" * (11 * 1024 * 1024)  # an ancillary chunk: valid PNG, > Textract's 10 MB sync limit
    chunk = b"zzTx" + padding
    big = image[:33] + struct.pack(">I", len(padding)) + chunk + struct.pack(">I", zlib.crc32(chunk)) + image[33:]
    result = target.process(big, "large_photo.png")
    assert result.result["status"] == "SUCCEEDED"
    assert "StartTextDetection" in result.states_entered() and "DetectText" not in result.states_entered()


# --- bad inputs: quarantined, with a reason, nothing lost ----------------------------------------------------
@pytest.mark.parametrize("name,reason", [
    ("empty.pdf", r"empty \(0 bytes\)"),
    ("encrypted.pdf", r"password-protected"),
    ("truncated.pdf", r"truncated"),
    ("png_named.pdf", r"says a PDF document .* content is a PNG image"),
    ("bomb.png", r"decompression bomb"),
])
def test_bad_inputs_are_quarantined_with_a_clear_reason(target, name, reason):
    data = (SAMPLES / "bad" / name).read_bytes()
    result = target.process(data, name)
    outcome = result.result
    assert result.status == "SUCCEEDED" and outcome["status"] == "QUARANTINED"
    assert re.search(reason, outcome["reason"]), outcome["reason"]
    doc_id = outcome["doc_id"]
    assert target.read(f"quarantine/{doc_id}/{name}") == data  # the input is kept, byte for byte
    assert json.loads(target.read(f"quarantine/{doc_id}/reason.json"))["reason"] == outcome["reason"]
    assert target.read(target.inbox + name) == data  # and the upload itself is untouched
    manifest = result.manifest()
    assert manifest["status"] == "QUARANTINED" and manifest["reason"] == outcome["reason"]
    assert "Traceback" not in outcome["reason"]
