"""Where the cost report reads from: the keys of one bucket, listed and read through any boto3 S3 client.

Offline that is the runtime's moto client over the data directory; deployed, a client with the user's
credentials over the stack's documents bucket. The report itself knows neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterator, Protocol


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    last_modified: datetime


class ManifestSource(Protocol):
    def objects(self, prefix: str) -> Iterator[StoredObject]: ...

    def read(self, key: str) -> bytes: ...


class S3ManifestSource:
    """The latest version of each object under a prefix of ``bucket``, through ``s3`` (a boto3 S3 client)."""

    def __init__(self, s3: Any, bucket: str):
        self.s3, self.bucket = s3, bucket

    def objects(self, prefix: str) -> Iterator[StoredObject]:
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield StoredObject(item["Key"], int(item["Size"]), item["LastModified"])

    def read(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
