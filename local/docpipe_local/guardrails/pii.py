"""PII detectors for the guardrail engine: patterns, checksums and context words, all offline.

Every entity type of Bedrock's sensitive-information filter (``GuardrailPiiEntityType``) has a detector.
They are of three strengths, and the docstring of each says which:

* **validated**: a pattern plus a checksum or a parser (Luhn for cards and Canadian SINs, mod-97 for IBANs,
  ``phonenumbers`` for phones, the SSA rules for SSNs, ``ipaddress`` for IPs, the ISO 3779 check digit
  for VINs, ...) -- these find what they find anywhere in a text;
* **formatted**: a distinctive shape with no checksum (emails, URLs, AWS access keys, UK NI numbers);
* **contextual**: a shape that is only PII next to a word that says so ("PIN 4821", "password: ...",
  "passport no. 123456789", "Mr. John Smith", "12 Baker Street").

NAME and ADDRESS are heuristics (titles, "my name is", labelled fields; street-number + street-type
patterns, US ZIP and UK postcodes): there is no offline named-entity model here. Presidio is not used: its
default engine downloads a spaCy model at run time, and its pattern recognizers add nothing over these.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import phonenumbers
from stdnum import bic as std_bic
from stdnum import iban as std_iban
from stdnum import luhn as std_luhn
from stdnum.ca import sin as std_ca_sin
from stdnum.gb import nhs as std_gb_nhs
from stdnum.gb import utr as std_gb_utr
from stdnum.us import itin as std_us_itin
from stdnum.us import rtn as std_us_rtn
from stdnum.us import ssn as std_us_ssn

from .literals import finditer  # skips a search the text cannot match

PII_TYPES = (
    "ADDRESS", "AGE", "AWS_ACCESS_KEY", "AWS_SECRET_KEY", "CA_HEALTH_NUMBER", "CA_SOCIAL_INSURANCE_NUMBER",
    "CREDIT_DEBIT_CARD_CVV", "CREDIT_DEBIT_CARD_EXPIRY", "CREDIT_DEBIT_CARD_NUMBER", "DRIVER_ID", "EMAIL",
    "INTERNATIONAL_BANK_ACCOUNT_NUMBER", "IP_ADDRESS", "LICENSE_PLATE", "MAC_ADDRESS", "NAME", "PASSWORD",
    "PHONE", "PIN", "SWIFT_CODE", "UK_NATIONAL_HEALTH_SERVICE_NUMBER", "UK_NATIONAL_INSURANCE_NUMBER",
    "UK_UNIQUE_TAXPAYER_REFERENCE_NUMBER", "URL", "USERNAME", "US_BANK_ACCOUNT_NUMBER", "US_BANK_ROUTING_NUMBER",
    "US_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER", "US_PASSPORT_NUMBER", "US_SOCIAL_SECURITY_NUMBER",
    "VEHICLE_IDENTIFICATION_NUMBER",
)


@dataclass(frozen=True)
class PiiMatch:
    type: str
    start: int
    end: int
    text: str
    priority: int  # higher wins when two matches overlap


Detector = Callable[[str], Iterator[tuple[int, int]]]
_DETECTORS: dict[str, tuple[int, Detector]] = {}


def _detector(entity: str, priority: int):
    def register(fn: Detector) -> Detector:
        _DETECTORS[entity] = (priority, fn)
        return fn
    return register


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def _context_before(text: str, start: int, words: re.Pattern, window: int = 48) -> bool:
    return bool(words.search(text[max(0, start - window):start]))


def _spans(pattern: re.Pattern, text: str, group: int | str = 0) -> Iterator[tuple[int, int, str]]:
    for m in finditer(pattern, text):
        if m.group(group):
            yield m.start(group), m.end(group), m.group(group)


# --- validated ---------------------------------------------------------------------------------------

_CARD = re.compile(r"(?<![\w-])(?:\d[ -]?){12,18}\d(?![\w-])")
# issuer identification ranges: Visa, Mastercard (51-55, 2221-2720), Amex, Discover, Diners, JCB, UnionPay, Maestro
_CARD_IIN = re.compile(r"^(?:4|5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)|3[47]|6(?:011|5|4[4-9]|22)|3(?:0[0-5]|[68])|35|62|5[06-8]|6\d)")


_CARD_GROUPINGS = {(4, 4, 4, 4), (4, 6, 5), (4, 6, 4), (4, 4, 4, 4, 3), (4, 4, 4, 3), (4, 4, 5), (4, 4, 4, 1)}


def _card_length_ok(digits: str) -> bool:
    if digits[:2] in ("34", "37"):
        return len(digits) == 15  # American Express
    if digits[0] == "5" or digits[:2] in ("22", "23", "24", "25", "26", "27"):
        return len(digits) == 16  # Mastercard
    if digits[0] == "4":
        return len(digits) in (13, 16, 19)  # Visa
    return 14 <= len(digits) <= 19


@_detector("CREDIT_DEBIT_CARD_NUMBER", 90)
def _cards(text: str):
    for start, end, raw in _spans(_CARD, text):
        digits = _digits(raw)
        if not (13 <= len(digits) <= 19 and _CARD_IIN.match(digits) and _card_length_ok(digits)
                and std_luhn.is_valid(digits)):
            continue
        # separators, if any, must group the digits as printed cards do (4-4-4-4, 4-6-5, ...)
        groups = tuple(len(g) for g in re.split(r"[ -]", raw))
        if len(groups) == 1 or groups in _CARD_GROUPINGS:
            yield start, end


_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])")


@_detector("INTERNATIONAL_BANK_ACCOUNT_NUMBER", 95)
def _ibans(text: str):
    for m in finditer(_IBAN, text):
        raw = m.group(0)
        # the greedy match may have eaten a following word: back off a group at a time
        while raw:
            if std_iban.is_valid(raw):
                yield m.start(), m.start() + len(raw)
                break
            cut = raw.rfind(" ")
            raw = raw[:cut] if cut > 0 else ""


_SSN = re.compile(r"(?<![\w-])(\d{3})([- ]?)(\d{2})\2(\d{4})(?![\w-])")
_SSN_WORDS = re.compile(r"\b(?:ssn|social security|soc\.? ?sec)", re.I)


@_detector("US_SOCIAL_SECURITY_NUMBER", 85)
def _ssn(text: str):
    for m in finditer(_SSN, text):
        digits = "".join(m.group(1, 3, 4))
        if not std_us_ssn.is_valid(digits) or std_us_itin.is_valid(digits):
            continue
        # dashed form stands alone; bare or spaced nine digits need a word that says SSN
        if m.group(2) == "-" or _context_before(text, m.start(), _SSN_WORDS):
            yield m.start(), m.end()


_ITIN = re.compile(r"(?<![\w-])9\d{2}(-?)[5-9]\d\1\d{4}(?![\w-])")
_ITIN_WORDS = re.compile(r"\b(?:itin|taxpayer|tax id|tin)\b", re.I)


@_detector("US_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER", 86)
def _itin(text: str):
    for m in finditer(_ITIN, text):
        # dashed form stands alone; nine bare digits need a word that says ITIN
        if std_us_itin.is_valid(_digits(m.group(0))) and (m.group(1) or _context_before(text, m.start(), _ITIN_WORDS)):
            yield m.start(), m.end()


_PHONE_HINT = re.compile(r"\b(?:call|phone|tel|telephone|mobile|cell|fax|contact|reach|text|whatsapp|number|dial|ring)\b", re.I)


# phonenumbers' matcher finds candidates as digit blocks separated by at most 4 of its punctuation characters,
# then parses each one (~10 ms a page of a figure-heavy report). No number it accepts as valid has fewer than
# 5 digits (the shortest national numbers are 4 digits, after a country code of 1 to 3), so a text without
# such a run of digits is skipped without calling it. _VALID_PUNCTUATION is private but unchanged since 2011.
_PHONE_DIGITS = re.compile(r"\d(?:[" + phonenumbers.phonenumberutil._VALID_PUNCTUATION + r"]{0,4}\d){4,}")


@_detector("PHONE", 60)
def _phones(text: str):
    if not _PHONE_DIGITS.search(text):
        return
    seen: set[tuple[int, int]] = set()
    for region in ("US", "GB"):
        for m in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
            span = (m.start, m.end)
            if span in seen:
                continue
            seen.add(span)
            raw = m.raw_string
            formatted = raw.startswith("+") or bool(re.search(r"[ ().-]", raw))
            # a bare run of digits is a phone number only where the text says so
            if formatted or _context_before(text, m.start, _PHONE_HINT):
                yield span


_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_VERSION_WORDS = re.compile(r"\b(?:version|v|release|build|section|clause|figure|table)\.?\s*$", re.I)


@_detector("IP_ADDRESS", 70)
def _ips(text: str):
    for start, end, raw in _spans(_IPV4, text):
        try:
            ipaddress.IPv4Address(raw)
        except ValueError:
            continue
        if not _VERSION_WORDS.search(text[max(0, start - 16):start]):
            yield start, end
    for start, end, raw in _spans(_IPV6, text):
        if raw.count(":") < 2 or len(raw.replace(":", "")) < 4:
            continue  # clock times and ratios
        try:
            ipaddress.IPv6Address(raw)
        except ValueError:
            continue
        yield start, end


_MAC = re.compile(r"(?<![\w:.-])[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}(?![\w:.-])"
                  r"|(?<![\w.])[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}(?![\w.])")


@_detector("MAC_ADDRESS", 72)
def _macs(text: str):
    for start, end, _ in _spans(_MAC, text):
        yield start, end


_SIN = re.compile(r"(?<![\w-])\d{3}([- ])\d{3}\1\d{3}(?![\w-])")
_SIN_WORDS = re.compile(r"\b(?:sin|social insurance|nas)\b", re.I)


@_detector("CA_SOCIAL_INSURANCE_NUMBER", 80)
def _ca_sin(text: str):
    for start, end, raw in _spans(_SIN, text):
        if std_ca_sin.is_valid(_digits(raw)) and (_context_before(text, start, _SIN_WORDS) or raw[0] in "12345679"):
            yield start, end


_VIN = re.compile(r"(?<![A-Za-z0-9])[A-HJ-NPR-Z0-9]{17}(?![A-Za-z0-9])")
_VIN_VALUES = {**{str(d): d for d in range(10)},
               **dict(zip("ABCDEFGH", range(1, 9))), **dict(zip("JKLMN", range(1, 6))), "P": 7, "R": 9,
               **dict(zip("STUVWXYZ", range(2, 10)))}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
_VIN_WORDS = re.compile(r"\b(?:vin|vehicle identification|chassis)\b", re.I)


def vin_check_digit_ok(vin: str) -> bool:
    total = sum(_VIN_VALUES[c] * w for c, w in zip(vin, _VIN_WEIGHTS))
    check = total % 11
    return vin[8] == ("X" if check == 10 else str(check))


@_detector("VEHICLE_IDENTIFICATION_NUMBER", 75)
def _vins(text: str):
    for start, end, raw in _spans(_VIN, text):
        if not (re.search(r"\d", raw) and re.search(r"[A-Z]", raw)):
            continue
        # North American VINs carry an ISO 3779 check digit; others need a word that says VIN
        if vin_check_digit_ok(raw) or _context_before(text, start, _VIN_WORDS):
            yield start, end


# --- formatted -------------------------------------------------------------------------------------------

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,24}(?![\w-])")


@_detector("EMAIL", 100)
def _emails(text: str):
    for start, end, raw in _spans(_EMAIL, text):
        yield start, end


_URL = re.compile(r"\b(?:https?://|ftp://|www\.)[^\s<>\"'`]+", re.I)


@_detector("URL", 50)
def _urls(text: str):
    for m in finditer(_URL, text):
        end = m.end()
        while end > m.start() and text[end - 1] in ".,;:!?)]}'\"":
            end -= 1
        yield m.start(), end


_AWS_KEY = re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|APKA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])")


@_detector("AWS_ACCESS_KEY", 110)
def _aws_keys(text: str):
    for start, end, _ in _spans(_AWS_KEY, text):
        yield start, end


_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_AWS_SECRET_WORDS = re.compile(r"(?:secret|aws_secret_access_key|secretaccesskey|secret_key)", re.I)


@_detector("AWS_SECRET_KEY", 105)
def _aws_secrets(text: str):
    for start, end, raw in _spans(_AWS_SECRET, text):
        mixed = re.search(r"[a-z]", raw) and re.search(r"[A-Z]", raw) and re.search(r"\d", raw)
        if mixed and _context_before(text, start, _AWS_SECRET_WORDS, 64):
            yield start, end


_UK_NINO = re.compile(r"(?<![A-Za-z0-9])(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])")


@_detector("UK_NATIONAL_INSURANCE_NUMBER", 80)
def _uk_nino(text: str):
    for start, end, _ in _spans(_UK_NINO, text):
        yield start, end


# --- contextual ------------------------------------------------------------------------------------------

def _labelled(entity: str, priority: int, label: str, value: str, validate: Callable[[str], bool] | None = None,
              flags: int = re.I):
    """A detector for ``<label> [:#] <value>``: only the value is the entity."""
    pattern = re.compile(rf"(?i:{label})\s*(?:[:#=]|\bis\b|\bno\.?|\bnumber\b|\bnum\b)?\s*(?:[:#=]\s*)?(?P<v>{value})", flags)

    @_detector(entity, priority)
    def detect(text: str):
        for m in finditer(pattern, text):
            raw = m.group("v")
            if validate is None or validate(raw):
                yield m.start("v"), m.end("v")
    return detect


_labelled("US_BANK_ROUTING_NUMBER", 84, r"\b(?:routing|aba|rtn|transit)\b(?:\s+(?:number|no\.?|#))?",
          r"\b\d{9}\b", lambda v: std_us_rtn.is_valid(v))
_labelled("US_BANK_ACCOUNT_NUMBER", 83, r"\b(?:bank |checking |savings )?(?:account|acct)\b(?:\s+(?:number|no\.?|#))?",
          r"\b\d{8,17}\b")
_labelled("US_PASSPORT_NUMBER", 88, r"\bpassport\b(?:\s+(?:number|no\.?|#))?", r"\b[A-Z]?\d{8,9}\b")
_labelled("UK_NATIONAL_HEALTH_SERVICE_NUMBER", 84, r"\bnhs\b(?:\s+(?:number|no\.?|#))?",
          r"\b\d{3}[ -]?\d{3}[ -]?\d{4}\b", lambda v: std_gb_nhs.is_valid(_digits(v)))
_labelled("UK_UNIQUE_TAXPAYER_REFERENCE_NUMBER", 84, r"\b(?:utr|unique taxpayer reference)\b(?:\s+(?:number|no\.?|#))?",
          r"\b\d{5} ?\d{5}\b", lambda v: std_gb_utr.is_valid(_digits(v)))
_labelled("CA_HEALTH_NUMBER", 82, r"\b(?:health card|health number|ohip|phn|carte soleil|ramq)\b(?:\s+(?:number|no\.?|#))?",
          r"\b(?:\d{4}[ -]?\d{3}[ -]?\d{3}(?:[ -]?[A-Z]{2})?|[A-Z]{4} ?\d{4} ?\d{4})\b")
_labelled("DRIVER_ID", 82, r"\bdriver'?s?\s+licen[cs]e\b(?:\s+(?:number|no\.?|#|id))?|\bDL\b",
          r"\b[A-Z0-9][A-Z0-9-]{5,16}\b(?<![a-z])", lambda v: bool(re.search(r"\d", v)))
_labelled("LICENSE_PLATE", 70, r"\b(?:licen[cs]e plate|number plate|registration plate|plate)\b(?:\s+(?:number|no\.?|#))?",
          r"\b[A-Z0-9]{1,4}[ -]?[A-Z0-9]{1,4}[ -]?[A-Z0-9]{0,4}\b", lambda v: bool(re.search(r"\d", v)) and v.upper() == v,
          flags=0)
_labelled("PIN", 78, r"\b(?:pin|pin code|PIN number)\b", r"\b\d{4,8}\b")
_labelled("CREDIT_DEBIT_CARD_CVV", 78, r"\b(?:cvv2?|cvc2?|cid|csc|security code|card verification(?: value| code)?)\b",
          r"\b\d{3,4}\b")
_labelled("CREDIT_DEBIT_CARD_EXPIRY", 78,
          r"\b(?:exp(?:iry|iration|ires)?(?: date)?|valid (?:thru|through|until)|good thru)\b",
          r"\b(?:0[1-9]|1[0-2])\s?[/-]\s?(?:\d{2}|20\d{2})\b")
_labelled("PASSWORD", 79, r"\b(?:password|passwd|pwd|passphrase|pass code|passcode)\b", r"[^\s,;]{4,64}")
_labelled("USERNAME", 65, r"\b(?:username|user name|user id|userid|login|handle)\b", r"@?[A-Za-z0-9._-]{3,32}\b")
_swift_labelled = _labelled("SWIFT_CODE", 76, r"\b(?:swift|bic)\b(?:\s+(?:code|number|no\.?|#))?",
          r"\b[A-Z]{6}[A-Z0-9]{2}(?:[A-Z0-9]{3})?\b", lambda v: std_bic.is_valid(v), flags=0)


_SWIFT_BARE = re.compile(r"(?<![A-Za-z0-9])[A-Z]{6}[A-Z0-9]{2}(?:[A-Z0-9]{3})?(?![A-Za-z0-9])")


@_detector("SWIFT_CODE", 76)
def _swift(text: str):
    yield from _swift_labelled(text)
    # without a label, only codes that carry a digit in the location or branch part: "DEUTDEFF500"
    for start, end, raw in _spans(_SWIFT_BARE, text):
        if re.search(r"\d", raw[6:]) and std_bic.is_valid(raw):
            yield start, end


_AGE = re.compile(r"\b(?P<v>\d{1,3})[ -](?:years?|yrs?)[ -]old\b|\baged? (?:of )?(?P<w>\d{1,3})\b|\bage\s*[:=]\s*(?P<x>\d{1,3})\b", re.I)


@_detector("AGE", 60)
def _ages(text: str):
    for m in finditer(_AGE, text):
        for group in ("v", "w", "x"):
            if m.group(group) and int(m.group(group)) <= 130:
                yield (m.start(), m.end()) if group == "v" else (m.start(group), m.end(group))


_NAME_WORD = r"[A-Z][a-z]+(?:[-'][A-Z][a-z]+)?"
_PERSON = rf"{_NAME_WORD}(?:[ \t]+[A-Z]\.)?(?:[ \t]+{_NAME_WORD}){{1,2}}"
_NAME_PATTERNS = [
    re.compile(rf"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame)\.?[ \t]+(?P<v>{_NAME_WORD}(?:[ \t]+{_NAME_WORD}){{0,2}})"),
    re.compile(rf"\b(?:[Mm]y name is|[Nn]ame\s*:|I am|I'm|[Ss]igned,?|[Rr]egards,|[Ss]incerely,|[Pp]atient\s*:|[Cc]ustomer\s*:|[Ee]mployee\s*:|[Cc]ontact\s*:)\s+(?P<v>{_PERSON})"),
    re.compile(rf"\b(?:[Cc]ontact|[Aa]sk for|[Ss]poke (?:with|to)|[Ee]mail|[Cc]all|[Dd]ear)\s+(?P<v>{_PERSON})\b"),
]
_NOT_NAMES = {"The", "This", "That", "Street", "Avenue", "Road", "Monday", "Tuesday", "Wednesday", "Thursday",
              "Friday", "Saturday", "Sunday", "January", "February", "March", "April", "June", "July", "August",
              "September", "October", "November", "December", "Bridge", "Inspection", "Team", "Support", "Customer",
              "Service", "Department", "Office", "Bank", "Amazon", "Bedrock", "Please", "Thanks", "Thank"}


@_detector("NAME", 40)
def _names(text: str):
    for pattern in _NAME_PATTERNS:
        for m in finditer(pattern, text):
            spans = [(w.start(), w.end(), w.group()) for w in re.finditer(r"\S+", m.group("v"))]
            while spans and spans[-1][2] in _NOT_NAMES:  # "Dear John Smith Thanks" -> "John Smith"
                spans.pop()
            if not spans or spans[0][2] in _NOT_NAMES or any(w in _STREETISH for _, _, w in spans):
                continue
            base = m.start("v")
            yield base + spans[0][0], base + spans[-1][1]


_STREETISH = {"Street", "Avenue", "Road", "Bridge", "Lane", "Drive"}


_STREET_TYPES = (r"Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Close|"
                 r"Crescent|Highway|Hwy|Parkway|Pkwy|Square|Sq|Circle|Cir|Trail|Row|Mews|Gardens|Strasse|Straße")
_ADDRESS = re.compile(
    rf"\b\d{{1,5}}[A-Za-z]?\s+(?:[A-Z][a-z]+\.?\s+){{1,3}}(?:{_STREET_TYPES})\b\.?(?:\s+(?:[NS][EW]?|[EW])\b)?"
    rf"(?:,?\s+(?:Apt|Suite|Unit|Flat)\.?\s*#?\w+)?"
    rf"(?:,\s*[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*)?(?:,?\s*[A-Z]{{2}}(?![A-Za-z0-9]))?(?:\s+\d{{5}}(?:-\d{{4}})?)?"
    rf"(?:,?\s+[A-Z]{{1,2}}\d[A-Z\d]?\s*\d[A-Z]{{2}})?")
_PO_BOX = re.compile(r"\bP\.?\s?O\.?\s+Box\s+\d+(?:,\s*[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*)?(?:,?\s*[A-Z]{2})?(?:\s+\d{5}(?:-\d{4})?)?")
_UK_POSTCODE_ADDR = re.compile(r"\b[A-Z][a-z]+,\s+[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2}\b")


@_detector("ADDRESS", 45)
def _addresses(text: str):
    for pattern in (_ADDRESS, _PO_BOX, _UK_POSTCODE_ADDR):
        for m in finditer(pattern, text):
            end = m.end()
            while end > m.start() and text[end - 1] in ".,":
                end -= 1
            yield m.start(), end


# --- driver ---------------------------------------------------------------------------------------------

assert set(_DETECTORS) == set(PII_TYPES), set(PII_TYPES) ^ set(_DETECTORS)


def find_pii(text: str, types: Iterable[str] | None = None) -> list[PiiMatch]:
    """All non-overlapping PII matches of the given types (all types by default), in text order.

    Where two matches overlap, the one from the stronger detector wins (a Luhn-valid card number over the
    phone number its digits also spell), then the longer one.
    """
    wanted = PII_TYPES if types is None else tuple(types)
    found: list[PiiMatch] = []
    for entity in wanted:
        priority, detect = _DETECTORS[entity]
        for start, end in detect(text):
            if end > start:
                found.append(PiiMatch(entity, start, end, text[start:end], priority))
    found.sort(key=lambda m: (-m.priority, -(m.end - m.start), m.start))
    kept: list[PiiMatch] = []
    for match in found:
        if all(match.end <= k.start or match.start >= k.end for k in kept):
            kept.append(match)
    return sorted(kept, key=lambda m: m.start)
