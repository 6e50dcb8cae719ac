"""Which sentences the English-only detectors may judge: language identification with py3langid.

The content filters (alt-profanity-check's model and the cue patterns of ``content.py``), the denied-topic
similarity (all-MiniLM-L6-v2) and the prompt-attack patterns (``attacks.py``) were all made for English.
On other languages they are not wrong in a useful way: German "Die Rechnung Nr." scored as an insult and
the Latin "cum" of lorem-ipsum filler as sexual content. Bedrock Guardrails evaluates many languages (its
Standard tier) and never blocks a text for being foreign, so here a sentence in another language is left out
of those detectors, and the engine reports that it could not evaluate it (see ``engine.py``).

A sentence is judged by the English-only detectors unless it is confidently in another language: langid's
normalized probability for its best language, other than English, is at least :data:`CONFIDENT`. A short
fragment ("Nr.", "Ut felis.") is rarely confident either way; it follows its text, i.e. it is left out when
the whole text it came from is confidently in another language. An English sentence quoted inside a German
page is still judged.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable

ENGLISH = "en"
CONFIDENT = 0.5  # no English sentence of the guardrail sets scores above 0.5 for another language

_lock = threading.Lock()
_identifier = None


@lru_cache(maxsize=16384)  # the topic check and the content filters ask about the same sentences of a page
def _classify(text: str) -> tuple[str, float]:
    global _identifier
    with _lock:
        if _identifier is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    language, probability = _identifier.classify(text)
    return language, float(probability)


def foreign_language(text: str) -> str | None:
    """The language ``text`` is confidently written in, when that is not English; else None."""
    if not any(ch.isalpha() for ch in text):
        return None
    language, probability = _classify(text)
    return language if language != ENGLISH and probability >= CONFIDENT else None


@dataclass
class EnglishOnly:
    """The pieces of some texts that English-only detectors may judge, and what was left out, by language."""

    kept: list[str] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)  # language -> pieces left out

    @property
    def total(self) -> int:
        return len(self.kept) + sum(self.skipped.values())


def english_pieces(text: str, pieces: Iterable[str]) -> EnglishOnly:
    """Of ``pieces`` (sentences of ``text``), those an English-only detector may judge."""
    out = EnglishOnly()
    text_language: str | None | bool = False  # not asked yet: most pieces decide for themselves
    for piece in pieces:
        language, probability = _classify(piece) if any(ch.isalpha() for ch in piece) else ("", 0.0)
        if language == ENGLISH:
            language = None
        elif probability < CONFIDENT:  # unsure: the piece follows its text
            if text_language is False:
                text_language = foreign_language(text)
            language = text_language
        if language:
            out.skipped[language] += 1
        else:
            out.kept.append(piece)
    return out
