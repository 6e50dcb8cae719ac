"""Amazon S3 Vectors, emulated on sqlite-vec: vector buckets, indexes, vectors, exact k-NN and filters.

Storage: one SQLite database (default ``data_dir()/vectors/s3vectors.sqlite``), so buckets, indexes and
vectors survive the process. Vectors are float32 blobs; a query is an exact (brute-force) scan of the
index's vectors with sqlite-vec's ``vec_distance_cosine`` / ``vec_distance_l2``, after the metadata filter,
ordered by (distance, key): the results are those of brute force, ties broken by key. The filterable
metadata of each vector is also kept one value per row in ``vector_meta``, so a filter becomes SQL.

The request and response keys are those of botocore's ``s3vectors`` model (2025-07-15); limits and
filter semantics follow the Amazon S3 User Guide ("Limitations and restrictions", "Metadata filtering"):

- names: bucket 3-63 of ``[a-z0-9-]``, index 3-63 of ``[a-z0-9.-]``, both beginning and ending with a
  letter or digit; vector keys 1-1,024 characters; dimension 1-4,096, ``float32`` only.
- PutVectors and DeleteVectors take at most 500 vectors/keys, GetVectors 100 keys; QueryVectors topK is
  at most 100; list pages at most 500 buckets or indexes and 1,000 vectors; ListVectors up to 16 segments.
- metadata: at most 50 keys and 40 KB per vector, of which at most 2 KB filterable (measured here as the
  compact JSON encoding); values are strings, numbers, booleans or lists of those. Up to 10
  non-filterable keys per index, fixed at CreateIndex.
- vector data: finite numbers only, of the index's dimension; no all-zero vector in a cosine index.
- filter operators: ``$eq $ne $gt $gte $lt $lte $in $nin $exists $and $or``; ``{"k": v}`` is ``$eq``;
  several keys in one object, or several operators on one key, are ANDed. ``$eq``/``$in`` on a list
  value match if any element matches, ``$gt``... compare numbers only. ``$ne``/``$nin`` follow MongoDB
  (a vector without the key matches; the documentation does not say). A condition on a non-filterable key
  matches nothing filterable: that key is simply not indexed for filtering.

Distances: cosine distance = 1 - cosine similarity; euclidean = the L2 distance (not squared).
Resources live in one namespace per database: the region and account only make up the ARNs.
Thread-safe: one SQLite connection per thread (WAL mode), writes in ``BEGIN IMMEDIATE`` transactions.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import threading
import time
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..paths import data_dir
from .base import Emulator, ServiceError

try:  # the pyenv Pythons' sqlite3 cannot load extensions; pysqlite3-binary can
    from pysqlite3 import dbapi2 as sqlite3
except ImportError:  # pragma: no cover - depends on the machine
    import sqlite3  # type: ignore[no-redef]

BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
INDEX_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
BUCKET_ARN = re.compile(r"^arn:aws[-a-z0-9]*:s3vectors:([a-z0-9-]+):([0-9]{12}):bucket/([^/]+)$")
INDEX_ARN = re.compile(r"^arn:aws[-a-z0-9]*:s3vectors:([a-z0-9-]+):([0-9]{12}):bucket/([^/]+)/index/([^/]+)$")

MAX_DIMENSION = 4096
MAX_PUT = 500
MAX_DELETE = 500
MAX_GET = 100
MAX_TOP_K = 100
MAX_LIST_VECTORS = 1000
MAX_LIST_CONTAINERS = 500
MAX_SEGMENTS = 16
MAX_KEY_LENGTH = 1024
MAX_METADATA_KEYS = 50
MAX_METADATA_BYTES = 40 * 1024
MAX_FILTERABLE_BYTES = 2 * 1024
MAX_NON_FILTERABLE_KEYS = 10
DEFAULT_ACCOUNT = "123456789012"

_COMPARISONS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (
    name TEXT PRIMARY KEY, created REAL NOT NULL, encryption TEXT NOT NULL, policy TEXT);
CREATE TABLE IF NOT EXISTS indexes (
    id INTEGER PRIMARY KEY, bucket TEXT NOT NULL, name TEXT NOT NULL, created REAL NOT NULL,
    dimension INTEGER NOT NULL, metric TEXT NOT NULL, data_type TEXT NOT NULL,
    non_filterable TEXT NOT NULL, encryption TEXT NOT NULL, UNIQUE (bucket, name));
CREATE TABLE IF NOT EXISTS vectors (
    id INTEGER PRIMARY KEY, index_id INTEGER NOT NULL, key TEXT NOT NULL, data BLOB NOT NULL,
    metadata TEXT, UNIQUE (index_id, key));
CREATE TABLE IF NOT EXISTS vector_meta (
    vid INTEGER NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL, num REAL, str TEXT);
CREATE INDEX IF NOT EXISTS vector_meta_vid ON vector_meta (vid);
CREATE INDEX IF NOT EXISTS vector_meta_str ON vector_meta (name, str);
CREATE INDEX IF NOT EXISTS vector_meta_num ON vector_meta (name, num);
CREATE TABLE IF NOT EXISTS tags (arn TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (arn, key));
"""


