"""Amazon Textract, offline: text detection that really reads the document.

Engines
    * PDF pages with a text layer: pypdfium2 reads the characters and their boxes (no OCR; ~3 ms a page
      with its blocks built).
    * PDF pages without one (scans): pypdfium2 renders them at 300 dpi, Tesseract (tesserocr) reads them
      (~0.7 s a Letter page on one core). A page that reads badly is read again with Tesseract's
      orientation detection, then upside down, so sideways and upside-down scans come out right.
    * PNG, JPEG (EXIF orientation applied) and TIFF images: Pillow decodes them, Tesseract reads them.
  The format is sniffed from the magic bytes, never taken from a name. Tesseract is not thread-safe: each
  worker thread of the OCR pool owns one ``PyTessBaseAPI``; tesserocr releases the GIL while it recognizes,
  so pages are read in parallel, one per worker. pdfium is not thread-safe either: every pdfium call holds
  one module-wide lock, ``PDFIUM_LOCK`` (rendering included; recognition runs outside it).

Operations
    DetectDocumentText, AnalyzeDocument (sync), StartDocumentTextDetection, GetDocumentTextDetection
    (async). Responses have Textract's shape: PAGE, LINE and WORD blocks with Id, Confidence, Text,
    TextType, Page, Geometry (BoundingBox and Polygon normalized to 0..1, origin top-left, in the page's
    display orientation) and CHILD relationships PAGE -> LINE -> WORD.

Limits and errors, as Textract documents them
    * sync: ``Document.Bytes`` <= 5 MB, S3 object <= 10 MB (DocumentTooLargeException); a PDF or TIFF must
      have one page (UnsupportedDocumentException); async: <= 500 MB and <= 3,000 pages.
    * formats other than PDF/PNG/JPEG/TIFF: UnsupportedDocumentException; empty, corrupt or truncated
      files (a PDF without ``%%EOF`` near its end): BadDocumentException.
    * password-protected PDFs: UnsupportedDocumentException. Textract documents that it does not support
      encrypted PDFs and answers them with this code ("Request has unsupported document format"); the
      file is intact, only its format variant is refused, which is why it is not a BadDocumentException.
    * hostile input: images are measured from their header before anything is decoded and refused above
      ``MAX_IMAGE_SIDE`` pixels a side or ``MAX_IMAGE_PIXELS`` pixels in all (BadDocumentException naming the
      cap); PDF pages above 40 inches a side are refused (Textract's own page-size limit) and pages are
      rendered at the dpi that keeps them under the pixel cap; each page has a time limit
      (``page_time_limit_s``, enforced inside Tesseract).
    * missing bucket, key or version: InvalidS3ObjectException; unknown job: InvalidJobIdException; a
      ClientRequestToken reused with other parameters: IdempotentParameterMismatchException.
    * async failures follow Textract: Start checks only what it can see at once (the object exists, its
      size); the rest surfaces in GetDocumentTextDetection as JobStatus FAILED with a StatusMessage that
      starts with the error code (``"UnsupportedDocumentException: ..."``). A page that fails on its own
      (time limit, oversize page) leaves an empty PAGE block, a ``Warnings`` entry naming the page, and
      JobStatus PARTIAL_SUCCESS; a job whose every page failed is FAILED.
    * NotificationChannel (SNS) and OutputConfig (S3) are honoured through the same (moto) AWS the
      emulator reads from; failures to deliver them are logged, as the job itself succeeded.

Not emulated: AnalyzeDocument's TABLES, FORMS, QUERIES, SIGNATURES and LAYOUT features. AnalyzeDocument
validates FeatureTypes/QueriesConfig as Textract does but answers with the same PAGE/LINE/WORD blocks as
DetectDocumentText (no TABLE, CELL, KEY_VALUE_SET, QUERY or LAYOUT_* blocks). Handwriting is read as
PRINTED. Job results are kept in memory for Textract's 7 days, not persisted between processes.
"""

from __future__ import annotations

import base64
import binascii
import copy
import ctypes
import glob
import io
import json
import logging
import math
import os
import re
import struct
import threading
import time
import uuid
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

# pdfium is not thread-safe: every call into it holds this process-wide lock, the same one the layer's PDF
# reader takes, since in-process handlers read PDFs while Textract jobs run.
from docpipe.errors import DocumentRejected
from docpipe.readers.pdf import PDFIUM_LOCK
from docpipe.readers.pdf_guard import check_pdf_bytes
from docpipe.sniff import image_size

from .base import Emulator, ServiceError

log = logging.getLogger(__name__)

MB = 1024 * 1024
SYNC_BYTES_LIMIT = 5 * MB
SYNC_S3_LIMIT = 10 * MB
ASYNC_S3_LIMIT = 500 * MB
ASYNC_MAX_PAGES = 3000
MAX_PDF_PAGE_POINTS = 40 * 72          # Textract: PDF pages up to 40 inches (2880 points) a side
MAX_IMAGE_SIDE = 10_000                # Textract: images up to 10,000 pixels a side
MAX_IMAGE_PIXELS = 40_000_000          # our decoding budget: 40 MB as 8-bit greyscale
MAX_PDF_IMAGE_PIXELS = MAX_IMAGE_SIDE ** 2  # an image inside a PDF, decoded by PDFium at its own size
MAX_INFLATED_STREAM_BYTES = 128 * MB   # a PDF stream, inflated (decompression bombs; docpipe's own budget)
MAX_INFLATED_BYTES = 1024 * MB         # all of a PDF's streams, inflated
OCR_DPI = 300
PAGE_TIME_LIMIT_S = 60.0
JOB_RETENTION_S = 7 * 24 * 3600        # Textract keeps async results for 7 days
MAX_RESULTS = 1000
MODEL_VERSION = "1.0"
TEXT_LAYER_CONFIDENCE = 99.9           # characters from a text layer are read, not guessed
MIN_OCR_CONFIDENCE = 30.0              # below this, a word without a letter or digit is scanner noise
RETRY_CONFIDENCE = 70.0                # a page read worse than this is read again with orientation detection

