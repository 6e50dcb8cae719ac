"""The offline state's validation: DynamoDB JSON as the DynamoDB API defines it, names as AWS allows them."""

import pytest
from pydantic import ValidationError

from docpipe_local.state_model import Bucket, ObjectVersion, item_from_json

GOOD = {"s": {"S": "x"}, "n": {"N": "-1.5e3"}, "b": {"B": "AAE="}, "ss": {"SS": ["a"]}, "ns": {"NS": ["1", ".5"]},
        "bs": {"BS": ["Ag=="]}, "t": {"BOOL": True}, "z": {"NULL": True},
        "m": {"M": {"l": {"L": [{"B": "Aw=="}, {"M": {}}]}}}}


def test_dynamodb_json_comes_back_with_binary_as_bytes():
    item = item_from_json(GOOD)
    assert item["b"] == {"B": b"\x00\x01"} and item["bs"] == {"BS": [b"\x02"]}
    assert item["m"]["M"]["l"]["L"][0] == {"B": b"\x03"}
    assert {name: item[name] for name in ("s", "n", "ss", "ns", "t", "z")} == {
        name: GOOD[name] for name in ("s", "n", "ss", "ns", "t", "z")}


@pytest.mark.parametrize("item", [
    {}, [], {"": {"S": "x"}}, {"a": "x"}, {"a": {"S": "x", "N": "1"}}, {"a": {"N": "one"}}, {"a": {"N": 1}},
    {"a": {"S": 1}}, {"a": {"BOOL": "true"}}, {"a": {"B": "not base64!"}}, {"a": {"SS": []}}, {"a": {"NS": ["x"]}},
    {"a": {"SS": [1]}}, {"a": {"BS": ["%%"]}}, {"a": {"M": {"k": {"Q": 1}}}}, {"a": {"L": [{"N": "1", "S": "2"}]}},
    {"a": {"M": "not a map"}}, {"a": {"L": {"not": "a list"}}},
], ids=lambda item: repr(item)[:40])
def test_anything_else_is_refused(item):
    with pytest.raises(ValueError):
        item_from_json(item)


@pytest.mark.parametrize("fields", [
    {"version_id": None, "delete_marker": True},  # a marker always has a version id
    {"version_id": "v1", "delete_marker": True, "etag": "0" * 32},  # and no etag
    {"version_id": "v1"},  # an object needs body, etag and storage class
    {"version_id": "v1/../x", "body": b"", "etag": "0" * 32, "storage_class": "STANDARD"},
    {"version_id": "v1", "body": b"", "etag": "not-an-etag", "storage_class": "STANDARD"},
    {"version_id": "v1", "body": b"", "etag": "0" * 32, "storage_class": "MADE_UP"},
    {"version_id": "v1", "body": b"", "etag": "0" * 32, "storage_class": "STANDARD", "script": "x"},
])
def test_object_versions_are_checked(fields):
    with pytest.raises(ValidationError):
        ObjectVersion.model_validate({"key": "k", "last_modified": "2026-12-06T10:00:00", **fields})


def test_a_keys_versions_are_listed_together_and_once():
    def version(key, version_id):
        return {"key": key, "version_id": version_id, "last_modified": "2026-12-06T10:00:00", "body": b"x",
                "etag": "0" * 32, "storage_class": "STANDARD"}

    bucket = {"name": "docs", "region": "us-east-1", "created": "2026-12-06T10:00:00"}
    Bucket.model_validate({**bucket, "versions": [version("a", "1"), version("a", "2"), version("b", "1")]})
    with pytest.raises(ValidationError, match="not listed together"):
        Bucket.model_validate({**bucket, "versions": [version("a", "1"), version("b", "1"), version("a", "2")]})
    with pytest.raises(ValidationError, match="twice"):
        Bucket.model_validate({**bucket, "versions": [version("a", "1"), version("a", "1")]})
