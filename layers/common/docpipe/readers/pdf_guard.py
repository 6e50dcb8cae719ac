"""A PDF's raw bytes checked before PDFium parses anything: decompression bombs and pixel bombs.

PDFium inflates a content stream whole before it parses it (1 MB of compressed spaces took it 2 GB of
memory and 7 s) and decodes an image at the size its dictionary declares. Here each Flate stream is
inflated once, in 64 KiB steps and without keeping the output, and each image's declared size is read, so
such a file is refused before PDFium sees it, with the cap it breaks named. Streams cannot live inside
object streams (PDF 1.7, 7.5.7), so every stream dictionary is in the raw bytes.

Not covered: LZW-compressed streams (rare, and their expansion is bounded near 1:2,700), images whose
/Width or /Height is an indirect reference, and inline images inside compressed content.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib

from docpipe.errors import DocumentRejected

_STEP = 64 * 1024
_STREAM = re.compile(rb"(?<!end)stream\r?\n")
_DICT_WINDOW = 4096  # how far before `stream` its dictionary may begin
_FILTER = re.compile(rb"/Filter\s*(\[[^\]]*\]|/[^\s/<>\[\]()]+)")
_NAME = re.compile(rb"/([^\s/<>\[\]()]+)")
_IMAGE = re.compile(rb"/Subtype\s*/Image\b")
_WIDTH = re.compile(rb"/Width\s+(\d{1,12})(?!\s+\d+\s+R)")
_HEIGHT = re.compile(rb"/Height\s+(\d{1,12})(?!\s+\d+\s+R)")
_FLATE = {b"FlateDecode", b"Fl"}
_TEXT_CODECS = {b"ASCIIHexDecode": lambda raw: binascii.unhexlify(_even_hex(raw)),
                b"AHx": lambda raw: binascii.unhexlify(_even_hex(raw)),
                b"ASCII85Decode": lambda raw: base64.a85decode(_a85_body(raw)),
                b"A85": lambda raw: base64.a85decode(_a85_body(raw))}


class _OverCap(Exception):
    pass


def check_pdf_bytes(data: bytes, *, max_stream_bytes: int, max_total_bytes: int, max_pixels: int) -> None:
    """Raise DocumentRejected if a stream inflates past a cap or an image declares more pixels than allowed."""
    total = 0
    for match in _STREAM.finditer(data):
        head = data[max(0, match.start() - _DICT_WINDOW): match.start()]
        dictionary = head[head.rfind(b"obj") + 3:] if b"obj" in head else head
        _check_image(dictionary, max_pixels)
        left = max_total_bytes - total
        try:
            total += _inflated_size(data, match.end(), _filters(dictionary), min(max_stream_bytes, left))
        except _OverCap:
            if left < max_stream_bytes:
                raise DocumentRejected(
                    f"the PDF's compressed streams inflate to more than {_mib(max_total_bytes)} in all, over the "
                    f"cap of {_mib(max_total_bytes)} per document (a decompression bomb)") from None
            raise DocumentRejected(
                f"a compressed stream in the PDF inflates to more than {_mib(max_stream_bytes)}, over the cap of "
                f"{_mib(max_stream_bytes)} per stream (a decompression bomb)") from None


def _check_image(dictionary: bytes, max_pixels: int) -> None:
    if not _IMAGE.search(dictionary):
        return
    width, height = _WIDTH.search(dictionary), _HEIGHT.search(dictionary)
    if width and height:
        w, h = int(width.group(1)), int(height.group(1))
        if w * h > max_pixels:
            raise DocumentRejected(
                f"the PDF holds an image of {w}x{h} pixels ({w * h / 1e6:.0f} megapixels), over the cap of "
                f"{max_pixels / 1e6:.0f} megapixels (a pixel bomb is refused before decoding)")


def _filters(dictionary: bytes) -> list[bytes]:
    found = _FILTER.search(dictionary)
    return _NAME.findall(found.group(1)) if found else []


def _inflated_size(data: bytes, start: int, filters: list[bytes], cap: int) -> int:
    """Bytes the stream at `start` inflates to through its leading Flate filters (0 if it has none);
    _OverCap past `cap`."""
    if filters and filters[0] in _TEXT_CODECS:  # ASCII armour first: decode it, then look at what follows
        end = data.find(b"endstream", start)
        try:
            source = _TEXT_CODECS[filters[0]](data[start: end if end >= 0 else len(data)])
        except (ValueError, binascii.Error):
            return 0
        filters, start, data = filters[1:], 0, source
    layers = 0
    while layers < len(filters) and filters[layers] in _FLATE:
        layers += 1
    if not layers:
        return 0
    counter = _Inflater(layers, cap)
    try:
        for offset in range(start, len(data), _STEP):
            if counter.feed(data[offset: offset + _STEP]):
                break
    except zlib.error:
        pass  # damaged data: PDFium will refuse or skip it; it cannot inflate past what was counted
    return counter.total


class _Inflater:
    """A chain of `layers` zlib decompressors; counts the last one's output, keeping none of it."""

    def __init__(self, layers: int, cap: int):
        self.decompressors = [zlib.decompressobj() for _ in range(layers)]
        self.cap, self.total = cap, 0

    def feed(self, chunk: bytes, level: int = 0) -> bool:
        """Push `chunk` into layer `level`; True once the outermost stream has ended."""
        decompressor = self.decompressors[level]
        while chunk and not decompressor.eof:
            out = decompressor.decompress(chunk, _STEP)
            chunk = decompressor.unconsumed_tail
            self._emit(out, level)
            while len(out) == _STEP and not chunk and not decompressor.eof:  # output still pending inside zlib
                out = decompressor.decompress(b"", _STEP)
                self._emit(out, level)
        return decompressor.eof

    def _emit(self, out: bytes, level: int) -> None:
        if level + 1 < len(self.decompressors):
            self.feed(out, level + 1)
            return
        self.total += len(out)
        if self.total > self.cap:
            raise _OverCap


def _even_hex(raw: bytes) -> bytes:
    digits = bytes(c for c in raw.split(b">")[0] if chr(c) in "0123456789abcdefABCDEF")
    return digits + b"0" if len(digits) % 2 else digits


def _a85_body(raw: bytes) -> bytes:
    return raw.split(b"~>")[0].strip().removeprefix(b"<~")


def _mib(size: int) -> str:
    return f"{size / 2**20:,.0f} MiB"
