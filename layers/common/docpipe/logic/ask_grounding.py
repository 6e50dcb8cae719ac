"""Keep Ask's answer to what the retrieved passages say, and find the passage sentences to quote.

Small models invent figures, and they also take a true figure from the wrong sentence ("6 vehicles a day"
read off "31,400 vehicles a day, of which 6 percent are trucks"; a grant's amount given as a fee). So:

1. an answer sentence naming a number or a name that no passage contains is dropped
   (:func:`docpipe.faithfulness.keep_faithful`), and so is one whose figure appears in the passages only as
   the other kind (a percentage where the answer counts, or the reverse);
2. when the question asks for a figure (how many, how long, what share, when, what cost...), the answer
   must give one (not one the question names, as "Pier 2"), taken from a passage sentence about the
   question as much as any other sentence with a figure is ("about" = question terms shared, after crude
   stemming: "replacing" is "replace");
3. when nothing is left, the answer is the passage sentence most about the question (one with a figure
   first, when a figure was asked for; the closer passage on a tie): a quote, marked extractive.
"""

from __future__ import annotations

import re

from docpipe.chunking import is_table_line
from docpipe.faithfulness import figures, keep_faithful, sentences

_BREAK = re.compile(r"(?<=[.!?])\s+|\s*\n\s*")  # after a sentence end, or at a line break
_ENUMERATOR = re.compile(r"(?:\d{1,3}(?:\.\d{1,3})*|[A-Za-z]|[IVXLC]{1,6})\.")  # "4." of "4. Findings"
_WORD = re.compile(r"[\w$%.,/-]+", re.UNICODE)
_STOP = frozenset("a an and are as at be by for from has have how in is it its of on or that the this to was "
                  "were what when where which who why will with does did do out many much".split())
_SUFFIXES = ("ations", "ation", "ions", "ion", "ings", "ing", "ed", "es", "s", "e")
_ASKS_FOR_FIGURE = re.compile(
    r"\b(?:how\s+(?:many|much|long|wide|deep|high|tall|large|big|heavy|old|far|often|thick|soon)|"
    r"what\s+(?:share|percentage|percent|proportion|fraction|year|date|amount|size|length|width|depth|height|"
    r"number|sum|total)|when|cost|costs|fee|fees|price|budget)\b", re.IGNORECASE)


def terms(text: str) -> set[str]:
    """Content words, lower-cased and crudely stemmed: a suffix off, then the first six letters."""
    found = set()
    for word in _WORD.findall(text):
        word = word.strip(".,").lower()
        if len(word) < 2 or word in _STOP:
            continue
        for suffix in _SUFFIXES:
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                word = word[:-len(suffix)]
                break
        found.add(word[:6])
    return found


def asks_for_figure(question: str) -> bool:
    return _ASKS_FOR_FIGURE.search(question) is not None


def sentence_spans(passage: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of a passage. A sentence end or a line break ends one, except a wrapped
    line: a single line break after no sentence end (. ! ? :), before no upper-case letter, between two lines
    that are not table rows (extracted pages break lines mid-sentence; a quote cut there stops mid-statement,
    as "Their estimated cost totals" before "$9,098,000"). A list number ("4." of "4. Findings") ends nothing."""
    spans, start = [], 0
    for gap in _BREAK.finditer(passage):
        wrapped = (gap.group().count("\n") == 1 and not passage[gap.end():gap.end() + 1].isupper()
                   and passage[gap.start() - 1:gap.start()] not in (".", "!", "?", ":")
                   and not is_table_line(passage[passage.rfind("\n", 0, gap.start()) + 1:gap.start()])
                   and not is_table_line(passage[gap.end():_line_end(passage, gap.end())]))
        if not wrapped and not _ENUMERATOR.fullmatch(passage, start, gap.start()):
            if gap.start() > start:
                spans.append((start, gap.start()))
            start = gap.end()
    if start < len(passage):
        spans.append((start, len(passage)))
    return spans


def _line_end(text: str, position: int) -> int:
    end = text.find("\n", position)
    return len(text) if end < 0 else end


def best_quote(passage: str, question: str, answer: str) -> tuple[str, int]:
    """The passage sentence sharing most terms with the answer (then the question), and its offset; the
    quote is the passage's own text (a wrapped sentence keeps its line break)."""
    wanted_answer, wanted_question = terms(answer), terms(question)
    best, best_score = (0, len(passage)), (-1, -1)
    for start, end in sentence_spans(passage):
        found = terms(passage[start:end])
        score = (len(found & wanted_answer), len(found & wanted_question))
        if score > best_score:
            best, best_score = (start, end), score
    return passage[best[0]:best[1]], best[0]


class _Passages:
    """The passages' sentences (on one line each), with the question terms and figures of each."""

    def __init__(self, passages: list[str], question: str):
        self.wanted = terms(question)
        self.named = figures(question)  # "Pier 2" of the question is no answer to it
        self.figure_asked = asks_for_figure(question)
        self.sentences = [" ".join(passage[start:end].split())
                          for passage in passages for start, end in sentence_spans(passage)]
        self.about = [len(terms(sentence) & self.wanted) for sentence in self.sentences]
        self.figures = [figures(sentence) for sentence in self.sentences]

    def support(self, figure: tuple[str, bool]) -> int:
        """How much the passage sentences holding ``figure`` (of the same kind) are about the question;
        -1 where none holds it."""
        return max((about for about, held in zip(self.about, self.figures) if figure in held), default=-1)

    def best_sentence(self) -> str:
        """The sentence most about the question (one with a figure first, where one is asked for)."""
        def score(index: int) -> tuple[int, int]:
            return (bool(self.figures[index] - self.named) if self.figure_asked else 0, self.about[index])

        return self.sentences[max(range(len(self.sentences)), key=score)] if self.sentences else ""

    def answers_the_figure(self, answer: str) -> bool:
        """Where a figure is asked for: the answer gives one from a sentence as much about the question as
        any passage sentence with a figure."""
        most = max((about for about, held in zip(self.about, self.figures) if held - self.named), default=0)
        if not self.figure_asked or most == 0:
            return True
        return max((self.support(figure) for figure in figures(answer) - self.named), default=-1) >= most


def grounded_answer(answer: str, passages: list[str], question: str) -> tuple[str, int, bool]:
    """(answer, sentences dropped, extractive): see the module docstring."""
    context = _Passages(passages, question)
    text, dropped, extractive = keep_faithful(answer, "\n\n".join(passages), fallback=context.best_sentence)
    if extractive or context.answers_the_figure(text):
        return text, dropped, extractive
    return context.best_sentence(), dropped + len(sentences(text)), True  # none of what the model said is kept
