"""Bedrock Runtime Converse, answered by a local model, with Bedrock's validations and guardrails.

Any model id that looks like a Bedrock text model -- ``amazon.nova-lite-v1:0``, ``anthropic.claude-...``,
``meta.llama...``, a cross-region profile such as ``us.amazon.nova-pro-v1:0``, or a foundation-model /
inference-profile ARN -- is accepted, and **every one of them is answered by the same local model**
(SmolLM2-135M-Instruct through :class:`docpipe_local.engines.llm.LocalLLM`). The model id only chooses
the ``maxTokens`` ceiling that Bedrock enforces for that model family. Embedding and image model ids are
refused as Bedrock refuses them, and anything else is an invalid identifier.

What the emulator checks, as Bedrock does (``ValidationException``): the conversation starts with a user
message and alternates roles; no empty content or blank text; only text / guardContent / cachePoint blocks
(the local model reads no images, documents or tools); ``temperature`` and ``topP`` in [0, 1];
``maxTokens`` within the model's limit; and an input that does not fit the local model's context window
(``n_ctx``, 8,192 tokens by default) fails with Bedrock's wording ``Input is too long for requested model.``

Guardrails (``guardrailConfig``): the input is assessed first -- only the ``guardContent`` blocks when the
request has any (in messages or system), otherwise the text of every message (never a plain system
prompt), as Bedrock does. A blocked input returns ``BlockedInputMessaging`` with stopReason
``guardrail_intervened`` and zero tokens (the model is not invoked); masked PII in the input is replaced
before the model sees it. The answer is then assessed as OUTPUT: blocked -> ``BlockedOutputsMessaging``,
masked -> the anonymized text, both with stopReason ``guardrail_intervened``. ``trace: enabled`` (or
``enabled_full``, which reports non-detected filters too) adds ``trace.guardrail`` with the input and
output assessments keyed by guardrail id, and the unfiltered ``modelOutput`` when the output was changed.
An unknown guardrail id or version is a ``ValidationException`` (the model call never happens).

InvokeModel and InvokeModelWithResponseStream: an Anthropic Messages, Amazon Nova ``messages-v1``, Amazon
Titan Text (``inputText``) or Meta Llama (``prompt``) body is answered as the equivalent Converse /
ConverseStream request and written as that family's native response body or streaming chunks (see the
methods). A Llama prompt's turns are read from Llama 3's header tokens (any other prompt, and Titan's
``inputText``, is one user turn), so the local model reads the conversation in its own chat template. Other
families' bodies (Mistral's and Cohere's prompts, the ``messages`` chat bodies of Mistral Large or OpenAI's
models, which answer with ``choices``) get a ValidationException saying they are not emulated offline. Titan
embedding model ids are the embeddings emulator's: the hub routes InvokeModel by model id (``serves``).

Not emulated: tool use, images/documents, ``additionalModelRequestFields`` (accepted and ignored), prompt
caching (``cachePoint`` accepted, nothing cached).
"""

from __future__ import annotations

import json
import queue
import re
import threading
import time
import uuid
from typing import Any

from docpipe_local.emulators.base import RESPONSE_HEADERS, Emulator, ServiceError, streaming_body
from docpipe_local.emulators.bedrock_guardrail import GuardrailEmulator
from docpipe_local.guardrails import GuardrailEngine

_PROVIDERS = ("amazon", "anthropic", "meta", "mistral", "cohere", "ai21", "deepseek", "qwen", "openai", "writer",
              "google", "nvidia", "minimax", "moonshot", "moonshotai", "zai")
_MODEL_ID = re.compile(
    rf"^(?:(?:us|eu|apac|global|us-gov|jp|au|ca)\.)?(?:{'|'.join(_PROVIDERS)})\.[a-z0-9][a-z0-9._-]*(?::[a-z0-9]+){{0,2}}$")
_MODEL_ARN = re.compile(
    r"^arn:aws(?:-[a-z-]+)?:bedrock:[a-z0-9-]*:[0-9]{0,12}:(?:foundation-model|inference-profile|"
    r"application-inference-profile|provisioned-model|custom-model|imported-model|custom-model-deployment)/(?P<rest>.+)$")