_FORM_DEPTH = 8                        # form XObjects nested deeper than this are not searched for images
_UNSUPPORTED = "Request has unsupported document format"
_INVALID = "Request has invalid parameters"
_S3_ERROR = "Unable to get object metadata from S3. Check object key, region and/or access permissions."



# ------------------------------------------------------------------------------------------------------
# pure helpers
# ------------------------------------------------------------------------------------------------------

def _clamp(value: float) -> float:
    return 0.0 if value < 0.0 else 1.0 if value > 1.0 else float(value)


def normalized_geometry(left: float, top: float, right: float, bottom: float,
                        width: float, height: float) -> dict[str, Any]:
    """Textract ``Geometry`` for an axis-aligned box in a ``width`` x ``height`` page.

    Coordinates are in any unit (pixels, points) with the origin at the top left, y growing downwards;
    the result is normalized and clamped to 0..1, its Polygon listing the corners clockwise from the
    top left, as Textract does.
    """
    if width <= 0 or height <= 0:
        raise ValueError("page width and height must be positive")
    x0, x1 = sorted((_clamp(left / width), _clamp(right / width)))
    y0, y1 = sorted((_clamp(top / height), _clamp(bottom / height)))
    return {
        "BoundingBox": {"Width": x1 - x0, "Height": y1 - y0, "Left": x0, "Top": y0},
        "Polygon": [{"X": x0, "Y": y0}, {"X": x1, "Y": y0}, {"X": x1, "Y": y1}, {"X": x0, "Y": y1}],
    }


def sniff_format(data: bytes) -> str | None:
    """The document format from its magic bytes: "PDF", "PNG", "JPEG", "TIFF" or None."""
    head = bytes(data[:8])
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if b"%PDF-" in bytes(data[:1024]):  # the PDF header may follow a little junk, as readers accept
        return "PDF"
    return None


def blocks_text(blocks: list[dict[str, Any]]) -> str:
    """The text of Textract blocks, one LINE per line and a blank line between pages."""
    pages: dict[int, list[str]] = {}
    for block in blocks:
        if block.get("BlockType") == "LINE":
            pages.setdefault(block.get("Page", 1), []).append(block.get("Text", ""))
    return "\n\n".join("\n".join(lines) for _, lines in sorted(pages.items()))


# ------------------------------------------------------------------------------------------------------
# engine results
# ------------------------------------------------------------------------------------------------------

@dataclass
class _Word:
    text: str
    confidence: float
    box: tuple[float, float, float, float]  # normalized left, top, right, bottom


@dataclass
class _Page:
    lines: list[list[_Word]]
    engine: str
    warning: str | None = None


class _PageFailure(Exception):
    """One page could not be read; sync calls turn it into ServiceError, async jobs into a Warning."""

    def __init__(self, code: str, warning: str, message: str):
        super().__init__(message)
        self.code, self.warning, self.message = code, warning, message


def _geometry_of(box: tuple[float, float, float, float]) -> dict[str, Any]:
    return normalized_geometry(box[0], box[1], box[2], box[3], 1.0, 1.0)


def _union(words: list[_Word]) -> tuple[float, float, float, float]:
    return (min(w.box[0] for w in words), min(w.box[1] for w in words),
            max(w.box[2] for w in words), max(w.box[3] for w in words))


def _page_blocks(page: _Page, number: int) -> list[dict[str, Any]]:
    """PAGE, then its LINEs, then their WORDs: the order Textract answers in."""
    page_block: dict[str, Any] = {"BlockType": "PAGE", "Geometry": _geometry_of((0.0, 0.0, 1.0, 1.0)),
                                  "Id": str(uuid.uuid4()), "Page": number}
    lines, words = [], []
    for line_words in page.lines:
        if not line_words:
            continue
        word_ids = []
        for word in line_words:
            word_id = str(uuid.uuid4())
            word_ids.append(word_id)
            words.append({"BlockType": "WORD", "Confidence": word.confidence, "Text": word.text,
                          "TextType": "PRINTED", "Geometry": _geometry_of(word.box), "Id": word_id,
                          "Page": number})
        lines.append({"BlockType": "LINE",
                      "Confidence": sum(w.confidence for w in line_words) / len(line_words),
                      "Text": " ".join(w.text for w in line_words),
                      "Geometry": _geometry_of(_union(line_words)), "Id": str(uuid.uuid4()),
                      "Relationships": [{"Type": "CHILD", "Ids": word_ids}], "Page": number})
    if lines:
        page_block["Relationships"] = [{"Type": "CHILD", "Ids": [line["Id"] for line in lines]}]
    return [page_block, *lines, *words]


