"""Amazon Translate, answered offline by Apertium (rule-based MT from Debian's `apertium-*` packages).

What it does, in Translate's shapes and with Translate's errors:

- ``TranslateText``: the language pairs are the Apertium modes installed (found at run time in
  ``/usr/share/apertium/modes``); a pair with no direct mode pivots through Spanish (en->fr is en->es->fr,
  en->pt is en->es->pt), then through any other single language. A code Translate does not know ->
  UnsupportedLanguagePairException, as AWS answers; a pair of Translate's languages that no installed mode
  covers (en->de) is one AWS translates, so it fails with ``OfflineEngineUnavailable`` (HTTP 501, not
  retried), whose message says the pair is not installed offline. ``SourceLanguageCode="auto"`` detects
  the language offline with py3langid (restricted to Translate's languages); a guess under ``min_confidence`` ->
  DetectedLanguageLowConfidenceException. More than 10,000 UTF-8 bytes -> TextSizeLimitExceededException.
  Same source and target language: the text comes back unchanged (Translate does not charge for it either).
- Custom terminology: ImportTerminology (CSV, TSV or TMX; UNI or MULTI), GetTerminology,
  ListTerminologies, DeleteTerminology. ``TerminologyNames`` on TranslateText protects each source term
  (case-sensitive, whole words, as Translate matches) from the engine and puts the target term in the
  output; the terms used come back in ``AppliedTerminologies``. Terminologies are kept in memory, or in
  ``state_dir`` (one JSON file, replaced atomically) so they survive between runs.
- ``Settings``: Profanity=MASK masks a small built-in word list with ``?$#@$``; Formality and Brevity
  cannot change a rule-based translation: they are echoed in ``AppliedSettings`` (Formality only for
  the target languages Translate supports it for).

Engine: one long-lived Apertium pipeline per mode, in null-flush mode (``apertium-wblank-mode -z``): each
request is written as one NUL-terminated block and answered as one, so a request costs milliseconds
instead of the ~0.4 s of starting ``apertium`` per call. Text is escaped for Apertium's stream format here
(the job ``apertium-destxt`` does, which does not flush on NUL), unknown-word marks are off (the
generator runs with ``-n``, as ``apertium -u`` does), and a pipeline that dies or stalls is killed and the
request is retried once with the one-shot ``apertium -u`` command.

Shared hops: a hop's output depends only on the mode and its input, so the recent ones are kept
(:class:`SharedResults`, 256 entries) and a request whose hop is already being translated waits for that
answer instead of queueing behind it on the same pipeline. The language fan-out sends one English summary
to every target: Spanish and each language pivoting through Spanish (it, pt, fr) ask for the same
English->Spanish hop at the same moment, and it is translated once.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
import select
import shutil
import signal
import subprocess
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from docpipe.errors import OFFLINE_ENGINE_UNAVAILABLE  # a pair AWS translates, not installed here

from .base import Emulator, ServiceError

MAX_TEXT_BYTES = 10_000  # TranslateText: UTF-8 bytes per request
MAX_TERMINOLOGIES = 100  # per account and region
MAX_TERMINOLOGY_FILE_BYTES = 10 * 1024 * 1024
MAX_TERM_BYTES = 200  # characters of one term, as Translate caps them (bytes, UTF-8)

DEFAULT_MODES_DIR = Path("/usr/share/apertium/modes")

# The language codes TranslateText accepts (Amazon Translate's supported languages).
TRANSLATE_LANGUAGES = frozenset("""
af sq am ar hy az bn bs bg ca zh zh-TW hr cs da fa-AF nl en et fa tl fi fr fr-CA ka de el gu ht ha he hi hu
is id ga it ja kn kk ko lv lt mk ms ml mt mr mn no ps pl pt pt-PT pa ro ru sr si sk sl so es es-MX sw sv
ta te th tr uk ur uz vi cy
""".split())

# Target languages for which Translate applies the Formality setting.
FORMALITY_TARGETS = frozenset("nl fr fr-CA de hi it ja ko pt-PT es es-MX".split())

# Apertium names languages by ISO 639-3 (older pairs by 639-1); Translate by 639-1 (+ region).
_APERTIUM_TO_ISO1 = {
    "eng": "en", "spa": "es", "cat": "ca", "por": "pt", "fra": "fr", "ita": "it", "ron": "ro",
    "rum": "ro", "glg": "gl", "eus": "eu", "epo": "eo", "deu": "de", "nld": "nl", "afr": "af",
    "swe": "sv", "dan": "da", "nor": "no", "nob": "no", "isl": "is", "mkd": "mk", "bul": "bg",
    "slv": "sl", "rus": "ru", "ukr": "uk", "bel": "be", "pol": "pl", "ind": "id", "zlm": "ms",
    "urd": "ur", "hin": "hi", "hbs": "hr", "srd": "sc", "oci": "oc", "arg": "an", "ast": "ast",
    "nno": "nn", "frp": "frp", "szl": "szl",
}
# Serbo-Croatian data serves all three of Translate's standard languages.
_EXTRA_CODES = {"hbs": ("sr", "bs")}

# Which mode variant (the part after "_" in e.g. "es-pt_BR") serves a Translate target code.
# Translate's "pt" is Brazilian Portuguese and "pt-PT" European; "en" is US English.
_VARIANT_PREFERENCE = {"pt": ("BR", ""), "pt-PT": ("",), "en": ("US", "")}

_MODE_NAME = re.compile(r"^([a-z]{2,3})-([a-z]{2,3})(?:_([A-Za-z0-9_]+))?$")

_PROFANITY = {
    "en": "fuck fucking shit bullshit bitch bastard asshole dick cunt crap damn",
    "es": "mierda joder puta puto cabrón gilipollas coño pendejo carajo",
    "fr": "merde putain connard connasse salope bordel enculé",
    "pt": "merda porra caralho puta foda cacete",
    "it": "merda cazzo stronzo puttana vaffanculo",
    "ca": "merda collons puta fotre",
    "ro": "rahat pula futu",
}
PROFANITY_MASK = "?$#@$"


def _lang_base(code: str) -> str:
    return code.split("-", 1)[0].lower()


def _canonical(code: str) -> str:
    """Translate's spelling of a language code: ``pt-pt`` -> ``pt-PT``, ``ZH-tw`` -> ``zh-TW``."""
    parts = code.split("-", 1)
    if len(parts) == 2:
        return f"{parts[0].lower()}-{parts[1].upper()}"
    return code.lower()


