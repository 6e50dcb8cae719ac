"""Bedrock InvokeModel for Amazon Titan Text Embeddings (V2, and the G1/V1 shape), answered by MiniLM.

Request and response follow the Bedrock user guide ("Amazon Titan Embeddings G1 - Text" page):

- V2 ``amazon.titan-embed-text-v2:0``: body ``{"inputText": str, "dimensions": 256|512|1024 (1024),
  "normalize": bool (true), "embeddingTypes": ["float"|"binary", ...] (["float"])}``; response body
  ``{"embedding": [float...], "embeddingsByType": {"float": [...], "binary": [0|1...]},
  "inputTextTokenCount": int}``; ``embedding`` is always the float vector, ``embeddingsByType`` holds the
  requested types. Binary embeddings are the sign bits of the float vector (1 where the value is > 0).
- V1 ``amazon.titan-embed-text-v1`` (and ``...-v1:2:8k``): body ``{"inputText": str}``; response
  ``{"embedding": [1536 floats], "inputTextTokenCount": int}``, not normalized.
- Limits: 8,192 tokens; V2 also 50,000 characters; empty input is refused. Errors are ValidationException
  with Bedrock's wording ("Malformed input request: #/inputText: ...", "400 Bad Request: Too many input
  tokens. Max input tokens: 8192, request input token count: N", "The provided model identifier is
  invalid." for any other model id). Tokens are counted with MiniLM's WordPiece tokenizer, not Titan's.

How the vector is made: all-MiniLM-L6-v2 (384 dims, see ``engines/minilm.py``) embeds the text; a text
longer than one 256-token window is embedded window by window and the windows are averaged. The 384-dim
vector is then mapped into the requested size by a fixed projection, built once from a seeded Gaussian
matrix by QR decomposition (numpy's PCG64 generator, seed ``PROJECTION_SEED + size``):

- 512, 1024 (and V1's 1536): a matrix with 384 orthonormal columns, so y = Q x keeps every inner product
  and norm exactly: cosine similarities are those of MiniLM (to float32 rounding).
- 256: fewer dimensions than MiniLM has, so no linear map can keep all cosines. We use 256 orthonormal rows
  (a random orthogonal projection, scaled by sqrt(384/256) so norms are kept on average); cosine
  similarities are then approximate (Johnson-Lindenstrauss): on the 19 non-empty reference sentences
  (tests/data/minilm_reference.json) the pairwise cosine moved by 0.026 on average and 0.095 at most, and
  each sentence kept its nearest neighbour in 15 of 19 cases.
  Use 512 or 1024 where exact similarity matters.

Micro-batching: Titan takes one text per call, so a client embeds a document with one call per chunk from
a thread pool. Concurrent calls are coalesced into MiniLM batches (``engines.minilm.MicroBatcher``): each
request is tokenized once (its token count is checked against the limit, and the batch embeds these ids);
as many batches run at a time as the engine has CPU streams (``engine.parallel``), and a call that finds one
free starts at once (no wait) with the calls queued behind it that pad least, up to the engine's 512 padded
tokens: two chunk-sized inputs, or a few dozen short ones. Every caller gets its own vector and token
count, and an input that makes a batch fail fails only its own call. Vectors equal the unbatched ones to
float32 rounding (padding within a batch). bench/ingest measures the whole Embed stage against the
engine's own batch call. ``max_batch=1`` (or ``$DOCPIPE_EMBEDDINGS_MAX_BATCH=1``) turns coalescing off;
``$DOCPIPE_EMBEDDINGS_BATCH_WAIT_MS`` makes a batch wait for more calls and ``$DOCPIPE_EMBEDDINGS_MAX_INFLIGHT``
sets the batches in flight. ``batcher.calls`` / ``batcher.batches`` tell how well calls were coalesced.

Call counts: the hub counts every call (``hub.count("bedrock-runtime", "InvokeModel")``); this emulator
also keeps ``invocations`` and ``input_tokens`` for usage accounting.
"""

from __future__ import annotations

import json
import math
import os
import threading
from functools import lru_cache
from typing import Any

import numpy as np
import orjson

from .base import Emulator, ServiceError, streaming_body

V2_MODEL_ID = "amazon.titan-embed-text-v2:0"
V1_MODEL_IDS = ("amazon.titan-embed-text-v1", "amazon.titan-embed-text-v1:2:8k")
V2_DIMENSIONS = (256, 512, 1024)
V2_DEFAULT_DIMENSION = 1024
V1_DIMENSION = 1536
MAX_INPUT_TOKENS = 8192
V2_MAX_INPUT_CHARS = 50_000
PROJECTION_SEED = 20240430
SOURCE_DIMENSION = 384
DEFAULT_MAX_BATCH = 8
DEFAULT_BATCH_WAIT_S = 0.0
MAX_BATCH_ENV = "DOCPIPE_EMBEDDINGS_MAX_BATCH"
BATCH_WAIT_ENV = "DOCPIPE_EMBEDDINGS_BATCH_WAIT_MS"
MAX_INFLIGHT_ENV = "DOCPIPE_EMBEDDINGS_MAX_INFLIGHT"


