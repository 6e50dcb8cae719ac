"""The S3 Vectors emulator through a real boto3 client: shapes, limits, errors, filters vs brute force,
persistence across instances, deletes."""

from __future__ import annotations

import datetime
import os
import threading

import boto3
import botocore.model
import numpy as np
import pytest
from botocore.config import Config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docpipe_local.emulators.base import EmulatorHub
from docpipe_local.emulators.s3vectors import S3VectorsEmulator

BUCKET, INDEX = "kb-vectors", "chunks"


def make_client():
    return boto3.client("s3vectors", region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=Config(retries={"max_attempts": 1}))


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "vectors" / "s3vectors.sqlite"


@pytest.fixture
def s3v(db_path):
    hub = EmulatorHub()
    emulator = hub.register(S3VectorsEmulator(db_path))
    with hub:
        yield make_client(), emulator, hub


def check_shape(value, shape: botocore.model.Shape, path: str = "$") -> None:
    """Every key is a member of botocore's shape, required members are present, enums hold."""
    if shape.metadata.get("document"):
        return  # a free-form JSON document (vector metadata, filters)
    if isinstance(shape, botocore.model.StructureShape):
        assert isinstance(value, dict), path
        for key in shape.required_members:
            assert key in value, f"{path}.{key} is required"
        for key, item in value.items():
            if key == "ResponseMetadata":
                continue
            assert key in shape.members, f"{path}.{key} is not in {shape.name}"
            check_shape(item, shape.members[key], f"{path}.{key}")
    elif isinstance(shape, botocore.model.ListShape):
        assert isinstance(value, list), path
        for i, item in enumerate(value):
            check_shape(item, shape.member, f"{path}[{i}]")
    elif shape.type_name == "string":
        assert isinstance(value, str), path
        if shape.enum:
            assert value in shape.enum, path
    elif shape.type_name == "timestamp":
        assert isinstance(value, datetime.datetime) and value.tzinfo is not None, path
    elif shape.type_name in ("integer", "long"):
        assert isinstance(value, int) and not isinstance(value, bool), path
    elif shape.type_name in ("float", "double"):
        assert isinstance(value, float), path


def checked(client, operation: str, **params):
    """Call through boto3 and check the response against botocore's output shape."""
    method = getattr(client, botocore.xform_name(operation))
    response = method(**params)
    check_shape(response, client.meta.service_model.operation_model(operation).output_shape)
    return response


def error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def new_index(client, dimension=4, metric="cosine", **extra):
    client.create_vector_bucket(vectorBucketName=BUCKET)
    return client.create_index(vectorBucketName=BUCKET, indexName=INDEX, dataType="float32",
                               dimension=dimension, distanceMetric=metric, **extra)["indexArn"]


def vec(key, values, **metadata):
    item = {"key": key, "data": {"float32": [float(v) for v in values]}}
    if metadata:
        item["metadata"] = metadata
    return item


