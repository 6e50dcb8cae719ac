"""The kind of figure a question asks for, and the figures of that kind in a text.

"How tall is the dam?" wants a length, not the year the dam was completed; "How many trams...?" a count, not
the year the depot opened; "What will it cost?" an amount of money, "what share" a percentage, "when" a date
or a year. A figure's kind is read from what stands next to it: a currency sign or word, a unit, "percent",
a month name, four digits that make a year. A number may be spelled out before its unit ("closed for six
weeks" is a duration of 6). Figures keep the shape of :func:`docpipe.faithfulness.figures` ((number, is a
percentage)), so the two can be compared; where a date is asked, a year that a month or a season dates more
closely is the one figure "jun 2027" (or "spring 2027"): "by the end of 2027" is no answer to when the work
finishes "in June 2027".
"""

from __future__ import annotations

import re

from docpipe.faithfulness import NUMBER_WORD, NUMBER_WORDS, figures

_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|"
          r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_BEFORE = {  # what the text just before a number says of its kind
    "money": re.compile(r"(?:[$€£]|\b(?:USD|EUR|GBP|US\$))\s*$", re.I),
    "date": re.compile(rf"\b{_MONTH}\s+$", re.I),
}
_AFTER = {  # ... and what the text just after it says
    "percent": re.compile(r"^\s*(?:%|percent\b|per\s+cent\b)", re.I),
    "money": re.compile(r"^\s*(?:(?:million|billion|thousand|m|bn|k)\s+)?(?:dollars|usd|eur|euros?|pounds|gbp)\b", re.I),
    "date": re.compile(rf"^(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?:\W|$)", re.I),
    "length": re.compile(r"^\s*(?:mm|cm|m|km|ft|feet|foot|inch(?:es)?|metres?|meters?|kilometres?|kilometers?|"
                         r"miles?|millimetres?|millimeters?|centimetres?|centimeters?)(?![\w²³])", re.I),
    "area": re.compile(r"^\s*(?:m2|m²|km2|km²|square|sq\b|hectares?|acres?)", re.I),
    "volume": re.compile(r"^\s*(?:m3|m³|litres?|liters?|megalitres?|megaliters?|ml\b|cubic|gallons?)", re.I),
    "duration": re.compile(r"^\s*(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?)\b", re.I),
}
_NUMBER = re.compile(r"\d+(?:[.,:/-]\d+)*")
_YEAR = re.compile(r"(?:1[89]|20|21)\d\d")
# a month or a season just before a year, which then dates it more closely than the year alone
_MONTH_OR_SEASON_BEFORE = re.compile(rf"\b({_MONTH}|spring|summer|autumn|fall|winter)\s+(?:of\s+)?$", re.I)

# what a question asks for, first match wins
_ASKS: list[tuple[re.Pattern, frozenset[str]]] = [(re.compile(p, re.I), frozenset(kinds)) for p, kinds in [
    (r"\b(?:what|which|by what)\s+(?:share|percentage|percent|proportion|fraction|part)\b|\bhow much of\b",
     {"percent"}),
    (r"\b(?:cost|costs|fee|fees|price|prices|budget|grant|funding)\b|\bhow much\b.*\b(?:pay|pays|paid|spend|spent|"
     r"charge|charges|fund|funds|worth)\b|\bwhat (?:amount|sum)\b", {"money"}),
    (r"\b(?:in|what|which)\s+year\b", {"year"}),
    (r"\bhow many\s+(?:years|months|weeks|days|hours|minutes)\b", {"duration"}),
    # "how long will it be closed / take / last": a time, not a length
    (r"\bhow long\b.*\b(?:clos\w*|shut|take|takes|took|last|lasts|lasted|stay|stays|remain|remains|"
     r"open|opened|out of (?:service|use)|delay\w*|wait)\b|\bfor how long\b", {"duration"}),
    (r"\bhow many\s+(?:square|hectares|acres)\b", {"area"}),
    (r"\bwhen\b|\b(?:what|which|on what)\s+(?:date|day|month)\b", {"date", "year"}),
    (r"\bhow long\b", {"length", "duration"}),
    # "what is the height of the chimney", "what total length of pipe"
    (r"\bhow\s+(?:tall|high|deep|wide|thick|far)\b|\bwhat\b[^?]*\b(?:length|height|width|depth)\b", {"length"}),
    (r"\bhow many\b|\bwhat number\b", {"count"}),
]]


def asked_kinds(question: str) -> frozenset[str] | None:
    """The kinds of figure that answer the question; None when any kind may (or it asks for none)."""
    return next((kinds for pattern, kinds in _ASKS if pattern.search(question)), None)


def _kinds_at(text: str, start: int, end: int) -> set[str]:
    before, after, number = text[max(0, start - 12):start], text[end:end + 24], text[start:end]
    kinds = {kind for kind, pattern in _BEFORE.items() if pattern.search(before)}
    kinds |= {kind for kind, pattern in _AFTER.items() if pattern.search(after)}
    if _YEAR.fullmatch(number):
        kinds.add("year")
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", number):
        kinds.add("date")
    if not kinds & {"percent", "money", "length", "area", "volume", "duration", "year", "date"}:
        kinds.add("count")
    return kinds


def spelled_figures(text: str) -> set[tuple[str, bool]]:
    """The numbers ``text`` spells out ("six" of "six weeks"), as figures: ("6", False)."""
    return {(NUMBER_WORDS[word.lower()], False) for word in NUMBER_WORD.findall(text)}


def figures_of_kind(text: str, kinds: frozenset[str] | None) -> set[tuple[str, bool]]:
    """The figures of ``text`` (as :func:`docpipe.faithfulness.figures` gives them, and numbers spelled out
    before a unit) of one of ``kinds``; every figure where ``kinds`` is None."""
    if kinds is None:
        return figures(text)
    found: set[tuple[str, bool]] = set()
    for match in _NUMBER.finditer(text):
        here = _kinds_at(text, match.start(), match.end())
        dated = _MONTH_OR_SEASON_BEFORE.search(text[max(0, match.start() - 16):match.start()])
        if "date" in kinds and "year" in here and dated:  # "June 2027" is one figure, not the bare year
            found.add((f"{dated.group(1).lower()[:3]} {match.group()}", False))
        elif here & kinds:  # the parts too, as figures() reads a date: "2025" of "2025-09-19"
            found |= {(part, "percent" in here) for part in {match.group(), *re.split(r"[:/-]", match.group())}}
    for match in NUMBER_WORD.finditer(text):  # spelled out: a kind only from the unit after it
        here = {kind for kind, pattern in _AFTER.items() if pattern.search(text[match.end():match.end() + 24])}
        if here & kinds or ("count" in kinds and not here):
            found.add((NUMBER_WORDS[match.group().lower()], "percent" in here))
    return found
