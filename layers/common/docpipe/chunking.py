"""Layout-aware, token-bounded chunking of extracted document text (deployed code: stdlib + pydantic).

Input: the normalized extracted text, a list of pages ``{"page": int, "text": str}`` in reading order
(page numbers strictly increasing), or a mapping with such a list under ``"pages"``.

**Offsets.** The *document text* is the pages' texts joined with ``PAGE_SEPARATOR`` (``"\\n\\n"``), in the
given order and without any other change (see :func:`document_text`). Page ``i`` occupies
``[start_i, start_i + len(text_i))`` of it; the separators belong to no page. A chunk's ``char_start`` /
``char_end`` are Python string indices (code points, end exclusive) into the document text, and
``document_text(pages)[chunk.char_start:chunk.char_end] == chunk.text`` always holds. A chunk's text is
trimmed: it starts and ends with a non-whitespace character, so ``page_start``/``page_end`` are the pages
of its first and last characters.

**Guarantees.** Every non-whitespace character of the document is inside at least one chunk; chunks come
in document order (``char_start`` strictly increasing); ``token_estimate <= max_tokens`` for every chunk;
the same input and parameters give the same chunks (``chunk_id`` is ``"<doc_id>:<index:05d>"``).

**Layout.** Lines are classified as

- *headings*: Markdown ``#``..``######`` lines; numbered headings (``2.``, ``2.1``, ``IV.``, ``A.``
  followed by a capitalized title of at most 12 words, no final punctuation); short title-case or
  upper-case lines (at most 10 words / 80 characters, every significant word capitalized, no final
  punctuation) that follow a blank line or another heading;
- *table rows*: lines with two or more ``|``, or with tab-separated cells (two or more non-empty);
  consecutive rows form one table;
- *text*: everything else; consecutive text lines form a paragraph, ended by a blank line (the page
  separator is one), a heading or a table.

A heading, or a run of consecutive headings, starts a *section*, and a section always starts a new chunk
(the chunk's text begins with the heading). Within a section, blocks (paragraphs, tables) are packed
greedily up to ``max_tokens``. When a chunk must end inside the section, the cut is the last paragraph
boundary that leaves the chunk at least half full, else the last sentence end (or table row), else line
end, else word boundary; a word longer than the piece limit (see below) is cut inside. A table that fits in
``max_tokens`` is never cut: the chunk ends before it and the next chunk holds the whole table.

**Overlap.** A chunk that continues a section starts with the tail of the previous chunk: at most
``overlap_tokens`` tokens, starting at a sentence start when one in that tail keeps at least half the
overlap, else at a word boundary. Chunks that start a section have no overlap. The overlap shrinks (down to
none) only where a whole table must still fit after it.

**Token estimate** (:func:`estimate_tokens`): a cheap WordPiece-like count, conservative for BERT-style
tokenizers. The text is cut into runs of letters, runs of digits and single other non-space characters;
a letter run costs ``ceil(ascii_letters / 5) + ceil(other_latin_letters / 2) + 3 * hangul_syllables +
other_letters`` (CJK, Cyrillic, Greek... cost one per character), a digit run ``ceil(digits / 2)``, any
other character 1; whitespace costs nothing. On English prose it is 1.12x the real all-MiniLM-L6-v2
(BERT uncased) count and never under it on 300-word windows. The estimate of a text is at most the sum of
the estimates of any pieces it is cut into (so packing by piece costs is safe). Words are split into
pieces costing at most ``min(overlap_tokens, max_tokens - overlap_tokens)`` (``max_tokens`` without
overlap) so that an overlap and one new piece always fit.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import re
from typing import Any, Iterable, Mapping

from pydantic import BaseModel, ConfigDict, Field

PAGE_SEPARATOR = "\n\n"
DEFAULT_MAX_TOKENS = 300
DEFAULT_OVERLAP_TOKENS = 40


class PageText(BaseModel):
    """One page of normalized extracted text."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    page: int
    text: str


class Chunk(BaseModel):
    """A span of the document text, with where it lies and what it costs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chunk_id: str
    doc_id: str
    index: int = Field(ge=0)
    text: str = Field(min_length=1)
    page_start: int
    page_end: int
    char_start: int = Field(ge=0)
    char_end: int = Field(ge=1)
    content_sha256: str
    token_estimate: int = Field(ge=1)
    heading: str | None = None  # the nearest heading at or before the chunk's start, without Markdown marks
    # (offset in ``text``, page) where each later page with text begins: see page_at
    page_breaks: list[tuple[int, int]] = Field(default_factory=list)


def page_at(page_start: int, page_breaks: Iterable[tuple[int, int]], offset: int) -> int:
    """The page of the character at ``offset`` in a chunk's text (a citation's page is its quote's, not the
    chunk's first)."""
    page = page_start
    for at, number in page_breaks:
        if at > offset:
            break
        page = number
    return page


