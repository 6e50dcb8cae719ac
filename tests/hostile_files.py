"""Hostile files, made here byte by byte: the corpus `docpipe run` must survive, and the builders tests use.

    .venv/bin/python -m tests.hostile_files OUT_DIR     # writes the corpus (about 8 MB) into OUT_DIR

Each entry of CORPUS names a file, how to build it, and the outcome docpipe owes it: SUCCEEDED (with a
phrase its text must hold), or QUARANTINED with a reason matching a pattern (the cap or rule it breaks).
Bombs are small on disk and huge inflated: the flate and zip bombs inflate to 256 MiB, the multi-stream
PDF to 1.1 GiB in all, the pixel bombs declare 2.5 to 10 gigapixels.
"""

from __future__ import annotations

import base64
import io
import struct
import sys
import zipfile
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

MIB = 1 << 20
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
_W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


# --- PDF, by hand ---------------------------------------------------------------------------------------

def pdf(objects: list[bytes], root: int = 1, header: bytes = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n") -> bytes:
    """A PDF of the given object bodies (object n is objects[n - 1]) with a correct xref table."""
    out, offsets = bytearray(header), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, root, xref)
    return bytes(out)


def stream(data: bytes, extra: bytes = b"", filters: bytes = b"") -> bytes:
    filter_entry = b" /Filter " + filters if filters else b""
    return b"<< /Length %d %s%s >>\nstream\n" % (len(data), extra, filter_entry) + data + b"\nendstream"


HELVETICA = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"


def one_page(content: bytes, *, xobjects: bytes = b"", extra: tuple[bytes, ...] = (), count: int = 1,
             kids: bytes = b"[3 0 R]") -> bytes:
    """Catalog (1), Pages (2), Page (3), Helvetica (4), the page's content stream (5), then `extra` (6...)."""
    resources = b"<< /Font << /F1 4 0 R >> /XObject << %s >> >>" % xobjects
    return pdf([b"<< /Type /Catalog /Pages 2 0 R >>",
                b"<< /Type /Pages /Kids %s /Count %d >>" % (kids, count),
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources %s /Contents 5 0 R >>" % resources,
                HELVETICA, content, *extra])


def text_content(*lines: str, size: int = 14) -> bytes:
    ops = [b"BT /F1 %d Tf 72 720 Td %d TL" % (size, size + 4)]
    for line in lines:
        ops.append(b"(%s) Tj T*" % line.encode("cp1252").replace(b"\\", b"\\\\").replace(b"(", b"\\(")
                   .replace(b")", b"\\)"))
    return b"\n".join(ops + [b"ET"])


