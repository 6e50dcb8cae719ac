"""HTML to text with the standard library parser: no scripts, no styles, nothing fetched."""

from __future__ import annotations

from html.parser import HTMLParser

from docpipe.readers.text import read_text

_SKIP = {"script", "style", "noscript", "template", "head", "svg", "iframe", "object"}
_BLOCKS = {"p", "div", "section", "article", "header", "footer", "li", "ul", "ol", "table", "tr", "br", "h1",
           "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "hr", "main", "nav", "aside", "title", "dd", "dt"}


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in _SKIP:
            self._skip_depth += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append("\t")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(" ".join(data.split()) if data.strip() else "")


def read_html(data: bytes, **caps: object) -> list[str]:
    collector = _TextCollector()
    collector.feed("\f".join(read_text(data, **caps)))
    collector.close()
    lines = (line.strip(" \t") for line in "".join(collector.parts).split("\n"))
    text, blank = [], False
    for line in lines:
        if line:
            text.append(line)
            blank = False
        elif not blank and text:
            text.append("")
            blank = True
    return ["\n".join(text).strip()]
