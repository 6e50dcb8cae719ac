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
from typing import Iterable, Sequence

import numpy as np

ENGLISH = "en"
CONFIDENT = 0.5  # no English sentence of the guardrail sets scores above 0.5 for another language

_CACHE_SIZE = 16384  # the topic check, the content filters and the prompt attack ask about the same pieces

_lock = threading.Lock()
_identifier: "BatchIdentifier | None" = None
_known: dict[str, tuple[str, float]] = {}


class BatchIdentifier:
    """py3langid's classifier (its model, features and normalized probabilities), scoring many texts at once.

    py3langid scores one text per call with some ten small numpy calls, and a page's sentences made about 60
    such calls. Each numpy call may hand the GIL to the pipeline's other threads and then wait to get it
    back (bench/ingest: language identification took 2-3 s of the pages' wall time for 0.3 CPU-seconds).
    Here py3langid's own automaton walk counts each text's features, and one batch of numpy calls scores
    them all. The scores are py3langid's; tests compare both.
    """

    def __init__(self) -> None:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier, visit_counts

        model = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        self._encode = model._encode  # lower-cases all-capital text, NFC, UTF-8: what classify() reads
        walk = (model.tk_nextmove, [row << 8 for row in model.tk_row], model.tk_output)
        self._features_of = lambda data: visit_counts(*walk, data) or {}
        self.features = model.nb_ptc.shape[0]
        self.log_prob = model.nb_ptc  # features x languages
        self.prior = model.nb_pc
        self.languages = list(model.nb_classes)
        # a language with two columns (a script alias) folds the second into the first, as py3langid does
        first: dict[str, int] = {}
        self.aliases: list[tuple[int, int]] = []
        for column, language in enumerate(self.languages):
            if language in first:
                self.aliases.append((first[language], column))
            else:
                first[language] = column

    def classify(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """``(language, probability)`` of each text, as py3langid's ``classify`` gives it (norm_probs)."""
        keys: list[int] = []
        counts: list[int] = []
        lengths = []
        for row, text in enumerate(texts):
            data = self._encode(text)
            lengths.append(len(data))
            found = self._features_of(data)
            keys += [row * self.features + feature for feature in found]
            counts += found.values()
        scores = np.zeros((len(texts), len(self.prior)), dtype=np.float32)  # no feature: all languages equal
        if keys:
            keys_, counts_ = np.array(keys, dtype=np.int64), np.array(counts, dtype=np.float32)
            rows = keys_ // self.features  # ascending: texts in order, each text's features together
            weighted = np.log1p(counts_)[:, None] * self.log_prob[keys_ % self.features]
            firsts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
            scores[rows[firsts]] = np.add.reduceat(weighted, firsts, axis=0) + self.prior
        scores *= (1.0 / np.sqrt(np.maximum(lengths, 1))).astype(np.float32)[:, None]  # py3langid's temperature
        scores = np.exp(scores - scores.max(axis=1, keepdims=True))
        scores /= scores.sum(axis=1, keepdims=True)
        for kept, folded in self.aliases:
            scores[:, kept] += scores[:, folded]
            scores[:, folded] = 0.0
        best = scores.argmax(axis=1)
        return [(self.languages[b], float(scores[row, b])) for row, b in enumerate(best)]


def identify(texts: Iterable[str]) -> dict[str, tuple[str, float]]:
    """``(language, probability)`` for each distinct text that holds a letter (a text without one, a page number
    or an amount, has no language); texts asked about before are not classified again."""
    global _identifier
    texts = [text for text in dict.fromkeys(texts) if any(ch.isalpha() for ch in text)]
    with _lock:
        found = {text: _known[text] for text in texts if text in _known}
        if _identifier is None:
            _identifier = BatchIdentifier()
    missing = [text for text in texts if text not in found]
    if missing:
        answers = dict(zip(missing, _identifier.classify(missing)))
        with _lock:
            if len(_known) + len(answers) > _CACHE_SIZE:
                _known.clear()
            _known.update(answers)
        found.update(answers)
    return found


def forget() -> None:
    """Forget the languages found (a benchmark measures a cold cache, as it measures a cold topic gate)."""
    with _lock:
        _known.clear()


def foreign_language(text: str) -> str | None:
    """The language ``text`` is confidently written in, when that is not English; else None."""
    language, probability = identify([text]).get(text, (ENGLISH, 0.0))
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
    pieces = list(pieces)
    identified = identify(pieces)
    text_language: str | None | bool = False  # not asked yet: most pieces decide for themselves
    for piece in pieces:
        language, probability = identified.get(piece, ("", 0.0))
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
