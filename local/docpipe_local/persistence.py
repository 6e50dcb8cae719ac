"""Offline state that survives between commands, in a format whose loading runs nothing.

``<data dir>/state/`` holds ``state.sqlite`` (buckets, object versions, tables, items; SQLite's
``application_id`` marks it as docpipe's and ``user_version`` is the schema version) and ``blobs/<sha256>``:
object bodies of 4 KiB or more, content-addressed and written once; smaller bodies sit in the database. The
database is built in memory and replaced atomically (temporary file, fsync, rename), so a kill, a full disk or
a read-only folder leaves the last saved state as it was.

Loading reads the file into memory, checks it is docpipe's and its schema, migrates an older schema, validates
every row (:mod:`docpipe_local.state_model`: names as AWS allows them, blob names that are sha256 digests of
their content) and only then hands it to moto (:mod:`docpipe_local.moto_state`). State that fails a check is
moved aside to ``state.rejected-<time>/`` and docpipe starts empty with a warning; the pickle an older docpipe
wrote is never opened (unpickling runs code): it is moved aside to ``state.old-format-<time>/``.
The caller holds the data directory's lock while a runtime is alive.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import functools
import hashlib
import json
import os
import re
import sqlite3
import stat
import tempfile
from pathlib import Path
from typing import Any, Callable

import moto
from pydantic import BaseModel, ValidationError

from docpipe_local import disk_errors, moto_state
from docpipe_local.state_model import Snapshot

SCHEMA_VERSION = 1
APPLICATION_ID = 0x64707374  # "dpst": a docpipe state database
STATE_FILE = "state.sqlite"
OLD_PICKLE = "aws-state.pickle"  # docpipe's first format: never loaded
INLINE_MAX_BYTES = 4096  # smaller bodies are stored in the database itself
_DIGEST = re.compile(r"[0-9a-f]{64}")
_TEMPORARY = ".tmp-"

_SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE buckets (position INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, region TEXT NOT NULL,
                      created TEXT NOT NULL, versioning TEXT, encryption TEXT);
CREATE TABLE objects (bucket TEXT NOT NULL, position INTEGER NOT NULL, key TEXT NOT NULL, version_id TEXT,
                      last_modified TEXT NOT NULL, delete_marker INTEGER NOT NULL, links_to TEXT,
                      versioned INTEGER NOT NULL, etag TEXT, storage_class TEXT, metadata TEXT NOT NULL,
                      options TEXT NOT NULL, body BLOB, blob TEXT, size INTEGER,
                      PRIMARY KEY (bucket, position));
CREATE TABLE dynamodb_tables (position INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, definition TEXT NOT NULL);
CREATE TABLE items (table_name TEXT NOT NULL, position INTEGER NOT NULL, attributes TEXT NOT NULL,
                    PRIMARY KEY (table_name, position));
"""

# Schema N-1 -> N, each run on an in-memory copy of an older file when it is loaded (the file itself is
# rewritten in the current schema by the next save). Add one with every change to _SCHEMA.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {}


class StateError(RuntimeError):
    """Offline state that cannot be saved or loaded; the message is for a person."""


class _Refused(ValueError):
    """Saved state that is not docpipe's, or damaged: it is moved aside."""