_NOT_TEXT = re.compile(r"embed|rerank|titan-image|nova-canvas|nova-reel|nova-sonic|stable-|sd3|marengo|pegasus|"
                       r"stability\.|image-generator|titan-tg1-large-image")

# Output-token ceilings that Bedrock enforces per model family (first match wins; from the model cards).
_MAX_TOKENS = [
    (re.compile(r"amazon\.nova-premier"), 32000),
    (re.compile(r"amazon\.nova-(?:micro|lite|pro)"), 10000),
    (re.compile(r"amazon\.titan-text-express"), 8192),
    (re.compile(r"amazon\.titan-text-(?:lite|premier)"), 3072),
    (re.compile(r"anthropic\.claude-(?:opus-4|sonnet-4|3-7)"), 32000),
    (re.compile(r"anthropic\.claude-3-5"), 8192),
    (re.compile(r"anthropic\.claude"), 4096),
    (re.compile(r"meta\.llama"), 2048),
    (re.compile(r"mistral\."), 8192),
    (re.compile(r"cohere\."), 4000),
]
DEFAULT_MODEL_MAX_TOKENS = 4096

_UNSUPPORTED_BLOCKS = {"image": "image", "document": "document", "video": "video", "audio": "audio",
                       "toolUse": "toolUse", "toolResult": "toolResult", "reasoningContent": "reasoningContent",
                       "citationsContent": "citationsContent", "searchResult": "searchResult"}


def _invalid(message: str) -> ServiceError:
    return ServiceError("ValidationException", message)


def model_max_tokens(model_id: str) -> int:
    for pattern, limit in _MAX_TOKENS:
        if pattern.search(model_id):
            return limit
    return DEFAULT_MODEL_MAX_TOKENS


def check_model_id(model_id: str) -> None:
    arn = _MODEL_ARN.match(model_id)
    core = arn.group("rest") if arn else model_id
    if _NOT_TEXT.search(core):
        raise _invalid("This action doesn't support the model that you provided. Try again with a supported text "
                       "or chat model.")
    if not arn and not _MODEL_ID.match(model_id):
        raise _invalid("The provided model identifier is invalid.")


