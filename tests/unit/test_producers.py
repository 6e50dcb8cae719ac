"""PDFs as real producers write them, read by both engines: the native reader (ExtractNative) and the
Textract emulator. Producers: ReportLab and fpdf2 (PyPI), Ghostscript's pdfwrite (Debian `ghostscript`), and
a page built by hand. Among them: inline images (BI ... ID ... EI), form XObjects, two-column text, accented
Latin, Greek and Cyrillic. Each test asserts the text that comes out, in order, not only that nothing broke.
(LibreOffice and LaTeX are not installed here: README "Text and documents accepted" says why.)
"""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
import zlib

import boto3
import pytest
from moto import mock_aws

from docpipe.readers.pdf import read_pdf
from docpipe_local.emulators.base import EmulatorHub
from docpipe_local.emulators.textract import TextractEmulator, blocks_text
from tests.hostile_files import FONT, inline_image_pdf, text_image
from tests.unit.test_readers import CAPS

REGION, BUCKET = "us-east-1", "producers"
LEFT = "The left column begins the report and ends its first paragraph here."
RIGHT = "The right column continues with the costs of the bearing replacement."
ACCENTED = "Déjà vu: crème brûlée, naïve façade, Ærøskøbing, Straße"
GREEK = "Η γέφυρα επιθεωρήθηκε τον Μάρτιο"
CYRILLIC = "Мост осмотрели в марте"


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def textract():
    with mock_aws(), EmulatorHub() as hub:
        hub.register(TextractEmulator(max_workers=2))
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        client = boto3.client("textract", region_name=REGION)

        def read(data: bytes, name: str) -> str:
            s3.put_object(Bucket=BUCKET, Key=name, Body=data)
            response = client.detect_document_text(Document={"S3Object": {"Bucket": BUCKET, "Name": name}})
            return blocks_text(response["Blocks"])

        yield read


def both_engines(textract, data: bytes, name: str) -> tuple[str, str]:
    """The text of a one-page PDF from the native reader and from the Textract emulator, flattened."""
    native = read_pdf(data, **CAPS)
    assert native.scanned_pages == 0, "the page has a text layer"
    return flat("\n".join(native.pages)), flat(textract(data, name))


def in_order(text: str, *phrases: str) -> None:
    positions = [text.find(phrase) for phrase in phrases]
    assert all(p >= 0 for p in positions), [(phrase, p) for phrase, p in zip(phrases, positions)]
    assert positions == sorted(positions), positions


def inline_images(data: bytes) -> int:
    """How many inline images (BI ... ID ... EI) the PDF's content streams hold (Flate, maybe under A85)."""
    count = 0
    for match in re.finditer(rb"(?<!end)stream\r?\n", data):
        content = data[match.end(): data.find(b"endstream", match.end())]
        if b"/ASCII85Decode" in data[max(0, match.start() - 200): match.start()]:
            content = base64.a85decode(content.split(b"~>")[0].strip())
        try:
            content = zlib.decompressobj().decompress(content, 1 << 24)
        except zlib.error:
            pass  # not deflated
        count += len(re.findall(rb"(?:^|\s)BI\s.*?\sID\s", content, re.S))
    return count


# --- ReportLab -------------------------------------------------------------------------------------------

def reportlab_pdf() -> bytes:
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas
    from reportlab.platypus import Frame, Paragraph

    pdfmetrics.registerFont(TTFont("DejaVu", FONT))
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=letter)
    page.beginForm("letterhead")  # a form XObject, drawn with Do
    page.setFont("Helvetica-Bold", 16)
    page.drawString(72, 740, "Letterhead drawn from a form XObject")
    page.endForm()
    page.doForm("letterhead")
    style = ParagraphStyle("body", fontName="DejaVu", fontSize=11, leading=14)
    for x, text in ((72, LEFT), (320, RIGHT)):
        Frame(x, 520, 220, 200, showBoundary=0).addFromList([Paragraph(text, style)], page)
    page.setFont("DejaVu", 12)
    for y, line in ((480, ACCENTED), (460, GREEK), (440, CYRILLIC)):
        page.drawString(72, y, line)
    page.drawInlineImage(text_image(["INLINE"], width=300, line_px=60, font_px=40), 72, 300, width=150, height=50)
    page.showPage()
    page.save()
    return buffer.getvalue()


def test_reportlab_form_xobject_two_columns_inline_image_and_three_scripts(textract):
    data = reportlab_pdf()
    assert b"/Subtype /Form" in data and inline_images(data) == 1
    for text in both_engines(textract, data, "reportlab.pdf"):
        in_order(text, "Letterhead drawn from a form XObject", LEFT, RIGHT, ACCENTED, GREEK, CYRILLIC)


# --- fpdf2 -------------------------------------------------------------------------------------------------

