"""Amazon Polly, answered offline by espeak-ng (speech), LAME through lameenc (MP3) and soxr (resampling)
in this process, and sox (Ogg Vorbis, mu-law, A-law).

What it does, in Polly's shapes and with Polly's errors:

- ``SynthesizeSpeech``: plain text or SSML (``TextType="ssml"``) in any voice whose language espeak-ng has
  installed; each Polly voice maps to an espeak-ng language and a male or female espeak variant, so voices
  differ. MP3, Ogg Vorbis, PCM (16-bit little-endian mono, no header), mu-law and A-law, at Polly's sample
  rates and defaults (22050 Hz standard, 24000 Hz neural, 16000 Hz PCM); ``json`` speech marks (sentence,
  word, ssml) with times measured per sentence and spread over words by length. ``RequestCharacters`` is
  the billed count: characters of text, SSML tags excluded.
- Limits as Polly: 3,000 billed / 6,000 total characters for SynthesizeSpeech, 100,000 / 200,000 for a
  task -> TextLengthExceededException. SSML is parsed with defusedxml (no DTDs, no entity expansion,
  nothing external) and rebuilt: only Polly's tags are accepted (speak, break, prosody, emphasis, p, s,
  say-as, sub, phoneme, lang, w, mark, amazon:*), anything else or a bad attribute ->
  InvalidSsmlException, and espeak-ng only ever reads SSML written here. ``<break>``, ``<prosody rate pitch
  volume>`` (dB converted to espeak's percentages), ``<emphasis>`` and ``<say-as interpret-as="characters">``
  are spoken as such.
- Errors: an unknown VoiceId is the ValidationException the service answers (the voice list is an enum in
  the API model), an engine the voice lacks EngineNotSupportedException, a voice whose language is not
  installed LanguageNotSupportedException, bad sample rates InvalidSampleRateException, marks with an audio
  format MarksNotSupportedForFormatException, ssml marks on plain text
  SsmlMarksNotSupportedForTextTypeException, an unknown lexicon LexiconNotFoundException (lexicons are
  not emulated).
- ``StartSpeechSynthesisTask`` runs in a background thread and writes ``<prefix>.<TaskId>.<ext>``
  (``<TaskId>.<ext>`` without a prefix) to ``OutputS3BucketName`` through a lazily created boto3 S3 client
  (moto's, when ``mock_aws`` is active), then publishes the task to ``SnsTopicArn`` if one was given;
  ``GetSpeechSynthesisTask`` / ``ListSpeechSynthesisTasks`` report scheduled -> inProgress -> completed or
  failed, with ``TaskStatusReason``.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import tempfile
import threading
import time
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable
from xml.sax.saxutils import escape, quoteattr

from .base import Emulator, ServiceError, streaming_body

SYNC_MAX_BILLED, SYNC_MAX_TOTAL = 3_000, 6_000
TASK_MAX_BILLED, TASK_MAX_TOTAL = 100_000, 200_000
MAX_BREAK_MS = 10_000

# (Id, Name, Gender, LanguageCode, SupportedEngines, AdditionalLanguageCodes)
_VOICES = [
    ("Hala", "Hala", "F", "ar-AE", "neural", "arb"),
    ("Zayd", "Zayd", "M", "ar-AE", "neural", "arb"),
    ("Zeina", "Zeina", "F", "arb", "standard"),
    ("Arlet", "Arlet", "F", "ca-ES", "neural"),
    ("Zhiyu", "Zhiyu", "F", "cmn-CN", "neural standard"),
    ("Jitka", "Jitka", "F", "cs-CZ", "neural"),
    ("Gwyneth", "Gwyneth", "F", "cy-GB", "standard"),
    ("Mads", "Mads", "M", "da-DK", "standard"),
    ("Naja", "Naja", "F", "da-DK", "standard"),
    ("Sofie", "Sofie", "F", "da-DK", "neural"),
    ("Hannah", "Hannah", "F", "de-AT", "neural"),
    ("Sabrina", "Sabrina", "F", "de-CH", "neural"),
    ("Daniel", "Daniel", "M", "de-DE", "neural"),
    ("Hans", "Hans", "M", "de-DE", "standard"),
    ("Lennart", "Lennart", "M", "de-DE", "generative"),
    ("Marlene", "Marlene", "F", "de-DE", "standard"),
    ("Vicki", "Vicki", "F", "de-DE", "neural standard"),
    ("Nicole", "Nicole", "F", "en-AU", "standard"),
    ("Olivia", "Olivia", "F", "en-AU", "neural"),
    ("Russell", "Russell", "M", "en-AU", "standard"),
    ("Amy", "Amy", "F", "en-GB", "generative neural standard"),
    ("Arthur", "Arthur", "M", "en-GB", "neural"),
    ("Brian", "Brian", "M", "en-GB", "neural standard"),
    ("Emma", "Emma", "F", "en-GB", "neural standard"),
    ("Geraint", "Geraint", "M", "en-GB-WLS", "standard"),
    ("Niamh", "Niamh", "F", "en-IE", "neural"),
    ("Aditi", "Aditi", "F", "en-IN", "standard", "hi-IN"),
    ("Kajal", "Kajal", "F", "en-IN", "neural", "hi-IN"),
    ("Raveena", "Raveena", "F", "en-IN", "standard"),
    ("Aria", "Aria", "F", "en-NZ", "neural"),
    ("Jasmine", "Jasmine", "F", "en-SG", "neural"),
    ("Danielle", "Danielle", "F", "en-US", "long-form neural"),
    ("Gregory", "Gregory", "M", "en-US", "long-form neural"),
    ("Ivy", "Ivy", "F", "en-US", "neural standard"),
    ("Joanna", "Joanna", "F", "en-US", "neural standard"),
    ("Joey", "Joey", "M", "en-US", "neural standard"),
    ("Justin", "Justin", "M", "en-US", "neural standard"),
    ("Kendra", "Kendra", "F", "en-US", "neural standard"),
    ("Kevin", "Kevin", "M", "en-US", "neural"),
    ("Kimberly", "Kimberly", "F", "en-US", "neural standard"),
    ("Matthew", "Matthew", "M", "en-US", "generative neural standard"),
    ("Ruth", "Ruth", "F", "en-US", "generative long-form neural"),
    ("Salli", "Salli", "F", "en-US", "neural standard"),
    ("Stephen", "Stephen", "M", "en-US", "neural"),
    ("Tiffany", "Tiffany", "F", "en-US", "generative"),
    ("Ayanda", "Ayanda", "F", "en-ZA", "neural"),
    ("Conchita", "Conchita", "F", "es-ES", "standard"),
    ("Enrique", "Enrique", "M", "es-ES", "standard"),
    ("Lucia", "Lucia", "F", "es-ES", "neural standard"),
    ("Sergio", "Sergio", "M", "es-ES", "neural"),
    ("Andres", "Andrés", "M", "es-MX", "neural"),
    ("Mia", "Mia", "F", "es-MX", "neural standard"),
    ("Lupe", "Lupe", "F", "es-US", "neural standard"),
    ("Miguel", "Miguel", "M", "es-US", "standard"),
    ("Pedro", "Pedro", "M", "es-US", "neural"),
    ("Penelope", "Penélope", "F", "es-US", "standard"),
    ("Suvi", "Suvi", "F", "fi-FI", "neural"),
    ("Isabelle", "Isabelle", "F", "fr-BE", "neural"),
    ("Chantal", "Chantal", "F", "fr-CA", "standard"),
    ("Gabrielle", "Gabrielle", "F", "fr-CA", "neural"),
    ("Liam", "Liam", "M", "fr-CA", "neural"),
    ("Ambre", "Ambre", "F", "fr-FR", "generative"),
    ("Celine", "Céline", "F", "fr-FR", "standard"),
    ("Florian", "Florian", "M", "fr-FR", "generative"),
    ("Lea", "Léa", "F", "fr-FR", "neural standard"),
    ("Mathieu", "Mathieu", "M", "fr-FR", "standard"),
    ("Remi", "Rémi", "M", "fr-FR", "neural"),
    ("Dora", "Dóra", "F", "is-IS", "standard"),
    ("Karl", "Karl", "M", "is-IS", "standard"),
    ("Adriano", "Adriano", "M", "it-IT", "neural"),
    ("Beatrice", "Beatrice", "F", "it-IT", "generative"),
    ("Bianca", "Bianca", "F", "it-IT", "neural standard"),
    ("Carla", "Carla", "F", "it-IT", "standard"),
    ("Giorgio", "Giorgio", "M", "it-IT", "standard"),
    ("Lorenzo", "Lorenzo", "M", "it-IT", "generative"),
    ("Kazuha", "Kazuha", "F", "ja-JP", "neural"),
    ("Mizuki", "Mizuki", "F", "ja-JP", "standard"),
    ("Takumi", "Takumi", "M", "ja-JP", "neural standard"),
    ("Tomoko", "Tomoko", "F", "ja-JP", "neural"),
    ("Jihye", "Jihye", "F", "ko-KR", "neural"),
    ("Seoyeon", "Seoyeon", "F", "ko-KR", "neural standard"),
    ("Ida", "Ida", "F", "nb-NO", "neural"),
    ("Liv", "Liv", "F", "nb-NO", "standard"),
    ("Lisa", "Lisa", "F", "nl-BE", "neural"),
    ("Laura", "Laura", "F", "nl-NL", "neural"),
    ("Lotte", "Lotte", "F", "nl-NL", "standard"),
    ("Ruben", "Ruben", "M", "nl-NL", "standard"),
    ("Ewa", "Ewa", "F", "pl-PL", "standard"),
    ("Jacek", "Jacek", "M", "pl-PL", "standard"),
    ("Jan", "Jan", "M", "pl-PL", "standard"),
    ("Maja", "Maja", "F", "pl-PL", "standard"),
    ("Ola", "Ola", "F", "pl-PL", "neural"),
    ("Camila", "Camila", "F", "pt-BR", "neural standard"),
    ("Ricardo", "Ricardo", "M", "pt-BR", "standard"),
    ("Thiago", "Thiago", "M", "pt-BR", "neural"),
    ("Vitoria", "Vitória", "F", "pt-BR", "neural standard"),
    ("Cristiano", "Cristiano", "M", "pt-PT", "standard"),
    ("Ines", "Inês", "F", "pt-PT", "neural standard"),
    ("Carmen", "Carmen", "F", "ro-RO", "standard"),
    ("Maxim", "Maxim", "M", "ru-RU", "standard"),
    ("Tatyana", "Tatyana", "F", "ru-RU", "standard"),
    ("Astrid", "Astrid", "F", "sv-SE", "standard"),
    ("Elin", "Elin", "F", "sv-SE", "neural"),
    ("Burcu", "Burcu", "F", "tr-TR", "neural"),
    ("Filiz", "Filiz", "F", "tr-TR", "standard"),
    ("Hiujin", "Hiujin", "F", "yue-CN", "neural"),
]

_LANGUAGE_NAMES = {
    "ar-AE": "Gulf Arabic", "arb": "Arabic", "ca-ES": "Catalan", "cmn-CN": "Chinese Mandarin",
    "cs-CZ": "Czech", "cy-GB": "Welsh", "da-DK": "Danish", "de-AT": "Austrian German",
    "de-CH": "Swiss Standard German", "de-DE": "German", "en-AU": "Australian English",
    "en-GB": "British English", "en-GB-WLS": "Welsh English", "en-IE": "Irish English",
    "en-IN": "Indian English", "en-NZ": "New Zealand English", "en-SG": "Singaporean English",
    "en-US": "US English", "en-ZA": "South African English", "es-ES": "Castilian Spanish",
    "es-MX": "Mexican Spanish", "es-US": "US Spanish", "fi-FI": "Finnish", "fr-BE": "Belgian French",
    "fr-CA": "Canadian French", "fr-FR": "French", "hi-IN": "Hindi", "is-IS": "Icelandic",
    "it-IT": "Italian", "ja-JP": "Japanese", "ko-KR": "Korean", "nb-NO": "Norwegian",
    "nl-BE": "Belgian Dutch", "nl-NL": "Dutch", "pl-PL": "Polish", "pt-BR": "Brazilian Portuguese",
    "pt-PT": "Portuguese", "ro-RO": "Romanian", "ru-RU": "Russian", "sv-SE": "Swedish",
    "tr-TR": "Turkish", "yue-CN": "Cantonese",
}

# Polly language -> espeak-ng languages, best first (espeak-ng 1.51 names, lower case).
_ESPEAK_LANGUAGES = {
    "ar-AE": ["ar"], "arb": ["ar"], "ca-ES": ["ca"], "cmn-CN": ["cmn"], "cs-CZ": ["cs"],
    "cy-GB": ["cy"], "da-DK": ["da"], "de-AT": ["de"], "de-CH": ["de"], "de-DE": ["de"],
    "en-AU": ["en-gb"], "en-GB": ["en-gb", "en-gb-x-rp"], "en-GB-WLS": ["en-gb"], "en-IE": ["en-gb"],
    "en-IN": ["en-gb"], "en-NZ": ["en-gb"], "en-SG": ["en-gb"], "en-US": ["en-us"], "en-ZA": ["en-gb"],
    "es-ES": ["es"], "es-MX": ["es-419", "es"], "es-US": ["es-419", "es"], "fi-FI": ["fi"],
    "fr-BE": ["fr-be", "fr-fr"], "fr-CA": ["fr-fr"], "fr-FR": ["fr-fr"], "hi-IN": ["hi"],
    "is-IS": ["is"], "it-IT": ["it"], "ja-JP": ["ja"], "ko-KR": ["ko"], "nb-NO": ["nb"],
    "nl-BE": ["nl"], "nl-NL": ["nl"], "pl-PL": ["pl"], "pt-BR": ["pt-br", "pt"], "pt-PT": ["pt"],
    "ro-RO": ["ro"], "ru-RU": ["ru"], "sv-SE": ["sv"], "tr-TR": ["tr"], "yue-CN": ["yue"],
}
_FEMALE_VARIANTS = ("f1", "f2", "f3", "f4", "f5")
_MALE_VARIANTS = ("m1", "m2", "m3", "m4", "m6", "m7")

_FORMATS = {
    # format: (content type, extension, valid sample rates, default standard, default other engines)
    "mp3": ("audio/mpeg", "mp3", {"8000", "16000", "22050", "24000"}, "22050", "24000"),
    "ogg_vorbis": ("audio/ogg", "ogg", {"8000", "16000", "22050", "24000"}, "22050", "24000"),
    "pcm": ("audio/pcm", "pcm", {"8000", "16000"}, "16000", "16000"),
    "mulaw": ("audio/basic", "wav", {"8000"}, "8000", "8000"),
    "alaw": ("audio/x-alaw-basic", "wav", {"8000"}, "8000", "8000"),
    "json": ("application/x-json-stream", "marks", set(), "", ""),
}

_S3_BUCKET = re.compile(r"^[a-z0-9][\.\-a-z0-9]{1,61}[a-z0-9]$")
_S3_KEY_PREFIX = re.compile(r"^[0-9a-zA-Z/!\-_.*'():;$@=+,?&]{0,800}$")
_TASK_ID = re.compile(r"^[a-zA-Z0-9_-]{1,100}$")
_SNS_ARN = re.compile(r"^arn:aws(-(cn|iso(-b)?|us-gov))?:sns:[a-z0-9_-]{1,50}:\d{12}:[a-zA-Z0-9_-]{1,256}$")


@dataclass(frozen=True)
class Voice:
    id: str
    name: str
    gender: str
    language: str
    engines: tuple[str, ...]
    additional: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        voice = {"Gender": "Female" if self.gender == "F" else "Male", "Id": self.id,
                 "LanguageCode": self.language, "LanguageName": _LANGUAGE_NAMES[self.language],
                 "Name": self.name, "SupportedEngines": list(self.engines)}
        if self.additional:
            voice["AdditionalLanguageCodes"] = list(self.additional)
        return voice

    def espeak_variant(self) -> str:
        variants = _FEMALE_VARIANTS if self.gender == "F" else _MALE_VARIANTS
        return variants[zlib.crc32(self.id.encode()) % len(variants)]


VOICES = {row[0]: Voice(row[0], row[1], row[2], row[3], tuple(row[4].split()),
                        tuple(row[5].split()) if len(row) > 5 else ()) for row in _VOICES}


def installed_espeak_languages() -> set[str]:
    try:
        out = subprocess.run(["espeak-ng", "--voices"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    return {line.split()[1].lower() for line in out.splitlines()[1:] if len(line.split()) > 1}


# --------------------------------------------------------------------------------------------------
# SSML


def _invalid_ssml(detail: str) -> ServiceError:
    return ServiceError("InvalidSsmlException", f"Invalid SSML request: {detail}", 400)


_AMAZON_NS = "https://aws.amazon.com/polly/ssml"
_RATE_WORDS = {"x-slow", "slow", "medium", "fast", "x-fast", "default"}
_PITCH_WORDS = {"x-low", "low", "medium", "high", "x-high", "default"}
_VOLUME_WORDS = {"silent", "x-soft", "soft", "medium", "loud", "x-loud", "default"}
_STRENGTHS = {"none", "x-weak", "weak", "medium", "strong", "x-strong"}
_PLAIN_TAGS = {"sub", "phoneme", "lang", "w", "amazon:effect", "amazon:domain", "amazon:auto-breaths",
               "amazon:emotion"}


@dataclass
class Utterance:
    """What espeak-ng is given, and what Polly bills and marks."""

    espeak_ssml: str  # a <speak> document written here, safe for espeak-ng -m
    billed: int  # characters of text, tags excluded
    plain: str  # the spoken text, for speech marks
    marks: list[tuple[int, str]]  # (position in `plain`, <mark name>)


def utterance_from_text(text: str) -> Utterance:
    return Utterance(f"<speak>{escape(text)}</speak>", len(text), text, [])


def utterance_from_ssml(ssml: str) -> Utterance:
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    source = ssml.strip()
    # Polly accepts amazon:* tags without a namespace declaration; XML needs one.
    if "amazon:" in source and "xmlns:amazon" not in source:
        source = re.sub(r"<speak\b", f'<speak xmlns:amazon="{_AMAZON_NS}"', source, count=1)
    try:
        root = fromstring(source.encode("utf-8"), forbid_dtd=True, forbid_entities=True,
                          forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise _invalid_ssml(str(exc) or type(exc).__name__) from exc
    if _local(root.tag) != "speak":
        raise _invalid_ssml("the root element must be <speak>")
    out: list[str] = []
    plain: list[str] = []
    marks: list[tuple[int, str]] = []

    def text(value: str | None) -> None:
        if value:
            out.append(escape(value))
            plain.append(value)

    def walk(element, is_root: bool = False) -> None:
        tag = _local(element.tag)
        attrs = {_local(k): v for k, v in element.attrib.items()}
        close = ""
        if tag == "speak":
            if not is_root:
                raise _invalid_ssml("<speak> can only be the root element")
        elif tag == "break":
            out.append(_break(attrs))
        elif tag == "prosody":
            out.append("<prosody" + _prosody(attrs) + ">")
            close = "</prosody>"
        elif tag == "emphasis":
            level = attrs.get("level", "moderate")
            if level not in {"strong", "moderate", "reduced", "none"}:
                raise _invalid_ssml(f"emphasis level {level!r}")
            out.append(f"<emphasis level={quoteattr(level)}>")
            close = "</emphasis>"
        elif tag in ("p", "s"):
            out.append(f"<{tag}>")
            close = f"</{tag}>"
        elif tag == "say-as":
            interpret = attrs.get("interpret-as")
            if not interpret:
                raise _invalid_ssml("<say-as> needs interpret-as")
            if interpret in ("characters", "spell-out"):
                out.append('<say-as interpret-as="characters">')
                close = "</say-as>"
            elif interpret == "digits":
                value = "".join(element.itertext())
                spaced = " ".join(value.replace(" ", ""))
                out.append(escape(spaced))
                plain.append(value)
                if element.tail:
                    text(element.tail)
                return
        elif tag == "sub":
            if "alias" not in attrs:
                raise _invalid_ssml("<sub> needs alias")
            out.append(escape(attrs["alias"]))
            plain.append("".join(element.itertext()))
            if element.tail:
                text(element.tail)
            return
        elif tag == "mark":
            if "name" not in attrs:
                raise _invalid_ssml("<mark> needs name")
            marks.append((sum(map(len, plain)), attrs["name"]))
        elif tag == "amazon:breath":
            out.append('<break time="300ms"/>')
        elif tag not in _PLAIN_TAGS:
            raise _invalid_ssml(f"unsupported tag <{tag}>")
        text(element.text)
        for child in element:
            walk(child)
        out.append(close)
        if not is_root:
            text(element.tail)

    walk(root, is_root=True)
    spoken = "".join(plain)
    return Utterance("<speak>" + "".join(out) + "</speak>", len(spoken), spoken, marks)


def _local(tag: str) -> str:
    if tag.startswith("{"):
        namespace, name = tag[1:].split("}", 1)
        # amazon:* tags, whatever namespace URI the caller declared for the prefix
        return f"amazon:{name}" if namespace == _AMAZON_NS or "amazon" in namespace.lower() else name
    return tag


def _break(attrs: dict[str, str]) -> str:
    if "time" in attrs:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s)\s*", attrs["time"])
        if not match:
            raise _invalid_ssml(f"break time {attrs['time']!r}")
        ms = float(match.group(1)) * (1 if match.group(2) == "ms" else 1000)
        if ms > MAX_BREAK_MS:
            raise _invalid_ssml(f"break time over {MAX_BREAK_MS // 1000}s")
        return f'<break time="{int(ms)}ms"/>'
    strength = attrs.get("strength", "medium")
    if strength not in _STRENGTHS:
        raise _invalid_ssml(f"break strength {strength!r}")
    return f"<break strength={quoteattr(strength)}/>"


def _prosody(attrs: dict[str, str]) -> str:
    parts = []
    if "rate" in attrs:
        rate = attrs["rate"].strip()
        match = re.fullmatch(r"(\d+(?:\.\d+)?)%", rate)
        if rate not in _RATE_WORDS and not (match and 20 <= float(match.group(1)) <= 200):
            raise _invalid_ssml(f"prosody rate {rate!r}")
        parts.append(f" rate={quoteattr('medium' if rate == 'default' else rate)}")
    if "pitch" in attrs:
        pitch = attrs["pitch"].strip()
        if pitch not in _PITCH_WORDS and not re.fullmatch(r"[+-]\d+(?:\.\d+)?%", pitch):
            raise _invalid_ssml(f"prosody pitch {pitch!r}")
        parts.append(f" pitch={quoteattr('medium' if pitch == 'default' else pitch)}")
    if "volume" in attrs:
        volume = attrs["volume"].strip()
        match = re.fullmatch(r"([+-]\d+(?:\.\d+)?)dB", volume)
        if match:  # espeak-ng takes relative volume in percent, not decibels
            percent = (10 ** (float(match.group(1)) / 20) - 1) * 100
            volume = f"{percent:+.0f}%"
        elif volume not in _VOLUME_WORDS:
            raise _invalid_ssml(f"prosody volume {volume!r}")
        parts.append(f" volume={quoteattr('medium' if volume == 'default' else volume)}")
    return "".join(parts)


# --------------------------------------------------------------------------------------------------
# Audio: espeak-ng speaks (one process a request); MP3 and PCM are resampled with soxr and encoded with LAME
# (lameenc) in this process, both releasing the GIL, so the language fan-out's branches encode side by side
# without a process each; Ogg Vorbis, mu-law and A-law go through sox. The engines read and write files, not
# pipes: subprocess reads a pipe a few kilobytes a wake-up (about 400 of them for 38 s of espeak-ng's speech) and
# writes one 512 bytes at a time, and at each wake-up the thread gives the GIL up and, in a busy process, waits
# to get it back.

MP3_BIT_RATE = 48  # kbit/s, what Polly's MP3 streams carry
# LAME's quality 7: the same stream size as its default quality 5 for about half the CPU on espeak-ng's speech
# (0.05 against 0.10 CPU-s for 38 s of it), which the language fan-out pays once per language on shared cores
MP3_QUALITY = 7


@dataclass(frozen=True)
class Speech:
    """espeak-ng's output: 16-bit mono samples at its own rate (22,050 Hz)."""

    samples: Any  # numpy int16
    rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate


