"""bench/state: saving and loading the offline state (1,000 S3 objects + 10,000 DynamoDB items), against the
pickle format docpipe used before, measured in the same run.

    .venv/bin/python bench/state/run.py [--rounds 5]

The state: one versioned bucket with 1,000 objects (sizes 200 B - 64 KiB, a third of them with a second
version, 50 deleted: delete markers; metadata and content types as the pipeline writes them) and one table
with 10,000 ledger-like items (strings, numbers, a nested map, a binary value). Measured, median of the rounds:

- first save: every object body is new (written as a file once);
- save: nothing new since the last save (what the runtime does after each finished document, apart from the
  document's own few objects);
- load: into a freshly started mock, as at the start of every command.

The baseline is the old format, reproduced here only to be measured: the backends pickled whole, bodies of
4 KiB or more as content-addressed files. This benchmark writes and loads its own pickle; docpipe itself
never opens one.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import pickle
import random
import statistics
import tempfile
import time
from pathlib import Path

from moto import mock_aws
from moto.dynamodb.models import dynamodb_backends
from moto.s3.models import s3_backends

from docpipe_local.persistence import StateStore
from docpipe_local.template import ACCOUNT_ID, REGION

OBJECTS, ITEMS = 1_000, 10_000
BUCKET, TABLE = "bench-documents", "bench-ledger"


def populate() -> None:
    import boto3

    s3, dynamodb = boto3.client("s3", region_name=REGION), boto3.client("dynamodb", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    dynamodb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": "doc_id", "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": "doc_id", "KeyType": "HASH"}])
    dynamodb.update_time_to_live(TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
    # through the backends (what the API calls end in), so building 11,000 records takes seconds
    backend, table = s3_backends[ACCOUNT_ID]["aws"], dynamodb_backends[ACCOUNT_ID][REGION]
    rng = random.Random(7)
    for number in range(OBJECTS):
        name = f"work/{number:04d}/text.json"
        for _ in range(2 if number % 3 == 0 else 1):
            body = rng.randbytes(rng.choice([200, 1_500, 6_000, 20_000, 65_536]))
            key = backend.put_object(BUCKET, name, body)
            key.set_metadata({"Content-Type": "application/json", "x-amz-meta-sha256": hashlib.sha256(body).hexdigest()})
        if number % 20 == 0:
            backend.delete_object(BUCKET, name)
    for number in range(ITEMS):
        table.put_item(TABLE, {
            "doc_id": {"S": f"{number:064x}"}, "status": {"S": "SUCCEEDED"}, "expires": {"N": str(1_800_000_000 + number)},
            "attempts": {"N": "1"}, "source": {"M": {"bucket": {"S": BUCKET}, "key": {"S": f"inbox/{number}.pdf"},
                                                      "version": {"S": f"v{number}"}}},
            "stages": {"L": [{"S": stage} for stage in ("extract", "chunk", "embed", "summarize")]},
            "digest": {"B": hashlib.sha256(str(number).encode()).digest()}})


class PickleBaseline:
    """The old format: the backends pickled whole, bodies >= 4 KiB as content-addressed files."""

    def __init__(self, directory: Path):
        self.path, self.blobs = directory / "aws-state.pickle", directory / "blobs"
        self.blobs.mkdir(parents=True, exist_ok=True)

    def save(self) -> None:
        blobs = self.blobs

        class Pickler(pickle.Pickler):
            def persistent_id(self, obj):
                if type(obj) is bytes and len(obj) >= 4096:
                    digest = hashlib.sha256(obj).hexdigest()
                    if not (blobs / digest).exists():
                        _write(blobs / digest, obj)
                    return ("blob", digest)
                return None

        buffer = io.BytesIO()
        Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump({
            "s3_buckets": dict(s3_backends[ACCOUNT_ID]["aws"].buckets),
            "dynamodb_tables": dict(dynamodb_backends[ACCOUNT_ID][REGION].tables)})
        _write(self.path, buffer.getvalue())

    def load(self) -> None:
        blobs = self.blobs

        class Unpickler(pickle.Unpickler):
            def persistent_load(self, pid):
                return (blobs / pid[1]).read_bytes()

        with self.path.open("rb") as file:
            saved = Unpickler(file).load()
        s3_backends[ACCOUNT_ID]["aws"].buckets.update(saved["s3_buckets"])
        for name in saved["s3_buckets"]:
            s3_backends.bucket_accounts[name] = ("aws", ACCOUNT_ID)
        dynamodb_backends[ACCOUNT_ID][REGION].tables.update(saved["dynamodb_tables"])


def _write(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(handle, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def measure_once(make_store, times: dict[str, list[float]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = make_store(Path(folder))
        with mock_aws():
            populate()
            times["first save"].append(timed(store.save))
            times["save"].append(timed(store.save))
        with mock_aws():
            times["load"].append(timed(store.load))
            assert len(s3_backends[ACCOUNT_ID]["aws"].buckets[BUCKET].keys) == OBJECTS
            assert len(dynamodb_backends[ACCOUNT_ID][REGION].tables[TABLE].items) == ITEMS


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    times = {name: {"first save": [], "save": [], "load": []} for name in ("old", "new")}
    for _ in range(args.rounds):  # alternating, so both formats see the same load on a shared machine
        measure_once(PickleBaseline, times["old"])
        measure_once(lambda folder: StateStore(folder / "state"), times["new"])
    old, new = ({operation: statistics.median(values) for operation, values in times[name].items()}
                for name in ("old", "new"))
    print(f"{OBJECTS:,} objects + {ITEMS:,} items, median of {args.rounds} rounds\n")
    print("| operation | pickle (old) s | SQLite + blobs s | new / old |\n|---|---|---|---|")
    for operation in new:
        print(f"| {operation} | {old[operation]:.3f} | {new[operation]:.3f} | {new[operation] / old[operation]:.2f}x |")


if __name__ == "__main__":
    main()