def _malformed(detail: str) -> ServiceError:
    return ServiceError("ValidationException",
                        f"Malformed input request: {detail}, please reformat your input and try again.", 400)


@lru_cache(maxsize=None)
def projection(size: int) -> np.ndarray:
    """The fixed (size, 384) matrix that maps a MiniLM vector into ``size`` dimensions (built in float64,
    used in float32: a float64 product costs 6x as much and the vectors are float32 anyway)."""
    rng = np.random.Generator(np.random.PCG64(PROJECTION_SEED + size))
    if size >= SOURCE_DIMENSION:
        q, r = np.linalg.qr(rng.standard_normal((size, SOURCE_DIMENSION)))
        matrix = q * np.sign(np.diag(r))  # orthonormal columns; signs fixed so the result is unique
    else:
        q, r = np.linalg.qr(rng.standard_normal((SOURCE_DIMENSION, size)))
        matrix = (q * np.sign(np.diag(r))).T * math.sqrt(SOURCE_DIMENSION / size)  # orthonormal rows, scaled
    return matrix.astype(np.float32)


def project(vector: np.ndarray, size: int, *, normalize: bool) -> np.ndarray:
    out = projection(size) @ vector.astype(np.float32)
    if normalize:
        norm = np.linalg.norm(out)
        out = out / norm if norm > 0 else out
    return out


def _model_name(model_id: str) -> str:
    """``amazon.titan-...`` from a plain model id or a foundation-model ARN."""
    if model_id.startswith("arn:") and "foundation-model/" in model_id:
        return model_id.split("foundation-model/", 1)[1]
    return model_id


