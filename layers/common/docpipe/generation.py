"""Guarded generation: Bedrock Converse behind the guardrail, with a response cache.

Identical requests (model, system, messages, inference parameters, guardrail id and version) are answered
from a DynamoDB cache with a TTL, so a re-run of an unchanged document makes no model call. A guardrail
intervention that blocks the output raises GuardrailBlocked; masked output comes back masked.
"""

from __future__ import annotations

import hashlib
import json
import time
import random
from dataclasses import dataclass
from typing import Callable

from docpipe.clients import client
from docpipe.guardrail import GuardrailBlocked, policies_fired, text_units
from docpipe.settings import get_settings


@dataclass
class Generation:
    text: str
    input_tokens: int
    output_tokens: int
    stop_reason: str
    cached: bool
    guardrail_intervened: bool = False
    capacity_wait_s: float = 0.0  # endpoint mode: time spent waiting for a scaled-to-zero endpoint
    capacity_retries: int = 0
    guardrail_text_units: int = 0  # what the guardrail billed on the prompt and the answer


class PromptBlocked(GuardrailBlocked):
    """The guardrail refused the prompt itself: the model was not invoked."""


class EndpointCapacityTimeout(Exception):
    """The SageMaker endpoint had no capacity for longer than `endpoint_capacity_max_wait_seconds`."""


def _cache_key(request: dict) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()


def converse(system: str, user: str, *, max_tokens: int, temperature: float, model_id: str | None = None) -> Generation:
    settings = get_settings()
    if settings.generation_endpoint:
        return _endpoint_converse(system, user, max_tokens=max_tokens, temperature=temperature)
    request = {"modelId": model_id or settings.generation_model_id, "system": [{"text": system}],
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
        trace = response.get("trace", {}).get("guardrail", {})
        fired, blocked = _trace_policies(trace)
        if _trace_policies({"inputAssessment": trace.get("inputAssessment", {})})[1]:
            raise PromptBlocked("the guardrail blocked the prompt; nothing was generated: " + "; ".join(fired))
        if blocked:
            raise GuardrailBlocked("the guardrail withheld the generated text: " + "; ".join(fired))
    generation = Generation(text, response["usage"]["inputTokens"], response["usage"]["outputTokens"], stop,
                            cached=False, guardrail_intervened=stop == "guardrail_intervened",
                            guardrail_text_units=_trace_units(response.get("trace", {}).get("guardrail", {})))
    _cache_put(key, generation)
    return generation


def _trace_units(trace: dict) -> int:
    """Text units of the guardrail inside a Converse call (input and output), from its trace."""
    assessments = list(trace.get("inputAssessment", {}).values())
    for outputs in trace.get("outputAssessments", {}).values():
        assessments += outputs
    return sum(text_units(assessment) for assessment in assessments)


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


# --- SageMaker endpoint mode (DOCPIPE_GENERATION_ENDPOINT) ------------------------------------------------
def _cold_capacity(error: Exception) -> bool:
    """Is this the scaled-to-zero state (retry later) rather than a real failure?"""
    response = getattr(error, "response", None) or {}
    code = response.get("Error", {}).get("Code", "")
    message = response.get("Error", {}).get("Message", "").lower()
    if code == "ModelNotReadyException":
        return True
    # an inference component at zero copies: ValidationError "Inference Component has no capacity ..."
    return code in ("ValidationError", "ValidationException") and "no capacity" in message


def invoke_with_capacity_retry(invoke: Callable[[], dict], *, sleep: Callable[[float], None] = time.sleep,
                               rng: random.Random | None = None) -> tuple[dict, float, int]:
    """Call `invoke` until the endpoint has capacity: exponential backoff with full jitter, bounded in total.

    Returns (response, seconds waited, retries). Any other error is raised at once.
    """
    settings = get_settings()
    rng = rng or random.Random()
    start = time.monotonic()
    waited, retries = 0.0, 0
    while True:
        try:
            return invoke(), waited, retries
        except Exception as error:  # botocore ClientError (modeled subclasses included)
            if not _cold_capacity(error):
                raise
            ceiling = min(settings.endpoint_capacity_max_backoff_seconds,
                          settings.endpoint_capacity_initial_backoff_seconds * 2 ** retries)
            delay = rng.uniform(ceiling / 2, ceiling)  # half jitter: never hammer a cold endpoint
            elapsed = time.monotonic() - start
            if elapsed + delay > settings.endpoint_capacity_max_wait_seconds:
                raise EndpointCapacityTimeout(
                    f"endpoint {settings.generation_endpoint} had no capacity for {elapsed:.0f} s "
                    f"({retries + 1} attempts): {error}") from error
            sleep(delay)
            retries += 1
            waited = time.monotonic() - start


def _endpoint_converse(system: str, user: str, *, max_tokens: int, temperature: float) -> Generation:
    """Chat completion on a SageMaker endpoint (OpenAI-style messages body, as TGI / LMI containers take)."""
    settings = get_settings()
    body = {"messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "max_tokens": max_tokens, "temperature": temperature}
    target = {"EndpointName": settings.generation_endpoint}
    if settings.generation_inference_component:
        target["InferenceComponentName"] = settings.generation_inference_component
    key = _cache_key({"endpoint": target, "body": body, "guardrail": [settings.guardrail_id, settings.guardrail_version]})
    hit = _cache_get(key)
    if hit is not None:
        return Generation(hit["text"], 0, 0, hit["stop_reason"], cached=True)
    runtime = client("sagemaker-runtime")
    response, waited, retries = invoke_with_capacity_retry(lambda: runtime.invoke_endpoint(
        **target, Body=json.dumps(body).encode(), ContentType="application/json", Accept="application/json"))
    answer = json.loads(response["Body"].read())
    choice = answer["choices"][0]
    text = (choice.get("message", {}).get("content") or "").strip()
    stop = {"stop": "end_turn", "length": "max_tokens"}.get(choice.get("finish_reason"), "end_turn")
    usage = answer.get("usage", {})
    intervened, units = False, 0
    if settings.guardrail_id:  # no guardrailConfig on an endpoint: guard the output with ApplyGuardrail
        from docpipe.guardrail import apply

        outcome = apply(text, "OUTPUT")
        if outcome.action == "BLOCKED":
            raise GuardrailBlocked("the guardrail withheld the generated text: " + "; ".join(outcome.policies))
        intervened, text, units = outcome.action == "ANONYMIZED", outcome.text, outcome.text_units
    generation = Generation(text, int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)), stop,
                            cached=False, guardrail_intervened=intervened, capacity_wait_s=round(waited, 3),
                            capacity_retries=retries, guardrail_text_units=units)
    _cache_put(key, generation)
    return generation