def _validation(message: str) -> ServiceError:
    return ServiceError("ValidationException", message, 400)


def _not_found(message: str) -> ServiceError:
    return ServiceError("NotFoundException", message, 404)


def _conflict(message: str) -> ServiceError:
    return ServiceError("ConflictException", message, 409)


def _timestamp(value: float) -> datetime:
    return datetime.fromtimestamp(value, tz=timezone.utc)


def _token(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).decode()


def _untoken(token: str | None) -> dict:
    if not token:
        return {}
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))
        if not isinstance(value, dict):
            raise ValueError
        return value
    except (ValueError, TypeError, UnicodeDecodeError):
        raise _validation("The provided pagination token is invalid") from None


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class S3VectorsEmulator(Emulator):
    """S3 Vectors control and data plane on one SQLite (+ sqlite-vec) database file."""

    service = "s3vectors"

    def __init__(self, path: str | Path | None = None, *, region: str | None = None,
                 account_id: str = DEFAULT_ACCOUNT):
        if path is None:
            folder = data_dir() / "vectors"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / "s3vectors.sqlite"
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.account_id = account_id
        self._connections: dict[int, Any] = {}
        self._connections_lock = threading.Lock()
        self._db().executescript(_SCHEMA)

    # -- connections ---------------------------------------------------------------------------------------
    def _db(self):
        ident = threading.get_ident()
        db = self._connections.get(ident)
        if db is None:
            db = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None, check_same_thread=False)
            db.enable_load_extension(True)
            import sqlite_vec

            sqlite_vec.load(db)
            db.enable_load_extension(False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=OFF")
            db.create_function("segment_of", 2, lambda key, count: zlib.crc32(key.encode("utf-8")) % count,
                               deterministic=True)
            with self._connections_lock:
                self._connections[ident] = db
        return db

    class _Transaction:
        def __init__(self, db):
            self.db = db

        def __enter__(self):
            self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, exc_type, *_):
            self.db.execute("ROLLBACK" if exc_type else "COMMIT")

    def _write(self) -> "_Transaction":
        return self._Transaction(self._db())

    def close(self) -> None:
        with self._connections_lock:
            connections, self._connections = list(self._connections.values()), {}
        for db in connections:
            try:
                db.close()
            except Exception:  # noqa: BLE001 - closing a connection of another thread is best effort
                pass

    # -- ARNs and lookups ----------------------------------------------------------------------------------
    def _bucket_arn(self, bucket: str) -> str:
        return f"arn:aws:s3vectors:{self.region}:{self.account_id}:bucket/{bucket}"

    def _index_arn(self, bucket: str, index: str) -> str:
        return f"{self._bucket_arn(bucket)}/index/{index}"

    def _bucket_name(self, params: dict) -> str:
        name, arn = params.get("vectorBucketName"), params.get("vectorBucketArn")
        if bool(name) == bool(arn):
            raise _validation("Must specify either vectorBucketName or vectorBucketArn but not both")
        if arn:
            match = BUCKET_ARN.match(arn)
            if not match:
                raise _validation(f"Invalid vector bucket ARN: {arn}")
            return match.group(3)
        return name

    def _bucket_row(self, name: str):
        row = self._db().execute("SELECT name, created, encryption, policy FROM buckets WHERE name = ?",
                                 (name,)).fetchone()
        if row is None:
            raise _not_found("The specified vector bucket could not be found")
        return row

    def _index_names(self, params: dict) -> tuple[str, str]:
        arn = params.get("indexArn")
        if arn:
            if params.get("vectorBucketName") or params.get("indexName") or params.get("vectorBucketArn"):
                raise _validation("Must specify either indexArn or both vectorBucketName and indexName")
            match = INDEX_ARN.match(arn)
            if not match:
                raise _validation(f"Invalid index ARN: {arn}")
            return match.group(3), match.group(4)
        if not params.get("indexName"):
            raise _validation("Must specify either indexArn or both vectorBucketName and indexName")
        return self._bucket_name(params), params["indexName"]

    def _index(self, params: dict) -> dict:
        bucket, name = self._index_names(params)
        row = self._db().execute(
            "SELECT id, bucket, name, created, dimension, metric, data_type, non_filterable, encryption "
            "FROM indexes WHERE bucket = ? AND name = ?", (bucket, name)).fetchone()
        if row is None:
            self._bucket_row(bucket)
            raise _not_found("The specified index could not be found")
        keys = ("id", "bucket", "name", "created", "dimension", "metric", "data_type", "non_filterable",
                "encryption")
        index = dict(zip(keys, row))
        index["non_filterable"] = json.loads(index["non_filterable"])
        index["encryption"] = json.loads(index["encryption"])
        return index

    @staticmethod
    def _encryption(config: dict | None) -> dict:
        config = dict(config or {})
        sse = config.get("sseType", "AES256")
        if sse == "aws:kms" and not config.get("kmsKeyArn"):
            raise _validation("kmsKeyArn is required when sseType is aws:kms")
        if sse == "AES256" and config.get("kmsKeyArn"):
            raise _validation("kmsKeyArn may only be given when sseType is aws:kms")
        return {"sseType": sse, **({"kmsKeyArn": config["kmsKeyArn"]} if config.get("kmsKeyArn") else {})}

    def _set_tags(self, db, arn: str, tags: dict | None) -> None:
        for key, value in (tags or {}).items():
            db.execute("INSERT INTO tags (arn, key, value) VALUES (?, ?, ?) "
                       "ON CONFLICT (arn, key) DO UPDATE SET value = excluded.value", (arn, key, value))

    # -- vector buckets ------------------------------------------------------------------------------------
    def CreateVectorBucket(self, params: dict) -> dict:
        name = params["vectorBucketName"]
        if not BUCKET_NAME.match(name):
            raise _validation("Vector bucket names must be 3-63 characters of lowercase letters, numbers and "
                              "hyphens, and begin and end with a letter or number")
        encryption = self._encryption(params.get("encryptionConfiguration"))
        with self._write() as db:
            if db.execute("SELECT 1 FROM buckets WHERE name = ?", (name,)).fetchone():
                raise _conflict("A vector bucket with the specified name already exists")
            db.execute("INSERT INTO buckets (name, created, encryption) VALUES (?, ?, ?)",
                       (name, time.time(), _compact(encryption)))
            self._set_tags(db, self._bucket_arn(name), params.get("tags"))
        return {"vectorBucketArn": self._bucket_arn(name)}

    def GetVectorBucket(self, params: dict) -> dict:
        name, created, encryption, _ = self._bucket_row(self._bucket_name(params))
        return {"vectorBucket": {"vectorBucketName": name, "vectorBucketArn": self._bucket_arn(name),
                                 "creationTime": _timestamp(created),
                                 "encryptionConfiguration": json.loads(encryption)}}

    def ListVectorBuckets(self, params: dict) -> dict:
        limit = self._page_size(params, MAX_LIST_CONTAINERS)
        after = _untoken(params.get("nextToken")).get("after", "")
        prefix = params.get("prefix", "")
        rows = self._db().execute(
            "SELECT name, created FROM buckets WHERE name > ? AND substr(name, 1, ?) = ? ORDER BY name LIMIT ?",
            (after, len(prefix), prefix, limit + 1)).fetchall()
        result = {"vectorBuckets": [{"vectorBucketName": n, "vectorBucketArn": self._bucket_arn(n),
                                     "creationTime": _timestamp(c)} for n, c in rows[:limit]]}
        if len(rows) > limit:
            result["nextToken"] = _token({"after": rows[limit - 1][0]})
        return result

    def DeleteVectorBucket(self, params: dict) -> dict:
        name = self._bucket_name(params)
        with self._write() as db:
            self._bucket_row(name)
            if db.execute("SELECT 1 FROM indexes WHERE bucket = ? LIMIT 1", (name,)).fetchone():
                raise _conflict("The vector bucket is not empty: delete its indexes first")
            db.execute("DELETE FROM buckets WHERE name = ?", (name,))
            db.execute("DELETE FROM tags WHERE arn = ?", (self._bucket_arn(name),))
        return {}

    def PutVectorBucketPolicy(self, params: dict) -> dict:
        name = self._bucket_name(params)
        try:
            json.loads(params["policy"])
        except ValueError:
            raise _validation("The policy is not valid JSON") from None
        with self._write() as db:
            self._bucket_row(name)
            db.execute("UPDATE buckets SET policy = ? WHERE name = ?", (params["policy"], name))
        return {}

    def GetVectorBucketPolicy(self, params: dict) -> dict:
        policy = self._bucket_row(self._bucket_name(params))[3]
        return {"policy": policy} if policy else {}

    def DeleteVectorBucketPolicy(self, params: dict) -> dict:
        name = self._bucket_name(params)
        with self._write() as db:
            self._bucket_row(name)
            db.execute("UPDATE buckets SET policy = NULL WHERE name = ?", (name,))
        return {}

    # -- indexes -------------------------------------------------------------------------------------------
    def CreateIndex(self, params: dict) -> dict:
        bucket = self._bucket_name(params)
        name = params["indexName"]
        if not INDEX_NAME.match(name):
            raise _validation("Index names must be 3-63 characters of lowercase letters, numbers, hyphens and "
                              "dots, and begin and end with a letter or number")
        dimension = params["dimension"]
        if not 1 <= dimension <= MAX_DIMENSION:
            raise _validation(f"dimension must be between 1 and {MAX_DIMENSION}")
        non_filterable = (params.get("metadataConfiguration") or {}).get("nonFilterableMetadataKeys", [])
        if len(non_filterable) > MAX_NON_FILTERABLE_KEYS:
            raise _validation(f"At most {MAX_NON_FILTERABLE_KEYS} non-filterable metadata keys are allowed")
        if any(not 1 <= len(k) <= 63 for k in non_filterable) or len(set(non_filterable)) != len(non_filterable):
            raise _validation("Non-filterable metadata keys must be unique and 1-63 characters long")
        with self._write() as db:
            bucket_row = self._bucket_row(bucket)
            encryption = (self._encryption(params["encryptionConfiguration"])
                          if params.get("encryptionConfiguration") else json.loads(bucket_row[2]))
            if db.execute("SELECT 1 FROM indexes WHERE bucket = ? AND name = ?", (bucket, name)).fetchone():
                raise _conflict("An index with the specified name already exists")
            db.execute("INSERT INTO indexes (bucket, name, created, dimension, metric, data_type, non_filterable,"
                       " encryption) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (bucket, name, time.time(), dimension, params["distanceMetric"], params["dataType"],
                        _compact(non_filterable), _compact(encryption)))
            self._set_tags(db, self._index_arn(bucket, name), params.get("tags"))
        return {"indexArn": self._index_arn(bucket, name)}

    def GetIndex(self, params: dict) -> dict:
        index = self._index(params)
        body = {"vectorBucketName": index["bucket"], "indexName": index["name"],
                "indexArn": self._index_arn(index["bucket"], index["name"]),
                "creationTime": _timestamp(index["created"]), "dataType": index["data_type"],
                "dimension": index["dimension"], "distanceMetric": index["metric"],
                "encryptionConfiguration": index["encryption"]}
        if index["non_filterable"]:
            body["metadataConfiguration"] = {"nonFilterableMetadataKeys": index["non_filterable"]}
        return {"index": body}

    def ListIndexes(self, params: dict) -> dict:
        bucket = self._bucket_name(params)
        self._bucket_row(bucket)
        limit = self._page_size(params, MAX_LIST_CONTAINERS)
        after = _untoken(params.get("nextToken")).get("after", "")
        prefix = params.get("prefix", "")
        rows = self._db().execute(
            "SELECT name, created FROM indexes WHERE bucket = ? AND name > ? AND substr(name, 1, ?) = ? "
            "ORDER BY name LIMIT ?", (bucket, after, len(prefix), prefix, limit + 1)).fetchall()
        result = {"indexes": [{"vectorBucketName": bucket, "indexName": n, "indexArn": self._index_arn(bucket, n),
                               "creationTime": _timestamp(c)} for n, c in rows[:limit]]}
        if len(rows) > limit:
            result["nextToken"] = _token({"after": rows[limit - 1][0]})
        return result

    def DeleteIndex(self, params: dict) -> dict:
        with self._write() as db:
            index = self._index(params)
            db.execute("DELETE FROM vector_meta WHERE vid IN (SELECT id FROM vectors WHERE index_id = ?)",
                       (index["id"],))
            db.execute("DELETE FROM vectors WHERE index_id = ?", (index["id"],))
            db.execute("DELETE FROM indexes WHERE id = ?", (index["id"],))
            db.execute("DELETE FROM tags WHERE arn = ?", (self._index_arn(index["bucket"], index["name"]),))
        return {}

    # -- vectors -------------------------------------------------------------------------------------------
    def _vector_blob(self, data: dict | None, index: dict, what: str) -> bytes:
        values = (data or {}).get("float32")
        if values is None:
            raise _validation(f"{what}: vector data must be given as float32")
        if len(values) != index["dimension"]:
            raise _validation(f"{what}: the vector has dimension {len(values)}, the index expects "
                              f"{index['dimension']}")
        array = np.asarray(values, dtype=np.float64)
        with np.errstate(over="ignore"):  # a value beyond float32's range becomes inf: refused just below
            single = array.astype(np.float32)
        if not np.all(np.isfinite(array)) or not np.all(np.isfinite(single)):
            raise _validation(f"{what}: vector data must contain only finite float32 values")
        if index["metric"] == "cosine" and not np.any(single):
            raise _validation(f"{what}: zero vectors are not allowed with the cosine distance metric")
        return single.tobytes()

    @staticmethod
    def _check_metadata(metadata: Any, non_filterable: list[str], what: str) -> list[tuple[str, str, Any, Any]]:
        """Validate one vector's metadata; the rows of its filterable values for ``vector_meta``."""
        if metadata is None:
            return []
        if not isinstance(metadata, dict):
            raise _validation(f"{what}: metadata must be a JSON object")
        if len(metadata) > MAX_METADATA_KEYS:
            raise _validation(f"{what}: at most {MAX_METADATA_KEYS} metadata keys are allowed per vector")
        try:
            total = len(_compact(metadata).encode("utf-8"))
            filterable = {k: v for k, v in metadata.items() if k not in non_filterable}
            filterable_size = len(_compact(filterable).encode("utf-8"))
        except ValueError:
            raise _validation(f"{what}: metadata numbers must be finite") from None
        if total > MAX_METADATA_BYTES:
            raise _validation(f"{what}: metadata exceeds the {MAX_METADATA_BYTES // 1024} KB limit per vector")
        if filterable_size > MAX_FILTERABLE_BYTES:
            raise _validation(f"{what}: filterable metadata exceeds the {MAX_FILTERABLE_BYTES // 1024} KB limit "
                              "per vector")
        rows = []
        for key, value in metadata.items():
            values = value if isinstance(value, list) else [value]
            for item in values:
                if isinstance(item, bool):
                    row = ("bool", float(item), None)
                elif isinstance(item, (int, float)):
                    row = ("num", float(item), None)
                elif isinstance(item, str):
                    row = ("str", None, item)
                else:
                    raise _validation(f"{what}: metadata value of {key!r} must be a string, number, boolean "
                                      "or a list of those")
                if key not in non_filterable:
                    rows.append((key, *row))
        return rows

    def PutVectors(self, params: dict) -> dict:
        vectors = params["vectors"]
        if len(vectors) > MAX_PUT:
            raise _validation(f"A PutVectors request may contain at most {MAX_PUT} vectors")
        index = self._index(params)
        prepared = []
        for position, vector in enumerate(vectors):
            what = f"vectors[{position}]"
            key = vector["key"]
            if not 1 <= len(key) <= MAX_KEY_LENGTH:
                raise _validation(f"{what}: vector keys must be 1-{MAX_KEY_LENGTH} characters long")
            blob = self._vector_blob(vector.get("data"), index, what)
            metadata = vector.get("metadata")
            rows = self._check_metadata(metadata, index["non_filterable"], what)
            prepared.append((key, blob, None if metadata is None else _compact(metadata), rows))
        with self._write() as db:
            if db.execute("SELECT 1 FROM indexes WHERE id = ?", (index["id"],)).fetchone() is None:
                raise _not_found("The specified index could not be found")
            for key, blob, metadata, rows in prepared:
                vid = db.execute(
                    "INSERT INTO vectors (index_id, key, data, metadata) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (index_id, key) DO UPDATE SET data = excluded.data, metadata = excluded.metadata "
                    "RETURNING id", (index["id"], key, blob, metadata)).fetchone()[0]
                db.execute("DELETE FROM vector_meta WHERE vid = ?", (vid,))
                if rows:
                    db.executemany("INSERT INTO vector_meta (vid, name, type, num, str) VALUES (?, ?, ?, ?, ?)",
                                   [(vid, *row) for row in rows])
        return {}

    def _output_vector(self, key: str, blob: bytes, metadata: str | None, *, data: bool, meta: bool) -> dict:
        item: dict[str, Any] = {"key": key}
        if data:
            item["data"] = {"float32": np.frombuffer(blob, dtype=np.float32).tolist()}
        if meta:
            item["metadata"] = json.loads(metadata) if metadata else {}
        return item

    def GetVectors(self, params: dict) -> dict:
        keys = params["keys"]
        if len(keys) > MAX_GET:
            raise _validation(f"A GetVectors request may ask for at most {MAX_GET} keys")
        index = self._index(params)
        found = {}
        db = self._db()
        for begin in range(0, len(keys), 50):
            part = keys[begin:begin + 50]
            rows = db.execute(f"SELECT key, data, metadata FROM vectors WHERE index_id = ? AND key IN "
                              f"({','.join('?' * len(part))})", (index["id"], *part)).fetchall()
            found.update({row[0]: row for row in rows})
        out, seen = [], set()
        for key in keys:
            if key in found and key not in seen:
                seen.add(key)
                out.append(self._output_vector(*found[key], data=bool(params.get("returnData")),
                                               meta=bool(params.get("returnMetadata"))))
        return {"vectors": out}

    def ListVectors(self, params: dict) -> dict:
        index = self._index(params)
        limit = self._page_size(params, MAX_LIST_VECTORS)
        count, segment = params.get("segmentCount"), params.get("segmentIndex")
        if (count is None) != (segment is None):
            raise _validation("segmentCount and segmentIndex must be given together")
        if count is not None and not (1 <= count <= MAX_SEGMENTS and 0 <= segment < count):
            raise _validation(f"segmentCount must be 1-{MAX_SEGMENTS} and segmentIndex below segmentCount")
        state = _untoken(params.get("nextToken"))
        if state and state.get("segment") != [count, segment]:
            raise _validation("The pagination token does not belong to this segment")
        sql = "SELECT key, data, metadata FROM vectors WHERE index_id = ? AND key > ?"
        args: list[Any] = [index["id"], state.get("after", "")]
        if count is not None and count > 1:
            sql += " AND segment_of(key, ?) = ?"
            args += [count, segment]
        rows = self._db().execute(sql + " ORDER BY key LIMIT ?", (*args, limit + 1)).fetchall()
        result: dict[str, Any] = {"vectors": [
            self._output_vector(*row, data=bool(params.get("returnData")), meta=bool(params.get("returnMetadata")))
            for row in rows[:limit]]}
        if len(rows) > limit:
            result["nextToken"] = _token({"after": rows[limit - 1][0], "segment": [count, segment]})
        return result

    def DeleteVectors(self, params: dict) -> dict:
        keys = params["keys"]
        if len(keys) > MAX_DELETE:
            raise _validation(f"A DeleteVectors request may contain at most {MAX_DELETE} keys")
        with self._write() as db:
            index = self._index(params)
            for key in keys:
                row = db.execute("SELECT id FROM vectors WHERE index_id = ? AND key = ?",
                                 (index["id"], key)).fetchone()
                if row:
                    db.execute("DELETE FROM vector_meta WHERE vid = ?", (row[0],))
                    db.execute("DELETE FROM vectors WHERE id = ?", (row[0],))
        return {}

    def QueryVectors(self, params: dict) -> dict:
        top_k = params["topK"]
        if not 1 <= top_k <= MAX_TOP_K:
            raise _validation(f"topK must be between 1 and {MAX_TOP_K}")
        index = self._index(params)
        query = self._vector_blob(params.get("queryVector"), index, "queryVector")
        where, args = ("", [])
        if params.get("filter") is not None:
            where, args = _filter_sql(params["filter"])
            where = f" AND ({where})"
        function = "vec_distance_cosine" if index["metric"] == "cosine" else "vec_distance_l2"
        rows = self._db().execute(
            f"SELECT v.key, {function}(v.data, ?) AS distance, v.metadata FROM vectors v "
            f"WHERE v.index_id = ?{where} ORDER BY distance, v.key LIMIT ?",
            (query, index["id"], *args, top_k)).fetchall()
        out = []
        for key, distance, metadata in rows:
            item: dict[str, Any] = {"key": key}
            if params.get("returnDistance"):
                item["distance"] = float(distance)
            if params.get("returnMetadata"):
                item["metadata"] = json.loads(metadata) if metadata else {}
            out.append(item)
        return {"vectors": out, "distanceMetric": index["metric"]}

    # -- tags ----------------------------------------------------------------------------------------------
    def _resource_exists(self, arn: str) -> None:
        index = INDEX_ARN.match(arn)
        if index:
            self._index({"indexArn": arn})
            return
        bucket = BUCKET_ARN.match(arn)
        if not bucket:
            raise _validation(f"Invalid resource ARN: {arn}")
        self._bucket_row(bucket.group(3))

    def TagResource(self, params: dict) -> dict:
        self._resource_exists(params["resourceArn"])
        with self._write() as db:
            self._set_tags(db, params["resourceArn"], params["tags"])
        return {}

    def UntagResource(self, params: dict) -> dict:
        self._resource_exists(params["resourceArn"])
        with self._write() as db:
            db.executemany("DELETE FROM tags WHERE arn = ? AND key = ?",
                           [(params["resourceArn"], key) for key in params["tagKeys"]])
        return {}

    def ListTagsForResource(self, params: dict) -> dict:
        self._resource_exists(params["resourceArn"])
        rows = self._db().execute("SELECT key, value FROM tags WHERE arn = ? ORDER BY key",
                                  (params["resourceArn"],)).fetchall()
        return {"tags": dict(rows)}

    # -- helpers -------------------------------------------------------------------------------------------
    @staticmethod
    def _page_size(params: dict, maximum: int) -> int:
        size = params.get("maxResults", maximum)
        if not 1 <= size <= maximum:
            raise _validation(f"maxResults must be between 1 and {maximum}")
        return size


