"""Offline state survives between runtimes (processes) in the data directory, in a format whose loading runs
nothing: what survives exactly, what is refused and set aside, and what a full or read-only disk does."""

import hashlib
import os
import pickle
import sqlite3
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from docpipe_local import persistence
from docpipe_local.persistence import STATE_FILE, StateError, StateStore
from docpipe_local.runtime import OfflineRuntime
from docpipe_local.template import REGION

from .disk_faults import full_disk, read_only

BUCKET, TABLE = "persistence-test-bucket", "persistence-test-table"
BIG = b"x" * 10_000  # large enough to be stored as a content-addressed body file


def populate() -> dict:
    """A versioned bucket with versions, metadata, a delete marker and a big body; a table with a GSI, TTL and
    items of every attribute type. Returns what the API says about them, to compare after a restart."""
    s3, dynamodb = boto3.client("s3", region_name=REGION), boto3.client("dynamodb", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=BUCKET, Key="inbox/a.txt", Body=b"first", ContentType="text/plain", Metadata={"sha256": "1"})
    s3.put_object(Bucket=BUCKET, Key="inbox/a.txt", Body=BIG, Metadata={"sha256": "2"}, StorageClass="STANDARD_IA")
    s3.delete_object(Bucket=BUCKET, Key="inbox/a.txt")
    s3.put_object(Bucket=BUCKET, Key="out/b.md", Body="résumé".encode(), ContentType="text/markdown; charset=utf-8",
                  ServerSideEncryption="AES256")
    dynamodb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                {"AttributeName": "sk", "AttributeType": "N"},
                                                {"AttributeName": "status", "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                          GlobalSecondaryIndexes=[{"IndexName": "by-status", "Projection": {"ProjectionType": "ALL"},
                                                   "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}]}])
    dynamodb.update_time_to_live(TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
    dynamodb.put_item(TableName=TABLE, Item={
        "pk": {"S": "doc"}, "sk": {"N": "1"}, "status": {"S": "SUCCEEDED"}, "expires": {"N": "1900000000"},
        "blob": {"B": b"\x00\xff"}, "tags": {"SS": ["a", "b"]}, "sizes": {"NS": ["1", "2.5"]}, "keys": {"BS": [b"\x01"]},
        "nested": {"M": {"list": {"L": [{"N": "3"}, {"NULL": True}, {"BOOL": False}, {"B": b"\x02"}]}}}})
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "doc"}, "sk": {"N": "2"}, "status": {"S": "RUNNING"}})
    return observe()


def observe() -> dict:
    s3, dynamodb = boto3.client("s3", region_name=REGION), boto3.client("dynamodb", region_name=REGION)
    versions = s3.list_object_versions(Bucket=BUCKET)
    heads = {}
    for version in versions["Versions"]:
        head = s3.head_object(Bucket=BUCKET, Key=version["Key"], VersionId=version["VersionId"])
        head.pop("ResponseMetadata")
        body = s3.get_object(Bucket=BUCKET, Key=version["Key"], VersionId=version["VersionId"])["Body"].read()
        heads[version["VersionId"]] = (head, body)
    table = dynamodb.describe_table(TableName=TABLE)["Table"]
    return {"versioning": s3.get_bucket_versioning(Bucket=BUCKET)["Status"],
            "versions": versions["Versions"], "markers": versions["DeleteMarkers"], "heads": heads,
            "table": {key: table[key] for key in ("KeySchema", "AttributeDefinitions", "GlobalSecondaryIndexes",
                                                  "BillingModeSummary", "CreationDateTime", "ItemCount")},
            "ttl": dynamodb.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"],
            "items": dynamodb.scan(TableName=TABLE)["Items"],
            "by_status": dynamodb.query(TableName=TABLE, IndexName="by-status", KeyConditionExpression="#s = :s",
                                        ExpressionAttributeNames={"#s": "status"},
                                        ExpressionAttributeValues={":s": {"S": "RUNNING"}})["Items"]}


@pytest.fixture
def saved(tmp_path) -> tuple[StateStore, dict]:
    """A store holding the populated state, and what the API said about it before it was saved."""
    store = StateStore(tmp_path / "state")
    with mock_aws():
        seen = populate()
        store.save()
    return store, seen