@lru_cache(maxsize=None)
def deflated_spaces(size: int) -> bytes:
    """`size` bytes of spaces, deflated (about 1,000:1)."""
    packer, block = zlib.compressobj(9), b" " * MIB
    return b"".join(packer.compress(block) for _ in range(size // MIB)) + packer.flush()


def text_image(lines: list[str], width: int = 1200, line_px: int = 70, font_px: int = 44, height: int = 0):
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("L", (width, height or line_px * len(lines) + 40), 255)
    draw, font = ImageDraw.Draw(image), ImageFont.truetype(FONT, font_px)
    for index, line in enumerate(lines):
        draw.text((30, 20 + index * line_px), line, font=font, fill=0)
    return image


def inline_image_pdf(lines: list[str], caption: str = "p. 1") -> bytes:
    """A scanned page drawn as one inline image (BI ... ID ... EI) over the whole page, with a page number in
    its text layer: the shape of the valid PDF whose inline image crashed the Textract emulator."""
    image = text_image(lines, width=1275, height=1650, line_px=90, font_px=48)  # Letter at 150 dpi
    data = zlib.compress(image.tobytes())
    content = (b"q 612 0 0 792 0 0 cm\nBI /W %d /H %d /CS /G /BPC 8 /F /Fl /L %d ID\n" %
               (image.width, image.height, len(data)) + data + b"\nEI Q\n" +
               text_content(caption, size=9).replace(b"72 720", b"300 30"))
    return one_page(stream(content))


# --- the hostile builders ----------------------------------------------------------------------------------

def flate_bomb_pdf() -> bytes:
    return one_page(stream(deflated_spaces(256 * MIB), filters=b"/FlateDecode"))


def flate_bomb_nested_pdf() -> bytes:
    """Deflated twice: the outer layer inflates to only 256 KiB, the inner one to 256 MiB."""
    return one_page(stream(zlib.compress(deflated_spaces(256 * MIB), 9), filters=b"[/FlateDecode /FlateDecode]"))


def flate_bomb_many_streams_pdf() -> bytes:
    """Nine streams of 120 MiB each: every one under the per-stream cap, 1.05 GiB in all."""
    bomb = stream(deflated_spaces(120 * MIB), filters=b"/FlateDecode")
    return one_page(stream(text_content("nine streams")), extra=(bomb,) * 9)


def pixel_bomb_pdf() -> bytes:
    image = stream(zlib.compress(b"\0" * 1000), b"/Type /XObject /Subtype /Image /Width 50000 /Height 50000 "
                                                b"/ColorSpace /DeviceGray /BitsPerComponent 8", b"/FlateDecode")
    return one_page(stream(b"q 500 0 0 500 50 50 cm /Im1 Do Q"), xobjects=b"/Im1 6 0 R", extra=(image,))


def page_tree_loop_pdf() -> bytes:
    """The page tree lists itself among its kids."""
    return one_page(stream(text_content("A page tree that loops")), kids=b"[3 0 R 2 0 R]", count=2)


def million_pages_pdf() -> bytes:
    return one_page(stream(text_content("One page that claims a million")), count=1_000_000)


def page_count_lie_pdf() -> bytes:
    return one_page(stream(text_content("One page that claims forty")), count=40)


def pdf_zip_polyglot() -> bytes:
    """A valid PDF with a Word archive after its end: a PDF by its first bytes, read as one."""
    body = one_page(stream(text_content("Polyglot report: the PDF part is what counts.")))
    return body + docx(f'<w:document {_W}><w:body><w:p><w:r><w:t>zip part</w:t></w:r></w:p></w:body></w:document>')


def html_pdf_polyglot() -> bytes:
    return (b"<html><body><p>Polyglot page: HTML outside.</p><!-- " +
            one_page(stream(text_content("PDF inside a comment"))) + b" --></body></html>")


def docx(document_xml: str, *, member_size: int = 0) -> bytes:
    """A minimal Word archive; `member_size` > 0 makes word/document.xml that many bytes of padding."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        if member_size:
            with archive.open("word/document.xml", "w", force_zip64=True) as member:
                member.write(document_xml.encode())
                for _ in range(member_size // MIB):
                    member.write(b" " * MIB)
        else:
            archive.writestr("word/document.xml", document_xml)
    return buffer.getvalue()


def xxe_docx() -> bytes:
    return docx('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                f'<w:document {_W}><w:body><w:p><w:r><w:t>&x;</w:t></w:r></w:p></w:body></w:document>')


def billion_laughs_docx() -> bytes:
    entities = '<!ENTITY l0 "ha">' + "".join(f'<!ENTITY l{i} "{("&l%d;" % (i - 1)) * 10}">' for i in range(1, 10))
    return docx(f'<?xml version="1.0"?><!DOCTYPE d [{entities}]>'
                f'<w:document {_W}><w:body><w:p><w:r><w:t>&l9;</w:t></w:r></w:p></w:body></w:document>')


def zip_bomb_docx() -> bytes:
    return docx(f'<w:document {_W}><w:body><w:p><w:r><w:t>', member_size=256 * MIB)


def png_header(width: int, height: int) -> bytes:
    ihdr = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr))


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def pixel_bomb_png() -> bytes:
    """50000 x 50000 declared, rows of zeros deflated: 2.5 gigapixels from 2.4 MB."""
    packer = zlib.compressobj(9)
    row = b"\0" * 50001
    data = b"".join(packer.compress(row) for _ in range(2000)) + packer.flush()
    return png_header(50000, 50000) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")


def tiff(width: int, height: int, ifd_offset: int = 8) -> bytes:
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, ifd_offset + 2 + 12 * 8 + 4), (277, 3, 1, 1), (279, 4, 1, 16)]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", tag, kind, count, value) if kind == 4 else struct.pack("<HHIHH", tag, kind, count, value, 0)
        for tag, kind, count, value in entries) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", ifd_offset) + b"\0" * (ifd_offset - 8) + ifd + b"\0" * 16


def pixel_bomb_tiff() -> bytes:
    return tiff(100_000, 100_000)


def pixel_bomb_tiff_late_header() -> bytes:
    """Its dimensions lie beyond the first 64 KiB, where a header-only check cannot see them."""
    return tiff(100_000, 100_000, ifd_offset=70_000)


def blank_scan_png() -> bytes:
    """A scanned page with nothing on it: Tesseract finds no word at all."""
    image = io.BytesIO()
    text_image([], width=850, height=1100).save(image, format="PNG")
    return image.getvalue()


def truncated_png() -> bytes:
    image = io.BytesIO()
    text_image(["Truncated image"]).save(image, format="PNG")
    return image.getvalue()[: len(image.getvalue()) // 2]


def megabyte_line_html() -> bytes:
    """One line of a megabyte: a page with a picture inlined as a data: URI, as minified pages have."""
    picture = base64.b64encode(bytes(range(256)) * 3072).decode()
    return (f'<!DOCTYPE html><html><body><p>Inline picture follows.</p><img alt="site" src="data:image/png;base64,'
            f'{picture}"><p>After the megabyte line.</p></body></html>').encode()


def megabyte_line_txt() -> bytes:
    sentence = "The inspection of span four found the bearings worn and the drainage blocked. "
    return (sentence * (MIB // len(sentence) + 1)).encode()[:MIB]


GREEK_RUSSIAN = ("Η γέφυρα επιθεωρήθηκε τον Μάρτιο και τα έδρανα αντικαθίστανται.\n"
                 "Мост осмотрели в марте, опоры заменят до осени.\n")
FRENCH = "Le pont a été inspecté en mars; les appuis coûteront 4 200 € à remplacer, déjà prévu.\n"


def deeply_nested_html() -> bytes:
    depth = 100_000
    return (b"<!DOCTYPE html><html><body>" + b"<div>" * depth + b"<p>Deep inside the nest.</p>" +
            b"</div>" * depth + b"</body></html>")


def xxe_html() -> bytes:
    return (b'<!DOCTYPE html [<!ENTITY xxe SYSTEM "file:///etc/passwd"><!ENTITY lol "lol&lol;">]>'
            b"<html><body><p>Entities stay text: &xxe; &lol;</p><p>Nothing is fetched or expanded.</p>"
            b"<img src='file:///etc/passwd'></body></html>")


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], bytes]
    status: str   # SUCCEEDED or QUARANTINED
    expect: str   # SUCCEEDED: a phrase of the text; QUARANTINED: a regular expression the reason matches
    # a megabyte of prose: Summarize reads 24 of its ~170 sections, ~4 min offline on 2 cores: bench/hostile only
    bench_only: bool = False


CORPUS = [
    Case("flate_bomb.pdf", flate_bomb_pdf, "QUARANTINED", r"inflates to more than 128 MiB.*decompression bomb"),
    Case("flate_bomb_nested.pdf", flate_bomb_nested_pdf, "QUARANTINED", r"over the cap of 128 MiB per stream"),
    Case("flate_bomb_many_streams.pdf", flate_bomb_many_streams_pdf, "QUARANTINED",
         r"inflate to more than 1,024 MiB in all.*decompression bomb"),
    Case("pixel_bomb.pdf", pixel_bomb_pdf, "QUARANTINED", r"50000x50000 pixels.*over the cap of 100 megapixels"),
    Case("page_tree_loop.pdf", page_tree_loop_pdf, "QUARANTINED", r"page 2 of the 2 pages .* cannot be loaded"),
    Case("million_pages.pdf", million_pages_pdf, "QUARANTINED", r"1000000 pages, over the cap of 3000"),
    Case("page_count_lie.pdf", page_count_lie_pdf, "QUARANTINED", r"page 2 of the 40 pages .* cannot be loaded"),
    Case("inline_image_scan.pdf", lambda: inline_image_pdf(["Inline image scan", "Bearing replacement plan"]),
         "SUCCEEDED", "Bearing replacement plan"),
    Case("polyglot_pdf_zip.pdf", pdf_zip_polyglot, "SUCCEEDED", "the PDF part is what counts"),
    Case("polyglot_html_pdf.html", html_pdf_polyglot, "SUCCEEDED", "Polyglot page: HTML outside."),
    Case("xxe.docx", xxe_docx, "QUARANTINED", r"unsafe: it declares a document type \(DTD\)"),
    Case("billion_laughs.docx", billion_laughs_docx, "QUARANTINED", r"unsafe: it declares a document type"),
    Case("zip_bomb.docx", zip_bomb_docx, "QUARANTINED", r"over the cap of 209715200|zip bomb"),
    Case("pixel_bomb.png", pixel_bomb_png, "QUARANTINED", r"50000x50000 pixels.*decompression bomb"),
    Case("pixel_bomb.tiff", pixel_bomb_tiff, "QUARANTINED", r"100000x100000 pixels.*decompression bomb"),
    Case("pixel_bomb_late_header.tiff", pixel_bomb_tiff_late_header, "QUARANTINED",
         r"100000 x 100000 pixels, over the cap"),
    Case("blank_scan.png", blank_scan_png, "QUARANTINED", r"^no text: the document holds no readable text"),
    Case("truncated.png", truncated_png, "QUARANTINED", r"Textract could not read the document: .*could not be"),
    Case("megabyte_line.html", megabyte_line_html, "SUCCEEDED", "After the megabyte line."),
    Case("megabyte_line.txt", megabyte_line_txt, "SUCCEEDED", "found the bearings worn", bench_only=True),
    Case("utf16le.txt", lambda: ("\ufeff" + GREEK_RUSSIAN).encode("utf-16-le"), "SUCCEEDED", "Мост осмотрели"),
    Case("utf16be.txt", lambda: ("\ufeff" + GREEK_RUSSIAN).encode("utf-16-be"), "SUCCEEDED", "Η γέφυρα"),
    Case("windows1252.txt", lambda: FRENCH.encode("cp1252"), "SUCCEEDED", "4 200 € à remplacer"),
    Case("invalid_utf8.txt", lambda: FRENCH.encode() + b"\xff\xfe\xc3(" + FRENCH.encode(), "QUARANTINED",
         r"not valid UTF-8"),
    Case("nul_bytes.txt", lambda: b"word\x00\x01\x02\x03" * 2000, "QUARANTINED", r"binary data"),
    Case("whitespace_only.txt", lambda: b" \n\t\r\n" * 5000, "QUARANTINED", r"^no text"),
    Case("deeply_nested.html", deeply_nested_html, "SUCCEEDED", "Deep inside the nest."),
    Case("xxe.html", xxe_html, "SUCCEEDED", "Nothing is fetched or expanded."),
]
HOSTILE = {case.name: case.build for case in CORPUS}


def write_corpus(directory: Path, cases: list[Case] = CORPUS) -> list[Case]:
    directory.mkdir(parents=True, exist_ok=True)
    for case in cases:
        (directory / case.name).write_bytes(case.build())
    return cases


@dataclass
class CorpusRun:
    outcomes: dict[str, dict]  # file name -> the `docpipe run --json` line for it
    seconds: float             # wall time of `docpipe run`
    peak_mib: float            # the largest resident set of the process, ru_maxrss of the finished child
    returncode: int
    stderr: str
    stdout: str  # every line the command printed, for a failure's message


# Runs a command and writes its peak resident memory (KiB) to a file. A child forked from a large process
# (the test suite holds the models) inherits that process's resident pages in its own peak until it execs:
# measured from this small launcher, the peak is the command's alone.
_PEAK_LAUNCHER = """
import resource, subprocess, sys
code = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as out:
    out.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code)
"""


def run_corpus(corpus: Path, home: Path, out: Path) -> CorpusRun:
    """`docpipe run CORPUS --json` in a fresh data directory, as a user runs it; its time and peak memory."""
    import json
    import os
    import subprocess
    import time

    docpipe = Path(sys.executable).parent / "docpipe"
    env = {**os.environ, "DOCPIPE_HOME": str(home)}
    peak_file = home.parent / f"{home.name}.peak-kib"
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", _PEAK_LAUNCHER, str(peak_file), str(docpipe), "run", str(corpus),
                           "--json", "--out", str(out)], env=env, capture_output=True, text=True, timeout=1800)
    seconds = time.monotonic() - started
    outcomes = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            report = json.loads(line)
            outcomes[Path(report["source"]).name] = report
    return CorpusRun(outcomes, seconds, int(peak_file.read_text()) / 1024, done.returncode, done.stderr, done.stdout)


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "hostile-corpus")
    write_corpus(target)
    print(f"{len(CORPUS)} files in {target}")