# -- metadata filters -> SQL ---------------------------------------------------------------------------------
def _primitive(value: Any, operator: str) -> tuple[str, Any]:
    """(type, column value) of a filter operand, as stored in vector_meta."""
    if isinstance(value, bool):
        return "bool", float(value)
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise _validation(f"Invalid filter: {operator} takes finite numbers")
        return "num", float(value)
    if isinstance(value, str):
        return "str", value
    raise _validation(f"Invalid filter: {operator} takes a string, number or boolean")


def _having(name: str, condition: str = "", args: Iterable[Any] = ()) -> tuple[str, list]:
    """SQL true when the vector has a filterable value of ``name`` meeting ``condition``.

    Written as ``v.id IN (subquery)``: SQLite builds the set of matching vectors once from the
    (name, str) / (name, num) indexes, instead of probing per candidate row.
    """
    sql = "v.id IN (SELECT m.vid FROM vector_meta m WHERE m.name = ?"
    return (sql + (f" AND ({condition}))" if condition else ")")), [name, *args]


def _match_any(name: str, values: Iterable[tuple[str, Any]]) -> tuple[str, list]:
    """SQL true when the vector has a value of ``name`` equal to one of ``values``."""
    conditions, args = [], []
    by_type: dict[str, list] = {}
    for kind, value in values:
        by_type.setdefault(kind, []).append(value)
    for kind, items in sorted(by_type.items()):
        column = "str" if kind == "str" else "num"
        conditions.append(f"(m.type = ? AND m.{column} IN ({','.join('?' * len(items))}))")
        args += [kind, *items]
    return _having(name, " OR ".join(conditions) or "0", args)