# --------------------------------------------------------------------------------------------------
# Apertium stream format: what apertium-destxt / apertium-retxt do, without their buffering.

_ESCAPE = set("\\[]^$/@<>{}")
_NEWLINE_BLANK = re.compile(r"([ \t\r\f\v]*\n\s*)")
_SENTENCE_END = (".", "?", "!", ":", ";", "…")


def to_stream(text: str) -> str:
    """Escape plain text for Apertium: reserved characters, newlines as superblanks, sentence ends."""
    out: list[str] = []
    for part in _NEWLINE_BLANK.split(text):
        if not part:
            continue
        if "\n" in part:
            if part.count("\n") >= 2 and out and not out[-1].rstrip().endswith(_SENTENCE_END):
                out.append(".[]")  # paragraph break: end the sentence for the tagger; removed again below
            out.append("[" + part + "]")
            continue
        for char in part:
            if char in _ESCAPE:
                out.append("\\" + char)
            elif char == "~":  # post-generation marker in the stream: keep it literal as a superblank
                out.append("[~]")
            elif char == "\0":
                continue
            else:
                out.append(char)
    out.append(".[]")
    return "".join(out)


def from_stream(stream: str) -> str:
    """Back to plain text: drop inserted sentence ends and format blocks, unescape, drop stray marks."""
    stream = stream.replace(".[]", "")
    out: list[str] = []
    i, n = 0, len(stream)
    while i < n:
        char = stream[i]
        if char == "\\" and i + 1 < n:
            out.append(stream[i + 1])
            i += 2
        elif char == "[":
            if stream.startswith("[[", i):  # word-bound blank: inline formatting we never send
                end = stream.find("]]", i + 2)
                i = n if end < 0 else end + 2
                continue
            i += 1
            while i < n and stream[i] != "]":
                if stream[i] == "\\" and i + 1 < n:
                    out.append(stream[i + 1])
                    i += 2
                else:
                    out.append(stream[i])
                    i += 1
            i += 1
        elif char in "^$":  # a lexical-unit boundary leaking from a broken stage: never output
            i += 1
        else:
            out.append(char)
            i += 1
    return "".join(out)


# --------------------------------------------------------------------------------------------------
# Modes and routes


@dataclass(frozen=True)
class Mode:
    name: str  # e.g. "eng-spa", "es-pt_BR"
    path: Path
    source: str  # ISO 639-1 (Translate's base code)
    target: str
    variant: str  # "" for the default variant