# -- buckets and indexes -------------------------------------------------------------------------------------
def test_bucket_lifecycle_and_errors(s3v):
    client, _, _ = s3v
    arn = checked(client, "CreateVectorBucket", vectorBucketName="alpha-1")["vectorBucketArn"]
    assert arn == "arn:aws:s3vectors:us-east-1:123456789012:bucket/alpha-1"
    for name in ("alpha-2", "beta-1", "gamma-1"):
        client.create_vector_bucket(vectorBucketName=name)
    got = checked(client, "GetVectorBucket", vectorBucketArn=arn)["vectorBucket"]
    assert got["vectorBucketName"] == "alpha-1" and got["encryptionConfiguration"] == {"sseType": "AES256"}

    page1 = checked(client, "ListVectorBuckets", maxResults=2)
    page2 = checked(client, "ListVectorBuckets", maxResults=2, nextToken=page1["nextToken"])
    assert [b["vectorBucketName"] for b in page1["vectorBuckets"] + page2["vectorBuckets"]] == \
        ["alpha-1", "alpha-2", "beta-1", "gamma-1"]
    assert "nextToken" not in page2
    assert [b["vectorBucketName"] for b in client.list_vector_buckets(prefix="alpha")["vectorBuckets"]] == \
        ["alpha-1", "alpha-2"]

    with pytest.raises(client.exceptions.ConflictException):
        client.create_vector_bucket(vectorBucketName="alpha-1")
    for bad in ("Upper-Case", "a_b_c", "-leading", "x" * 64):
        with pytest.raises(client.exceptions.ValidationException):
            client.create_vector_bucket(vectorBucketName=bad)
    with pytest.raises(client.exceptions.ValidationException):
        client.get_vector_bucket(vectorBucketName="alpha-1", vectorBucketArn=arn)
    client.create_index(vectorBucketName="beta-1", indexName="idx", dataType="float32", dimension=3,
                        distanceMetric="cosine")
    with pytest.raises(client.exceptions.ConflictException):
        client.delete_vector_bucket(vectorBucketName="beta-1")
    client.delete_vector_bucket(vectorBucketName="alpha-2")
    with pytest.raises(client.exceptions.NotFoundException) as excinfo:
        client.get_vector_bucket(vectorBucketName="alpha-2")
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(client.exceptions.NotFoundException):
        client.delete_vector_bucket(vectorBucketName="alpha-2")


def test_index_lifecycle_by_name_and_arn(s3v):
    client, _, _ = s3v
    arn = new_index(client, dimension=384, metadataConfiguration={"nonFilterableMetadataKeys": ["text"]},
                    tags={"team": "knowledge"})
    assert arn == f"arn:aws:s3vectors:us-east-1:123456789012:bucket/{BUCKET}/index/{INDEX}"
    by_name = checked(client, "GetIndex", vectorBucketName=BUCKET, indexName=INDEX)["index"]
    by_arn = checked(client, "GetIndex", indexArn=arn)["index"]
    assert by_name == by_arn
    assert (by_name["dimension"], by_name["distanceMetric"], by_name["dataType"]) == (384, "cosine", "float32")
    assert by_name["metadataConfiguration"] == {"nonFilterableMetadataKeys": ["text"]}
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "knowledge"}

    client.create_index(vectorBucketName=BUCKET, indexName="chunks.v2", dataType="float32", dimension=8,
                        distanceMetric="euclidean")
    listed = checked(client, "ListIndexes", vectorBucketName=BUCKET)["indexes"]
    assert [i["indexName"] for i in listed] == [INDEX, "chunks.v2"]
    assert [i["indexName"] for i in client.list_indexes(vectorBucketName=BUCKET, prefix="chunks.")["indexes"]] \
        == ["chunks.v2"]

    with pytest.raises(client.exceptions.ConflictException):
        client.create_index(vectorBucketName=BUCKET, indexName=INDEX, dataType="float32", dimension=3,
                            distanceMetric="cosine")
    with pytest.raises(client.exceptions.ValidationException):
        client.create_index(vectorBucketName=BUCKET, indexName="big", dataType="float32", dimension=4097,
                            distanceMetric="cosine")
    with pytest.raises(client.exceptions.ValidationException):
        client.create_index(vectorBucketName=BUCKET, indexName="Bad_Name", dataType="float32", dimension=3,
                            distanceMetric="cosine")
    with pytest.raises(client.exceptions.NotFoundException):
        client.create_index(vectorBucketName="no-such-bucket", indexName="idx", dataType="float32", dimension=3,
                            distanceMetric="cosine")
    with pytest.raises(client.exceptions.ValidationException):
        client.get_index(indexArn=arn, indexName=INDEX)
    with pytest.raises(client.exceptions.ValidationException):
        client.get_index(vectorBucketName=BUCKET)
    with pytest.raises(client.exceptions.NotFoundException):
        client.get_index(vectorBucketName=BUCKET, indexName="missing")

    client.delete_index(indexArn=arn)
    with pytest.raises(client.exceptions.NotFoundException):
        client.get_index(indexArn=arn)
    assert [i["indexName"] for i in client.list_indexes(vectorBucketName=BUCKET)["indexes"]] == ["chunks.v2"]


