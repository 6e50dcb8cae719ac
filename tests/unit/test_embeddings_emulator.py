"""MiniLM on ONNX Runtime against the PyTorch reference, and the Titan embeddings emulator through boto3."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import boto3
import numpy as np
import pytest
from botocore.config import Config

from docpipe_local.emulators.base import EmulatorHub, FaultInjector, parse_faults
from docpipe_local.emulators.bedrock_embeddings import TitanEmbeddingsEmulator, project, projection
from docpipe_local.engines.minilm import MiniLMEngine, get_engine

REFERENCE = json.loads((Path(__file__).resolve().parents[1] / "data" / "minilm_reference.json").read_text("utf-8"))
V2 = "amazon.titan-embed-text-v2:0"


@pytest.fixture(scope="module")
def engine() -> MiniLMEngine:
    return get_engine().warm_up()


@pytest.fixture
def bedrock(engine):
    hub = EmulatorHub()
    emulator = hub.register(TitanEmbeddingsEmulator(engine))
    with hub:
        client = boto3.client("bedrock-runtime", region_name="us-east-1", aws_access_key_id="testing",
                              aws_secret_access_key="testing", config=Config(retries={"max_attempts": 1}))
        yield client, emulator, hub


def invoke(client, body, model=V2):
    response = client.invoke_model(modelId=model, body=json.dumps(body), contentType="application/json",
                                   accept="application/json")
    assert response["contentType"] == "application/json"
    return json.loads(response["body"].read())


def cosine(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# -- the engine ----------------------------------------------------------------------------------------------
def test_int8_onnx_matches_the_pytorch_reference(engine):
    items = REFERENCE["items"]
    assert REFERENCE["weights"]["sha256"] == "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    vectors = engine.encode([item["text"] for item in items])
    assert vectors.shape == (len(items), 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    for item, vector in zip(items, vectors):
        similarity = cosine(vector, item["vector"])
        # the empty text is [CLS][SEP] alone: int8 rounding weighs more there (measured 0.9963)
        assert similarity >= (0.999 if item["text"] else 0.995), (item["text"][:40], similarity)
        assert engine.count_tokens(item["text"]) == item["tokens"]


def test_batching_order_and_threads_do_not_change_vectors(engine):
    texts = [item["text"] for item in REFERENCE["items"]]
    batched = engine.encode(texts, batch_size=7)
    one_by_one = np.vstack([engine.encode([t]) for t in texts])
    assert np.allclose(batched, one_by_one, atol=1e-5)
    assert np.allclose(engine.encode(texts[::-1])[::-1], batched, atol=1e-5)
    results, errors = {}, []

    def work(worker):
        try:
            results[worker] = engine.encode(texts)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and all(np.allclose(r, batched, atol=1e-5) for r in results.values())
    assert engine.encode([]).shape == (0, 384)
    with pytest.raises(TypeError):
        engine.encode("a string, not a list")
    assert get_engine() is get_engine()


def test_long_texts_average_windows(engine):
    long_item = REFERENCE["items"][-1]
    assert long_item["tokens"] > 256
    vector, tokens = engine.encode_long(long_item["text"])
    assert tokens == long_item["tokens"] and abs(np.linalg.norm(vector) - 1) < 1e-5
    assert cosine(vector, engine.encode([long_item["text"]])[0]) > 0.9  # same topic, more text seen
    short = "A short text fits one window."
    assert np.allclose(engine.encode_long(short)[0], engine.encode([short])[0], atol=1e-5)


# -- the emulator --------------------------------------------------------------------------------------------
def test_v2_default_shape(bedrock, engine):
    client, _, _ = bedrock
    body = invoke(client, {"inputText": "Vector indexes store embeddings."})
    assert set(body) == {"embedding", "embeddingsByType", "inputTextTokenCount"}
    assert len(body["embedding"]) == 1024 and body["embeddingsByType"] == {"float": body["embedding"]}
    assert body["inputTextTokenCount"] == engine.count_tokens("Vector indexes store embeddings.")
    assert abs(np.linalg.norm(body["embedding"]) - 1) < 1e-5
    again = invoke(client, {"inputText": "Vector indexes store embeddings."})
    assert again == body  # deterministic


@pytest.mark.parametrize("dimensions", [256, 512, 1024])
def test_dimensions_normalization_and_cosine(bedrock, engine, dimensions):
    client, _, _ = bedrock
    texts = ["How do I reset my password?", "Steps to change a forgotten password", "The harbour bridge opened in 1932."]
    vectors = [invoke(client, {"inputText": t, "dimensions": dimensions})["embedding"] for t in texts]
    assert all(len(v) == dimensions and abs(np.linalg.norm(v) - 1) < 1e-5 for v in vectors)
    base = engine.encode(texts)
    for i in range(3):
        for j in range(i + 1, 3):
            expected, got = float(base[i] @ base[j]), cosine(vectors[i], vectors[j])
            # exact for 512/1024 (orthonormal columns); 256 is a random projection (documented approximation)
            assert got == pytest.approx(expected, abs=1e-5 if dimensions >= 512 else 0.15)
    # the ranking that retrieval relies on survives at every size
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])

    raw = invoke(client, {"inputText": texts[0], "dimensions": dimensions, "normalize": False})["embedding"]
    pooled = engine.encode([texts[0]], normalize=False)[0]
    assert cosine(raw, vectors[0]) == pytest.approx(1.0, abs=1e-6)
    if dimensions >= 512:
        assert np.linalg.norm(raw) == pytest.approx(np.linalg.norm(pooled), rel=1e-5)


def test_binary_embeddings(bedrock):
    client, _, _ = bedrock
    both = invoke(client, {"inputText": "binary please", "dimensions": 256, "embeddingTypes": ["float", "binary"]})
    floats, bits = both["embeddingsByType"]["float"], both["embeddingsByType"]["binary"]
    assert bits == [1 if x > 0 else 0 for x in floats] and set(bits) == {0, 1}
    only = invoke(client, {"inputText": "binary please", "dimensions": 256, "embeddingTypes": ["binary"]})
    assert set(only["embeddingsByType"]) == {"binary"} and only["embedding"] == floats


def test_projection_is_fixed_and_orthonormal():
    for size in (512, 1024, 1536):
        q = projection(size)
        assert q.shape == (size, 384) and np.allclose(q.T @ q, np.eye(384), atol=1e-10)
    p = projection(256)
    assert p.shape == (256, 384) and np.allclose(p @ p.T, np.eye(256) * (384 / 256), atol=1e-10)
    x = np.linspace(-1, 1, 384).astype(np.float32)
    assert np.array_equal(project(x, 1024, normalize=True), project(x.copy(), 1024, normalize=True))
    # pinned: the same seed must give the same vectors on every machine, or stored indexes go stale
    pinned = {256: [0.055153, -0.042402, -0.047765], 512: [0.029702, 0.021764, -0.005567],
              1024: [-0.000723, 0.006786, -0.018646]}
    for size, values in pinned.items():
        assert project(x, size, normalize=True)[:3].tolist() == pytest.approx(values, abs=2e-6)


def test_v1_shape(bedrock, engine):
    client, _, _ = bedrock
    for model in ("amazon.titan-embed-text-v1", "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v1"):
        body = invoke(client, {"inputText": "legacy model"}, model=model)
        assert set(body) == {"embedding", "inputTextTokenCount"} and len(body["embedding"]) == 1536
        pooled = engine.encode(["legacy model"], normalize=False)[0]
        assert np.linalg.norm(body["embedding"]) == pytest.approx(np.linalg.norm(pooled), rel=1e-5)
    with pytest.raises(client.exceptions.ValidationException, match="extraneous key \\[dimensions\\]"):
        invoke(client, {"inputText": "x", "dimensions": 256}, model="amazon.titan-embed-text-v1")


def test_long_inputs_within_the_limits_are_embedded(bedrock, engine):
    client, emulator, _ = bedrock
    text = " ".join(f"Paragraph {i} explains how the ingestion stage embeds chunks." for i in range(300))
    tokens = engine.count_tokens(text)
    assert 256 < tokens <= 8192 and len(text) <= 50_000
    body = invoke(client, {"inputText": text, "dimensions": 512})
    assert body["inputTextTokenCount"] == tokens
    expected = project(engine.encode_long(text, normalize=False)[0], 512, normalize=True)
    assert cosine(body["embedding"], expected) > 0.99999


def test_errors(bedrock):
    client, _, _ = bedrock
    cases = [
        ({"inputText": ""}, "#/inputText: expected minLength: 1, actual: 0"),
        ({"dimensions": 256}, "required key [inputText] not found"),
        ({"inputText": "x", "dimensions": 384}, "#/dimensions: 384 is not a valid enum value"),
        ({"inputText": "x", "dimensions": "256"}, "#/dimensions: expected type: Integer"),
        ({"inputText": "x", "normalize": "yes"}, "#/normalize: expected type: Boolean"),
        ({"inputText": "x", "embeddingTypes": ["int8"]}, "#/embeddingTypes/0: int8 is not a valid enum value"),
        ({"inputText": "x", "embeddingTypes": []}, "#/embeddingTypes: expected minimum item count: 1"),
        ({"inputText": "x", "topK": 3}, "extraneous key [topK] is not permitted"),
        ({"inputText": "a" * 50_001}, "#/inputText: expected maxLength: 50000, actual: 50001"),
        ({"inputText": "1 " * 9000}, "Too many input tokens. Max input tokens: 8192, request input token count: 9000"),
    ]
    for body, message in cases:
        with pytest.raises(client.exceptions.ValidationException) as excinfo:
            invoke(client, body)
        assert message in excinfo.value.response["Error"]["Message"], body
    for model in ("amazon.titan-embed-text-v3:0", "cohere.embed-english-v3", "amazon.titan-embed-image-v1"):
        with pytest.raises(client.exceptions.ValidationException) as excinfo:
            invoke(client, {"inputText": "x"}, model=model)
        assert excinfo.value.response["Error"]["Message"] == "The provided model identifier is invalid."
    with pytest.raises(client.exceptions.ValidationException):
        client.invoke_model(modelId=V2, body=b"not json")
    with pytest.raises(client.exceptions.ValidationException):
        client.invoke_model(modelId=V2, body=json.dumps({"inputText": "x"}), contentType="text/plain")


def test_calls_are_counted(bedrock):
    client, emulator, hub = bedrock
    for text in ("one", "two", "three"):
        invoke(client, {"inputText": text})
    with pytest.raises(client.exceptions.ValidationException):
        invoke(client, {"inputText": ""})
    assert hub.count("bedrock-runtime", "InvokeModel") == 4  # every call that reached the service
    assert emulator.invocations == 3 and emulator.input_tokens == 3  # embeddings actually computed


def test_throttling_comes_from_the_hub(engine):
    hub = EmulatorHub(FaultInjector(parse_faults("bedrock-runtime.InvokeModel=ThrottlingException@1")))
    emulator = hub.register(TitanEmbeddingsEmulator(engine))
    with hub:
        client = boto3.client("bedrock-runtime", region_name="us-east-1", aws_access_key_id="testing",
                              aws_secret_access_key="testing", config=Config(retries={"max_attempts": 1}))
        with pytest.raises(client.exceptions.ThrottlingException):
            invoke(client, {"inputText": "x"})
    assert emulator.invocations == 0