def _read_body(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if hasattr(body, "read"):
        data = body.read()
        return data.encode("utf-8") if isinstance(data, str) else data
    raise _malformed("expected type: JSONObject")


class TitanEmbeddingsEmulator(Emulator):
    """Answers bedrock-runtime InvokeModel for the Titan text embedding models."""

    service = "bedrock-runtime"

    def __init__(self, engine=None, *, max_batch: int | None = None, max_wait_s: float | None = None,
                 max_inflight: int | None = None):
        from ..engines.minilm import MicroBatcher

        self._engine = engine
        self._lock = threading.Lock()
        self.invocations = 0
        self.input_tokens = 0
        if max_batch is None:
            max_batch = int(os.environ.get(MAX_BATCH_ENV) or DEFAULT_MAX_BATCH)
        if max_wait_s is None:
            wait_ms = os.environ.get(BATCH_WAIT_ENV)
            max_wait_s = float(wait_ms) / 1000 if wait_ms else DEFAULT_BATCH_WAIT_S
        if max_inflight is None:  # one batch per CPU stream of the engine (measured against one per infer
            # request, 4: the Embed stage alone ran ~3% faster, the whole ingest ~1.5% slower, 3.5% more CPU)
            max_inflight = int(os.environ.get(MAX_INFLIGHT_ENV) or getattr(self.engine, "parallel", 2))
        self.batcher = MicroBatcher(self._encode_batch, max_batch=max_batch, max_wait_s=max_wait_s,
                                    max_inflight=max_inflight, size=self._padded_size,
                                    max_padded=getattr(self.engine, "max_batch_tokens", 512))

    @property
    def engine(self):
        if self._engine is None:
            from ..engines.minilm import get_engine

            self._engine = get_engine()
        return self._engine

    def serves(self, operation: str, params: dict) -> bool:
        """InvokeModel for the Titan embedding models only; other model ids go to the next emulator."""
        return operation != "InvokeModel" or _model_name(params["modelId"]) in (V2_MODEL_ID, *V1_MODEL_IDS)

    def InvokeModel(self, params: dict) -> dict:
        model = _model_name(params["modelId"])
        if model != V2_MODEL_ID and model not in V1_MODEL_IDS:
            raise ServiceError("ValidationException", "The provided model identifier is invalid.", 400)
        content_type = (params.get("contentType") or "application/json").split(";")[0].strip().lower()
        accept = (params.get("accept") or "application/json").split(";")[0].strip().lower()
        if content_type != "application/json" or accept not in ("application/json", "*/*"):
            raise ServiceError("ValidationException",
                               "The provided content type or accept header is not supported by this model: "
                               "use application/json.", 400)
        try:
            request = json.loads(_read_body(params.get("body")) or b"null")
        except (ValueError, UnicodeDecodeError):
            raise _malformed("expected type: JSONObject, found: String") from None
        if not isinstance(request, dict):
            raise _malformed(f"#: expected type: JSONObject, found: {type(request).__name__}")
        body = self._v2(request) if model == V2_MODEL_ID else self._v1(request)
        # orjson writes float32 arrays as their shortest round-trip decimals (as Titan's JSON looks), 20x
        # faster than json.dumps of Python floats, and the client parses the shorter numbers 2.5x faster
        return {"body": streaming_body(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)),
                "contentType": "application/json"}

    # -- request checks ---------------------------------------------------------------------------------
    @staticmethod
    def _text(request: dict, allowed: tuple[str, ...], max_chars: int | None) -> str:
        for key in request:
            if key not in allowed:
                raise _malformed(f"#: extraneous key [{key}] is not permitted")
        if "inputText" not in request:
            raise _malformed("#: required key [inputText] not found")
        text = request["inputText"]
        if not isinstance(text, str):
            raise _malformed(f"#/inputText: expected type: String, found: {_json_type(text)}")
        if len(text) < 1:
            raise _malformed("#/inputText: expected minLength: 1, actual: 0")
        if max_chars is not None and len(text) > max_chars:
            raise _malformed(f"#/inputText: expected maxLength: {max_chars}, actual: {len(text)}")
        return text

    def _embed(self, text: str) -> tuple[np.ndarray, int]:
        ids = self.engine.tokenize(text)  # counted once, and the batch embeds these very ids
        if len(ids) > MAX_INPUT_TOKENS:
            raise ServiceError("ValidationException",
                               f"400 Bad Request: Too many input tokens. Max input tokens: {MAX_INPUT_TOKENS}, "
                               f"request input token count: {len(ids)}", 400)
        vector, count = self.batcher(ids)
        with self._lock:
            self.invocations += 1
            self.input_tokens += count
        return vector, count

    def _padded_size(self, ids: list[int]) -> int:
        """An input's width in the engine's padded batch (its first window, [CLS] and [SEP] included): the
        batcher's budget is the engine's, so a batch it forms is one engine batch. Counting unpadded
        lengths, three 165-token chunks fit 512 but are padded to 176, and the engine ran them as a pair and
        a single."""
        length = min(len(ids), getattr(self.engine, "max_seq_length", 256) - 2) + 2
        padded_width = getattr(self.engine, "padded_width", None)
        return padded_width(length) if padded_width else length

    def _encode_batch(self, token_ids: list[list[int]]) -> list[tuple[np.ndarray, int]]:
        """Pooled (not normalized) MiniLM vectors and token counts for the inputs of concurrent calls."""
        return self.engine.encode_ids_many(token_ids, normalize=False)

    def _v2(self, request: dict) -> dict:
        text = self._text(request, ("inputText", "dimensions", "normalize", "embeddingTypes"), V2_MAX_INPUT_CHARS)
        dimensions = request.get("dimensions", V2_DEFAULT_DIMENSION)
        if isinstance(dimensions, bool) or not isinstance(dimensions, int):
            raise _malformed(f"#/dimensions: expected type: Integer, found: {_json_type(dimensions)}")
        if dimensions not in V2_DIMENSIONS:
            raise _malformed(f"#/dimensions: {dimensions} is not a valid enum value")
        normalize = request.get("normalize", True)
        if not isinstance(normalize, bool):
            raise _malformed(f"#/normalize: expected type: Boolean, found: {_json_type(normalize)}")
        types = request.get("embeddingTypes", ["float"])
        if not isinstance(types, list):
            raise _malformed(f"#/embeddingTypes: expected type: JSONArray, found: {_json_type(types)}")
        if not types:
            raise _malformed("#/embeddingTypes: expected minimum item count: 1, found: 0")
        for position, kind in enumerate(types):
            if kind not in ("float", "binary"):
                raise _malformed(f"#/embeddingTypes/{position}: {kind} is not a valid enum value")
        vector, count = self._embed(text)
        projected = project(vector, dimensions, normalize=normalize)
        by_type: dict[str, np.ndarray] = {}
        if "float" in types:
            by_type["float"] = projected
        if "binary" in types:
            by_type["binary"] = (projected > 0).astype(np.int8)
        return {"embedding": projected, "inputTextTokenCount": count, "embeddingsByType": by_type}

    def _v1(self, request: dict) -> dict:
        text = self._text(request, ("inputText",), None)
        vector, count = self._embed(text)
        return {"embedding": project(vector, V1_DIMENSION, normalize=False), "inputTextTokenCount": count}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, (int, float)):
        return "Integer" if isinstance(value, int) else "BigDecimal"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "JSONArray"
    if value is None:
        return "Null"
    return "JSONObject"
