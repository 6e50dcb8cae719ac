"""The documents table: one item per doc_id, claimed by exactly one execution at a time.

A re-delivered event (EventBridge delivers at least once) finds the claim and is skipped; a claim whose
execution crashed expires after `claim_ttl_seconds`, so a document is never stuck either.
"""

from __future__ import annotations

import time

from docpipe.clients import client
from docpipe.models import DocumentRef
from docpipe.settings import get_settings


def claim(document: DocumentRef, execution_id: str) -> bool:
    """Take the document for this execution; False when it is done, or another live execution holds it."""
    settings, now = get_settings(), int(time.time())
    try:
        client("dynamodb").put_item(
            TableName=settings.documents_table,
            Item={
                "doc_id": {"S": document.doc_id},
                "status": {"S": "IN_PROGRESS"},
                "execution_id": {"S": execution_id},
                "source": {"S": document.uri},
                "source_key": {"S": document.key},
                "version_id": {"S": document.version_id or "null"},
                "sha256": {"S": document.sha256},
                "claimed_at": {"N": str(now)},
                "claim_expires_at": {"N": str(now + settings.claim_ttl_seconds)},
            },
            # Same execution retrying Validate, or an abandoned claim: take it. Otherwise: duplicate.
            ConditionExpression="attribute_not_exists(doc_id) OR execution_id = :me OR "
                                "(#status = :in_progress AND claim_expires_at < :now)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":me": {"S": execution_id}, ":in_progress": {"S": "IN_PROGRESS"},
                                       ":now": {"N": str(now)}},
        )
        return True
    except client("dynamodb").exceptions.ConditionalCheckFailedException:
        return False


def finish(doc_id: str, status: str, execution_id: str, reason: str | None = None) -> None:
    """Record the outcome; the claim no longer expires."""
    values = {":status": {"S": status}, ":me": {"S": execution_id}, ":at": {"N": str(int(time.time()))}}
    update = "SET #status = :status, finished_at = :at, execution_id = :me REMOVE claim_expires_at"
    if reason:
        update = update.replace("execution_id = :me", "execution_id = :me, reason = :reason")
        values[":reason"] = {"S": reason[:1000]}
    client("dynamodb").update_item(
        TableName=get_settings().documents_table, Key={"doc_id": {"S": doc_id}}, UpdateExpression=update,
        ExpressionAttributeNames={"#status": "status"}, ExpressionAttributeValues=values,
    )


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
