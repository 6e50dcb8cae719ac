"""The documents table's claim: one execution owns a document; only the owner finishes it."""

import pytest
from moto import mock_aws

from docpipe import ledger
from docpipe.clients import client, reset_clients
from docpipe.models import DocumentRef
from docpipe.settings import get_settings

TABLE = "docpipe-test-documents"
DOCUMENT = DocumentRef(bucket="docs", key="inbox/a.txt", version_id="v1", sha256="0" * 64, size=3, doc_id="a-1",
                       kind="text", media_type="text/plain")


@pytest.fixture(autouse=True)
def table(monkeypatch):
    for name, value in {"DOCPIPE_DOCUMENTS_BUCKET": "docs", "DOCPIPE_DOCUMENTS_TABLE": TABLE,
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test",
                        "AWS_SECRET_ACCESS_KEY": "test"}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    reset_clients()
    with mock_aws():
        client("dynamodb").create_table(
            TableName=TABLE, BillingMode="PAY_PER_REQUEST", KeySchema=[{"AttributeName": "doc_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "doc_id", "AttributeType": "S"}])
        yield
    reset_clients()
    get_settings.cache_clear()


def item() -> dict:
    found = client("dynamodb").get_item(TableName=TABLE, Key={"doc_id": {"S": DOCUMENT.doc_id}})["Item"]
    return {name: next(iter(value.values())) for name, value in found.items()}


def expire_claim() -> None:
    client("dynamodb").update_item(TableName=TABLE, Key={"doc_id": {"S": DOCUMENT.doc_id}},
                                   UpdateExpression="SET claim_expires_at = :past",
                                   ExpressionAttributeValues={":past": {"N": "1"}})


def test_one_execution_holds_the_claim_and_a_retry_of_its_own_task_keeps_it():
    assert ledger.claim(DOCUMENT, "exec-a")
    assert not ledger.claim(DOCUMENT, "exec-b")
    assert ledger.claim(DOCUMENT, "exec-a")
    assert ledger.holds(DOCUMENT.doc_id, "exec-a") and not ledger.holds(DOCUMENT.doc_id, "exec-b")
    assert item()["execution_id"] == "exec-a" and item()["status"] == "IN_PROGRESS"


def test_only_the_owner_finishes_and_a_finished_document_stays_finished():
    ledger.claim(DOCUMENT, "exec-a")
    assert not ledger.finish(DOCUMENT.doc_id, "QUARANTINED", "exec-b", "late duplicate")
    assert item()["status"] == "IN_PROGRESS" and "reason" not in item()
    assert ledger.finish(DOCUMENT.doc_id, "SUCCEEDED", "exec-a")
    finished = item()
    assert finished["status"] == "SUCCEEDED" and "claim_expires_at" not in finished
    # a re-delivered event: no claim, no second finish (not even by the owner), no change
    assert not ledger.claim(DOCUMENT, "exec-c")
    assert not ledger.claim(DOCUMENT, "exec-a")  # the owner's own Quarantine, after its Publish succeeded
    assert not ledger.finish(DOCUMENT.doc_id, "QUARANTINED", "exec-c", "could not read the file")
    assert not ledger.finish(DOCUMENT.doc_id, "QUARANTINED", "exec-a", "again")
    assert not ledger.holds(DOCUMENT.doc_id, "exec-a")
    assert item() == finished


def test_an_abandoned_claim_is_taken_over_and_its_late_execution_finishes_nothing():
    ledger.claim(DOCUMENT, "exec-dead")
    expire_claim()
    assert ledger.claim(DOCUMENT, "exec-new")
    assert not ledger.holds(DOCUMENT.doc_id, "exec-dead")
    assert not ledger.finish(DOCUMENT.doc_id, "SUCCEEDED", "exec-dead")
    assert ledger.finish(DOCUMENT.doc_id, "QUARANTINED", "exec-new", "no text")
    assert item()["execution_id"] == "exec-new" and item()["reason"] == "no text"


def test_a_claim_held_by_a_live_execution_is_not_taken_over_and_holding_renews_it():
    ledger.claim(DOCUMENT, "exec-a")
    assert int(item()["claim_expires_at"]) > int(item()["claimed_at"]) + 86400
    expire_claim()
    assert ledger.holds(DOCUMENT.doc_id, "exec-a")  # renewed: the owner is alive
    assert not ledger.claim(DOCUMENT, "exec-b")
