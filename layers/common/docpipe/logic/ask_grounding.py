"""Keep Ask's answer to what the retrieved passages say, and find the passage sentences to quote.

Small models invent figures, and they also take a true figure from the wrong sentence ("6 vehicles a day"
read off "31,400 vehicles a day, of which 6 percent are trucks"; a grant's amount given as a fee). So:

1. an answer sentence naming a number or a name that no passage contains is dropped
   (:func:`docpipe.faithfulness.keep_faithful`), and so is one whose figure appears in the passages only as
   the other kind (a percentage where the answer counts, or the reverse);
2. when the question asks for a figure (how many, how long, what share, when, what cost...), the answer
   must give one of the kind asked (:mod:`docpipe.logic.ask_kinds`: a length for "how tall", money for
   "cost", a date or a year for "when"...; not one the question names, as "Pier 2"; for "how many levels", a
   count of levels where a passage gives one: "seven levels", not "levels 5 to 7"), taken from a passage
   sentence about the question as much as any other sentence with such a figure is ("about" = question
   terms shared, after crude stemming: "replacing" is "replace"; a term counts more the fewer passage
   sentences share it, a name of what the question is about half as much; the question terms within eight words
   of such a figure count again, since they say what the figure is of: "the gas engine at £940,000", in a
   sentence that also prices the wells and the flare); an answer sentence giving one from a sentence about
   something else is left out; when it asks which firm, contractor, agency or person, or who
   carried out, inspected, built, led, managed, approved... something, likewise a name the question does not
   hold (another "who" is left free: "residents" answer "who is affected"; a capitalized word before a number,
   "Pier 3", is no name);
3. when nothing is left, the answer is the passage sentence most about the question (one holding what is
   asked for first; the closer passage on a tie): a quote, marked extractive.
"""

from __future__ import annotations

import math
import re

from docpipe.chunking import is_table_line
from docpipe.faithfulness import figures, keep_faithful, sentences
from docpipe.logic.ask_kinds import asked_kinds, figures_of_kind, spelled_figures

NAME_WEIGHT = 0.5  # of a question term that is one of the names it asks about, against its other terms
NEAR_WORDS = 8  # on either side of a figure or a name asked for: the words that say what it is of
_BREAK = re.compile(r"(?<=[.!?])\s+|\s*\n\s*")  # after a sentence end, or at a line break
# a line of prose broken mid-sentence: long (a heading is short), not a Markdown heading, ending in a lower-case
# word or a comma ("Harbor Bridge (PM-0417)" or "Biennial Inspection Report" end a line of their own)
_PROSE_CUT = re.compile(r"(?!\s*#).{49,}[a-z,]")
_ENUMERATOR = re.compile(r"(?:\d{1,3}(?:\.\d{1,3})*|[A-Za-z]|[IVXLC]{1,6})\.")  # "4." of "4. Findings"
_WORD = re.compile(r"[\w$%.,/-]+", re.UNICODE)
_SPACED = re.compile(r"\S+")  # a word as the text spaces it
_STOP = frozenset("a an and are as at be by for from has have how in is it its of on or that the this to was "
                  "were what when where which who why will with does did do out many much".split())
_SUFFIXES = ("ations", "ation", "ions", "ion", "ings", "ing", "ed", "es", "s", "e")
_ASKS_FOR_FIGURE = re.compile(
    r"\b(?:how\s+(?:many|much|long|wide|deep|high|tall|large|big|heavy|old|far|often|thick|soon)|"
    r"what\s+(?:share|percentage|percent|proportion|fraction|year|date|amount|size|length|width|depth|height|"
    r"number|sum|total)|which\s+(?:year|date|month|day)|(?:size|value|amount|length|height|width|depth)\s+of|"
    r"when|cost|costs|fee|fees|price|budget)\b", re.IGNORECASE)
_ROLES = (r"(?:firm|company|contractor|subcontractor|consultants?|consultancy|agency|authority|organi[sz]ation|"
          r"supplier|team|person|engineer|manager|body|department|laboratory|lab|architects?|practice|director|"
          r"officer|inspector|surveyor|auditor|designer|lead|leader|head|chair|supervisor)")