def discover_modes(modes_dir: Path) -> list[Mode]:
    """The installed Apertium translation directions, as Translate base language codes."""
    modes = []
    if not modes_dir.is_dir():
        return modes
    for path in sorted(modes_dir.glob("*.mode")):
        match = _MODE_NAME.match(path.stem)
        if not match:
            continue  # e.g. eco-es-fr, or analysers/generators of one language
        src3, tgt3, variant = match.group(1), match.group(2), match.group(3) or ""
        for src in _codes(src3):
            for tgt in _codes(tgt3):
                if src != tgt:
                    modes.append(Mode(path.stem, path, src, tgt, variant))
    return modes


def _codes(apertium_code: str) -> tuple[str, ...]:
    base = _APERTIUM_TO_ISO1.get(apertium_code, apertium_code)
    return (base,) + _EXTRA_CODES.get(apertium_code, ())


class Router:
    """Picks the chain of modes for a language pair: direct, via Spanish, via any other language."""

    def __init__(self, modes: list[Mode]):
        self.edges: dict[tuple[str, str], dict[str, Mode]] = {}
        for mode in modes:
            self.edges.setdefault((mode.source, mode.target), {})[mode.variant] = mode

    def _pick(self, src: str, tgt_code: str) -> Mode | None:
        variants = self.edges.get((src, _lang_base(tgt_code)))
        if not variants:
            return None
        for preferred in _VARIANT_PREFERENCE.get(tgt_code, ("",)):
            if preferred in variants:
                return variants[preferred]
        # only variant-specific modes exist: take the alphabetically first, deterministic
        return variants[sorted(variants)[0]]

    def route(self, source: str, target: str) -> list[Mode] | None:
        src = _lang_base(source)
        direct = self._pick(src, target)
        if direct:
            return [direct]
        pivots = sorted({t for (s, t) in self.edges if s == src}, key=lambda p: (p != "es", p))
        for pivot in pivots:
            first, second = self._pick(src, pivot), self._pick(pivot, target)
            if first and second and pivot != _lang_base(target):
                return [first, second]
        return None

    def pairs(self) -> list[tuple[str, str]]:
        """Every (source, target) base-language pair that has a route, for docs and tests."""
        langs = sorted({s for s, _ in self.edges} | {t for _, t in self.edges})
        return [(s, t) for s in langs for t in langs if s != t and self.route(s, t)]


# --------------------------------------------------------------------------------------------------
# Engine


class ApertiumPipeline:
    """One long-lived null-flush Apertium pipeline for a mode; thread-safe, restarts itself."""

    def __init__(self, mode: Mode, timeout: float):
        self.mode = mode
        self.timeout = timeout
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._script: str | None = None

    def _pipeline_script(self) -> str:
        if self._script is None:
            tool = shutil.which("apertium-wblank-mode")
            if tool is None:
                raise RuntimeError("apertium-wblank-mode not found (Debian package 'apertium')")
            self._script = subprocess.run([tool, "-z", str(self.mode.path)], capture_output=True,
                                          text=True, check=True, timeout=30).stdout.strip()
        return self._script

    def _start(self) -> subprocess.Popen:
        # $1 is the generator's option (-n: no unknown-word marks, as `apertium -u`), $2 the tagger's
        proc = subprocess.Popen(["bash", "-c", self._pipeline_script(), "apertium", "-n", ""],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        os.set_blocking(proc.stdin.fileno(), False)
        return proc

    def translate(self, stream: str) -> str:
        payload = stream.replace("\0", "").encode("utf-8") + b"\0"
        with self._lock:
            try:
                if self._proc is None or self._proc.poll() is not None:
                    self._proc = self._start()
                return self._exchange(self._proc, payload).decode("utf-8", errors="replace")
            except (OSError, EOFError, TimeoutError, subprocess.SubprocessError, RuntimeError):
                self._kill()
                return self._one_shot(stream)

    def _exchange(self, proc: subprocess.Popen, payload: bytes) -> bytes:
        deadline = time.monotonic() + self.timeout
        fd_in, fd_out = proc.stdin.fileno(), proc.stdout.fileno()
        pending = memoryview(payload)
        out = bytearray()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"apertium {self.mode.name} did not answer in {self.timeout}s")
            readable, writable, _ = select.select([fd_out], [fd_in] if pending else [], [], remaining)
            if writable:
                try:
                    pending = pending[os.write(fd_in, pending[:65536]):]
                except BlockingIOError:
                    pass
            if readable:
                chunk = os.read(fd_out, 65536)
                if not chunk:
                    raise EOFError(f"apertium {self.mode.name} exited")
                out += chunk
                if out.endswith(b"\0"):
                    return bytes(out[:-1])

    def _one_shot(self, stream: str) -> str:
        """Fallback: the plain `apertium -u` command on the same (already escaped) stream."""
        datadir = str(self.mode.path.parent.parent)
        result = subprocess.run(["apertium", "-u", "-f", "none", "-d", datadir, self.mode.name],
                                input=stream.replace("\0", ""), capture_output=True, text=True,
                                timeout=self.timeout)
        if result.returncode != 0:
            raise ServiceError("InternalServerException",
                               f"translation engine failed for {self.mode.name}: {result.stderr.strip()[:200]}",
                               500)
        return result.stdout

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def close(self) -> None:
        with self._lock:
            self._kill()


