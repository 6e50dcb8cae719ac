"""Skip regex searches that cannot match: the literal strings a pattern cannot match without.

The content and prompt-attack filters run a few dozen cue patterns over every sentence or page, and almost
all of them find nothing in ordinary documents. Most of a pattern's time goes to trying its alternation
at every position. But every match of ``\\b(?:kill|murder|...)\\s+you`` contains "kill" or "murder" or ...,
and Python's ``in`` finds out whether a text contains one of those far faster than the regex engine.

:func:`required_literals` reads that set off the parsed pattern (``re._parser``, what ``re.compile``
itself uses): a run of literal characters is required; a group requires what its contents require; an
alternation requires the union of what its branches require (and nothing if one branch requires nothing);
a repeat at least once requires what its body requires. Of the sets a sequence offers, the most selective
one is kept (longest shortest string).

:class:`LiteralGate` searches a batch of texts with a list of patterns and returns exactly what
``pattern.search(text)`` returns for each pair, only faster. The literals are tested on the lower-cased
text, and only for ASCII texts: there ``re.IGNORECASE`` matching of ASCII letters is plain lower-casing,
whereas Unicode case folding lets an ASCII pattern letter match a non-ASCII one (the Kelvin sign "K"
matches "k"). Non-ASCII texts, and patterns with no required literal, are always searched.
:func:`finditer` does the same for one pattern's ``finditer`` (the PII detectors).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable, Iterator, Sequence

try:  # the parser re.compile uses; private, so a Python without it simply searches everything
    from re import _constants as _sre
    from re import _parser as _sre_parse
except ImportError:  # pragma: no cover - every supported Python (3.11-3.13) has them
    _sre = _sre_parse = None

Literals = frozenset[str]


def required_literals(pattern: re.Pattern) -> Literals | None:
    """Lower-cased ASCII strings one of which every match of ``pattern`` contains; None when there are none
    (or the pattern cannot be read)."""
    if _sre_parse is None:
        return None
    try:
        return _required(_sre_parse.parse(pattern.pattern, pattern.flags))
    except Exception:  # noqa: BLE001 - an unreadable pattern is searched as it is
        return None


def _required(items) -> Literals | None:
    best: tuple[tuple[int, int], Literals] | None = None
    run: list[str] = []

    def offer(found: Literals | None) -> None:
        nonlocal best
        if found:
            rank = (min(map(len, found)), -len(found))  # long strings are rare; few of them are cheap to test
            if best is None or rank > best[0]:
                best = (rank, found)

    def end_run() -> None:
        if run:
            offer(frozenset(["".join(run).lower()]))
            run.clear()

    for op, value in items:
        if op is _sre.LITERAL and value < 128:
            run.append(chr(value))
            continue
        end_run()  # anything else (a class, a boundary, a non-ASCII letter) ends a run of literals
        if op is _sre.SUBPATTERN:
            offer(_required(value[-1]))
        elif op is _sre.ATOMIC_GROUP:
            offer(_required(value))
        elif op is _sre.BRANCH:
            branches = [_required(branch) for branch in value[1]]
            if all(branches):
                offer(frozenset().union(*branches))
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT) and value[0] >= 1:
            offer(_required(value[2]))
        elif op is _sre.IN and all(kind is _sre.LITERAL and char < 128 for kind, char in value):
            offer(frozenset(chr(char).lower() for _, char in value))  # one-letter alternatives: [ab]
    end_run()
    return best[1] if best else None


_literals_of = lru_cache(maxsize=None)(required_literals)


def _lowered(text: str) -> str | None:
    """``text`` lower-cased where a literal test is exact (an ASCII text, see above); None elsewhere."""
    return text.lower() if text.isascii() else None


def _may_hold(literals: Iterable[str], lowered: str) -> bool:
    return any(s in lowered for s in literals)


class LiteralGate:
    """``pattern.search`` for every pattern and text, skipping the searches that cannot match."""

    def __init__(self, patterns: Sequence[re.Pattern]):
        self.patterns = list(patterns)
        self.literals = [_literals_of(pattern) for pattern in self.patterns]

    def search(self, texts: Sequence[str]) -> list[list[re.Match | None]]:
        """``[[pattern.search(text) for pattern in patterns] for text in texts]``."""
        lowered = [_lowered(text) for text in texts]
        # first over all the texts at once: the literals found anywhere (usually few or none per pattern)
        everything = "\n".join(low for low in lowered if low is not None)
        present = [None if literals is None else [s for s in literals if s in everything]
                   for literals in self.literals]
        everywhere = list(enumerate(self.patterns))
        candidates = [(i, pattern, found) for (i, pattern), found in zip(everywhere, present) if found != []]
        results = []
        for text, low in zip(texts, lowered):
            row: list[re.Match | None] = [None] * len(self.patterns)
            if low is None:
                for i, pattern in everywhere:
                    row[i] = pattern.search(text)
            else:
                for i, pattern, found in candidates:
                    if found is None or _may_hold(found, low):
                        row[i] = pattern.search(text)
            results.append(row)
        return results


def finditer(pattern: re.Pattern, text: str) -> Iterator[re.Match]:
    """``pattern.finditer(text)``; nothing at once when ``text`` cannot hold a match (see above)."""
    literals = _literals_of(pattern)
    if literals is not None:
        lowered = _lowered(text)
        if lowered is not None and not _may_hold(literals, lowered):
            return iter(())
    return pattern.finditer(text)
