"""Textract Blocks (PAGE / LINE / WORD) to normalized pages of text."""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from docpipe.models import TextLine, TextPage


def pages_from_blocks(blocks: Iterable[dict], page_count: int) -> list[TextPage]:
    """Lines in Textract's reading order, grouped by page; pages without lines stay, empty."""
    lines: dict[int, list[TextLine]] = defaultdict(list)
    for block in blocks:
        if block.get("BlockType") != "LINE":
            continue
        box = block.get("Geometry", {}).get("BoundingBox")
        bbox = (box["Left"], box["Top"], box["Width"], box["Height"]) if box else None
        lines[block.get("Page", 1)].append(TextLine(text=block.get("Text", ""), confidence=block.get("Confidence"),
                                                    bbox=bbox))
    pages = []
    for number in range(1, max([page_count, *lines.keys()]) + 1):
        page_lines = lines.get(number, [])
        confidences = [line.confidence for line in page_lines if line.confidence is not None]
        pages.append(TextPage(page=number, text="\n".join(line.text for line in page_lines), lines=page_lines,
                              confidence=round(sum(confidences) / len(confidences), 2) if confidences else None))
    return pages