def load(store: StateStore) -> str | None:
    """Load into a fresh mock (as a new process would) and leave it empty again."""
    with mock_aws():
        return store.load()


def empty_after_load(store: StateStore) -> tuple[str | None, list]:
    with mock_aws():
        warning = store.load()
        return warning, boto3.client("s3", region_name=REGION).list_buckets()["Buckets"]


def set_aside(store: StateStore, why: str) -> list[Path]:
    return sorted(store.directory.parent.glob(f"state.{why}-*"))


# --- what survives ------------------------------------------------------------------------------------------
def test_versions_metadata_delete_markers_and_items_survive_exactly(saved):
    store, seen = saved
    assert len(seen["versions"]) == 3 and len(seen["markers"]) == 1  # the fixture has what the test claims
    with mock_aws():
        assert store.load() is None
        assert observe() == seen  # version ids, etags, last-modified, metadata, storage class, encryption, items
        # a restored bucket is registered: creating it again (a no-op in us-east-1, as in AWS) keeps its
        # objects instead of replacing it with an empty bucket
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        assert len(s3.list_object_versions(Bucket=BUCKET)["Versions"]) == 3


def test_big_bodies_are_content_addressed_files_and_unused_ones_go(saved):
    store, _ = saved
    digest = hashlib.sha256(BIG).hexdigest()
    assert [path.name for path in store.blobs.iterdir()] == [digest]
    with mock_aws():
        store.load()
        s3 = boto3.client("s3", region_name=REGION)
        versions = s3.list_object_versions(Bucket=BUCKET, Prefix="inbox/a.txt")
        for version in versions["Versions"] + versions["DeleteMarkers"]:  # the big body's versions, gone
            s3.delete_object(Bucket=BUCKET, Key="inbox/a.txt", VersionId=version["VersionId"])
        store.save()
    assert list(store.blobs.iterdir()) == []


def test_a_runtime_restart_keeps_objects_and_items(home):
    with OfflineRuntime(home=home) as runtime:
        first = runtime.s3.put_object(Bucket=runtime.bucket, Key="work/a/blob.bin", Body=BIG)
        runtime.dynamodb.put_item(TableName=runtime.environment["DOCPIPE_DOCUMENTS_TABLE"],
                                  Item={"doc_id": {"S": "a"}, "status": {"S": "SUCCEEDED"}})
    assert (home / "state" / STATE_FILE).exists()
    with OfflineRuntime(home=home) as runtime:
        assert runtime.warnings == []
        head = runtime.s3.head_object(Bucket=runtime.bucket, Key="work/a/blob.bin")
        assert head["VersionId"] == first["VersionId"]  # doc_id is derived from it
        assert runtime.read("work/a/blob.bin") == BIG
        item = runtime.dynamodb.get_item(TableName=runtime.environment["DOCPIPE_DOCUMENTS_TABLE"],
                                         Key={"doc_id": {"S": "a"}})["Item"]
        assert item["status"]["S"] == "SUCCEEDED"


def test_the_moto_version_that_wrote_the_state_does_not_matter(saved):
    store, seen = saved
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE meta SET value = '0.0.1' WHERE name = 'moto_version'")
    with mock_aws():
        assert store.load() is None
        assert observe() == seen


