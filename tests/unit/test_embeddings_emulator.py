"""MiniLM on OpenVINO against the PyTorch reference, and the Titan embeddings emulator through boto3."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import boto3
import numpy as np
import pytest
from botocore.config import Config

from docpipe_local.emulators.base import EmulatorHub, FaultInjector, parse_faults
from docpipe_local.emulators.bedrock_embeddings import TitanEmbeddingsEmulator, project, projection
from docpipe_local.engines.minilm import MicroBatcher, MiniLMEngine, get_engine

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


def same_vectors(a, b, minimum: float = 0.99999) -> bool:
    """Row by row cosine: bfloat16 results move in the 4th decimal with the batch's shape (padding, order)."""
    a, b = np.atleast_2d(a).astype(np.float64), np.atleast_2d(b).astype(np.float64)
    rows = (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return bool(rows.min() >= minimum)


# -- the engine ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("precision, minimum", [(None, 0.9999), ("f32", 0.999999)],
                         ids=["cpu-default-precision", "float32"])
def test_engine_matches_the_pytorch_reference(engine, precision, minimum):
    """The default is bfloat16 where the CPU has it natively (measured >= 0.99996), float32 elsewhere."""
    items = REFERENCE["items"]
    assert REFERENCE["weights"]["sha256"] == "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    model = engine if precision is None else MiniLMEngine(precision=precision)
    vectors = model.encode([item["text"] for item in items])
    assert vectors.shape == (len(items), 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    for item, vector in zip(items, vectors):
        similarity = cosine(vector, item["vector"])
        assert similarity >= minimum, (item["text"][:40], similarity)
        assert model.count_tokens(item["text"]) == item["tokens"]
    if precision == "f32":  # float32 is exact: the batch's shape changes nothing beyond rounding
        assert np.allclose(vectors, np.vstack([model.encode([item["text"]]) for item in items]), atol=1e-5)


def test_the_precision_is_checked(monkeypatch):
    with pytest.raises(ValueError, match="precision"):
        MiniLMEngine(precision="int4")
    monkeypatch.setenv("DOCPIPE_MINILM_PRECISION", "f32")
    assert MiniLMEngine().precision == "f32"


def test_batching_order_and_threads_do_not_change_vectors(engine):
    texts = [item["text"] for item in REFERENCE["items"]]
    batched = engine.encode(texts, batch_size=7)
    one_by_one = np.vstack([engine.encode([t]) for t in texts])
    assert same_vectors(batched, one_by_one)
    assert same_vectors(engine.encode(texts[::-1])[::-1], batched)
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
    assert not errors and all(same_vectors(r, batched) for r in results.values())
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
        q = q.astype(np.float64)  # stored as float32: orthonormal to float32 rounding
        assert q.shape == (size, 384) and np.allclose(q.T @ q, np.eye(384), atol=1e-6)
    p = projection(256).astype(np.float64)
    assert p.shape == (256, 384) and np.allclose(p @ p.T, np.eye(256) * (384 / 256), atol=1e-6)
    x = np.linspace(-1, 1, 384).astype(np.float32)
    assert np.array_equal(project(x, 1024, normalize=True), project(x.copy(), 1024, normalize=True))
    assert all(project(x, size, normalize=True).dtype == np.float32 for size in (256, 512, 1024, 1536))
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


# -- micro-batching ------------------------------------------------------------------------------------------
class CountingEngine:
    """The real engine, counting the batches it is asked to encode (and failing on a marked input)."""

    def __init__(self, engine, poison: str | None = None):
        self.engine, self.poison = engine, poison
        self.batches: list[int] = []
        self._lock = threading.Lock()

    def tokenize(self, text):
        return self.engine.tokenize(text)

    def encode_ids_many(self, token_ids, **kwargs):
        with self._lock:
            self.batches.append(len(token_ids))
        if self.poison is not None:
            marker = self.engine.tokenize(self.poison)
            if any(ids[:len(marker)] == marker for ids in token_ids):
                raise ValueError("the model cannot read this input")
        return self.engine.encode_ids_many(token_ids, **kwargs)


def run_threads(count, work):
    """Start ``count`` threads together (barrier) and return {index: result or exception}."""
    barrier, results = threading.Barrier(count), {}

    def runner(index):
        barrier.wait()
        try:
            results[index] = work(index)
        except Exception as exc:  # noqa: BLE001 - checked by the caller
            results[index] = exc

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a caller never got its answer"
    return results


def bedrock_client(hub_engine, **emulator_kwargs):
    hub = EmulatorHub()
    emulator = hub.register(TitanEmbeddingsEmulator(hub_engine, **emulator_kwargs))
    client = boto3.client("bedrock-runtime", region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing",
                          config=Config(retries={"max_attempts": 1}, max_pool_connections=32))
    return hub, emulator, client


TEXTS_16 = [item["text"] or "empty reference text" for item in REFERENCE["items"]][:12] + [
    "Step Functions passes pointers between states.", "A second pier bearing needs replacement.",
    " ".join(f"Long paragraph {i} about embeddings, windows and batches." for i in range(60)),  # > 1 window
    "Short."]


def test_concurrent_calls_are_coalesced_into_fewer_batches_with_the_same_vectors(engine):
    assert len(TEXTS_16) == 16
    # unbatched reference: the same emulator with coalescing off
    hub, _, client = bedrock_client(engine, max_batch=1)
    with hub:
        expected = [invoke(client, {"inputText": t, "dimensions": 1024}) for t in TEXTS_16]
    counting = CountingEngine(engine)
    hub, emulator, client = bedrock_client(counting)  # default settings: no wait, calls queue behind 2 batches
    with hub:
        results = run_threads(16, lambda i: invoke(client, {"inputText": TEXTS_16[i], "dimensions": 1024}))
    assert all(not isinstance(r, Exception) for r in results.values()), results
    for i, reference in enumerate(expected):
        got = results[i]
        assert set(got) == set(reference) and len(got["embedding"]) == 1024
        assert got["inputTextTokenCount"] == reference["inputTextTokenCount"]
        assert cosine(got["embedding"], reference["embedding"]) >= 0.9999, TEXTS_16[i][:40]
    assert sum(counting.batches) == 16  # every call embedded exactly once
    assert len(counting.batches) < 16 and max(counting.batches) > 1, counting.batches
    assert emulator.batcher.calls == 16 and emulator.batcher.batches == len(counting.batches)
    assert emulator.invocations == 16  # usage is still counted per call
    assert emulator.input_tokens == sum(r["inputTextTokenCount"] for r in expected)


def test_a_failing_input_in_a_batch_fails_only_its_caller(engine):
    counting = CountingEngine(engine, poison="POISON")
    hub, emulator, client = bedrock_client(counting, max_wait_s=0.05)
    texts = [f"Chunk {i} of the bridge report." for i in range(15)] + ["POISON chunk"]
    with hub:
        results = run_threads(16, lambda i: invoke(client, {"inputText": texts[i]}))
        # a request Bedrock refuses never joins a batch and fails alone too
        refused = run_threads(4, lambda i: invoke(client, {"inputText": "" if i == 0 else f"fine {i}"}))
    assert isinstance(results[15], ValueError) and "cannot read" in str(results[15])
    assert max(counting.batches) > 1  # the poisoned input did share a batch with others
    for i in range(15):
        assert not isinstance(results[i], Exception), results[i]
        assert cosine(results[i]["embedding"], invoke_unbatched(engine, texts[i])) >= 0.9999
    assert isinstance(refused[0], client.exceptions.ValidationException)
    assert all(len(refused[i]["embedding"]) == 1024 for i in (1, 2, 3))
    assert emulator.invocations == 15 + 3


def invoke_unbatched(engine, text):
    return project(engine.encode_long(text, normalize=False)[0], 1024, normalize=True)


class RecordingCondition(threading.Condition):
    """A Condition that counts the waits that ended by timing out rather than by a notify."""

    def __init__(self):
        super().__init__()
        self.waits, self.timed_out = [], 0

    def wait(self, timeout=None):
        self.waits.append(timeout)
        notified = super().wait(timeout)
        self.timed_out += not notified
        return notified


class FakeClock:
    """time.monotonic for docpipe_local.engines.minilm, moved on by the waits of condition(): a timed wait with
    nobody to notify it returns at once, its whole timeout spent on this clock."""

    def __init__(self, monkeypatch):
        import types

        from docpipe_local.engines import minilm

        self.now, self.waits, self.timed_out = 0.0, [], 0
        monkeypatch.setattr(minilm, "time", types.SimpleNamespace(monotonic=lambda: self.now))

    def condition(self) -> threading.Condition:
        clock = self

        class Clocked(threading.Condition):
            def wait(self, timeout=None):
                assert timeout is not None, "an untimed wait would hang a lone caller"
                clock.waits.append(timeout)
                clock.now += timeout
                clock.timed_out += 1
                return False
        return Clocked()


def test_micro_batcher_errors_order_and_waiting(engine, monkeypatch):
    batcher = MicroBatcher(lambda texts: engine.encode_long_many(texts, normalize=True), max_wait_s=0.05)
    texts = ["alpha beta", "gamma", 42, "delta epsilon zeta", "eta"]
    results = run_threads(len(texts), lambda i: batcher(texts[i]))
    assert isinstance(results[2], TypeError)  # the non-string fails its own caller only
    for i in (0, 1, 3, 4):
        vector, count = results[i]
        assert count == engine.count_tokens(texts[i])
        assert cosine(vector, engine.encode([texts[i]])[0]) >= 0.9999
    assert batcher.calls == 5 and batcher.batches < 5

    # a lone caller waits out one window (2 ms by default) on the batcher's clock, not for a full batch
    with monkeypatch.context() as patched:
        clock = FakeClock(patched)
        quick = MicroBatcher(lambda items: [item * 2 for item in items])
        quick._cond = clock.condition()
        assert quick(21) == 42 and quick.batches == 1
    assert clock.now == pytest.approx(quick.max_wait_s) and clock.timed_out == len(clock.waits) >= 1
    # a full batch runs as soon as it is full: the leader is woken by the last caller, not by its window
    full = MicroBatcher(lambda items: [item + 1 for item in items], max_batch=4, max_wait_s=30)
    full._cond = RecordingCondition()
    assert run_threads(4, full) == {0: 1, 1: 2, 2: 3, 3: 4}
    assert full.batches == 1 and not full._cond.timed_out  # every wait ended by a notify
    # a batch that returns the wrong number of results is re-run item by item: nobody gets another's result
    broken = MicroBatcher(lambda items: items[:1], max_wait_s=0.05)
    outcomes = run_threads(3, broken)
    assert outcomes == {0: 0, 1: 1, 2: 2}  # re-run one by one, each gets its own
    # coalescing off: direct calls
    direct = MicroBatcher(lambda items: [len(items)], max_batch=1)
    assert run_threads(3, direct) == {0: 1, 1: 1, 2: 1} and direct.batches == 3
    with pytest.raises(ValueError):
        MicroBatcher(lambda items: items, max_batch=0)
    with pytest.raises(ValueError):
        MicroBatcher(lambda items: items, max_inflight=0)
    with pytest.raises(ValueError, match="go together"):
        MicroBatcher(lambda items: items, size=len)


def test_micro_batcher_packs_the_queued_items_that_pad_least():
    gate, first_taken, batches = threading.Event(), threading.Event(), []

    def run(items):
        batches.append(list(items))
        if len(batches) == 1:
            first_taken.set()
            gate.wait(30)  # the other callers queue up behind this batch
        return [len(item) for item in items]

    # items are token-id lists: a batch pads them to its longest, and may hold 100 padded tokens
    batcher = MicroBatcher(run, max_batch=4, max_wait_s=0, max_inflight=1, size=len, max_padded=100)
    sizes = [10, 60, 12, 45, 11, 30, 9, 50, 25]
    results: dict[int, object] = {}
    first = threading.Thread(target=lambda: results.setdefault(0, batcher([0] * sizes[0])))
    first.start()
    assert first_taken.wait(10)
    others = [threading.Thread(target=lambda i=i: results.setdefault(i, batcher([0] * sizes[i])))
              for i in range(1, len(sizes))]
    for thread in others:
        thread.start()
    deadline = time.monotonic() + 10
    while len(batcher._pending) < len(others) and time.monotonic() < deadline:
        time.sleep(0.001)
    queued = [len(slot.item) for slot in batcher._pending]  # arrival order
    gate.set()
    for thread in [first, *others]:
        thread.join(10)
    assert results == {i: size for i, size in enumerate(sizes)}  # everyone got their own answer
    assert sorted(len(item) for batch in batches for item in batch) == sorted(sizes)  # each item once
    for batch in batches:
        assert len(batch) <= 4 and len(batch) * max(len(item) for item in batch) <= 100
    # the second batch: the oldest queued item, then the queued items nearest its size, while they fit
    oldest, rest = queued[0], sorted(queued[1:], key=lambda size: abs(size - queued[0]))
    expected = [oldest]
    for size in rest:
        if len(expected) < 4 and (len(expected) + 1) * max(*expected, size) <= 100:
            expected.append(size)
    assert sorted(len(item) for item in batches[1]) == sorted(expected)


def test_titan_calls_are_batched_by_the_width_the_engine_pads_them_to(engine):
    emulator = TitanEmbeddingsEmulator(engine)
    # 163 word pieces + [CLS] + [SEP] = 165, padded to 176: three such calls do not fit one 512-token batch
    # (counted unpadded they did, and the engine then ran them as a pair and a single)
    assert emulator._padded_size([1000] * 163) == engine.padded_width(165) == 176
    assert 3 * emulator._padded_size([1000] * 163) > engine.max_batch_tokens >= 2 * 176
    assert emulator._padded_size([1000] * 9000) == engine.max_seq_length  # a long input: its first window
    assert emulator.batcher._size == emulator._padded_size


class Arrivals:
    """Counts the callers that arrived; a batch waits for all of them, so the others queue behind it
    (an event, not a sleep that hopes they do)."""

    def __init__(self, expected: int):
        self.expected, self.count, self._cond = expected, 0, threading.Condition()

    def arrive(self) -> None:
        with self._cond:
            self.count += 1
            self._cond.notify_all()

    def wait_for_all(self) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: self.count == self.expected, 60), f"{self.count} callers came"


