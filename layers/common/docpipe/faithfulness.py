"""Keep generated text to what the source says: every number and name in it must appear there.

Small models invent figures. A sentence whose numbers (whole numbers of the source: "20" is not found in
"2027"; of the same kind: "6 vehicles" is not found in "6 percent"; spelled out, "five" is found as "five"
or "5") or capitalized names are not in the source is dropped, and so is a repeat; if nothing survives, a
fallback drawn from the source itself is used (for summaries, the source's most central sentences).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Callable

_SENTENCES = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[{])")
_FIGURE = re.compile(r"(\d+(?:[.,:/-]\d+)*)(\s*(?:%|percent\b|per\s+cent\b))?", re.IGNORECASE)
# spelled-out numbers a model may write for a figure ("one" is left out: "one of", "no one")
NUMBER_WORDS = {word: str(value) for value, word in enumerate(
    "two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
    "eighteen nineteen twenty".split(), start=2)}
NUMBER_WORDS.update({"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70",
                      "eighty": "80", "ninety": "90", "hundred": "100"})
NUMBER_WORD = re.compile(r"\b(" + "|".join(NUMBER_WORDS) + r")\b", re.IGNORECASE)
_NAME = re.compile(r"\b[A-Z][\w'&-]*[A-Za-z0-9]\b|\{[A-Z_]+\}")
_WORD = re.compile(r"[a-z][a-z'-]{2,}")
_COMMON = frozenset("the this that these those there their they it its a an and but or in on at of to for with "
                    "from by as is are was were be been has have had will would can could should may might "
                    "not no yes also each every all any some more most other such than then when where which "
                    "who whom whose what why how if into over under after before about one".split())


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCES.split(" ".join(text.split())) if s.strip()]


def figures(text: str) -> set[tuple[str, bool]]:
    """(number, is a percentage) for each figure of ``text``; dates and times also by their parts ("2025" is in
    "2025-10-06"), grouped digits not ("350" is not in "1,350,000")."""
    found = set()
    for match in _FIGURE.finditer(text):
        percent = bool(match.group(2))
        found |= {(part, percent) for part in {match.group(1), *re.split(r"[:/-]", match.group(1))}}
    return found


def unsupported(sentence: str, source: str, source_words: set[str],
                source_figures: set[tuple[str, bool]]) -> list[str]:
    """The numbers and names of `sentence` that the source does not contain."""
    missing = [number for number, percent in figures(sentence) if (number, percent) not in source_figures]
    # a spelled-out number counts as found where the source writes it either way ("four" or "4")
    missing += [word for word in NUMBER_WORD.findall(sentence)
                if word.lower() not in source_words and (NUMBER_WORDS[word.lower()], False) not in source_figures]
    for name in _NAME.findall(sentence):
        if name.startswith("{"):
            if name not in source:
                missing.append(name)
        elif name.lower() not in source_words and name.lower() not in _COMMON:
            missing.append(name)
    return missing


def keep_faithful(summary: str, source: str, fallback_sentences: int = 3,
                  fallback: Callable[[], str] | None = None) -> tuple[str, int, bool]:
    """(text, sentences dropped, fallback used); the fallback is ``fallback()`` if given, else an
    extractive summary of ``fallback_sentences`` sentences."""
    source_words = {w.lower() for w in re.findall(r"[\w'&-]+", source)}
    source_figures = figures(source)
    kept, kept_content, dropped = [], [], 0
    for sentence in sentences(summary):
        content = _content(sentence)
        # small models repeat themselves: a sentence whose words and numbers are all in a kept one says nothing new
        if any(content <= earlier for earlier in kept_content):
            continue
        if unsupported(sentence, source, source_words, source_figures):
            dropped += 1
        else:
            kept.append(sentence)
            kept_content.append(content)
    if kept:
        return " ".join(kept), dropped, False
    return (fallback() if fallback else extractive_summary(source, fallback_sentences)), dropped, True


def _content(sentence: str) -> set[str]:
    """The content words and numbers of a sentence."""
    return {w for w in _WORD.findall(sentence.lower()) if w not in _COMMON} | {n for n, _ in figures(sentence)}


def extractive_summary(source: str, count: int = 3) -> str:
    """The source's most central sentences (by shared content words), in their original order."""
    candidates = [s for s in sentences(source) if 6 <= len(s.split()) <= 45]
    if not candidates:
        return " ".join(source.split()[:60])
    frequency = Counter(w for s in candidates for w in set(_WORD.findall(s.lower())) if w not in _COMMON)

    def score(sentence: str) -> float:
        words = [w for w in set(_WORD.findall(sentence.lower())) if w not in _COMMON]
        return sum(frequency[w] for w in words) / (len(words) ** 0.5 or 1)

    best = sorted(range(len(candidates)), key=lambda i: -score(candidates[i]))[:count]
    return " ".join(candidates[i] for i in sorted(best))
