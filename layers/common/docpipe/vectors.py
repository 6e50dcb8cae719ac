"""The S3 Vectors index: one vector per chunk, keyed `<doc_id>#<chunk index>`, with citation metadata."""

from __future__ import annotations

from typing import Any, Iterable

from docpipe.clients import client
from docpipe.settings import get_settings

PUT_BATCH = 500  # PutVectors accepts up to 500 vectors a call
DELETE_BATCH = 500
# Stored with each vector for citations, but not filterable (keeps filterable metadata under 2 KB).
NON_FILTERABLE = ["text", "source_key", "heading"]


def page_breaks_metadata(page_breaks: list) -> dict[str, list[int]]:
    """A chunk's page breaks as metadata: S3 Vectors takes lists of numbers, not of pairs, so
    ``[[812, 4], [1630, 5]]`` is stored flat, ``[812, 4, 1630, 5]`` (no key where the chunk is on one page)."""
    return {"page_breaks": [number for pair in page_breaks for number in pair]} if page_breaks else {}


def page_breaks_of(metadata: dict[str, Any]) -> list[tuple[int, int]]:
    """:func:`page_breaks_metadata` read back."""
    flat = [int(number) for number in metadata.get("page_breaks", [])]
    return list(zip(flat[::2], flat[1::2]))


def vector_key(doc_id: str, index: int) -> str:
    return f"{doc_id}#{index:05d}"


def _index() -> dict[str, str]:
    settings = get_settings()
    return {"vectorBucketName": settings.vector_bucket, "indexName": settings.vector_index}


def put(vectors: list[dict[str, Any]]) -> int:
    """Upsert vectors ({key, data: {float32}, metadata}); returns the bytes uploaded (what S3 Vectors bills)."""
    for start in range(0, len(vectors), PUT_BATCH):
        client("s3vectors").put_vectors(**_index(), vectors=vectors[start:start + PUT_BATCH])
    return sum(4 * len(v["data"]["float32"]) + len(str(v["metadata"])) + len(v["key"]) for v in vectors)


def delete(keys: Iterable[str]) -> int:
    keys = list(keys)
    for start in range(0, len(keys), DELETE_BATCH):
        client("s3vectors").delete_vectors(**_index(), keys=keys[start:start + DELETE_BATCH])
    return len(keys)


def query(vector: list[float], top_k: int, doc_id: str | None = None) -> list[dict[str, Any]]:
    params: dict[str, Any] = {**_index(), "topK": top_k, "queryVector": {"float32": vector},
                              "returnMetadata": True, "returnDistance": True}
    if doc_id:
        params["filter"] = {"doc_id": {"$eq": doc_id}}
    return client("s3vectors").query_vectors(**params)["vectors"]
