"""Plain text and Markdown as people save it; form feeds separate pages.

Encodings read: UTF-8 with or without a byte-order mark, UTF-16 and UTF-32 with one, and Windows-1252 (whose
printable characters include all of Latin-1's) when the bytes are not UTF-8 yet read as Western text with
confidence: mostly ASCII, no control characters, no valid UTF-8 sequences among the invalid ones (that is
broken UTF-8, not another encoding), and nothing odd to charset-normalizer's mess detector. Anything else is
refused with the reason; nothing is decoded into replacement characters.
"""

from __future__ import annotations

import codecs
import re
import unicodedata

from docpipe.errors import DocumentRejected

# UTF-32 first: its little-endian mark begins with UTF-16's
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32", "UTF-32"), (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
         (codecs.BOM_UTF8, "utf-8-sig", "UTF-8"), (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
         (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"))
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_HIGH_BYTES = bytes(range(0x80, 0x100))
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_MAX_NON_ASCII_SHARE = 0.3  # Western European prose: a few accented letters among ASCII ones
_MAX_ODD_SHARE = 0.01       # control, unassigned or private-use characters that real text does not hold
_ODD_SAMPLE = 100_000       # characters whose Unicode category is looked up


def read_text(data: bytes, *, max_text_chars: int | None = None, **_: object) -> list[str]:
    if max_text_chars is not None and len(data) > 4 * max_text_chars:  # 4 bytes is the widest character
        raise DocumentRejected(f"the text is {len(data)} bytes, more than the cap of {max_text_chars} characters "
                               "can hold in any encoding")
    text = decode_text(data)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.split("\f")


def decode_text(data: bytes) -> str:
    """The text of a whole file; DocumentRejected naming the encoding problem."""
    return _decode(data, whole=True)


def decode_sample(head: bytes) -> str:
    """The text of a file's first bytes (a character may be cut at the end); DocumentRejected if not text."""
    return _decode(head, whole=False)


def _decode(data: bytes, *, whole: bool) -> str:
    for bom, codec, name in _BOMS:
        if data.startswith(bom):
            text = _strict(data, codec, name, whole, "the text starts with a {name} byte-order mark but is not "
                                                     "valid {name} (invalid bytes at offset {offset})")
            return _checked(text, name)
    try:
        return _checked(_strict(data, "utf-8", "UTF-8", whole, ""), "UTF-8")
    except UnicodeDecodeError as err:
        utf8_error = err.start
    return _checked(_windows_1252(data, utf8_error, whole), "Windows-1252")


def _strict(data: bytes, codec: str, name: str, whole: bool, message: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as err:
        if not whole and err.start >= len(data) - 4:  # a character cut by the end of the sample
            return data[: err.start].decode(codec)
        if not message:
            raise
        raise DocumentRejected(message.format(name=name, offset=err.start)) from None


def _windows_1252(data: bytes, utf8_error: int, whole: bool) -> str:
    refusal = (f"the text is not valid UTF-8 (invalid byte at offset {utf8_error}) and does not read as "
               "Windows-1252 / Latin-1 with confidence")
    if _UTF8_SEQUENCE.search(data):
        raise DocumentRejected(f"the text is not valid UTF-8: it holds UTF-8 characters and an invalid byte at "
                               f"offset {utf8_error} (a damaged UTF-8 file)")
    non_ascii = len(data) - len(data.translate(None, _HIGH_BYTES))
    if non_ascii > _MAX_NON_ASCII_SHARE * len(data):
        raise DocumentRejected(f"{refusal}: {non_ascii} of its {len(data)} bytes are not ASCII; save it as UTF-8")
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as err:
        raise DocumentRejected(f"{refusal}: byte 0x{data[err.start]:02X} at offset {err.start} is not a "
                               "Windows-1252 character; save it as UTF-8") from None
    if whole:
        from charset_normalizer import from_bytes

        if from_bytes(data, cp_isolation=["cp1252"]).best() is None:
            raise DocumentRejected(f"{refusal}: read that way it is a mess of symbols; save it as UTF-8")
    return text


def _checked(text: str, encoding: str) -> str:
    controls = len(text) - len(_CONTROLS.sub("", text))
    sample = text[:_ODD_SAMPLE]
    odd = sum(1 for ch in sample if unicodedata.category(ch) in ("Cn", "Co"))
    if controls > _MAX_ODD_SHARE * len(text) or odd > _MAX_ODD_SHARE * len(sample):
        raise DocumentRejected(f"the content decodes as {encoding} but is not text: it is full of control or "
                               "unassigned characters (binary data of an unknown format)")
    return text
