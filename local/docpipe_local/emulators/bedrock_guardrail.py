"""Bedrock Runtime ApplyGuardrail, answered by the offline guardrail engine.

``GuardrailEmulator({"abc123": properties}, embed=...)`` serves one guardrail per identifier, each configured
from the Properties of an ``AWS::Bedrock::Guardrail`` (see ``docpipe_local.guardrails``). Any version that
Bedrock would accept (``DRAFT`` or ``1``..``99999999``) answers with that configuration.

Errors, as Bedrock answers them:

- an identifier (id or guardrail ARN) that is not configured -> ``ResourceNotFoundException``;
- an identifier or version that does not match Bedrock's patterns, no text content, image content (not
  evaluated offline), or text beyond the size limit -> ``ValidationException``.

Size limit: guardrails meter text in *text units* of up to 1,000 characters, and the default ApplyGuardrail
quota for text units per second is 25 (Service Quotas, "On-demand ApplyGuardrail ... text units per
second"). One request larger than that quota could never be served, so the emulator refuses requests over
``max_text_units`` (25 by default, i.e. 25,000 characters) with a ValidationException; pass another value
if your account's quota differs.

What the offline engine could not evaluate as Bedrock would (a policy whose offline detector knows English
only, on text in another language) is said in the ``x-docpipe-emulator-note`` response header, in words:
ApplyGuardrail's response body has no field for it, and AWS never sends the header, so a caller may show
it where present and must not need it.
"""

from __future__ import annotations

import re
import threading
from typing import Any, Callable, Mapping

from docpipe.guardrail import EMULATOR_NOTE_HEADER
from docpipe_local.emulators.base import RESPONSE_HEADERS, Emulator, ServiceError
from docpipe_local.guardrails import GuardrailEngine, text_units

_ID = re.compile(r"^(?:([a-z0-9]+)|arn:aws(?:-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail/([a-z0-9]+))$")
_VERSION = re.compile(r"^(?:[1-9][0-9]{0,7}|DRAFT)$")
DEFAULT_MAX_TEXT_UNITS = 25


class GuardrailEmulator(Emulator):
    """bedrock-runtime ApplyGuardrail over local :class:`GuardrailEngine` instances."""

    service = "bedrock-runtime"

    def __init__(self, guardrails: Mapping[str, dict | GuardrailEngine],
                 embed: Callable | None = None, *, max_text_units: int = DEFAULT_MAX_TEXT_UNITS,
                 topic_threshold: float | None = None):
        self.max_text_units = max_text_units
        self._engines: dict[str, GuardrailEngine] = {}
        self._lock = threading.Lock()
        for guardrail_id, config in guardrails.items():
            self.add(guardrail_id, config, embed=embed, topic_threshold=topic_threshold)

    def add(self, guardrail_id: str, config: dict | GuardrailEngine, *, embed: Callable | None = None,
            topic_threshold: float | None = None) -> GuardrailEngine:
        if isinstance(config, GuardrailEngine):
            engine = config
        else:
            extra = {"topic_threshold": topic_threshold} if topic_threshold is not None else {}
            engine = GuardrailEngine(config, embed=embed, guardrail_id=guardrail_id, **extra)
        with self._lock:
            self._engines[guardrail_id] = engine
        return engine

    def engines(self) -> list[GuardrailEngine]:
        with self._lock:
            return list(self._engines.values())

    def engine_for(self, identifier: str, version: str, *, missing: str = "ResourceNotFoundException") -> GuardrailEngine:
        """The engine for an id or ARN and a version, or the ServiceError that Bedrock answers."""
        match = _ID.match(identifier or "")
        if not match:
            raise ServiceError("ValidationException",
                               f"1 validation error detected: Value '{identifier}' at 'guardrailIdentifier' failed "
                               "to satisfy constraint: Member must satisfy regular expression pattern: "
                               "(([a-z0-9]+)|(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail/[a-z0-9]+))")
        if not _VERSION.match(version or ""):
            raise ServiceError("ValidationException",
                               f"1 validation error detected: Value '{version}' at 'guardrailVersion' failed to "
                               "satisfy constraint: Member must satisfy regular expression pattern: "
                               "(([1-9][0-9]{0,7})|(DRAFT))")
        guardrail_id = match.group(1) or match.group(2)
        with self._lock:
            engine = self._engines.get(guardrail_id)
        if engine is None:
            raise ServiceError(missing, "The guardrail identifier or version provided in the request does not exist.",
                               404 if missing == "ResourceNotFoundException" else 400)
        return engine

    def check_size(self, texts: list[str]) -> None:
        units = sum(text_units(t) for t in texts)
        if units > self.max_text_units:
            raise ServiceError("ValidationException",
                               f"The text in the request is {sum(len(t) for t in texts)} characters ({units} text "
                               f"units), more than the {self.max_text_units} text units (1,000 characters each) "
                               "that one request may hold.")

    def ApplyGuardrail(self, params: dict[str, Any]) -> dict[str, Any]:
        engine = self.engine_for(params["guardrailIdentifier"], params["guardrailVersion"])
        content = params.get("content") or []
        if any("image" in block for block in content):
            raise ServiceError("ValidationException", "Image content is not supported by the offline guardrail "
                                                      "engine; send text content blocks only.")
        texts = [block["text"]["text"] for block in content if "text" in block]
        if not texts:
            raise ServiceError("ValidationException", "The request must contain at least one text content block.")
        self.check_size(texts)
        response, notes = engine.evaluate(content, source=params["source"],
                                          output_scope=params.get("outputScope", "INTERVENTIONS"))
        if notes:  # outside the body, whose shape is AWS's: a header only the offline runtime sends
            response[RESPONSE_HEADERS] = {EMULATOR_NOTE_HEADER: "; ".join(notes)}
        return response
