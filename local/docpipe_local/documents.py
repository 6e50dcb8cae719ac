"""Documents in, results out: what `docpipe run` and `docpipe watch` share.

A file becomes an inbox object (the trigger starts its execution); a finished execution becomes a report
whose outputs are copied to OUT/<doc_id>/. Each inbox object ends with one outcome, whatever stops a process:
- an unchanged file (same key, content and request) already processed is answered from its manifest;
- one already in the inbox without an outcome (an interrupted run) is resumed: its event is delivered again,
  never uploaded as a new version (a new doc_id: processed twice); only `force` uploads it again;
- at start, inbox objects with no outcome are resumed, and vectors that no recorded document owns (indexed by
  a process killed before it saved) are deleted: the data directory lock means no other process is running.
- the offline state is saved before results are copied to OUT, so OUT holds only committed outcomes.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from docpipe.ledger import FINAL, IN_PROGRESS
from docpipe_local.runtime import Execution, OfflineRuntime
from docpipe_local.trigger import s3_event


@dataclass(frozen=True)
class Source:
    path: Path
    name: str  # its inbox key without the prefix: the path relative to the folder given, or the file's name


@dataclass
class Tracked:
    source: str  # what the user gave: a local path, or the inbox key for a re-delivered object
    key: str
    arn: str | None = None
    started: float = field(default_factory=time.monotonic)
    cached: dict | None = None
    version_id: str | None = None  # the inbox object version its execution processes


@dataclass
class Report:
    doc_id: str | None
    source: str
    status: str
    reason: str | None
    outputs: list[str]
    manifest: str | None
    seconds: float
    cached: bool = False
    name: str = ""  # the inbox key without the prefix: what the table shows and `docpipe delete` takes

    def as_json(self) -> dict:
        return {"doc_id": self.doc_id, "source": self.source, "name": self.name, "status": self.status,
                "reason": self.reason, "outputs": self.outputs, "manifest": self.manifest, "cached": self.cached}


@dataclass
class Inputs:
    files: list[Source] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "PATH: why", for entries of a folder that are not files


def expand(paths: list[str]) -> Inputs:
    """Files as given (named by their file name); folders contribute their files, recursively (hidden ones
    skipped), named by their path relative to the folder: `col/a/report.txt` and `col/b/report.txt` stay two
    documents, `a/report.txt` and `b/report.txt`. A file reached twice (given twice, or directly and inside a
    folder also given) is one document, under its first name. Two different files that would get the same
    name are refused (ValueError) before anything is uploaded: one would replace the other."""
    inputs, by_file, by_name = Inputs(), {}, {}

    def add(path: Path, name: str) -> None:
        real = path.resolve()
        if real in by_file:
            return
        if name in by_name:
            raise ValueError(f"{by_name[name]} and {path} would both be uploaded as {name!r}, one replacing the "
                             f"other; give the folder that holds both, or rename one")
        by_file[real], by_name[name] = path, path
        inputs.files.append(Source(path, name))

    def skip(reason: str) -> None:
        if reason not in inputs.skipped:  # a folder given twice
            inputs.skipped.append(reason)

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for found in sorted(path.rglob("*")):
                relative = found.relative_to(path)
                if any(part.startswith(".") for part in relative.parts) or found.is_dir():
                    continue
                if found.is_file():
                    add(found, relative.as_posix())
                elif found.is_symlink():
                    skip(f"{found}: a link to {os.readlink(found)}, which does not exist")
                else:
                    skip(f"{found}: not a regular file")
        elif path.is_file():
            add(path, path.name)
        elif path.is_symlink():
            raise FileNotFoundError(f"{raw} is a link to {os.readlink(path)}, which does not exist")
        else:
            raise FileNotFoundError(f"no such file or directory: {raw}")
    return inputs


class DocumentSession:
    def __init__(self, runtime: OfflineRuntime, out_dir: Path, force: bool = False,
                 languages: str | None = None, audio_formats: str | None = None):
        self.runtime = runtime
        self.out_dir = out_dir
        self.force = force
        # what an uploader asks for per document: object metadata, read by the pipeline's Validate
        self.requests = {key: value for key, value in (("languages", languages), ("audio-formats", audio_formats))
                         if value}
        self.in_flight: dict[str, Tracked] = {}  # inbox key -> the execution this session runs for it

    def inbox_key(self, source: Source | Path) -> str:
        """A Source's inbox name; a bare Path is named by its file name."""
        return f"{self.runtime.inbox_prefix}{source.name}"

    def submit(self, source: Source | Path) -> list[Tracked]:
        path = source.path if isinstance(source, Source) else source
        data = path.read_bytes()
        key, sha256 = self.inbox_key(source), hashlib.sha256(data).hexdigest()
        metadata = {"sha256": sha256, **self.requests}
        if not self.force:
            found = self._same_in_inbox(key, metadata)
            if found is not None:
                return self._resume(str(path), key, found)
        version_id, arns = self.runtime.upload_version(data, key, metadata=metadata)
        if not arns:
            raise RuntimeError(f"no rule in template.yaml matched the upload of {key}")
        tracked = [Tracked(str(path), key, arn, version_id=version_id) for arn in arns]
        self.in_flight[key] = tracked[0]
        return tracked

    def _same_in_inbox(self, key: str, metadata: dict[str, str]) -> dict | None:
        """The inbox object at this key when it holds this exact content and request (head_object's answer)."""
        rt = self.runtime
        try:
            head = rt.s3.head_object(Bucket=rt.bucket, Key=key)
        except rt.s3.exceptions.ClientError:
            return None
        return head if head.get("Metadata", {}) == metadata else None

    def _resume(self, source: str, key: str, head: dict) -> list[Tracked]:
        """Content already in the inbox: its outcome if it has one, else its execution (running, or started anew
        by delivering its event again: the same version, so the same doc_id)."""
        done = self._finished_result(key, head)
        if done is not None:
            return [Tracked(source, key, cached=done)]
        running = self.in_flight.get(key)
        if running is not None and running.version_id == head.get("VersionId"):
            running.source = source  # reported once, under the name the user gave
            return []
        return self._redeliver(source, key, head)

    def _doc_id(self, key: str, head: dict) -> str:
        from docpipe.ids import doc_id_for

        sha256 = head.get("Metadata", {}).get("sha256") or hashlib.sha256(self.runtime.read(key)).hexdigest()
        return doc_id_for(self.runtime.bucket, key, head.get("VersionId"), sha256)

    def _ledger_item(self, doc_id: str) -> dict | None:
        rt = self.runtime
        return rt.dynamodb.get_item(TableName=self._table, Key={"doc_id": {"S": doc_id}},
                                    ConsistentRead=True).get("Item")

    def _finished_result(self, key: str, head: dict) -> dict | None:
        """The earlier execution's result when this object version was already processed."""
        doc_id = self._doc_id(key, head)
        item = self._ledger_item(doc_id)
        # an item with no status holds no outcome: its vector count alone, or (in moto, whose UpdateItem sets
        # attributes one after another) an execution's claim read half-written
        if not item or item.get("status", {}).get("S") not in FINAL:
            return None
        manifest_key = f"{self.runtime.environment.get('DOCPIPE_OUT_PREFIX', 'out/')}{doc_id}/manifest.json"
        manifest = json.loads(self.runtime.read(manifest_key))
        return {"status": manifest["status"], "doc_id": doc_id, "reason": manifest.get("reason"),
                "outputs": manifest["outputs"], "manifest": manifest_key}

    def _redeliver(self, source: str, key: str, head: dict) -> list[Tracked]:
        """Deliver the object's event again. A claim left by this data directory's earlier process is released
        first: its execution died with that process (the lock says no other process runs)."""
        rt = self.runtime
        doc_id = self._doc_id(key, head)
        try:
            rt.dynamodb.update_item(TableName=self._table, Key={"doc_id": {"S": doc_id}},
                                    UpdateExpression="SET claim_expires_at = :expired",
                                    ConditionExpression="#status = :in_progress",
                                    ExpressionAttributeNames={"#status": "status"},
                                    ExpressionAttributeValues={":expired": {"N": "0"},
                                                               ":in_progress": {"S": IN_PROGRESS}})
        except rt.dynamodb.exceptions.ConditionalCheckFailedException:
            pass  # no claim yet (the process died before Validate): nothing to release
        event = s3_event("Object Created", rt.bucket, key, size=head["ContentLength"], etag=head.get("ETag"),
                         version_id=head.get("VersionId"), reason="PutObject")
        tracked = [Tracked(source, key, arn, version_id=head.get("VersionId")) for arn in rt.emit(event)]
        if tracked:
            self.in_flight[key] = tracked[0]
        return tracked

    def reconcile(self) -> list[Tracked]:
        """Resume inbox objects that have no outcome (a killed process left them unfinished), and delete the
        vectors no recorded document owns."""
        rt, tracked = self.runtime, []
        self._delete_orphaned_vectors()
        pages = rt.s3.get_paginator("list_objects_v2").paginate(Bucket=rt.bucket, Prefix=rt.inbox_prefix)
        for obj in (obj for page in pages for obj in page.get("Contents", [])):
            head = rt.s3.head_object(Bucket=rt.bucket, Key=obj["Key"])
            if self._finished_result(obj["Key"], head) is None:
                tracked += self._redeliver(obj["Key"], obj["Key"], head)
        return tracked

    def _delete_orphaned_vectors(self) -> int:
        """Vectors are written to their own store as they are indexed, the ledger when the state is saved: a
        process killed in between leaves vectors of a document the saved ledger never heard of (or more of
        them than it counted). Those are deleted; a resumed document indexes its own again."""
        import boto3

        rt = self.runtime
        counts = {}
        for page in rt.dynamodb.get_paginator("scan").paginate(TableName=self._table,
                                                              ProjectionExpression="doc_id, vector_count"):
            counts.update({item["doc_id"]["S"]: int(item.get("vector_count", {"N": "0"})["N"])
                           for item in page["Items"]})
        s3vectors = boto3.client("s3vectors", region_name=rt.s3.meta.region_name)
        index = {"vectorBucketName": rt.environment["DOCPIPE_VECTOR_BUCKET"],
                 "indexName": rt.environment["DOCPIPE_VECTOR_INDEX"]}
        orphans = []
        for page in s3vectors.get_paginator("list_vectors").paginate(**index):
            for vector in page["vectors"]:
                doc_id, _, number = vector["key"].rpartition("#")
                if doc_id and number.isdigit() and int(number) >= counts.get(doc_id, 0):
                    orphans.append(vector["key"])
        for start in range(0, len(orphans), 500):
            s3vectors.delete_vectors(**index, keys=orphans[start:start + 500])
        return len(orphans)

    @property
    def _table(self) -> str:
        return self.runtime.environment["DOCPIPE_DOCUMENTS_TABLE"]

    def finish(self, tracked: Tracked, execution: Execution | None) -> Report:
        seconds = time.monotonic() - tracked.started
        name = tracked.key.removeprefix(self.runtime.inbox_prefix)
        result = tracked.cached or (execution.output if execution and execution.status == "SUCCEEDED" else None)
        if result is None:
            reason = f"{execution.error}: {execution.cause}" if execution else "no execution"
            return Report(None, tracked.source, "FAILED", reason, [], None, seconds, name=name)
        if result["status"] == "DUPLICATE":
            return self._duplicate(tracked, result, seconds)
        if execution is not None:
            self.runtime.save()  # commit after every finished document, before its results reach OUT
        outputs = [str(self._download(result["doc_id"], key)) for key in result["outputs"]]
        manifest = str(self.out_dir / result["doc_id"] / "manifest.json") if result.get("manifest") else None
        return Report(result["doc_id"], tracked.source, result["status"], result.get("reason"), outputs, manifest,
                      seconds, cached=tracked.cached is not None, name=name)

    def _duplicate(self, tracked: Tracked, result: dict, seconds: float) -> Report:
        try:
            manifest = json.loads(self.runtime.read(result["manifest"]))
        except Exception:
            return Report(result["doc_id"], tracked.source, "FAILED", "a re-delivered event found the document "
                          "in progress elsewhere", [], None, seconds,
                          name=tracked.key.removeprefix(self.runtime.inbox_prefix))
        cached = {"status": manifest["status"], "doc_id": result["doc_id"], "reason": manifest.get("reason"),
                  "outputs": manifest["outputs"], "manifest": result["manifest"]}
        return self.finish(Tracked(tracked.source, tracked.key, cached=cached, started=tracked.started), None)

    def _download(self, doc_id: str, key: str) -> Path:
        target = self.out_dir / doc_id / PurePosixPath(key).name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self.runtime.read(key))
        return target