def _blocks(pages: list[_Page]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for number, page in enumerate(pages, start=1):
        out.extend(_page_blocks(page, number))
    return out


def _warnings(pages: list[_Page]) -> list[dict[str, Any]]:
    grouped: dict[str, list[int]] = {}
    for number, page in enumerate(pages, start=1):
        if page.warning:
            grouped.setdefault(page.warning, []).append(number)
    return [{"ErrorCode": code, "Pages": numbers} for code, numbers in grouped.items()]


# ------------------------------------------------------------------------------------------------------
# pdfium text layer
# ------------------------------------------------------------------------------------------------------

# a word is a run of anything but white space; a line break is one of pdfium's (or the PDF's) breaks
_TOKENS = re.compile(r"[^\s]+|[\n\r\f\v\u2028\u2029]")
# what never belongs in a word: control characters (but U+0002, pdfium's hyphen), non-characters, surrogates
_DROP = {c: None for c in [*range(0x00, 0x20), 0x7F, 0xFFFE, 0xFFFF, *range(0xD800, 0xE000)] if c != 0x02}


def _page_transform(page) -> Callable[[float, float], tuple[float, float]]:
    """Maps PDF user space to normalized display coordinates (crop box, /Rotate clockwise)."""
    left, bottom, right, top = page.get_cropbox()
    width, height = (right - left) or 1.0, (top - bottom) or 1.0
    rotation = page.get_rotation() % 360

    def to_norm(x: float, y: float) -> tuple[float, float]:
        u, v = (x - left) / width, (top - y) / height
        if rotation == 90:
            return 1.0 - v, u
        if rotation == 180:
            return 1.0 - u, 1.0 - v
        if rotation == 270:
            return v, 1.0 - u
        return u, v

    return to_norm


def _page_text(textpage_raw, count: int) -> str | None:
    import pypdfium2.raw as pdfium_c

    buffer = ctypes.create_string_buffer((count + 1) * 2)
    written = pdfium_c.FPDFText_GetText(textpage_raw, 0, count, ctypes.cast(buffer, ctypes.POINTER(ctypes.c_ushort)))
    text = buffer.raw[: max(written - 1, 0) * 2].decode("utf-16-le", errors="replace")
    return text if len(text) == count else None  # characters outside the BMP: read them one by one


def _image_coverage(page) -> float:
    import pypdfium2.raw as pdfium_c

    left, bottom, right, top = page.get_cropbox()
    area = max((right - left) * (top - bottom), 1.0)
    best = 0.0
    # inline images (BI ... ID ... EI) are image objects too; images inside form XObjects are reached by depth
    for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=_FORM_DEPTH):
        x0, y0, x1, y1 = obj.get_bounds()
        w = max(0.0, min(x1, right) - max(x0, left))
        h = max(0.0, min(y1, top) - max(y0, bottom))
        best = max(best, w * h / area)
    return best


def _text_layer(page) -> list[list[_Word]] | None:
    """Lines of words with boxes from the page's text layer; None when the page needs OCR.

    Call with PDFIUM_LOCK held. Words are pdfium's text split at white space (pdfium inserts spaces and
    line breaks where the layout has them); a word's box spans its first and last glyphs. Lines break
    where pdfium breaks them, where the baseline moves, and at gaps wider than two character heights
    (table cells and columns become separate LINEs, as Textract makes them).
    """
    import pypdfium2.raw as pdfium_c

    textpage = page.get_textpage()
    try:
        raw = textpage.raw
        count = pdfium_c.FPDFText_CountChars(raw)
        if count <= 0:
            return None
        text = _page_text(raw, count)
        if text is None:
            text = "".join(chr(c) if c <= 0x10FFFF else "\ufffd"
                           for c in (pdfium_c.FPDFText_GetUnicode(raw, i) for i in range(count)))
        tokens = list(_TOKENS.finditer(text))
        printable = sum(len(t.group().translate(_DROP)) for t in tokens if not t.group().isspace())
        if printable == 0 or (printable < 20 and _image_coverage(page) >= 0.5):
            return None  # a scan, perhaps with a stamped page number: read the picture
        to_norm = _page_transform(page)
        rect = pdfium_c.FS_RECTF()
        rect_ref = ctypes.byref(rect)
        get_box = pdfium_c.FPDFText_GetLooseCharBox

        def glyph(index: int) -> tuple[float, float, float, float] | None:
            if not get_box(raw, index, rect_ref):
                return None
            return (min(rect.left, rect.right), min(rect.bottom, rect.top),
                    max(rect.left, rect.right), max(rect.bottom, rect.top))

        lines: list[list[_Word]] = []
        line: list[_Word] = []
        prev: tuple[float, float, float, float] | None = None  # previous word, user space l, b, r, t
        for token in tokens:
            word = token.group()
            if word.isspace():  # a line break
                if line:
                    lines.append(line)
                line, prev = [], None
                continue
            word = word.replace("\x02", "-").translate(_DROP)  # pdfium marks a line-end hyphen with U+0002
            if not word:
                continue
            first, last = glyph(token.start()), glyph(token.end() - 1)
            if first is None or last is None:
                first = last = first or last
                if first is None:
                    continue
            box = (min(first[0], last[0]), min(first[1], last[1]), max(first[2], last[2]), max(first[3], last[3]))
            if prev is not None and line:
                size = max(prev[3] - prev[1], box[3] - box[1], 1e-3)
                centre = (box[1] + box[3]) / 2
                gap = box[0] - prev[2]
                if not prev[1] - 0.2 * size <= centre <= prev[3] + 0.2 * size or gap < -2 * size or gap > 2 * size:
                    lines.append(line)  # the baseline moved, the text jumped back, or a column gap
                    line = []
            (u0, v0), (u1, v1) = to_norm(box[0], box[3]), to_norm(box[2], box[1])
            line.append(_Word(word, TEXT_LAYER_CONFIDENCE, (min(u0, u1), min(v0, v1), max(u0, u1), max(v0, v1))))
            prev = box
        if line:
            lines.append(line)
        return lines
    finally:
        textpage.close()


# ------------------------------------------------------------------------------------------------------
# Tesseract
# ------------------------------------------------------------------------------------------------------

