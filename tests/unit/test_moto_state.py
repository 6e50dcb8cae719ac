"""Canary for the moto internals that offline persistence reaches into (docpipe_local/moto_state.py).

moto has no export API, so moto_state reads and rebuilds FakeBucket, FakeKey, FakeDeleteMarker and Table
objects. A moto upgrade that renames or reshapes any of them must fail here, loudly, before a user's state
is saved wrong: every field is captured, saved, loaded into a fresh mock, captured again and compared, and
what the AWS API reports is compared too.
"""

import boto3
import moto
import pytest
from moto import mock_aws

from docpipe_local import moto_state
from docpipe_local.persistence import StateStore
from docpipe_local.template import REGION

BUCKET, TABLE = "canary-bucket", "canary-table"


def _populate() -> None:
    s3, dynamodb = boto3.client("s3", region_name=REGION), boto3.client("dynamodb", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_encryption(Bucket=BUCKET, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
         "BucketKeyEnabled": True}]})
    s3.put_object(Bucket=BUCKET, Key="before-versioning", Body=b"null version")  # version id "null"
    s3.put_object(Bucket=BUCKET, Key="archived", Body=b"old", ChecksumAlgorithm="SHA256", StorageClass="GLACIER_IR")
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket=BUCKET, Key="doc", Body=b"one", ContentType="text/plain", Metadata={"sha256": "abc"},
                  ChecksumAlgorithm="SHA256", WebsiteRedirectLocation="/elsewhere", StorageClass="GLACIER_IR",
                  ContentEncoding="gzip", ContentDisposition="attachment", CacheControl="no-cache")
    s3.delete_object(Bucket=BUCKET, Key="doc")  # a marker pointing at a key
    s3.delete_object(Bucket=BUCKET, Key="doc")  # a marker pointing at a marker
    s3.put_object(Bucket=BUCKET, Key="doc", Body=b"two" * 5000)
    s3.put_object(Bucket=BUCKET, Key="doc", Body=b"three", Metadata={"sha256": "def"})
    s3.delete_object(Bucket=BUCKET, Key="doc", VersionId=first["VersionId"])  # the first marker's version, gone
    dynamodb.create_table(
        TableName=TABLE, BillingMode="PROVISIONED", ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 3},
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": kind} for name, kind in
                              (("pk", "S"), ("sk", "N"), ("g", "S"), ("l", "B"))],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[{"IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["x"]},
                                 "ProvisionedThroughput": {"ReadCapacityUnits": 2, "WriteCapacityUnits": 1}}],
        LocalSecondaryIndexes=[{"IndexName": "by-l", "Projection": {"ProjectionType": "KEYS_ONLY"},
                                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                              {"AttributeName": "l", "KeyType": "RANGE"}]}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        SSESpecification={"Enabled": True, "SSEType": "KMS"}, Tags=[{"Key": "team", "Value": "docs"}])
    dynamodb.update_time_to_live(TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "a"}, "sk": {"N": "1"}, "g": {"S": "x"}, "l": {"B": b"\x00"},
                                             "m": {"M": {"n": {"L": [{"BS": [b"\x01", b"\x02"]}, {"NS": ["1", "2"]}]}}}})
    dynamodb.update_item(TableName=TABLE, Key={"pk": {"S": "a"}, "sk": {"N": "1"}},
                         UpdateExpression="SET m.extra = :v, x = :x",
                         ExpressionAttributeValues={":v": {"SS": ["p", "q"]}, ":x": {"BOOL": True}})
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "a"}, "sk": {"N": "2"}, "nothing": {"NULL": True}})


def _api_view() -> dict:
    s3, dynamodb = boto3.client("s3", region_name=REGION), boto3.client("dynamodb", region_name=REGION)
    versions = s3.list_object_versions(Bucket=BUCKET)
    heads = []
    for version in versions["Versions"]:
        head = s3.head_object(Bucket=BUCKET, Key=version["Key"], VersionId=version["VersionId"], ChecksumMode="ENABLED")
        head.pop("ResponseMetadata")
        heads.append(head)
    table = dynamodb.describe_table(TableName=TABLE)["Table"]
    table.pop("LatestStreamLabel", None), table.pop("LatestStreamArn", None)  # a new stream, as after a restore in AWS
    return {"versions": versions["Versions"], "markers": versions["DeleteMarkers"], "heads": heads,
            "versioning": s3.get_bucket_versioning(Bucket=BUCKET)["Status"],
            "encryption": s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"],
            "table": table, "ttl": dynamodb.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"],
            "items": dynamodb.scan(TableName=TABLE)["Items"]}


def test_every_field_moto_state_reads_survives_a_save_and_load(tmp_path):
    store = StateStore(tmp_path / "state")
    try:
        with mock_aws():
            _populate()
            captured, seen = moto_state.capture(), _api_view()
            store.save()
        with mock_aws():
            assert store.load() is None
            again, after = moto_state.capture(), _api_view()
    except (AttributeError, TypeError, KeyError) as err:
        pytest.fail(f"moto {moto.__version__} no longer has what docpipe_local/moto_state.py reaches into: {err!r}")
    assert len(seen["versions"]) == 4 and len(seen["markers"]) == 2  # what the canary claims to cover
    assert any(head.get("StorageClass") == "GLACIER_IR" and head.get("ChecksumSHA256") for head in seen["heads"])
    assert after == seen, f"moto {moto.__version__}: the AWS API reports the restored state differently"
    assert again == captured, f"moto {moto.__version__}: a field moto_state captures did not come back"


def test_restore_refuses_a_mock_that_already_has_state():
    with mock_aws():
        _populate()
        snapshot = moto_state.capture()
        with pytest.raises(RuntimeError, match="freshly started mock"):
            moto_state.restore(snapshot)
