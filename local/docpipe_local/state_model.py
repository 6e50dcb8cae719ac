"""What the offline state holds, as plain validated data: S3 buckets with every object version, DynamoDB tables
with every item. Nothing here knows moto or the file format; :mod:`docpipe_local.persistence` writes and
reads it, :mod:`docpipe_local.moto_state` captures it from moto and restores it into moto.

Every model forbids unknown fields and checks names as AWS does, so a state file edited by hand or by
someone else is refused on load instead of being half-believed.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

BucketName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
ObjectKey = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
# moto's version ids are uuid4s and "null"; S3's are up to 1,024 URL-safe characters
VersionId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,1024}$")]
ETag = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}(-[0-9]{1,5})?$")]
StorageClass = Literal["STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
                       "GLACIER", "DEEP_ARCHIVE", "GLACIER_IR", "EXPRESS_ONEZONE", "OUTPOSTS", "SNOW"]
TableName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{3,255}$")]
Name255 = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Region = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ObjectOptions(_Strict):
    """Encryption, object lock and checksum fields S3 returns with an object (None where unset)."""
    encryption: Literal["AES256", "aws:kms", "aws:kms:dsse"] | None = None
    kms_key_id: str | None = None
    bucket_key_enabled: bool | Literal["true", "false"] | None = None  # moto keeps the bucket default's text
    lock_mode: Literal["GOVERNANCE", "COMPLIANCE"] | None = None
    lock_legal_status: Literal["ON", "OFF"] | None = None
    lock_until: str | None = None
    checksum_algorithm: str | None = None
    checksum_value: str | None = None
    checksum_type: str | None = None
    checksum_parts: int | None = None
    website_redirect_location: str | None = None


class ObjectVersion(_Strict):
    """One entry of a key's version list: an object, or a delete marker (no body, no metadata)."""
    key: ObjectKey
    version_id: VersionId | None  # None: written before versioning, reported as "null"
    last_modified: datetime
    delete_marker: bool = False
    links_to: VersionId | None = None  # a delete marker: the version that was current when it was placed
    versioned: bool = False  # written while versioning was enabled (S3 then reports its version id)
    etag: ETag | None = None
    storage_class: StorageClass | None = None
    metadata: dict[str, str] = Field(default_factory=dict)  # Content-Type and x-amz-meta-* among them
    body: bytes | None = None
    options: ObjectOptions = ObjectOptions()

    @model_validator(mode="after")
    def _object_or_marker(self) -> "ObjectVersion":
        if self.delete_marker:
            if self.version_id is None:
                raise ValueError("a delete marker has a version id")
            if self.body is not None or self.etag is not None or self.metadata:
                raise ValueError("a delete marker has no body, etag or metadata")
        elif self.body is None or self.etag is None or self.storage_class is None:
            raise ValueError("an object needs its body, etag and storage class")
        return self


class Bucket(_Strict):
    name: BucketName
    region: Region
    created: datetime
    versioning: Literal["Enabled", "Suspended"] | None = None
    encryption: dict[str, Any] | None = None  # the bucket's default encryption rule, as S3 returns it
    versions: list[ObjectVersion] = Field(default_factory=list)  # key by key, each key's versions in order

    @model_validator(mode="after")
    def _versions_grouped_by_key(self) -> "Bucket":
        finished: set[str] = set()
        seen: set[str | None] = set()
        for previous, version in zip([None, *self.versions], self.versions):
            if previous is None or version.key != previous.key:
                if version.key in finished:
                    raise ValueError(f"the versions of {version.key!r} are not listed together")
                finished.add(version.key)
                seen = set()
            if version.version_id in seen:
                raise ValueError(f"{version.key!r} has version {version.version_id} twice")
            seen.add(version.version_id)
        return self


class KeyElement(_Strict):
    AttributeName: Name255
    KeyType: Literal["HASH", "RANGE"]


class AttributeDefinition(_Strict):
    AttributeName: Name255
    AttributeType: Literal["S", "N", "B"]


class IndexProjection(_Strict):
    ProjectionType: Literal["ALL", "KEYS_ONLY", "INCLUDE"]
    NonKeyAttributes: list[Name255] | None = None


class Throughput(_Strict):
    ReadCapacityUnits: int = Field(ge=0)
    WriteCapacityUnits: int = Field(ge=0)


