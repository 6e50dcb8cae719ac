"""Embeddings from Bedrock (Titan Text Embeddings V2 request shape), with a DynamoDB cache.

A text whose content hash was embedded before with the same model, dimensions and normalization is served
from the cache and not paid for again. Misses are embedded with bounded concurrency; throttling is retried
with exponential backoff and full jitter until it succeeds or the attempts run out (then the task fails and
the state machine retries it: nothing is dropped).

Vectors travel packed (float32 bytes, :func:`pack_vector`) from the InvokeModel response to the cache and
the embeddings file: a 1,024-float vector is 4 KB packed (5.5 KB as base64) against about 20 KB of JSON
numbers, which also take longer to write and to read back.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from array import array
from dataclasses import dataclass

from botocore.exceptions import ClientError

from docpipe import workers
from docpipe.clients import client
from docpipe.errors import TRANSIENT
from docpipe.settings import get_settings

_MAX_ATTEMPTS = 8


@dataclass
class EmbeddingRun:
    packed: list[bytes]  # one float32 vector per text, in order (pack_vector)
    calls: int = 0
    cache_hits: int = 0
    input_tokens: int = 0
    cache_reads: int = 0
    cache_writes: int = 0

    @property
    def vectors(self) -> list[list[float]]:
        return [unpack_vector(data) for data in self.packed]


def pack_vector(vector: list[float]) -> bytes:
    """float32 in the machine's byte order: little-endian on Lambda's x86_64 and arm64 alike."""
    return array("f", vector).tobytes()


def unpack_vector(data: bytes) -> list[float]:
    values = array("f")
    values.frombytes(data)
    return values.tolist()


def cache_key(text: str) -> str:
    settings = get_settings()
    digest = hashlib.sha256(text.encode()).hexdigest()
    return f"{settings.embedding_model_id}#{settings.embedding_dimensions}#{int(settings.embedding_normalize)}#{digest}"


def embed_one(text: str) -> tuple[bytes, int]:
    """One InvokeModel call, retried on throttling; returns the packed vector and the input token count."""
    settings = get_settings()
    body = json.dumps({"inputText": text, "dimensions": settings.embedding_dimensions,
                       "normalize": settings.embedding_normalize})
    for attempt in range(_MAX_ATTEMPTS):
        try:
            response = client("bedrock-runtime").invoke_model(
                modelId=settings.embedding_model_id, body=body, contentType="application/json",
                accept="application/json")
            payload = json.loads(response["body"].read())
            return pack_vector(payload["embedding"]), payload.get("inputTextTokenCount", 0)
        except ClientError as err:
            if err.response["Error"]["Code"] not in TRANSIENT or attempt == _MAX_ATTEMPTS - 1:
                raise
            time.sleep(random.uniform(0, min(8.0, 0.1 * 2 ** attempt)))  # full jitter
    raise AssertionError("unreachable")


def embed_texts(texts: list[str], *, use_cache: bool = True) -> EmbeddingRun:
    settings = get_settings()
    keys = [cache_key(text) for text in texts]
    caching = use_cache and bool(settings.embedding_cache_table)
    cached = _cache_get(set(keys)) if caching else {}
    run = EmbeddingRun(packed=[], cache_hits=sum(1 for key in keys if key in cached),
                       cache_reads=len(set(keys)) if caching else 0)
    misses = {key: text for key, text in zip(keys, texts) if key not in cached}
    # longest first: with bounded concurrency the slowest calls do not start last and leave the workers idle
    # behind them, and the calls in flight together are of similar length (the offline emulator coalesces
    # them into batches that pad little)
    order = sorted(misses, key=lambda key: len(misses[key]), reverse=True)
    fresh = dict(zip(order, workers.map_in_order("embed", settings.embedding_concurrency, embed_one,
                                                 [misses[key] for key in order])))
    run.calls = len(fresh)
    run.input_tokens = sum(tokens for _, tokens in fresh.values())
    if caching and fresh:
        run.cache_writes = _cache_put({key: vector for key, (vector, _) in fresh.items()})
    vectors = {**cached, **{key: vector for key, (vector, _) in fresh.items()}}
    run.packed = [vectors[key] for key in keys]
    return run


def _cache_get(keys: set[str]) -> dict[str, bytes]:
    table, found = get_settings().embedding_cache_table, {}
    pending = [{"cache_key": {"S": key}} for key in keys]
    while pending:
        batch, pending = pending[:100], pending[100:]
        request = {table: {"Keys": batch, "ProjectionExpression": "cache_key, vector"}}
        while request:
            response = client("dynamodb").batch_get_item(RequestItems=request)
            for item in response["Responses"].get(table, []):
                found[item["cache_key"]["S"]] = item["vector"]["B"]
            request = response.get("UnprocessedKeys") or None
    return found


def _cache_put(vectors: dict[str, bytes]) -> int:
    settings = get_settings()
    expires = str(int(time.time()) + settings.embedding_cache_ttl_days * 86400)
    writes = [{"PutRequest": {"Item": {"cache_key": {"S": key}, "vector": {"B": vector},
                                       "expires_at": {"N": expires}}}} for key, vector in vectors.items()]
    for start in range(0, len(writes), 25):
        request = {settings.embedding_cache_table: writes[start:start + 25]}
        while request:
            request = client("dynamodb").batch_write_item(RequestItems=request).get("UnprocessedItems") or None
    return len(writes)