def fpdf2_pdf() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.add_font("DejaVu", fname=FONT)
    pdf.set_font("DejaVu", size=11)
    with pdf.text_columns(ncols=2, gutter=10) as columns:
        columns.write(text=LEFT + "\n")
        columns.new_column()
        columns.write(text=RIGHT + "\n")
    pdf.set_y(100)
    for line in (ACCENTED, GREEK, CYRILLIC):
        pdf.cell(text=line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def test_fpdf2_columns_and_three_scripts(textract):
    for text in both_engines(textract, fpdf2_pdf(), "fpdf2.pdf"):
        in_order(text, LEFT, RIGHT, ACCENTED, GREEK, CYRILLIC)


# --- Ghostscript (pdfwrite) ------------------------------------------------------------------------------

POSTSCRIPT = rb"""%!PS
/Times-Roman findfont dup length dict begin {1 index /FID ne {def} {pop pop} ifelse} forall
  /Encoding ISOLatin1Encoding def currentdict end /Times-Latin1 exch definefont pop
/Heading << /FormType 1 /BBox [0 0 400 30] /Matrix [1 0 0 1 0 0]
  /PaintProc { pop /Times-Latin1 findfont 16 scalefont setfont 0 10 moveto (Heading inside a PostScript form) show } >> def
gsave 72 730 translate Heading execform grestore
/Times-Latin1 findfont 12 scalefont setfont
72 690 moveto (Ghostscript column one: caf\351 cr\350me br\373l\351e.) show
330 690 moveto (Column two: na\357ve fa\347ade.) show
gsave 72 560 translate 96 96 scale 16 16 8 [16 0 0 -16 0 16] {<%(hex)s>} image grestore
showpage
"""


GHOSTSCRIPT = pytest.mark.requires(binaries=["gs"], why="Ghostscript (Debian ghostscript) is one of the producers.")


def ghostscript_pdf() -> bytes:
    pixels = bytes((x * 16) ^ (y * 16) for y in range(16) for x in range(16)).hex().encode()
    program = POSTSCRIPT.replace(b"%(hex)s", pixels)
    done = subprocess.run([shutil.which("gs"), "-q", "-dNOPAUSE", "-dBATCH", "-dSAFER", "-sDEVICE=pdfwrite", "-sOutputFile=-", "-"],
                          input=program, capture_output=True, timeout=60, check=True)
    return done.stdout


@GHOSTSCRIPT
def test_ghostscript_inline_image_form_and_latin1(textract):
    data = ghostscript_pdf()
    assert data.startswith(b"%PDF-") and inline_images(data) == 1  # pdfwrite writes small images inline
    for text in both_engines(textract, data, "ghostscript.pdf"):
        in_order(text, "Heading inside a PostScript form", "Ghostscript column one: café crème brûlée.",
                 "Column two: naïve façade.")


@GHOSTSCRIPT
def test_ghostscript_redistills_another_producers_pdf(textract, tmp_path):
    """A PDF rewritten by Ghostscript (fonts re-embedded, streams re-encoded) keeps every script's text."""
    source = tmp_path / "fpdf2.pdf"
    source.write_bytes(fpdf2_pdf())
    done = subprocess.run([shutil.which("gs"), "-q", "-dNOPAUSE", "-dBATCH", "-dSAFER", "-sDEVICE=pdfwrite",
                           "-sOutputFile=-", str(source)], capture_output=True, timeout=60, check=True)
    for text in both_engines(textract, done.stdout, "redistilled.pdf"):
        in_order(text, LEFT, RIGHT, ACCENTED, GREEK, CYRILLIC)


# --- by hand: the page that crashed the emulator ------------------------------------------------------

def test_inline_image_scan_with_a_stamped_page_number_is_ocred(textract):
    """A picture of text as an inline image plus a few characters of text layer: a scan to both engines.
    The emulator measured the image's coverage with a method PDFium's objects no longer have, and crashed."""
    data = inline_image_pdf(["Inline image scan", "Bearing replacement plan"])
    assert inline_images(data) == 1
    assert read_pdf(data, **CAPS).scanned_pages == 1  # the native reader hands it to Textract
    text = flat(textract(data, "inline.pdf"))
    in_order(text, "Inline image scan", "Bearing replacement plan")


def test_a_page_with_every_kind_of_page_object(textract):
    """Text, a path, a clipping path, a shading, an image XObject, an inline image and a form XObject holding
    text and an image, on one page built by hand: both engines read the text, in order, and nothing else."""
    from tests.hostile_files import one_page, stream, text_content

    shading = b"<< /ShadingType 2 /ColorSpace /DeviceGray /Coords [0 0 612 0] /Function << /FunctionType 2 " \
              b"/Domain [0 1] /C0 [0.9] /C1 [0.6] /N 1 >> >>"
    image = stream(zlib.compress(bytes(range(64)) * 4), b"/Type /XObject /Subtype /Image /Width 16 /Height 16 "
                                                        b"/ColorSpace /DeviceGray /BitsPerComponent 8", b"/FlateDecode")
    form = stream(text_content("Text inside the form XObject").replace(b"72 720", b"72 600") + b" q 40 0 0 40 400 590 cm "
                  b"/Im1 Do Q", b"/Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources << /Font << /F1 4 0 R "
                  b">> /XObject << /Im1 7 0 R >> >>")
    content = (b"q 0 0 612 792 re W n /Sh1 sh Q\n"                      # clipped shading
               b"q 1 0 0 RG 2 w 72 700 m 540 700 l S Q\n"               # a stroked path
               + text_content("Text on the page itself") +
               b"\nq 50 0 0 50 72 450 cm /Im1 Do Q\n"                  # image XObject
               b"q 50 0 0 50 150 450 cm BI /W 2 /H 2 /CS /G /BPC 8 ID \x00\xff\xff\x00 EI Q\n"
               b"/Fm1 Do\n")
    # the shading's resource entry rides after the XObject dictionary one_page writes
    data = one_page(stream(content), xobjects=b"/Fm1 6 0 R /Im1 7 0 R >> /Shading << /Sh1 8 0 R",
                    extra=(form, image, shading))
    assert b"startxref" in data and inline_images(data) == 1
    for text in both_engines(textract, data, "objects.pdf"):
        assert text == "Text on the page itself Text inside the form XObject", text