def synthesize(utterance_ssml: str, espeak_voice: str, timeout: float) -> Speech:
    with tempfile.TemporaryDirectory(prefix="docpipe-polly-") as tmp:
        ssml, wav = Path(tmp) / "speech.ssml", Path(tmp) / "speech.wav"
        ssml.write_bytes(utterance_ssml.encode("utf-8"))
        result = subprocess.run(["espeak-ng", "-m", "-b", "1", "-v", espeak_voice, "-f", str(ssml), "-w", str(wav)],
                                stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
        if result.returncode != 0 or not wav.exists():
            raise ServiceError("ServiceFailureException",
                               f"espeak-ng failed: {result.stderr.decode(errors='replace').strip()[:200]}", 500)
        return _wav_speech(wav)


def _wav_speech(path: Path) -> Speech:
    import wave

    import numpy as np

    with wave.open(str(path), "rb") as wav:
        rate, frames = wav.getframerate(), wav.readframes(wav.getnframes())
    return Speech(np.frombuffer(frames, dtype="<i2"), rate)


def encode(speech: Speech, fmt: str, sample_rate: str, timeout: float) -> bytes:
    if fmt == "mp3":
        return _mp3(_resampled(speech, int(sample_rate)), int(sample_rate))
    if fmt == "pcm":  # 16-bit little-endian mono, no header
        return _resampled(speech, int(sample_rate)).astype("<i2").tobytes()
    return _sox_encode(speech, fmt, sample_rate, timeout)


def _resampled(speech: Speech, rate: int):
    import soxr

    if speech.rate == rate or not len(speech.samples):
        return speech.samples
    return soxr.resample(speech.samples, speech.rate, rate)  # soxr's HQ: the algorithm of sox's `rate`


def _mp3(samples, rate: int) -> bytes:
    import lameenc

    encoder = lameenc.Encoder()
    encoder.set_channels(1)
    encoder.set_in_sample_rate(rate)
    encoder.set_bit_rate(MP3_BIT_RATE)
    encoder.set_quality(MP3_QUALITY)
    return bytes(encoder.encode(samples.tobytes()) + encoder.flush())


def _sox_encode(speech: Speech, fmt: str, sample_rate: str, timeout: float) -> bytes:
    import wave

    target = {
        "ogg_vorbis": ["-C", "3", "-t", "ogg"],
        "mulaw": ["-e", "mu-law", "-b", "8", "-t", "wav"],
        "alaw": ["-e", "a-law", "-b", "8", "-t", "wav"],
    }[fmt]
    with tempfile.TemporaryDirectory(prefix="docpipe-polly-") as tmp:
        source, out = Path(tmp) / "speech.wav", Path(tmp) / "speech.out"
        with wave.open(str(source), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(speech.rate)
            wav.writeframes(speech.samples.astype("<i2").tobytes())
        result = subprocess.run(["sox", "-q", str(source), "-r", sample_rate, "-c", "1", *target, str(out)],
                                stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
        if result.returncode != 0:
            raise ServiceError("ServiceFailureException",
                               f"sox failed: {result.stderr.decode(errors='replace').strip()[:200]}", 500)
        return out.read_bytes()


# --------------------------------------------------------------------------------------------------


@dataclass
class _Request:
    voice: Voice
    engine: str
    fmt: str
    sample_rate: str
    text_type: str
    utterance: Utterance
    espeak_voice: str
    mark_types: list[str]
    raw_text: str


class PollyEmulator(Emulator):
    """Polly's speech synthesis (sync and async) and voice list, on espeak-ng + sox."""

    service = "polly"

    def __init__(self, region: str = "us-east-1", account_id: str = "123456789012", timeout: float = 120.0,
                 task_timeout: float = 1800.0, task_workers: int = 2,
                 s3_client_factory: Callable[[], Any] | None = None,
                 sns_client_factory: Callable[[], Any] | None = None):
        self.region = region
        self.account_id = account_id
        self.timeout = timeout
        self.task_timeout = task_timeout
        self._s3_factory = s3_client_factory or (lambda: _boto3_client("s3", region))
        self._sns_factory = sns_client_factory or (lambda: _boto3_client("sns", region))
        self._s3 = None
        self._sns = None
        self._clients_lock = threading.Lock()
        self._espeak_languages: set[str] | None = None
        self._tasks: dict[str, dict[str, Any]] = {}
        self._tasks_lock = threading.Lock()
        self._task_workers = task_workers
        self._executor: ThreadPoolExecutor | None = None  # started with the first task, again after close()
        self.stats = {"requests": 0, "characters": 0, "audio_seconds": 0.0, "seconds": 0.0}

    # ---- voices ----------------------------------------------------------------------------------

    def espeak_languages(self) -> set[str]:
        if self._espeak_languages is None:
            self._espeak_languages = installed_espeak_languages()
        return self._espeak_languages

    def _espeak_language(self, language: str) -> str | None:
        return next((lang for lang in _ESPEAK_LANGUAGES.get(language, ()) if lang in self.espeak_languages()),
                    None)

    def available_voices(self) -> list[Voice]:
        return [v for v in VOICES.values() if self._espeak_language(v.language)]

    def DescribeVoices(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("NextToken"):
            raise ServiceError("InvalidNextTokenException",
                               "The NextToken is invalid. Verify that it's spelled correctly, and then try again.")
        engine, language = params.get("Engine"), params.get("LanguageCode")
        include_additional = params.get("IncludeAdditionalLanguageCodes", False)
        voices = []
        for voice in self.available_voices():
            if engine and engine not in voice.engines:
                continue
            if language and language != voice.language and \
                    not (include_additional and language in voice.additional):
                continue
            voices.append(voice.describe())
        return {"Voices": voices}

    # ---- synthesis -------------------------------------------------------------------------------

    def SynthesizeSpeech(self, params: dict[str, Any]) -> dict[str, Any]:
        request = self._validate(params, SYNC_MAX_BILLED, SYNC_MAX_TOTAL)
        data = self._render(request, self.timeout)
        return {"AudioStream": streaming_body(data), "ContentType": _FORMATS[request.fmt][0],
                "RequestCharacters": request.utterance.billed}

    def _validate(self, params: dict[str, Any], max_billed: int, max_total: int) -> _Request:
        voice_id = params["VoiceId"]
        voice = VOICES.get(voice_id)
        if voice is None:
            raise ServiceError("ValidationException",
                               f"1 validation error detected: Value '{voice_id}' at 'voiceId' failed to satisfy "
                               f"constraint: Member must satisfy enum value set: [{', '.join(sorted(VOICES))}]")
        engine = params.get("Engine") or "standard"
        if engine not in voice.engines:
            raise ServiceError("EngineNotSupportedException",
                               "This engine is not compatible with the voice that you have designated. Choose a "
                               "new voice that is compatible with the engine or change the engine and restart "
                               "the operation.")
        language = params.get("LanguageCode") or voice.language
        if language != voice.language and language not in voice.additional:
            raise ServiceError("LanguageNotSupportedException",
                               f"The language specified ({language}) is not supported by voice {voice.id}.")
        espeak_language = self._espeak_language(language)
        if espeak_language is None:
            raise ServiceError("LanguageNotSupportedException",
                               f"The language specified ({language}) is not currently supported offline: "
                               "no espeak-ng voice is installed for it.")
        fmt = params["OutputFormat"]
        if fmt not in _FORMATS:
            raise ServiceError("ValidationException",
                               f"1 validation error detected: Value '{fmt}' at 'outputFormat' is not supported "
                               f"offline (supported: {', '.join(_FORMATS)})")
        mark_types = list(params.get("SpeechMarkTypes") or [])
        text_type = params.get("TextType") or "text"
        if mark_types and fmt != "json":
            raise ServiceError("MarksNotSupportedForFormatException",
                               "Speech marks are not supported for the OutputFormat selected.")
        if fmt == "json" and not mark_types:
            raise ServiceError("ValidationException", "SpeechMarkTypes is required for the json OutputFormat.")
        if "ssml" in mark_types and text_type != "ssml":
            raise ServiceError("SsmlMarksNotSupportedForTextTypeException",
                               "SSML speech marks are not supported for plain text-type input.")
        _, _, rates, default_standard, default_other = _FORMATS[fmt]
        sample_rate = params.get("SampleRate") or (default_standard if engine == "standard" else default_other)
        if rates and sample_rate not in rates:
            raise ServiceError("InvalidSampleRateException", "The specified sample rate is not valid.")
        if params.get("LexiconNames"):
            raise ServiceError("LexiconNotFoundException",
                               f"Amazon Polly can't find the specified lexicon: {params['LexiconNames'][0]} "
                               "(lexicons are not emulated offline).", 404)
        text = params["Text"]
        if len(text) > max_total:
            raise ServiceError("TextLengthExceededException", "Maximum text length has been exceeded")
        utterance = utterance_from_ssml(text) if text_type == "ssml" else utterance_from_text(text)
        if utterance.billed > max_billed:
            raise ServiceError("TextLengthExceededException", "Maximum text length has been exceeded")
        return _Request(voice, engine, fmt, sample_rate, text_type, utterance,
                        f"{espeak_language}+{voice.espeak_variant()}", mark_types, text)

    def _render(self, request: _Request, timeout: float) -> bytes:
        started = time.perf_counter()
        if request.fmt == "json":
            data, seconds = self._speech_marks(request, timeout), 0.0
        else:
            speech = synthesize(request.utterance.espeak_ssml, request.espeak_voice, timeout)
            data, seconds = encode(speech, request.fmt, request.sample_rate, timeout), speech.seconds
        self.stats["requests"] += 1
        self.stats["characters"] += request.utterance.billed
        self.stats["audio_seconds"] += seconds
        self.stats["seconds"] += time.perf_counter() - started
        return data

    def _speech_marks(self, request: _Request, timeout: float) -> bytes:
        """Sentence/word/ssml marks: sentence times measured with espeak-ng, words spread by length.

        start/end are byte offsets into the request's Text (SSML included), as Polly reports them.
        """
        plain, raw, types = request.utterance.plain, request.raw_text, request.mark_types
        pending = list(request.utterance.marks)  # (position in plain, name)
        lines: list[dict[str, Any]] = []
        state = {"cursor": 0, "marks_from": 0}

        def flush_marks(upto: int, at_ms: int) -> None:
            while pending and pending[0][0] <= upto:
                _, name = pending.pop(0)
                start = raw.find("<mark", state["marks_from"])
                end = raw.find(">", start) + 1 if start >= 0 else 0
                state["marks_from"] = max(end, state["marks_from"])
                if "ssml" in types:
                    lines.append({"time": at_ms, "type": "ssml", "start": _byte_offset(raw, max(start, 0)),
                                  "end": _byte_offset(raw, end), "value": name})

        clock = 0.0
        for sentence in re.finditer(r"\S.*?(?:[.!?…]+(?=\s|$)|$)", plain, re.S):
            text = sentence.group()
            words = list(re.finditer(r"\w[\w'’-]*", text))
            if not text.strip():
                continue
            duration = synthesize(utterance_from_text(text).espeak_ssml, request.espeak_voice, timeout).seconds
            flush_marks(sentence.start(), int(clock * 1000))
            start_raw = _find(raw, words[0].group() if words else text.split()[0], state["cursor"])
            sentence_mark = {"time": int(clock * 1000), "type": "sentence", "start": _byte_offset(raw, start_raw),
                             "end": 0, "value": text}
            if "sentence" in types:
                lines.append(sentence_mark)
            total = sum(len(w.group()) for w in words) or 1
            spoken = 0
            position = start_raw
            for word in words:
                at_ms = int((clock + duration * spoken / total) * 1000)
                flush_marks(sentence.start() + word.start(), at_ms)
                position = _find(raw, word.group(), position)
                if "word" in types:
                    lines.append({"time": at_ms, "type": "word", "start": _byte_offset(raw, position),
                                  "end": _byte_offset(raw, position + len(word.group())), "value": word.group()})
                position += len(word.group())
                spoken += len(word.group())
            state["cursor"] = max(position, start_raw)
            tail = re.match(r"[^\w\s<]*", raw[state["cursor"]:])  # closing punctuation of the sentence
            sentence_mark["end"] = _byte_offset(raw, state["cursor"] + len(tail.group()))
            clock += duration
        flush_marks(len(plain) + 1, int(clock * 1000))
        return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode("utf-8")

    # ---- asynchronous tasks ----------------------------------------------------------------------

    def StartSpeechSynthesisTask(self, params: dict[str, Any]) -> dict[str, Any]:
        bucket = params["OutputS3BucketName"]
        if not _S3_BUCKET.match(bucket):
            raise ServiceError("InvalidS3BucketException",
                               "The provided Amazon S3 bucket name is invalid. Please check your input with S3 "
                               "bucket naming requirements and try again.")
        prefix = params.get("OutputS3KeyPrefix") or ""
        if not _S3_KEY_PREFIX.match(prefix):
            raise ServiceError("InvalidS3KeyException",
                               "The provided Amazon S3 key prefix is invalid. Please provide a valid S3 object "
                               "key name.")
        topic = params.get("SnsTopicArn")
        if topic and not _SNS_ARN.match(topic):
            raise ServiceError("InvalidSnsTopicArnException",
                               "The provided SNS topic ARN is invalid. Please provide a valid SNS topic ARN and "
                               "try again.")
        request = self._validate(params, TASK_MAX_BILLED, TASK_MAX_TOTAL)
        task_id = str(uuid.uuid4())
        ext = _FORMATS[request.fmt][1]
        key = f"{prefix}.{task_id}.{ext}" if prefix else f"{task_id}.{ext}"
        task: dict[str, Any] = {
            "Engine": request.engine, "TaskId": task_id, "TaskStatus": "scheduled",
            "OutputUri": f"https://s3.{self.region}.amazonaws.com/{bucket}/{key}",
            "CreationTime": datetime.now(timezone.utc), "RequestCharacters": request.utterance.billed,
            "OutputFormat": request.fmt, "TextType": request.text_type, "VoiceId": request.voice.id,
            "LanguageCode": params.get("LanguageCode") or request.voice.language,
        }
        if request.fmt != "json":
            task["SampleRate"] = request.sample_rate
        if request.mark_types:
            task["SpeechMarkTypes"] = request.mark_types
        if topic:
            task["SnsTopicArn"] = topic
        with self._tasks_lock:
            self._tasks[task_id] = task
            snapshot = dict(task)
        with self._clients_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=self._task_workers, thread_name_prefix="polly-task")
            self._executor.submit(self._run_task, task_id, request, bucket, key)
        return {"SynthesisTask": snapshot}

    def _run_task(self, task_id: str, request: _Request, bucket: str, key: str) -> None:
        self._update(task_id, TaskStatus="inProgress")
        try:
            data = self._render(request, self.task_timeout)
            self._s3_client().put_object(Bucket=bucket, Key=key, Body=data,
                                         ContentType=_FORMATS[request.fmt][0])
            self._update(task_id, TaskStatus="completed")
        except ServiceError as err:
            self._update(task_id, TaskStatus="failed", TaskStatusReason=f"{err.code}: {err.message}")
        except Exception as err:  # an S3 error (no such bucket, access denied) fails the task, as in AWS
            self._update(task_id, TaskStatus="failed", TaskStatusReason=f"{type(err).__name__}: {err}"[:1000])
        self._notify(task_id)

    def _update(self, task_id: str, **fields: Any) -> None:
        with self._tasks_lock:
            self._tasks[task_id].update(fields)

    def _notify(self, task_id: str) -> None:
        with self._tasks_lock:
            task = dict(self._tasks[task_id])
        if not task.get("SnsTopicArn"):
            return
        message = {"taskId": task_id, "taskStatus": task["TaskStatus"].upper(), "outputUri": task["OutputUri"],
                   "creationTime": task["CreationTime"].isoformat(), "requestCharacters": task["RequestCharacters"],
                   "snsTopicArn": task["SnsTopicArn"], "outputFormat": task["OutputFormat"],
                   "textType": task["TextType"], "voiceId": task["VoiceId"]}
        if task.get("TaskStatusReason"):
            message["taskStatusReason"] = task["TaskStatusReason"]
        try:
            self._sns_client().publish(TopicArn=task["SnsTopicArn"], Message=json.dumps(message))
        except Exception:  # a notification that cannot be delivered does not fail the task
            pass

    def GetSpeechSynthesisTask(self, params: dict[str, Any]) -> dict[str, Any]:
        task_id = params["TaskId"]
        if not _TASK_ID.match(task_id):
            raise ServiceError("InvalidTaskIdException",
                               "The provided Task ID is not valid. Please provide a valid Task ID and try again.")
        with self._tasks_lock:
            task = self._tasks.get(task_id)
            snapshot = dict(task) if task else None
        if snapshot is None:
            raise ServiceError("SynthesisTaskNotFoundException",
                               "The Speech Synthesis task with requested Task ID cannot be found.")
        return {"SynthesisTask": snapshot}

    def ListSpeechSynthesisTasks(self, params: dict[str, Any]) -> dict[str, Any]:
        max_results = params.get("MaxResults", 100)
        if not 1 <= max_results <= 100:
            raise ServiceError("ValidationException", "MaxResults must be between 1 and 100.")
        with self._tasks_lock:
            tasks = sorted((dict(t) for t in self._tasks.values()), key=lambda t: t["CreationTime"], reverse=True)
        if params.get("Status"):
            tasks = [t for t in tasks if t["TaskStatus"] == params["Status"]]
        start = 0
        if params.get("NextToken"):
            try:
                start = int(base64.urlsafe_b64decode(params["NextToken"].encode()).decode())
            except ValueError:
                start = -1
            if not 0 <= start <= len(tasks):
                raise ServiceError("InvalidNextTokenException",
                                   "The NextToken is invalid. Verify that it's spelled correctly, and then try again.")
        response: dict[str, Any] = {"SynthesisTasks": tasks[start:start + max_results]}
        if start + max_results < len(tasks):
            response["NextToken"] = base64.urlsafe_b64encode(str(start + max_results).encode()).decode()
        return response

    def wait_for_tasks(self, timeout: float = 60.0) -> bool:
        """Block until no task is scheduled or in progress (for tests and `docpipe run`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._tasks_lock:
                if all(t["TaskStatus"] in ("completed", "failed") for t in self._tasks.values()):
                    return True
            time.sleep(0.02)
        return False

    # ---- clients ---------------------------------------------------------------------------------

    def _s3_client(self):
        with self._clients_lock:
            if self._s3 is None:
                self._s3 = self._s3_factory()
            return self._s3

    def _sns_client(self):
        with self._clients_lock:
            if self._sns is None:
                self._sns = self._sns_factory()
            return self._sns

    def close(self) -> None:
        """Finish the tasks that are running (queued ones are cancelled and marked failed)."""
        with self._clients_lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        with self._tasks_lock:
            for task in self._tasks.values():
                if task["TaskStatus"] in ("scheduled", "inProgress"):
                    task.update(TaskStatus="failed", TaskStatusReason="The emulator was shut down.")


def _boto3_client(service: str, region: str):
    import boto3

    return boto3.client(service, region_name=region)


def _find(haystack: str, needle: str, start: int) -> int:
    found = haystack.find(needle, start)
    return start if found < 0 else found


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


__all__ = ["PollyEmulator", "VOICES", "Voice", "utterance_from_ssml", "utterance_from_text"]
