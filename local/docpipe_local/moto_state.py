"""Every reach into moto's internals that offline persistence needs, in one place: what S3 and DynamoDB hold
in moto's backends, captured as :class:`~docpipe_local.state_model.Snapshot` and restored into a fresh mock.

moto 5.2.5 keeps S3 and DynamoDB in plain objects with no export API. Restoring builds the same objects
moto builds (FakeBucket, FakeKey, FakeDeleteMarker, Table + Table.put_item, which validates each item), so
version ids, etags, timestamps and metadata come back exactly as they were. tests/unit/test_moto_state.py is
the canary: it round-trips every field through moto's public API and fails on a moto that moved them.
"""

from __future__ import annotations

import datetime
import itertools
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table as MotoTable
from moto.s3.models import FakeBucket, FakeDeleteMarker, FakeKey, s3_backends

from docpipe_local.state_model import Bucket, ObjectOptions, ObjectVersion, Snapshot, Table
from docpipe_local.template import ACCOUNT_ID, REGION

_PARTITION = "aws"
_OPTION_FIELDS = tuple(ObjectOptions.model_fields)  # FakeKey attributes of the same names


def capture() -> Snapshot:
    """The S3 buckets and DynamoDB tables of the running mock. Executions may change them while they are
    read (moto has no lock): a change under our feet shows as a RuntimeError (a dict changed size) or a
    ValueError (an overwritten object's buffer closed), and the capture starts again."""
    for attempt in itertools.count():
        try:
            return Snapshot.model_construct(buckets=[_capture_bucket(b) for b in list(_s3().buckets.values())],
                                            tables=[_capture_table(t) for t in list(_dynamodb().tables.values())])
        except (RuntimeError, ValueError):
            if attempt == 4:
                raise


def restore(snapshot: Snapshot) -> None:
    """Put a snapshot into the running mock, which must be empty (just started). All or nothing: the backends
    change only once every bucket and table was rebuilt; a ValueError says which part moto refused."""
    s3, dynamodb = _s3(), _dynamodb()
    if s3.buckets or dynamodb.tables:
        raise RuntimeError("offline state is restored into a freshly started mock only")
    buckets: list[FakeBucket] = []
    try:
        for saved in snapshot.buckets:
            buckets.append(_restore_bucket(saved))
        tables = [_restore_table(saved) for saved in snapshot.tables]
    except BaseException:
        for bucket in buckets:
            _dispose(bucket)
        raise
    for bucket in buckets:
        s3.buckets[bucket.name] = bucket
        # moto's global registry: without it the bucket is invisible, and create_bucket replaces it
        s3_backends.bucket_accounts[bucket.name] = (_PARTITION, ACCOUNT_ID)
    for table in tables:
        dynamodb.tables[table.name] = table


def _s3():
    return s3_backends[ACCOUNT_ID][_PARTITION]


def _dynamodb():
    return dynamodb_backends[ACCOUNT_ID][REGION]


# --- S3 ----------------------------------------------------------------------------------------------------
def _capture_bucket(bucket: FakeBucket) -> Bucket:
    versions = [_capture_version(entry) for _, entries in bucket.keys.lists() if entries
                for entry in list(entries)]
    return Bucket.model_construct(name=bucket.name, region=bucket.region_name, created=bucket.creation_date,
                                  versioning=bucket.versioning_status, encryption=bucket.encryption,
                                  versions=versions)


def _capture_version(entry: FakeKey | FakeDeleteMarker) -> ObjectVersion:
    if isinstance(entry, FakeDeleteMarker):
        return ObjectVersion.model_construct(key=entry.name, version_id=entry._version_id,
                                             last_modified=entry.last_modified, delete_marker=True,
                                             links_to=entry.key._version_id, versioned=True, etag=None,
                                             storage_class=None, metadata={}, body=None, options=ObjectOptions())
    options = ObjectOptions.model_construct(**{name: getattr(entry, name) for name in _OPTION_FIELDS})
    return ObjectVersion.model_construct(key=entry.name, version_id=entry._version_id,
                                         last_modified=entry.last_modified, delete_marker=False, links_to=None,
                                         versioned=entry._is_versioned, etag=entry.etag.strip('"'),
                                         storage_class=entry.storage_class, metadata=dict(entry.metadata),
                                         body=entry.value, options=options)


def _restore_bucket(saved: Bucket) -> FakeBucket:
    bucket = FakeBucket(name=saved.name, account_id=ACCOUNT_ID, region_name=saved.region)
    bucket.creation_date = saved.created
    bucket.versioning_status = saved.versioning
    bucket.encryption = saved.encryption
    try:
        for name, versions in itertools.groupby(saved.versions, key=lambda version: version.key):
            bucket.keys.setlist(name, _restore_versions(bucket, list(versions)))
    except BaseException:
        _dispose(bucket)
        raise
    return bucket


def _restore_versions(bucket: FakeBucket, saved: list[ObjectVersion]) -> list[FakeKey | FakeDeleteMarker]:
    restored: list[FakeKey | FakeDeleteMarker] = []
    by_version: dict[str | None, FakeKey | FakeDeleteMarker] = {}
    for version in saved:
        if version.delete_marker:
            current = by_version.get(version.links_to)
            if current is None:
                current = _stand_in(bucket, version)
            entry: FakeKey | FakeDeleteMarker = FakeDeleteMarker(key=current)
            entry._version_id = version.version_id
        else:
            entry = _restore_key(bucket, version)
        entry.last_modified = _naive_utc(version.last_modified)
        restored.append(entry)
        by_version[version.version_id] = entry
    return restored