class SecondaryIndex(_Strict):
    IndexName: TableName
    KeySchema: list[KeyElement] = Field(min_length=1, max_length=2)
    Projection: IndexProjection
    ProvisionedThroughput: Throughput | None = None  # global indexes only


class TimeToLive(_Strict):
    TimeToLiveStatus: Literal["ENABLED", "DISABLED", "ENABLING", "DISABLING"]
    AttributeName: Name255 | None = None


class Table(_Strict):
    name: TableName
    created: datetime
    key_schema: list[KeyElement] = Field(min_length=1, max_length=2)
    attributes: list[AttributeDefinition] = Field(min_length=1)
    billing_mode: Literal["PAY_PER_REQUEST", "PROVISIONED"] | None = None
    throughput: Throughput | None = None
    global_indexes: list[SecondaryIndex] = Field(default_factory=list)
    local_indexes: list[SecondaryIndex] = Field(default_factory=list)
    stream: dict[str, Any] | None = None
    sse: dict[str, Any] | None = None
    tags: list[dict[str, str]] = Field(default_factory=list)
    deletion_protection: bool | None = None
    ttl: TimeToLive
    # DynamoDB JSON; binary values are base64 in the file and bytes once validated (item_from_json)
    items: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator("items")
    @classmethod
    def _dynamodb_json(cls, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [item_from_json(item) for item in items]

    @model_validator(mode="after")
    def _keys_are_defined(self) -> "Table":
        defined = {attribute.AttributeName for attribute in self.attributes}
        keys = [element.AttributeName for element in self.key_schema] + [
            element.AttributeName for index in (*self.global_indexes, *self.local_indexes) for element in index.KeySchema]
        if not set(keys) <= defined:
            raise ValueError(f"key attributes {sorted(set(keys) - defined)} are not in the attribute definitions")
        return self


class Snapshot(_Strict):
    buckets: list[Bucket] = Field(default_factory=list)
    tables: list[Table] = Field(default_factory=list)

    @model_validator(mode="after")
    def _names_are_unique(self) -> "Snapshot":
        for kind, names in (("bucket", [b.name for b in self.buckets]), ("table", [t.name for t in self.tables])):
            if len(set(names)) != len(names):
                raise ValueError(f"a {kind} name appears twice")
        return self


_SCALARS = {"S": str, "N": str, "BOOL": bool, "NULL": bool}
_NUMBER = re.compile(r"^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def item_from_json(item: Any) -> dict[str, dict[str, Any]]:
    """A DynamoDB JSON item as stored (binary base64-encoded) → the same with binary as bytes; refuses anything
    that is not DynamoDB JSON. (Loading runs this on every attribute of every item: scalars, most of them,
    are checked and passed on as they are.)"""
    if type(item) is not dict or not item or "" in item:
        raise ValueError("an item is an object of named attributes")
    return {name: _value_from_json(value) for name, value in item.items()}


def _value_from_json(value: Any) -> dict[str, Any]:
    if type(value) is not dict or len(value) != 1:
        raise ValueError("an attribute value is an object with one type tag")
    for tag, inner in value.items():
        kind = _SCALARS.get(tag)
        if kind is not None:
            if type(inner) is not kind or (tag == "N" and not _NUMBER.match(inner)):
                raise ValueError(f"an attribute of type {tag} holds the wrong kind of value")
            return value
        if tag == "M" and type(inner) is dict and "" not in inner:
            return {tag: {name: _value_from_json(member) for name, member in inner.items()}}
        if tag == "L" and type(inner) is list:
            return {tag: [_value_from_json(member) for member in inner]}
        if tag == "B":
            return {tag: _binary(inner)}
        if tag in ("SS", "NS", "BS"):
            return {tag: _set(tag, inner)}
    raise ValueError(f"unknown attribute type {tag!r}")


def _set(tag: str, members: Any) -> list:
    if type(members) is not list or not members:
        raise ValueError(f"a {tag} set is a non-empty list")
    if tag == "BS":
        return [_binary(member) for member in members]
    if not all(type(member) is str for member in members) or (
            tag == "NS" and not all(_NUMBER.match(member) for member in members)):
        raise ValueError(f"a {tag} set holds the wrong kind of value")
    return members


def _binary(text: Any) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (TypeError, binascii.Error):
        raise ValueError("a binary attribute is not base64") from None
