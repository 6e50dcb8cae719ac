"""Bedrock InvokeModelWithResponseStream offline: native Anthropic, Nova, Titan Text and Llama bodies through a real boto3 client,
answered token by token by the Converse emulator's local model (greedy, short generations)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.unit.test_converse_emulator import BLOCK_BRIDGE, BLOCKED_OUT, bedrock_runtime, llm  # noqa: F401 -- llm is a fixture

pytestmark = pytest.mark.requires(
    modules=["llama_cpp", "stdnum", "phonenumbers"],
    why="the stream runs on llama-cpp-python; the guardrail engine needs python-stdnum and phonenumbers.")

QUESTION = "List three fruits."
ANTHROPIC = "anthropic.claude-3-haiku-20240307-v1:0"
NOVA = "amazon.nova-lite-v1:0"
TITAN = "amazon.titan-text-express-v1"
LLAMA = "meta.llama3-8b-instruct-v1:0"


@pytest.fixture
def client(llm, monkeypatch):  # noqa: F811
    with bedrock_runtime(llm, monkeypatch, {"blockbridge": BLOCK_BRIDGE}) as runtime_client:
        yield runtime_client


def anthropic_body(text: str = QUESTION) -> bytes:
    return json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 40, "temperature": 0,
                       "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}]}).encode()


def nova_body(text: str = QUESTION) -> bytes:
    return json.dumps({"schemaVersion": "messages-v1", "messages": [{"role": "user", "content": [{"text": text}]}],
                       "inferenceConfig": {"max_new_tokens": 40, "temperature": 0}}).encode()


def titan_body(text: str = QUESTION, max_tokens: int = 40) -> bytes:
    return json.dumps({"inputText": text, "textGenerationConfig": {"maxTokenCount": max_tokens, "temperature": 0}}).encode()


def llama_body(text: str = QUESTION, max_tokens: int = 40) -> bytes:
    prompt = (f"<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n{text}<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\n")
    return json.dumps({"prompt": prompt, "max_gen_len": max_tokens, "temperature": 0}).encode()


def chunks(response: dict) -> list[dict]:
    events = list(response["body"])
    assert all(set(event) == {"chunk"} for event in events)
    return [json.loads(event["chunk"]["bytes"]) for event in events]


def converse_text(client, model: str, text: str = QUESTION) -> dict:
    return client.converse(modelId=model, messages=[{"role": "user", "content": [{"text": text}]}],
                           inferenceConfig={"maxTokens": 40, "temperature": 0})


def test_anthropic_chunks_are_messages_stream_events_and_add_up_to_the_answer(client):
    whole = converse_text(client, ANTHROPIC)
    parts = chunks(client.invoke_model_with_response_stream(modelId=ANTHROPIC, body=anthropic_body()))
    kinds = [part["type"] for part in parts]
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    deltas = [part["delta"] for part in parts if part["type"] == "content_block_delta"]
    assert len(deltas) > 3 and all(delta["type"] == "text_delta" for delta in deltas)  # as the model decodes
    assert "".join(delta["text"] for delta in deltas) == whole["output"]["message"]["content"][0]["text"]
    assert parts[0]["message"]["usage"]["input_tokens"] == whole["usage"]["inputTokens"]
    assert parts[-2]["usage"]["output_tokens"] == whole["usage"]["outputTokens"]
    assert parts[-2]["delta"]["stop_reason"] == whole["stopReason"]
    metrics = parts[-1]["amazon-bedrock-invocationMetrics"]
    assert metrics["inputTokenCount"] == whole["usage"]["inputTokens"]
    assert metrics["outputTokenCount"] == whole["usage"]["outputTokens"]
    assert 0 <= metrics["firstByteLatency"] <= metrics["invocationLatency"]
    assert all("amazon-bedrock-invocationMetrics" not in part for part in parts[:-1])


def test_nova_chunks_are_nova_stream_events_and_add_up_to_the_answer(client):
    whole = converse_text(client, NOVA)
    parts = chunks(client.invoke_model_with_response_stream(modelId=NOVA, body=nova_body()))
    assert next(iter(parts[0])) == "messageStart"
    deltas = [part["contentBlockDelta"]["delta"]["text"] for part in parts if "contentBlockDelta" in part]
    assert len(deltas) > 3
    assert "".join(deltas) == whole["output"]["message"]["content"][0]["text"]
    assert parts[-1]["metadata"]["usage"] == {"inputTokens": whole["usage"]["inputTokens"],
                                              "outputTokens": whole["usage"]["outputTokens"]}
    assert parts[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == whole["usage"]["outputTokens"]


def test_a_guardrail_named_in_the_request_assesses_the_answer(client):
    response = client.invoke_model_with_response_stream(
        modelId=NOVA, body=nova_body("What is a bridge? Answer in one sentence."),
        guardrailIdentifier="blockbridge", guardrailVersion="DRAFT")
    parts = chunks(response)
    text = "".join(part["contentBlockDelta"]["delta"]["text"] for part in parts if "contentBlockDelta" in part)
    assert text == BLOCKED_OUT
    assert parts[-1]["amazon-bedrock-guardrailAction"] == "INTERVENED"


@pytest.mark.parametrize("body, model", [
    (b"not json", NOVA),
    (json.dumps({"anthropic_version": "bedrock-2023-05-31",
                 "messages": [{"role": "user", "content": "hi"}]}).encode(), ANTHROPIC),  # no max_tokens
    (json.dumps({"schemaVersion": "messages-v1"}).encode(), NOVA),  # no messages
    (json.dumps({"messages": [{"role": "assistant", "content": [{"text": "hi"}]}]}).encode(), NOVA),
])
def test_a_bad_body_is_a_validation_exception_before_any_stream(client, body, model):
    with pytest.raises(ClientError) as raised:
        client.invoke_model_with_response_stream(modelId=model, body=body)
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize("model, body, piece, reason, input_count", [
    (TITAN, titan_body(), "outputText", "completionReason", "inputTextTokenCount"),
    (LLAMA, llama_body(), "generation", "stop_reason", "prompt_token_count"),
])
def test_titan_and_llama_chunks_add_up_to_the_answer(client, model, body, piece, reason, input_count):
    whole = converse_text(client, model)  # the same question as one user turn: the same greedy answer
    parts = chunks(client.invoke_model_with_response_stream(modelId=model, body=body))
    assert len(parts) > 3 and all(part[reason] is None for part in parts[:-1])  # as the model decodes
    assert "".join(part[piece] for part in parts) == whole["output"]["message"]["content"][0]["text"]
    assert parts[0][input_count] == whole["usage"]["inputTokens"]
    assert parts[-1][reason] == {"end_turn": {TITAN: "FINISH", LLAMA: "stop"},
                                 "max_tokens": {TITAN: "LENGTH", LLAMA: "length"}}[whole["stopReason"]][model]
    metrics = parts[-1]["amazon-bedrock-invocationMetrics"]
    assert metrics["outputTokenCount"] == whole["usage"]["outputTokens"]
    assert all("amazon-bedrock-invocationMetrics" not in part for part in parts[:-1])


def test_an_unknown_guardrail_is_a_validation_exception(client):
    with pytest.raises(ClientError) as raised:
        client.invoke_model_with_response_stream(modelId=NOVA, body=nova_body(), guardrailIdentifier="nope",
                                                 guardrailVersion="1")
    assert raised.value.response["Error"]["Code"] == "ValidationException"