def find_tessdata() -> str:
    """The folder holding eng.traineddata: $TESSDATA_PREFIX, then Debian's tesseract-ocr folders."""
    candidates = []
    prefix = os.environ.get("TESSDATA_PREFIX")
    if prefix:
        candidates += [prefix, os.path.join(prefix, "tessdata")]
    candidates += sorted(glob.glob("/usr/share/tesseract-ocr/*/tessdata"), reverse=True)
    candidates += ["/usr/share/tesseract-ocr/tessdata", "/usr/share/tessdata", "/usr/local/share/tessdata",
                   "/opt/homebrew/share/tessdata"]
    for folder in candidates:
        if os.path.isfile(os.path.join(folder, "eng.traineddata")):
            return folder.rstrip("/") + "/"
    raise RuntimeError("Tesseract's English data (eng.traineddata) was not found: install Debian's "
                       "tesseract-ocr-eng or set TESSDATA_PREFIX")


def _is_noise(text: str, confidence: float) -> bool:
    return confidence < MIN_OCR_CONFIDENCE and not any(ch.isalnum() for ch in text)


# ------------------------------------------------------------------------------------------------------
# jobs
# ------------------------------------------------------------------------------------------------------

@dataclass
class _Job:
    job_id: str
    location: dict[str, Any]
    params: dict[str, Any]
    created: float = field(default_factory=time.time)
    status: str = "IN_PROGRESS"
    status_message: str | None = None
    pages: int | None = None
    blocks: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    finished: float | None = None
    done: threading.Event = field(default_factory=threading.Event)


def _require_s3_object(container: dict[str, Any], name: str) -> dict[str, Any]:
    s3_object = container.get("S3Object")
    if not s3_object or not s3_object.get("Bucket") or not s3_object.get("Name"):
        raise ServiceError("InvalidParameterException", f"{_INVALID}: {name}.S3Object needs Bucket and Name")
    return s3_object


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    if hasattr(value, "read"):
        return value.read()
    raise ServiceError("InvalidParameterException", f"{_INVALID}: Document.Bytes is not a byte string")