# --- what is refused, and kept ------------------------------------------------------------------------------
class _Marker:
    """Unpickling this creates a file: what a hostile pickle could do, harmlessly."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


@pytest.mark.parametrize("name", ["aws-state.pickle", STATE_FILE])
def test_a_pickle_is_never_unpickled_and_is_set_aside(tmp_path, name):
    marker = tmp_path / "code-ran"
    store = StateStore(tmp_path / "state")
    store.directory.mkdir()
    hostile = pickle.dumps({"moto": "5.2.5", "payload": _Marker(marker)})
    (store.directory / name).write_bytes(hostile)
    warning, buckets = empty_after_load(store)
    assert not marker.exists()
    assert buckets == []
    why = "old-format" if name == "aws-state.pickle" else "rejected"
    [aside] = set_aside(store, why)
    assert (aside / name).read_bytes() == hostile  # moved unchanged, nothing deleted
    assert not store.directory.exists()
    assert str(aside) in warning
    assert ("can run any code" in warning) if why == "old-format" else ("not an SQLite database" in warning)


def _tamper(store: StateStore, sql: str, *args) -> None:
    with sqlite3.connect(store.path) as db:
        if args:
            db.execute(sql, args)
        else:
            db.executescript(sql)


@pytest.mark.parametrize("change, reason", [
    (("UPDATE objects SET blob = ? WHERE blob IS NOT NULL", "../../../etc/passwd"), "which is not a sha256 digest"),
    (("UPDATE objects SET blob = ? WHERE blob IS NOT NULL", "/etc/passwd"), "which is not a sha256 digest"),
    (("UPDATE objects SET version_id = ? WHERE position = 0", "../x"), "version_id"),
    (("UPDATE buckets SET name = 'Not_A_Bucket'; UPDATE objects SET bucket = 'Not_A_Bucket'",), "buckets.0.name"),
    (("UPDATE objects SET metadata = ? WHERE position = 0", "{not json"), "the metadata of 'inbox/a.txt' is not JSON"),
    (("UPDATE items SET attributes = ? WHERE position = 0", '{"pk": {"X": "1"}}'), "unknown attribute type"),
    (("UPDATE items SET attributes = ? WHERE position = 0", '{"sk": {"N": "1"}}'), "Missing the key pk"),
    (("DELETE FROM buckets",), "a bucket the state does not have"),
], ids=["blob-traversal", "blob-absolute", "version-id", "bucket-name", "metadata-json", "attribute-type",
        "missing-key", "orphan-object"])
def test_tampered_state_is_refused_and_set_aside(saved, change, reason):
    store, _ = saved
    _tamper(store, *change)
    tampered = store.path.read_bytes()
    warning, buckets = empty_after_load(store)
    assert reason in warning and "was refused" in warning
    assert buckets == []
    [aside] = set_aside(store, "rejected")
    assert (aside / STATE_FILE).read_bytes() == tampered


def test_a_body_file_that_does_not_match_its_name_is_refused(saved):
    store, _ = saved
    [blob] = store.blobs.iterdir()
    blob.write_bytes(b"y" * len(BIG))  # same size, other content
    warning, _ = empty_after_load(store)
    assert "does not hold the content it is named after" in warning
    assert set_aside(store, "rejected")


def test_a_body_file_that_is_a_link_is_refused(saved, tmp_path):
    store, _ = saved
    [blob] = store.blobs.iterdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(BIG)  # even with the content its name promises
    blob.unlink()
    blob.symlink_to(elsewhere)
    warning, _ = empty_after_load(store)
    assert "is not a plain file" in warning


@pytest.mark.parametrize("content, reason", [
    (b"", "the file is empty"),
    (b"SQLite format 3\x00" + b"\x00" * 100, "not an SQLite database docpipe can read"),
    (b'{"buckets": []}', "not an SQLite database docpipe can read"),
], ids=["empty", "truncated-sqlite", "json"])
def test_corrupt_state_is_refused_and_set_aside(tmp_path, content, reason):
    store = StateStore(tmp_path / "state")
    store.directory.mkdir()
    store.path.write_bytes(content)
    warning, _ = empty_after_load(store)
    assert reason in warning
    [aside] = set_aside(store, "rejected")
    assert (aside / STATE_FILE).read_bytes() == content


def test_another_programs_sqlite_database_is_refused(tmp_path):
    store = StateStore(tmp_path / "state")
    store.directory.mkdir()
    with sqlite3.connect(store.path) as db:
        db.execute("CREATE TABLE buckets (name TEXT)")
    warning, _ = empty_after_load(store)
    assert "not docpipe's state" in warning and set_aside(store, "rejected")


def test_a_database_with_triggers_or_views_is_refused(saved):
    store, _ = saved
    _tamper(store, "CREATE VIEW everything AS SELECT * FROM objects")
    warning, _ = empty_after_load(store)
    assert "views or triggers" in warning


def test_a_database_with_other_tables_is_refused(saved):
    store, _ = saved
    _tamper(store, "ALTER TABLE objects ADD COLUMN script TEXT")
    warning, _ = empty_after_load(store)
    assert "its tables are not the ones docpipe writes" in warning


def test_state_from_a_newer_docpipe_is_an_error_and_stays_in_place(saved):
    store, _ = saved
    _tamper(store, f"PRAGMA user_version = {persistence.SCHEMA_VERSION + 1}")
    with pytest.raises(StateError, match="newer docpipe"):
        load(store)
    assert store.path.exists() and not set_aside(store, "rejected")


def test_an_older_schema_is_migrated_on_load_and_saved_in_the_current_one(saved, monkeypatch):
    store, seen = saved
    old = store.path.read_bytes()

    def add_a_metadata_field(db):  # what a real migration does: rewrite rows in SQL
        db.execute("""UPDATE objects SET metadata = json_set(metadata, '$."x-amz-meta-migrated"', 'yes')
                      WHERE delete_marker = 0""")

    current = persistence.SCHEMA_VERSION
    monkeypatch.setattr(persistence, "SCHEMA_VERSION", current + 1)
    monkeypatch.setattr(persistence, "MIGRATIONS", {current: add_a_metadata_field})
    with mock_aws():
        assert store.load() is None
        migrated = observe()
        assert all(head["Metadata"]["migrated"] == "yes" for head, _ in migrated["heads"].values())
        assert [v["VersionId"] for v in migrated["versions"]] == [v["VersionId"] for v in seen["versions"]]
        assert store.path.read_bytes() == old  # loading changes no file
        store.save()
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == current + 1


def test_an_older_schema_without_a_migration_is_refused(saved, monkeypatch):
    store, _ = saved
    monkeypatch.setattr(persistence, "SCHEMA_VERSION", persistence.SCHEMA_VERSION + 1)
    warning, _ = empty_after_load(store)
    assert "no migration from state schema" in warning and set_aside(store, "rejected")


# --- full disk, read-only folder ----------------------------------------------------------------------------
def test_a_full_disk_leaves_the_saved_state_whole(saved, monkeypatch):
    store, seen = saved
    before = store.path.read_bytes()
    with mock_aws():
        store.load()
        boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key="new", Body=b"n" * 50_000)
        full_disk(monkeypatch)
        with pytest.raises(StateError, match="no space left on the disk holding .*state") as raised:
            store.save()
        monkeypatch.undo()
    assert "The last saved state is unchanged" in str(raised.value)
    assert store.path.read_bytes() == before
    leftovers = [p.name for folder in (store.directory, store.blobs) for p in folder.iterdir() if p.name.startswith(".tmp-")]
    assert leftovers == []
    with mock_aws():
        store.load()
        assert observe() == seen


def test_a_read_only_state_folder_is_a_clear_error(saved, monkeypatch):
    store, _ = saved
    before = store.path.read_bytes()
    read_only(monkeypatch, store.directory)
    with mock_aws():
        store.load()
        with pytest.raises(StateError, match="read-only file system"):
            store.save()
    assert store.path.read_bytes() == before


def test_refused_state_that_cannot_be_moved_aside_is_an_error(tmp_path, monkeypatch):
    store = StateStore(tmp_path / "state")
    store.directory.mkdir()
    store.path.write_bytes(b"garbage")
    read_only(monkeypatch, tmp_path)
    with pytest.raises(StateError, match="could not be moved aside: .*read-only"):
        load(store)
    monkeypatch.undo()
    assert store.path.read_bytes() == b"garbage"


def test_a_state_folder_that_is_not_readable_is_an_error(tmp_path, monkeypatch):
    store = StateStore(tmp_path / "state")
    store.directory.mkdir()
    store.path.write_bytes(b"whatever")
    real = Path.read_bytes

    def unreadable(path):
        if path == store.path:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(Path, "read_bytes", unreadable)
    with pytest.raises(StateError, match="cannot read the offline state: no permission"):
        load(store)
    assert store.path.exists()


def test_temporary_files_of_a_killed_save_are_removed(saved):
    store, _ = saved
    for folder in (store.directory, store.blobs):
        (folder / ".tmp-killed").write_bytes(b"partial")
    with mock_aws():
        store.load()
        store.save()
    assert not any(p.name.startswith(".tmp-") for folder in (store.directory, store.blobs) for p in folder.iterdir())
    assert os.listdir(store.blobs)  # the body in use stays