@pytest.mark.parametrize("max_inflight", [1, 2])
def test_micro_batcher_bounds_the_batches_in_flight(max_inflight):
    lock, state = threading.Lock(), {"now": 0, "peak": 0, "sizes": []}
    arrivals = Arrivals(12)

    def slow(items):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
            state["sizes"].append(len(items))
        arrivals.wait_for_all()  # the batches in flight stay in flight until every caller is queued
        with lock:
            state["now"] -= 1
        return [item * 10 for item in items]

    batcher = MicroBatcher(slow, max_batch=3, max_inflight=max_inflight)

    def call(item):
        arrivals.arrive()
        return batcher(item)
    assert run_threads(12, call) == {i: i * 10 for i in range(12)}
    assert state["peak"] <= max_inflight and max(state["sizes"]) <= 3
    assert sum(state["sizes"]) == 12 and batcher.batches == len(state["sizes"]) < 12


def test_encode_long_many_matches_encode_long(engine):
    texts = TEXTS_16[:6] + [TEXTS_16[14]]
    many = engine.encode_long_many(texts)
    for text, (vector, count) in zip(texts, many):
        single, single_count = engine.encode_long(text)
        assert count == single_count and cosine(vector, single) >= 0.99999
    assert engine.encode_long_many([]) == []
    with pytest.raises(TypeError):
        engine.encode_long_many("a string")


