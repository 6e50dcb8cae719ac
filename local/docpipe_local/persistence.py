"""Offline state that survives between commands: the S3 and DynamoDB backends of moto, pickled.

Object bodies go to content-addressed files (blobs/<sha256>), written once; everything else is one pickle
replaced atomically. A pickle only loads under the moto version that wrote it: another version starts
empty and says so. The caller holds the data directory's lock while a runtime is alive.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import moto
from moto.dynamodb.models import dynamodb_backends
from moto.s3.models import s3_backends

from docpipe_local.template import ACCOUNT_ID, REGION

_BLOB_MIN_BYTES = 4096


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BufferedWriter, blobs: Path):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.blobs = blobs

    def persistent_id(self, obj: Any) -> Any:
        if type(obj) is bytes and len(obj) >= _BLOB_MIN_BYTES:
            digest = hashlib.sha256(obj).hexdigest()
            path = self.blobs / digest
            if not path.exists():
                _atomic_write(path, obj)
            return ("blob", digest)
        return None


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BufferedReader, blobs: Path):
        super().__init__(file)
        self.blobs = blobs

    def persistent_load(self, pid: Any) -> bytes:
        kind, digest = pid
        return (self.blobs / digest).read_bytes()


def _atomic_write(path: Path, data: bytes) -> None:
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(handle, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temp, path)


class StateStore:
    def __init__(self, directory: Path):
        self.directory = directory
        self.blobs = directory / "blobs"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.path = directory / "aws-state.pickle"

    def load(self) -> str | None:
        """Restore saved state into the running mock; returns a warning when saved state was skipped."""
        if not self.path.exists():
            return None
        with self.path.open("rb") as file:
            saved = _Unpickler(file, self.blobs).load()
        if saved["moto"] != moto.__version__:
            return (f"saved offline state was written by moto {saved['moto']}, this is {moto.__version__}: "
                    f"starting empty (the old state stays in {self.path})")
        s3 = s3_backends[ACCOUNT_ID]["aws"]
        s3.buckets.update(saved["s3_buckets"])
        for name in saved["s3_buckets"]:  # moto's global bucket registry; without it a bucket is invisible
            s3_backends.bucket_accounts[name] = ("aws", ACCOUNT_ID)
        dynamodb_backends[ACCOUNT_ID][REGION].tables.update(saved["dynamodb_tables"])
        return None

    def save(self) -> None:
        state = {"moto": moto.__version__,
                 "s3_buckets": dict(s3_backends[ACCOUNT_ID]["aws"].buckets),
                 "dynamodb_tables": dict(dynamodb_backends[ACCOUNT_ID][REGION].tables)}
        for attempt in range(5):  # executions may mutate a backend while we walk it: take another snapshot
            buffer = io.BytesIO()
            try:
                _Pickler(buffer, self.blobs).dump(state)
                break
            except RuntimeError:
                if attempt == 4:
                    raise
        _atomic_write(self.path, buffer.getvalue())