def test_policies_and_tags(s3v):
    client, _, _ = s3v
    arn = new_index(client)
    bucket_arn = arn.split("/index/")[0]
    assert "policy" not in client.get_vector_bucket_policy(vectorBucketName=BUCKET)
    client.put_vector_bucket_policy(vectorBucketName=BUCKET, policy='{"Version": "2012-10-17", "Statement": []}')
    assert client.get_vector_bucket_policy(vectorBucketArn=bucket_arn)["policy"].startswith('{"Version"')
    client.delete_vector_bucket_policy(vectorBucketName=BUCKET)
    assert "policy" not in client.get_vector_bucket_policy(vectorBucketName=BUCKET)
    client.tag_resource(resourceArn=bucket_arn, tags={"a": "1", "b": "2"})
    client.untag_resource(resourceArn=bucket_arn, tagKeys=["a"])
    assert checked(client, "ListTagsForResource", resourceArn=bucket_arn)["tags"] == {"b": "2"}
    with pytest.raises(client.exceptions.NotFoundException):
        client.tag_resource(resourceArn=bucket_arn + "x", tags={"a": "1"})


# -- vectors ---------------------------------------------------------------------------------------------------
def test_put_get_upsert_and_validation(s3v):
    client, _, _ = s3v
    new_index(client, metadataConfiguration={"nonFilterableMetadataKeys": ["text"]})
    client.put_vectors(vectorBucketName=BUCKET, indexName=INDEX, vectors=[
        vec("a", [1, 0, 0, 0], doc="d1", page=1, text="alpha"),
        vec("b", [0, 1, 0, 0], doc="d1", page=2),
        vec("c", [0.1, 0.2, 0.3, 0.4]),
    ])
    bare = checked(client, "GetVectors", vectorBucketName=BUCKET, indexName=INDEX, keys=["a", "zz", "c"])
    assert bare["vectors"] == [{"key": "a"}, {"key": "c"}]  # missing keys are left out; data/metadata opt-in
    full = checked(client, "GetVectors", vectorBucketName=BUCKET, indexName=INDEX, keys=["c", "a"],
                   returnData=True, returnMetadata=True)["vectors"]
    assert full[0]["key"] == "c" and full[0]["metadata"] == {}
    assert full[0]["data"]["float32"] == [float(np.float32(x)) for x in (0.1, 0.2, 0.3, 0.4)]
    assert full[1]["metadata"] == {"doc": "d1", "page": 1, "text": "alpha"}

    # upsert replaces data and metadata
    client.put_vectors(vectorBucketName=BUCKET, indexName=INDEX, vectors=[vec("a", [0, 0, 1, 0], doc="d2")])
    got = client.get_vectors(vectorBucketName=BUCKET, indexName=INDEX, keys=["a"], returnData=True,
                             returnMetadata=True)["vectors"][0]
    assert got == {"key": "a", "data": {"float32": [0.0, 0.0, 1.0, 0.0]}, "metadata": {"doc": "d2"}}
    assert client.query_vectors(vectorBucketName=BUCKET, indexName=INDEX, topK=5, queryVector={"float32": [1, 1, 1, 1]},
                                filter={"doc": "d1"})["vectors"] == [{"key": "b"}]

    invalid = [
        [vec("x", [1, 2, 3])],                                   # wrong dimension
        [vec("x", [0, 0, 0, 0])],                                # zero vector in a cosine index
        [vec("x", [1, float("nan"), 0, 0])],                     # not finite
        [vec("x", [1e39, 0, 0, 0])],                             # overflows float32
        [vec("x" * 1025, [1, 0, 0, 0])],                         # key too long
        [vec("x", [1, 0, 0, 0], big="y" * 2100)],                # filterable metadata over 2 KB
        [vec("x", [1, 0, 0, 0], text="y" * 41000)],              # metadata over 40 KB
        [vec("x", [1, 0, 0, 0], **{f"k{i}": i for i in range(51)})],  # more than 50 keys
        [vec("x", [1, 0, 0, 0], nested={"a": 1})],               # objects are not metadata values
        [vec(f"k{i}", [1, 0, 0, 0]) for i in range(501)],        # more than 500 vectors
    ]
    for vectors in invalid:
        with pytest.raises(client.exceptions.ValidationException):
            client.put_vectors(vectorBucketName=BUCKET, indexName=INDEX, vectors=vectors)
    # a failed batch writes nothing
    assert client.get_vectors(vectorBucketName=BUCKET, indexName=INDEX, keys=["x", "k0"])["vectors"] == []
    # non-filterable metadata may be large (up to the 40 KB total)
    client.put_vectors(vectorBucketName=BUCKET, indexName=INDEX, vectors=[vec("t", [1, 0, 0, 0], text="y" * 30000)])
    with pytest.raises(client.exceptions.ValidationException):
        client.get_vectors(vectorBucketName=BUCKET, indexName=INDEX, keys=[f"k{i}" for i in range(101)])
    with pytest.raises(client.exceptions.NotFoundException):
        client.put_vectors(vectorBucketName=BUCKET, indexName="nope", vectors=[vec("a", [1, 0, 0, 0])])


