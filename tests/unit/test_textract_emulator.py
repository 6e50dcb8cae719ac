"""The Textract emulator, through a real boto3 client: moto's S3 behind it, the EmulatorHub in front.

Given documents in (mocked) S3 or as bytes, when a handler calls Textract the way it would in AWS, then it
gets Textract's block structure, Textract's limits and Textract's modeled exceptions.
"""

from __future__ import annotations

import io
import json
import resource
import struct
import threading
import time
import uuid
import zlib
from pathlib import Path

import boto3
import pypdfium2 as pdfium
import pytest
from moto import mock_aws
from PIL import Image, ImageDraw, ImageFont

from docpipe_local.emulators.base import EmulatorHub
from docpipe_local.emulators.textract import (
    MAX_IMAGE_PIXELS,
    MAX_IMAGE_SIDE,
    TextractEmulator,
    blocks_text,
    normalized_geometry,
    sniff_format,
)

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
BUCKET = "textract-input"
REGION = "us-east-1"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


# --------------------------------------------------------------------------------------------- fixtures

@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        yield s3


@pytest.fixture
def emulator(aws):
    with EmulatorHub() as hub:
        yield hub.register(TextractEmulator(max_workers=2))


@pytest.fixture
def textract(emulator):
    return boto3.client("textract", region_name=REGION)


def put(s3, key: str, body: bytes) -> dict:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return {"S3Object": {"Bucket": BUCKET, "Name": key}}


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def text_image(lines: list[str], size=(900, 90), font_px=36, mode="L", background=255) -> Image.Image:
    image = Image.new(mode, (size[0], size[1] * len(lines)), background)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, font_px)
    for i, line in enumerate(lines):
        draw.text((30, 20 + i * size[1]), line, font=font, fill=0 if mode == "L" else (0, 0, 0, 255))
    return image


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def pdf_pages(*sources: tuple[bytes, int], rotation: int = 0) -> bytes:
    """A PDF made of pages taken from other PDFs."""
    out = pdfium.PdfDocument.new()
    for data, index in sources:
        out.import_pages(pdfium.PdfDocument(data), [index])
    for page in out:
        page.set_rotation(rotation)
    buffer = io.BytesIO()
    out.save(buffer)
    return buffer.getvalue()