def _restore_key(bucket: FakeBucket, version: ObjectVersion) -> FakeKey:
    options = version.options
    key = FakeKey(name=version.key, value=version.body, account_id=ACCOUNT_ID, region_name=bucket.region_name,
                  storage=version.storage_class, etag=version.etag, is_versioned=version.versioned,
                  version_id=version.version_id, bucket_name=bucket.name, encryption=options.encryption,
                  kms_key_id=options.kms_key_id, bucket_key_enabled=options.bucket_key_enabled,
                  lock_mode=options.lock_mode, lock_legal_status=options.lock_legal_status,
                  lock_until=options.lock_until, checksum_value=options.checksum_value,
                  checksum_type=options.checksum_type, checksum_parts=options.checksum_parts)
    key.checksum_algorithm = options.checksum_algorithm
    key.website_redirect_location = options.website_redirect_location
    key.metadata.clear()  # FakeKey starts with a default Content-Type; the saved metadata has the real one
    key.set_metadata(dict(version.metadata))
    return key


def _stand_in(bucket: FakeBucket, marker: ObjectVersion) -> FakeKey:
    """A delete marker remembers the version that was current when it was placed; when that version was
    deleted since, moto's marker still points at the (disposed) key: so does the restored one."""
    key = FakeKey(name=marker.key, value=b"", account_id=ACCOUNT_ID, region_name=bucket.region_name,
                  version_id=marker.links_to, bucket_name=bucket.name)
    key.dispose()
    return key


def _dispose(bucket: FakeBucket) -> None:
    """Close the buffers of a bucket that will not be used (FakeKey warns when garbage-collected open)."""
    for _, entries in bucket.keys.lists():
        for entry in entries:
            if isinstance(entry, FakeKey):
                entry.dispose()
    s3_backends.bucket_accounts.pop(bucket.name, None)


def _naive_utc(moment: datetime.datetime) -> datetime.datetime:
    """moto keeps naive UTC timestamps."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(datetime.timezone.utc).replace(tzinfo=None)


# --- DynamoDB ----------------------------------------------------------------------------------------------
def _capture_table(table: MotoTable) -> Table:
    items = []
    for entry in list(table.items.values()):
        for item in (list(entry.values()) if table.range_key_attr else [entry]):
            items.append({name: _attribute(value) for name, value in item.attrs.items()})
    return Table.model_construct(
        name=table.name, created=table.created_at, key_schema=table.schema, attributes=table.attr,
        billing_mode=table.billing_mode, throughput=_throughput(table.throughput),
        global_indexes=[_index(index, _throughput(index.throughput)) for index in table.global_indexes],
        local_indexes=[_index(index, None) for index in table.indexes],
        stream=table.stream_specification if (table.stream_specification or {}).get("StreamEnabled") else None,
        sse=table.sse_specification, tags=list(table.tags), deletion_protection=table.deletion_protection_enabled,
        ttl=dict(table.ttl), items=items)


def _attribute(value: Any) -> Any:
    """An attribute as DynamoDB JSON (binary values stay bytes: the writer encodes them). Item.to_json does the
    same with a deep copy of every value, three times slower on a save."""
    if not isinstance(value, DynamoType):  # moto keeps some nested values as DynamoDB JSON already
        return value
    if value.type == "M":
        return {"M": {name: _attribute(member) for name, member in value.value.items()}}
    if value.type == "L":
        return {"L": [_attribute(member) for member in value.value]}
    return {value.type: value.value}


def _throughput(throughput: dict[str, Any] | None) -> dict[str, int] | None:
    """Provisioned capacity; on-demand tables and indexes report 0/0, which moto takes as 'none given'."""
    if not throughput or not (throughput.get("ReadCapacityUnits") or throughput.get("WriteCapacityUnits")):
        return None
    return {"ReadCapacityUnits": throughput["ReadCapacityUnits"], "WriteCapacityUnits": throughput["WriteCapacityUnits"]}


def _index(index: Any, throughput: dict[str, int] | None) -> dict[str, Any]:
    described = {"IndexName": index.name, "KeySchema": index.schema, "Projection": index.projection}
    return {**described, "ProvisionedThroughput": throughput} if throughput else described


def _restore_table(saved: Table) -> MotoTable:
    dumped = saved.model_dump(mode="python", exclude_none=True)
    table = MotoTable(saved.name, account_id=ACCOUNT_ID, region=REGION, schema=dumped["key_schema"],
                      attr=dumped["attributes"], throughput=dumped.get("throughput"),
                      billing_mode=saved.billing_mode, indexes=dumped["local_indexes"],
                      global_indexes=dumped["global_indexes"], streams=None, sse_specification=dumped.get("sse"),
                      tags=dumped["tags"], deletion_protection_enabled=saved.deletion_protection)
    table.created_at = _naive_utc(saved.created)
    table.ttl = dumped["ttl"]
    for number, item in enumerate(saved.items):
        try:
            table.put_item(item, overwrite=True)
        except JsonRESTError as err:  # moto's validation of the item, as on PutItem
            raise ValueError(f"item {number} of table {saved.name} is not valid: {err.message}") from None
    # after the items: restoring them is not a change a stream reader should see
    table.set_stream_specification(dumped.get("stream"))
    return table