class StateStore:
    def __init__(self, directory: Path):
        self.directory = directory
        self.blobs = directory / "blobs"
        self.path = directory / STATE_FILE

    # --- with moto -----------------------------------------------------------------------------------------
    def load(self) -> str | None:
        """Restore saved state into the running mock; returns a warning when saved state was set aside."""
        if (self.directory / OLD_PICKLE).exists():
            aside = self._set_aside("old-format")
            return (f"found offline state in an older docpipe's format ({OLD_PICKLE}, a Python pickle). It was not "
                    f"loaded, because loading a pickle can run any code; it was moved to {aside} unchanged, and "
                    "docpipe starts with empty state")
        try:
            snapshot = self.read()
            if snapshot is not None:
                _restore(snapshot)
        except _Refused as problem:
            aside = self._set_aside("rejected")
            return (f"the offline state in {self.directory} was refused: {problem}. It was moved to {aside} "
                    "unchanged, and docpipe starts with empty state")
        return None

    def save(self) -> None:
        """Commit the running mock's S3 and DynamoDB state to the data directory."""
        self.write(moto_state.capture())

    # --- the file format -----------------------------------------------------------------------------------
    def read(self) -> Snapshot | None:
        """The saved state, validated (None when nothing was saved); raises _Refused for damaged or foreign
        state, StateError for state this docpipe cannot read or a file it cannot open."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise StateError(f"cannot read the offline state: {disk_errors.describe(err)}") from None
        database = _open_copy(data)
        try:
            return self._snapshot(database)
        except sqlite3.DatabaseError as err:
            raise _Refused(f"its database is damaged ({err})") from None
        except ValueError as err:  # pydantic's ValidationError and json's errors among them
            raise _Refused(f"it holds something that is not valid state ({_describe(err)})") from None
        finally:
            database.close()

    def write(self, snapshot: Snapshot) -> None:
        """Replace the saved state with this snapshot, atomically; StateError when the disk refuses."""
        try:
            self.blobs.mkdir(parents=True, exist_ok=True)
            database, referenced = self._database(snapshot)
            _fsync_directory(self.blobs)  # the new bodies' names are on the disk before the state naming them
            _write_atomically(self.path, database)
            _fsync_directory(self.directory)
            self._drop_unreferenced(referenced)
        except OSError as err:
            raise StateError(f"could not save the offline state: {disk_errors.describe(err)}. The last saved "
                             "state is unchanged; what changed since was not saved") from None

    def _database(self, snapshot: Snapshot) -> tuple[bytes, set[str]]:
        referenced: set[str] = set()
        with contextlib.closing(_empty_database()) as db:
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.executemany("INSERT INTO meta VALUES (?, ?)", [
                ("written_by", "docpipe"), ("moto_version", moto.__version__),  # for people: migration is by schema
                ("written_at", datetime.datetime.now(datetime.timezone.utc).isoformat())])
            for position, bucket in enumerate(snapshot.buckets):
                db.execute("INSERT INTO buckets VALUES (?, ?, ?, ?, ?, ?)", (
                    position, bucket.name, bucket.region, bucket.created.isoformat(), bucket.versioning,
                    _json_or_none(bucket.encryption)))
                db.executemany("INSERT INTO objects VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                               [(bucket.name, number, *self._object_row(version, referenced))
                                for number, version in enumerate(bucket.versions)])
            for position, table in enumerate(snapshot.tables):
                definition = {name: getattr(table, name) for name in type(table).model_fields if name != "items"}
                db.execute("INSERT INTO dynamodb_tables VALUES (?, ?, ?)", (position, table.name, _json(definition)))
                db.executemany("INSERT INTO items VALUES (?, ?, ?)",
                               [(table.name, number, _json(item)) for number, item in enumerate(table.items)])
            db.commit()
            return db.serialize(), referenced

    def _object_row(self, version: Any, referenced: set[str]) -> tuple:
        body, blob = version.body, None
        if body is not None and len(body) >= INLINE_MAX_BYTES:
            blob = hashlib.sha256(body).hexdigest()
            self._store_blob(blob, body)
            referenced.add(blob)
            body = None
        return (version.key, version.version_id, version.last_modified.isoformat(), version.delete_marker,
                version.links_to, version.versioned, version.etag, version.storage_class, _json(version.metadata),
                _json(version.options), body, blob, None if version.body is None else len(version.body))

    def _store_blob(self, digest: str, body: bytes) -> None:
        path = self.blobs / digest
        try:
            if path.stat().st_size == len(body):
                return  # written by an earlier save (its content is checked when loaded)
        except FileNotFoundError:
            pass
        _write_atomically(path, body)

    def _drop_unreferenced(self, referenced: set[str]) -> None:
        """Bodies no saved object uses any more, and temporary files of a save that was killed."""
        for folder, is_body in ((self.blobs, True), (self.directory, False)):
            for entry in os.scandir(folder):
                unused = is_body and _DIGEST.fullmatch(entry.name) and entry.name not in referenced
                if (unused or entry.name.startswith(_TEMPORARY)) and entry.is_file(follow_symlinks=False):
                    os.unlink(entry.path)

    def _snapshot(self, db: sqlite3.Connection) -> Snapshot:
        buckets = {name: {"name": name, "region": region, "created": created, "versioning": versioning,
                          "encryption": _parse(encryption, f"the encryption of bucket {name!r}"), "versions": []}
                   for name, region, created, versioning, encryption in
                   db.execute("SELECT name, region, created, versioning, encryption FROM buckets ORDER BY position")}
        for row in db.execute("SELECT bucket, key, version_id, last_modified, delete_marker, links_to, versioned, "
                              "etag, storage_class, metadata, options, body, blob, size FROM objects "
                              "ORDER BY bucket, position"):
            (bucket, key, version_id, last_modified, delete_marker, links_to, versioned, etag, storage_class,
             metadata, options, body, blob, size) = row
            if bucket not in buckets:
                raise ValueError(f"an object of {bucket!r}, a bucket the state does not have")
            if blob is not None:
                if body is not None:
                    raise ValueError(f"{key!r} has both an inline body and a body file")
                body = self._load_blob(blob, size)
            buckets[bucket]["versions"].append({
                "key": key, "version_id": version_id, "last_modified": last_modified,
                "delete_marker": bool(delete_marker), "links_to": links_to, "versioned": bool(versioned),
                "etag": etag, "storage_class": storage_class, "metadata": _parse(metadata, f"the metadata of {key!r}"),
                "body": body, "options": _parse(options, f"the options of {key!r}")})
        tables = {}
        for name, definition in db.execute("SELECT name, definition FROM dynamodb_tables ORDER BY position"):
            tables[name] = _parse(definition, f"the definition of table {name!r}")
            if not isinstance(tables[name], dict) or tables[name].get("name") != name:
                raise ValueError(f"the definition of table {name!r} does not describe it")
            tables[name]["items"] = []
        for table, attributes in db.execute("SELECT table_name, attributes FROM items ORDER BY table_name, position"):
            if table not in tables:
                raise ValueError(f"an item of {table!r}, a table the state does not have")
            tables[table]["items"].append(_parse(attributes, f"an item of table {table!r}"))
        return Snapshot.model_validate({"buckets": list(buckets.values()), "tables": list(tables.values())})

    def _load_blob(self, name: Any, size: Any) -> bytes:
        # the name comes from the file: it becomes a path only once it is known to be a digest
        if not isinstance(name, str) or not _DIGEST.fullmatch(name):
            raise ValueError(f"an object's body file is named {str(name)[:80]!r}, which is not a sha256 digest")
        path = self.blobs / name
        try:
            if not stat.S_ISREG(path.lstat().st_mode):  # a link could point anywhere, a device never ends
                raise ValueError(f"the body file {name} is not a plain file")
            body = path.read_bytes()
        except FileNotFoundError:
            raise ValueError(f"the body file {name} is missing") from None
        except OSError as err:
            raise StateError(f"cannot read the offline state: {disk_errors.describe(err)}") from None
        if hashlib.sha256(body).hexdigest() != name or len(body) != size:
            raise ValueError(f"the body file {name} does not hold the content it is named after")
        return body

    def _set_aside(self, why: str) -> Path:
        """Move the whole state folder out of the way, unchanged; returns where it went."""
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        aside = self.directory.with_name(f"{self.directory.name}.{why}-{stamp}")
        suffix = 1
        while aside.exists():
            suffix += 1
            aside = self.directory.with_name(f"{self.directory.name}.{why}-{stamp}-{suffix}")
        try:
            os.rename(self.directory, aside)
        except OSError as err:
            raise StateError(f"the offline state in {self.directory} cannot be used ({why}) and could not be "
                             f"moved aside: {disk_errors.describe(err)}") from None
        return aside


def _restore(snapshot: Snapshot) -> None:
    try:
        moto_state.restore(snapshot)
    except ValueError as err:  # moto refused an item, as PutItem would
        raise _Refused(f"it holds something that is not valid state ({err})") from None


def _open_copy(data: bytes) -> sqlite3.Connection:
    """The saved database in memory, checked to be docpipe's and migrated to the current schema; the file on
    disk is not touched."""
    if not data:  # sqlite3 cannot deserialize nothing
        raise _Refused("the file is empty")
    database = sqlite3.connect(":memory:")
    try:
        database.execute("PRAGMA trusted_schema = OFF")  # a foreign file's views or triggers run nothing
        database.deserialize(data)
        application_id = database.execute("PRAGMA application_id").fetchone()[0]
        version = database.execute("PRAGMA user_version").fetchone()[0]
        if application_id != APPLICATION_ID:
            raise _Refused("it is not docpipe's state (another program's SQLite database)")
        if version > SCHEMA_VERSION:
            raise StateError(f"the offline state in the data directory was written by a newer docpipe (state "
                             f"schema {version}; this one reads up to {SCHEMA_VERSION}): run that docpipe, or "
                             "move the state folder away to start empty")
        kinds = {kind for (kind,) in database.execute("SELECT DISTINCT type FROM sqlite_master")}
        if not kinds <= {"table", "index"}:
            raise _Refused("its database holds views or triggers docpipe never writes")
        for step in range(version, SCHEMA_VERSION):
            if step not in MIGRATIONS:
                raise _Refused(f"no migration from state schema {step}")
            with database:
                MIGRATIONS[step](database)
        if _tables_of(database) != _expected_tables():
            raise _Refused("its tables are not the ones docpipe writes")
        return database
    except sqlite3.DatabaseError as err:
        database.close()
        raise _Refused(f"it is not an SQLite database docpipe can read ({err})") from None
    except BaseException:
        database.close()
        raise


def _empty_database() -> sqlite3.Connection:
    database = sqlite3.connect(":memory:")
    database.executescript(_SCHEMA)
    return database


def _tables_of(database: sqlite3.Connection) -> list[tuple[str, str]]:
    return database.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name").fetchall()


@functools.cache
def _expected_tables() -> list[tuple[str, str]]:
    with contextlib.closing(_empty_database()) as database:
        return _tables_of(database)


def _write_atomically(path: Path, data: bytes) -> None:
    """Write beside the target, flush it to the disk, then rename over the target: readers (and the next start
    after a crash) see the old file or the new one, never a part. The caller flushes the folder."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=_TEMPORARY)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException as err:
        try:
            os.unlink(temporary)
        except OSError:
            pass  # the next save removes it
        if isinstance(err, OSError) and err.filename is None:
            err.filename = str(path)  # a failed write or flush names no file: the message should
        raise


def _fsync_directory(path: Path) -> None:
    """Renames in a folder survive a power cut once the folder itself is flushed."""
    directory = os.open(path, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _json(value: Any) -> str:
    return _ENCODER.encode(value)


def _json_or_none(value: Any) -> str | None:
    return None if value is None else _json(value)


def _parse(text: str | None, what: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        raise ValueError(f"{what} is not JSON") from None


def _plain(value: Any) -> Any:
    """What json cannot write by itself: binary DynamoDB attributes (base64, as the DynamoDB API writes them),
    timestamps, and models of a validated snapshot."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, BaseModel):  # field by field: a captured snapshot holds moto's values unvalidated
        return {name: getattr(value, name) for name in type(value).model_fields}
    raise TypeError(f"cannot store a {type(value).__name__} in the offline state")


_ENCODER = json.JSONEncoder(default=_plain, separators=(",", ":"))  # one for every row: json.dumps makes one each call


def _describe(err: ValueError) -> str:
    if isinstance(err, ValidationError):
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"{where}: {first['msg']}" if where else first["msg"]
    return str(err)
