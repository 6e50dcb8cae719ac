"""Summarize reads a bounded number of sections, spread over the whole document, and says so."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from docpipe.generation import Generation
from docpipe.logic import summarize
from docpipe.models import DocumentRef, PipelineState, S3Pointer, TaskInput
from docpipe.settings import get_settings


@given(st.integers(min_value=0, max_value=400), st.integers(min_value=1, max_value=60))
def test_spread_keeps_order_ends_and_the_limit(count, limit):
    items = [f"section {i}" for i in range(count)]
    picked = summarize.spread(items, limit)
    assert len(picked) == min(count, limit)
    assert picked == sorted(set(picked), key=items.index)  # in order, none twice
    if count and limit > 1:
        assert picked[0] == items[0] and picked[-1] == items[-1]


class _Recorder:
    def __init__(self):
        self.prompts: list[str] = []

    def __call__(self, system, user, **_):
        self.prompts.append(user)
        return Generation(text="The crew inspected the deck.", input_tokens=10, output_tokens=5,
                          stop_reason="end_turn", cached=False)


class _S3:
    def put_object(self, **_):
        return {}


@pytest.fixture
def long_document(monkeypatch):
    """A 120-section document whose sections each name their own number."""
    paragraphs = [f"Section {n} begins. " + " ".join(["The crew inspected the deck of the bridge."] * 60)
                  for n in range(120)]
    text = {"doc_id": "d1", "source": "s3://b/inbox/long.txt", "engine": "native",
            "pages": [{"page": 1, "text": "\n\n".join(paragraphs)}]}
    monkeypatch.setattr(summarize, "get_json", lambda bucket, key: text)
    monkeypatch.setattr(summarize, "client", lambda name: _S3())
    recorder = _Recorder()
    monkeypatch.setattr(summarize, "converse", recorder)
    monkeypatch.setenv("DOCPIPE_SUMMARY_MAX_SECTIONS", "10")
    get_settings.cache_clear()
    yield recorder
    get_settings.cache_clear()


def test_a_long_document_is_summarized_from_at_most_the_configured_sections(long_document):
    document = DocumentRef(bucket="b", key="inbox/long.txt", doc_id="d1", sha256="0" * 64, size=1,
                           kind="text", media_type="text/plain")
    state = PipelineState(execution_id="e1", document=document, route="native",
                          text=S3Pointer(bucket="b", key="work/d1/text.json"))
    result = summarize.summarize_document(TaskInput(execution_id="e1", state=state))

    maps = [p for p in long_document.prompts if p.startswith("Summarize this text")]
    assert len(maps) == 10
    assert "Section 0 begins" in maps[0] and "Section 119 begins" in maps[-1]  # the whole span is read
    assert result.detail["sections_read"] == 10 and result.detail["sections_total"] > 10