# "project", "engineering", "the council's": a possessive is a modifier too ("who was the council's project manager")
_MODIFIERS = r"(?:(?!(?:is|was|are|were|the|an?|of|for|did|does|do|will|has|had|have)\b)[a-z-]+(?:['’]s)?\s+){0,2}?"
_ASKS_FOR_NAME = re.compile(
    # a firm or a person by its role, with up to two words before it: "which engineering firm", "who was the
    # project manager", "who is the director of works"
    rf"\b(?:which|what)\s+{_MODIFIERS}{_ROLES}\b|"
    rf"\bwho\s+(?:is|was|were|are|will\s+be|acted\s+as)\s+(?:the\s+)?{_MODIFIERS}{_ROLES}\b|"
    # who did or led the work: a firm or a person ("who applied", "who is affected" are left free)
    r"\bwho\b.*\b(?:carr(?:y|ies|ied)\s+out|undert(?:ake|akes|ook|aken)|builds?|built|supplie[sd]|supply|won|"
    r"leads?|led|ran|runs?|oversaw|overs(?:ee|ees|een|eeing)|wrote|writes?|fit(?:s|ted|ting)?|"
    r"certif(?:y|ies|ied)|verif(?:y|ies|ied)|"
    r"(?:conduct|perform|audit|inspect|survey|review|design|construct|supervis|install|repair|renovat|refurbish|"
    r"award|contract|hir|appoint|manag|direct|chair|coordinat|head|approv|sign|prepar|author|commission|handl|"
    r"deliver|complet|assess|investigat|test|examin|fund)"
    r"(?:e|es|s|ed|ing)?)\b",
    re.IGNORECASE)
_HEADING = re.compile(r"#{1,6}\s")  # a Markdown heading
# what "how many" counts: up to four words after it, up to a verb of the question ("were", "does", "will"), a
# preposition or an article; less the words that say which ones, not what ("new", "more")
_COUNTED = re.compile(r"\bhow many\s+((?:[\w-]+\s+){0,3}[\w-]+)", re.IGNORECASE)
_COUNTED_ENDS = frozenset("is are was were be been do does did will would can could should has have had may "
                          "might must in on at of for to by from the a an".split())
_CLAUSE_BREAK = re.compile(r"[,;:.()]\s|\s[-–]\s")  # not the comma of "1,450"
_NOT_COUNTED = frozenset("new more other additional extra separate different individual total".split())
COUNT = frozenset({"count"})
_CAPITALIZED = re.compile(r"\b[A-Z][a-z]+(?:[-'][A-Za-z]+)?\b")
_NUMBERED = re.compile(r"\s+\d")
_NOT_NAMES = frozenset("january february march april may june july august september october november december "
                       "monday tuesday wednesday thursday friday saturday sunday".split())
# a run of capitalized words, "&" between them allowed: "Greywell & Dunmore Construction Ltd"; less an article
_CAPITALIZED_RUN = re.compile(r"[A-Z][\w'’-]*(?:\s+(?:&\s+)?[A-Z][\w'’-]*)+")
_LEADING_ARTICLE = re.compile(r"^(?:The|A|An|This|These|Those|Our|Its|Their)\s+")
_SENTENCE_OPENERS = _STOP | frozenset("the these those there their they he she we you our his her its it after before "
                                      "during all each every some no yes also however this that then since while "
                                      "both either neither one two three".split())


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


def asks_for_name(question: str) -> bool:
    return _ASKS_FOR_NAME.search(question) is not None


def counted_terms(question: str) -> set[str]:
    """The terms of what a "how many" question counts: "How many new pumps were fitted?" -> pump."""
    match = _COUNTED.search(question)
    if not match:
        return set()
    words = []
    for word in match.group(1).lower().split():
        if word in _COUNTED_ENDS:
            break
        if word not in _NOT_COUNTED:
            words.append(word)
    return terms(" ".join(words))


def counted_figures(text: str, counted: set[str]) -> set[tuple[str, bool]]:
    """The counts of ``text`` that count one of ``counted``: a number up to four words before it, in the same
    clause ("seven levels", "574 spaces", "612 parking spaces"), not one after it ("levels 5 to 7")."""
    words = list(_WORD.finditer(text))
    found: set[tuple[str, bool]] = set()
    for index, word in enumerate(words):
        if terms(word.group()) & counted:
            before = text[words[max(0, index - 4)].start():word.start()]
            found |= figures_of_kind(_CLAUSE_BREAK.split(before)[-1], COUNT)
    return found


