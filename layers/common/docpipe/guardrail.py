"""Bedrock Guardrails around everything a model reads or writes: ApplyGuardrail, summarized for people.

An outcome is NONE (nothing found), ANONYMIZED (PII masked: the masked text is what goes on) or BLOCKED
(the text must not be processed: the reason names the policy that fired, in words, never the matched text).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from docpipe.clients import client
from docpipe.settings import get_settings

# ApplyGuardrail bills and limits by text units of 1,000 characters; keep each request well inside them.
MAX_CHARS_PER_REQUEST = 20_000
# Sent only by the offline emulator (AWS never sends it): what it could not evaluate as Bedrock would, in words
# ("content filters not evaluated offline for de ..."). Optional: recorded where present, never needed.
EMULATOR_NOTE_HEADER = "x-docpipe-emulator-note"


class GuardrailBlocked(Exception):
    """Permanent: the guardrail refused the content. Quarantined with the policy that fired."""


def text_units(assessment: dict) -> int:
    """The text units one guardrail assessment billed (its invocationMetrics' usage, every policy)."""
    return int(sum(assessment.get("invocationMetrics", {}).get("usage", {}).values()))


@dataclass
class GuardrailOutcome:
    action: Literal["NONE", "ANONYMIZED", "BLOCKED"]
    text: str
    policies: list[str] = field(default_factory=list)  # e.g. "denied topic: Investment advice"
    text_units: int = 0
    not_evaluated: list[str] = field(default_factory=list)  # the offline emulator's notes; empty in AWS

    @property
    def reason(self) -> str:
        return "the guardrail blocked it: " + "; ".join(self.policies or ["a content policy"])


def _pieces(text: str) -> list[str]:
    """Split on paragraph, then line boundaries into requests under the size limit (joined back exactly)."""
    pieces, current = [], ""
    for part in text.splitlines(keepends=True):
        while len(part) > MAX_CHARS_PER_REQUEST:
            pieces.append(current + part[: MAX_CHARS_PER_REQUEST - len(current)])
            part, current = part[MAX_CHARS_PER_REQUEST - len(current):], ""
        if len(current) + len(part) > MAX_CHARS_PER_REQUEST:
            pieces.append(current)
            current = ""
        current += part
    return [*pieces, current] if current or not pieces else pieces


def policies_fired(assessment: dict) -> tuple[list[str], bool]:
    """What fired, in words, and whether anything blocked."""
    fired, blocked = [], False

    def note(description: str, action: str) -> None:
        nonlocal blocked
        blocked |= action == "BLOCKED"
        verb = "masked" if action == "ANONYMIZED" else "blocked" if action == "BLOCKED" else "detected"
        fired.append(f"{description} ({verb})")

    for topic in assessment.get("topicPolicy", {}).get("topics", []):
        note(f"denied topic '{topic['name']}'", topic.get("action", "BLOCKED"))
    for item in assessment.get("contentPolicy", {}).get("filters", []):
        label = "prompt attack" if item["type"] == "PROMPT_ATTACK" else f"{item['type'].lower()} content"
        note(label, item.get("action", "BLOCKED"))
    words = assessment.get("wordPolicy", {})
    for item in words.get("customWords", []) + words.get("managedWordLists", []):
        note("a blocked word" if "type" not in item else "profanity", item.get("action", "BLOCKED"))
    sensitive = assessment.get("sensitiveInformationPolicy", {})
    for item in sensitive.get("piiEntities", []):
        note(f"personal data {item['type']}", item.get("action", "ANONYMIZED"))
    for item in sensitive.get("regexes", []):
        note(f"sensitive pattern {item.get('name', 'regex')}", item.get("action", "ANONYMIZED"))
    return fired, blocked


def apply(text: str, source: Literal["INPUT", "OUTPUT"]) -> GuardrailOutcome:
    settings = get_settings()
    if not settings.guardrail_id:
        return GuardrailOutcome("NONE", text)
    outputs, policies, units, blocked, intervened, notes = [], [], 0, False, False, []
    for piece in _pieces(text):
        if not piece.strip():
            outputs.append(piece)
            continue
        response = client("bedrock-runtime").apply_guardrail(
            guardrailIdentifier=settings.guardrail_id, guardrailVersion=settings.guardrail_version,
            source=source, content=[{"text": {"text": piece}}])
        for assessment in response.get("assessments", []):
            fired, was_blocked = policies_fired(assessment)
            policies += [p for p in fired if p not in policies]
            blocked |= was_blocked
            units += text_units(assessment)
        note = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get(EMULATOR_NOTE_HEADER)
        notes += [note] if note and note not in notes else []
        if response["action"] == "GUARDRAIL_INTERVENED":
            intervened = True
            outputs.append("".join(o["text"] for o in response.get("outputs", [])))
        else:
            outputs.append(piece)
    action = "BLOCKED" if blocked else "ANONYMIZED" if intervened else "NONE"
    return GuardrailOutcome(action, "" if blocked else "".join(outputs), policies, units, notes)