def test_list_vectors_pages_and_segments(s3v):
    client, _, _ = s3v
    new_index(client, dimension=2, metric="euclidean")
    keys = [f"key-{i:03d}" for i in range(230)]
    client.put_vectors(vectorBucketName=BUCKET, indexName=INDEX,
                       vectors=[vec(k, [i, -i], n=i) for i, k in enumerate(keys)])
    seen, token = [], None
    while True:
        page = checked(client, "ListVectors", vectorBucketName=BUCKET, indexName=INDEX, maxResults=100,
                       **({"nextToken": token} if token else {}))
        seen += [v["key"] for v in page["vectors"]]
        assert all(set(v) == {"key"} for v in page["vectors"])
        token = page.get("nextToken")
        if not token:
            break
    assert seen == keys
    segments = []
    for segment in range(3):
        listed = client.list_vectors(vectorBucketName=BUCKET, indexName=INDEX, segmentCount=3,
                                     segmentIndex=segment, returnData=True, returnMetadata=True)["vectors"]
        assert all(v["data"]["float32"] == [v["metadata"]["n"], -v["metadata"]["n"]] for v in listed)
        segments.append({v["key"] for v in listed})
    assert set().union(*segments) == set(keys) and sum(map(len, segments)) == len(keys)
    with pytest.raises(client.exceptions.ValidationException):
        client.list_vectors(vectorBucketName=BUCKET, indexName=INDEX, segmentCount=2, segmentIndex=2)
    with pytest.raises(client.exceptions.ValidationException):
        client.list_vectors(vectorBucketName=BUCKET, indexName=INDEX, maxResults=1001)


def test_delete_removes_vectors_everywhere(s3v):
    client, _, _ = s3v
    new_index(client)
    client.put_vectors(vectorBucketName=BUCKET, indexName=INDEX,
                       vectors=[vec(f"v{i}", [1, i, 0, 1], doc="d") for i in range(10)])
    client.delete_vectors(vectorBucketName=BUCKET, indexName=INDEX, keys=["v1", "v2", "not-there"])
    remaining = {v["key"] for v in client.list_vectors(vectorBucketName=BUCKET, indexName=INDEX)["vectors"]}
    assert remaining == {f"v{i}" for i in range(10)} - {"v1", "v2"}
    hits = client.query_vectors(vectorBucketName=BUCKET, indexName=INDEX, topK=100,
                                queryVector={"float32": [1, 1, 0, 1]}, filter={"doc": "d"})["vectors"]
    assert {h["key"] for h in hits} == remaining
    assert client.get_vectors(vectorBucketName=BUCKET, indexName=INDEX, keys=["v1"])["vectors"] == []
    with pytest.raises(client.exceptions.ValidationException):
        client.delete_vectors(vectorBucketName=BUCKET, indexName=INDEX, keys=[f"k{i}" for i in range(501)])


