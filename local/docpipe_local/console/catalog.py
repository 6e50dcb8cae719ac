"""Every document the data directory knows, as one row each: what the documents page lists.

A document is a ledger item (the documents table: doc_id, outcome, its execution), its manifest once finished
(pages, duration, cost) and, while this process runs it, its execution (the state it is in now). Executions
that have not yet claimed a doc_id are listed by their execution name; an execution that failed outright
(not quarantined) is listed with its error. Finished rows are read once and kept: only running ones are read
again on a change. Offline, Step Functions history lives in memory, so documents finished by an earlier
process show their manifest's stages but no execution.
"""

from __future__ import annotations

import datetime
import json
import threading
from dataclasses import asdict, dataclass
from typing import Callable

from docpipe.ledger import FINAL
from docpipe_local.runtime import FINAL_STATUSES, OfflineRuntime

PIPELINE = "DocumentPipeline"


@dataclass
class Row:
    id: str  # the doc_id, or the execution's name before Validate claimed one
    name: str  # the file name as uploaded
    key: str  # its inbox key
    status: str  # RUNNING, SUCCEEDED, QUARANTINED, FAILED, IN_PROGRESS (left by an earlier process), DELETED
    state: str | None = None
    pages: int | None = None
    seconds: float | None = None
    cost_usd: float | None = None
    reason: str | None = None
    execution: str | None = None
    started: str | None = None  # ISO time, for ordering newest first

    def as_json(self) -> dict:
        return asdict(self)


