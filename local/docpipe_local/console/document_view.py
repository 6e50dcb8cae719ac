"""One document as its page shows it: outputs from its manifest, text page by page (OCR lines with their boxes
and confidence), page images, and cost by AWS service."""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from docpipe_local.cost.ledger import SERVICE_OF_LINE, TOKEN_LINES
from docpipe_local.runtime import OfflineRuntime

PAGE_IMAGE_DPI = 110
PAGE_IMAGE_MAX_PAGES = 200  # a page image is drawn on request; beyond this the text stands alone


@dataclass
class CostLine:
    item: str
    service: str
    quantity: float
    unit_usd: float
    usd: float


def cost_lines(manifest: dict) -> list[CostLine]:
    lines = []
    for item, line in (manifest.get("cost", {}).get("lines") or {}).items():
        lines.append(CostLine(item, _service(item), line.get("quantity", 0), line.get("unit_usd", 0), line.get("usd", 0)))
    return lines


def _service(item: str) -> str:
    """The AWS service a manifest's cost line is billed under, as `docpipe cost` groups them."""
    return SERVICE_OF_LINE.get(item) or ("Bedrock tokens" if item in TOKEN_LINES else item)


def cost_by_service(lines: list[CostLine]) -> list[tuple[str, float, float]]:
    """(service, usd, share of the largest for the bar's length), largest first."""
    totals: dict[str, float] = {}
    for line in lines:
        totals[line.service] = totals.get(line.service, 0.0) + line.usd
    top = max(totals.values(), default=0.0) or 1.0
    return [(service, usd, usd / top) for service, usd in sorted(totals.items(), key=lambda kv: -kv[1])]


def output_names(manifest: dict | None) -> dict[str, str]:
    """File name -> S3 key for every output the manifest lists: the only files the console serves for it."""
    if not manifest:
        return {}
    return {PurePosixPath(key).name: key for key in manifest.get("outputs", [])}


def read_json(runtime: OfflineRuntime, key: str) -> dict | None:
    try:
        return json.loads(runtime.read(key))
    except runtime.s3.exceptions.NoSuchKey:
        return None


def translations(manifest: dict, outputs: dict[str, str], runtime: OfflineRuntime) -> list[dict]:
    result = []
    for language, entry in (manifest.get("languages") or {}).items():
        text = None
        summary = f"summary.{language}.md"
        if summary in outputs:
            text = runtime.read(outputs[summary]).decode("utf-8", "replace")
        audio = [name for name in outputs if name.startswith(f"audio.{language}.")]
        result.append({"language": language, "status": entry.get("status"), "reason": entry.get("reason"),
                       "text": text, "audio": audio})
    return result


def highlight(text: str, quote: str | None) -> list[tuple[str, bool]]:
    """The page's text cut into (piece, is_the_quote): the quote matched across line wraps and spacing."""
    if not quote or not quote.split():
        return [(text, False)]
    pattern = r"\s+".join(re.escape(word) for word in quote.split())
    match = re.search(pattern, text)
    if not match:
        return [(text, False)]
    return [(text[:match.start()], False), (text[match.start():match.end()], True), (text[match.end():], False)]


def page_image(data: bytes, media_type: str, page: int) -> bytes | None:
    """PNG of one page: a PDF page rendered with pdfium, an image as it is (its first frame); None otherwise."""
    if media_type == "application/pdf":
        import pypdfium2

        pdf = pypdfium2.PdfDocument(data)
        try:
            if not 1 <= page <= min(len(pdf), PAGE_IMAGE_MAX_PAGES):
                return None
            bitmap = pdf[page - 1].render(scale=PAGE_IMAGE_DPI / 72)
            image = bitmap.to_pil()
        finally:
            pdf.close()
    elif media_type.startswith("image/"):
        from PIL import Image

        image = Image.open(io.BytesIO(data))
        image.seek(page - 1)
        image.thumbnail((1400, 1400))
    else:
        return None
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "PNG", optimize=False)
    return buffer.getvalue()