def test_query_shape_and_limits(s3v):
    client, _, _ = s3v
    new_index(client)
    client.put_vectors(vectorBucketName=BUCKET, indexName=INDEX, vectors=[vec("a", [1, 0, 0, 0], g="x")])
    response = checked(client, "QueryVectors", vectorBucketName=BUCKET, indexName=INDEX, topK=3,
                       queryVector={"float32": [1, 0, 0, 0]}, returnDistance=True, returnMetadata=True)
    assert response["distanceMetric"] == "cosine"
    assert response["vectors"] == [{"key": "a", "distance": pytest.approx(0.0, abs=1e-6), "metadata": {"g": "x"}}]
    bad_queries = [
        {"topK": 101, "queryVector": {"float32": [1, 0, 0, 0]}},
        {"topK": 1, "queryVector": {"float32": [1, 0, 0]}},
        {"topK": 1, "queryVector": {"float32": [0, 0, 0, 0]}},
        {"topK": 1, "queryVector": {"float32": [1, 0, 0, 0]}, "filter": {"g": {"$regex": "x"}}},
        {"topK": 1, "queryVector": {"float32": [1, 0, 0, 0]}, "filter": {"$not": {"g": "x"}}},
        {"topK": 1, "queryVector": {"float32": [1, 0, 0, 0]}, "filter": {"g": {"$in": []}}},
        {"topK": 1, "queryVector": {"float32": [1, 0, 0, 0]}, "filter": {"g": {"$gt": "x"}}},
        {"topK": 1, "queryVector": {"float32": [1, 0, 0, 0]}, "filter": {"$and": []}},
        {"topK": 1, "queryVector": {"float32": [1, 0, 0, 0]}, "filter": {"g": ["x"]}},
    ]
    for query in bad_queries:
        with pytest.raises(client.exceptions.ValidationException):
            client.query_vectors(vectorBucketName=BUCKET, indexName=INDEX, **query)


# -- filters and distances vs brute force ----------------------------------------------------------------------
GENRES = ["news", "report", "memo", "faq"]
NON_FILTERABLE = ["body"]


def brute_force_values(metadata: dict, key: str) -> list:
    if key in NON_FILTERABLE or key not in metadata:
        return []
    value = metadata[key]
    return value if isinstance(value, list) else [value]


def same(a, b) -> bool:
    return isinstance(a, bool) == isinstance(b, bool) and isinstance(a, str) == isinstance(b, str) and a == b


def brute_force_match(metadata: dict, flt: dict) -> bool:
    for key, condition in flt.items():
        if key == "$and":
            ok = all(brute_force_match(metadata, f) for f in condition)
        elif key == "$or":
            ok = any(brute_force_match(metadata, f) for f in condition)
        else:
            values = brute_force_values(metadata, key)
            if not isinstance(condition, dict):
                condition = {"$eq": condition}
            ok = True
            for op, operand in condition.items():
                numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
                ok &= {
                    "$eq": lambda: any(same(v, operand) for v in values),
                    "$ne": lambda: not any(same(v, operand) for v in values),
                    "$gt": lambda: any(v > operand for v in numbers),
                    "$gte": lambda: any(v >= operand for v in numbers),
                    "$lt": lambda: any(v < operand for v in numbers),
                    "$lte": lambda: any(v <= operand for v in numbers),
                    "$in": lambda: any(same(v, o) for v in values for o in operand),
                    "$nin": lambda: not any(same(v, o) for v in values for o in operand),
                    "$exists": lambda: bool(values) == operand,
                }[op]()
        if not ok:
            return False
    return True


