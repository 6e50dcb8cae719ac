"""Shared fixtures. Tests never reach the internet; AWS is moto + the emulators, in-process."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"

# The layer's settings model needs these even in unit tests that never start a runtime.
os.environ.setdefault("DOCPIPE_DOCUMENTS_BUCKET", "unit-test-bucket")
os.environ.setdefault("DOCPIPE_DOCUMENTS_TABLE", "unit-test-table")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def pdf_of(pages: list[str]) -> bytes:
    """A born-digital PDF with one page per text (fpdf2, Helvetica 11 pt)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    return bytes(pdf.output())


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A private data directory, so tests never touch the user's .docpipe/."""
    path = tmp_path / "docpipe-home"
    path.mkdir()
    return path
