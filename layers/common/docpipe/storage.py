"""S3 access for the pipeline: where things go (one bucket, one prefix per role) and how they are read."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from docpipe.clients import client
from docpipe.errors import DocumentRejected
from docpipe.settings import get_settings

_CHUNK = 1024 * 1024


def work_key(doc_id: str, name: str) -> str:
    return f"{get_settings().work_prefix}{doc_id}/{name}"


def out_key(doc_id: str, name: str) -> str:
    return f"{get_settings().out_prefix}{doc_id}/{name}"


def quarantine_key(doc_id: str, name: str) -> str:
    return f"{get_settings().quarantine_prefix}{doc_id}/{name}"


def _version(version_id: str | None) -> dict[str, str]:
    return {"VersionId": version_id} if version_id else {}


@dataclass
class Fingerprint:
    size: int
    sha256: str
    head: bytes
    metadata: dict[str, str]


def fingerprint(bucket: str, key: str, version_id: str | None, *, head_bytes: int, max_bytes: int) -> Fingerprint:
    """Hash the object in one streaming read and keep its first bytes for sniffing."""
    response = client("s3").get_object(Bucket=bucket, Key=key, **_version(version_id))
    size = response["ContentLength"]
    if size > max_bytes:
        response["Body"].close()
        raise DocumentRejected(f"the file is {size} bytes, over the cap of {max_bytes} bytes")
    digest, head = hashlib.sha256(), bytearray()
    for chunk in response["Body"].iter_chunks(_CHUNK):
        digest.update(chunk)
        if len(head) < head_bytes:
            head += chunk[: head_bytes - len(head)]
    return Fingerprint(size=size, sha256=digest.hexdigest(), head=bytes(head), metadata=response.get("Metadata", {}))


def read_bytes(bucket: str, key: str, version_id: str | None = None) -> bytes:
    return client("s3").get_object(Bucket=bucket, Key=key, **_version(version_id))["Body"].read()


def put_json(bucket: str, key: str, value: Any, metadata: dict[str, str] | None = None) -> str:
    """Write ``value`` as JSON; return the new version's id ("null" where the bucket keeps no versions)."""
    response = client("s3").put_object(Bucket=bucket, Key=key, ContentType="application/json",
                                       Body=json.dumps(value, indent=2, ensure_ascii=False).encode(),
                                       **({"Metadata": metadata} if metadata else {}))
    return response.get("VersionId") or "null"


def get_json(bucket: str, key: str) -> Any:
    return json.loads(read_bytes(bucket, key))


def copy_object(bucket: str, key: str, version_id: str | None, target_key: str) -> None:
    source = {"Bucket": bucket, "Key": key, **_version(version_id)}
    client("s3").copy_object(Bucket=bucket, Key=target_key, CopySource=source)


def delete_versions(bucket: str, key: str, keep: str | None = None) -> int:
    """Delete every version and delete marker of ``key`` but ``keep``; return how many went.

    In a versioned bucket a plain delete only hides the object: text that must not persist (unmasked
    personal data) is gone only when each of its versions is.
    """
    s3 = client("s3")
    doomed = [entry["VersionId"]
              for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key)
              for entry in page.get("Versions", []) + page.get("DeleteMarkers", [])
              if entry["Key"] == key and entry["VersionId"] != keep]
    for version_id in doomed:
        s3.delete_object(Bucket=bucket, Key=key, VersionId=version_id)
    return len(doomed)
