"""Translate one language of the summary: sentence-boundary splitting under Translate's request limit,
custom terminology when configured, and the guardrail on the result (OUTPUT) before it is stored."""

from __future__ import annotations

import re

from botocore.exceptions import ClientError

from docpipe import guardrail
from docpipe.clients import client
from docpipe.errors import OFFLINE_ENGINE_UNAVAILABLE, TranslationUnavailable
from docpipe.guardrail import GuardrailBlocked
from docpipe.models import LanguageInput, S3Pointer, Usage
from docpipe.settings import get_settings
from docpipe.storage import out_key, read_bytes
from docpipe.task import StageResult

_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+|\n+")


def split_for_translate(text: str, max_bytes: int) -> list[str]:
    """Pieces of at most `max_bytes` UTF-8 bytes, cut at sentence ends (then spaces) and joined back by " "."""
    pieces, current = [], ""
    for sentence in (s for s in _SENTENCE_END.split(text) if s.strip()):
        for part in _cut(sentence, max_bytes):
            candidate = f"{current} {part}" if current else part
            if len(candidate.encode()) > max_bytes:
                pieces.append(current)
                candidate = part
            current = candidate
    return pieces + ([current] if current else [])


def _cut(sentence: str, max_bytes: int) -> list[str]:
    if len(sentence.encode()) <= max_bytes:
        return [sentence]
    parts, current = [], ""
    for word in sentence.split(" "):
        candidate = f"{current} {word}" if current else word
        if len(candidate.encode()) > max_bytes and current:
            parts.append(current)
            candidate = word
        while len(candidate.encode()) > max_bytes:  # one enormous "word": cut by characters
            cut = max_bytes
            while len(candidate[:cut].encode()) > max_bytes:
                cut -= 1
            parts.append(candidate[:cut])
            candidate = candidate[cut:]
        current = candidate
    return parts + ([current] if current else [])


def translate_summary(payload: LanguageInput) -> StageResult:
    state, settings = payload.state, get_settings()
    summary = read_bytes(state.summary.bucket, state.summary.key).decode().strip()
    terminologies = [name.strip() for name in settings.translate_terminologies.split(",") if name.strip()]
    translated, characters = [], 0
    for piece in split_for_translate(summary, settings.translate_max_bytes):
        try:
            response = client("translate").translate_text(
                Text=piece, SourceLanguageCode=settings.summary_language, TargetLanguageCode=state.language,
                **({"TerminologyNames": terminologies} if terminologies else {}))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != OFFLINE_ENGINE_UNAVAILABLE:
                raise
            raise TranslationUnavailable(error.response["Error"]["Message"]) from None
        translated.append(response["TranslatedText"])
        characters += len(piece)
    text = " ".join(translated)
    checked = guardrail.apply(text, "OUTPUT")
    if checked.action == "BLOCKED":
        raise GuardrailBlocked(f"the {state.language} translation: {checked.reason}")
    key = out_key(state.document.doc_id, f"summary.{state.language}.md")
    client("s3").put_object(Bucket=state.document.bucket, Key=key, Body=(checked.text + "\n").encode(),
                            ContentType="text/markdown; charset=utf-8")
    state = state.model_copy(update={"translation": S3Pointer(bucket=state.document.bucket, key=key),
                                     "outputs": [*state.outputs, key]})
    usage = Usage(s3_get=1, s3_put=1, characters_translated=characters, guardrail_text_units=checked.text_units)
    return StageResult(state, usage, {"language": state.language, "requests": len(translated),
                                      "characters": characters, "guardrail_action": checked.action,
                                      "terminologies": terminologies,
                                      **({"guardrail_not_evaluated": checked.not_evaluated} if checked.not_evaluated else {})})
