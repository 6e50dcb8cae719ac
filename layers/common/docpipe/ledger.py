"""The documents table: one item per doc_id, claimed by exactly one execution at a time.

Validate claims the doc_id; only the execution holding the claim may write the document's results and
finish it (Publish or Quarantine). A re-delivered event finds the claim and is skipped; a late or duplicate
execution that reaches Publish or Quarantine without the claim writes nothing and changes no outcome.
A claim whose execution died expires after `claim_ttl_seconds` (longer than the longest execution the state
machine allows: tests/template/test_claim_ttl.py computes it from the ASL), and is then taken over.

Every write is a conditional UpdateItem, so one IAM action covers claiming, holding and finishing.
"""

from __future__ import annotations

import time

from docpipe.clients import client
from docpipe.models import DocumentRef
from docpipe.settings import get_settings

IN_PROGRESS = "IN_PROGRESS"
FINAL = ("SUCCEEDED", "QUARANTINED")  # outcomes: a finished document is never claimed again


def _conditional_update(doc_id: str, update: str, condition: str, values: dict, names: dict | None = None) -> bool:
    """Apply the update when the condition holds; False when it does not (someone else owns the document)."""
    dynamodb = client("dynamodb")
    try:
        dynamodb.update_item(TableName=get_settings().documents_table, Key={"doc_id": {"S": doc_id}},
                             UpdateExpression=update, ConditionExpression=condition,
                             ExpressionAttributeNames={"#status": "status", **(names or {})},
                             ExpressionAttributeValues=values)
        return True
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return False


def claim(document: DocumentRef, execution_id: str) -> bool:
    """Take the document for this execution; False when it is done, or another live execution holds it.

    Taken when nobody has it, or while it is in progress: by the execution that holds it (a retried task), or
    when the holder's claim expired (its execution died). A finished document is never claimed again, not even
    by the execution that finished it (a Quarantine after its own Publish succeeded changes nothing).
    """
    now = int(time.time())
    values = {":me": {"S": execution_id}, ":in_progress": {"S": IN_PROGRESS}, ":now": {"N": str(now)},
              ":expires": {"N": str(now + get_settings().claim_ttl_seconds)},
              ":source": {"S": document.uri}, ":key": {"S": document.key},
              ":version": {"S": document.version_id or "null"}, ":sha256": {"S": document.sha256}}
    return _conditional_update(
        document.doc_id,
        "SET #status = :in_progress, execution_id = :me, #source = :source, source_key = :key, "
        "version_id = :version, sha256 = :sha256, claimed_at = :now, claim_expires_at = :expires",
        "attribute_not_exists(doc_id) OR (#status = :in_progress AND (execution_id = :me OR claim_expires_at < :now))",
        values, names={"#source": "source"})


def holds(doc_id: str, execution_id: str) -> bool:
    """Whether this execution still holds the document's claim (renewing it): ask before writing results."""
    now = int(time.time())
    return _conditional_update(
        doc_id, "SET claim_expires_at = :expires",
        "execution_id = :me AND #status = :in_progress",
        {":me": {"S": execution_id}, ":in_progress": {"S": IN_PROGRESS},
         ":expires": {"N": str(now + get_settings().claim_ttl_seconds)}})


def finish(doc_id: str, status: str, execution_id: str, reason: str | None = None) -> bool:
    """Record the outcome if this execution holds the claim; the claim no longer expires.

    False (and nothing changed) when another execution owns the document or it is already finished.
    """
    values = {":status": {"S": status}, ":me": {"S": execution_id}, ":in_progress": {"S": IN_PROGRESS},
              ":at": {"N": str(int(time.time()))}}
    update = "SET #status = :status, finished_at = :at"
    if reason:
        update += ", reason = :reason"
        values[":reason"] = {"S": reason[:1000]}
    return _conditional_update(doc_id, update + " REMOVE claim_expires_at",
                               "execution_id = :me AND #status = :in_progress", values)


def documents_from_source(key: str) -> list[dict]:
    """Every document (any version) read from this key of the documents bucket, and its vector count."""
    response = client("dynamodb").query(
        TableName=get_settings().documents_table, IndexName="by_source_key",
        KeyConditionExpression="source_key = :key", ExpressionAttributeValues={":key": {"S": key}},
        ProjectionExpression="doc_id, vector_count, version_id")
    return [{"doc_id": item["doc_id"]["S"], "vector_count": int(item.get("vector_count", {"N": "0"})["N"]),
             "version_id": item.get("version_id", {"S": "null"})["S"]} for item in response["Items"]]


def set_vector_count(doc_id: str, count: int) -> None:
    client("dynamodb").update_item(
        TableName=get_settings().documents_table, Key={"doc_id": {"S": doc_id}},
        UpdateExpression="SET vector_count = :count", ExpressionAttributeValues={":count": {"N": str(count)}})