def test_coalesced_lists_are_embedded_together_and_each_caller_gets_its_own(engine):
    from docpipe_local.engines.minilm import coalesced

    calls = []
    pages = [[f"Page {p} sentence {s} about bridge bearings and inspections." for s in range(p % 4 + 1)]
             for p in range(12)]
    arrivals = Arrivals(len(pages))

    def encode(texts):
        calls.append(len(texts))
        arrivals.wait_for_all()  # the other callers queue behind the calls in flight
        return engine.encode(texts)

    embed = coalesced(encode)

    def call(i):
        arrivals.arrive()
        return embed(pages[i])
    results = run_threads(len(pages), call)
    for i, texts in enumerate(pages):
        assert results[i].shape == (len(texts), 384)
        for got, expected in zip(results[i], engine.encode(texts)):
            assert cosine(got, expected) >= 0.9999
    assert sum(calls) == sum(len(texts) for texts in pages) and len(calls) < len(pages)
    assert embed([]).shape == (0, 384)


def test_batches_are_padded_to_a_few_widths_without_changing_the_vectors(engine):
    widths = [engine.padded_width(n) for n in range(2, 257)]
    assert len(set(widths)) <= 40 and all(n <= w <= max(n + 3, n * 9 // 8) for n, w in zip(range(2, 257), widths))
    assert engine.padded_width(256) == 256 and engine.padded_width(250) == 256  # never past the window
    text = "A pier bearing on the north span needs replacement before winter."
    padded = engine.encode([text])[0]  # alone, then padded to a longer batch-mate
    together = engine.encode([text, text + " The inspection team proposes a load limit."])[0]
    assert cosine(padded, together) >= 0.9999
