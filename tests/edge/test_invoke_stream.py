"""InvokeModelWithResponseStream over `docpipe serve`: the body's event stream of native chunks, on the wire."""

import json

import pytest
from botocore.exceptions import ClientError

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
QUESTION = "List three fruits."


def body(**extra) -> bytes:
    return json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 40, "temperature": 0,
                       "messages": [{"role": "user", "content": [{"type": "text", "text": QUESTION}]}],
                       **extra}).encode()


def test_chunks_arrive_in_pieces_and_add_up_to_the_converse_answer(client):
    bedrock = client("bedrock-runtime")
    whole = bedrock.converse(modelId=MODEL, messages=[{"role": "user", "content": [{"text": QUESTION}]}],
                             inferenceConfig={"maxTokens": 40, "temperature": 0})
    response = bedrock.invoke_model_with_response_stream(modelId=MODEL, body=body())
    assert response["contentType"] == "application/json"
    parts = [json.loads(event["chunk"]["bytes"]) for event in response["body"]]
    deltas = [part["delta"]["text"] for part in parts if part["type"] == "content_block_delta"]
    assert len(deltas) > 3
    assert "".join(deltas) == whole["output"]["message"]["content"][0]["text"]
    assert parts[-1]["type"] == "message_stop"
    assert parts[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == whole["usage"]["outputTokens"]


@pytest.mark.parametrize("bad", [b"{not json", body(max_tokens=10**6)])
def test_a_bad_body_is_a_validation_exception(client, bad):
    with pytest.raises(ClientError) as raised:
        client("bedrock-runtime").invoke_model_with_response_stream(modelId=MODEL, body=bad)
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_the_guardrail_headers_are_honoured(client):
    """X-Amzn-Bedrock-GuardrailIdentifier reaches the emulator: a guardrail that does not exist is refused."""
    with pytest.raises(ClientError) as raised:
        client("bedrock-runtime").invoke_model_with_response_stream(
            modelId=MODEL, body=body(), guardrailIdentifier="no-such-guardrail", guardrailVersion="1")
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert "guardrail" in raised.value.response["Error"]["Message"]


def test_text_invoke_model_answers_with_the_messages_body(client):
    """Non-streaming InvokeModel for a text model id on the wire: the Converse emulator's answer in Anthropic's
    body, while the same client's embedding call still reaches the Titan emulator."""
    bedrock = client("bedrock-runtime")
    whole = bedrock.converse(modelId=MODEL, messages=[{"role": "user", "content": [{"text": QUESTION}]}],
                             inferenceConfig={"maxTokens": 40, "temperature": 0})
    answer = json.loads(bedrock.invoke_model(modelId=MODEL, body=body())["body"].read())
    assert answer["type"] == "message"
    assert answer["content"] == [{"type": "text", "text": whole["output"]["message"]["content"][0]["text"]}]
    assert answer["usage"]["output_tokens"] == whole["usage"]["outputTokens"]
    embedded = json.loads(bedrock.invoke_model(modelId="amazon.titan-embed-text-v2:0",
                                               body=json.dumps({"inputText": QUESTION}))["body"].read())
    assert len(embedded["embedding"]) == 1024
