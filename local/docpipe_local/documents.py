"""Documents in, results out: what `docpipe run` and `docpipe watch` share.

A file becomes an inbox object (the trigger starts its execution); a finished execution becomes a report
whose outputs are copied to OUT/<doc_id>/. An unchanged file already processed is answered from its
manifest without a new execution; unfinished inbox objects from an interrupted process are re-delivered.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from docpipe_local.runtime import Execution, OfflineRuntime
from docpipe_local.trigger import s3_event

FINAL_LEDGER = {"SUCCEEDED", "QUARANTINED"}


@dataclass
class Tracked:
    source: str  # what the user gave: a local path, or the inbox key for a re-delivered object
    key: str
    arn: str | None = None
    started: float = field(default_factory=time.monotonic)
    cached: dict | None = None


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

    def as_json(self) -> dict:
        return {"doc_id": self.doc_id, "source": self.source, "status": self.status, "reason": self.reason,
                "outputs": self.outputs, "manifest": self.manifest}


def expand(paths: list[str]) -> list[Path]:
    """Files as given; directories contribute their files (recursively, hidden ones skipped)."""
    files = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.parts))
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"no such file or directory: {raw}")
    return files


class DocumentSession:
    def __init__(self, runtime: OfflineRuntime, out_dir: Path, force: bool = False,
                 languages: str | None = None, audio_formats: str | None = None):
        self.runtime = runtime
        self.out_dir = out_dir
        self.force = force
        # what an uploader asks for per document: object metadata, read by the pipeline's Validate
        self.requests = {key: value for key, value in (("languages", languages), ("audio-formats", audio_formats))
                         if value}

    def inbox_key(self, path: Path) -> str:
        return f"{self.runtime.inbox_prefix}{path.name}"

    def submit(self, path: Path) -> list[Tracked]:
        data = path.read_bytes()
        key, sha256 = self.inbox_key(path), hashlib.sha256(data).hexdigest()
        metadata = {"sha256": sha256, **self.requests}
        if not self.force:
            done = self._finished_result(key, metadata)
            if done is not None:
                return [Tracked(str(path), key, cached=done)]
        arns = self.runtime.upload(data, key, metadata=metadata)
        if not arns:
            raise RuntimeError(f"no rule in template.yaml matched the upload of {key}")
        return [Tracked(str(path), key, arn) for arn in arns]

    def _finished_result(self, key: str, metadata: dict[str, str]) -> dict | None:
        """The earlier execution's result when this exact content and request were already processed."""
        from docpipe.ids import doc_id_for

        rt = self.runtime
        try:
            head = rt.s3.head_object(Bucket=rt.bucket, Key=key)
        except rt.s3.exceptions.ClientError:
            return None
        if head.get("Metadata", {}) != metadata:
            return None
        doc_id = doc_id_for(rt.bucket, key, head.get("VersionId"), metadata["sha256"])
        item = rt.dynamodb.get_item(TableName=rt.environment["DOCPIPE_DOCUMENTS_TABLE"],
                                    Key={"doc_id": {"S": doc_id}}).get("Item")
        if not item or item["status"]["S"] not in FINAL_LEDGER:
            return None
        manifest_key = f"{rt.environment.get('DOCPIPE_OUT_PREFIX', 'out/')}{doc_id}/manifest.json"
        manifest = json.loads(rt.read(manifest_key))
        return {"status": manifest["status"], "doc_id": doc_id, "reason": manifest.get("reason"),
                "outputs": manifest["outputs"], "manifest": manifest_key}

    def reconcile(self) -> list[Tracked]:
        """Re-deliver inbox objects that have no final outcome (a killed process left them unfinished)."""
        from docpipe.ids import doc_id_for

        rt, tracked = self.runtime, []
        table = rt.environment["DOCPIPE_DOCUMENTS_TABLE"]
        pages = rt.s3.get_paginator("list_objects_v2").paginate(Bucket=rt.bucket, Prefix=rt.inbox_prefix)
        for obj in (obj for page in pages for obj in page.get("Contents", [])):
            head = rt.s3.head_object(Bucket=rt.bucket, Key=obj["Key"])
            sha256 = head.get("Metadata", {}).get("sha256") or hashlib.sha256(rt.read(obj["Key"])).hexdigest()
            doc_id = doc_id_for(rt.bucket, obj["Key"], head.get("VersionId"), sha256)
            item = rt.dynamodb.get_item(TableName=table, Key={"doc_id": {"S": doc_id}}).get("Item")
            if item and item["status"]["S"] in FINAL_LEDGER:
                continue
            if item:  # its execution died with the process that ran it: release the claim
                rt.dynamodb.delete_item(TableName=table, Key={"doc_id": {"S": doc_id}})
            event = s3_event("Object Created", rt.bucket, obj["Key"], size=obj["Size"], etag=obj.get("ETag"),
                             version_id=head.get("VersionId"), reason="PutObject")
            tracked += [Tracked(obj["Key"], obj["Key"], arn) for arn in rt.emit(event)]
        return tracked

    def finish(self, tracked: Tracked, execution: Execution | None) -> Report:
        seconds = time.monotonic() - tracked.started
        result = tracked.cached or (execution.output if execution and execution.status == "SUCCEEDED" else None)
        if result is None:
            reason = f"{execution.error}: {execution.cause}" if execution else "no execution"
            return Report(None, tracked.source, "FAILED", reason, [], None, seconds)
        if result["status"] == "DUPLICATE":
            return self._duplicate(tracked, result, seconds)
        outputs = [str(self._download(result["doc_id"], key)) for key in result["outputs"]]
        manifest = str(self.out_dir / result["doc_id"] / "manifest.json") if result.get("manifest") else None
        if execution is not None:
            self.runtime.save()  # commit after every finished document
        return Report(result["doc_id"], tracked.source, result["status"], result.get("reason"), outputs, manifest,
                      seconds, cached=tracked.cached is not None)

    def _duplicate(self, tracked: Tracked, result: dict, seconds: float) -> Report:
        try:
            manifest = json.loads(self.runtime.read(result["manifest"]))
        except Exception:
            return Report(result["doc_id"], tracked.source, "FAILED", "a re-delivered event found the document "
                          "in progress elsewhere", [], None, seconds)
        cached = {"status": manifest["status"], "doc_id": result["doc_id"], "reason": manifest.get("reason"),
                  "outputs": manifest["outputs"], "manifest": result["manifest"]}
        return self.finish(Tracked(tracked.source, tracked.key, cached=cached, started=tracked.started), None)

    def _download(self, doc_id: str, key: str) -> Path:
        target = self.out_dir / doc_id / PurePosixPath(key).name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self.runtime.read(key))
        return target