class SharedResults:
    """The recent results of a deterministic computation, by key: a caller asking for a key that another
    thread is computing waits for that result; a failure is not kept (the next caller computes again)."""

    def __init__(self, size: int = 256):
        self.size = size
        self._done: OrderedDict[Any, Any] = OrderedDict()
        self._running: dict[Any, Future] = {}
        self._lock = threading.Lock()
        self.computed = self.shared = 0  # statistics, for tests and benchmarks

    def clear(self) -> None:
        """Forget the results kept (one being computed still reaches its waiters)."""
        with self._lock:
            self._done.clear()

    def get(self, key: Any, compute) -> Any:
        with self._lock:
            if key in self._done:
                self._done.move_to_end(key)
                self.shared += 1
                return self._done[key]
            future = self._running.get(key)
            owner = future is None
            if owner:
                future = self._running[key] = Future()
                self.computed += 1
            else:
                self.shared += 1
        if not owner:
            return future.result()
        try:
            value = compute()
        except BaseException as error:
            with self._lock:
                del self._running[key]
            future.set_exception(error)
            raise
        with self._lock:
            del self._running[key]
            self._done[key] = value
            while len(self._done) > self.size:
                self._done.popitem(last=False)
        future.set_result(value)
        return value


# --------------------------------------------------------------------------------------------------
# Language detection (what Translate asks Amazon Comprehend for)

_detector_lock = threading.Lock()
_detector = None


def _get_detector():
    global _detector
    with _detector_lock:
        if _detector is None:
            try:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier
            except ImportError as exc:
                raise ServiceError("InternalServerException",
                                   "SourceLanguageCode=auto needs the language detector offline: "
                                   "pip install py3langid==0.4.0", 500) from exc

            identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
            known = set(identifier.nb_classes)
            identifier.set_languages(sorted(_lang_base(c) for c in TRANSLATE_LANGUAGES
                                            if _lang_base(c) in known))
            _detector = identifier
        return _detector


def detect_language(text: str) -> tuple[str, float]:
    """The most likely Translate language code of `text` and its probability (0 for no letters)."""
    if not any(ch.isalpha() for ch in text):
        return "", 0.0
    lang, prob = _get_detector().classify(text[:MAX_TEXT_BYTES])
    return ("no" if lang == "nb" else lang), float(prob)


# --------------------------------------------------------------------------------------------------
# Terminology


@dataclass
class Terminology:
    name: str
    description: str | None
    fmt: str
    directionality: str | None
    languages: list[str]  # column order; [0] is the source for UNI
    entries: list[dict[str, str]]  # one dict language -> term per row
    size_bytes: int
    skipped: int
    created_at: datetime
    updated_at: datetime
    encryption_key: dict | None = None
    tags: list[dict] = field(default_factory=list)

    def source_languages(self) -> list[str]:
        return list(self.languages) if self.directionality == "MULTI" else self.languages[:1]

    def pairs_for(self, source: str, target: str) -> list[tuple[str, str]]:
        """(source term, target term) for a translation direction, longest source first."""
        if source not in self.source_languages() or target not in self.languages:
            return []
        pairs = {(e[source], e[target]) for e in self.entries if e.get(source) and e.get(target)}
        return sorted(pairs, key=lambda p: (-len(p[0]), p[0]))

    def to_json(self) -> dict:
        return {"name": self.name, "description": self.description, "format": self.fmt,
                "directionality": self.directionality, "languages": self.languages,
                "entries": self.entries, "size_bytes": self.size_bytes, "skipped": self.skipped,
                "created_at": self.created_at.isoformat(), "updated_at": self.updated_at.isoformat(),
                "encryption_key": self.encryption_key, "tags": self.tags}

    @classmethod
    def from_json(cls, data: dict) -> "Terminology":
        return cls(data["name"], data.get("description"), data["format"], data.get("directionality"),
                   data["languages"], data["entries"], data["size_bytes"], data.get("skipped", 0),
                   datetime.fromisoformat(data["created_at"]), datetime.fromisoformat(data["updated_at"]),
                   data.get("encryption_key"), data.get("tags") or [])


