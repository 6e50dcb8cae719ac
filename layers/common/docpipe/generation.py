"""Guarded generation: Bedrock Converse behind the guardrail, with a response cache.

Identical requests (model, system, messages, inference parameters, guardrail id and version) are answered
from a DynamoDB cache with a TTL, so a re-run of an unchanged document makes no model call. A guardrail
intervention that blocks the output raises GuardrailBlocked; masked output comes back masked.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

from docpipe.clients import client
from docpipe.guardrail import GuardrailBlocked, policies_fired
from docpipe.settings import get_settings


@dataclass
class Generation:
    text: str
    input_tokens: int
    output_tokens: int
    stop_reason: str
    cached: bool
    guardrail_intervened: bool = False


def _cache_key(request: dict) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()


def converse(system: str, user: str, *, max_tokens: int, temperature: float) -> Generation:
    settings = get_settings()
    request = {"modelId": settings.generation_model_id, "system": [{"text": system}],
               "messages": [{"role": "user", "content": [{"text": user}]}],
               "inferenceConfig": {"maxTokens": max_tokens, "temperature": temperature}}
    if settings.guardrail_id:
        request["guardrailConfig"] = {"guardrailIdentifier": settings.guardrail_id,
                                      "guardrailVersion": settings.guardrail_version, "trace": "enabled"}
    key = _cache_key(request)
    hit = _cache_get(key)
    if hit is not None:
        return Generation(hit["text"], 0, 0, hit["stop_reason"], cached=True)
    response = client("bedrock-runtime").converse(**request)
    text = "".join(part.get("text", "") for part in response["output"]["message"]["content"]).strip()
    stop = response.get("stopReason", "end_turn")
    if stop == "guardrail_intervened":
        fired, blocked = _trace_policies(response.get("trace", {}).get("guardrail", {}))
        if blocked:
            raise GuardrailBlocked("the guardrail withheld the generated text: " + "; ".join(fired))
    generation = Generation(text, response["usage"]["inputTokens"], response["usage"]["outputTokens"], stop,
                            cached=False, guardrail_intervened=stop == "guardrail_intervened")
    _cache_put(key, generation)
    return generation


def _trace_policies(trace: dict) -> tuple[list[str], bool]:
    """Policies that fired on the input or output of a Converse call, from its guardrail trace."""
    assessments = list(trace.get("inputAssessment", {}).values())
    for outputs in trace.get("outputAssessments", {}).values():
        assessments += outputs
    fired, blocked = [], False
    for assessment in assessments:
        names, was_blocked = policies_fired(assessment)
        fired += [name for name in names if name not in fired]
        blocked |= was_blocked
    return fired, blocked


def _cache_get(key: str) -> dict | None:
    table = get_settings().response_cache_table
    if not table:
        return None
    item = client("dynamodb").get_item(TableName=table, Key={"cache_key": {"S": key}}).get("Item")
    if not item or int(item["expires_at"]["N"]) < time.time():  # TTL deletion lags: check it ourselves
        return None
    return {"text": item["text"]["S"], "stop_reason": item["stop_reason"]["S"]}


def _cache_put(key: str, generation: Generation) -> None:
    settings = get_settings()
    if not settings.response_cache_table:
        return
    expires = int(time.time()) + settings.response_cache_ttl_days * 86400
    client("dynamodb").put_item(TableName=settings.response_cache_table, Item={
        "cache_key": {"S": key}, "text": {"S": generation.text}, "stop_reason": {"S": generation.stop_reason},
        "expires_at": {"N": str(expires)}})