def inbox_key_for(runtime: OfflineRuntime, wanted: str) -> tuple[str | None, str | None]:
    """The inbox key a person means by a name (`a/report.txt`, or `report.txt` when only one file has that
    name) or a doc_id; (None, why not) when there is none, or more than one."""
    rt = runtime
    prefix = rt.inbox_prefix
    pages = rt.s3.get_paginator("list_objects_v2").paginate(Bucket=rt.bucket, Prefix=prefix)
    keys = [obj["Key"] for page in pages for obj in page.get("Contents", [])]
    if prefix + wanted in keys:
        return prefix + wanted, None
    item = rt.dynamodb.get_item(TableName=rt.environment["DOCPIPE_DOCUMENTS_TABLE"],
                                Key={"doc_id": {"S": wanted}}, ConsistentRead=True).get("Item")
    if item and "source_key" in item:
        key = item["source_key"]["S"]
        if key in keys:
            return key, None
        return None, f"{wanted} was {key.removeprefix(prefix)}, which is no longer in the inbox"
    same_name = [key for key in keys if PurePosixPath(key).name == wanted]
    if len(same_name) == 1:
        return same_name[0], None
    if same_name:
        return None, (f"{wanted!r} is ambiguous: {len(same_name)} documents have that name "
                      f"({', '.join(key.removeprefix(prefix) for key in same_name)}); give one of these, or a doc_id")
    return None, f"no document in the inbox is named {wanted!r} or has that doc_id"


def doc_ids(runtime: OfflineRuntime) -> list[str]:
    """Every document the ledger knows, whatever its outcome."""
    pages = runtime.dynamodb.get_paginator("scan").paginate(TableName=runtime.environment["DOCPIPE_DOCUMENTS_TABLE"],
                                                            ProjectionExpression="doc_id")
    return [item["doc_id"]["S"] for page in pages for item in page["Items"]]
