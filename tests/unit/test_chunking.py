"""Chunking: properties over generated documents (hypothesis) and a few worked examples."""

from __future__ import annotations

import hashlib
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docpipe.chunking import (
    PAGE_SEPARATOR, Chunk, chunk_pages, document_text, estimate_tokens, is_table_line, page_at,
)

SETTINGS = settings(max_examples=int(os.environ.get("CHUNKING_EXAMPLES", "150")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


# -- generators --------------------------------------------------------------------------------------------
words = st.sampled_from(
    "the a of report revenue grew costs page index vector chunk table region quarter année straße "
    "東京 данные 1234 3.14 x y z supercalifragilisticexpialidocious e-mail user@example.com".split())
lower_words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12)


@st.composite
def sentences(draw):
    body = draw(st.lists(st.one_of(words, lower_words), min_size=1, max_size=25))
    return draw(lower_words) + " " + " ".join(body) + draw(st.sampled_from([".", "!", "?", ".", ""]))


@st.composite
def paragraphs(draw):
    parts = draw(st.lists(sentences(), min_size=1, max_size=8))
    joiner = draw(st.sampled_from([" ", "\n", " "]))
    return joiner.join(parts)


@st.composite
def headings(draw):
    title = " ".join(w.capitalize() for w in draw(st.lists(lower_words, min_size=1, max_size=5)))
    style = draw(st.sampled_from(["md", "num", "plain"]))
    if style == "md":
        return "#" * draw(st.integers(1, 4)) + " " + title
    if style == "num":
        return f"{draw(st.integers(1, 20))}.{draw(st.integers(1, 9))} {title}"
    return title


@st.composite
def tables(draw):
    rows = draw(st.integers(1, draw(st.sampled_from([4, 12, 60]))))
    cols = draw(st.integers(2, 4))
    tab = draw(st.booleans())
    lines = []
    for _ in range(rows):
        cells = [draw(st.one_of(lower_words, st.integers(0, 10**6).map(str))) for _ in range(cols)]
        lines.append("\t".join(cells) if tab else "| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@st.composite
def structured_docs(draw):
    """(pages, headings at their document offsets, tables at their offsets), built piece by piece."""
    page_count = draw(st.integers(1, 4))
    pages, heading_at, table_at = [], [], []
    offset = 0
    for number in range(page_count):
        parts: list[str] = []
        position = offset
        kinds = draw(st.lists(st.sampled_from(["p", "p", "h", "t"]), min_size=0, max_size=8))
        for kind in kinds:
            if parts:
                position += 2  # the blank line between parts
            part = draw({"p": paragraphs(), "h": headings(), "t": tables()}[kind])
            if kind == "h":
                heading_at.append((position, part))
            elif kind == "t":
                table_at.append((position, part))
            parts.append(part)
            position += len(part)
        text = "\n\n".join(parts)
        pages.append({"page": number + 1, "text": text})
        offset += len(text) + len(PAGE_SEPARATOR)
    return pages, heading_at, table_at


any_pages = st.lists(st.text(max_size=400), min_size=0, max_size=4).map(
    lambda texts: [{"page": i + 3, "text": t} for i, t in enumerate(texts)])
limits = st.tuples(st.integers(8, 400), st.integers(0, 60)).filter(lambda t: t[1] < t[0])


# -- shared checks -------------------------------------------------------------------------------------------
def page_of(pages: list[dict], position: int) -> int:
    start = 0
    for page in pages:
        if start <= position < start + len(page["text"]):
            return page["page"]
        start += len(page["text"]) + len(PAGE_SEPARATOR)
    raise AssertionError(f"offset {position} is in no page")


def check_invariants(pages, chunks: list[Chunk], max_tokens: int, doc_id: str) -> str:
    doc = document_text(pages)
    covered = bytearray(len(doc))
    for i, chunk in enumerate(chunks):
        assert chunk.index == i and chunk.chunk_id == f"{doc_id}:{i:05d}" and chunk.doc_id == doc_id
        assert doc[chunk.char_start:chunk.char_end] == chunk.text               # offsets map back
        assert chunk.text == chunk.text.strip() and chunk.text                  # trimmed, non-empty
        assert chunk.token_estimate == estimate_tokens(chunk.text) <= max_tokens  # bounds respected
        assert chunk.content_sha256 == hashlib.sha256(chunk.text.encode("utf-8", "surrogatepass")).hexdigest()
        assert chunk.page_start == page_of(pages, chunk.char_start)              # page ranges
        assert chunk.page_end == page_of(pages, chunk.char_end - 1)
        for offset, char in enumerate(chunk.text):                              # each character's page
            if not char.isspace():
                assert page_at(chunk.page_start, chunk.page_breaks, offset) == page_of(pages, chunk.char_start + offset)
        if i:
            assert chunk.char_start > chunks[i - 1].char_start                   # document order
            assert chunk.char_end > chunks[i - 1].char_end
        covered[chunk.char_start:chunk.char_end] = b"\x01" * (chunk.char_end - chunk.char_start)
    lost = [i for i, ch in enumerate(doc) if not ch.isspace() and not covered[i]]
    assert not lost, f"characters not in any chunk at {lost[:10]}"              # no text lost
    return doc


# -- properties ----------------------------------------------------------------------------------------------
@SETTINGS
@given(pages=any_pages, limit=limits)
def test_any_text_is_covered_mapped_and_bounded(pages, limit):
    max_tokens, overlap = limit
    chunks = chunk_pages(pages, "doc", max_tokens=max_tokens, overlap_tokens=overlap)
    check_invariants(pages, chunks, max_tokens, "doc")
    assert chunks == chunk_pages(pages, "doc", max_tokens=max_tokens, overlap_tokens=overlap)  # deterministic


@SETTINGS
@given(doc=structured_docs(), limit=st.sampled_from([(300, 40), (60, 10), (120, 0), (40, 19), (500, 80)]))
def test_layout_rules_on_structured_documents(doc, limit):
    pages, heading_at, table_at = doc
    max_tokens, overlap = limit
    chunks = chunk_pages(pages, "d-1", max_tokens=max_tokens, overlap_tokens=overlap)
    text = check_invariants(pages, chunks, max_tokens, "d-1")
    starts = {c.char_start for c in chunks}

    # headings start chunks: the first heading of every run of headings opens a chunk
    heading_offsets = {position for position, _ in heading_at}
    for position, title in heading_at:
        assert text[position:position + len(title)] == title
        previous = text[:position].rstrip()
        follows_heading = any(previous.endswith(t) and text.rfind(t, 0, position) in heading_offsets
                              for _, t in heading_at)
        if not follows_heading:
            assert position in starts, f"heading {title!r} does not start a chunk"

    # tables that fit are inside one chunk
    for position, table in table_at:
        if estimate_tokens(table) <= max_tokens:
            assert any(c.char_start <= position and position + len(table) <= c.char_end for c in chunks), table

    # overlap: consecutive chunks share text unless the later one opens a section or a whole table
    table_offsets = {position for position, _ in table_at}
    for before, after in zip(chunks, chunks[1:]):
        if after.char_start < before.char_end:
            shared = text[after.char_start:before.char_end]
            assert estimate_tokens(shared) <= overlap
        else:
            opens_section = after.char_start in heading_offsets
            opens_table = after.char_start in table_offsets or (
                is_table_line(after.text.split("\n", 1)[0]) and any(
                    p <= after.char_start < p + len(t) for p, t in table_at))
            assert overlap == 0 or opens_section or opens_table, (before.text[-80:], after.text[:80])


@SETTINGS
@given(a=st.text(max_size=60), b=st.text(max_size=60))
def test_token_estimate_is_subadditive(a, b):
    assert estimate_tokens(a + b) <= estimate_tokens(a) + estimate_tokens(b)
    assert estimate_tokens(a + " " + b) == estimate_tokens(a) + estimate_tokens(b)


# -- examples ------------------------------------------------------------------------------------------------
TABLE = "\n".join(["| Region | Q1 | Q2 | Q3 |", "|---|---|---|---|"] +
                  [f"| region-{i} | {i * 10} | {i * 11} | {i * 12} |" for i in range(12)])
PROSE = " ".join(f"The pipeline wrote sentence {i} about embeddings and vector indexes." for i in range(40))


def test_a_table_is_kept_whole():
    pages = [{"page": 1, "text": f"# Sales\n\n{PROSE}\n\n{TABLE}\n\nClosing remarks follow the table."}]
    assert 150 < estimate_tokens(TABLE) <= 200
    chunks = chunk_pages(pages, "t", max_tokens=200, overlap_tokens=20)
    holding = [c for c in chunks if TABLE in c.text]
    assert len(holding) == 1
    # no chunk ends inside the table (the next chunk may start inside it: that is its overlap)
    start = document_text(pages).index(TABLE)
    assert not any(start < c.char_end < start + len(TABLE) for c in chunks)


def test_a_table_too_large_is_split_between_rows():
    pages = [{"page": 1, "text": TABLE}]
    chunks = chunk_pages(pages, "t", max_tokens=40, overlap_tokens=0)
    assert len(chunks) > 1
    for chunk in chunks:
        assert chunk.text.startswith("|") and chunk.text.endswith("|")


def test_headings_start_chunks_and_name_them():
    pages = [
        {"page": 1, "text": "# Guide\n## Install\nRun the installer. Then restart.\n\nIntroduction\n\n" + PROSE},
        {"page": 2, "text": "2.1 Configuration Options\nSet the region.\n\nSUMMARY\n\nAll done."},
    ]
    text = document_text(pages)
    chunks = chunk_pages(pages, "g")
    firsts = {c.text.split("\n", 1)[0]: c for c in chunks}
    for line in ("# Guide", "Introduction", "2.1 Configuration Options", "SUMMARY"):
        assert line in firsts, f"{line!r} does not start a chunk"
    assert "## Install" in firsts["# Guide"].text  # consecutive headings stay together
    assert firsts["2.1 Configuration Options"].heading == "2.1 Configuration Options"
    assert firsts["2.1 Configuration Options"].page_start == 2
    assert firsts["# Guide"].heading == "Guide"
    assert chunk_pages([{"page": 1, "text": "## C# Notes ##\nbody"}], "m")[0].heading == "C# Notes"
    assert all(text[c.char_start:c.char_end] == c.text for c in chunks)


def test_page_ranges_and_offsets_across_pages():
    pages = [{"page": 1, "text": "alpha beta"}, {"page": 2, "text": ""}, {"page": 5, "text": "  gamma delta  "}]
    chunks = chunk_pages(pages, "p")
    assert document_text(pages) == "alpha beta\n\n\n\n  gamma delta  "
    assert [(c.char_start, c.char_end, c.page_start, c.page_end) for c in chunks] == [(0, 27, 1, 5)]
    assert chunks[0].text == "alpha beta\n\n\n\n  gamma delta"
    assert chunks[0].page_breaks == [(14, 5)]  # page 2 has no text: no character is on it
    assert [page_at(1, chunks[0].page_breaks, offset) for offset in (0, 9, 16, 26)] == [1, 1, 5, 5]


def test_long_words_are_cut_and_overlap_is_present():
    word = "x" * 5000
    chunks = chunk_pages([{"page": 1, "text": word}], "w", max_tokens=100, overlap_tokens=10)
    assert "".join(c.text[(chunks[i - 1].char_end - c.char_start) if i else 0:]
                   for i, c in enumerate(chunks)) == word
    assert all(b.char_start < a.char_end for a, b in zip(chunks, chunks[1:]))
    assert all(c.token_estimate <= 100 for c in chunks)


def test_inputs_and_parameters_are_checked():
    assert chunk_pages([], "e") == []
    assert chunk_pages([{"page": 1, "text": " \n\t "}], "e") == []
    assert chunk_pages({"pages": [{"page": 1, "text": "hi"}]}, "e")[0].text == "hi"
    with pytest.raises(ValueError):
        chunk_pages([{"page": 2, "text": "a"}, {"page": 1, "text": "b"}], "e")
    with pytest.raises(ValueError):
        chunk_pages([{"page": 1, "text": "a"}], "e", max_tokens=10, overlap_tokens=10)


def test_estimate_is_conservative_on_english_and_counts_scripts():
    assert estimate_tokens("") == 0
    assert estimate_tokens("The quick brown fox jumps over the lazy dog.") == 10
    assert estimate_tokens("東京は日本の首都です") == 10
    assert estimate_tokens("2024-01-31") == 2 + 1 + 1 + 1 + 1