# -- token estimate ----------------------------------------------------------------------------------------
_RUN = re.compile(r"([^\W\d_]+)|(\d+)|\S")  # letters | digits (Unicode Nd) | any other single character


def _letters_cost(run: str) -> int:
    if run.isascii():
        return -(-len(run) // 5)
    ascii_letters = latin = hangul = other = 0
    for char in run:
        code = ord(char)
        if code < 0x80:
            ascii_letters += 1
        elif code < 0x250:
            latin += 1
        elif 0xAC00 <= code <= 0xD7A3:
            hangul += 1
        else:
            other += 1
    return -(-ascii_letters // 5) + -(-latin // 2) + 3 * hangul + other


def estimate_tokens(text: str) -> int:
    """A cheap, conservative WordPiece-like token count (see the module docstring)."""
    total = 0
    for match in _RUN.finditer(text):
        letters, digits = match.group(1), match.group(2)
        if letters:
            total += _letters_cost(letters)
        elif digits:
            total += -(-len(digits) // 2)
        else:
            total += 1  # punctuation, symbols, emoji, underscores, combining marks: one each
    return total


# -- pages and document text -------------------------------------------------------------------------------
def normalize_pages(pages: Iterable[Any] | Mapping[str, Any]) -> list[PageText]:
    """Validate the input pages: dicts or objects with ``page`` and ``text``, page numbers increasing."""
    if isinstance(pages, Mapping):
        pages = pages["pages"]
    result = []
    for item in pages:
        page = (item if isinstance(item, PageText) else
                PageText.model_validate(item) if isinstance(item, Mapping) else
                PageText(page=item.page, text=item.text))
        if result and page.page <= result[-1].page:
            raise ValueError(f"page numbers must be strictly increasing: {page.page} after {result[-1].page}")
        result.append(page)
    return result


def document_text(pages: Iterable[Any] | Mapping[str, Any]) -> str:
    """The text that chunk offsets index: the pages' texts joined with ``PAGE_SEPARATOR``."""
    return PAGE_SEPARATOR.join(page.text for page in normalize_pages(pages))


def page_starts(pages: list[PageText]) -> list[int]:
    """Offset of each page's first character in the document text."""
    starts, position = [], 0
    for page in pages:
        starts.append(position)
        position += len(page.text) + len(PAGE_SEPARATOR)
    return starts


# -- line classification -----------------------------------------------------------------------------------
_MARKDOWN_HEADING = re.compile(r"^(#{1,6})\s+(\S.*?)(?:\s+#+)?\s*$")
_NUMBERED_HEADING = re.compile(r"^(?:\d{1,3}(?:\.\d{1,3})*\.?|[IVXLC]{1,6}\.|[A-Z]\.)\s+(\S.*)$")
_FINAL_PUNCTUATION = tuple(".,;:!?")
_MINOR_WORDS = frozenset(
    "a an and as at but by de for from in into of on or per the to vs via with".split())
_SENTENCE_END = re.compile(r"[.!?\u2026\u3002\uff01\uff1f][\"'\u201d\u2019)\]]*$")


def is_table_line(line: str) -> bool:
    stripped = line.strip()
    if stripped.count("|") >= 2:
        return True
    return "\t" in stripped and sum(1 for cell in stripped.split("\t") if cell.strip()) >= 2


def _title_like(words: list[str]) -> bool:
    alpha = [w.strip("()[]'\"\u2018\u2019\u201c\u201d-") for w in words]
    alpha = [w for w in alpha if w and w[0].isalpha()]
    if not alpha:
        return False
    if not alpha[0][0].isupper():
        return False
    return all(w[0].isupper() or w.lower() in _MINOR_WORDS for w in alpha)


def heading_text(line: str) -> str | None:
    """The title of a line that is a Markdown or numbered heading, else None (title-case lines aside)."""
    stripped = line.strip()
    if len(stripped) > 200:
        return None
    match = _MARKDOWN_HEADING.match(stripped)
    if match:
        return match.group(2)
    match = _NUMBERED_HEADING.match(stripped)
    if match and len(stripped) <= 80 and not stripped.endswith(_FINAL_PUNCTUATION):
        words = match.group(1).split()
        if len(words) <= 12 and _title_like(words):
            return stripped
    return None


def _is_title_line(line: str) -> bool:
    stripped = line.strip()
    if not stripped or len(stripped) > 80 or stripped.endswith(_FINAL_PUNCTUATION):
        return False
    words = stripped.split()
    return len(words) <= 10 and (_title_like(words) or (stripped.isupper() and any(c.isalpha() for c in stripped)))


# -- blocks and pieces -------------------------------------------------------------------------------------
HEADING, TABLE, TEXT = "heading", "table", "text"
_FORCED, _BLOCK, _SENTENCE, _LINE, _WORD, _INSIDE = 5, 4, 3, 2, 1, 0
_WORDS = re.compile(r"\S+")


def _blocks(text: str) -> list[list]:
    """[start, end, kind, title] per block, trimmed to non-whitespace, in order."""
    blocks: list[list] = []
    current: list | None = None
    previous_blank, previous_heading = True, False
    position = 0
    for line in text.split("\n"):
        start, end = position, position + len(line)
        position = end + 1
        if not line.strip():
            current, previous_blank, previous_heading = None, True, False
            continue
        title = None if is_table_line(line) else heading_text(line)
        if title is None and not is_table_line(line) and (previous_blank or previous_heading) \
                and _is_title_line(line):
            title = line.strip()
        if title is not None:
            blocks.append([start, end, HEADING, title])
            current = None
        elif is_table_line(line):
            if current is not None and current[2] == TABLE:
                current[1] = end
            else:
                current = [start, end, TABLE, None]
                blocks.append(current)
        elif current is not None and current[2] == TEXT:
            current[1] = end
        else:
            current = [start, end, TEXT, None]
            blocks.append(current)
        previous_blank, previous_heading = False, title is not None
    for block in blocks:  # trim
        segment = text[block[0]:block[1]]
        block[0] += len(segment) - len(segment.lstrip())
        block[1] -= len(segment) - len(segment.rstrip())
    return blocks


def _split_word(word: str, cap: int) -> list[tuple[int, int, int]]:
    """(start, end, cost) pieces of one long word, each costing at most ``cap``."""
    pieces, start = [], 0
    while start < len(word):
        low, high = start + 1, min(len(word), start + 5 * cap)  # every character costs at least 1/5
        while low < high:  # the longest prefix whose cost fits (cost grows with length)
            middle = (low + high + 1) // 2
            if estimate_tokens(word[start:middle]) <= cap:
                low = middle
            else:
                high = middle - 1
        pieces.append((start, low, estimate_tokens(word[start:low])))
        start = low
    return pieces


def chunk_pages(pages: Iterable[Any] | Mapping[str, Any], doc_id: str, *, max_tokens: int = DEFAULT_MAX_TOKENS,
                overlap_tokens: int = DEFAULT_OVERLAP_TOKENS) -> list[Chunk]:
    """Cut a document's pages into chunks (see the module docstring for every rule)."""
    if max_tokens < 2:
        raise ValueError("max_tokens must be at least 2")
    if not 0 <= overlap_tokens < max_tokens:
        raise ValueError("overlap_tokens must be at least 0 and below max_tokens")
    page_list = normalize_pages(pages)
    text = PAGE_SEPARATOR.join(page.text for page in page_list)
    starts = page_starts(page_list)
    cap = max(1, min(overlap_tokens, max_tokens - overlap_tokens)) if overlap_tokens else max_tokens

    # pieces: words (or parts of long words) with their cost, block and boundary strength before them
    blocks = _blocks(text)
    p_start: list[int] = []
    p_end: list[int] = []
    p_cost: list[int] = []
    p_block: list[int] = []
    strength: list[int] = []
    block_title: list[str | None] = []  # the section title in force at each block
    block_first: dict[int, int] = {}
    block_last: dict[int, int] = {}
    # words repeat: each distinct word's cost and whether it ends a sentence are found once
    words: dict[str, tuple[int, bool]] = {}
    title = None
    for number, (b_start, b_end, kind, b_title) in enumerate(blocks):
        if kind == HEADING:
            title = b_title
        block_title.append(title)
        section_start = kind == HEADING and (number == 0 or blocks[number - 1][2] != HEADING)
        block_first[number] = len(p_start)
        boundary = _FORCED if section_start or not p_start else _BLOCK
        ends_sentence, previous_end = False, b_start  # of the previous word in the block
        for match in _WORDS.finditer(text, b_start, b_end):
            w_start, w_end = match.span()
            word = match.group()
            known = words.get(word)
            if known is None:
                known = words[word] = (estimate_tokens(word), _SENTENCE_END.search(word) is not None)
            cost, word_ends_sentence = known
            if len(p_start) > block_first[number]:  # not the block's first word
                if text.find("\n", previous_end, w_start) >= 0:
                    boundary = _SENTENCE if (kind == TABLE or ends_sentence) else _LINE
                else:
                    boundary = _SENTENCE if ends_sentence else _WORD
            if cost <= cap:
                p_start.append(w_start)
                p_end.append(w_end)
                p_cost.append(cost)
                p_block.append(number)
                strength.append(boundary)
                ends_sentence = word_ends_sentence
            else:
                for s, e, c in _split_word(word, cap):
                    p_start.append(w_start + s)
                    p_end.append(w_start + e)
                    p_cost.append(c)
                    p_block.append(number)
                    strength.append(boundary)
                    boundary = _INSIDE
                # the sentence check reads the word's last piece
                ends_sentence = _SENTENCE_END.search(text, p_start[-1], w_end) is not None
            previous_end = w_end
        block_last[number] = len(p_start)
    n = len(p_start)
    if n == 0:
        return []
    strength.append(_FORCED)  # the end of the document
    cum = [0, *itertools.accumulate(p_cost)]
    inside = [0, *itertools.accumulate(b == _INSIDE for b in strength[:n])]  # cuts inside words so far
    next_forced = [n] * (n + 1)
    for b in range(n - 1, 0, -1):
        next_forced[b] = b if strength[b] == _FORCED else next_forced[b + 1]

    def cost(a: int, b: int) -> int:
        return cum[b] - cum[a]

    def table_at(i: int) -> tuple[int, int] | None:
        number = p_block[i]
        if blocks[number][2] != TABLE:
            return None
        return block_first[number], block_last[number]

    def overlap_start(previous_start: int, pos: int, limit: int) -> int:
        s = pos
        while s - 1 > previous_start and cost(s - 1, pos) <= limit:
            s -= 1
        if s == pos:
            return pos
        for b in range(s, pos):  # the earliest sentence (or line, block) start in the tail
            if strength[b] >= _LINE:
                if cost(b, pos) * 2 >= limit:
                    return b
                break
        for b in range(s, pos):  # else the earliest word start
            if strength[b] >= _WORD:
                return b
        return s

    spans: list[tuple[int, int, int]] = []  # (first piece, end piece, first new piece)
    pos, previous_start = 0, -1
    half = max_tokens // 2
    while pos < n:
        limit = next_forced[pos + 1] if pos + 1 <= n else n
        start = pos
        if spans and strength[pos] != _FORCED and overlap_tokens:
            room = overlap_tokens
            table = table_at(pos)
            if table and table[0] == pos and cost(*table) <= max_tokens:
                room = min(room, max_tokens - cost(*table))
            start = overlap_start(previous_start, pos, room)
        end_max = pos + 1
        while end_max < limit and cost(start, end_max + 1) <= max_tokens:
            end_max += 1
        end = end_max
        if end_max < limit:
            chosen = None
            table = table_at(end_max - 1)
            if table and table[0] < end_max < table[1] and table[0] > pos and cost(*table) <= max_tokens:
                chosen = table[0]  # keep the table whole: end before it
            if chosen is None:
                for level in (_BLOCK, _SENTENCE, _LINE, _WORD):
                    for b in range(end_max, pos, -1):
                        if cost(start, b) < half:
                            break
                        if strength[b] >= level:
                            chosen = b
                            break
                    if chosen is not None:
                        break
            end = chosen if chosen is not None else end_max
        spans.append((start, end, pos))
        previous_start, pos = start, end

    chunks = []
    for index, (first, end, new) in enumerate(spans):
        char_start, char_end = p_start[first], p_end[end - 1]
        chunk_text = text[char_start:char_end]
        chunks.append(Chunk(
            chunk_id=f"{doc_id}:{index:05d}", doc_id=doc_id, index=index, text=chunk_text,
            page_start=page_list[bisect.bisect_right(starts, char_start) - 1].page,
            page_end=page_list[bisect.bisect_right(starts, char_end - 1) - 1].page,
            char_start=char_start, char_end=char_end,
            content_sha256=hashlib.sha256(chunk_text.encode("utf-8", "surrogatepass")).hexdigest(),
            # a chunk's words cost what the text costs (the estimate's runs never cross whitespace), unless
            # two pieces of one cut word sit side by side in it
            token_estimate=cost(first, end) if inside[end] == inside[first + 1] else estimate_tokens(chunk_text),
            heading=block_title[p_block[new]],
            page_breaks=[(starts[i] - char_start, page_list[i].page)
                         for i in range(bisect.bisect_right(starts, char_start), bisect.bisect_left(starts, char_end))
                         if page_list[i].text]))
    return chunks