def wait_done(textract, job_id: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = textract.get_document_text_detection(JobId=job_id)
        if response["JobStatus"] != "IN_PROGRESS":
            return response
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still IN_PROGRESS after {timeout} s")


def all_blocks(textract, job_id: str, max_results: int) -> tuple[list[dict], list[dict]]:
    """Every block of a job, following NextToken; also the responses, to check the page sizes."""
    responses = [textract.get_document_text_detection(JobId=job_id, MaxResults=max_results)]
    while "NextToken" in responses[-1]:
        responses.append(textract.get_document_text_detection(
            JobId=job_id, MaxResults=max_results, NextToken=responses[-1]["NextToken"]))
    return [block for response in responses for block in response["Blocks"]], responses


# --------------------------------------------------------------------------------------------- checks

def check_shape(value, shape, path="response") -> None:
    """Every key and value of a response is allowed by botocore's model of Textract."""
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(value, dict), path
        for key, item in value.items():
            if key == "ResponseMetadata":
                continue
            assert key in shape.members, f"{path}.{key} is not in the {shape.name} shape"
            check_shape(item, shape.members[key], f"{path}.{key}")
    elif kind == "list":
        assert isinstance(value, list), path
        for i, item in enumerate(value):
            check_shape(item, shape.member, f"{path}[{i}]")
    elif kind == "string":
        assert isinstance(value, str), path
        if shape.enum:
            assert value in shape.enum, f"{path}={value!r} is not one of {shape.name}"
        if "max" in shape.metadata:
            assert len(value) <= shape.metadata["max"], path
    elif kind == "float":
        assert isinstance(value, float), path
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        assert (low is None or value >= low) and (high is None or value <= high), f"{path}={value}"
    elif kind == "integer":
        assert isinstance(value, int), path
    else:
        raise AssertionError(f"{path}: unexpected shape type {kind}")


def check_blocks(blocks: list[dict], pages: int) -> None:
    """Textract's invariants: PAGE -> LINE -> WORD, every child once, texts and geometry consistent."""
    by_id = {block["Id"]: block for block in blocks}
    assert len(by_id) == len(blocks), "block Ids must be unique"
    for block in blocks:
        uuid.UUID(block["Id"])
        box = block["Geometry"]["BoundingBox"]
        assert all(0.0 <= box[k] <= 1.0 for k in ("Width", "Height", "Left", "Top")), block
        assert box["Left"] + box["Width"] <= 1.0 + 1e-9 and box["Top"] + box["Height"] <= 1.0 + 1e-9
        polygon = block["Geometry"]["Polygon"]
        assert len(polygon) == 4 and all(0.0 <= p["X"] <= 1.0 and 0.0 <= p["Y"] <= 1.0 for p in polygon)
        assert 1 <= block["Page"] <= pages
        if block["BlockType"] != "PAGE":
            assert 0.0 <= block["Confidence"] <= 100.0 and block["Text"]
    page_blocks = [b for b in blocks if b["BlockType"] == "PAGE"]
    assert [b["Page"] for b in page_blocks] == list(range(1, pages + 1))
    children: dict[str, str] = {}
    for block in blocks:
        for relation in block.get("Relationships", []):
            assert relation["Type"] == "CHILD"
            for child in relation["Ids"]:
                assert child not in children, "a block has one parent"
                children[child] = block["Id"]
    for block in blocks:
        parent = by_id.get(children.get(block["Id"], ""))
        if block["BlockType"] == "PAGE":
            assert parent is None
        elif block["BlockType"] == "LINE":
            assert parent["BlockType"] == "PAGE" and parent["Page"] == block["Page"]
            words = [by_id[i] for i in block["Relationships"][0]["Ids"]]
            assert block["Text"] == " ".join(w["Text"] for w in words)
            line_box = block["Geometry"]["BoundingBox"]
            for word in words:
                box = word["Geometry"]["BoundingBox"]
                assert box["Left"] >= line_box["Left"] - 1e-9 and box["Top"] >= line_box["Top"] - 1e-9
        else:
            assert block["BlockType"] == "WORD" and block["TextType"] == "PRINTED"
            assert parent["BlockType"] == "LINE" and parent["Page"] == block["Page"]


def error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


# --------------------------------------------------------------------------------------------- sync

def test_detect_image_bytes_returns_textract_blocks(textract):
    data = encode(text_image(["Harbor Bridge inspection 2025", "Floor beam FB-14: 38 mm crack"]), "PNG")

    response = textract.detect_document_text(Document={"Bytes": data})

    check_shape(response, textract.meta.service_model.operation_model("DetectDocumentText").output_shape)
    check_blocks(response["Blocks"], pages=1)
    assert response["DocumentMetadata"] == {"Pages": 1}
    assert response["DetectDocumentTextModelVersion"]
    assert [b["BlockType"] for b in response["Blocks"]][:3] == ["PAGE", "LINE", "LINE"]
    assert blocks_text(response["Blocks"]) == "Harbor Bridge inspection 2025\nFloor beam FB-14: 38 mm crack"
    first, second = [b for b in response["Blocks"] if b["BlockType"] == "LINE"]
    assert first["Geometry"]["BoundingBox"]["Top"] < second["Geometry"]["BoundingBox"]["Top"]
    assert first["Confidence"] > 80


def test_text_layer_pdf_page_is_read_without_ocr(aws, textract, emulator):
    document = put(aws, "report-page-1.pdf", pdf_pages((sample("bridge_report.pdf"), 0)))

    response = textract.detect_document_text(Document=document)

    check_blocks(response["Blocks"], pages=1)
    lines = [b for b in response["Blocks"] if b["BlockType"] == "LINE"]
    texts = [line["Text"] for line in lines]
    assert "Executive summary" in texts
    assert any("38 mm fatigue crack in the web of floor beam FB-14" in text for text in texts)
    assert all(b["Confidence"] > 99 for b in lines)
    tops = [line["Geometry"]["BoundingBox"]["Top"] for line in lines]
    assert tops == sorted(tops), "lines come in reading order"
    heading = next(b for b in response["Blocks"] if b["BlockType"] == "WORD" and b["Text"] == "Executive")
    box = heading["Geometry"]["BoundingBox"]
    assert 0.09 < box["Left"] < 0.13 and 0.17 < box["Top"] < 0.23  # 22 mm margin on a Letter page
    assert [engine for engine, *_ in emulator.page_log] == ["pdfium"]


def test_analyze_document_answers_text_blocks_and_checks_features(aws, textract):
    data = encode(text_image(["Pier 3 scour 1.2 m"]), "JPEG", quality=90)

    response = textract.analyze_document(Document={"Bytes": data}, FeatureTypes=["TABLES", "FORMS"])

    check_shape(response, textract.meta.service_model.operation_model("AnalyzeDocument").output_shape)
    assert {b["BlockType"] for b in response["Blocks"]} == {"PAGE", "LINE", "WORD"}
    assert blocks_text(response["Blocks"]) == "Pier 3 scour 1.2 m"
    assert response["AnalyzeDocumentModelVersion"]
    with pytest.raises(textract.exceptions.InvalidParameterException):
        textract.analyze_document(Document={"Bytes": data}, FeatureTypes=["QUERIES"])


def test_s3_object_version_is_honoured(aws, textract):
    aws.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    first = aws.put_object(Bucket=BUCKET, Key="sign.png", Body=encode(text_image(["Lane closed"]), "PNG"))
    aws.put_object(Bucket=BUCKET, Key="sign.png", Body=encode(text_image(["Lane open"]), "PNG"))

    old = textract.detect_document_text(Document={"S3Object": {
        "Bucket": BUCKET, "Name": "sign.png", "Version": first["VersionId"]}})
    new = textract.detect_document_text(Document={"S3Object": {"Bucket": BUCKET, "Name": "sign.png"}})

    assert blocks_text(old["Blocks"]) == "Lane closed"
    assert blocks_text(new["Blocks"]) == "Lane open"


def test_content_is_sniffed_not_named(aws, textract):
    response = textract.detect_document_text(Document=put(aws, "scan.pdf", sample("bad/png_named.pdf")))

    assert "Crack gauge FB-14: 0.4 mm opening" in blocks_text(response["Blocks"])


def test_transparent_png_and_tiff_are_read(textract):
    rgba = text_image(["Expansion joint"], mode="RGBA", background=(0, 0, 0, 0))
    tiff = encode(text_image(["Bearing B2-3"]), "TIFF", compression="tiff_deflate")

    assert blocks_text(textract.detect_document_text(Document={"Bytes": encode(rgba, "PNG")})["Blocks"]) \
        == "Expansion joint"
    assert blocks_text(textract.detect_document_text(Document={"Bytes": tiff})["Blocks"]) == "Bearing B2-3"


def _multipage_tiff() -> bytes:
    first, second = text_image(["Page one: deck"]), text_image(["Page two: arch ribs"])
    return encode(first, "TIFF", save_all=True, append_images=[second])


@pytest.mark.parametrize("make, code", [
    (lambda s3: {"Bytes": b"\x89PNG\r\n\x1a\n" + b"\0" * (5 * 1024 * 1024)}, "DocumentTooLargeException"),
    (lambda s3: put(s3, "big.png", b"\x89PNG\r\n\x1a\n" + b"\0" * (10 * 1024 * 1024)),
     "DocumentTooLargeException"),
    (lambda s3: put(s3, "report.pdf", sample("bridge_report.pdf")), "UnsupportedDocumentException"),
    (lambda s3: {"Bytes": _multipage_tiff()}, "UnsupportedDocumentException"),
    (lambda s3: {"Bytes": sample("maintenance_memo.docx")}, "UnsupportedDocumentException"),
    (lambda s3: {"Bytes": sample("press_release.html")}, "UnsupportedDocumentException"),
    (lambda s3: put(s3, "empty.pdf", sample("bad/empty.pdf")), "BadDocumentException"),
    (lambda s3: put(s3, "encrypted.pdf", sample("bad/encrypted.pdf")), "UnsupportedDocumentException"),
    (lambda s3: put(s3, "truncated.pdf", sample("bad/truncated.pdf")), "BadDocumentException"),
    (lambda s3: {"Bytes": b"%PDF-1.7\n" + b"garbage " * 100 + b"\n%%EOF\n"}, "BadDocumentException"),
    (lambda s3: {"Bytes": encode(text_image(["x"]), "PNG")[:300]}, "BadDocumentException"),
    (lambda s3: {"Bytes": b"\xff\xd8\xff\xe0" + b"\0" * 64}, "BadDocumentException"),
    (lambda s3: {"S3Object": {"Bucket": BUCKET, "Name": "missing.pdf"}}, "InvalidS3ObjectException"),
    (lambda s3: {"S3Object": {"Bucket": "no-such-bucket", "Name": "a.pdf"}}, "InvalidS3ObjectException"),
    (lambda s3: {"S3Object": {"Bucket": BUCKET}}, "InvalidParameterException"),
    (lambda s3: {}, "InvalidParameterException"),
], ids=["bytes-over-5MB", "s3-over-10MB", "multipage-pdf", "multipage-tiff", "docx", "html", "empty",
        "encrypted", "truncated", "corrupt-pdf", "cut-png", "corrupt-jpeg", "missing-key", "missing-bucket",
        "no-key", "no-document"])
def test_sync_refusals_are_textract_exceptions(aws, textract, make, code):
    with pytest.raises(getattr(textract.exceptions, code)) as excinfo:
        textract.detect_document_text(Document=make(aws))
    assert error_code(excinfo) == code
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_decompression_bomb_is_refused_before_decoding(aws, textract):
    bomb = sample("bad/bomb.png")
    assert len(bomb) < 300 * 1024 and struct.unpack(">II", bomb[16:24]) == (45000, 45000)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    for document in ({"Bytes": bomb}, put(aws, "bomb.png", bomb)):
        with pytest.raises(textract.exceptions.BadDocumentException) as excinfo:
            textract.detect_document_text(Document=document)
        assert "45000 x 45000" in str(excinfo.value) and str(MAX_IMAGE_PIXELS) in str(excinfo.value)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before
    assert grown_kib < 200 * 1024, "the bomb must not be decoded"


def test_image_over_the_side_cap_is_refused_from_its_header(textract):
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    wide = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", MAX_IMAGE_SIDE + 1, 10, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))

    with pytest.raises(textract.exceptions.BadDocumentException) as excinfo:
        textract.detect_document_text(Document={"Bytes": wide})
    assert f"{MAX_IMAGE_SIDE + 1} x 10 pixels" in str(excinfo.value)


def test_page_time_limit(aws):
    with EmulatorHub() as hub:
        hub.register(TextractEmulator(max_workers=1, page_time_limit_s=0.001))
        textract = boto3.client("textract", region_name=REGION)
        with pytest.raises(textract.exceptions.BadDocumentException) as excinfo:
            textract.detect_document_text(Document={"Bytes": encode(text_image(["slow"] * 3), "PNG")})
    assert "0.001 s per page" in str(excinfo.value)


def test_rotated_pages_have_display_geometry_from_both_engines(aws, textract):
    """A /Rotate 180 page: the text layer and OCR of the same page put a word in the same place."""
    image = text_image(["Harbor Bridge arch ribs zone 2"], size=(1200, 120), font_px=48)
    from fpdf import FPDF

    text_pdf = FPDF(format=(400, 60), unit="pt")
    text_pdf.add_page()
    text_pdf.add_font("DejaVu", "", FONT)
    text_pdf.set_font("DejaVu", "", 14)
    text_pdf.text(20, 35, "Harbor Bridge arch ribs zone 2")
    scan_pdf = FPDF(format=(400, 60), unit="pt")
    scan_pdf.add_page()
    scan_pdf.image(image, x=0, y=0, w=400, h=40)

    boxes = []
    for name, data in (("text.pdf", bytes(text_pdf.output())), ("scan.pdf", bytes(scan_pdf.output()))):
        rotated = pdf_pages((data, 0), rotation=180)
        blocks = textract.detect_document_text(Document=put(aws, name, rotated))["Blocks"]
        assert blocks_text(blocks) == "Harbor Bridge arch ribs zone 2"
        harbor = next(b for b in blocks if b.get("Text") == "Harbor")
        boxes.append(harbor["Geometry"]["BoundingBox"])
    text_box, ocr_box = boxes
    # upside down, the first word sits at the right of the page
    assert text_box["Left"] > 0.7 and ocr_box["Left"] > 0.7
    assert abs(text_box["Left"] - ocr_box["Left"]) < 0.05


# --------------------------------------------------------------------------------------------- async

def test_async_job_lifecycle_and_pagination(aws, textract):
    location = put(aws, "inbox/bridge_report.pdf", sample("bridge_report.pdf"))

    job_id = textract.start_document_text_detection(DocumentLocation=location, JobTag="harbor-bridge")["JobId"]
    done = wait_done(textract, job_id)

    assert done["JobStatus"] == "SUCCEEDED" and done["DocumentMetadata"] == {"Pages": 4}
    check_shape(done, textract.meta.service_model.operation_model("GetDocumentTextDetection").output_shape)
    assert len(done["Blocks"]) == 1000 and "NextToken" in done  # default MaxResults is 1000
    blocks, responses = all_blocks(textract, job_id, max_results=333)
    assert all(len(r["Blocks"]) <= 333 for r in responses) and "NextToken" not in responses[-1]
    assert len(responses) > 3
    check_blocks(blocks, pages=4)
    whole, _ = all_blocks(textract, job_id, max_results=1000)
    assert [b["Id"] for b in blocks] == [b["Id"] for b in whole], "every block once, in the same order"
    capped = textract.get_document_text_detection(JobId=job_id, MaxResults=5000)
    assert len(capped["Blocks"]) == 1000
    text = blocks_text(blocks)
    assert "6. Schedule and funding" in text and "$9,098,000" in text
    assert [b["Page"] for b in blocks if b["BlockType"] == "PAGE"] == [1, 2, 3, 4]


def test_async_job_runs_in_the_background_and_ocr_pages_in_parallel(aws, textract, emulator, monkeypatch):
    location = put(aws, "inbox/letter.pdf", sample("scanned_letter.pdf"))
    pages_may_finish, ocr_page = threading.Event(), emulator._ocr_page

    def held_ocr_page(*args):  # no page can be read before the first answer below
        assert pages_may_finish.wait(60), "the test never let the pages finish"
        return ocr_page(*args)
    monkeypatch.setattr(emulator, "_ocr_page", held_ocr_page)
    job_id = textract.start_document_text_detection(DocumentLocation=location)["JobId"]
    first = textract.get_document_text_detection(JobId=job_id)
    pages_may_finish.set()
    assert first["JobStatus"] == "IN_PROGRESS" and "Blocks" not in first  # start answered before the pages

    done = wait_done(textract, job_id)
    assert done["JobStatus"] == "SUCCEEDED" and done["DocumentMetadata"] == {"Pages": 2}
    ocr = [entry for entry in emulator.page_log if entry[0] == "tesseract"]
    assert len(ocr) == 2 and all(thread.startswith("textract-ocr") for _, thread, *_ in ocr)
    (_, thread_a, start_a, end_a), (_, thread_b, start_b, end_b) = ocr
    assert thread_a != thread_b and start_b < end_a and start_a < end_b, "both pages were read at once"


def test_client_request_token_makes_start_idempotent(aws, textract):
    location = put(aws, "memo.png", encode(text_image(["Lane closed"]), "PNG"))

    first = textract.start_document_text_detection(DocumentLocation=location, ClientRequestToken="doc-1",
                                                   JobTag="t1")["JobId"]
    again = textract.start_document_text_detection(DocumentLocation=location, ClientRequestToken="doc-1",
                                                   JobTag="t1")["JobId"]
    other = textract.start_document_text_detection(DocumentLocation=location, ClientRequestToken="doc-2",
                                                   JobTag="t1")["JobId"]

    assert first == again != other
    assert len(first) <= 64
    with pytest.raises(textract.exceptions.IdempotentParameterMismatchException):
        textract.start_document_text_detection(DocumentLocation=location, ClientRequestToken="doc-1",
                                               JobTag="another-tag")
    assert wait_done(textract, first)["JobStatus"] == "SUCCEEDED"


def test_async_errors(aws, textract):
    with pytest.raises(textract.exceptions.InvalidS3ObjectException):
        textract.start_document_text_detection(DocumentLocation={"S3Object": {"Bucket": BUCKET, "Name": "nope"}})
    with pytest.raises(textract.exceptions.InvalidJobIdException):
        textract.get_document_text_detection(JobId="0" * 64)

    for key, code in (("bad/encrypted.pdf", "UnsupportedDocumentException"),
                      ("bad/truncated.pdf", "BadDocumentException"),
                      ("bad/bomb.png", "BadDocumentException"),
                      ("faq.md", "UnsupportedDocumentException")):
        job_id = textract.start_document_text_detection(DocumentLocation=put(aws, key, sample(key)))["JobId"]
        failed = wait_done(textract, job_id)
        assert failed["JobStatus"] == "FAILED" and failed["StatusMessage"].startswith(code), failed
        assert "Blocks" not in failed

    job_id = textract.start_document_text_detection(
        DocumentLocation=put(aws, "report.pdf", sample("bridge_report.pdf")))["JobId"]
    wait_done(textract, job_id)
    with pytest.raises(textract.exceptions.InvalidParameterException):
        textract.get_document_text_detection(JobId=job_id, NextToken="not-a-token")


def test_async_multipage_tiff_and_partial_success(aws):
    with EmulatorHub() as hub:
        emulator = hub.register(TextractEmulator(max_workers=2))
        textract = boto3.client("textract", region_name=REGION)
        job_id = textract.start_document_text_detection(
            DocumentLocation=put(aws, "pages.tiff", _multipage_tiff()))["JobId"]
        tiff = wait_done(textract, job_id)
        assert tiff["JobStatus"] == "SUCCEEDED" and tiff["DocumentMetadata"] == {"Pages": 2}
        assert blocks_text(tiff["Blocks"]) == "Page one: deck\n\nPage two: arch ribs"
        emulator.page_time_limit_s = 0.001  # the scanned page cannot be read in time, the text page can
        mixed = pdf_pages((sample("bridge_report.pdf"), 3), (sample("scanned_notice.pdf"), 0))
        job_id = textract.start_document_text_detection(DocumentLocation=put(aws, "mixed.pdf", mixed))["JobId"]
        partial = wait_done(textract, job_id)
    assert partial["JobStatus"] == "PARTIAL_SUCCESS"
    assert partial["Warnings"] == [{"ErrorCode": "PAGE_TIME_LIMIT_EXCEEDED", "Pages": [2]}]
    check_blocks(partial["Blocks"], pages=2)
    assert "Schedule and funding" in blocks_text(partial["Blocks"])
    assert not [b for b in partial["Blocks"] if b["Page"] == 2 and b["BlockType"] != "PAGE"]


def test_notification_channel_and_output_config(aws, textract):
    sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
    topic = sns.create_topic(Name="textract-done")["TopicArn"]
    queue = sqs.create_queue(QueueName="textract-done")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    aws.create_bucket(Bucket="textract-output")

    job_id = textract.start_document_text_detection(
        DocumentLocation=put(aws, "report.pdf", sample("bridge_report.pdf")), JobTag="doc-42",
        NotificationChannel={"SNSTopicArn": topic, "RoleArn": "arn:aws:iam::123456789012:role/textract"},
        OutputConfig={"S3Bucket": "textract-output", "S3Prefix": "results"})["JobId"]
    done = wait_done(textract, job_id)

    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1, WaitTimeSeconds=1)["Messages"]
    note = json.loads(json.loads(messages[0]["Body"])["Message"])
    assert note["JobId"] == job_id and note["Status"] == "SUCCEEDED" and note["JobTag"] == "doc-42"
    assert note["DocumentLocation"] == {"S3ObjectName": "report.pdf", "S3Bucket": BUCKET}
    keys = [o["Key"] for o in aws.list_objects_v2(Bucket="textract-output")["Contents"]]
    parts = sorted(k for k in keys if k.startswith(f"results/{job_id}/"))
    written = [json.loads(aws.get_object(Bucket="textract-output", Key=k)["Body"].read()) for k in parts]
    total = sum(len(part["Blocks"]) for part in written)
    assert total == len(all_blocks(textract, job_id, 1000)[0]) and done["DocumentMetadata"]["Pages"] == 4