class Catalog:
    def __init__(self, runtime: OfflineRuntime):
        self.runtime = runtime
        self.machine = runtime.state_machines[PIPELINE]
        self.table = runtime.environment["DOCPIPE_DOCUMENTS_TABLE"]
        self.out_prefix = runtime.environment.get("DOCPIPE_OUT_PREFIX", "out/")
        self._manifests: dict[str, dict | None] = {}
        self._finished_executions: dict[str, dict] = {}  # arn -> describe_execution, once it stopped
        self._lock = threading.Lock()
        self.rows: dict[str, Row] = {}
        # the ledger as last read: a whole scan (moto's Scan: ~3 ms an item) only when asked; in between, only
        # the items of this process's executions that have not settled are read again (GetItem)
        self._items: dict[str, dict] | None = None
        self._live: set[str] = set()
        self._doc_of: dict[str, str] = {}  # execution ARN -> the doc_id its Validate claimed
        self._settled: set[str] = set()  # stopped executions whose document's final item was read
        self._final_rows: dict[str, tuple[dict, bool, Row]] = {}  # doc_id -> (its item, in the inbox, its row)


    # --- reading ---------------------------------------------------------------------------------------
    def manifest(self, doc_id: str) -> dict | None:
        if doc_id not in self._manifests:
            try:
                self._manifests[doc_id] = json.loads(self.runtime.read(f"{self.out_prefix}{doc_id}/manifest.json"))
            except self.runtime.s3.exceptions.NoSuchKey:
                return None  # not published yet: read again next time
        return self._manifests[doc_id]

    def forget_manifest(self, doc_id: str) -> None:
        self._manifests.pop(doc_id, None)

    def _ledger(self) -> list[dict]:
        items = []
        for page in self.runtime.dynamodb.get_paginator("scan").paginate(TableName=self.table):
            items += [{name: next(iter(value.values())) for name, value in item.items()} for item in page["Items"]]
        return items

    def _executions(self) -> list[dict]:
        listed = []
        for page in self.runtime.sfn.get_paginator("list_executions").paginate(stateMachineArn=self.machine):
            listed += page["executions"]
        return listed

    def _described(self, execution: dict) -> dict:
        arn = execution["executionArn"]
        if arn in self._finished_executions:
            return self._finished_executions[arn]
        described = self.runtime.sfn.describe_execution(executionArn=arn)
        if described["status"] in FINAL_STATUSES:
            self._finished_executions[arn] = described
        return described

    def _live_keys(self) -> set[str]:
        rt = self.runtime
        pages = rt.s3.get_paginator("list_objects_v2").paginate(Bucket=rt.bucket, Prefix=rt.inbox_prefix)
        return {obj["Key"] for page in pages for obj in page.get("Contents", [])}

    # --- building rows ---------------------------------------------------------------------------------
    def history(self, arn: str) -> list[dict]:
        return self.runtime.history(arn)

    def refresh(self, history: Callable[[str], list[dict]] | None = None,
                whole_ledger: bool = False) -> tuple[list[Row], list[str]]:
        """Read the rows again (`whole_ledger`: scan the documents table and list the inbox too, as after an
        upload or a delete): the rows that differ from the last refresh (new ones included), and the ids of rows
        gone (an execution's row once Validate claimed its document's row)."""
        with self._lock:
            rows = self._build(history or self.history, whole_ledger)
            changed = [row for row_id, row in rows.items() if self.rows.get(row_id) != row]
            gone = [row_id for row_id in self.rows if row_id not in rows]
            self.rows = rows
            return changed, gone

    def refresh_running(self, history: Callable[[str], list[dict]] | None = None) -> tuple[list[Row], list[str]]:
        """After a history event: only the running rows move (their state), unless one of them stopped, which
        changes the ledger and publishes a manifest: then everything is read again."""
        with self._lock:
            changed = []
            for row in [r for r in self.rows.values() if r.status == "RUNNING" and r.execution]:
                described = self.runtime.sfn.describe_execution(executionArn=row.execution)
                if described["status"] != "RUNNING":
                    break
                moved = Row(**{**row.as_json()})
                self._fill_from_execution(moved, described, history or self.history)
                if moved != row:
                    self.rows[row.id] = moved
                    changed.append(moved)
            else:
                return changed, []
        return self.refresh(history)

    def _read_ledger(self, executions: dict[str, dict], history: Callable[[str], list[dict]], whole: bool) -> None:
        if whole or self._items is None:
            # items without a status are not documents (the table also holds the pipeline's cache entries)
            self._items = {item["doc_id"]: item for item in self._ledger() if "status" in item}
            self._live = self._live_keys()
            self._settled |= {arn for arn, e in executions.items() if e["status"] != "RUNNING"}
            return
        for arn, execution in executions.items():
            if arn in self._settled:
                continue
            doc_id = self._doc_of.get(arn) or _claimed_doc_id(history(arn))
            if doc_id is None:
                continue  # not claimed yet: listed by its execution
            self._doc_of[arn] = doc_id
            item = self.runtime.dynamodb.get_item(TableName=self.table, Key={"doc_id": {"S": doc_id}},
                                                  ConsistentRead=True).get("Item")
            if item:
                self._items[doc_id] = {name: next(iter(value.values())) for name, value in item.items()}
            if execution["status"] != "RUNNING":
                self._settled.add(arn)

    def _build(self, history: Callable[[str], list[dict]], whole_ledger: bool) -> dict[str, Row]:
        rt = self.runtime
        executions = {e["executionArn"]: e for e in self._executions()}
        self._read_ledger(executions, history, whole_ledger)
        live = self._live
        rows: dict[str, Row] = {}
        claimed: set[str] = set()
        for item in self._items.values():
            key = item.get("source_key", "")
            settled = self._final_rows.get(item["doc_id"])
            if settled is not None and settled[0] is item and settled[1] == (key in live):
                rows[item["doc_id"]] = settled[2]  # a finished document's row, as built from this very item
                claimed.add(settled[2].execution or "")
                continue
            row = Row(item["doc_id"], _name(key, rt.inbox_prefix), key, item["status"], reason=item.get("reason"),
                      execution=item.get("execution_id"), started=_iso(item.get("claimed_at")))
            claimed.add(row.execution or "")
            execution = executions.get(row.execution or "")
            if row.status in FINAL:
                self._fill_from_manifest(row)
            elif execution is not None:
                self._fill_from_execution(row, execution, history)
            if key not in live and row.status != "RUNNING":
                row.status = "DELETED"
            if item["status"] in FINAL and self.manifest(row.id) is not None:
                self._final_rows[row.id] = (item, key in live, row)
            rows[row.id] = row
        for arn, execution in executions.items():  # executions that never claimed a document
            if arn in claimed:
                continue
            described = self._described(execution)
            source = _source_key(described)
            output = json.loads(described["output"]) if described.get("output") else {}
            if output.get("status") == "DUPLICATE" or (execution["status"] == "SUCCEEDED" and output.get("doc_id") in rows):
                continue  # a re-delivered event: the document's own row tells its outcome
            row = Row(execution["name"], _name(source, rt.inbox_prefix), source, "RUNNING", execution=arn,
                      started=execution["startDate"].isoformat())
            self._fill_from_execution(row, execution, history)
            rows[row.id] = row
        return rows

    def _fill_from_manifest(self, row: Row) -> None:
        manifest = self.manifest(row.id)
        if manifest is None:
            return
        row.pages = manifest.get("usage", {}).get("pages")
        row.cost_usd = manifest.get("cost", {}).get("total_usd")
        row.reason = manifest.get("reason") or row.reason
        received = manifest.get("source", {}).get("received_at")
        if received and manifest.get("finished_at"):
            row.seconds = (_parse(manifest["finished_at"]) - _parse(received)).total_seconds()
        row.state = "Publish" if row.status == "SUCCEEDED" else "Quarantine"

    def _fill_from_execution(self, row: Row, execution: dict, history: Callable[[str], list[dict]]) -> None:
        status = execution["status"]
        stop = execution.get("stopDate") or datetime.datetime.now(datetime.timezone.utc)
        row.seconds = (stop - execution["startDate"]).total_seconds()
        if status == "RUNNING":
            row.status = "RUNNING"
            row.state = _last_entered(history(execution["executionArn"]))
        elif status != "SUCCEEDED":
            described = self._described(execution)
            row.status = "FAILED"
            row.reason = " ".join(filter(None, [described.get("error"), described.get("cause")])) or status.lower()


def _claimed_doc_id(events: list[dict]) -> str | None:
    """The doc_id in Validate's output (the state that claims the document in the ledger)."""
    for event in events:
        details = event.get("stateExitedEventDetails")
        if details and details["name"] == "Validate" and details.get("output"):
            try:
                return json.loads(details["output"])["document"]["doc_id"]
            except (KeyError, TypeError, ValueError):
                return None
    return None


def _last_entered(events: list[dict]) -> str | None:
    for event in reversed(events):
        if event.get("stateEnteredEventDetails"):
            return event["stateEnteredEventDetails"]["name"]
    return None


def _name(key: str, prefix: str) -> str:
    return key[len(prefix):] if key.startswith(prefix) else key


def _source_key(described: dict) -> str:
    try:
        return json.loads(described.get("input") or "{}")["detail"]["object"]["key"]
    except (KeyError, TypeError, ValueError):
        return ""


def _parse(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _iso(epoch: str | None) -> str | None:
    if not epoch:
        return None
    return datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc).isoformat()