def names(text: str) -> set[str]:
    """The capitalized words of ``text`` that can name a firm or a person (lower-cased): not a month or a day,
    nor a sentence's first word where any word would be capitalized ("The", "After"), nor a word numbered
    ("Pier 3", "Berth 2", "Sep 2025": a part or a date, not who did something)."""
    found = set()
    for match in _CAPITALIZED.finditer(text):
        word = match.group().lower()
        if _NUMBERED.match(text, match.end()):
            continue
        before = text[:match.start()].rstrip(" \t\"'(*#-")
        starts = not before or before[-1] in ".!?:\n|"  # any word is capitalized there
        if word not in _NOT_NAMES and not (starts and word in _SENTENCE_OPENERS):
            found.add(word)
    return found


def sentence_spans(passage: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of a passage. A sentence end or a line break ends one, except a wrapped
    line: a single line break after no sentence end (. ! ? :), between two lines that are not table rows, before
    no upper-case letter, or before one where the line broken is prose stopped mid-sentence (extracted pages
    break lines mid-sentence; a quote cut there stops mid-statement, as "Their estimated cost totals" before
    "$9,098,000", or "carried out in March 2026 by" before the firm's name on the next line). A list number
    ("4." of "4. Findings") ends nothing."""
    spans, start = [], 0
    for gap in _BREAK.finditer(passage):
        line = passage[passage.rfind("\n", 0, gap.start()) + 1:gap.start()]
        wrapped = (gap.group().count("\n") == 1
                   and (not passage[gap.end():gap.end() + 1].isupper() or _PROSE_CUT.fullmatch(line))
                   and passage[gap.start() - 1:gap.start()] not in (".", "!", "?", ":")
                   and not is_table_line(line) and not is_table_line(passage[gap.end():_line_end(passage, gap.end())]))
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
    """The passages' sentences (on one line each), with the question terms of each and what each holds of
    what the question asks for: figures of the kind asked (where a figure is asked for), or names (where a
    firm or a person is)."""

    def __init__(self, passages: list[str], question: str):
        self.wanted = terms(question)
        self.figure_asked = asks_for_figure(question)
        self.name_asked = not self.figure_asked and asks_for_name(question)
        self.kinds = asked_kinds(question)
        # "Pier 2" of the question is no answer to it, nor is the "Harbor Bridge" it asks about
        self.named = figures(question) | spelled_figures(question) if self.figure_asked else names(question)
        self.sentences = [" ".join(passage[start:end].split())
                          for passage in passages for start, end in sentence_spans(passage)]
        # "How many levels does the car park have?" is answered by "seven levels", not by "levels 5 to 7" nor
        # "330 spaces", where a passage counts what is asked about (else by any count)
        counted = counted_terms(question) if self.kinds == COUNT else set()
        self.counted = counted if any(counted_figures(sentence, counted) - self.named
                                      for sentence in self.sentences) else set()
        held_terms = [terms(sentence) & self.wanted for sentence in self.sentences]
        # a question term most sentences share (the subject every passage is about: "dam", "review") says less
        # about which sentence answers than a rare one ("carried", "high"): each counts by its rarity
        # and the names of what the question is about ("Corran Leisure Centre") say less than what it asks of
        # it ("reopen"): the sentence that answers often calls it "the pools" or "it"
        subject = terms(" ".join(names(question)))
        weight = {term: math.log(1 + len(held_terms) / sum(term in held for held in held_terms))
                  * (NAME_WEIGHT if term in subject else 1.0) for term in set().union(*held_terms)}
        self.weight = weight
        # a heading states nothing ("# Ashby Water Treatment Works: Process Audit 2026" holds a year and names,
        # and every word of its subject): it holds no answer, and is not one
        self.statements = [not _HEADING.match(sentence) for sentence in self.sentences]
        self.holds = [self.asked_in(sentence) if statement else set()
                      for sentence, statement in zip(self.sentences, self.statements)]
        self.about = [sum(weight[term] for term in held_terms[index]) + self.near(sentence, self.holds[index])
                      for index, sentence in enumerate(self.sentences)]

    def near(self, sentence: str, items: set) -> float:
        """The weight of the question terms within ``NEAR_WORDS`` words of the nearest-described of ``items``
        (figures or names asked for) in ``sentence``: 0 where it holds none."""
        words = list(_SPACED.finditer(sentence))
        best = 0.0
        for item in items:
            # a figure by its number ("940,000"; the year of "feb 2021"), a name by its word
            needle = item[0].split()[-1] if isinstance(item, tuple) else item
            for found in re.finditer(rf"(?<![\w.]){re.escape(needle)}(?!\w)", sentence, re.IGNORECASE):
                at = next(index for index, word in enumerate(words) if word.end() > found.start())
                window = " ".join(word.group() for word in words[max(0, at - NEAR_WORDS):at + NEAR_WORDS + 1])
                best = max(best, sum(self.weight.get(term, 0.0) for term in terms(window) & self.wanted))
        return best

    def asked_in(self, text: str) -> set:
        """What ``text`` holds of what the question asks for, less what the question names itself."""
        if self.counted:
            return counted_figures(text, self.counted) - self.named
        if self.figure_asked:
            return figures_of_kind(text, self.kinds) - self.named
        return names(text) - self.named if self.name_asked else set()

    def support(self, item) -> float:
        """How much the passage sentences holding ``item`` are about the question; -1 where none holds it."""
        return max((about for about, held in zip(self.about, self.holds) if item in held), default=-1)

    def best_sentence(self) -> str:
        """The sentence most about the question (one holding what is asked for first)."""
        def score(index: int) -> tuple[bool, bool, float]:
            return (self.statements[index], bool(self.holds[index]), self.about[index])

        return self.sentences[max(range(len(self.sentences)), key=score)] if self.sentences else ""

    def answering(self, answer: str) -> tuple[list[str], int]:
        """Where a figure (of a kind) or a name is asked for: the answer's sentences that give one only from
        passage sentences as much about the question as any that holds one, with those that say nothing of
        it, and how many were left out; no sentences when none gives one so."""
        if not any(self.holds):  # no passage holds one: nothing to hold the answer to
            return sentences(answer), 0
        most = max(about for about, held in zip(self.about, self.holds) if held)
        kept, left_out, answered = [], 0, False
        for sentence in sentences(answer):
            items = self.asked_in(sentence)
            if items and min(self.support(item) for item in items) < most:
                left_out += 1  # a figure or name taken from a sentence about something else
                continue
            answered |= bool(items)
            kept.append(sentence)
        return (kept, left_out) if answered else ([], left_out + len(kept))


def full_names(answer: str, passages: list[str]) -> str:
    """``answer`` with each name it shortens written as the passages write it: "Halvorsen Marr" where they say
    "Halvorsen Marr Consulting", "Aircrest" where they say "Aircrest Building Services". A short form that
    begins two different names of the passages ("Aircrest Ltd" too) is left as it is."""
    runs = {_LEADING_ARTICLE.sub("", " ".join(run.group().split())) for passage in passages
            for run in _CAPITALIZED_RUN.finditer(passage)}
    completions: dict[str, set[str]] = {}
    for run in runs:
        words = run.split()
        if words[0].lower() in _SENTENCE_OPENERS or words[0].lower() in _NOT_NAMES:
            continue  # "After Aircrest...", "May Bank Holiday": no name begins there
        for length in range(1, len(words)):
            if words[length - 1] != "&":
                completions.setdefault(" ".join(words[:length]), set()).add(run)
    for short, names_ in sorted(completions.items(), key=lambda item: -len(item[0])):
        if len(names_) != 1:
            continue
        (name,) = names_
        # the short form alone, not already followed by the rest of the name (nor part of a longer word)
        answer = re.sub(rf"(?<![\w&]){re.escape(short)}(?![\w'’-]|\s+{re.escape(name[len(short):].split()[0])})",
                        name, answer)
    return answer


def grounded_answer(answer: str, passages: list[str], question: str) -> tuple[str, int, bool]:
    """(answer, sentences dropped, extractive): see the module docstring."""
    context = _Passages(passages, question)
    text, dropped, extractive = keep_faithful(answer, "\n\n".join(passages), fallback=context.best_sentence)
    if extractive:
        return text, dropped, extractive
    kept, left_out = context.answering(text)
    if kept:
        answer = " ".join(kept)
        return (full_names(answer, passages) if context.name_asked else answer), dropped + left_out, False
    return context.best_sentence(), dropped + left_out, True  # none of what the model said is kept