class TextractEmulator(Emulator):
    """Textract's text detection, answered from pdfium text layers and Tesseract OCR."""

    service = "textract"

    def __init__(self, max_workers: int | None = None, *, region_name: str | None = None,
                 page_time_limit_s: float = PAGE_TIME_LIMIT_S, ocr_dpi: int = OCR_DPI):
        self.max_workers = max(1, max_workers or os.cpu_count() or 1)
        self.region_name = region_name or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.page_time_limit_s = page_time_limit_s
        self.ocr_dpi = ocr_dpi
        self._jobs_pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="textract-job")
        self._ocr_pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="textract-ocr")
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}
        self._tokens: dict[str, tuple[str, str]] = {}
        self._clients: dict[str, Any] = {}
        self._local = threading.local()
        self._apis: list[Any] = []
        self._tessdata: str | None = None
        self._has_osd = False
        self._closed = False
        # the latest pages read: (engine, thread name, monotonic start, end), for benchmarks and tests
        self.page_log: deque[tuple[str, str, float, float]] = deque(maxlen=10_000)

    # -------------------------------------------------------------------------------- operations

    def DetectDocumentText(self, params: dict[str, Any]) -> dict[str, Any]:
        pages = self._sync_pages(params)
        return {"DocumentMetadata": {"Pages": len(pages)}, "Blocks": _blocks(pages),
                "DetectDocumentTextModelVersion": MODEL_VERSION}

    def AnalyzeDocument(self, params: dict[str, Any]) -> dict[str, Any]:
        """Validates FeatureTypes as Textract does; answers with PAGE/LINE/WORD blocks only.

        TABLES, FORMS, QUERIES, SIGNATURES and LAYOUT are accepted but not analysed: no TABLE, CELL,
        KEY_VALUE_SET, QUERY, SIGNATURE or LAYOUT_* blocks are produced.
        """
        features = params.get("FeatureTypes") or []
        if len(set(features)) != len(features):
            raise ServiceError("InvalidParameterException", f"{_INVALID}: FeatureTypes has duplicates")
        if ("QUERIES" in features) != bool(params.get("QueriesConfig")):
            raise ServiceError("InvalidParameterException",
                               f"{_INVALID}: QueriesConfig goes with, and only with, the QUERIES feature")
        pages = self._sync_pages(params)
        return {"DocumentMetadata": {"Pages": len(pages)}, "Blocks": _blocks(pages),
                "AnalyzeDocumentModelVersion": MODEL_VERSION}

    def StartDocumentTextDetection(self, params: dict[str, Any]) -> dict[str, Any]:
        s3_object = _require_s3_object(params.get("DocumentLocation") or {}, "DocumentLocation")
        token = params.get("ClientRequestToken")
        fingerprint = json.dumps({key: params.get(key) for key in
                                  ("DocumentLocation", "JobTag", "NotificationChannel", "OutputConfig",
                                   "KMSKeyId")}, sort_keys=True, default=str)
        if token and (known := self._known_token(token, fingerprint)):
            return {"JobId": known}
        size = self._head(s3_object)
        if size > ASYNC_S3_LIMIT:
            raise ServiceError("DocumentTooLargeException",
                               f"S3 object size {size} is more than the maximum limit {ASYNC_S3_LIMIT}")
        with self._lock:
            if self._closed:
                raise ServiceError("InternalServerError", "the Textract emulator is shut down", 500)
            if token and (known := self._known_token(token, fingerprint, locked=True)):
                return {"JobId": known}
            self._expire_jobs()
            job = _Job(uuid.uuid4().hex + uuid.uuid4().hex, dict(s3_object), params)
            self._jobs[job.job_id] = job
            if token:
                self._tokens[token] = (job.job_id, fingerprint)
        self._jobs_pool.submit(self._run_job, job)
        return {"JobId": job.job_id}

    def GetDocumentTextDetection(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            job = self._jobs.get(params["JobId"])
        if job is None:
            raise ServiceError("InvalidJobIdException", "An invalid job identifier was passed.")
        response: dict[str, Any] = {"JobStatus": job.status, "DetectDocumentTextModelVersion": MODEL_VERSION}
        if job.status == "IN_PROGRESS":
            return response
        if job.pages is not None:
            response["DocumentMetadata"] = {"Pages": job.pages}
        if job.status_message:
            response["StatusMessage"] = job.status_message
        if job.status == "FAILED":
            return response
        limit = min(params.get("MaxResults") or MAX_RESULTS, MAX_RESULTS)
        offset = self._decode_token(params.get("NextToken"), job) if params.get("NextToken") else 0
        end = min(offset + limit, len(job.blocks))
        response["Blocks"] = copy.deepcopy(job.blocks[offset:end])
        if end < len(job.blocks):
            response["NextToken"] = self._encode_token(job, end)
        if job.warnings:
            response["Warnings"] = copy.deepcopy(job.warnings)
        return response

    # -------------------------------------------------------------------------------- lifecycle

    def wait(self, job_id: str, timeout: float | None = None) -> bool:
        """Block until a job has finished (tests, the local runtime); True if it did in time."""
        with self._lock:
            job = self._jobs.get(job_id)
        return job is not None and job.done.wait(timeout)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._ocr_pool.shutdown(wait=True, cancel_futures=True)
        self._jobs_pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            apis, self._apis = self._apis, []
        for api in apis:
            try:
                api.End()
            except Exception:  # noqa: BLE001 - best effort at shutdown
                pass

    # -------------------------------------------------------------------------------- documents

    def _sync_pages(self, params: dict[str, Any]) -> list[_Page]:
        document = params.get("Document") or {}
        if ("Bytes" in document) == ("S3Object" in document):
            raise ServiceError("InvalidParameterException",
                               f"{_INVALID}: Document needs exactly one of Bytes and S3Object")
        if "Bytes" in document:
            data = _as_bytes(document["Bytes"])
            if len(data) > SYNC_BYTES_LIMIT:
                raise ServiceError("DocumentTooLargeException",
                                   f"Document size {len(data)} bytes is more than the maximum limit "
                                   f"{SYNC_BYTES_LIMIT} for documents passed as bytes")
        else:
            data = self._read(_require_s3_object(document, "Document"), SYNC_S3_LIMIT)
        try:
            return self._read_document(data, sync=True)
        except _PageFailure as failure:
            raise ServiceError(failure.code, failure.message) from None

    def _read_document(self, data: bytes, *, sync: bool) -> list[_Page]:
        """The pages of a document, or the ServiceError Textract would answer. An exception of the
        emulator's own is a bug: it is logged with a reference and answered as Textract answers a document it
        cannot read (BadDocumentException, not retried), its message saying that the emulator failed."""
        try:
            return self._read_any(data, sync=sync)
        except (ServiceError, _PageFailure):
            raise
        except Exception as err:  # noqa: BLE001 - classified once, here
            raise ServiceError("BadDocumentException", _internal_error(err)) from None

    def _read_any(self, data: bytes, *, sync: bool) -> list[_Page]:
        if not data:
            raise ServiceError("BadDocumentException", "The document is empty (0 bytes).")
        kind = sniff_format(data)
        if kind is None:
            raise ServiceError("UnsupportedDocumentException",
                               f"{_UNSUPPORTED}: the content is not PDF, PNG, JPEG or TIFF")
        if kind == "PDF":
            return self._read_pdf(data, sync=sync)
        return self._read_image(data, kind, sync=sync)

    def _page_count_check(self, count: int, kind: str, sync: bool) -> None:
        if count < 1:
            raise ServiceError("BadDocumentException", f"The {kind} has no pages.")
        if sync and count > 1:
            raise ServiceError("UnsupportedDocumentException",
                               f"{_UNSUPPORTED}: synchronous operations read single-page documents; this "
                               f"{kind} has {count} pages (use StartDocumentTextDetection)")
        if count > ASYNC_MAX_PAGES:
            raise ServiceError("UnsupportedDocumentException",
                               f"{_UNSUPPORTED}: the {kind} has {count} pages, over the limit of "
                               f"{ASYNC_MAX_PAGES}")

    def _read_pdf(self, data: bytes, *, sync: bool) -> list[_Page]:
        import pypdfium2 as pdfium
        import pypdfium2.raw as pdfium_c

        if b"%%EOF" not in data[-4096:]:
            raise ServiceError("BadDocumentException",
                               "The PDF is truncated or damaged: no %%EOF marker at its end.")
        try:
            check_pdf_bytes(data, max_stream_bytes=MAX_INFLATED_STREAM_BYTES, max_total_bytes=MAX_INFLATED_BYTES,
                            max_pixels=MAX_PDF_IMAGE_PIXELS)
        except DocumentRejected as refused:
            raise ServiceError("BadDocumentException", f"The PDF cannot be read safely: {refused}") from None
        with PDFIUM_LOCK:
            try:
                pdf = pdfium.PdfDocument(data)
            except pdfium.PdfiumError as err:
                if err.err_code in (pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY):
                    raise ServiceError("UnsupportedDocumentException",
                                       f"{_UNSUPPORTED}: the PDF is encrypted (password protected)") from None
                raise ServiceError("BadDocumentException", f"The PDF could not be read: {err}") from None
            count = len(pdf)
        try:
            self._page_count_check(count, "PDF", sync)
            slots = threading.BoundedSemaphore(2 * self.max_workers)  # bounds rendered pages in memory
            futures: list[Future] = []
            for index in range(count):
                started = time.monotonic()
                try:
                    lines, image = self._pdf_page(pdf, index)
                except _PageFailure as failure:
                    futures.append(self._failed(failure, sync))
                    continue
                if lines is not None:
                    self._log_page("pdfium", started)
                    futures.append(self._done(_Page(lines, "pdfium")))
                    continue
                slots.acquire()
                future = self._submit_ocr(image, self.ocr_dpi, time.monotonic() - started)
                future.add_done_callback(lambda _: slots.release())
                futures.append(future)
            return self._collect(futures, sync)
        finally:
            with PDFIUM_LOCK:
                pdf.close()

    def _pdf_page(self, pdf, index: int):
        """Text-layer lines, or the page rendered for OCR: (lines, None) or (None, image)."""
        import pypdfium2 as pdfium

        with PDFIUM_LOCK:
            try:
                page = pdf[index]
            except pdfium.PdfiumError as err:
                raise _PageFailure("BadDocumentException", "PAGE_UNREADABLE",
                                   f"Page {index + 1} of the PDF could not be read: {err}") from None
            try:
                width, height = page.get_size()
                if max(width, height) > MAX_PDF_PAGE_POINTS:
                    raise _PageFailure("BadDocumentException", "PAGE_TOO_LARGE",
                                       f"Page {index + 1} is {width / 72:.0f} x {height / 72:.0f} inches, "
                                       f"over the limit of {MAX_PDF_PAGE_POINTS // 72} inches a side")
                lines = _text_layer(page)
                if lines is not None:
                    return lines, None
                scale = min(self.ocr_dpi / 72, math.sqrt(MAX_IMAGE_PIXELS / max(width * height, 1.0)))
                bitmap = page.render(scale=scale, grayscale=True, may_draw_forms=False)
                try:
                    image = bitmap.to_pil().copy()
                finally:
                    bitmap.close()
                return None, image
            except _PageFailure:
                raise
            except pdfium.PdfiumError as err:
                raise _PageFailure("BadDocumentException", "PAGE_UNREADABLE",
                                   f"Page {index + 1} of the PDF could not be read: {err}") from None
            except Exception as err:  # noqa: BLE001 - one page's bug fails that page, as a page failure
                raise _PageFailure("BadDocumentException", "PAGE_UNREADABLE",
                                   f"Page {index + 1}: {_internal_error(err)}") from None
            finally:
                page.close()

    def _read_image(self, data: bytes, kind: str, *, sync: bool) -> list[_Page]:
        from PIL import Image, ImageOps, UnidentifiedImageError

        try:
            image = Image.open(io.BytesIO(data), formats=[kind])
        except Image.DecompressionBombError:
            width, height = image_size(data, kind.lower())
            what = f"is {width} x {height} pixels" if width and height else "declares too many pixels"
            raise ServiceError("BadDocumentException",
                               f"The image {what}, over the cap of {MAX_IMAGE_SIDE} pixels a side and "
                               f"{MAX_IMAGE_PIXELS} pixels in all") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, struct.error) as err:
            raise ServiceError("BadDocumentException", f"The {kind} image could not be read: {err}") from None
        with image:
            try:
                count = getattr(image, "n_frames", 1) if kind == "TIFF" else 1
            except (OSError, ValueError, SyntaxError) as err:
                raise ServiceError("BadDocumentException", f"The TIFF could not be read: {err}") from None
            self._page_count_check(count, kind, sync)
            futures: list[Future] = []
            for index in range(count):
                try:
                    if index:
                        image.seek(index)
                    width, height = image.size
                    if max(width, height) > MAX_IMAGE_SIDE or width * height > MAX_IMAGE_PIXELS:
                        raise _PageFailure(
                            "BadDocumentException", "IMAGE_TOO_LARGE",
                            f"The image is {width} x {height} pixels, over the cap of {MAX_IMAGE_SIDE} "
                            f"pixels a side and {MAX_IMAGE_PIXELS} pixels in all")
                    started = time.monotonic()
                    try:
                        image.load()
                        frame = _greyscale(ImageOps.exif_transpose(image) if kind == "JPEG" else image)
                    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError,
                            struct.error) as err:
                        raise _PageFailure("BadDocumentException", "PAGE_UNREADABLE",
                                           f"The {kind} image could not be decoded: {err}") from None
                except _PageFailure as failure:
                    if count == 1:
                        raise ServiceError(failure.code, failure.message) from None
                    futures.append(self._failed(failure, sync))
                    continue
                dpi = _image_dpi(image)
                futures.append(self._submit_ocr(frame, dpi, time.monotonic() - started))
            return self._collect(futures, sync)

    # -------------------------------------------------------------------------------- OCR

    def _tesseract(self):
        api = getattr(self._local, "api", None)
        if api is None:
            import tesserocr

            with self._lock:
                if self._tessdata is None:
                    self._tessdata = find_tessdata()
                    self._has_osd = os.path.isfile(os.path.join(self._tessdata, "osd.traineddata"))
            api = tesserocr.PyTessBaseAPI(path=self._tessdata, lang="eng", psm=tesserocr.PSM.AUTO)
            self._local.api = api
            with self._lock:
                self._apis.append(api)
        return api

    def _submit_ocr(self, image, dpi: int | None, spent_s: float) -> Future:
        try:
            return self._ocr_pool.submit(self._ocr_page, image, dpi, spent_s)
        except RuntimeError:  # the pool is shut down
            raise ServiceError("InternalServerError", "the Textract emulator is shut down", 500) from None

    def _ocr_page(self, image, dpi: int | None, spent_s: float) -> _Page:
        """Tesseract on one page image, within the page's time limit.

        Layout analysis without orientation detection first. A page that reads badly (mean word
        confidence under ``RETRY_CONFIDENCE``, as a sideways or upside-down scan does) is read again with
        Tesseract's orientation detection, then, if that cannot tell (too little text), upside down; the
        best reading is kept. Word boxes stay in the coordinates of the image as given, as Textract's do.
        """
        from PIL import Image
        from tesserocr import PSM

        started = time.monotonic()
        deadline = started + self.page_time_limit_s - spent_s
        api = self._tesseract()
        try:
            lines, confidence = self._recognize(api, image, dpi, PSM.AUTO, deadline)
            if confidence < RETRY_CONFIDENCE and self._has_osd:
                other, other_confidence = self._recognize(api, image, dpi, PSM.AUTO_OSD, deadline)
                if other_confidence > confidence:
                    lines, confidence = other, other_confidence
            if confidence < RETRY_CONFIDENCE:
                flipped = image.transpose(Image.Transpose.ROTATE_180)
                other, other_confidence = self._recognize(api, flipped, dpi, PSM.AUTO, deadline)
                if other_confidence > confidence:
                    for line in other:
                        for word in line:
                            left, top, right, bottom = word.box
                            word.box = (1.0 - right, 1.0 - bottom, 1.0 - left, 1.0 - top)
                    lines, confidence = other, other_confidence
            return _Page(lines, "tesseract")
        finally:
            api.Clear()
            self._log_page("tesseract", started)

    def _recognize(self, api, image, dpi: int | None, psm, deadline: float) -> tuple[list[list[_Word]], float]:
        from tesserocr import RIL, iterate_level

        budget_ms = int((deadline - time.monotonic()) * 1000)
        if budget_ms <= 0:
            raise self._time_limit_failure()
        width, height = image.size
        api.SetPageSegMode(psm)
        api.SetImage(image)
        if dpi:
            api.SetSourceResolution(dpi)
        if not api.Recognize(timeout=budget_ms):
            raise self._time_limit_failure()
        lines: list[list[_Word]] = []
        confidences: list[float] = []
        new_line = True
        for word in iterate_level(api.GetIterator(), RIL.WORD):
            if word.IsAtBeginningOf(RIL.TEXTLINE):
                new_line = True
            try:
                text = (word.GetUTF8Text(RIL.WORD) or "").strip()
            except RuntimeError:  # tesserocr's "No text returned": a blank page has no words to read
                continue
            box = word.BoundingBox(RIL.WORD)
            if not text or box is None:
                continue
            confidence = max(0.0, min(100.0, float(word.Confidence(RIL.WORD))))
            confidences.append(confidence)
            if _is_noise(text, confidence):
                continue
            if new_line or not lines:
                lines.append([])
                new_line = False
            x0, y0, x1, y1 = box
            lines[-1].append(_Word(text, confidence, (x0 / width, y0 / height, x1 / width, y1 / height)))
        return lines, (sum(confidences) / len(confidences) if confidences else 100.0)

    def _time_limit_failure(self) -> _PageFailure:
        return _PageFailure("BadDocumentException", "PAGE_TIME_LIMIT_EXCEEDED",
                            f"Reading the page took longer than the limit of {self.page_time_limit_s:g} s "
                            f"per page")

    # -------------------------------------------------------------------------------- page plumbing

    def _log_page(self, engine: str, started: float) -> None:
        with self._lock:
            self.page_log.append((engine, threading.current_thread().name, started, time.monotonic()))

    @staticmethod
    def _done(page: _Page) -> Future:
        future: Future = Future()
        future.set_result(page)
        return future

    def _failed(self, failure: _PageFailure, sync: bool) -> Future:
        if sync:
            raise failure
        future: Future = Future()
        future.set_exception(failure)
        return future

    @staticmethod
    def _collect(futures: list[Future], sync: bool) -> list[_Page]:
        pages = []
        for future in futures:
            try:
                try:
                    pages.append(future.result())
                except (_PageFailure, ServiceError):
                    raise
                except Exception as err:  # noqa: BLE001 - an OCR worker's bug fails its page
                    raise _PageFailure("BadDocumentException", "PAGE_UNREADABLE", _internal_error(err)) from None
            except _PageFailure as failure:
                if sync:
                    for other in futures:
                        other.cancel()
                    raise
                log.warning("textract emulator: %s", failure.message)
                pages.append(_Page([], "none", failure.warning))
        return pages

    # -------------------------------------------------------------------------------- async jobs

    def _known_token(self, token: str, fingerprint: str, locked: bool = False) -> str | None:
        if not locked:
            with self._lock:
                return self._known_token(token, fingerprint, locked=True)
        known = self._tokens.get(token)
        if known is None or known[0] not in self._jobs:
            return None
        if known[1] != fingerprint:
            raise ServiceError("IdempotentParameterMismatchException",
                               "A ClientRequestToken input parameter was reused with an operation, but at "
                               "least one of the other input parameters is different from the previous call "
                               "to the operation.")
        return known[0]

    def _expire_jobs(self) -> None:
        horizon = time.time() - JOB_RETENTION_S
        for job_id in [j for j, job in self._jobs.items() if job.finished and job.finished < horizon]:
            del self._jobs[job_id]
        self._tokens = {t: v for t, v in self._tokens.items() if v[0] in self._jobs}

    def _run_job(self, job: _Job) -> None:
        try:
            data = self._read(job.location, ASYNC_S3_LIMIT)
            pages = self._read_document(data, sync=False)
            job.pages = len(pages)
            job.blocks = _blocks(pages)
            job.warnings = _warnings(pages)
            if job.warnings and all(page.warning for page in pages):
                job.status = "FAILED"
                job.status_message = "BadDocumentException: no page could be read (" + ", ".join(
                    w["ErrorCode"] for w in job.warnings) + ")"
            elif job.warnings:
                job.status = "PARTIAL_SUCCESS"
                job.status_message = "Some pages could not be read; see Warnings."
            else:
                job.status = "SUCCEEDED"
        except ServiceError as err:
            job.status, job.status_message = "FAILED", f"{err.code}: {err.message}"
        except Exception as err:  # noqa: BLE001 - a job must end, whatever broke
            job.status, job.status_message = "FAILED", f"BadDocumentException: {_internal_error(err)}"
        job.finished = time.time()
        if job.status == "FAILED":
            job.blocks, job.warnings = [], []
        self._deliver(job)
        job.done.set()

    def _deliver(self, job: _Job) -> None:
        """Write OutputConfig results and publish the SNS completion message, as Textract does."""
        output = job.params.get("OutputConfig")
        if output and job.status != "FAILED":
            try:
                prefix = (output.get("S3Prefix") or "textract_output").rstrip("/")
                s3 = self._client("s3")
                s3.put_object(Bucket=output["S3Bucket"], Key=f"{prefix}/.s3_access_check", Body=b"")
                for part, start in enumerate(range(0, max(len(job.blocks), 1), MAX_RESULTS), start=1):
                    body = {"DocumentMetadata": {"Pages": job.pages}, "JobStatus": job.status,
                            "Blocks": job.blocks[start:start + MAX_RESULTS],
                            "DetectDocumentTextModelVersion": MODEL_VERSION}
                    if job.warnings:
                        body["Warnings"] = job.warnings
                    s3.put_object(Bucket=output["S3Bucket"], Key=f"{prefix}/{job.job_id}/{part}",
                                  Body=json.dumps(body).encode())
            except Exception:  # noqa: BLE001
                log.exception("textract emulator: could not write the output of job %s", job.job_id)
        channel = job.params.get("NotificationChannel")
        if channel:
            message = {"JobId": job.job_id, "Status": job.status, "API": "StartDocumentTextDetection",
                       "Timestamp": int(time.time() * 1000),
                       "DocumentLocation": {"S3ObjectName": job.location["Name"],
                                            "S3Bucket": job.location["Bucket"]}}
            if job.params.get("JobTag"):
                message["JobTag"] = job.params["JobTag"]
            try:
                self._client("sns").publish(TopicArn=channel["SNSTopicArn"], Message=json.dumps(message))
            except Exception:  # noqa: BLE001
                log.exception("textract emulator: could not notify %s", channel.get("SNSTopicArn"))

    @staticmethod
    def _encode_token(job: _Job, offset: int) -> str:
        raw = json.dumps({"j": job.job_id, "o": offset}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode()

    @staticmethod
    def _decode_token(token: str, job: _Job) -> int:
        try:
            decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
            offset = int(decoded["o"])
            if decoded["j"] != job.job_id or not 0 <= offset < len(job.blocks):
                raise ValueError(token)
            return offset
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise ServiceError("InvalidParameterException", f"{_INVALID}: NextToken is not valid") from None

    # -------------------------------------------------------------------------------- S3

    def _client(self, name: str):
        with self._lock:
            client = self._clients.get(name)
            if client is None:
                import boto3

                client = self._clients[name] = boto3.client(name, region_name=self.region_name)
        return client

    def _object_args(self, s3_object: dict[str, Any]) -> dict[str, Any]:
        args = {"Bucket": s3_object["Bucket"], "Key": s3_object["Name"]}
        if s3_object.get("Version"):
            args["VersionId"] = s3_object["Version"]
        return args

    def _head(self, s3_object: dict[str, Any]) -> int:
        from botocore.exceptions import ClientError

        try:
            return int(self._client("s3").head_object(**self._object_args(s3_object))["ContentLength"])
        except ClientError:
            raise ServiceError("InvalidS3ObjectException", _S3_ERROR) from None

    def _read(self, s3_object: dict[str, Any], limit: int) -> bytes:
        from botocore.exceptions import ClientError

        try:
            response = self._client("s3").get_object(**self._object_args(s3_object))
        except ClientError:
            raise ServiceError("InvalidS3ObjectException", _S3_ERROR) from None
        size = int(response.get("ContentLength") or 0)
        body = response["Body"]
        if size > limit:
            body.close()
            raise ServiceError("DocumentTooLargeException",
                               f"S3 object size {size} is more than the maximum limit {limit}")
        data = body.read(limit + 1)
        if len(data) > limit:
            raise ServiceError("DocumentTooLargeException",
                               f"S3 object size is more than the maximum limit {limit}")
        return data


def _internal_error(err: Exception) -> str:
    """Log an emulator bug with its traceback; the message for the caller, with the log's reference."""
    reference = uuid.uuid4().hex[:12]
    log.error("textract emulator: internal error %s", reference, exc_info=err)
    return (f"the Textract emulator failed on this document (a bug in docpipe's offline Textract, not something "
            f"the real service is known to refuse; logged as {reference})")


def _image_dpi(image) -> int | None:
    dpi = image.info.get("dpi")
    try:
        value = int(round(float(dpi[0]))) if dpi else 0
    except (TypeError, ValueError, IndexError):
        return None
    return value if 70 <= value <= 1200 else None


def _greyscale(image):
    """An 8-bit greyscale copy; transparent pixels become white paper."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        paper.alpha_composite(rgba)
        return paper.convert("L")
    if image.mode == "L":
        return image.copy()
    if image.mode.startswith("I;16") or image.mode == "I":
        return image.convert("I").point(lambda v: v / 256).convert("L")
    return image.convert("L")