def test_close_stops_the_workers(aws):
    emulator = TextractEmulator(max_workers=2)
    with EmulatorHub() as hub:
        hub.register(emulator)
        textract = boto3.client("textract", region_name=REGION)
        textract.start_document_text_detection(DocumentLocation=put(aws, "notice.pdf", sample("scanned_notice.pdf")))
    # leaving the hub closed the emulator: no Textract thread is left running
    assert not [t for t in threading.enumerate() if t.name.startswith("textract-")]


# --------------------------------------------------------------------------------------------- helpers

def test_normalized_geometry_and_sniffing():
    geometry = normalized_geometry(50, 20, 150, 60, 200, 100)
    assert geometry["BoundingBox"] == pytest.approx({"Width": 0.5, "Height": 0.4, "Left": 0.25, "Top": 0.2})
    assert geometry["Polygon"][2] == pytest.approx({"X": 0.75, "Y": 0.6})
    clamped = normalized_geometry(-10, -10, 500, 50, 200, 100)["BoundingBox"]
    assert clamped == {"Width": 1.0, "Height": 0.5, "Left": 0.0, "Top": 0.0}
    assert sniff_format(sample("bad/png_named.pdf")) == "PNG"
    assert sniff_format(sample("bridge_report.pdf")) == "PDF"
    assert sniff_format(b"II*\x00rest") == "TIFF" and sniff_format(b"\xff\xd8\xff\xdb") == "JPEG"
    assert sniff_format(sample("maintenance_memo.docx")) is None


def test_an_emulator_bug_is_answered_once_in_textracts_shape(aws, textract, monkeypatch):
    """An exception of the emulator's own (here: in reading a page's text layer) is a bug, not throttling:
    it is answered as Textract answers a document it cannot read, with a log reference, so the state machine
    quarantines it at once instead of retrying it as a server error."""
    import docpipe_local.emulators.textract as module

    def broken(page):
        raise AttributeError("'PdfImage' object has no attribute 'get_pos'")

    monkeypatch.setattr(module, "_text_layer", broken)
    location = put(aws, "report.pdf", pdf_pages((sample("bridge_report.pdf"), 0)))
    with pytest.raises(textract.exceptions.BadDocumentException) as failed:
        textract.detect_document_text(Document=location)
    message = failed.value.response["Error"]["Message"]
    assert "the Textract emulator failed on this document" in message and "logged as" in message
    assert "AttributeError" not in message and failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    job = wait_done(textract, textract.start_document_text_detection(DocumentLocation=location)["JobId"])
    assert job["JobStatus"] == "FAILED" and job["StatusMessage"].startswith("BadDocumentException: ")