class ConverseEmulator(Emulator):
    """bedrock-runtime Converse over a local LLM host, with optional guardrails."""

    service = "bedrock-runtime"

    def __init__(self, llm: Any,
                 guardrails: GuardrailEmulator | GuardrailEngine | dict[str, GuardrailEngine | dict] | None = None, *,
                 default_max_tokens: int = 512):
        """``llm``: a :class:`~docpipe_local.engines.llm.LocalLLM` (or anything with its ``n_ctx``,
        ``prompt_tokens`` and ``generate``); ``guardrails``: the ApplyGuardrail emulator to share, one engine
        (served under its ``guardrail_id``), or a mapping id -> engine or Properties."""
        self.llm = llm
        if isinstance(guardrails, GuardrailEngine):
            guardrails = {guardrails.guardrail_id: guardrails}
        if isinstance(guardrails, dict):
            guardrails = GuardrailEmulator(guardrails)
        self.guardrails = guardrails
        self.default_max_tokens = default_max_tokens

    # -- request parsing -------------------------------------------------------------------------------
    @staticmethod
    def _messages(params: dict) -> list[dict]:
        messages = params.get("messages") or []
        if not messages or messages[0]["role"] != "user":
            raise _invalid("A conversation must start with a user message. Try again with a conversation that "
                           "starts with a user message.")
        for i, message in enumerate(messages):
            if i and message["role"] == messages[i - 1]["role"]:
                raise _invalid("A conversation must alternate between user and assistant roles. Make sure the "
                               "conversation alternates between user and assistant roles and try again.")
            if not message["content"]:
                raise _invalid(f"The content field in the Message object at messages.{i} is empty. Add a "
                               "ContentBlock object to the content field and try again.")
            for j, block in enumerate(message["content"]):
                for key, kind in _UNSUPPORTED_BLOCKS.items():
                    if key in block:
                        raise _invalid(f"This model doesn't support the {kind} content block that you provided. "
                                       "Try again with a different model or content block.")
                text = block.get("text", block.get("guardContent", {}).get("text", {}).get("text"))
                if "cachePoint" not in block and (text is None or not text.strip()):
                    raise _invalid(f"The text field in the ContentBlock object at messages.{i}.content.{j} is "
                                   "blank. Add text to the text field, and try again.")
        return messages

    @staticmethod
    def _inference(params: dict, model_id: str, default_max: int) -> tuple[int, float, float, list[str]]:
        config = params.get("inferenceConfig") or {}
        limit = model_max_tokens(model_id)
        max_tokens = config.get("maxTokens", min(default_max, limit))
        if max_tokens > limit:
            raise _invalid(f"The maximum tokens you requested exceeds the model limit of {limit}. Try again with a "
                           f"maximum tokens value that is lower than {limit}.")
        for name, default in (("temperature", 0.7), ("topP", 0.9)):
            value = config.get(name, default)
            if not 0 <= value <= 1:
                raise _invalid(f"1 validation error detected: Value '{value}' at 'inferenceConfig.{name}' failed to "
                               "satisfy constraint: Member must have value less than or equal to 1")
        return max_tokens, config.get("temperature", 0.7), config.get("topP", 0.9), list(config.get("stopSequences") or [])

    def _engine(self, params: dict) -> tuple[GuardrailEngine | None, dict]:
        config = params.get("guardrailConfig")
        if not config:
            return None, {}
        if not config.get("guardrailIdentifier") or not config.get("guardrailVersion"):
            raise _invalid("Both guardrailIdentifier and guardrailVersion must be specified in guardrailConfig.")
        if self.guardrails is None:
            raise _invalid("The guardrail identifier or version provided in the request does not exist.")
        engine = self.guardrails.engine_for(config["guardrailIdentifier"], config["guardrailVersion"],
                                            missing="ValidationException")
        return engine, config

    # -- the operations ----------------------------------------------------------------------------------
    def Converse(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._converse(params)

    def ConverseStream(self, params: dict[str, Any]) -> dict[str, Any]:
        """Converse's answer as Bedrock's event stream, text sent as the model decodes it.

        With a guardrail the answer is assessed before any of it is sent, as Bedrock's synchronous stream
        processing mode does; it then arrives in one delta. A validation error is raised before the stream
        starts (the caller gets it as the HTTP error, as from Bedrock)."""
        updates: queue.Queue = queue.Queue()
        streaming = not params.get("guardrailConfig")

        def run() -> None:
            try:
                on_text = (lambda text: updates.put(("text", text))) if streaming else None
                updates.put(("done", self._converse(params, on_text)))
            except BaseException as err:  # noqa: BLE001 -- handed to the caller's thread
                updates.put(("error", err))

        threading.Thread(target=run, name="converse-stream", daemon=True).start()
        first = updates.get()
        if first[0] == "error":
            raise first[1]
        holdback = max((len(stop) for stop in (params.get("inferenceConfig") or {}).get("stopSequences") or ()),
                       default=0)
        return {"stream": _stream_events(first, updates, holdback)}

    def InvokeModelWithResponseStream(self, params: dict[str, Any]) -> dict[str, Any]:
        """The model's own streaming chunks for an Anthropic Messages, Nova ``messages-v1``, Titan Text or Llama
        body.

        The body becomes the equivalent Converse request, answered by :meth:`ConverseStream` (so the same
        validations, guardrail and token-by-token text); its events are rewritten into the model family's
        native chunks, each an event-stream ``chunk`` whose ``bytes`` are one JSON object, the last one
        carrying ``amazon-bedrock-invocationMetrics`` as Bedrock's does."""
        started = time.perf_counter()
        family, converse = _converse_request(params)
        turns = [{"role": m["role"], "content": m["content"][0]["text"]} for m in converse["messages"]]
        system = "\n\n".join(block["text"] for block in converse.get("system", ())) or None
        input_tokens = self.llm.prompt_tokens(turns, system) if family != "nova" else 0
        events = self.ConverseStream(converse)["stream"]
        if family == "anthropic":
            chunks = _anthropic_chunks(events, params["modelId"], input_tokens)
        elif family == "nova":
            chunks = _nova_chunks(events)
        else:
            chunks = _piece_chunks(events, input_tokens, family)
        return {"body": _with_invocation_metrics(chunks, started, "guardrailConfig" in converse),
                "contentType": "application/json"}

    def InvokeModel(self, params: dict[str, Any]) -> dict[str, Any]:
        """The model's own response body for an Anthropic Messages, Nova ``messages-v1``, Titan Text or Llama body.

        The body becomes the same Converse request as for the stream, answered by :meth:`Converse`; the answer
        is written in the family's response shape. With a guardrail the body also carries
        ``amazon-bedrock-guardrailAction`` (and ``amazon-bedrock-trace`` when asked for), as Bedrock's does;
        the token counts and latency go in the ``X-Amzn-Bedrock-*`` response headers."""
        family, converse = _converse_request(params)
        answer = self._converse(converse)
        text = answer["output"]["message"]["content"][0]["text"]
        usage, reason = answer["usage"], answer["stopReason"]
        if family == "anthropic":
            # Converse does not say which stop sequence ended the text: named when there was only one
            stops = converse["inferenceConfig"].get("stopSequences") or []
            stop_sequence = stops[0] if reason == "stop_sequence" and len(stops) == 1 else None
            body: dict[str, Any] = {
                "id": f"msg_bdrk_{uuid.uuid4().hex[:24]}", "type": "message", "role": "assistant",
                "model": params["modelId"], "content": [{"type": "text", "text": text}],
                # a guardrail's intervention is told by amazon-bedrock-guardrailAction, not by a stop reason
                "stop_reason": "end_turn" if reason == "guardrail_intervened" else reason,
                "stop_sequence": stop_sequence,
                "usage": {"input_tokens": usage["inputTokens"], "output_tokens": usage["outputTokens"]}}
        elif family == "titan":
            body = {"inputTextTokenCount": usage["inputTokens"],
                    "results": [{"tokenCount": usage["outputTokens"], "outputText": text,
                                 "completionReason": _TITAN_REASONS.get(reason, "FINISH")}]}
        elif family == "llama":
            body = {"generation": text, "prompt_token_count": usage["inputTokens"],
                    "generation_token_count": usage["outputTokens"], "stop_reason": _llama_reason(reason)}
        else:
            body = {"output": answer["output"], "stopReason": reason, "usage": usage}
        if "guardrailConfig" in converse:
            body["amazon-bedrock-guardrailAction"] = "INTERVENED" if reason == "guardrail_intervened" else "NONE"
            if "trace" in answer:
                body["amazon-bedrock-trace"] = answer["trace"]
        return {"body": streaming_body(json.dumps(body, ensure_ascii=False).encode()),
                "contentType": "application/json",
                RESPONSE_HEADERS: {"x-amzn-bedrock-input-token-count": str(usage["inputTokens"]),
                                   "x-amzn-bedrock-output-token-count": str(usage["outputTokens"]),
                                   "x-amzn-bedrock-invocation-latency": str(answer["metrics"]["latencyMs"])}}

    def _converse(self, params: dict[str, Any], on_text: Any = None) -> dict[str, Any]:
        started = time.perf_counter()
        model_id = params["modelId"]
        check_model_id(model_id)
        if params.get("toolConfig"):
            raise _invalid("This model doesn't support tool use.")
        messages = self._messages(params)
        max_tokens, temperature, top_p, stops = self._inference(params, model_id, self.default_max_tokens)
        engine, guard_config = self._engine(params)

        # what the model reads: text and guardContent blocks, one string per message
        system_blocks = params.get("system") or []
        guarded = [(i, j) for i, m in enumerate(messages) for j, b in enumerate(m["content"]) if "guardContent" in b]
        system_guarded = [k for k, b in enumerate(system_blocks) if "guardContent" in b]
        texts = {(i, j): (b["text"] if "text" in b else b["guardContent"]["text"]["text"])
                 for i, m in enumerate(messages) for j, b in enumerate(m["content"]) if "cachePoint" not in b}
        system_texts = {k: (b["text"] if "text" in b else b["guardContent"]["text"]["text"])
                        for k, b in enumerate(system_blocks) if "text" in b or "guardContent" in b}

        def conversation() -> tuple[list[dict], str | None]:
            turns = [{"role": m["role"], "content": "\n".join(texts[(i, j)] for j in range(len(m["content"]))
                                                             if (i, j) in texts)}
                     for i, m in enumerate(messages)]
            system = "\n\n".join(system_texts[k] for k in sorted(system_texts)) or None
            return turns, system

        turns, system = conversation()
        input_tokens = self.llm.prompt_tokens(turns, system)
        if input_tokens >= self.llm.n_ctx:
            raise _invalid("Input is too long for requested model.")

        trace_mode = guard_config.get("trace", "disabled")
        scope = "FULL" if trace_mode == "enabled_full" else "INTERVENTIONS"
        guard_trace: dict[str, Any] = {}
        guardrail_key = guard_config.get("guardrailIdentifier", "")

        if engine is not None:
            # guardContent blocks, when present, are all that is assessed; else every message's text
            if guarded or system_guarded:
                keys = [("m", key) for key in guarded] + [("s", k) for k in system_guarded]
            else:
                keys = [("m", key) for key in texts]
            assessed = engine.apply([texts[k] if where == "m" else system_texts[k] for where, k in keys],
                                    source="INPUT", output_scope=scope)
            guard_trace["inputAssessment"] = {guardrail_key: assessed["assessments"][0]}
            if assessed["action"] == "GUARDRAIL_INTERVENED":
                if assessed["actionReason"] == "Guardrail blocked.":
                    return self._response(assessed["outputs"][0]["text"], "guardrail_intervened", 0, 0, started,
                                          trace_mode, {**guard_trace, "actionReason": assessed["actionReason"]})
                for (where, k), output in zip(keys, assessed["outputs"]):  # masked: the model reads the masks
                    (texts if where == "m" else system_texts)[k] = output["text"]
                turns, system = conversation()

        try:
            streaming = {"on_text": on_text} if on_text is not None else {}
            result = self.llm.generate(turns, system=system, max_tokens=max_tokens, temperature=temperature,
                                       top_p=top_p, stop=stops, **streaming)
        except ValueError as exc:  # the prompt grew past the window after masking: same answer as above
            raise _invalid("Input is too long for requested model.") from exc
        text, reason = result.text, result.stop_reason

        if engine is not None:
            checked = engine.apply([text], source="OUTPUT", output_scope=scope)
            guard_trace["outputAssessments"] = {guardrail_key: checked["assessments"]}
            if checked["action"] == "GUARDRAIL_INTERVENED":
                guard_trace["modelOutput"] = [text]
                guard_trace["actionReason"] = checked["actionReason"]
                text, reason = checked["outputs"][0]["text"], "guardrail_intervened"
            else:
                guard_trace.setdefault("actionReason", "No action.")
        return self._response(text, reason, result.input_tokens, result.output_tokens, started, trace_mode, guard_trace)

    @staticmethod
    def _response(text: str, reason: str, input_tokens: int, output_tokens: int, started: float, trace_mode: str,
                  guard_trace: dict) -> dict[str, Any]:
        response: dict[str, Any] = {
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": reason,
            "usage": {"inputTokens": input_tokens, "outputTokens": output_tokens,
                      "totalTokens": input_tokens + output_tokens},
            "metrics": {"latencyMs": int(round((time.perf_counter() - started) * 1000))},
        }
        if trace_mode in ("enabled", "enabled_full") and guard_trace:
            response["trace"] = {"guardrail": guard_trace}
        return response


def _stream_events(first: tuple[str, Any], updates: queue.Queue, holdback: int):
    """ConverseStream's events: messageStart, text deltas, contentBlockStop, messageStop, metadata.

    Decoded text grows token by token. A delta is what was not sent yet, less what the final answer could
    still drop: the last `holdback` characters (a stop sequence may be forming) and trailing whitespace."""
    yield {"messageStart": {"role": "assistant"}}
    sent = ""
    update = first
    while update[0] == "text":
        text = update[1].lstrip()
        text = text[:len(text) - holdback].rstrip()
        if len(text) > len(sent) and text.startswith(sent):
            yield {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": text[len(sent):]}}}
            sent = text
        update = updates.get()
    if update[0] == "error":
        raise update[1]
    response = update[1]
    final = response["output"]["message"]["content"][0]["text"]
    rest = final[len(sent):] if final.startswith(sent) else ""
    if rest or not sent:
        yield {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": rest}}}
    yield {"contentBlockStop": {"contentBlockIndex": 0}}
    yield {"messageStop": {"stopReason": response["stopReason"]}}
    metadata = {"usage": response["usage"], "metrics": response["metrics"]}
    if "trace" in response:
        metadata["trace"] = response["trace"]
    yield {"metadata": metadata}


# -- InvokeModelWithResponseStream: native bodies in, native chunks out ---------------------------------------

def _malformed(detail: str) -> ServiceError:
    return _invalid(f"Malformed input request: {detail}, please reformat your input and try again.")


def _body_json(params: dict) -> dict:
    content_type = (params.get("contentType") or "application/json").split(";")[0].strip().lower()
    accept = (params.get("accept") or "application/json").split(";")[0].strip().lower()
    if content_type != "application/json" or accept not in ("application/json", "*/*"):
        raise _invalid("The provided content type or accept header is not supported by this model: "
                       "use application/json.")
    body = params.get("body") or b""
    body = body.read() if hasattr(body, "read") else body
    try:
        request = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _malformed("#: expected type: JSONObject") from None
    if not isinstance(request, dict):
        raise _malformed("#: expected type: JSONObject")
    return request


def _block_text(content: Any, where: str) -> str:
    """A message's text: a plain string, or its text blocks (Anthropic ``{"type": "text"}``, Nova ``{"text"}``)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list) or not content:
        raise _malformed(f"{where}: expected a non-empty list of content blocks")
    texts = []
    for block in content:
        if not isinstance(block, dict) or not isinstance(block.get("text"), str) or \
                block.get("type", "text") != "text":
            raise _malformed(f"{where}: only text content blocks are supported offline")
        texts.append(block["text"])
    return "\n".join(texts)


def _converse_request(params: dict) -> tuple[str, dict]:
    """("anthropic" | "nova" | "titan" | "llama", the Converse request that asks the same), from the parameters of
    InvokeModel or InvokeModelWithResponseStream."""
    model_id = params["modelId"]
    check_model_id(model_id)
    request = _body_json(params)
    if "anthropic." in model_id or "amazon.nova" in model_id or "anthropic_version" in request:
        family, converse = _messages_request(model_id, request)
    elif "messages" in request:
        # Mistral Large, OpenAI's and other chat bodies: answered in shapes of their own ("choices"...), not Nova's
        raise _invalid("Only Anthropic Messages and Amazon Nova messages-v1 bodies are emulated offline for a "
                       "messages body on InvokeModel and InvokeModelWithResponseStream; this model's chat body "
                       "format is not (Converse is emulated for every text model).")
    else:
        # Mistral, Cohere and AI21 bodies carry a "prompt" or a "message" of shapes of their own
        family = "titan" if "amazon.titan-text" in model_id and "inputText" in request else \
            "llama" if "meta.llama" in model_id and "prompt" in request else None
        if family is None:
            raise _invalid("Only Anthropic Messages, Amazon Nova messages-v1, Amazon Titan Text and Meta Llama "
                           "bodies are emulated offline for InvokeModel and InvokeModelWithResponseStream; this "
                           "model's prompt body format is not.")
        converse = _prompt_request(model_id, request, titan=family == "titan")
    if params.get("guardrailIdentifier") or params.get("guardrailVersion"):
        converse["guardrailConfig"] = {"guardrailIdentifier": params.get("guardrailIdentifier"),
                                       "guardrailVersion": params.get("guardrailVersion"),
                                       "trace": (params.get("trace") or "DISABLED").lower()}
    return family, converse


def _messages_request(model_id: str, request: dict) -> tuple[str, dict]:
    """An Anthropic Messages or Nova ``messages-v1`` body as a Converse request."""
    anthropic = "anthropic." in model_id or "anthropic_version" in request
    messages = request.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) and "role" in m for m in messages):
        raise _malformed("#: required key [messages] not found" if messages is None else
                         "#/messages: expected a list of messages with a role")
    converse: dict[str, Any] = {"modelId": model_id, "messages": [
        {"role": m["role"], "content": [{"text": _block_text(m.get("content"), f"#/messages/{i}/content")}]}
        for i, m in enumerate(messages)]}
    system = request.get("system")
    if system:
        converse["system"] = [{"text": _block_text(system, "#/system")}]
    if anthropic:
        if "max_tokens" not in request:
            raise _malformed("#: required key [max_tokens] not found")
        names = {"max_tokens": "maxTokens", "temperature": "temperature", "top_p": "topP",
                 "stop_sequences": "stopSequences"}
        config = {names[key]: value for key, value in request.items() if key in names}
    else:
        given = request.get("inferenceConfig") or {}
        names = {"max_new_tokens": "maxTokens", "maxTokens": "maxTokens", "temperature": "temperature",
                 "topP": "topP", "top_p": "topP", "stopSequences": "stopSequences"}
        config = {names[key]: value for key, value in given.items() if key in names}
    converse["inferenceConfig"] = config
    return ("anthropic" if anthropic else "nova"), converse


# Llama 3's turns: <|start_header_id|>role<|end_header_id|> text <|eot_id|>; the last, empty assistant header
# is where the answer goes
_LLAMA_TURN = re.compile(r"<\|start_header_id\|>\s*(system|user|assistant)\s*<\|end_header_id\|>(.*?)(?=<\|eot_id\|>|"
                         r"<\|start_header_id\|>|$)", re.S)
_LLAMA_MARKUP = re.compile(r"<\|[a-z_]+\|>|\[/?INST\]|</?s>|<</?SYS>>")
_TITAN_REASONS = {"end_turn": "FINISH", "max_tokens": "LENGTH", "stop_sequence": "STOP_CRITERIA_MET",
                  "model_context_window_exceeded": "LENGTH"}  # a guardrail's action has a field of its own
DEFAULT_PROMPT_MAX_TOKENS = 512  # Titan Text's maxTokenCount and Llama's max_gen_len when the body gives none


def _prompt_request(model_id: str, request: dict, *, titan: bool) -> dict:
    """A Titan Text (``inputText``, ``textGenerationConfig``) or Meta Llama (``prompt``, ``max_gen_len``,
    ``temperature``, ``top_p``) body as a Converse request."""
    key = "inputText" if titan else "prompt"
    prompt = request[key]
    if not isinstance(prompt, str):
        raise _malformed(f"#/{key}: expected type: String, found: {type(prompt).__name__}")
    if titan:
        given = request.get("textGenerationConfig") or {}
        names = {"maxTokenCount": "maxTokens", "temperature": "temperature", "topP": "topP",
                 "stopSequences": "stopSequences"}
        turns = [("user", prompt.strip())]
    else:
        given, names = request, {"max_gen_len": "maxTokens", "temperature": "temperature", "top_p": "topP"}
        turns = [(role, _LLAMA_MARKUP.sub("", text).strip()) for role, text in _LLAMA_TURN.findall(prompt)]
        turns = [turn for turn in turns if turn[1]] or [("user", _LLAMA_MARKUP.sub("", prompt).strip())]
    converse: dict[str, Any] = {"modelId": model_id, "messages": [
        {"role": role, "content": [{"text": text}]} for role, text in turns if role != "system"]}
    system = [text for role, text in turns if role == "system"]
    if system:
        converse["system"] = [{"text": "\n\n".join(system)}]
    converse["inferenceConfig"] = {"maxTokens": DEFAULT_PROMPT_MAX_TOKENS,
                                   **{names[k]: value for k, value in given.items() if k in names}}
    return converse


def _llama_reason(stop_reason: str) -> str:
    return "length" if stop_reason in ("max_tokens", "model_context_window_exceeded") else "stop"


def _anthropic_chunks(events: Any, model_id: str, input_tokens: int):
    """Anthropic Messages streaming events: message_start, content block start/deltas/stop, message_delta
    (stop reason, output tokens) and message_stop."""
    stop_reason = "end_turn"
    for event in events:
        if "messageStart" in event:
            yield {"type": "message_start", "message": {
                "id": f"msg_bdrk_{uuid.uuid4().hex[:24]}", "type": "message", "role": "assistant",
                "model": model_id, "content": [], "stop_reason": None, "stop_sequence": None,
                "usage": {"input_tokens": input_tokens, "output_tokens": 0}}}
            yield {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
        elif "contentBlockDelta" in event:
            yield {"type": "content_block_delta", "index": 0,
                   "delta": {"type": "text_delta", "text": event["contentBlockDelta"]["delta"]["text"]}}
        elif "contentBlockStop" in event:
            yield {"type": "content_block_stop", "index": 0}
        elif "messageStop" in event:
            stop_reason = event["messageStop"]["stopReason"]
        elif "metadata" in event:
            usage = event["metadata"]["usage"]
            # a guardrail's intervention is told by amazon-bedrock-guardrailAction, not by a stop reason
            yield {"type": "message_delta", "delta": {
                "stop_reason": "end_turn" if stop_reason == "guardrail_intervened" else stop_reason,
                "stop_sequence": None}, "usage": {"output_tokens": usage["outputTokens"]}}
            yield {"type": "message_stop", "_usage": usage, "_trace": event["metadata"].get("trace"),
                   "_intervened": stop_reason == "guardrail_intervened"}


def _nova_chunks(events: Any):
    """Amazon Nova's streaming chunks: Converse's own event shapes, one event per chunk."""
    stop_reason = None
    for event in events:
        if "messageStop" in event:
            stop_reason = event["messageStop"]["stopReason"]
        if "metadata" in event:
            metadata = event["metadata"]
            yield {"metadata": {"usage": {"inputTokens": metadata["usage"]["inputTokens"],
                                          "outputTokens": metadata["usage"]["outputTokens"]},
                                "metrics": {}, "trace": {}}, **_closing(metadata, stop_reason)}
        else:
            yield event


def _closing(metadata: dict, stop_reason: str | None) -> dict:
    """What :func:`_with_invocation_metrics` reads off a family's last chunk (and removes from it)."""
    return {"_usage": metadata["usage"], "_trace": metadata.get("trace"),
            "_intervened": stop_reason == "guardrail_intervened"}


def _piece_chunks(events: Any, input_tokens: int, family: str):
    """Titan Text's or Llama's streaming chunks: one per piece of text the model decodes (the prompt's token count
    on the first), then a last one with the stop reason and the output token count (shapes: ``_PIECES``)."""
    piece, last = _PIECES[family]
    stop_reason, pieces = None, 0
    for event in events:
        if "contentBlockDelta" in event:
            pieces += 1
            yield piece(event["contentBlockDelta"]["delta"]["text"], pieces, input_tokens if pieces == 1 else None)
        elif "messageStop" in event:
            stop_reason = event["messageStop"]["stopReason"]
        elif "metadata" in event:
            yield {**last(event["metadata"]["usage"]["outputTokens"], stop_reason,
                          input_tokens if pieces == 0 else None), **_closing(event["metadata"], stop_reason)}


# (a piece's chunk from its text, the pieces so far and the prompt's tokens; the last chunk from the output's
# tokens, the stop reason and the prompt's tokens), as Bedrock streams each family
_PIECES = {
    "titan": (lambda text, _, prompt: {"outputText": text, "index": 0, "totalOutputTextTokenCount": None,
                                       "completionReason": None, "inputTextTokenCount": prompt},
              lambda output, reason, prompt: {"outputText": "", "index": 0, "totalOutputTextTokenCount": output,
                                              "completionReason": _TITAN_REASONS.get(reason, "FINISH"),
                                              "inputTextTokenCount": prompt}),
    "llama": (lambda text, pieces, prompt: {"generation": text, "prompt_token_count": prompt,
                                            "generation_token_count": pieces, "stop_reason": None},
              lambda output, reason, prompt: {"generation": "", "prompt_token_count": prompt,
                                              "generation_token_count": output, "stop_reason": _llama_reason(reason)}),
}


def _with_invocation_metrics(chunks: Any, started: float, guarded: bool):
    """Each chunk as an event-stream ``chunk`` event; the last one (which carries ``_usage``) gets Bedrock's
    invocation metrics, and with a guardrail its action (and trace, when asked for)."""
    first_byte = None
    for chunk in chunks:
        if first_byte is None:
            first_byte = int(round((time.perf_counter() - started) * 1000))
        usage, trace, intervened = chunk.pop("_usage", None), chunk.pop("_trace", None), chunk.pop("_intervened", False)
        if usage is not None:
            chunk["amazon-bedrock-invocationMetrics"] = {
                "inputTokenCount": usage["inputTokens"], "outputTokenCount": usage["outputTokens"],
                "invocationLatency": int(round((time.perf_counter() - started) * 1000)),
                "firstByteLatency": first_byte}
            if guarded:
                chunk["amazon-bedrock-guardrailAction"] = "INTERVENED" if intervened else "NONE"
                if trace:
                    chunk["amazon-bedrock-trace"] = trace
        yield {"chunk": {"bytes": json.dumps(chunk, ensure_ascii=False).encode()}}