def _invalid(message: str) -> ServiceError:
    return ServiceError("InvalidParameterValueException", message, 400)


def parse_terminology(data: bytes, fmt: str) -> tuple[list[str], list[dict[str, str]], int]:
    """(languages, entries, skipped rows) from a CSV, TSV or TMX terminology file."""
    if len(data) > MAX_TERMINOLOGY_FILE_BYTES:
        raise _invalid(f"The terminology file exceeds the maximum size of {MAX_TERMINOLOGY_FILE_BYTES} bytes.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _invalid("The terminology file must be UTF-8 encoded.") from exc
    if fmt == "TMX":
        return _parse_tmx(text)
    rows = [row for row in csv.reader(io.StringIO(text), delimiter="\t" if fmt == "TSV" else ",")
            if any(cell.strip() for cell in row)]
    if len(rows) < 2:
        raise _invalid("The terminology file must have a header row of language codes and at least one term.")
    languages = [_canonical(cell.strip()) for cell in rows[0]]
    bad = [code for code in languages if code not in TRANSLATE_LANGUAGES]
    if bad or len(set(languages)) != len(languages) or len(languages) < 2:
        raise _invalid(f"The terminology header has invalid or repeated language codes: {rows[0]}")
    entries, skipped = [], 0
    for row in rows[1:]:
        cells = [cell.strip() for cell in row]
        if len(cells) != len(languages) or not cells[0] or \
                any(len(cell.encode()) > MAX_TERM_BYTES for cell in cells):
            skipped += 1
            continue
        entries.append({lang: cell for lang, cell in zip(languages, cells) if cell})
    return languages, entries, skipped


def _parse_tmx(text: str) -> tuple[list[str], list[dict[str, str]], int]:
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    try:
        root = fromstring(text.encode("utf-8"), forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise _invalid(f"The TMX terminology file is not valid: {exc}") from exc
    xml_lang = "{http://www.w3.org/XML/1998/namespace}lang"
    header = root.find("header")
    languages: list[str] = []
    if header is not None and header.get("srclang") and header.get("srclang") != "*all*":
        languages.append(_canonical(header.get("srclang")))
    entries, skipped = [], 0
    for tu in root.iter("tu"):
        entry = {}
        for tuv in tu.findall("tuv"):
            lang = _canonical(tuv.get(xml_lang) or tuv.get("lang") or "")
            seg = tuv.find("seg")
            term = "".join(seg.itertext()).strip() if seg is not None else ""
            if lang in TRANSLATE_LANGUAGES and term and len(term.encode()) <= MAX_TERM_BYTES:
                entry[lang] = term
                if lang not in languages:
                    languages.append(lang)
        if len(entry) >= 2:
            entries.append(entry)
        else:
            skipped += 1
    if len(languages) < 2 or not entries:
        raise _invalid("The TMX terminology file has no translation units with two or more languages.")
    return languages, entries, skipped


def render_terminology(term: Terminology, fmt: str) -> bytes:
    if fmt == "TMX":
        from xml.sax.saxutils import escape, quoteattr

        lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<tmx version="1.4">',
                 f'<header creationtool="docpipe" creationtoolversion="1" datatype="PlainText" '
                 f'segtype="sentence" adminlang="en" srclang={quoteattr(term.languages[0])} o-tmf="docpipe"/>',
                 "<body>"]
        for entry in term.entries:
            lines.append("<tu>" + "".join(
                f'<tuv xml:lang={quoteattr(lang)}><seg>{escape(text)}</seg></tuv>'
                for lang, text in entry.items()) + "</tu>")
        lines += ["</body>", "</tmx>"]
        return ("\n".join(lines) + "\n").encode("utf-8")
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t" if fmt == "TSV" else ",", lineterminator="\n")
    writer.writerow(term.languages)
    for entry in term.entries:
        writer.writerow([entry.get(lang, "") for lang in term.languages])
    return buffer.getvalue().encode("utf-8")


# --------------------------------------------------------------------------------------------------


class TranslateEmulator(Emulator):
    """Amazon Translate's real-time API and custom terminology, on Apertium."""

    service = "translate"

    def __init__(self, modes_dir: Path | str | None = None, state_dir: Path | str | None = None,
                 region: str = "us-east-1", account_id: str = "123456789012", timeout: float = 60.0,
                 min_confidence: float = 0.5):
        self.modes_dir = Path(modes_dir or os.environ.get("DOCPIPE_APERTIUM_MODES") or DEFAULT_MODES_DIR)
        self.router = Router(discover_modes(self.modes_dir))
        self.region = region
        self.account_id = account_id
        self.timeout = timeout
        self.min_confidence = min_confidence
        self._pipelines: dict[str, ApertiumPipeline] = {}
        self._pipelines_lock = threading.Lock()
        self.hops = SharedResults()  # (mode, escaped input) -> Apertium's output
        self._terms_lock = threading.Lock()
        self._state_file = Path(state_dir) / "terminologies.json" if state_dir else None
        self.terminologies: dict[str, Terminology] = self._load()
        # what a benchmark or the manifest wants to know
        self.stats = {"requests": 0, "characters": 0, "words": 0, "seconds": 0.0}

    # ---- TranslateText -------------------------------------------------------------------------

    def TranslateText(self, params: dict[str, Any]) -> dict[str, Any]:
        text: str = params["Text"]
        size = len(text.encode("utf-8"))
        if size > MAX_TEXT_BYTES:
            raise ServiceError("TextSizeLimitExceededException",
                               f"Input text size exceeds limit. Max length of request text allowed is "
                               f"{MAX_TEXT_BYTES} bytes while in this request the text size is {size} bytes")
        source = _canonical(params["SourceLanguageCode"])
        target = _canonical(params["TargetLanguageCode"])
        if target == "auto" or (source != "auto" and source not in TRANSLATE_LANGUAGES) or \
                target not in TRANSLATE_LANGUAGES:
            raise self._unsupported(source, target)
        if source == "auto":
            source = self._detect(text)
            if source not in TRANSLATE_LANGUAGES:
                raise self._unsupported(source, target)
        settings = params.get("Settings") or {}
        terminologies = [self._get_terminology(name) for name in params.get("TerminologyNames") or []]

        started = time.perf_counter()
        if _lang_base(source) == _lang_base(target):
            # same language (pt and pt-PT included): returned as is, as AWS does (and does not charge)
            translated = text
            applied = [{"Name": t.name, "Terms": []} for t in terminologies]
        else:
            chain = self.router.route(source, target)
            if chain is None:
                raise self._not_installed(source, target)
            translated, applied = self._translate(text, chain, source, target, terminologies)
        if settings.get("Profanity") == "MASK":
            translated = self._mask(translated, target)
        self._count(text, time.perf_counter() - started)

        response: dict[str, Any] = {"TranslatedText": translated, "SourceLanguageCode": source,
                                    "TargetLanguageCode": target}
        if terminologies:
            response["AppliedTerminologies"] = applied
        applied_settings = {k: v for k, v in settings.items()
                            if k != "Formality" or target in FORMALITY_TARGETS}
        if applied_settings:
            response["AppliedSettings"] = applied_settings
        return response

    def _unsupported(self, source: str, target: str) -> ServiceError:
        return ServiceError("UnsupportedLanguagePairException",
                            f"Unsupported language pair: {source} to {target}.", 400,
                            SourceLanguageCode=source, TargetLanguageCode=target)

    def _not_installed(self, source: str, target: str) -> ServiceError:
        # AWS translates between any two of its languages: the gap is this machine's, and the error says so
        return ServiceError(OFFLINE_ENGINE_UNAVAILABLE,
                            f"Translating {source} to {target} is not installed offline: no Apertium language pair "
                            f"on this machine covers it, directly or through another language (installed modes: "
                            f"{self.modes_dir}). Amazon Translate supports {source} to {target}; deployed, it works.",
                            501, SourceLanguageCode=source, TargetLanguageCode=target)

    def _detect(self, text: str) -> str:
        lang, probability = detect_language(text)
        if not lang or probability < self.min_confidence:
            raise ServiceError(
                "DetectedLanguageLowConfidenceException",
                "The confidence that Amazon Comprehend accurately detected the source language is low "
                f"(detected: {lang or 'none'}, confidence {probability:.2f}). If a low confidence level is "
                "acceptable for your application, you can use the language in the exception to call "
                "Amazon Translate again.", 400, DetectedLanguageCode=lang or "")
        return lang

    def _translate(self, text: str, chain: list[Mode], source: str, target: str,
                   terminologies: list[Terminology]) -> tuple[str, list[dict]]:
        # Protect terminology source terms behind placeholder words that no dictionary knows: Apertium
        # passes unknown words through unchanged, across both hops of a pivot.
        placeholders: dict[str, tuple[str, str, str]] = {}
        protected = text
        for term in terminologies:
            pairs = term.pairs_for(source, target)
            if not pairs:
                continue
            lookup = dict(pairs)
            pattern = re.compile(r"(?<!\w)(" + "|".join(re.escape(s) for s, _ in pairs) + r")(?!\w)")

            def substitute(match: re.Match, term_name: str = term.name, lookup: dict = lookup) -> str:
                token = f"Xq{len(placeholders)}qX"
                placeholders[token] = (term_name, match.group(1), lookup[match.group(1)])
                return token

            protected = pattern.sub(substitute, protected)

        lead = protected[: len(protected) - len(protected.lstrip())]
        trail = protected[len(protected.rstrip()):]
        body = protected.strip()
        for mode in chain:
            if not body:
                break
            stream = to_stream(body)
            body = from_stream(self.hops.get((mode.name, stream),
                                             lambda m=mode, text=stream: self._pipeline(m).translate(text))).strip()
        if "  " not in text:  # a dropped word (a pronoun, say) leaves its blank behind
            body = re.sub(r"(?<=\S) {2,}(?=\S)", " ", body)
        body = re.sub(r"\n[ \t]+(?=\S)", "\n", body) if not re.search(r"\n[ \t]", text) else body
        result = lead + body + trail

        used: dict[str, dict[tuple[str, str], None]] = {}
        for token, (term_name, source_term, target_term) in placeholders.items():
            if token in result:
                result = result.replace(token, target_term)
                used.setdefault(term_name, {})[(source_term, target_term)] = None
            else:  # the engine lost the placeholder (should not happen): put the source term back
                result = result.replace(token, source_term)
        applied = [{"Name": term.name,
                    "Terms": [{"SourceText": s, "TargetText": t} for s, t in used.get(term.name, {})]}
                   for term in terminologies]
        return result, applied

    def _pipeline(self, mode: Mode) -> ApertiumPipeline:
        with self._pipelines_lock:
            pipeline = self._pipelines.get(mode.name)
            if pipeline is None:
                pipeline = self._pipelines[mode.name] = ApertiumPipeline(mode, self.timeout)
            return pipeline

    def _mask(self, text: str, target: str) -> str:
        words = _PROFANITY.get(_lang_base(target), "").split()
        if not words:
            return text
        pattern = re.compile(r"(?<!\w)(" + "|".join(map(re.escape, words)) + r")(?!\w)", re.IGNORECASE)
        return pattern.sub(PROFANITY_MASK, text)

    def _count(self, text: str, seconds: float) -> None:
        self.stats["requests"] += 1
        self.stats["characters"] += len(text)
        self.stats["words"] += len(text.split())
        self.stats["seconds"] += seconds

    # ---- terminology ---------------------------------------------------------------------------

    def ImportTerminology(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["Name"]
        if not re.fullmatch(r"([A-Za-z0-9-]_?)+", name) or len(name) > 256:
            raise _invalid(f"The terminology name {name!r} is not valid.")
        if params["MergeStrategy"] != "OVERWRITE":
            raise _invalid("The only supported merge strategy is OVERWRITE.")
        data = params["TerminologyData"]
        fmt = data["Format"]
        raw = data["File"]
        raw = raw.read() if hasattr(raw, "read") else (raw.encode() if isinstance(raw, str) else bytes(raw))
        languages, entries, skipped = parse_terminology(raw, fmt)
        now = datetime.now(timezone.utc)
        with self._terms_lock:
            previous = self.terminologies.get(name)
            if previous is None and len(self.terminologies) >= MAX_TERMINOLOGIES:
                raise ServiceError("LimitExceededException",
                                   f"You have reached the maximum of {MAX_TERMINOLOGIES} custom terminologies.")
            term = Terminology(name, params.get("Description"), fmt, data.get("Directionality"), languages,
                               entries, len(raw), skipped, previous.created_at if previous else now, now,
                               params.get("EncryptionKey"), params.get("Tags") or [])
            self.terminologies[name] = term
            self._save()
        response: dict[str, Any] = {"TerminologyProperties": self._properties(term)}
        return response

    def GetTerminology(self, params: dict[str, Any]) -> dict[str, Any]:
        term = self._get_terminology(params["Name"])
        fmt = params.get("TerminologyDataFormat") or term.fmt
        data = render_terminology(term, fmt)
        mime = {"CSV": "text/csv", "TSV": "text/tab-separated-values", "TMX": "application/xml"}[fmt]
        # Where AWS hands out a presigned S3 URL, the offline answer carries the data itself.
        location = f"data:{mime};charset=utf-8;base64,{base64.b64encode(data).decode()}"
        return {"TerminologyProperties": self._properties(term),
                "TerminologyDataLocation": {"RepositoryType": "S3", "Location": location}}

    def ListTerminologies(self, params: dict[str, Any]) -> dict[str, Any]:
        max_results = params.get("MaxResults", 100)
        if not 1 <= max_results <= 500:
            raise _invalid("MaxResults must be between 1 and 500.")
        with self._terms_lock:
            names = sorted(self.terminologies)
            start = 0
            if params.get("NextToken"):
                try:
                    start = int(base64.urlsafe_b64decode(params["NextToken"].encode()).decode())
                except ValueError as exc:
                    raise _invalid("The NextToken is not valid.") from exc
                if not 0 <= start <= len(names):
                    raise _invalid("The NextToken is not valid.")
            page = [self._properties(self.terminologies[n]) for n in names[start:start + max_results]]
        response: dict[str, Any] = {"TerminologyPropertiesList": page}
        if start + max_results < len(names):
            response["NextToken"] = base64.urlsafe_b64encode(str(start + max_results).encode()).decode()
        return response

    def DeleteTerminology(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._terms_lock:
            if params["Name"] not in self.terminologies:
                raise self._not_found(params["Name"])
            del self.terminologies[params["Name"]]
            self._save()
        return {}

    def _get_terminology(self, name: str) -> Terminology:
        with self._terms_lock:
            term = self.terminologies.get(name)
        if term is None:
            raise self._not_found(name)
        return term

    def _not_found(self, name: str) -> ServiceError:
        return ServiceError("ResourceNotFoundException",
                            f"The resource you are looking for has not been found: terminology {name}. "
                            "Review the resource you're looking for and see if a different resource will "
                            "accomplish your needs.", 400)

    def _properties(self, term: Terminology) -> dict[str, Any]:
        props: dict[str, Any] = {
            "Name": term.name,
            "Arn": f"arn:aws:translate:{self.region}:{self.account_id}:terminology/{term.name}/LATEST",
            "SourceLanguageCode": term.languages[0],
            "TargetLanguageCodes": term.languages[1:],
            "SizeBytes": term.size_bytes,
            "TermCount": len(term.entries),
            "CreatedAt": term.created_at,
            "LastUpdatedAt": term.updated_at,
            "Format": term.fmt,
            "SkippedTermCount": term.skipped,
        }
        if term.description is not None:
            props["Description"] = term.description
        if term.directionality:
            props["Directionality"] = term.directionality
        if term.encryption_key:
            props["EncryptionKey"] = term.encryption_key
        if term.skipped:
            props["Message"] = f"{term.skipped} terms were skipped: a row with a wrong number of columns, " \
                               f"an empty source term or a term over {MAX_TERM_BYTES} bytes."
        return props

    # ---- state -----------------------------------------------------------------------------------

    def _load(self) -> dict[str, Terminology]:
        if self._state_file is None or not self._state_file.exists():
            return {}
        data = json.loads(self._state_file.read_text(encoding="utf-8"))
        return {item["name"]: Terminology.from_json(item) for item in data.get("terminologies", [])}

    def _save(self) -> None:
        if self._state_file is None:
            return
        self._state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._state_file.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps({"terminologies": [t.to_json() for t in self.terminologies.values()]},
                                  ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self._state_file)

    def close(self) -> None:
        with self._pipelines_lock:
            pipelines, self._pipelines = list(self._pipelines.values()), {}
        for pipeline in pipelines:
            pipeline.close()
