"""The guardrail's language identification gives py3langid's answers, many texts at a time.

``language.BatchIdentifier`` counts each text's features with py3langid's own automaton walk and scores many
texts in one batch of numpy calls; these tests compare it with py3langid's own ``classify`` on the project's
texts in every language it holds, and on generated ones, so the batch path never decides a language
py3langid would not.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docpipe_local.guardrails import language

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def reference():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


@pytest.fixture(scope="module")
def batch():
    return language.BatchIdentifier()


def _project_texts() -> list[str]:
    """Every line and sentence of the test data: the guardrail sets (English, German, French, Spanish,
    Portuguese, Italian, Latin filler, attacks) and the Ask documents."""
    texts = []
    for path in sorted(DATA.rglob("*")):
        if path.suffix not in (".jsonl", ".md", ".txt"):
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if path.suffix == ".jsonl" and line.strip():
                line = " ".join(v for v in json.loads(line).values() if isinstance(v, str))
            if line.strip():
                texts += [line.strip(), *re.split(r"(?<=[.!?])\s+", line.strip())]
    return list(dict.fromkeys(t for t in texts if t))


def _assert_same(reference, batch, texts):
    for text, (lang, prob) in zip(texts, batch.classify(texts)):
        want_lang, want_prob = reference.classify(text)
        assert prob == pytest.approx(want_prob, abs=1e-4), text  # float32 sums, in another order
        # the same language, or one py3langid scores as high (a tie that the summing order breaks)
        assert lang == want_lang or dict(reference.rank(text))[lang] == pytest.approx(want_prob, abs=1e-4), text


def test_the_project_texts_get_py3langids_language_and_probability(reference, batch):
    texts = _project_texts()
    assert len(texts) > 2000
    languages = {lang for lang, _ in batch.classify(texts)}
    assert {"en", "de", "fr", "es", "pt", "it", "la"} <= languages  # every language the sets hold was met
    for start in range(0, len(texts), 64):  # pages' worth at a time, as the guardrail asks
        _assert_same(reference, batch, texts[start:start + 64])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=120), min_size=1, max_size=8))
def test_any_texts_get_py3langids_answer(reference, batch, texts):
    """Arbitrary Unicode (capitals, combining marks, surrogate-free text of any script), empty texts and
    texts with no feature, batched together."""
    _assert_same(reference, batch, texts)


def test_a_piece_asked_about_twice_is_classified_once(monkeypatch):
    calls = []
    real = language.BatchIdentifier.classify
    monkeypatch.setattr(language.BatchIdentifier, "classify", lambda self, texts: calls.append(list(texts)) or
                        real(self, texts))
    unique = "Der Prüfbericht der Brücke wurde am Montag an das Bauamt geschickt (Fassung 7731)."
    first = language.english_pieces(unique, [unique, "The girders were repainted in 2024."])
    second = language.english_pieces(unique, [unique])
    assert first.skipped == {"de": 1} and second.skipped == {"de": 1}
    assert first.kept == ["The girders were repainted in 2024."]
    assert sum(text == unique for batch_ in calls for text in batch_) == 1
