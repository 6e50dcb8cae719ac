"""Bedrock InvokeModel for text offline: Anthropic Messages, Nova, Titan Text and Llama bodies answered by the Converse emulator's
local model in each family's native response body, while Titan embedding model ids still reach the embeddings
emulator (the hub routes InvokeModel by model id), registered in the order `docpipe_local.runtime` uses."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from docpipe_local.emulators.bedrock_embeddings import TitanEmbeddingsEmulator
from tests.unit.test_converse_emulator import BLOCK_BRIDGE, BLOCKED_OUT, bedrock_runtime, llm  # noqa: F401 -- llm is a fixture
from tests.unit.test_invoke_stream import (ANTHROPIC, LLAMA, NOVA, QUESTION, TITAN, anthropic_body, converse_text,
                                           llama_body, nova_body, titan_body)

pytestmark = pytest.mark.requires(
    modules=["llama_cpp", "stdnum", "phonenumbers"],
    why="the answers come from llama-cpp-python; the guardrail engine needs python-stdnum and phonenumbers.")


@pytest.fixture
def client(llm, monkeypatch):  # noqa: F811
    # Titan first, as in the runtime: it must decline text model ids
    with bedrock_runtime(llm, monkeypatch, {"blockbridge": BLOCK_BRIDGE}, TitanEmbeddingsEmulator()) as runtime_client:
        yield runtime_client


def invoke(client, model: str, body: bytes, **extra) -> tuple[dict, dict]:
    response = client.invoke_model(modelId=model, body=body, contentType="application/json",
                                   accept="application/json", **extra)
    assert response["contentType"] == "application/json"
    return json.loads(response["body"].read()), response["ResponseMetadata"]["HTTPHeaders"]


def test_anthropic_body_is_answered_with_a_messages_response(client):
    whole = converse_text(client, ANTHROPIC)
    body, headers = invoke(client, ANTHROPIC, anthropic_body())
    assert body["type"] == "message" and body["role"] == "assistant" and body["model"] == ANTHROPIC
    assert body["id"].startswith("msg_")
    assert body["content"] == [{"type": "text", "text": whole["output"]["message"]["content"][0]["text"]}]
    assert body["content"][0]["text"]
    assert body["stop_reason"] == whole["stopReason"]
    assert body["usage"] == {"input_tokens": whole["usage"]["inputTokens"],
                             "output_tokens": whole["usage"]["outputTokens"]}
    assert headers["x-amzn-bedrock-input-token-count"] == str(whole["usage"]["inputTokens"])
    assert headers["x-amzn-bedrock-output-token-count"] == str(whole["usage"]["outputTokens"])
    assert "amazon-bedrock-guardrailAction" not in body  # only with a guardrail


def test_nova_body_is_answered_with_a_nova_response(client):
    whole = converse_text(client, NOVA)
    body, _ = invoke(client, NOVA, nova_body())
    assert body["output"] == {"message": {"role": "assistant",
                                          "content": [{"text": whole["output"]["message"]["content"][0]["text"]}]}}
    assert body["stopReason"] == whole["stopReason"]
    usage = body["usage"]
    assert usage == whole["usage"]
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"] and usage["outputTokens"] > 0


def test_max_tokens_ends_the_answer_with_max_tokens(client):
    body, _ = invoke(client, ANTHROPIC, json.dumps({
        "anthropic_version": "bedrock-2023-05-31", "max_tokens": 3, "temperature": 0,
        "messages": [{"role": "user", "content": "Write a long story about a dragon."}]}).encode())
    assert body["stop_reason"] == "max_tokens" and body["usage"]["output_tokens"] == 3


def test_a_guardrail_named_in_the_request_assesses_the_answer(client):
    body, _ = invoke(client, NOVA, nova_body("What is a bridge? Answer in one sentence."),
                     guardrailIdentifier="blockbridge", guardrailVersion="DRAFT", trace="ENABLED")
    assert body["output"]["message"]["content"] == [{"text": BLOCKED_OUT}]
    assert body["amazon-bedrock-guardrailAction"] == "INTERVENED"
    assert "blockbridge" in body["amazon-bedrock-trace"]["guardrail"]["outputAssessments"]

    passed, _ = invoke(client, ANTHROPIC, anthropic_body(), guardrailIdentifier="blockbridge",
                       guardrailVersion="DRAFT")
    assert passed["amazon-bedrock-guardrailAction"] == "NONE" and "amazon-bedrock-trace" not in passed


def test_a_titan_embedding_model_still_reaches_the_embeddings_emulator(client):
    body, _ = invoke(client, "amazon.titan-embed-text-v2:0",
                     json.dumps({"inputText": "hello", "dimensions": 256}).encode())
    assert len(body["embedding"]) == 256 and body["inputTextTokenCount"] > 0


def test_titan_text_body_is_answered_with_a_titan_response(client):
    whole = converse_text(client, TITAN)
    body, headers = invoke(client, TITAN, titan_body())
    assert body == {"inputTextTokenCount": whole["usage"]["inputTokens"], "results": [{
        "tokenCount": whole["usage"]["outputTokens"], "outputText": whole["output"]["message"]["content"][0]["text"],
        "completionReason": {"end_turn": "FINISH", "max_tokens": "LENGTH"}[whole["stopReason"]]}]}
    assert headers["x-amzn-bedrock-output-token-count"] == str(whole["usage"]["outputTokens"])


def test_a_llama_prompt_is_read_as_the_conversation_its_header_tokens_write(client):
    whole = converse_text(client, LLAMA)  # the prompt's one user turn, in the local model's own chat template
    body, _ = invoke(client, LLAMA, llama_body())
    assert body == {"generation": whole["output"]["message"]["content"][0]["text"],
                    "prompt_token_count": whole["usage"]["inputTokens"],
                    "generation_token_count": whole["usage"]["outputTokens"],
                    "stop_reason": {"end_turn": "stop", "max_tokens": "length"}[whole["stopReason"]]}
    # a system turn is the system prompt: the model reads what Converse's model reads with that system prompt
    # (the same tokens; the text is not compared: the local model reuses the cached prompt of the call before)
    system = json.loads(llama_body())
    system["prompt"] = system["prompt"].replace(
        "<|begin_of_text|>", "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nAnswer briefly.<|eot_id|>")
    told = client.converse(modelId=LLAMA, system=[{"text": "Answer briefly."}],
                           messages=[{"role": "user", "content": [{"text": QUESTION}]}],
                           inferenceConfig={"maxTokens": 40, "temperature": 0})
    briefed, _ = invoke(client, LLAMA, json.dumps(system).encode())
    assert briefed["prompt_token_count"] == told["usage"]["inputTokens"] != body["prompt_token_count"]
    assert briefed["generation"] and briefed["stop_reason"] in ("stop", "length")


@pytest.mark.parametrize("model, body", [
    ("mistral.mistral-7b-instruct-v0:2", json.dumps({"prompt": "<s>[INST] hi [/INST]", "max_tokens": 10}).encode()),
    ("cohere.command-r-v1:0", json.dumps({"message": "hi"}).encode()),
    (LLAMA, json.dumps({"inputText": "hi"}).encode()),  # Titan's body sent to a Llama model
])
def test_another_native_body_says_it_is_not_emulated(client, model, body):
    with pytest.raises(ClientError) as raised:
        invoke(client, model, body)
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    message = raised.value.response["Error"]["Message"]
    assert "emulated offline" in message and "prompt body format is not" in message


@pytest.mark.parametrize("model", ["mistral.mistral-large-2407-v1:0", "openai.gpt-oss-20b-1:0", LLAMA])
def test_a_chat_body_for_a_model_that_answers_in_a_shape_of_its_own_says_it_is_not_emulated(client, model):
    """Mistral Large and OpenAI's models take a "messages" body and answer with "choices"; Llama takes a prompt:
    none of them answers in Nova's shape, which the emulator would otherwise have given them."""
    body = json.dumps({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}).encode()
    with pytest.raises(ClientError) as raised:
        invoke(client, model, body)
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    message = raised.value.response["Error"]["Message"]
    assert "emulated offline" in message and "chat body format is not" in message