def _field_sql(name: str, condition: Any) -> tuple[str, list]:
    if not isinstance(condition, dict):
        if isinstance(condition, (list, dict)) or condition is None:
            raise _validation(f"Invalid filter for {name!r}: use an operator such as $in for lists")
        return _match_any(name, [_primitive(condition, "$eq")])
    if not condition:
        raise _validation(f"Invalid filter for {name!r}: empty condition")
    parts, args = [], []
    for operator, operand in condition.items():
        if operator == "$eq":
            sql, more = _match_any(name, [_primitive(operand, operator)])
        elif operator == "$ne":
            sql, more = _match_any(name, [_primitive(operand, operator)])
            sql = f"NOT {sql}"
        elif operator in _COMPARISONS:
            if isinstance(operand, bool) or not isinstance(operand, (int, float)) or not math.isfinite(operand):
                raise _validation(f"Invalid filter: {operator} takes a number")
            sql, more = _having(name, f"m.type = 'num' AND m.num {_COMPARISONS[operator]} ?", [float(operand)])
        elif operator in ("$in", "$nin"):
            if not isinstance(operand, list) or not operand:
                raise _validation(f"Invalid filter: {operator} takes a non-empty array")
            sql, more = _match_any(name, [_primitive(item, operator) for item in operand])
            if operator == "$nin":
                sql = f"NOT {sql}"
        elif operator == "$exists":
            if not isinstance(operand, bool):
                raise _validation("Invalid filter: $exists takes a boolean")
            sql, more = _having(name)
            if not operand:
                sql = f"NOT {sql}"
        else:
            raise _validation(f"Invalid filter: unsupported operator {operator}")
        parts.append(sql)
        args += more
    return " AND ".join(f"({p})" for p in parts), args


def _filter_sql(filter_: Any) -> tuple[str, list]:
    """Translate an S3 Vectors metadata filter into an SQL condition over ``vectors v``."""
    if not isinstance(filter_, dict) or not filter_:
        raise _validation("Invalid filter: a filter is a non-empty JSON object")
    parts, args = [], []
    for key, value in filter_.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise _validation(f"Invalid filter: {key} takes a non-empty array of filters")
            subs = [_filter_sql(item) for item in value]
            joiner = " AND " if key == "$and" else " OR "
            parts.append(joiner.join(f"({sql})" for sql, _ in subs))
            for _, more in subs:
                args += more
        elif key.startswith("$"):
            raise _validation(f"Invalid filter: unsupported operator {key}")
        else:
            sql, more = _field_sql(key, value)
            parts.append(sql)
            args += more
    return " AND ".join(f"({p})" for p in parts), args
