"""DOCX (Office Open XML) with zipfile + defusedxml: archive caps first, no DTDs, no entities.

Pages follow explicit page breaks; headings keep their text on their own line; table rows become
tab-separated lines so a table stays together.
"""

from __future__ import annotations

import io
import zipfile
import zlib

from docpipe.errors import DocumentRejected

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MAX_COMPRESSION_RATIO = 200  # a member that inflates more than this is a zip bomb


def read_docx(data: bytes, *, max_archive_member_bytes: int, **_: object) -> list[str]:
    from defusedxml import ElementTree

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        member = archive.getinfo("word/document.xml")
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, EOFError, NotImplementedError):
        raise DocumentRejected("the Word document is damaged: word/document.xml is missing or unreadable") from None
    if any(info.flag_bits & 0x1 for info in archive.infolist()):
        raise DocumentRejected("the Word document is password-protected (encrypted)")
    if member.file_size > max_archive_member_bytes:
        raise DocumentRejected(f"word/document.xml inflates to {member.file_size} bytes, over the cap of "
                               f"{max_archive_member_bytes}")
    if member.compress_size and member.file_size / member.compress_size > _MAX_COMPRESSION_RATIO:
        raise DocumentRejected(f"word/document.xml has a compression ratio over {_MAX_COMPRESSION_RATIO}:1 "
                               "(a zip bomb is refused)")
    try:
        with archive.open(member) as stream:
            xml = stream.read(max_archive_member_bytes + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError, RuntimeError):
        # zipfile's own refusals, and what a damaged directory makes it raise (a negative seek: ValueError)
        raise DocumentRejected("the Word document is damaged: word/document.xml cannot be decompressed") from None
    if len(xml) > max_archive_member_bytes:  # the archive's header understated the size
        raise DocumentRejected(f"word/document.xml inflates to more than {max_archive_member_bytes} bytes, over the "
                               f"cap of {max_archive_member_bytes} (a zip bomb is refused)")
    try:
        root = ElementTree.fromstring(xml, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except Exception as err:  # defusedxml's refusals and ParseError alike mean we do not trust it
        raise DocumentRejected(f"the Word document's XML is {_xml_problem(err)}") from None
    body = root.find(f"{_W}body")
    pages: list[list[str]] = [[]]
    for block in list(body) if body is not None else []:
        if block.tag == f"{_W}p":
            _add_paragraph(block, pages)
        elif block.tag == f"{_W}tbl":
            for row in block.iter(f"{_W}tr"):
                cells = ["".join(t.text or "" for t in cell.iter(f"{_W}t")) for cell in row.iter(f"{_W}tc")]
                pages[-1].append("\t".join(cells))
    return ["\n".join(lines) for lines in pages]


def _xml_problem(err: Exception) -> str:
    from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden

    if isinstance(err, DTDForbidden):
        return "unsafe: it declares a document type (DTD), which docpipe never loads"
    if isinstance(err, EntitiesForbidden):
        return "unsafe: it declares entities (entity expansion such as 'billion laughs' is refused)"
    if isinstance(err, ExternalReferenceForbidden):
        return "unsafe: it refers to external files or addresses, which docpipe never fetches"
    position = getattr(err, "position", None)
    return f"malformed (at line {position[0]}, column {position[1]})" if position else "malformed"


def _add_paragraph(paragraph, pages: list[list[str]]) -> None:
    text: list[str] = []
    for node in paragraph.iter():
        if node.tag == f"{_W}t":
            text.append(node.text or "")
        elif node.tag == f"{_W}tab":
            text.append("\t")
        elif node.tag == f"{_W}br" and node.get(f"{_W}type") == "page":
            pages[-1].append("".join(text))
            pages.append([])
            text = []
        elif node.tag == f"{_W}br":
            text.append("\n")
    pages[-1].append("".join(text))
