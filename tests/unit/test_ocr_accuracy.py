"""OCR accuracy of the Textract emulator on the scanned samples, against their ground-truth text.

The character error rate (CER) is the Levenshtein distance between the recognized text and the truth,
both with whitespace collapsed to single spaces, divided by the length of the truth. Measured values are
printed (``pytest -s``) and attached to the test report as properties.
"""

from __future__ import annotations

from pathlib import Path

import boto3
import numpy as np
import pytest
from moto import mock_aws

from docpipe_local.emulators.base import EmulatorHub
from docpipe_local.emulators.textract import TextractEmulator, blocks_text

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
BUCKET = "ocr-accuracy"
REGION = "us-east-1"


def normalize(text: str) -> str:
    return " ".join(text.split())


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insert, delete, substitute: cost 1), one numpy row at a time.

    Row i from row i-1: t[j] = min(prev[j] + 1, prev[j-1] + (a[i] != b[j])), then insertions along the
    row, cur[j] = min over k <= j of t[k] + (j - k), which is a running minimum of t[k] - k.
    """
    if not a or not b:
        return max(len(a), len(b))
    codes_b = np.frombuffer(b.encode("utf-32-le"), dtype=np.uint32)
    offsets = np.arange(len(b) + 1)
    prev = offsets.copy()
    for i, char in enumerate(a, start=1):
        substitution = prev[:-1] + (codes_b != ord(char))
        t = np.empty_like(prev)
        t[0] = i
        t[1:] = np.minimum(prev[1:] + 1, substitution)
        prev = np.minimum.accumulate(t - offsets) + offsets
    return int(prev[-1])


def cer(recognized: str, truth: str) -> float:
    truth = normalize(truth)
    return levenshtein(normalize(recognized), truth) / max(len(truth), 1)


def test_levenshtein_is_the_textbook_distance():
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("flaw", "lawn") == 2
    assert levenshtein("", "abc") == 3 and levenshtein("abc", "abc") == 0
    assert cer("Harbor  Bridge\nPM-0417", "Harbor Bridge PM-0417") == 0.0
    assert cer("Harbour Bridge", "Harbor Bridge") == pytest.approx(1 / 13)


@pytest.fixture(scope="module")
def ocr():
    """Reads a sample through boto3 -> emulator, as the pipeline's extract step does; returns its text."""
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        with EmulatorHub() as hub:
            emulator = hub.register(TextractEmulator(max_workers=2))
            textract = boto3.client("textract", region_name=REGION)

            def read(name: str) -> str:
                s3.put_object(Bucket=BUCKET, Key=name, Body=(SAMPLES / name).read_bytes())
                location = {"S3Object": {"Bucket": BUCKET, "Name": name}}
                job_id = textract.start_document_text_detection(DocumentLocation=location)["JobId"]
                assert emulator.wait(job_id, timeout=120)
                blocks, token = [], None
                while True:
                    extra = {"NextToken": token} if token else {}
                    response = textract.get_document_text_detection(JobId=job_id, **extra)
                    assert response["JobStatus"] == "SUCCEEDED", response.get("StatusMessage")
                    blocks += response["Blocks"]
                    token = response.get("NextToken")
                    if not token:
                        return blocks_text(blocks)

            yield read


@pytest.mark.parametrize("name, bound", [
    ("scanned_letter.pdf", 0.02),   # 2 pages, 300 dpi, noise, 0.6 and -0.4 degree skew
    ("scanned_notice.pdf", 0.02),   # 1 page, larger type, -0.8 degree skew
    ("site_photo.png", 0.05),       # photo-like: textured wall, 2.2 degree rotation, blur, red heading
])
def test_character_error_rate(ocr, name, bound, record_property):
    truth = (SAMPLES / name).with_suffix(".txt").read_text()

    rate = cer(ocr(name), truth)

    record_property(f"cer[{name}]", round(rate, 5))
    print(f"\nCER {name}: {rate:.4%} (bound {bound:.0%})")
    assert rate <= bound