@pytest.mark.parametrize("model, body, reason, count", [
    (TITAN, titan_body("Write a long story about a dragon.", max_tokens=3), "LENGTH", "tokenCount"),
    (LLAMA, llama_body("Write a long story about a dragon.", max_tokens=3), "length", "generation_token_count"),
])
def test_a_prompt_bodys_token_limit_ends_the_answer(client, model, body, reason, count):
    answer, _ = invoke(client, model, body)
    answer = answer["results"][0] if model == TITAN else answer
    assert answer[{TITAN: "completionReason", LLAMA: "stop_reason"}[model]] == reason and answer[count] == 3


@pytest.mark.parametrize("model, body, wording", [
    ("no-such.model", nova_body(), "The provided model identifier is invalid."),
    (NOVA, b"not json", "Malformed input request"),
    (ANTHROPIC, json.dumps({"anthropic_version": "bedrock-2023-05-31",
                            "messages": [{"role": "user", "content": "hi"}]}).encode(), "max_tokens"),
    (NOVA, json.dumps({"schemaVersion": "messages-v1"}).encode(), "messages"),
    (TITAN, json.dumps({"inputText": 5}).encode(), "#/inputText: expected type: String"),
    (TITAN, titan_body(max_tokens=9000), "model limit of 8192"),
    (LLAMA, llama_body(max_tokens=4096), "model limit of 2048"),
])
def test_a_bad_request_is_a_validation_exception(client, model, body, wording):
    with pytest.raises(ClientError) as raised:
        invoke(client, model, body)
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert wording in raised.value.response["Error"]["Message"]