leaf = st.one_of(
    st.builds(lambda g: {"genre": g}, st.sampled_from(GENRES)),
    st.builds(lambda op, g: {"genre": {op: g}}, st.sampled_from(["$eq", "$ne"]), st.sampled_from(GENRES)),
    st.builds(lambda op, y: {"year": {op: y}}, st.sampled_from(["$gt", "$gte", "$lt", "$lte", "$eq", "$ne"]),
              st.integers(1995, 2025)),
    st.builds(lambda lo, hi: {"year": {"$gte": lo, "$lt": hi}}, st.integers(1995, 2010), st.integers(2005, 2025)),
    st.builds(lambda op, gs: {"genre": {op: gs}}, st.sampled_from(["$in", "$nin"]),
              st.lists(st.sampled_from(GENRES), min_size=1, max_size=3)),
    st.builds(lambda op, t: {"tags": {op: t}}, st.sampled_from(["$eq", "$ne"]), st.sampled_from(["a", "b", "c"])),
    st.builds(lambda op, ts: {"tags": {op: ts}}, st.sampled_from(["$in", "$nin"]),
              st.lists(st.sampled_from(["a", "b", "c", "z"]), min_size=1, max_size=2)),
    st.builds(lambda b: {"flag": b}, st.booleans()),
    st.builds(lambda b: {"score": {"$exists": b}}, st.booleans()),
    st.builds(lambda v: {"score": {"$lte": v}}, st.floats(-1, 1)),
    st.builds(lambda v: {"mixed": v}, st.sampled_from([1, "1", True, 0, False])),
    st.just({"body": "text"}),  # non-filterable: matches nothing
)
filters = st.recursive(leaf, lambda inner: st.one_of(
    st.builds(lambda fs: {"$and": fs}, st.lists(inner, min_size=1, max_size=3)),
    st.builds(lambda fs: {"$or": fs}, st.lists(inner, min_size=1, max_size=3)),
    st.builds(lambda a, b: {**a, **b}, inner, inner)), max_leaves=5)


@pytest.fixture(scope="module")
def populated(tmp_path_factory):
    rng = np.random.default_rng(7)
    n, dim = 400, 16
    data = rng.standard_normal((n, dim)).astype(np.float32)
    metadata = []
    for i in range(n):
        meta = {"genre": GENRES[i % 4], "year": int(1995 + (i * 7) % 31), "flag": bool(i % 3 == 0),
                "tags": [["a"], ["a", "b"], ["c"], []][i % 4], "body": f"text {i}"}
        if i % 5:
            meta["score"] = float(rng.uniform(-1, 1))
        meta["mixed"] = [1, "1", True, 0, False][i % 5]
        metadata.append(meta)
    path = tmp_path_factory.mktemp("s3v") / "v.sqlite"
    hub = EmulatorHub()
    hub.register(S3VectorsEmulator(path))
    with hub:
        client = make_client()
        client.create_vector_bucket(vectorBucketName=BUCKET)
        for metric in ("cosine", "euclidean"):
            client.create_index(vectorBucketName=BUCKET, indexName=metric, dataType="float32", dimension=dim,
                                distanceMetric=metric,
                                metadataConfiguration={"nonFilterableMetadataKeys": NON_FILTERABLE})
            for begin in range(0, n, 200):
                client.put_vectors(vectorBucketName=BUCKET, indexName=metric, vectors=[
                    {"key": f"k{i:04d}", "data": {"float32": data[i].tolist()}, "metadata": metadata[i]}
                    for i in range(begin, min(n, begin + 200))])
    return hub, data, metadata  # entered again by each example: a hub must not stay active between tests


def brute_force(data, metadata, query, metric, flt, top_k):
    if metric == "cosine":
        d = 1.0 - (data.astype(np.float64) @ query) / (np.linalg.norm(data, axis=1) * np.linalg.norm(query))
    else:
        d = np.linalg.norm(data.astype(np.float64) - query, axis=1)
    rows = [i for i in range(len(data)) if flt is None or brute_force_match(metadata[i], flt)]
    return sorted(((float(d[i]), f"k{i:04d}") for i in rows))[:top_k], {f"k{i:04d}": float(d[i]) for i in rows}


