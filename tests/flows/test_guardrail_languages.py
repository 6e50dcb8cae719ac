"""A document in another language goes through the guardrail like any other: not blocked for being foreign.

Offline, the content filters and denied topics know English only; the manifest's guard stage says which
policies could not be evaluated for which language (``guardrail_not_evaluated``). Bedrock sends no such
note, so against a deployed stack the key is absent and only the outcome is checked.
"""

from tests.guardrail_scoring import read_jsonl
from tests.conftest import ROOT

LINES = read_jsonl(ROOT / "tests/data/guardrail_benign_languages.jsonl")


def _document(*languages: str) -> bytes:
    return "\n\n".join("\n".join(row["text"] for row in LINES if row["lang"] == lang) for lang in languages).encode()


def test_a_german_report_with_latin_filler_is_processed_and_the_manifest_says_what_was_not_judged(target):
    result = target.process(_document("de", "la"), "bericht_pruefung.txt")
    assert result.result["status"] == "SUCCEEDED", result.result.get("reason")
    guard = next(s for s in result.manifest()["stages"] if s["name"] == "guard")
    assert guard["detail"]["guardrail_action"] == "NONE"
    if target.name == "offline":
        (note,) = guard["detail"]["guardrail_not_evaluated"]
        assert "content filters" in note and "denied topics" in note and "for de, la " in note
    else:
        assert "guardrail_not_evaluated" not in guard["detail"]


def test_an_english_document_carries_no_such_note(target):
    text = "The bearings at Pier 2 are frozen and will be replaced in spring.\nThe deck joints follow in summer."
    result = target.process(text.encode(), "bearings_note.txt")
    assert result.result["status"] == "SUCCEEDED", result.result.get("reason")
    guard = next(s for s in result.manifest()["stages"] if s["name"] == "guard")
    assert "guardrail_not_evaluated" not in guard["detail"]
