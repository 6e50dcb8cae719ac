"""Forget: an object deleted from the inbox takes its vectors with it (S3 "Object Deleted" event).

A delete marker (the usual delete on a versioned bucket) retires every version's vectors; permanently
deleting one version retires only that version's.
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel
from pydantic import BaseModel

from docpipe import ledger, vectors
from docpipe.ids import decode_event_key
from docpipe.observability import logger


class Forgotten(BaseModel):
    key: str
    documents: list[str]
    vectors_deleted: int


def forget_document(event: S3EventNotificationEventBridgeModel) -> Forgotten:
    key = decode_event_key(event.detail.object.key)
    permanent = event.detail.deletion_type == "Permanently Deleted"
    version = event.detail.object.version_id
    documents = [doc for doc in ledger.documents_from_source(key)
                 if not permanent or doc["version_id"] == (version or "null")]
    deleted = 0
    for doc in documents:
        deleted += vectors.delete(vectors.vector_key(doc["doc_id"], i) for i in range(doc["vector_count"]))
        ledger.set_vector_count(doc["doc_id"], 0)
    logger.info("forgot deleted document", extra={"key_documents": len(documents), "vectors_deleted": deleted})
    return Forgotten(key=key, documents=[doc["doc_id"] for doc in documents], vectors_deleted=deleted)