@settings(max_examples=int(os.environ.get("S3VECTORS_EXAMPLES", "120")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flt=st.one_of(st.none(), filters), metric=st.sampled_from(["cosine", "euclidean"]),
       top_k=st.integers(1, 100), seed=st.integers(0, 2**16))
def test_queries_match_brute_force(populated, flt, metric, top_k, seed):
    hub, data, metadata = populated
    with hub:
        check_query(make_client(), data, metadata, flt, metric, top_k, seed)


def check_query(client, data, metadata, flt, metric, top_k, seed):
    query = np.random.default_rng(seed).standard_normal(data.shape[1]).astype(np.float32)
    params = {"vectorBucketName": BUCKET, "indexName": metric, "topK": top_k,
              "queryVector": {"float32": query.tolist()}, "returnDistance": True, "returnMetadata": True}
    if flt is not None:
        params["filter"] = flt
    got = client.query_vectors(**params)["vectors"]
    expected, eligible = brute_force(data, metadata, query.astype(np.float64), metric, flt, top_k)
    assert len(got) == len(expected)
    assert [g["distance"] for g in got] == pytest.approx([e[0] for e in expected], abs=1e-4)
    for item in got:  # every key returned is eligible, at the distance brute force gives it
        assert item["distance"] == pytest.approx(eligible[item["key"]], abs=1e-4)
        assert item["metadata"] == metadata[int(item["key"][1:])]


# -- persistence and threads ------------------------------------------------------------------------------------
def test_state_persists_across_emulator_instances(db_path):
    data = np.random.default_rng(3).standard_normal((50, 8)).astype(np.float32)
    query = {"float32": data[0].tolist()}
    first = EmulatorHub()
    first.register(S3VectorsEmulator(db_path))
    with first:
        client = make_client()
        new_index(client, dimension=8)
        client.put_vectors(vectorBucketName=BUCKET, indexName=INDEX,
                           vectors=[vec(f"p{i}", row, i=i) for i, row in enumerate(data)])
        before = client.query_vectors(vectorBucketName=BUCKET, indexName=INDEX, topK=5, queryVector=query,
                                      returnDistance=True)["vectors"]
        client.delete_vectors(vectorBucketName=BUCKET, indexName=INDEX, keys=["p49"])
    second = EmulatorHub()
    second.register(S3VectorsEmulator(db_path))
    with second:
        client = make_client()
        assert client.get_index(vectorBucketName=BUCKET, indexName=INDEX)["index"]["dimension"] == 8
        after = client.query_vectors(vectorBucketName=BUCKET, indexName=INDEX, topK=5, queryVector=query,
                                     returnDistance=True)["vectors"]
        assert after == before and after[0]["key"] == "p0"
        listed = client.list_vectors(vectorBucketName=BUCKET, indexName=INDEX)["vectors"]
        assert len(listed) == 49 and {"key": "p49"} not in listed


def test_default_path_is_under_the_data_directory(home, monkeypatch):
    monkeypatch.setenv("DOCPIPE_HOME", str(home))
    emulator = S3VectorsEmulator()
    try:
        assert emulator.path == home / "vectors" / "s3vectors.sqlite" and emulator.path.exists()
    finally:
        emulator.close()


def test_concurrent_writers_and_readers(s3v):
    client, _, _ = s3v
    new_index(client, dimension=4)
    errors = []

    def writer(worker: int):
        try:
            own = make_client()
            for batch in range(5):
                own.put_vectors(vectorBucketName=BUCKET, indexName=INDEX, vectors=[
                    vec(f"w{worker}-{batch}-{i}", [worker + 1, batch, i, 1], w=worker) for i in range(40)])
                own.query_vectors(vectorBucketName=BUCKET, indexName=INDEX, topK=3,
                                  queryVector={"float32": [1, 1, 1, 1]}, filter={"w": worker})
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    keys, token = [], None
    while True:
        page = client.list_vectors(vectorBucketName=BUCKET, indexName=INDEX, **({"nextToken": token} if token else {}))
        keys += [v["key"] for v in page["vectors"]]
        token = page.get("nextToken")
        if not token:
            break
    assert len(keys) == len(set(keys)) == 4 * 5 * 40
